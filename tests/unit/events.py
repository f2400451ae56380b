"""Interaction events for the case and journey unit tests, at offsets from one start time."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from servicepulse.schemas.models import Channel, InteractionEvent, InteractionKind

START = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
T0 = START.timestamp()
ids = itertools.count()


def stamp(offset: timedelta) -> str:
    """RFC 3339 (Z) time ``offset`` after START."""
    return (START + offset).isoformat().replace("+00:00", "Z")


def interaction(
    kind: InteractionKind,
    offset: timedelta,
    *,
    agency: str = "ssa",
    service: str = "retirement",
    channel: Channel = Channel.PHONE,
    case_id: str = "c1",
    event_id: str | None = None,
    **extra: Any,
) -> InteractionEvent:
    """A valid interaction event ``offset`` after START (a fresh event_id unless given)."""
    return InteractionEvent(
        event_id=event_id or f"e{next(ids)}",
        occurred_at=stamp(offset),
        agency=agency,
        service=service,
        channel=channel,
        case_id=case_id,
        kind=kind,
        **extra,
    )

"""The one RFC 3339 formatter (UTC, ``Z`` suffix) for every time servicepulse writes.

Each published document keeps the precision its schema examples and consumers already see, so
the precision is a parameter rather than a second formatter:

* ``"milliseconds"``: always three fractional digits (``2026-11-02T08:00:00.000Z``), for the
  documents the feedback and window flows publish;
* ``"seconds"``: no fraction, truncated (the generator's agencies that send whole seconds);
* ``"auto"``: whole seconds when the time has no fraction, else microseconds (journeys, peer
  benchmarks);
* ``"auto_milliseconds"``: whole seconds when the time has no fraction, else milliseconds
  (alerts).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

Precision = Literal["milliseconds", "seconds", "auto", "auto_milliseconds"]


def rfc3339(epoch_seconds: float, precision: Precision = "milliseconds") -> str:
    """``epoch_seconds`` (POSIX time) as RFC 3339 UTC text, whatever the local time zone."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    if precision == "auto":
        timespec = "auto"
    elif precision == "auto_milliseconds":
        timespec = "milliseconds" if moment.microsecond else "seconds"
    else:
        timespec = precision
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


def epoch_of(rfc3339_text: str) -> float:
    """POSIX time of RFC 3339 text with a ``Z`` or numeric offset."""
    return datetime.fromisoformat(rfc3339_text.replace("Z", "+00:00")).timestamp()

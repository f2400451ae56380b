"""Whether a Faust function is still the one a servicepulse patch was written against.

``consumer_dispatch`` replaces a Faust method with a copy and ``recovery_handover`` wraps
three; each pins the sha256 of the source it read, so a Faust upgrade that changes one is
noticed (a warning at start, a failing unit test) instead of patched blind.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import Any


def source_sha256(function: Callable[..., Any]) -> str | None:
    """The sha256 of ``function``'s source, or None when it has none to read."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(source.encode()).hexdigest()

"""Command-line tools some unit tests run (promtool, amtool, docker)."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str, install_hint: str = "") -> str:
    """Path of the tool; skips without it, or fails when SERVICEPULSE_REQUIRE_PROMTOOL is set
    (CI installs the tools, so a missing one there is an error, not a skip)."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("SERVICEPULSE_REQUIRE_PROMTOOL"):
            pytest.fail(f"{name} not found and SERVICEPULSE_REQUIRE_PROMTOOL is set")
        pytest.skip(f"{name} not installed" + (f" ({install_hint})" if install_hint else ""))
    return path

"""Waiting for the bot: it keeps working after it has acked, in a background thread."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    """Poll until ``probe`` returns something truthy, and return it.

    The timeout only bounds a hang (tests assert outcomes, never speed).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")

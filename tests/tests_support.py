"""Helpers shared by test modules (tests/ is on sys.path, see conftest)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

# Seeded in the sandbox workspace (incidentbot/sandbox/seed.py).
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
GENERAL, INCIDENTS = "C0GENERAL", "C0INCIDENTS"


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll until ``probe`` returns something truthy.

    The bot keeps working after it has acked, in a background thread, so tests
    wait for the outcome. The timeout only bounds a hang; nothing asserts speed.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def mrkdwn_texts(node: Any) -> list[str]:
    """Every mrkdwn string in a Block Kit tree: the only text Slack parses for pings and links."""
    if isinstance(node, dict):
        found = [node["text"]] if node.get("type") == "mrkdwn" else []
        return found + [t for value in node.values() for t in mrkdwn_texts(value)]
    if isinstance(node, list):
        return [t for item in node for t in mrkdwn_texts(item)]
    return []


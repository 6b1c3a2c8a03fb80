"""Helpers shared by test modules (tests/ is on sys.path, see conftest)."""

from __future__ import annotations

import os
from typing import Any

from incidentbot.sandbox.waiting import wait_for  # noqa: F401  (re-exported for tests)

# Seeded in the sandbox workspace (incidentbot/sandbox/seed.py).
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
GENERAL, INCIDENTS = "C0GENERAL", "C0INCIDENTS"

# How long the e2e sandboxes accept a trigger_id. Slack's 3 s is enforced (and tested on a
# fake clock) in tests/sandbox/test_views.py; end to end the clock is real, and a loaded CI
# machine can take longer than 3 s from the driver's click to the bot's views.open. A form
# that never opens would then be the machine's doing, not the bot's.
E2E_TRIGGER_LIFETIME = 60.0


def mrkdwn_texts(node: Any) -> list[str]:
    """Every mrkdwn string in a Block Kit tree: the only text Slack parses for pings and links."""
    if isinstance(node, dict):
        found = [node["text"]] if node.get("type") == "mrkdwn" else []
        return found + [t for value in node.values() for t in mrkdwn_texts(value)]
    if isinstance(node, list):
        return [t for item in node for t in mrkdwn_texts(item)]
    return []



def shown(text: str) -> str:
    """Text as Slack displays it: mrkdwn entities turned back into characters."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def soak(unset: int = 1, on: int = 5) -> int:
    """How many times to repeat a fault, retry or security test (docs/testing.md, "Soak mode"):
    ``unset`` without INCIDENTBOT_SOAK (CI's size), ``on`` with INCIDENTBOT_SOAK=1, and
    n with INCIDENTBOT_SOAK=n (n > 1)."""
    raw = os.environ.get("INCIDENTBOT_SOAK", "").strip()
    if raw in ("", "0"):
        return unset
    return int(raw) if raw.isdecimal() and int(raw) > 1 else on

"""Putting user text into Slack mrkdwn safely.

Slack reads ``<...>`` as control sequences: ``<!channel>`` pings everyone and
``<https://evil|ok>`` shows a fake link. Escaping ``&``, ``<`` and ``>`` (the
three characters Slack asks apps to escape) turns them into plain text.
"""

from __future__ import annotations

import re

# A Slack user id written bare (as the timeline's own entries name people), not <@U…>.
BARE_USER_ID = re.compile(r"\b[UW][A-Z0-9]{4,}\b")


def escape(text: str | None) -> str:
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def user(user_id: str | None) -> str:
    """A mention of a Slack user id we got from Slack (never from free text)."""
    return f"<@{user_id}>" if user_id else "_nobody yet_"


def channel(channel_id: str | None, fallback: str = "") -> str:
    return f"<#{channel_id}>" if channel_id else escape(fallback)


def truncate(text: str, limit: int) -> str:
    """Fit ``text`` into ``limit`` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"

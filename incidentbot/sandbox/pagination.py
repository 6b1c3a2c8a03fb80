"""Slack-style cursor pagination: opaque base64 cursors in response_metadata.next_cursor."""

from __future__ import annotations

import base64
import binascii
from typing import Callable, Sequence, TypeVar

from incidentbot.sandbox.state import SlackError

T = TypeVar("T")


def encode_cursor(kind: str, value: str) -> str:
    return base64.b64encode(f"{kind}:{value}".encode()).decode()


def decode_cursor(cursor: str, kind: str) -> str:
    try:
        decoded = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise SlackError("invalid_cursor") from exc
    prefix, _, value = decoded.partition(":")
    if prefix != kind or not value:
        raise SlackError("invalid_cursor")
    return value


def clamp_limit(limit: int, *, default: int, maximum: int) -> int:
    """Slack treats 0 or less as 'the default' and silently caps at the method's maximum."""
    if limit <= 0:
        return default
    return min(limit, maximum)


def page(
    items: Sequence[T], *, cursor: str | None, limit: int, key: Callable[[T], str], kind: str
) -> tuple[list[T], str]:
    """One page of `items` starting at the item the cursor names; returns (page, next_cursor)."""
    start = 0
    if cursor:
        wanted = decode_cursor(cursor, kind)
        start = next((i for i, item in enumerate(items) if key(item) == wanted), -1)
        if start < 0:
            raise SlackError("invalid_cursor")
    chunk = list(items[start : start + limit])
    rest = items[start + limit : start + limit + 1]
    return chunk, encode_cursor(kind, key(rest[0])) if rest else ""

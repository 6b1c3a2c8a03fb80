"""The channel history a postmortem is drafted from, whatever it was read from.

The drafter sees one flat, time-ordered list of ``HistoryMessage`` (thread replies in
their place in time, user ids already turned into names) and never the Slack export or
the database rows it came from. Two builders exist:

- ``from_export``: a Slack export channel (``incidentbot.slack_export``), for
  ``incidentbot postmortem draft --slack-export``;
- ``from_rows``: rows stored by the bot (``ChannelMessage``-like objects plus
  ``TimelineEvent``-like objects), for drafting an incident from the database.

Both take plain objects, so this module imports neither Slack nor the database layer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

# System messages: they carry no incident content, but topic changes are milestone
# evidence ("SEV2 | Mitigated, monitoring"), so they are kept with their subtype.
SYSTEM_SUBTYPES = frozenset({
    "channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name",
    "channel_archive", "channel_unarchive", "pinned_item", "unpinned_item", "group_join",
    "group_leave", "group_topic", "group_purpose", "reminder_add", "bot_add", "bot_remove",
})
# Timeline events recorded by the bot become messages with this subtype prefix
# (``event:declared``, ``event:mitigated``, ...): the drafter trusts them for milestones.
EVENT_PREFIX = "event:"
_PURPOSE_PREFIX = re.compile(r"^\s*incident(?: response)?\s*[:\-–—]\s*", re.I)


@dataclass(frozen=True)
class HistoryMessage:
    """One message (or recorded event) as the drafter sees it.

    ``source`` is what a draft cites for this message: its permalink when known, else
    its Slack ``ts``. ``text`` has mentions resolved to names and is not yet redacted.
    """

    ts: str
    at: datetime  # UTC, aware
    author: str
    author_id: str | None
    is_bot: bool
    text: str
    thread_ts: str | None = None
    source: str = ""
    reactions: tuple[str, ...] = ()
    pinned: bool = False
    subtype: str | None = None
    reply_count: int = 0

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError(f"message {self.ts}: 'at' must be timezone-aware")
        if not self.source:
            object.__setattr__(self, "source", self.ts)

    @property
    def permalink_or_source(self) -> str:
        """Alias of ``source`` (the name the drafting design uses for it)."""
        return self.source

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def is_system(self) -> bool:
        return (self.subtype or "") in SYSTEM_SUBTYPES

    @property
    def is_event(self) -> bool:
        return (self.subtype or "").startswith(EVENT_PREFIX)

    @property
    def event_kind(self) -> str | None:
        return self.subtype[len(EVENT_PREFIX):] if self.is_event and self.subtype else None


@dataclass
class History:
    """A channel's messages, oldest first, with what the drafter needs around them."""

    channel: str
    messages: list[HistoryMessage]
    title: str | None = None
    # Names people go by (display, real, first, handle): the blameless check looks for
    # them as the subject of causal sentences.
    people: tuple[str, ...] = ()
    links: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        self.messages = sorted(self.messages, key=lambda m: (m.at, m.ts))

    def by_ts(self) -> dict[str, HistoryMessage]:
        return {m.ts: m for m in self.messages}


# --- from a Slack export -------------------------------------------------------------------


def from_export(export: Any, channel: str) -> History:
    """The history of ``channel`` in an opened ``SlackExport``."""
    meta = export.channel(channel)
    messages = [
        HistoryMessage(
            ts=m.ts, at=m.posted_at, author=export.author(m), author_id=m.user_id or m.bot_id,
            is_bot=export.is_bot(m), text=export.plain_text(m), thread_ts=m.thread_ts,
            reactions=tuple(name for name, _ in m.reactions), pinned=m.pinned,
            subtype=m.subtype, reply_count=m.reply_count,
        )
        for m in export.messages(channel)
    ]
    purpose = ((meta.get("purpose") or {}).get("value") or "").strip()
    return History(
        channel=str(meta.get("name") or channel), messages=messages,
        title=_title_from_purpose(purpose), people=_export_people(export),
    )


def _export_people(export: Any) -> tuple[str, ...]:
    names: set[str] = set()
    for user in export.users.values():
        if user.is_bot:
            continue
        for name in (user.display_name, user.real_name, user.name):
            if name:
                names.add(name)
                names.add(name.split()[0].split(".")[0])
    return tuple(sorted(n for n in names if len(n) > 1))


def _title_from_purpose(purpose: str) -> str | None:
    # The bot (and many teams) set the purpose to "Incident response: <title>".
    if not purpose:
        return None
    return _PURPOSE_PREFIX.sub("", purpose).strip() or None


# --- from stored rows -----------------------------------------------------------------------


class MessageRow(Protocol):
    ts: str
    posted_at: datetime
    user_id: str | None
    bot_id: str | None
    subtype: str | None
    text: str
    thread_ts: str | None
    data: dict[str, Any]


def from_rows(messages: Iterable[Any], timeline_events: Iterable[Any], names: Mapping[str, str], *,
              channel: str = "", title: str | None = None) -> History:
    """A history from stored ``ChannelMessage``-like rows and ``TimelineEvent``-like rows.

    ``names`` maps user ids to display names. A timeline event that points at a stored
    message (``message_ts``) marks that message as captured (like a pin) and lends it its
    permalink; any other event (declared, mitigated, a note, ...) becomes a message of its
    own with subtype ``event:<kind>``, so recorded milestones reach the drafter.
    """
    events = list(timeline_events)
    captured = {e.message_ts: e for e in events if getattr(e, "message_ts", None)}
    out = [_row_message(row, names, captured.get(row.ts)) for row in messages]
    known = {m.ts for m in out}
    out.extend(_event_message(e, names) for e in events
               if not getattr(e, "deleted", False) and getattr(e, "message_ts", None) not in known)
    people = tuple(sorted({n for n in names.values() if n}))
    return History(channel=channel, messages=out, title=title, people=people)


def _row_message(row: MessageRow, names: Mapping[str, str], event: Any | None) -> HistoryMessage:
    data = row.data or {}
    reactions = tuple(str(r.get("name")) for r in data.get("reactions") or () if isinstance(r, dict))
    author = names.get(row.user_id or "") or data.get("username") or row.user_id or row.bot_id or "unknown"
    text = _resolve_mentions(row.text or "", names)
    attachments = _attachment_text(data)
    if attachments and attachments not in text:
        text = f"{text}\n{attachments}" if text else attachments
    return HistoryMessage(
        ts=row.ts, at=_aware(row.posted_at), author=str(author), author_id=row.user_id or row.bot_id,
        is_bot=bool(row.bot_id) or row.subtype == "bot_message", text=text, thread_ts=row.thread_ts,
        source=(getattr(event, "permalink", None) or data.get("permalink") or row.ts),
        reactions=reactions, pinned=bool(data.get("pinned_to")) or event is not None,
        subtype=row.subtype, reply_count=int(data.get("reply_count") or 0),
    )


def _event_message(event: Any, names: Mapping[str, str]) -> HistoryMessage:
    when = _aware(event.occurred_at)
    ts = getattr(event, "message_ts", None) or f"{when.timestamp():.6f}"
    actor = getattr(event, "actor", None) or ""
    source = getattr(event, "permalink", None) or getattr(event, "message_ts", None) or \
        f"timeline:{getattr(event, 'id', ts)}"
    return HistoryMessage(
        ts=ts, at=when, author=names.get(actor, actor) or "incidentbot", author_id=actor or None,
        is_bot=False, text=_resolve_mentions(getattr(event, "text", "") or "", names), source=source,
        pinned=True, subtype=EVENT_PREFIX + str(getattr(event, "kind", "note")),
    )


_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]+))?>")


def _resolve_mentions(text: str, names: Mapping[str, str]) -> str:
    text = _MENTION.sub(lambda m: "@" + names.get(m.group(1), m.group(1)), text)
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(2) else m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _attachment_text(data: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for attachment in data.get("attachments") or ():
        if isinstance(attachment, dict):
            for key in ("title", "text"):
                value = attachment.get(key)
                if value and value not in parts:
                    parts.append(str(value))
    return "\n".join(parts)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; the database stores UTC.
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)

"""Messages posted in incident channels: the channel's own record of the incident.

Every message that arrives in an incident channel (``message`` events) is stored here,
and a backfill fills the gaps the bot missed while it was down, so drafting a
postmortem reads this table instead of paging ``conversations.history`` under Slack's
rate limits. A Slack message is identified by ``(channel, ts)``: storing the same
message twice (a retried delivery, a duplicate with a fresh ``event_id``, an event and
the backfill racing) keeps one row.

Messages are the dicts Slack sends (``ts``, ``user``, ``bot_id``, ``subtype``,
``text``, ``thread_ts``, ``edited``, ``reactions``, ``files``, ...). Plain Python over a
SQLModel session: functions flush, callers commit.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from incidentbot.models import ChannelMessage, Incident
from incidentbot.timeutil import ensure_utc

SOURCES = frozenset({"event", "backfill", "import"})

# Keys that have their own columns (or describe the delivery, not the message);
# everything else Slack sent (reactions, files, pinned_to, blocks, attachments,
# reply_count, ...) is kept in ``data`` as it came.
_COLUMNS = frozenset({
    "type", "channel", "ts", "thread_ts", "user", "bot_id", "subtype", "text", "edited",
    "event_ts", "channel_type", "hidden",
})
_TS = re.compile(r"^(\d{1,12})(?:\.(\d{1,6}))?$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def ts_to_datetime(ts: str) -> datetime:
    """A Slack ``ts`` ("1732190000.000100") as an exact, aware UTC datetime.

    Integer arithmetic rather than ``float``, so all six fractional digits survive
    (a float loses the last microsecond for current timestamps). UTC has no DST, so a
    message posted during a local clock change lands on the right instant.
    """
    match = _TS.match(str(ts).strip())
    if match is None:
        raise ValueError(f"not a Slack ts: {ts!r}")
    seconds, fraction = match.groups()
    micros = int((fraction or "0").ljust(6, "0"))
    return _EPOCH + timedelta(seconds=int(seconds), microseconds=micros)


def datetime_to_ts(moment: datetime) -> str:
    """An aware datetime as a Slack-style ts string (for ``oldest``/``latest`` bounds)."""
    delta = ensure_utc(moment) - _EPOCH
    micros = delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds
    seconds, fraction = divmod(micros, 1_000_000)
    return f"{seconds}.{fraction:06d}"


def store(
    session: Session, incident: Incident | None, channel_id: str, message: dict[str, Any], *, source: str
) -> tuple[ChannelMessage, bool]:
    """Store a Slack message; ``(row, created)``. A message already stored is returned
    unchanged with ``created`` False, whoever stored it first."""
    if source not in SOURCES:
        raise ValueError(f"unknown message source {source!r}; use one of {sorted(SOURCES)}")
    ts = str(message["ts"])
    existing = get(session, channel_id, ts)
    if existing is not None:
        return existing, False
    edited = message.get("edited") or {}
    row = ChannelMessage(
        incident_id=incident.id if incident is not None else None,
        channel_id=channel_id,
        ts=ts,
        thread_ts=message.get("thread_ts"),
        user_id=message.get("user"),
        bot_id=message.get("bot_id"),
        subtype=message.get("subtype"),
        text=message.get("text") or "",
        posted_at=ts_to_datetime(ts),
        edited_at=ts_to_datetime(edited["ts"]) if edited.get("ts") else None,
        data={k: v for k, v in message.items() if k not in _COLUMNS},
        source=source,
    )
    try:
        # A savepoint: losing a race with a concurrent delivery of the same message must
        # not roll back the caller's other work (its delivery claim, say).
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = get(session, channel_id, ts)
        if existing is None:
            raise
        return existing, False
    return row, True


def get(session: Session, channel_id: str, ts: str) -> ChannelMessage | None:
    return session.exec(
        select(ChannelMessage).where(ChannelMessage.channel_id == channel_id, ChannelMessage.ts == ts)
    ).first()


def edit(session: Session, channel_id: str, ts: str, new_text: str, edited_at: datetime) -> ChannelMessage | None:
    """Apply an edit; None when the message is not stored.

    Edits can arrive out of order (retries): one older than the edit already applied
    is ignored, so the newest text wins whatever the delivery order.
    """
    row = get(session, channel_id, ts)
    if row is None:
        return None
    # Re-read under a row lock: two edits delivered at once must compare one after the
    # other, or the older one, written last, would win.
    session.refresh(row, with_for_update=True)
    edited_at = ensure_utc(edited_at)
    if row.edited_at is not None and edited_at <= row.edited_at:
        return row  # this edit, or a newer one, is applied already
    row.text = new_text or ""
    row.edited_at = edited_at
    session.add(row)
    session.flush()
    return row


def delete(session: Session, channel_id: str, ts: str) -> ChannelMessage | None:
    """Mark a message deleted (the row stays: the incident's record keeps what was said
    and when, and readers leave deleted messages out). None when not stored."""
    row = get(session, channel_id, ts)
    if row is None:
        return None
    if not row.deleted:
        row.deleted = True
        session.add(row)
        session.flush()
    return row


def for_incident(session: Session, incident: Incident, *, include_deleted: bool = False) -> list[ChannelMessage]:
    """The incident's messages, oldest first, thread replies included (each in its place in time)."""
    query = select(ChannelMessage).where(ChannelMessage.incident_id == incident.id)
    if not include_deleted:
        query = query.where(ChannelMessage.deleted == False)  # noqa: E712  (SQL expression)
    return list(session.exec(query.order_by(ChannelMessage.posted_at, ChannelMessage.id)))


def known_ts(session: Session, channel_id: str) -> set[str]:
    """Every stored ts in a channel (deleted ones too), so a backfill stores only the gaps."""
    return set(session.exec(select(ChannelMessage.ts).where(ChannelMessage.channel_id == channel_id)))


def thread_counts(session: Session, channel_id: str) -> dict[str, int]:
    """Stored replies per thread (parent ts → count), to skip threads already complete."""
    counts: dict[str, int] = {}
    rows = session.exec(
        select(ChannelMessage.thread_ts).where(
            ChannelMessage.channel_id == channel_id,
            ChannelMessage.thread_ts != None,  # noqa: E711  (SQL expression)
            ChannelMessage.thread_ts != ChannelMessage.ts,
        )
    )
    for thread_ts in rows:
        counts[thread_ts] = counts.get(thread_ts, 0) + 1
    return counts


def to_backfill(session: Session, *, resolved_after: datetime) -> list[Incident]:
    """Incidents whose channels the backfill sweep keeps complete: provisioned, not
    closed, and unresolved or resolved after ``resolved_after`` (their postmortem is
    still being written)."""
    query = select(Incident).where(
        Incident.channel_id != None,  # noqa: E711  (SQL expression)
        Incident.provisioned_at != None,  # noqa: E711
        Incident.closed_at == None,  # noqa: E711
        or_(Incident.resolved_at == None, and_(Incident.resolved_at > ensure_utc(resolved_after))),  # noqa: E711
    )
    return list(session.exec(query.order_by(Incident.number.desc())))

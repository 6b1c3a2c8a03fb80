"""Putting Slack messages (and notes) on the incident timeline.

A message can be captured four ways — pinned, reacted to with the policy's emoji,
added with the "Add to incident timeline" shortcut, or typed as ``/incident note`` —
and each capture keeps the message's own time (its ``ts``), author and permalink,
not the moment someone captured it. One message is one timeline event however many
ways (and times) it is captured: the event's ``source_key`` is
``message:<channel>:<ts>`` and unique per incident; every way it was captured is
remembered in ``event.data["via"]`` and everyone who did in ``data["captured_by"]``.

Plain Python over a SQLModel session: functions flush, callers commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from incidentbot.core.changes import clean_text
from incidentbot.core.errors import Closed, InvalidInput
from incidentbot.core.messages import get as get_message
from incidentbot.core.messages import ts_to_datetime
from incidentbot.core.policy import Policy
from incidentbot.models import Incident, ProcessedEvent, TimelineEvent
from incidentbot.timeutil import ensure_utc, utcnow

VIA = ("pin", "reaction", "shortcut", "note")
KIND = "message_captured"
NOTE_KIND = "note"
# data flag of a capture whose message could not be read yet (see fill_pending)
TEXT_PENDING = "text_pending"


def message_key(channel_id: str, ts: str) -> str:
    return f"message:{channel_id}:{ts}"


def capture(
    session: Session,
    incident: Incident,
    *,
    channel_id: str | None,
    ts: str | None,
    author: str | None,
    text: str,
    permalink: str | None,
    via: str,
    actor: str | None,
    source_key: str | None = None,
    occurred_at: datetime | None = None,
    data: dict[str, Any] | None = None,
) -> tuple[TimelineEvent, bool]:
    """Put a message on the timeline; ``(event, created)``.

    ``occurred_at`` is the message's ``ts`` (given explicitly only for notes, which
    have no message). The event's ``actor`` is the message's author — the person who
    said or did what is recorded; ``data["captured_by"]`` lists who captured it.
    Capturing a message already on the timeline returns its event with ``created``
    False, after remembering the new ``via`` and capturer.
    """
    if via not in VIA:
        raise ValueError(f"unknown capture path {via!r}; use one of {VIA}")
    if incident.closed_at is not None:
        raise Closed(f"{incident.reference} is closed; nothing can be added to its timeline.")
    if source_key is None:
        if not (channel_id and ts):
            raise ValueError("a captured message needs its channel and ts (or a source_key)")
        source_key = message_key(channel_id, ts)
    when = ensure_utc(occurred_at) if occurred_at is not None else ts_to_datetime(ts) if ts else utcnow()
    existing = by_source(session, incident, source_key)
    if existing is not None:
        return _remember(session, existing, via, actor), False
    event = TimelineEvent(
        incident_id=incident.id,
        kind=NOTE_KIND if via == "note" else KIND,
        text=text or "",
        actor=author,
        occurred_at=when,
        source_key=source_key,
        message_ts=ts,
        permalink=permalink,
        data={
            **(data or {}),
            "via": [via],
            "captured_by": [actor] if actor else [],
            "channel_id": channel_id,
            "author": author,
        },
    )
    try:
        # A savepoint: a concurrent capture of the same message (a pin and a reaction
        # delivered at once) makes one of the inserts fail; that one then finds the
        # other's event without losing the caller's other work.
        with session.begin_nested():
            session.add(event)
    except IntegrityError:
        existing = by_source(session, incident, source_key)
        if existing is None:
            raise
        return _remember(session, existing, via, actor), False
    return event, True


def note(
    session: Session,
    policy: Policy,
    incident: Incident,
    *,
    text: str | None,
    actor: str,
    key: str,
    channel_id: str | None = None,
    at: datetime | None = None,
) -> tuple[TimelineEvent, bool]:
    """``/incident note <text>``: a note at the time it was typed; ``key`` (the
    command's trigger id) makes a replayed command add it once."""
    cleaned = clean_text(policy, text, "note", "note")
    if not cleaned:
        raise InvalidInput("note", "Say what to note: `/incident note <text>`.")
    return capture(
        session, incident, channel_id=channel_id, ts=None, author=actor, text=cleaned, permalink=None,
        via="note", actor=actor, source_key=f"note:{key}", occurred_at=at or utcnow(),
    )


def fill_pending(session: Session, incident: Incident, channel_id: str, message: dict[str, Any]) -> TimelineEvent | None:
    """A message captured before anyone could read it (Slack did not answer and it was not
    stored yet) gets its text and author once it is stored. None when there is no such capture."""
    event = by_source(session, incident, message_key(channel_id, str(message["ts"])))
    if event is None or not event.data.get(TEXT_PENDING):
        return None
    event.text = message.get("text") or ""
    event.actor = event.actor or message.get("user")
    event.data = {k: v for k, v in event.data.items() if k != TEXT_PENDING}  # a new dict: JSON columns track assignment
    session.add(event)
    session.flush()
    return event


def fill_all_pending(session: Session, incident: Incident) -> int:
    """Fill every pending capture of the incident whose message is stored by now (the
    message and the reaction were stored side by side, neither seeing the other).
    Returns how many; the backfill sweep calls it."""
    events = session.exec(select(TimelineEvent).where(TimelineEvent.incident_id == incident.id,
                                                      TimelineEvent.kind == KIND)).all()
    filled = 0
    for event in events:
        channel_id, _, ts = (event.source_key or "").removeprefix("message:").partition(":")
        if not (event.data.get(TEXT_PENDING) and ts):
            continue
        row = get_message(session, channel_id, ts)
        if row is not None and fill_pending(session, incident, channel_id,
                                            {"ts": ts, "text": row.text, "user": row.user_id}):
            filled += 1
    return filled


def update_captured(session: Session, incident: Incident, channel_id: str, ts: str, new_text: str) -> TimelineEvent | None:
    """The captured message was edited: the event shows the new text. None when the
    message was never captured."""
    event = by_source(session, incident, message_key(channel_id, ts))
    if event is None:
        return None
    if event.text != (new_text or "") or not event.data.get("edited"):
        event.text = new_text or ""
        event.data = {**event.data, "edited": True}  # a new dict: JSON columns track assignment
        session.add(event)
        session.flush()
    return event


def delete_captured(session: Session, incident: Incident, channel_id: str, ts: str) -> TimelineEvent | None:
    """The captured message was deleted: so is its event (kept, marked deleted)."""
    event = by_source(session, incident, message_key(channel_id, ts))
    if event is None:
        return None
    if not event.deleted:
        event.deleted = True
        session.add(event)
        session.flush()
    return event


def handled(session: Session, delivery_key: str) -> bool:
    """Whether a delivery was already claimed (``core.deliveries``): a cheap look before
    doing Slack calls for a retried event. The claim itself still decides, in the
    transaction of the capture."""
    return session.get(ProcessedEvent, delivery_key) is not None


def by_source(session: Session, incident: Incident, source_key: str) -> TimelineEvent | None:
    return session.exec(
        select(TimelineEvent).where(TimelineEvent.incident_id == incident.id, TimelineEvent.source_key == source_key)
    ).first()


def _remember(session: Session, event: TimelineEvent, via: str, actor: str | None) -> TimelineEvent:
    """Add ``via`` and ``actor`` to an existing event's lists (once each)."""
    known = event.data.get("via") or []
    if via in known and (not actor or actor in (event.data.get("captured_by") or [])):
        return event
    # Re-read under a row lock (PostgreSQL), so two captures at once both get remembered.
    session.refresh(event, with_for_update=True)
    vias = list(event.data.get("via") or [])
    capturers = list(event.data.get("captured_by") or [])
    if via in vias and (not actor or actor in capturers):
        return event
    if via not in vias:
        vias.append(via)
    if actor and actor not in capturers:
        capturers.append(actor)
    event.data = {**event.data, "via": vias, "captured_by": capturers}
    session.add(event)
    session.flush()
    return event

"""The incident timeline: what happened, when, and who did it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from incidentbot.models import Incident, TimelineEvent
from incidentbot.timeutil import ensure_utc, utcnow


def record(
    session: Session,
    incident: Incident,
    kind: str,
    text: str = "",
    *,
    actor: str | None = None,
    occurred_at: datetime | None = None,
    source_key: str | None = None,
    data: dict[str, Any] | None = None,
) -> TimelineEvent:
    """Add an event; with a ``source_key`` the same source is recorded only once.

    Returns the existing event when the source was already captured, so callers
    can treat retries and double clicks as success.
    """
    if source_key is not None:
        existing = _by_source(session, incident.id, source_key)
        if existing is not None:
            return existing
    event = TimelineEvent(
        incident_id=incident.id,
        kind=kind,
        text=text,
        actor=actor,
        occurred_at=ensure_utc(occurred_at) if occurred_at else utcnow(),
        source_key=source_key,
        data=data or {},
    )
    try:
        # A savepoint, so losing a race with a concurrent capture of the same
        # source does not roll back the caller's other work.
        with session.begin_nested():
            session.add(event)
    except IntegrityError:
        existing = _by_source(session, incident.id, source_key)
        if existing is None:
            raise
        return existing
    return event


def events(session: Session, incident: Incident, *, include_deleted: bool = False) -> list[TimelineEvent]:
    """The incident's events in the order they happened."""
    query = select(TimelineEvent).where(TimelineEvent.incident_id == incident.id)
    if not include_deleted:
        query = query.where(TimelineEvent.deleted == False)  # noqa: E712  (SQL expression)
    return list(session.exec(query.order_by(TimelineEvent.occurred_at, TimelineEvent.id)))


def _by_source(session: Session, incident_id: int | None, source_key: str | None) -> TimelineEvent | None:
    return session.exec(
        select(TimelineEvent).where(
            TimelineEvent.incident_id == incident_id, TimelineEvent.source_key == source_key
        )
    ).first()

"""Exactly-once handling of Slack deliveries.

Slack delivers events at least once (retries after ~3 s, 1 min, 5 min) and may
send the same thing again under a new ``event_id``. A handler first *claims* the
delivery; only the first claim of a key succeeds, on any number of processes,
because the key is the table's primary key.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from incidentbot.models import ProcessedEvent


def claim(session: Session, key: str, kind: str) -> bool:
    """Record ``key`` as handled; False when someone already claimed it."""
    if session.get(ProcessedEvent, key) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(ProcessedEvent(key=key, kind=kind))
    except IntegrityError:
        return False
    return True

"""Exactly-once sending of scheduled messages (nudges, postmortem reminders).

"The database says what is due, the scheduler only wakes the sweep up." A message
that is due has a key naming its situation; a worker *claims* the key (a unique row)
before sending, marks it sent afterwards, or releases it when sending failed. A claim
never marked sent within ``CLAIM_LEASE`` (the worker died mid-send) may be taken over.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from incidentbot.models import Notification

CLAIM_LEASE = timedelta(minutes=10)


def claim(session: Session, *, incident_id: int, kind: str, key: str, due_at: datetime,
          now: datetime) -> Notification | None:
    """Take the message for sending; ``None`` when another worker has it (or has sent it)."""
    notification = Notification(incident_id=incident_id, kind=kind, key=key, due_at=due_at, claimed_at=now)
    try:
        with session.begin_nested():
            session.add(notification)
    except IntegrityError:
        return _take_over_abandoned(session, key, now)
    return notification


def mark_sent(session: Session, notification: Notification, *, channel_id: str, message_ts: str | None,
              now: datetime) -> None:
    notification.sent_at = now
    notification.channel_id = channel_id
    notification.message_ts = message_ts
    session.add(notification)
    session.flush()


def release(session: Session, notification: Notification) -> None:
    """Sending failed: drop the claim so the next sweep tries again."""
    if notification.sent_at is not None:
        raise ValueError(f"notification {notification.key} was sent; releasing it would send it twice")
    session.delete(notification)
    session.flush()


def taken(session: Session, keys: list[str], now: datetime) -> set[str]:
    """Keys already sent, or claimed by a worker that may still be sending them."""
    if not keys:
        return set()
    query = select(Notification.key).where(
        Notification.key.in_(keys),
        (Notification.sent_at != None) | (Notification.claimed_at > now - CLAIM_LEASE),  # noqa: E711
    )
    return set(session.exec(query))


def _take_over_abandoned(session: Session, key: str, now: datetime) -> Notification | None:
    """Claim a key whose earlier claim was never marked sent within the lease."""
    result = session.execute(
        update(Notification)
        .where(
            Notification.key == key,
            Notification.sent_at == None,  # noqa: E711
            Notification.claimed_at <= now - CLAIM_LEASE,
        )
        .values(claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    query = select(Notification).where(Notification.key == key).execution_options(populate_existing=True)
    return session.exec(query).one()

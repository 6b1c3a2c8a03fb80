"""Status updates: what's happening, customer impact, and when the next update is due."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from incidentbot.core import changes, incidents, lifecycle
from incidentbot.core.changes import Change
from incidentbot.core.errors import InvalidInput
from incidentbot.core.policy import Policy
from incidentbot.models import Incident, StatusUpdate
from incidentbot.timeutil import utcnow

NEXT_UPDATE_MIN_MINUTES = 5
NEXT_UPDATE_MAX_MINUTES = 24 * 60


def post_update(
    session: Session,
    policy: Policy,
    incident: Incident,
    author: str,
    *,
    text: str | None,
    status: str | None = None,
    impact: str | None = None,
    next_update_minutes: int | None = None,
) -> tuple[StatusUpdate, list[Change]]:
    """Store a status update; a new ``status`` given with it is applied first.

    Returns the update and the changes made: the status change (if any), then
    ``update_posted``. Every input is checked before anything is changed.
    """
    changes.begin(session, policy, incident)
    text = changes.clean_text(policy, text, "text", "update")
    if not text:
        raise InvalidInput(
            "text", "Say what's happening, e.g. `/incident update Rolled back the deploy; errors are dropping`"
        )
    impact = changes.clean_text(policy, impact, "impact", "customer impact")
    _check_next_update(next_update_minutes)
    made: list[Change] = []
    if status is not None and status.strip() and status.strip().lower() != incident.status:
        made.append(lifecycle.set_status(session, policy, incident, status, author))
    now = utcnow()
    update = StatusUpdate(
        incident_id=incident.id, author=author, status=incident.status, text=text, impact=impact,
        next_update_at=_next_update_at(policy, incident, next_update_minutes, now), posted_at=now,
    )
    session.add(update)
    incident.last_update_at = now
    session.flush()
    made.append(changes.record(
        session, incident, "update_posted", author, f"Status update: {text}", after=text,
        data={"update_id": update.id, "status": update.status, "impact": impact,
              "next_update_at": update.next_update_at.isoformat() if update.next_update_at else None},
        at=now,
    ))
    return update, made


def attach_messages(
    session: Session, update: StatusUpdate, *, channel_ts: str | None = None, announcement_ts: str | None = None
) -> None:
    """Record where the update was posted in Slack (the channel, the announcement thread)."""
    if channel_ts is not None:
        update.channel_ts = channel_ts
    if announcement_ts is not None:
        update.announcement_ts = announcement_ts
    session.add(update)
    session.flush()


def latest(session: Session, incident: Incident) -> StatusUpdate | None:
    query = select(StatusUpdate).where(StatusUpdate.incident_id == incident.id)
    return session.exec(query.order_by(StatusUpdate.posted_at.desc(), StatusUpdate.id.desc())).first()


def _check_next_update(minutes: int | None) -> None:
    if minutes is None:
        return
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not (
        NEXT_UPDATE_MIN_MINUTES <= minutes <= NEXT_UPDATE_MAX_MINUTES
    ):
        raise InvalidInput(
            "next_update",
            f"The next update must be between {NEXT_UPDATE_MIN_MINUTES} minutes and 24 hours away "
            f"(a number of minutes from {NEXT_UPDATE_MIN_MINUTES} to {NEXT_UPDATE_MAX_MINUTES:,}).",
        )


def _next_update_at(policy: Policy, incident: Incident, minutes: int | None, now: datetime) -> datetime | None:
    # A resolved incident owes nobody another update, so no deadline (and no nudge).
    if incidents.is_resolved(policy, incident):
        return None
    if minutes is None:
        minutes = cadence_minutes(policy, incident)
    return now + timedelta(minutes=minutes)


def cadence_minutes(policy: Policy, incident: Incident) -> int:
    """How often the incident's severity asks for a status update."""
    try:
        return policy.severity(incident.severity).update_every_minutes
    except KeyError:  # a severity the policy no longer has
        return policy.severity(policy.default_severity).update_every_minutes

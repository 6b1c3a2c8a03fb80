"""What Slack may not show yet: committed changes whose Slack side never happened.

A change is committed first and shown in Slack after (the card, the announcement, a
status update's posts, the postmortem plan). When Slack fails or the process dies in
between, the database still says what is missing; the worker's reconcile sweep asks
these queries and shows it again (``incidentbot.slack.resync``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from incidentbot.models import Incident, Postmortem, StatusUpdate
from incidentbot.timeutil import ensure_utc

# Posts older than this are not tried again: a day-old status update posted late
# would mislead more than it tells.
UPDATE_HORIZON = timedelta(days=1)
# Resolved incidents are checked for a missing postmortem this long after resolving.
POSTMORTEM_HORIZON = timedelta(days=2)


def stale_cards(session: Session, *, changed_before: datetime, limit: int = 50) -> list[Incident]:
    """Provisioned incidents whose card (and announcement) shows an older revision."""
    query = (
        select(Incident)
        .where(col(Incident.provisioned_at).is_not(None), Incident.shown_revision < Incident.revision,
               Incident.updated_at < ensure_utc(changed_before))
        .order_by(col(Incident.updated_at))
        .limit(limit)
    )
    return list(session.exec(query))


def unposted_updates(session: Session, *, now: datetime, posted_before: datetime,
                     limit: int = 50) -> list[StatusUpdate]:
    """Recent status updates missing from the channel, or from the announcement thread
    of a public incident that has one."""
    missing = or_(
        col(StatusUpdate.channel_ts).is_(None),
        and_(col(StatusUpdate.announcement_ts).is_(None), Incident.private == False,  # noqa: E712
             col(Incident.announcement_ts).is_not(None)),
    )
    query = (
        select(StatusUpdate)
        .join(Incident, col(Incident.id) == StatusUpdate.incident_id)
        .where(missing, col(Incident.channel_id).is_not(None),
               StatusUpdate.posted_at < ensure_utc(posted_before),
               StatusUpdate.posted_at > ensure_utc(now) - UPDATE_HORIZON)
        .order_by(col(StatusUpdate.id))
        .limit(limit)
    )
    return list(session.exec(query))


def resolved_without_postmortem(session: Session, *, now: datetime, resolved_before: datetime,
                                limit: int = 50) -> list[Incident]:
    """Recently resolved incidents with no postmortem row: the policy may require one
    that was never scheduled (``postmortems.schedule`` decides, and is idempotent)."""
    query = (
        select(Incident)
        .outerjoin(Postmortem, col(Postmortem.incident_id) == Incident.id)
        .where(col(Postmortem.id).is_(None), col(Incident.resolved_at).is_not(None),
               col(Incident.channel_id).is_not(None),
               Incident.resolved_at < ensure_utc(resolved_before),
               Incident.resolved_at > ensure_utc(now) - POSTMORTEM_HORIZON)
        .order_by(col(Incident.resolved_at))
        .limit(limit)
    )
    return list(session.exec(query))


def revision(session: Session, incident_id: int) -> int:
    """The incident's committed revision, read fresh (not from the session's identity map)."""
    return int(session.exec(select(Incident.revision).where(col(Incident.id) == incident_id)).one())


def mark_shown(session: Session, incident_id: int, revision: int) -> None:
    """The card (and announcement) now show ``revision``. One conditional UPDATE, so it
    never moves backwards when a slower refresh of an older state finishes last."""
    session.execute(
        update(Incident)
        .where(col(Incident.id) == incident_id, Incident.shown_revision < revision)
        .values(shown_revision=revision)
    )


def mark_unshown(session: Session, incident_id: int) -> None:
    """Showing a change failed: have the sweep show the incident again."""
    session.execute(update(Incident).where(col(Incident.id) == incident_id).values(shown_revision=0))

"""Nudges: reminders posted while an incident is not resolved.

The database says what is due; the scheduler only wakes the sweep up. ``due`` works
out every nudge from stored state (milestones, updates, roles, timeline) each time,
so a nudge that fell due while the worker was down is found when it is back. Each
occurrence of a situation has a stable ``key``; ``claim`` inserts it into the unique
``notification.key`` column, which lets exactly one worker send it, once.

A sweep, per nudge: ``claim`` and commit, post to Slack, then ``mark_sent`` and
commit; if posting fails, ``release`` and commit so the next sweep tries again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from incidentbot.core import changes, incidents, notifications, timeline
from incidentbot.core.errors import InvalidInput
from incidentbot.core.policy import Policy
from incidentbot.core.updates import cadence_minutes
from incidentbot.models import Incident, Notification, RoleAssignment, Snooze, StatusUpdate, TimelineEvent

KINDS = {"update_overdue": "status update", "no_lead": "missing lead", "idle": "no activity"}
SNOOZE_MAX_MINUTES = 24 * 60
# A claim not marked sent within this long belongs to a worker that died mid-send:
# the nudge becomes due again and the next claim takes it over.
CLAIM_LEASE = notifications.CLAIM_LEASE


@dataclass(frozen=True)
class DueNudge:
    incident_id: int
    kind: str  # "update_overdue" | "no_lead" | "idle"
    # One occurrence of the situation, e.g. "update_overdue:7:<anchor>": the same situation
    # always gives the same key, so it is sent once however many sweeps see it.
    key: str
    due_at: datetime


def due(session: Session, policy: Policy, now: datetime) -> list[DueNudge]:
    """Nudges due at ``now`` and not yet claimed or snoozed, oldest first.

    A constant number of queries whatever the number of open incidents.
    """
    if not policy.nudges.enabled:
        return []
    open_incidents = incidents.open_incidents(session, policy)
    ids = [incident.id for incident in open_incidents]
    if not ids:
        return []
    latest = _latest_updates(session, ids)
    led = _with_lead(session, policy, ids)
    activity = _last_activity(session, ids)
    candidates = [
        nudge
        for incident in open_incidents
        for nudge in _situations(policy, incident, latest.get(incident.id), incident.id in led,
                                 activity.get(incident.id))
        if nudge.due_at <= now
    ]
    taken = notifications.taken(session, [nudge.key for nudge in candidates], now)
    snoozed = _snoozed(session, ids, now)
    fresh = [n for n in candidates if n.key not in taken and (n.incident_id, n.kind) not in snoozed]
    return sorted(fresh, key=lambda n: (n.due_at, n.incident_id, n.kind))


def claim(session: Session, nudge: DueNudge, now: datetime) -> Notification | None:
    """Take the nudge for sending; ``None`` when another worker has it (or has sent it)."""
    return notifications.claim(session, incident_id=nudge.incident_id, kind=nudge.kind, key=nudge.key,
                               due_at=nudge.due_at, now=now)


mark_sent = notifications.mark_sent
release = notifications.release


def snooze(
    session: Session, policy: Policy, incident: Incident, kind: str, actor: str, now: datetime,
    minutes: int | None = None,
) -> datetime:
    """Silence ``kind`` nudges for the incident; returns when the snooze ends."""
    if kind not in KINDS:
        raise InvalidInput("kind", f"There is no reminder `{kind}` to snooze. Use one of: {', '.join(KINDS)}.")
    minutes = policy.nudges.snooze_minutes if minutes is None else minutes
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= SNOOZE_MAX_MINUTES:
        raise InvalidInput("minutes", f"Snooze for 1 to {SNOOZE_MAX_MINUTES:,} minutes (24 hours).")
    changes.begin(session, policy, incident)
    until = now + timedelta(minutes=minutes)
    session.add(Snooze(incident_id=incident.id, kind=kind, until=until, snoozed_by=actor, created_at=now))
    timeline.record(
        session, incident, "nudge_snoozed", f"Snoozed the {KINDS[kind]} reminder for {minutes} minutes.",
        actor=actor, occurred_at=now, data={"kind": kind, "minutes": minutes, "until": until.isoformat()},
    )
    session.flush()
    return until


# --- what is due, per incident -----------------------------------------------------------------


def _situations(
    policy: Policy, incident: Incident, latest: StatusUpdate | None, has_lead: bool, last_activity: datetime | None
) -> list[DueNudge]:
    found: list[DueNudge] = []
    anchor = incident.last_update_at or incident.declared_at
    if latest is not None and latest.next_update_at is not None:
        update_due = latest.next_update_at  # the update said when the next one comes
    else:
        update_due = anchor + timedelta(minutes=cadence_minutes(policy, incident))
    found.append(_nudge(incident, "update_overdue", anchor, update_due))
    if not has_lead:
        no_lead_due = incident.declared_at + timedelta(minutes=policy.nudges.no_lead_minutes)
        found.append(_nudge(incident, "no_lead", incident.declared_at, no_lead_due))
    idle_since = max(last_activity, incident.declared_at) if last_activity else incident.declared_at
    found.append(_nudge(incident, "idle", idle_since, idle_since + timedelta(hours=policy.nudges.idle_hours)))
    return found


def _nudge(incident: Incident, kind: str, anchor: datetime, due_at: datetime) -> DueNudge:
    return DueNudge(incident.id, kind, f"{kind}:{incident.id}:{anchor.isoformat()}", due_at)


def _latest_updates(session: Session, ids: list[int]) -> dict[int, StatusUpdate]:
    # Ids grow with posting time, so the highest id per incident is its latest update.
    newest = (
        select(func.max(StatusUpdate.id))
        .where(StatusUpdate.incident_id.in_(ids))
        .group_by(StatusUpdate.incident_id)
    )
    rows = session.exec(select(StatusUpdate).where(StatusUpdate.id.in_(newest)))
    return {update.incident_id: update for update in rows}


def _with_lead(session: Session, policy: Policy, ids: list[int]) -> set[int]:
    query = select(RoleAssignment.incident_id).where(
        RoleAssignment.incident_id.in_(ids),
        RoleAssignment.role == policy.lead_role.id,
        RoleAssignment.ended_at == None,  # noqa: E711  (SQL expression)
    )
    return set(session.exec(query))


def _last_activity(session: Session, ids: list[int]) -> dict[int, datetime]:
    # recorded_at, not occurred_at: pinning an old message now is activity now.
    query = (
        select(TimelineEvent.incident_id, func.max(TimelineEvent.recorded_at))
        .where(TimelineEvent.incident_id.in_(ids), TimelineEvent.deleted == False)  # noqa: E712
        .group_by(TimelineEvent.incident_id)
    )
    return {incident_id: last for incident_id, last in session.exec(query) if last is not None}


def _snoozed(session: Session, ids: list[int], now: datetime) -> set[tuple[int, str]]:
    query = select(Snooze.incident_id, Snooze.kind).where(Snooze.incident_id.in_(ids), Snooze.until > now)
    return {(incident_id, kind) for incident_id, kind in session.exec(query)}



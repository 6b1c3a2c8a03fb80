"""The incident lifecycle: acknowledge, status, severity, mitigate, resolve, close, summary.

Every function locks the incident, refuses a closed one, applies the change, records
it on the timeline and returns a ``Change``. Errors are written for the person who
clicked or typed: a second click answers ``AlreadyDone`` with the current state.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session

from incidentbot.core import changes, incidents, permissions
from incidentbot.core.changes import Change
from incidentbot.core.errors import AlreadyDone, Closed, DomainError, InvalidInput
from incidentbot.core.policy import Policy, Severity, Status
from incidentbot.models import Incident
from incidentbot.timeutil import utcnow

NEEDS_SUMMARY = "Resolving needs a short resolution summary: `/incident resolve <summary>`"


def acknowledge(session: Session, policy: Policy, incident: Incident, actor: str) -> Change:
    changes.begin(session, policy, incident)
    if incident.acknowledged_at is not None:
        raise AlreadyDone(f"{incident.reference} is already acknowledged.")
    if incidents.is_resolved(policy, incident):
        raise AlreadyDone(f"{incident.reference} is already resolved.")
    incident.acknowledged_at = utcnow()
    return changes.record(session, incident, "acknowledged", actor, "Acknowledged.",
                          after=_iso(incident.acknowledged_at), at=incident.acknowledged_at)


def set_status(
    session: Session, policy: Policy, incident: Incident, status_id: str, actor: str, *, privileged: bool = False
) -> Change:
    """Move to ``status_id``; resolved and final statuses follow the rules of resolve and close."""
    changes.begin(session, policy, incident)
    status = _status(policy, status_id)
    if status.id == incident.status:
        raise AlreadyDone(f"{incident.reference} is already {status.name.lower()}.")
    if status.final:
        return _close(session, policy, incident, actor, status, privileged)
    if status.resolved:
        permissions.check(session, policy, incident, actor, "resolve", privileged=privileged)
        if not incidents.is_resolved(policy, incident):
            # Resolving records a resolution summary, which a status alone does not carry.
            raise InvalidInput("summary", NEEDS_SUMMARY)
    return _move(session, policy, incident, status, actor)


def set_severity(
    session: Session,
    policy: Policy,
    incident: Incident,
    severity: str | int,
    actor: str,
    *,
    reason: str | None = None,
    privileged: bool = False,
) -> Change:
    """Raise or lower the severity; lowering needs a reason and the permission to downgrade."""
    changes.begin(session, policy, incident)
    new = _severity(policy, severity)
    old = incident.severity
    if new.id == old:
        raise AlreadyDone(f"{incident.reference} is already {new.id}.")
    reason = changes.clean_text(policy, reason, "reason", "reason")
    lowered = _rank(policy, new.id) > _rank(policy, old)
    if lowered:
        permissions.check(session, policy, incident, actor, "downgrade", privileged=privileged)
        if not reason:
            raise InvalidInput(
                "reason",
                f"Lowering {incident.reference} from {old} to {new.id} needs a reason: "
                f"`/incident sev {_short(new)} <reason>`",
            )
    incident.severity = new.id
    text = f"Severity {'lowered' if lowered else 'raised'} from {old} to {new.id}" + (f": {reason}" if reason else ".")
    return changes.record(session, incident, "severity_changed", actor, text, before=old, after=new.id,
                          detail=reason, announce=True, data={"reason": reason, "lowered": lowered})


def mitigate(session: Session, policy: Policy, incident: Incident, actor: str) -> Change:
    """Customer impact has stopped; the status moves on to ``monitoring`` when the policy has it."""
    changes.begin(session, policy, incident)
    if incident.mitigated_at is not None:
        raise AlreadyDone(f"{incident.reference} is already mitigated.")
    incident.mitigated_at = utcnow()
    status_before = incident.status
    monitoring = _monitoring_ahead(policy, incident)
    text = "Mitigated: the impact has stopped."
    if monitoring is not None:
        incident.status = monitoring.id
        text += f" Status: {monitoring.name}."
    return changes.record(
        session, incident, "mitigated", actor, text,
        after=_iso(incident.mitigated_at), detail=monitoring.id if monitoring else None, announce=True,
        data={"status_before": status_before, "status_after": incident.status}, at=incident.mitigated_at,
    )


def resolve(
    session: Session, policy: Policy, incident: Incident, actor: str, summary: str | None, *, privileged: bool = False
) -> Change:
    changes.begin(session, policy, incident)
    return _resolve(session, policy, incident, actor, summary, _resolved_status(policy), privileged)


def close(session: Session, policy: Policy, incident: Incident, actor: str, *, privileged: bool = False) -> Change:
    try:
        changes.begin(session, policy, incident)
    except Closed:
        raise AlreadyDone(f"{incident.reference} is already closed.") from None
    return _close(session, policy, incident, actor, policy.final_statuses[0], privileged)


def set_summary(session: Session, policy: Policy, incident: Incident, actor: str, summary: str | None) -> Change:
    changes.begin(session, policy, incident)
    cleaned = incidents.clean_summary(policy, summary)
    if cleaned is None:
        raise InvalidInput("summary", "Write the new summary: `/incident summary <text>`")
    if cleaned == incident.summary:
        raise AlreadyDone(f"{incident.reference} already has that summary.")
    before, incident.summary = incident.summary, cleaned
    return changes.record(session, incident, "summary_changed", actor, "Summary updated.", before=before, after=cleaned)


# --- the steps shared by several commands ----------------------------------------------------


def _move(session: Session, policy: Policy, incident: Incident, status: Status, actor: str) -> Change:
    before = incident.status
    data: dict[str, object] = {}
    if incidents.is_resolved(policy, incident) and not status.resolved:
        # Reopened: time to resolve runs again, and resolving again asks for a new summary.
        data = {"reopened": True, "resolved_at": _iso(incident.resolved_at), "resolution": incident.resolution}
        incident.resolved_at = None
        incident.resolution = None
    incident.status = status.id
    verb = "Reopened" if data else "Status changed"
    text = f"{verb}: {_status_name(policy, before)} → {status.name}."
    return changes.record(session, incident, "status_changed", actor, text, before=before, after=status.id, data=data)


def _resolve(
    session: Session, policy: Policy, incident: Incident, actor: str, summary: str | None, status: Status,
    privileged: bool,
) -> Change:
    if incidents.is_resolved(policy, incident):
        raise AlreadyDone(f"{incident.reference} is already resolved.")
    permissions.check(session, policy, incident, actor, "resolve", privileged=privileged)
    summary = incidents.clean_summary(policy, summary)
    if not summary:
        raise InvalidInput("summary", NEEDS_SUMMARY)
    now = utcnow()
    before = incident.status
    incident.status = status.id
    incident.resolved_at = now
    # Impact has ended by the time it is resolved at the latest.
    incident.mitigated_at = incident.mitigated_at or now
    incident.resolution = summary
    return changes.record(session, incident, "resolved", actor, f"Resolved: {summary}", before=before,
                          after=status.id, detail=summary, announce=True, data={"resolution": summary}, at=now)


def _close(
    session: Session, policy: Policy, incident: Incident, actor: str, status: Status, privileged: bool
) -> Change:
    permissions.check(session, policy, incident, actor, "close", privileged=privileged)
    if not incidents.is_resolved(policy, incident):
        raise DomainError(f"Resolve {incident.reference} first: `/incident resolve <summary>`")
    before = incident.status
    incident.status = status.id
    incident.closed_at = utcnow()
    return changes.record(session, incident, "closed", actor, "Closed.", before=before, after=status.id,
                          at=incident.closed_at)


def _resolved_status(policy: Policy) -> Status:
    resolved = [status for status in policy.statuses if status.resolved]
    return next((status for status in resolved if not status.final), resolved[0])


def _monitoring_ahead(policy: Policy, incident: Incident) -> Status | None:
    """The policy's ``monitoring`` status, if the incident has not reached it yet."""
    ids = [status.id for status in policy.statuses]
    if "monitoring" not in ids or incident.status not in ids:
        return None
    if ids.index(incident.status) >= ids.index("monitoring"):
        return None
    return policy.status("monitoring")


def _status(policy: Policy, raw: str | None) -> Status:
    try:
        return policy.status((raw or "").strip())
    except KeyError:
        choices = ", ".join(status.id for status in policy.statuses)
        raise InvalidInput("status", f"There is no status `{(raw or '').strip()}`. Use one of: {choices}.") from None


def _status_name(policy: Policy, status_id: str) -> str:
    try:
        return policy.status(status_id).name
    except KeyError:  # a status the policy no longer has
        return status_id


def _severity(policy: Policy, raw: str | int | None) -> Severity:
    shown = str(raw if raw is not None else "").strip()
    if shown:
        try:
            return policy.severity(shown)
        except KeyError:
            pass
    choices = ", ".join(severity.id.lower() for severity in policy.severities)
    what = f"There is no severity `{shown}`." if shown else "Give a severity."
    raise InvalidInput("severity", f"{what} Use one of: {choices}.")


def _rank(policy: Policy, severity_id: str) -> int:
    try:
        return policy.severity_rank(severity_id)
    except KeyError:
        # A severity the policy no longer has: moving off it is a correction, not a downgrade.
        return len(policy.severities)


def _short(severity: Severity) -> str:
    """How to type the severity after ``/incident sev``: its number when it has one."""
    match = re.search(r"(\d+)$", severity.id)
    return match[1] if match else severity.id.lower()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None

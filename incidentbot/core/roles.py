"""Incident roles: who holds which role now, handovers, and what a person holds."""

from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from incidentbot.core import changes, incidents
from incidentbot.core.changes import Change
from incidentbot.core.errors import AlreadyDone, DomainError, InvalidInput
from incidentbot.core.policy import Policy, Role
from incidentbot.models import Incident, RoleAssignment
from incidentbot.timeutil import utcnow

# Slack user ids: U..., or W... for Enterprise Grid users.
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
# Ids per IN (...) list: SQLite builds before 3.32 allow 999 bound parameters per statement.
_IN_CHUNK = 500


def holders(session: Session, incident: Incident) -> dict[str, str]:
    """Role id -> user id of its current holder."""
    query = select(RoleAssignment).where(
        RoleAssignment.incident_id == incident.id,
        RoleAssignment.ended_at == None,  # noqa: E711  (SQL expression)
    )
    return {assignment.role: assignment.user_id for assignment in session.exec(query)}


def lead(session: Session, policy: Policy, incident: Incident) -> str | None:
    """User id of the incident's current lead, if anyone has taken the lead."""
    return holders(session, incident).get(policy.lead_role.id)


def leads(session: Session, policy: Policy, among: list[Incident]) -> dict[int, str]:
    """Incident id -> user id of its current lead, for the incidents that have one.

    One query per ``_IN_CHUNK`` incidents rather than one each: lists of every open
    incident (``/incident list``, App Home) would otherwise cost a query per line.
    """
    ids = [incident.id for incident in among]
    found: dict[int, str] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        query = select(RoleAssignment.incident_id, RoleAssignment.user_id).where(
            RoleAssignment.role == policy.lead_role.id,
            RoleAssignment.ended_at == None,  # noqa: E711  (SQL expression)
            RoleAssignment.incident_id.in_(ids[start:start + _IN_CHUNK]),
        )
        found.update({incident_id: user_id for incident_id, user_id in session.exec(query)})
    return found


def assign(session: Session, policy: Policy, incident: Incident, role_id: str, user_id: str, actor: str) -> Change:
    """Give ``role_id`` to ``user_id``; the previous holder's assignment ends (kept as history)."""
    role = _role(policy, role_id)
    user_id = _user(user_id, role)
    changes.begin(session, policy, incident)
    current = _current(session, incident, role.id)
    if current is not None and current.user_id == user_id:
        raise AlreadyDone(f"That person is already the {role.name.lower()} of {incident.reference}.")
    now = utcnow()
    if current is not None:
        current.ended_at = now
        session.add(current)
    try:
        # The partial unique index allows one current holder; a concurrent assignment
        # that got there first makes this insert fail instead of leaving two holders.
        with session.begin_nested():
            session.add(RoleAssignment(incident_id=incident.id, role=role.id, user_id=user_id,
                                       assigned_by=actor, started_at=now))
    except IntegrityError:
        raise DomainError(
            f"Someone changed the {role.name.lower()} of {incident.reference} at the same moment. "
            "Look at the incident card and try again if it is still needed."
        ) from None
    previous = current.user_id if current is not None else None
    text = f"{role.name}: {user_id}" + (f", taking over from {previous}." if previous else ".")
    return changes.record(
        session, incident, "role_assigned", actor, text,
        before=previous, after=user_id, detail=role.id, data={"role": role.id},
    )


def roles_of(session: Session, policy: Policy, user_id: str) -> list[tuple[Incident, str]]:
    """(open incident, role id) for every role ``user_id`` holds now, newest incident first."""
    open_by_id = {incident.id: incident for incident in incidents.open_incidents(session, policy)}
    if not open_by_id:
        return []
    query = select(RoleAssignment).where(
        RoleAssignment.user_id == user_id,
        RoleAssignment.ended_at == None,  # noqa: E711
        RoleAssignment.incident_id.in_(open_by_id),
    )
    order = {role.id: index for index, role in enumerate(policy.roles)}
    held = [(open_by_id[a.incident_id], a.role) for a in session.exec(query)]
    # Newest incident first; within one incident, the policy's role order (lead first).
    return sorted(held, key=lambda pair: (-pair[0].number, order.get(pair[1], len(order))))


def history(session: Session, incident: Incident) -> list[RoleAssignment]:
    """Every assignment of the incident, in the order they were made."""
    query = select(RoleAssignment).where(RoleAssignment.incident_id == incident.id)
    return list(session.exec(query.order_by(RoleAssignment.started_at, RoleAssignment.id)))


def _current(session: Session, incident: Incident, role_id: str) -> RoleAssignment | None:
    query = select(RoleAssignment).where(
        RoleAssignment.incident_id == incident.id,
        RoleAssignment.role == role_id,
        RoleAssignment.ended_at == None,  # noqa: E711
    )
    return session.exec(query).first()


def _role(policy: Policy, role_id: str | None) -> Role:
    try:
        return policy.role((role_id or "").strip())
    except KeyError:
        choices = ", ".join(role.id for role in policy.roles)
        shown = (role_id or "").strip()
        raise InvalidInput(
            "role", f"There is no role `{shown}`. Use one of: {choices}." if shown else f"Name a role: {choices}."
        ) from None


def _user(user_id: str | None, role: Role) -> str:
    user_id = (user_id or "").strip()
    if not _USER_ID.match(user_id):
        raise InvalidInput("user", f"Mention the person: `/incident role {role.id} @name`")
    return user_id

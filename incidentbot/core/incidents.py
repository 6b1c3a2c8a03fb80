"""Incidents: declaring them, finding them, and recording their Slack resources.

Plain Python over a SQLModel session. Nothing here talks to Slack: the Slack
layer calls these functions and renders what they return.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from incidentbot.core import naming, timeline
from incidentbot.core.errors import InvalidInput, NotFound
from incidentbot.core.policy import Policy
from incidentbot.models import Incident
from incidentbot.timeutil import ensure_utc, utcnow

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACES = re.compile(r"\s+")
_REFERENCE = re.compile(r"^\s*(?:INC-?)?(\d+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Declaration:
    """What a person asked for when declaring, already validated."""

    title: str
    severity: str
    declared_by: str
    category: str | None = None
    services: tuple[str, ...] = field(default_factory=tuple)
    summary: str | None = None
    private: bool = False
    request_key: str | None = None


def clean_title(policy: Policy, raw: str | None) -> str:
    """One line of text, within the policy's length limit."""
    title = _SPACES.sub(" ", _CONTROL.sub(" ", raw or "")).strip()
    if not title:
        raise InvalidInput("title", "Give the incident a title, e.g. `/incident Checkout is failing for EU users`.")
    limit = policy.limits.title_max_chars
    if len(title) > limit:
        raise InvalidInput(
            "title",
            f"The title is {len(title):,} characters; keep it to {limit}. "
            "Put the details in the summary (use `/incident` alone for the form).",
        )
    return title


def clean_summary(policy: Policy, raw: str | None) -> str | None:
    summary = _CONTROL.sub(lambda m: m.group() if m.group() in "\n\t" else " ", raw or "").strip()
    if not summary:
        return None
    limit = policy.limits.summary_max_chars
    if len(summary) > limit:
        raise InvalidInput("summary", f"The summary is {len(summary):,} characters; keep it to {limit:,}.")
    return summary


def check_severity(policy: Policy, raw: str | None) -> str:
    """The policy's severity id for ``sev1``/``SEV1``/``1``; the default when empty."""
    if raw is None or not raw.strip():
        return policy.default_severity
    try:
        return policy.severity(raw.strip()).id
    except KeyError:
        choices = ", ".join(s.lower() for s in policy.severity_ids)
        raise InvalidInput("severity", f"There is no severity `{raw.strip()}`. Use one of: {choices}.") from None


def check_category(policy: Policy, raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    try:
        return policy.category(raw.strip()).id
    except KeyError:
        raise InvalidInput("category", f"There is no category `{raw.strip()}` in the taxonomy.") from None


def check_services(policy: Policy, raw: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    names: list[str] = []
    for name in raw or ():
        try:
            service = policy.service(name.strip()).name
        except KeyError:
            raise InvalidInput("services", f"There is no service `{name.strip()}` in the policy.") from None
        if service not in names:
            names.append(service)
    return tuple(names)


def declare(session: Session, policy: Policy, declaration: Declaration) -> tuple[Incident, bool]:
    """Store a new incident and its ``declared`` timeline event.

    Returns ``(incident, created)``. A request already seen (same
    ``request_key``) returns the incident it made, with ``created`` False, so a
    retried submission never declares twice.
    """
    existing = _by_request_key(session, declaration.request_key)
    if existing is not None:
        return existing, False
    # Two people declaring at once may pick the same next number; the unique
    # index rejects one of them, which then tries the following number.
    for _attempt in range(5):
        incident = _new_incident(session, policy, declaration)
        try:
            with session.begin_nested():
                session.add(incident)
        except IntegrityError:
            # Either the number was taken (try the next) or the same request won a race.
            existing = _by_request_key(session, declaration.request_key)
            if existing is not None:
                return existing, False
            continue
        timeline.record(
            session,
            incident,
            "declared",
            f"Declared {incident.reference}: {incident.title}",
            actor=declaration.declared_by,
            occurred_at=incident.declared_at,
            data={"severity": incident.severity, "private": incident.private},
        )
        session.flush()
        return incident, True
    raise RuntimeError("could not allocate an incident number after 5 attempts")


def _by_request_key(session: Session, key: str | None) -> Incident | None:
    if not key:
        return None
    return session.exec(select(Incident).where(Incident.request_key == key)).first()


def _private_by_default(policy: Policy, category: str | None) -> bool:
    if not category:
        return False
    try:
        return policy.category(category).private_by_default
    except KeyError:  # a category the policy no longer has
        return False


# pg_advisory_xact_lock key of taking the next incident number.
_NUMBER_LOCK = 0x1C1DE47


def _next_number(session: Session) -> int:
    """The number after the highest one. On PostgreSQL declarations take it one at a time
    (a lock held until their commit): with the unique index alone, N people declaring at
    once in a big outage collide round after round, and the last needs N attempts."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _NUMBER_LOCK})
    return (session.exec(select(func.max(Incident.number))).one() or 0) + 1


def _new_incident(session: Session, policy: Policy, declaration: Declaration) -> Incident:
    now = utcnow()
    number = _next_number(session)
    return Incident(
        number=number,
        title=declaration.title,
        summary=declaration.summary,
        severity=declaration.severity,
        status=policy.initial_status.id,
        category=declaration.category,
        services=list(declaration.services),
        # A category such as "security" keeps the incident out of public channels even
        # when the declarer forgot to tick Private; the declarer cannot make it public.
        private=declaration.private or _private_by_default(policy, declaration.category),
        declared_by=declaration.declared_by,
        request_key=declaration.request_key,
        declared_at=now,
        created_at=now,
        updated_at=now,
    )


def get(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"There is no incident with id {incident_id}.")
    return incident


def by_reference(session: Session, reference: str) -> Incident:
    """Find ``INC-42``, ``inc42`` or ``42``."""
    match = _REFERENCE.match(reference or "")
    incident = None
    if match:
        incident = session.exec(select(Incident).where(Incident.number == int(match.group(1)))).first()
    if incident is None:
        raise NotFound(f"There is no incident `{reference}`. Incidents are numbered like INC-42.")
    return incident


def by_channel(session: Session, channel_id: str) -> Incident | None:
    """The incident whose channel this is, if any."""
    return session.exec(select(Incident).where(Incident.channel_id == channel_id)).first()


def is_resolved(policy: Policy, incident: Incident) -> bool:
    """Whether the incident's status counts as resolved under the policy.

    A status the policy no longer lists (an operator renamed the statuses) falls back
    to the milestones, so old incidents are neither reopened nor nudged forever.
    """
    for status in policy.statuses:
        if status.id == incident.status:
            return status.resolved
    return incident.resolved_at is not None or incident.closed_at is not None


def open_incidents(session: Session, policy: Policy) -> list[Incident]:
    """Incidents not resolved under the policy's statuses, newest first."""
    known = [status.id for status in policy.statuses]
    unresolved = [status.id for status in policy.statuses if not status.resolved]
    query = select(Incident).where(
        or_(
            Incident.status.in_(unresolved),
            and_(
                Incident.status.not_in(known),
                Incident.resolved_at == None,  # noqa: E711  (SQL expression)
                Incident.closed_at == None,  # noqa: E711
            ),
        )
    )
    return list(session.exec(query.order_by(Incident.number.desc())))


def channel_name_for(policy: Policy, incident: Incident) -> str:
    """The channel name the policy gives this incident (before any ``name_taken`` suffix)."""
    pattern = policy.channels.private_name_pattern if incident.private else policy.channels.name_pattern
    return naming.channel_name(
        pattern,
        number=incident.number,
        title=incident.title,
        severity=incident.severity,
        declared_at=incident.declared_at.astimezone(policy.tz),
    )


def attach_channel(session: Session, incident: Incident, channel_id: str, channel_name: str) -> None:
    incident.channel_id = channel_id
    incident.channel_name = channel_name
    _touch(session, incident)


def lease_provisioning(session: Session, incident_id: int, *, now: datetime, hold: timedelta) -> bool:
    """Take the incident's provisioning lease until ``now + hold``; False while another
    holds it. One conditional UPDATE, so two processes never both get it."""
    now = ensure_utc(now)
    taken = session.execute(
        update(Incident)
        .where(col(Incident.id) == incident_id,
               or_(col(Incident.provisioning_until).is_(None), col(Incident.provisioning_until) < now))
        .values(provisioning_until=now + hold)
        .execution_options(synchronize_session=False)
    )
    return taken.rowcount == 1


def release_provisioning(session: Session, incident_id: int) -> None:
    session.execute(_by_id(incident_id).values(provisioning_until=None))


# What provisioning makes in Slack, by column.
_SLACK_RESOURCES = frozenset({"channel_id", "channel_name", "card_ts", "announcement_channel_id", "announcement_ts"})


def record_provisioning(
    session: Session, incident_id: int, *, finished_at: datetime | None = None, **made: str
) -> None:
    """Store what provisioning made in Slack (``channel_id=``, ``card_ts=``, …).

    ``finished_at``: every resource the incident needs exists since then; the lease is
    given back in the same UPDATE. One UPDATE by id without loading the row, because this
    runs several times for every declaration: loading the incident in each step was a
    large part of the CPU a declaration costs (docs/performance.md).
    """
    unknown = set(made) - _SLACK_RESOURCES
    if unknown:
        raise ValueError(f"not a Slack resource of an incident: {', '.join(sorted(unknown))}")
    values: dict = {**made, "updated_at": utcnow()}
    if finished_at is not None:
        values.update(provisioned_at=ensure_utc(finished_at), provisioning_until=None)
    session.execute(_by_id(incident_id).values(**values))


def _by_id(incident_id: int):
    """An UPDATE of one incident that leaves loaded objects alone: provisioning keeps its
    own copy, and matching the session's objects to the new values costs more CPU than
    the statement (synchronize_session)."""
    return update(Incident).where(col(Incident.id) == incident_id).execution_options(synchronize_session=False)


def unprovisioned(session: Session, *, declared_before: datetime, limit: int = 50) -> list[Incident]:
    """Incidents whose Slack setup was interrupted (a crash, Slack down)."""
    query = (
        select(Incident)
        .where(Incident.provisioned_at == None, Incident.declared_at < declared_before)  # noqa: E711
        .order_by(Incident.number)
        .limit(limit)
    )
    return list(session.exec(query))


def _touch(session: Session, incident: Incident) -> None:
    incident.updated_at = utcnow()
    session.add(incident)
    session.flush()

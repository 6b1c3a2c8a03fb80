"""Postmortems: scheduling by policy, the review meeting, status, who takes part.

On resolve, ``schedule`` creates the incident's postmortem when the policy requires one:
an owner, a due date (``calendar.due_at``) and a proposed review meeting in the first
free business-hours slot before it. People confirm, reschedule or mark it not needed;
drafting (``incidentbot.drafting``) stores its result with ``record_draft``; the status
then moves ``scheduled -> drafted -> in_review -> published`` (or ``not_needed``).

Reminders about them (draft not started, the meeting soon, overdue) are in
``core.postmortem_reminders``.

Functions flush and never commit; errors are ``core.errors`` with messages for people.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from incidentbot.core import calendar, roles, timeline
from incidentbot.core.errors import AlreadyDone, DomainError, InvalidInput, NotFound
from incidentbot.core.policy import Policy
from incidentbot.models import Incident, Postmortem
from incidentbot.timeutil import ensure_utc, utcnow

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # keeps \t and \n
REASON_MAX_CHARS = 2900  # shown in a Slack section (3,000 characters at most)


class PostmortemStatus(StrEnum):
    SCHEDULED = "scheduled"
    DRAFTED = "drafted"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"
    NOT_NEEDED = "not_needed"

    @property
    def label(self) -> str:
        return {"scheduled": "Scheduled", "drafted": "Drafted", "in_review": "In review",
                "published": "Published", "not_needed": "Not needed"}[self.value]


S = PostmortemStatus
ACTIVE = frozenset({S.SCHEDULED, S.DRAFTED, S.IN_REVIEW})  # still to be done: reminded, can be overdue
FINISHED = frozenset({S.PUBLISHED, S.NOT_NEEDED})

# Timeline event kinds recorded here: bookkeeping about the postmortem, not events of the
# incident itself (a drafter may leave them out of the incident's timeline).
EVENT_KINDS = frozenset({
    "postmortem_scheduled", "postmortem_meeting_confirmed", "postmortem_rescheduled", "postmortem_not_needed",
    "postmortem_owner_changed", "postmortem_drafted", "postmortem_in_review", "postmortem_published",
})

# A meeting reminder whose moment is within this long after the meeting was proposed or
# moved is not sent: people were just told the time.


# --- scheduling ------------------------------------------------------------------------------


def get(session: Session, incident: Incident) -> Postmortem | None:
    """The incident's postmortem, if one was scheduled."""
    return session.exec(select(Postmortem).where(Postmortem.incident_id == incident.id)).first()


def active_for_owner(session: Session, owner: str, *, limit: int = 10) -> list[tuple[Postmortem, Incident]]:
    """The postmortems ``owner`` still has to do, soonest due first (App Home)."""
    query = (select(Postmortem, Incident).join(Incident, Incident.id == Postmortem.incident_id)
             .where(Postmortem.owner == owner, Postmortem.status.in_(list(ACTIVE)))
             .order_by(Postmortem.due_at, Postmortem.id).limit(limit))
    return [(postmortem, incident) for postmortem, incident in session.exec(query)]


def required(policy: Policy, incident: Incident) -> bool:
    """Whether the policy requires a postmortem: by severity, or by category."""
    if incident.category and incident.category in policy.postmortems.required_categories:
        return True
    try:
        return policy.severity(incident.severity).postmortem_required
    except KeyError:  # a severity the policy no longer lists: the category decides
        return False


def schedule(
    session: Session, policy: Policy, incident: Incident, *, now: datetime, force: bool = False
) -> Postmortem | None:
    """Schedule the incident's postmortem; ``None`` when none is required or one exists.

    Called on resolve (``force`` schedules one the policy does not require, when someone
    asks for it). The owner is the holder of ``postmortems.owner_role`` (the declarer when
    nobody holds it); due by ``calendar.due_at`` from the resolve; the meeting proposed in
    the first free slot before the due date, avoiding other postmortems' meetings.
    Idempotent: the unique ``incident_id`` makes a second call (a retried or repeated
    resolve, two processes at once) return ``None`` and leave the first one as it is.
    """
    now = ensure_utc(now)
    if not force and not required(policy, incident):
        return None
    if get(session, incident) is not None:
        return None
    rules = policy.postmortems
    owner = roles.holders(session, incident).get(rules.owner_role) or incident.declared_by
    resolved_at = incident.resolved_at or now
    due = calendar.due_at(policy, _severity_id(policy, incident), resolved_at)
    meeting = propose_meeting(session, policy, now=now, before=due)
    postmortem = Postmortem(
        incident_id=incident.id, owner=owner, status=S.SCHEDULED, due_at=due, meeting_at=meeting,
        meeting_set_at=now if meeting else None, created_at=now, updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(postmortem)
    except IntegrityError:
        return None  # scheduled at the same moment by someone else
    meeting_text = (f"review meeting proposed for {calendar.moment_label(meeting, policy)}" if meeting
                    else "no free slot for the review meeting before then; pick a time")
    timeline.record(
        session, incident, "postmortem_scheduled",
        f"Postmortem scheduled: owner {owner}, due {calendar.moment_label(due, policy)}; {meeting_text}.",
        occurred_at=now,
        data={"owner": owner, "due_at": due.isoformat(), "meeting_at": meeting.isoformat() if meeting else None},
    )
    session.flush()
    return postmortem


def propose_meeting(
    session: Session, policy: Policy, *, now: datetime, before: datetime, exclude: int | None = None
) -> datetime | None:
    """The first free review slot before ``before``, at least ``meeting_notice_hours`` ahead
    when such a slot exists, else the first free one from ``now``; ``None`` when none fits."""
    minutes = policy.postmortems.meeting_minutes
    busy = busy_meetings(session, policy, start=now, end=before, exclude=exclude)
    notice = now + timedelta(hours=policy.postmortems.meeting_notice_hours)
    return (calendar.first_free_slot(policy, notice, before, minutes, busy)
            or calendar.first_free_slot(policy, now, before, minutes, busy))


def busy_meetings(
    session: Session, policy: Policy, *, start: datetime, end: datetime, exclude: int | None = None
) -> list[tuple[datetime, datetime]]:
    """Review meetings of other postmortems still to be done that overlap ``[start, end)``."""
    length = timedelta(minutes=policy.postmortems.meeting_minutes)
    query = select(Postmortem.meeting_at).where(
        Postmortem.meeting_at != None,  # noqa: E711  (SQL expression)
        Postmortem.meeting_at < end,
        Postmortem.meeting_at > start - length,
        Postmortem.status.in_(list(ACTIVE)),
    )
    if exclude is not None:
        query = query.where(Postmortem.id != exclude)
    return sorted((at, at + length) for at in session.exec(query))


# --- the review meeting and the owner --------------------------------------------------------


def confirm_meeting(session: Session, postmortem: Postmortem, actor: str, *, now: datetime | None = None) -> None:
    """Confirm the proposed review meeting."""
    now = ensure_utc(now) if now else utcnow()
    incident = _begin(session, postmortem, "the review meeting cannot change any more")
    if postmortem.meeting_at is None:
        raise InvalidInput("meeting", f"No review meeting is proposed for {incident.reference}: "
                                      "pick a time with Reschedule.")
    if postmortem.meeting_confirmed:
        raise AlreadyDone(f"The review meeting of {incident.reference} is already confirmed.")
    if postmortem.meeting_at <= now:
        raise InvalidInput("meeting", f"The proposed time for the review of {incident.reference} has passed: "
                                      "pick a new time with Reschedule.")
    postmortem.meeting_confirmed = True
    _touch(session, postmortem, now)
    timeline.record(session, incident, "postmortem_meeting_confirmed", "Postmortem review meeting confirmed.",
                    actor=actor, occurred_at=now, data={"meeting_at": postmortem.meeting_at.isoformat()})
    session.flush()


def reschedule(
    session: Session, policy: Policy, postmortem: Postmortem, actor: str, when: datetime, *,
    now: datetime | None = None,
) -> None:
    """Move the review meeting to ``when`` (a person picked it, so it counts as confirmed).

    Refused, with the reason, when ``when`` is in the past, outside business hours, or the
    meeting would end after the due date (unless the postmortem is already overdue: then
    any future time in business hours is better than none).
    """
    now = ensure_utc(now) if now else utcnow()
    if when is None or when.tzinfo is None or when.tzinfo.utcoffset(when) is None:
        raise InvalidInput("when", "Pick a date and a time for the review meeting.")
    when = ensure_utc(when).replace(second=0, microsecond=0)
    incident = _begin(session, postmortem, "the review meeting cannot change any more")
    minutes = policy.postmortems.meeting_minutes
    if when <= now:
        raise InvalidInput("when", f"{calendar.moment_label(when, policy)} has passed. Pick a time in the future.")
    problem = calendar.meeting_problem(policy, when, minutes)
    if problem:
        raise InvalidInput("when", problem)
    end = when + timedelta(minutes=minutes)
    if end > postmortem.due_at and now < postmortem.due_at:
        latest = postmortem.due_at - timedelta(minutes=minutes)
        raise InvalidInput(
            "when",
            f"The postmortem of {incident.reference} is due {calendar.moment_label(postmortem.due_at, policy)}; "
            f"a {minutes}-minute review at {calendar.moment_label(when, policy)} would end after that. "
            f"Start it by {calendar.moment_label(latest, policy)}.",
        )
    if when == postmortem.meeting_at and postmortem.meeting_confirmed:
        raise AlreadyDone(f"The review meeting of {incident.reference} is already at "
                          f"{calendar.moment_label(when, policy)}.")
    before = postmortem.meeting_at
    postmortem.meeting_at = when
    postmortem.meeting_confirmed = True
    postmortem.meeting_set_at = now
    postmortem.meeting_sequence = (postmortem.meeting_sequence or 0) + 1
    _touch(session, postmortem, now)
    timeline.record(
        session, incident, "postmortem_rescheduled",
        f"Postmortem review meeting moved to {calendar.moment_label(when, policy)}.",
        actor=actor, occurred_at=now,
        data={"before": before.isoformat() if before else None, "after": when.isoformat()},
    )
    session.flush()


def not_needed(
    session: Session, postmortem: Postmortem, actor: str, reason: str, *, now: datetime | None = None
) -> None:
    """Record that no postmortem is needed, and why (the reason is required)."""
    now = ensure_utc(now) if now else utcnow()
    text = _CONTROL.sub(" ", reason or "").strip()
    if not text:
        raise InvalidInput("reason", "Say why no postmortem is needed (for example \"duplicate of INC-12\"); "
                                     "the reason is recorded on the incident.")
    if len(text) > REASON_MAX_CHARS:
        raise InvalidInput("reason", f"The reason is {len(text):,} characters; keep it to {REASON_MAX_CHARS:,}.")
    incident = _begin(session, postmortem, "it cannot be marked not needed", allow_not_needed=True)
    if postmortem.status == S.NOT_NEEDED:
        raise AlreadyDone(f"The postmortem of {incident.reference} is already marked not needed: "
                          f"{postmortem.not_needed_reason}")
    before = postmortem.status
    postmortem.status = S.NOT_NEEDED
    postmortem.not_needed_reason = text
    _touch(session, postmortem, now)
    timeline.record(session, incident, "postmortem_not_needed", f"Postmortem not needed: {text}",
                    actor=actor, occurred_at=now, data={"before": before, "reason": text})
    session.flush()


def set_owner(
    session: Session, postmortem: Postmortem, user_id: str, actor: str, *, now: datetime | None = None
) -> None:
    """Hand the postmortem to ``user_id``."""
    now = ensure_utc(now) if now else utcnow()
    user_id = (user_id or "").strip()
    if not _USER_ID.match(user_id):
        raise InvalidInput("owner", "Mention the person who should own the postmortem, e.g. `@alice`.")
    incident = _begin(session, postmortem, "its owner cannot change any more")
    if postmortem.owner == user_id:
        raise AlreadyDone(f"That person already owns the postmortem of {incident.reference}.")
    before = postmortem.owner
    postmortem.owner = user_id
    _touch(session, postmortem, now)
    timeline.record(session, incident, "postmortem_owner_changed",
                    f"Postmortem owner: {user_id}, taking over from {before}.",
                    actor=actor, occurred_at=now, data={"before": before, "after": user_id})
    session.flush()


# --- draft and status ------------------------------------------------------------------------


def record_draft(
    session: Session, postmortem: Postmortem, *, markdown: str, model: str, now: datetime | None = None,
    actions: list[dict] | None = None,
) -> None:
    """Store a (re)generated draft and its proposed action items; ``scheduled`` becomes ``drafted``.

    ``drafted`` and ``in_review`` stay as they are (a regenerated draft under review is
    still under review); a postmortem marked not needed keeps that status and the draft.
    A published postmortem is refused: its published version is kept.
    """
    now = ensure_utc(now) if now else utcnow()
    if not (markdown or "").strip():
        raise InvalidInput("draft", "The draft is empty; nothing was stored.")
    incident = _incident(session, postmortem)
    _lock(session, postmortem)
    if postmortem.status == S.PUBLISHED:
        raise AlreadyDone(f"The postmortem of {incident.reference} is published; the published version is kept.")
    first = postmortem.status == S.SCHEDULED
    postmortem.draft_markdown = markdown
    postmortem.draft_model = model
    postmortem.draft_actions = list(actions or [])
    postmortem.drafted_at = now
    if first:
        postmortem.status = S.DRAFTED
        timeline.record(session, incident, "postmortem_drafted", f"Postmortem drafted ({model}).",
                        occurred_at=now, data={"model": model})
    _touch(session, postmortem, now)
    session.flush()


_NEXT = {S.DRAFTED: S.IN_REVIEW, S.IN_REVIEW: S.PUBLISHED}


def advance(
    session: Session, postmortem: Postmortem, status: str, actor: str, *, now: datetime | None = None
) -> None:
    """Move the status on: ``drafted -> in_review -> published``; anything else is refused."""
    now = ensure_utc(now) if now else utcnow()
    try:
        target = S(status)
    except ValueError:
        raise InvalidInput("status", f"There is no postmortem status `{status}`. "
                                     f"Use one of: {', '.join(s.value for s in S)}.") from None
    incident = _incident(session, postmortem)
    _lock(session, postmortem)
    current = S(postmortem.status)
    ref = incident.reference
    if target == current:
        raise AlreadyDone(f"The postmortem of {ref} is already {current.label.lower()}.")
    if target == S.NOT_NEEDED:
        raise InvalidInput("status", "Use Not needed, with a reason, to mark a postmortem not needed.")
    if _NEXT.get(current) != target:
        raise DomainError(_why_not(ref, current, target))
    postmortem.status = target
    if target == S.PUBLISHED:
        postmortem.published_at = now
    _touch(session, postmortem, now)
    text = {S.IN_REVIEW: "Postmortem in review.", S.PUBLISHED: "Postmortem published."}[target]
    timeline.record(session, incident, f"postmortem_{target.value}", text, actor=actor, occurred_at=now,
                    data={"before": current.value, "after": target.value})
    session.flush()


def _why_not(ref: str, current: S, target: S) -> str:
    if current == S.PUBLISHED:
        return f"The postmortem of {ref} is already published; it cannot be marked {target.label.lower()}."
    if current == S.NOT_NEEDED:
        return f"The postmortem of {ref} was marked not needed; it cannot be marked {target.label.lower()}."
    if current == S.SCHEDULED:
        return (f"The postmortem of {ref} has no draft yet. Draft it first (`/incident postmortem`), "
                f"then mark it in review.")
    if target == S.PUBLISHED:  # from drafted
        return f"Mark the postmortem of {ref} in review first: the team reviews a draft before it is published."
    if target == S.SCHEDULED:
        return f"The postmortem of {ref} is already {current.label.lower()}; it cannot go back to scheduled."
    if target == S.DRAFTED:
        return (f"The postmortem of {ref} is {current.label.lower()}; regenerate the draft instead "
                f"of moving it back.")
    return f"The postmortem of {ref} is {current.label.lower()}; it cannot be marked {target.label.lower()}."


# --- who takes part --------------------------------------------------------------------------


def participants(session: Session, policy: Policy, incident: Incident, *, most_active: list[str]) -> list[str]:
    """Who is invited to the review, de-duplicated, in this order: the lead, the postmortem's
    owner, the other current role holders (policy order), earlier role holders, then the
    most active responders (as given, e.g. by message count)."""
    current = roles.holders(session, incident)
    order = {role.id: index for index, role in enumerate(policy.roles)}
    postmortem = get(session, incident)
    people = [current.get(policy.lead_role.id), postmortem.owner if postmortem else None]
    people += [user for role, user in sorted(current.items(), key=lambda item: order.get(item[0], len(order)))]
    people += [assignment.user_id for assignment in roles.history(session, incident)]
    people += list(most_active)
    seen: set[str] = set()
    result = []
    for user in people:
        if user and user not in seen:
            seen.add(user)
            result.append(user)
    return result


# --- helpers ---------------------------------------------------------------------------------


def _severity_id(policy: Policy, incident: Incident) -> str:
    """The incident's severity, or the policy's least severe one when it is no longer listed."""
    try:
        return policy.severity(incident.severity).id
    except KeyError:
        return policy.severities[-1].id


def _incident(session: Session, postmortem: Postmortem) -> Incident:
    incident = session.get(Incident, postmortem.incident_id)
    if incident is None:  # pragma: no cover - the foreign key keeps it
        raise NotFound("That incident no longer exists.")
    return incident


def _lock(session: Session, postmortem: Postmortem) -> None:
    """Re-read the postmortem under a row lock (PostgreSQL), so two clicks at once are
    applied one after the other and the second sees the first."""
    session.flush()
    session.refresh(postmortem, with_for_update=True)


def _begin(session: Session, postmortem: Postmortem, consequence: str, *, allow_not_needed: bool = False) -> Incident:
    """Lock the postmortem and refuse changes to a finished one, saying why."""
    incident = _incident(session, postmortem)
    _lock(session, postmortem)
    if postmortem.status == S.PUBLISHED:
        raise AlreadyDone(f"The postmortem of {incident.reference} is already published, so {consequence}.")
    if postmortem.status == S.NOT_NEEDED and not allow_not_needed:
        raise AlreadyDone(f"The postmortem of {incident.reference} was marked not needed "
                          f"({postmortem.not_needed_reason}), so {consequence}.")
    return incident


def _touch(session: Session, postmortem: Postmortem, now: datetime) -> None:
    postmortem.updated_at = now
    session.add(postmortem)

"""Postmortem reminders: what is due from database state, sent exactly once.

Draft not started (to the owner), the review meeting in 24 h and in 1 h, overdue (to the
owner, then to the channel). Claims use ``core.notifications`` like the nudges do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from incidentbot.core import calendar, notifications
from incidentbot.core.policy import Policy
from incidentbot.core.postmortems import ACTIVE, S
from incidentbot.models import Notification, Postmortem
from incidentbot.timeutil import ensure_utc

MEETING_REMINDER_MARGIN = timedelta(hours=1)
REMINDER_KINDS = ("draft_not_started", "meeting_24h", "meeting_1h", "overdue_owner", "overdue_channel")
NOTIFICATION_PREFIX = "postmortem:"


@dataclass(frozen=True)
class DueReminder:
    postmortem_id: int
    # "draft_not_started" | "meeting_24h" | "meeting_1h" | "overdue_owner" | "overdue_channel"
    kind: str
    # One occurrence, e.g. "postmortem:meeting_1h:7:<meeting time>": the same situation always
    # gives the same key, so it is sent once however many sweeps see it.
    key: str
    due_at: datetime
    incident_id: int


def due_reminders(session: Session, policy: Policy, now: datetime) -> list[DueReminder]:
    """Reminders due at ``now`` and not yet claimed, oldest first. Two queries, whatever the number.

    - ``draft_not_started`` (to the owner): still ``scheduled`` with no draft, from the
      morning ``reminder_days_before_due`` business days before the due day (not before
      the first business morning after scheduling) until the due date;
    - ``meeting_24h`` / ``meeting_1h``: 24 hours and 1 hour before the review meeting
      (proposed or confirmed), each until the next one takes over; none that falls less than
      an hour after the meeting was proposed or moved (people were just told);
    - ``overdue_owner``: not published (or not needed) by the due date; at the first
      business-hours moment from then (the due moment itself is the end of business hours);
    - ``overdue_channel``: ``overdue_channel_after_days`` business days after that.
    """
    now = ensure_utc(now)
    if not policy.postmortems.reminders:
        return []
    open_postmortems = session.exec(select(Postmortem).where(Postmortem.status.in_(list(ACTIVE)))).all()
    candidates = [r for postmortem in open_postmortems for r in _situations(policy, postmortem, now)]
    taken = notifications.taken(session, [r.key for r in candidates], now)
    fresh = [r for r in candidates if r.key not in taken]
    return sorted(fresh, key=lambda r: (r.due_at, r.postmortem_id, REMINDER_KINDS.index(r.kind)))


def reminder_times(policy: Policy, postmortem: Postmortem) -> dict[str, tuple[datetime, datetime | None]]:
    """Each reminder the postmortem would get now: kind -> (from when, until when or ``None``)."""
    rules = policy.postmortems
    found: dict[str, tuple[datetime, datetime | None]] = {}
    due = postmortem.due_at
    if postmortem.status == S.SCHEDULED and not postmortem.draft_markdown:
        due_day = due.astimezone(policy.tz).date()
        morning = calendar.business_start(
            calendar.shift_business_days(due_day, -rules.reminder_days_before_due, policy), policy)
        found["draft_not_started"] = (max(morning, calendar.next_business_morning(postmortem.created_at, policy)), due)
    if postmortem.meeting_at is not None:
        meeting = postmortem.meeting_at
        found["meeting_24h"] = (meeting - timedelta(hours=24), meeting - timedelta(hours=1))
        found["meeting_1h"] = (meeting - timedelta(hours=1), meeting)
        if postmortem.meeting_set_at is not None:
            # People were just told the time: no reminder within an hour of setting it.
            settled = postmortem.meeting_set_at + MEETING_REMINDER_MARGIN
            found = {k: v for k, v in found.items() if not k.startswith("meeting") or v[0] >= settled}
    owner_at = calendar.next_business_time(due, policy)
    found["overdue_owner"] = (owner_at, None)
    found["overdue_channel"] = (calendar.add_business_days(owner_at, rules.overdue_channel_after_days, policy)
                                .astimezone(owner_at.tzinfo), None)
    return found


def _situations(policy: Policy, postmortem: Postmortem, now: datetime) -> list[DueReminder]:
    if postmortem.status not in ACTIVE:
        return []
    result = []
    for kind, (start, until) in reminder_times(policy, postmortem).items():
        if start <= now and (until is None or now < until):
            anchor = postmortem.meeting_at if kind.startswith("meeting") else postmortem.due_at
            key = f"{NOTIFICATION_PREFIX}{kind}:{postmortem.id}:{anchor.isoformat()}"
            result.append(DueReminder(postmortem.id, kind, key, start, postmortem.incident_id))
    return result


def claim_reminder(session: Session, reminder: DueReminder, now: datetime) -> Notification | None:
    """Take the reminder for sending; ``None`` when another worker has it (or has sent it)."""
    return notifications.claim(session, incident_id=reminder.incident_id, kind=NOTIFICATION_PREFIX + reminder.kind,
                               key=reminder.key, due_at=reminder.due_at, now=now)


mark_reminder_sent = notifications.mark_sent
release_reminder = notifications.release


def overdue(session: Session, policy: Policy, now: datetime) -> list[Postmortem]:
    """Postmortems past their due date and not published or marked not needed, most overdue first."""
    query = select(Postmortem).where(Postmortem.status.in_(list(ACTIVE)), Postmortem.due_at <= ensure_utc(now))
    return list(session.exec(query.order_by(Postmortem.due_at, Postmortem.id)))

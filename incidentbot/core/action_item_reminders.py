"""Action item reminders to owners: before the due date and while overdue, exactly once each.

What is due comes from database state at every sweep; ``core.notifications`` claims make
each reminder go out once across restarts and several workers. A reminder's key names the
due date it was about, so moving the due date brings fresh reminders for the new one.
Reminders go out in business hours (the owner is a person, not a pager).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlmodel import Session, col, select

from incidentbot.core import calendar, notifications
from incidentbot.core.action_items import OPEN
from incidentbot.core.policy import Policy
from incidentbot.models import ActionItem, Notification
from incidentbot.timeutil import ensure_utc

NOTIFICATION_PREFIX = "action_item:"
KINDS = ("due_soon", "overdue")


@dataclass(frozen=True)
class DueReminder:
    action_item_id: int
    kind: str  # "due_soon" | "overdue"
    # "action_item:overdue:<id>:<due>:<n>": the n-th overdue reminder about that due date.
    key: str
    due_at: datetime  # when it became due to send
    incident_id: int
    owner: str
    overdue_count: int = 0  # 1 for the first overdue reminder, 2 for the repeat after that, ...


def due_reminders(session: Session, policy: Policy, now: datetime, *, limit: int = 500) -> list[DueReminder]:
    """Reminders due at ``now`` and not yet claimed, oldest first; two queries.

    - ``due_soon``: the morning ``remind_days_before_due`` days before the due day, or the
      business day before that when it is a day off (not for items created after that
      point: their owner has just been told the date);
    - ``overdue``: at the due moment, then every ``overdue_repeat_days`` while still open.
    Snoozed items wait until the snooze ends; items without an owner or due date get none.
    """
    now = ensure_utc(now)
    rules = policy.action_items
    if not rules.reminders:
        return []
    # Days off before the due day move its reminder earlier: look a fortnight further.
    soon = now + timedelta(days=rules.remind_days_before_due + 14)
    query = (select(ActionItem)
             .where(col(ActionItem.status).in_(OPEN), col(ActionItem.owner).is_not(None),
                    col(ActionItem.due_at).is_not(None), col(ActionItem.due_at) <= soon)
             .where((col(ActionItem.snoozed_until).is_(None)) | (col(ActionItem.snoozed_until) <= now))
             .order_by(col(ActionItem.due_at), col(ActionItem.id)).limit(limit))
    candidates = [r for item in session.exec(query) if (r := _situation(policy, item, now)) is not None]
    taken = notifications.taken(session, [r.key for r in candidates], now)
    return [r for r in candidates if r.key not in taken]


def _situation(policy: Policy, item: ActionItem, now: datetime) -> DueReminder | None:
    due = item.due_at
    stem = f"{NOTIFICATION_PREFIX}{{kind}}:{item.id}:{due.isoformat()}"
    if now >= due:
        count = _overdue_count(policy, due, now)
        send_at = calendar.next_business_time(_overdue_start(policy, due, count), policy)
        if now < send_at:
            return None
        return DueReminder(item.id, "overdue", stem.format(kind="overdue") + f":{count}", send_at,
                           item.incident_id, item.owner, count)
    send_at = due_soon_at(policy, due)
    if item.created_at > send_at or now < send_at or send_at >= due:
        return None
    return DueReminder(item.id, "due_soon", stem.format(kind="due_soon"), send_at, item.incident_id, item.owner)


def due_soon_at(policy: Policy, due: datetime) -> datetime:
    """The morning ``remind_days_before_due`` days before the due day; a day off moves it
    back to the business day before, so a Monday deadline is announced on Friday."""
    day = due.astimezone(policy.tz).date() - timedelta(days=policy.action_items.remind_days_before_due)
    if not calendar.is_business_day(day, policy):
        day = calendar.shift_business_days(day, -1, policy)
    return calendar.business_start(day, policy)


def _overdue_start(policy: Policy, due: datetime, count: int) -> datetime:
    """The due moment's wall-clock time, ``overdue_repeat_days`` × (count - 1) days later
    (in the organisation's timezone, so a DST change does not shift it into business hours)."""
    local = due.astimezone(policy.tz)
    days = policy.action_items.overdue_repeat_days * (count - 1)
    return calendar.localize(local.date() + timedelta(days=days), local.time(), policy.tz).astimezone(timezone.utc)


def _overdue_count(policy: Policy, due: datetime, now: datetime) -> int:
    """Which overdue reminder is the current one: 1 from the due moment, +1 every repeat."""
    days = policy.action_items.overdue_repeat_days
    if not days:
        return 1
    count = 1 + int((now - due) / timedelta(days=days))  # within one of the answer (DST is an hour)
    while count > 1 and _overdue_start(policy, due, count) > now:
        count -= 1
    while _overdue_start(policy, due, count + 1) <= now:
        count += 1
    return count


def claim_reminder(session: Session, reminder: DueReminder, now: datetime) -> Notification | None:
    """Take the reminder for sending; ``None`` when another worker has it (or has sent it)."""
    return notifications.claim(session, incident_id=reminder.incident_id, kind=NOTIFICATION_PREFIX + reminder.kind,
                               key=reminder.key, due_at=reminder.due_at, now=now)


mark_reminder_sent = notifications.mark_sent
release_reminder = notifications.release


def overdue(session: Session, now: datetime) -> list[ActionItem]:
    """Open items past their due moment, most overdue first."""
    query = (select(ActionItem).where(col(ActionItem.status).in_(OPEN), col(ActionItem.due_at) <= ensure_utc(now))
             .order_by(col(ActionItem.due_at), col(ActionItem.id)))
    return list(session.exec(query))

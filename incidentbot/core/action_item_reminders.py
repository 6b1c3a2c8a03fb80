"""Action item reminders to owners: before the due date and while overdue, exactly once each.

What is due comes from database state at every sweep; ``core.notifications`` claims make
each reminder go out once across restarts and several workers. A reminder's key names the
due date it was about, so moving the due date brings fresh reminders for the new one.
Reminders go out in business hours (the owner is a person, not a pager).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

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

    - ``due_soon``: ``remind_days_before_due`` days before the due moment (not for items
      created after that point: their owner has just been told the date);
    - ``overdue``: at the due moment, then every ``overdue_repeat_days`` while still open.
    Snoozed items wait until the snooze ends; items without an owner or due date get none.
    """
    now = ensure_utc(now)
    rules = policy.action_items
    if not rules.reminders:
        return []
    soon = now + timedelta(days=rules.remind_days_before_due)
    query = (select(ActionItem)
             .where(col(ActionItem.status).in_(OPEN), col(ActionItem.owner).is_not(None),
                    col(ActionItem.due_at).is_not(None), col(ActionItem.due_at) <= soon)
             .where((col(ActionItem.snoozed_until).is_(None)) | (col(ActionItem.snoozed_until) <= now))
             .order_by(col(ActionItem.due_at), col(ActionItem.id)).limit(limit))
    candidates = [r for item in session.exec(query) if (r := _situation(policy, item, now)) is not None]
    taken = notifications.taken(session, [r.key for r in candidates], now)
    return [r for r in candidates if r.key not in taken]


def _situation(policy: Policy, item: ActionItem, now: datetime) -> DueReminder | None:
    rules = policy.action_items
    due = item.due_at
    stem = f"{NOTIFICATION_PREFIX}{{kind}}:{item.id}:{due.isoformat()}"
    if now >= due:
        repeat = timedelta(days=rules.overdue_repeat_days) if rules.overdue_repeat_days else None
        count = 1 + (int((now - due) / repeat) if repeat else 0)
        start = due + (repeat * (count - 1) if repeat else timedelta(0))
        send_at = calendar.next_business_time(start, policy)
        if now < send_at:
            return None
        return DueReminder(item.id, "overdue", stem.format(kind="overdue") + f":{count}", send_at,
                           item.incident_id, item.owner, count)
    start = due - timedelta(days=rules.remind_days_before_due)
    if item.created_at > start:
        return None
    send_at = calendar.next_business_time(start, policy)
    if now < send_at or send_at >= due:
        return None
    return DueReminder(item.id, "due_soon", stem.format(kind="due_soon"), send_at, item.incident_id, item.owner)


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

"""Owner reminders about action items, sent by the worker as DMs, each exactly once.

``core.action_item_reminders`` decides what is due from database state (a few days
before the due date, then when overdue and again every ``overdue_repeat_days``, in
business hours, not while snoozed). Each reminder is claimed before it is posted and
marked sent after, or released when Slack refuses so the next sweep retries, the same
way as the nudges and the postmortem reminders. The DM has the Done and Snooze buttons
of App Home's "My action items" (``listeners/backlog.py`` handles them).
"""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo
from typing import Any

from incidentbot.core import action_item_reminders as due
from incidentbot.core import action_items
from incidentbot.core.action_item_reminders import DueReminder
from incidentbot.core.policy import Policy
from incidentbot.db import session_scope, sweep_lock
from incidentbot.models import ActionItem, Incident
from incidentbot.slack import blocks, my_action_items
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError
from incidentbot.slack.mrkdwn import escape, truncate
from incidentbot.timeutil import utcnow

log = logging.getLogger(__name__)

Block = dict[str, Any]


def send_action_item_reminders(deps: Deps, now: datetime | None = None) -> int:
    """Send every owner reminder that is due; returns how many were sent."""
    now = now or utcnow()
    with sweep_lock(deps.engine, "action-item-reminders") as mine:
        if not mine:
            return 0
        with session_scope(deps.engine) as session:
            reminders = due.due_reminders(session, deps.policy, now)
        return sum(_remind(deps, reminder, now) for reminder in reminders)


def _remind(deps: Deps, reminder: DueReminder, now: datetime) -> int:
    with session_scope(deps.engine) as session:
        claim = due.claim_reminder(session, reminder, now)
        item = action_items.get(session, reminder.action_item_id)
        incident = session.get(Incident, item.incident_id)
    if claim is None:
        return 0
    if item.status not in action_items.OPEN or item.owner != reminder.owner:
        # Changed since the sweep looked (done, reassigned): not due any more.
        _release(deps, claim)
        return 0
    zone = deps.gateway.user_timezone(reminder.owner)
    text, message = reminder_message(deps.policy, item, incident.reference, reminder, zone, now)
    try:
        ts = deps.gateway.post(reminder.owner, text, message)
    except SlackError as error:
        log.warning("action item reminder %s for %s not sent (%s); will retry", reminder.kind,
                    action_items.label(item), error.code)
        _release(deps, claim)
        return 0
    with session_scope(deps.engine) as session:
        due.mark_reminder_sent(session, session.get(type(claim), claim.id), channel_id=reminder.owner,
                               message_ts=ts, now=now)
    return 1


def _release(deps: Deps, claim) -> None:
    with session_scope(deps.engine) as session:
        due.release_reminder(session, session.get(type(claim), claim.id))


def reminder_message(policy: Policy, item: ActionItem, reference: str, reminder: DueReminder, zone: tzinfo,
                     now: datetime) -> tuple[str, list[Block]]:
    """``AI-7 <title> is due Fri 18 Dec (INC-12)``, or overdue since; with Done and Snooze (pure)."""
    label = action_items.label(item)
    title = escape(truncate(item.title, my_action_items.TITLE_SHOWN_MAX))
    day = my_action_items.day_text(item.due_at, zone, now)
    if reminder.kind == "due_soon":
        text = f":alarm_clock: *{label}* {title} is due {day} ({reference})."
    else:
        again = f" Reminder {reminder.overdue_count}: it is still open." if reminder.overdue_count > 1 else ""
        text = f":warning: *{label}* {title} is overdue since {day} ({reference}).{again}"
    days = policy.action_items.snooze_days
    notes = [f"Done? Say so below. Snooze stops these reminders for {days} day{'s' if days != 1 else ''}."]
    link = my_action_items.tracker_link(item)
    if link:
        notes.insert(0, f"Tracker: {link}")
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(notes)}]}
    return text, [blocks.section(text), context, my_action_items.item_buttons(policy, item, reassign=False)]

"""Owner reminders as DMs through the sandbox: sent once (restarts, two workers), released when
Slack refuses, and the DM's Done and Snooze buttons."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone

from sqlmodel import Session, select
from tests_support import ALICE, BOB, shown, wait_for

from incidentbot.core import action_items, incidents
from incidentbot.core.action_items import NewActionItem
from incidentbot.core.incidents import Declaration
from incidentbot.db import session_scope
from incidentbot.models import ActionItem, Notification
from incidentbot.slack import ids
from incidentbot.slack.action_item_reminders import send_action_item_reminders
from incidentbot.slack.listeners import backlog as backlog_listeners

UTC = timezone.utc
CREATED = datetime(2026, 11, 2, 10, tzinfo=UTC)
DUE = date(2026, 11, 20)  # Friday; the shipped policy's business hours are 09-17 UTC
DUE_SOON = datetime(2026, 11, 17, 9, tzinfo=UTC)  # three days before, in the morning
OVERDUE = datetime(2026, 11, 23, 9, tzinfo=UTC)  # the business morning after 17:00 Friday


def add_item(bot, owner=BOB, title="Add an alert on <checkout> errors"):
    with session_scope(bot.engine) as session:
        incident, _ = incidents.declare(session, bot.policy, Declaration(
            title="Checkout failing", severity="SEV2", declared_by=ALICE))
        return action_items.create(session, bot.policy, incident, NewActionItem(title=title, owner=owner, due=DUE),
                                   actor=ALICE, now=CREATED).item


def dm_channel(bot, user) -> str:
    return next(c["id"] for c in bot.slack.channels() if c.get("is_im") and c.get("user") == user)


def dms(bot, user) -> list[dict]:
    return [m for m in bot.slack.messages(dm_channel(bot, user)) if m.get("bot_id")]


def test_due_soon_and_overdue_reminders_are_sent_once_each(bot):
    made = add_item(bot)
    deps = bot.deps()
    assert send_action_item_reminders(deps, now=DUE_SOON.replace(hour=8)) == 0
    assert send_action_item_reminders(deps, now=DUE_SOON) == 1
    assert send_action_item_reminders(deps, now=DUE_SOON) == 0  # a restart sweeps again
    [soon] = dms(bot, BOB)
    # Bob is in New York: 17:00 UTC on Friday is noon there, still Friday.
    assert soon["text"] == f":alarm_clock: *AI-{made.id}* Add an alert on &lt;checkout&gt; errors is due Fri 20 Nov (INC-1)."
    buttons = [e for b in soon["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == [ids.HOME_AI_DONE, ids.HOME_AI_SNOOZE]
    assert send_action_item_reminders(deps, now=OVERDUE) == 1
    overdue = dms(bot, BOB)[-1]["text"]
    assert overdue.startswith(f":warning: *AI-{made.id}* Add an alert on &lt;checkout&gt; errors is overdue since Fri 20 Nov")
    with Session(bot.engine) as session:
        rows = session.exec(select(Notification).order_by(Notification.id)).all()
    assert [(r.kind, r.channel_id, r.sent_at is not None) for r in rows] == [
        ("action_item:due_soon", BOB, True), ("action_item:overdue", BOB, True)]


def test_done_on_the_dm_replaces_it_and_a_second_click_changes_nothing(bot):
    made = add_item(bot)
    send_action_item_reminders(bot.deps(), now=OVERDUE)
    [reminder] = dms(bot, BOB)
    channel = dm_channel(bot, BOB)
    value = f"{made.id}:{made.revision}"
    bot.driver.block_action(user=BOB, action_id=ids.HOME_AI_DONE, value=value, channel=channel,
                            message_ts=reminder["ts"])
    replaced = wait_for(lambda: (m := bot.slack.message(channel, reminder["ts"])) and "is done" in m["text"] and m,
                        "the DM to say it is done")
    assert replaced["text"].startswith(f":white_check_mark: *AI-{made.id}*")
    with Session(bot.engine) as session:
        assert session.get(ActionItem, made.id).status == "done"
    wait_for(lambda: [v for v in bot.slack.views(user=BOB) if v["type"] == "home"], "Bob's Home")
    bot.driver.block_action(user=BOB, action_id=ids.HOME_AI_DONE, value=value, channel=channel,
                            message_ts=reminder["ts"])
    again = wait_for(lambda: [r for r in bot.slack.responses() if "already done" in (r.get("text") or "")],
                     "the answer to the second click")
    assert shown(again[0]["text"]) == f"AI-{made.id} is already done." and again[0]["response_type"] == "ephemeral"
    assert send_action_item_reminders(bot.deps(), now=datetime(2026, 12, 1, 9, tzinfo=UTC)) == 0


def test_snooze_on_the_dm_holds_the_weekly_reminder(bot, monkeypatch):
    # The click happens an hour after the reminder, on the test's calendar (not today's).
    monkeypatch.setattr(backlog_listeners, "utcnow", lambda: OVERDUE + timedelta(hours=1))
    made = add_item(bot)
    send_action_item_reminders(bot.deps(), now=OVERDUE)
    [reminder] = dms(bot, BOB)
    channel = dm_channel(bot, BOB)
    bot.driver.block_action(user=BOB, action_id=ids.HOME_AI_SNOOZE, channel=channel, message_ts=reminder["ts"])
    wait_for(lambda: "No reminders about" in bot.slack.message(channel, reminder["ts"])["text"], "the snooze")
    with Session(bot.engine) as session:
        until = session.get(ActionItem, made.id).snoozed_until
    assert until == datetime(2026, 11, 30, 10, tzinfo=UTC)
    # The repeat falls due on Monday 30 November at 09:00, inside the week's snooze: it waits.
    assert send_action_item_reminders(bot.deps(), now=datetime(2026, 11, 30, 9, tzinfo=UTC)) == 0
    assert send_action_item_reminders(bot.deps(), now=until) == 1
    assert "Reminder 2: it is still open." in dms(bot, BOB)[-1]["text"]


def test_a_refused_dm_is_released_and_retried(bot):
    add_item(bot, owner="U0GHOST")  # not in the workspace: chat.postMessage fails
    deps = bot.deps()
    assert send_action_item_reminders(deps, now=OVERDUE) == 0
    with Session(bot.engine) as session:
        assert session.exec(select(Notification)).all() == []  # released, not left claimed
    with session_scope(bot.engine) as session:
        item = session.exec(select(ActionItem)).one()
        action_items.reassign(session, item, BOB, actor=ALICE, now=OVERDUE)
    assert send_action_item_reminders(deps, now=OVERDUE.replace(minute=1)) == 1
    assert len(dms(bot, BOB)) == 1


def test_two_workers_never_send_the_same_reminder(bot):
    add_item(bot)
    sent: list[int] = []
    barrier = threading.Barrier(2)

    def worker():
        deps = bot.deps()
        barrier.wait()
        sent.append(send_action_item_reminders(deps, now=OVERDUE))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(sent) == 1 and len(dms(bot, BOB)) == 1

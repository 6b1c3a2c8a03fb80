"""App Home's "My action items" end to end: the list, and Done · Snooze · Reassign through
the sandbox (Home buttons have no response_url: the answer is the Home published again)."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select
from tests_support import ALICE, BOB, mrkdwn_texts, shown, wait_for

from incidentbot.core import action_items, incidents
from incidentbot.core.action_items import NewActionItem
from incidentbot.core.incidents import Declaration
from incidentbot.db import session_scope
from incidentbot.models import ActionItem, TimelineEvent
from incidentbot.slack import ids
from incidentbot.slack.listeners import backlog as backlog_listeners
from incidentbot.timeutil import utcnow

CPH = ZoneInfo("Europe/Copenhagen")  # Alice's timezone in the sandbox


def declare(bot, title="Checkout failing", private=False, declared_by=ALICE):
    with session_scope(bot.engine) as session:
        incident, _ = incidents.declare(session, bot.policy, Declaration(
            title=title, severity="SEV2", declared_by=declared_by, services=["api"], private=private))
    return incident


def add_item(bot, incident, title="Add an alert on replica lag", owner=ALICE, *, due_in_days=10, created_days_ago=0):
    created = utcnow() - timedelta(days=created_days_ago)
    due = (created + timedelta(days=due_in_days)).date()
    with session_scope(bot.engine) as session:
        made = action_items.create(session, bot.policy, session.merge(incident),
                                   NewActionItem(title=title, owner=owner, due=due), actor=ALICE, now=created)
    return made.item


def item(bot, item_id) -> ActionItem:
    with Session(bot.engine) as session:
        return session.get(ActionItem, item_id)


def publishes(bot, user):
    return [c for c in bot.slack.calls("views.publish") if c["args"].get("user_id") == user]


def home(bot, user) -> dict:
    return next(v for v in bot.slack.views(user=user) if v["type"] == "home")


def home_text(bot, user) -> str:
    return "\n".join(mrkdwn_texts(home(bot, user)["blocks"]))


def open_home(bot, user) -> str:
    before = len(publishes(bot, user))
    bot.driver.app_home_opened(user)
    wait_for(lambda: len(publishes(bot, user)) > before, f"{user}'s Home")
    return home_text(bot, user)


def click(bot, user, action_id, made, value=None) -> str:
    """Click a button of ``made`` on the user's Home; returns the Home published in answer."""
    before = len(publishes(bot, user))
    bot.driver.block_action(user=user, action_id=action_id, block_id=f"home_ai:{made.id}",
                            value=value, view_id=home(bot, user)["id"])
    wait_for(lambda: len(publishes(bot, user)) > before, f"{user}'s Home after {action_id}")
    return home_text(bot, user)


def test_my_action_items_are_listed_soonest_first_with_due_day_and_overdue(bot):
    incident = declare(bot)
    later = add_item(bot, incident, "Write the failover runbook", due_in_days=20)
    late = add_item(bot, incident, "Rotate the <!channel> & <b>keys</b>", due_in_days=1, created_days_ago=5)
    secret = declare(bot, "Leaked keys", private=True, declared_by=BOB)  # Alice is not in its channel
    private_item = add_item(bot, secret, "Audit the signing keys", due_in_days=30)
    add_item(bot, incident, "Bob's own work", owner=BOB)

    text = open_home(bot, ALICE)
    view = json.dumps(home(bot, ALICE))
    assert "My action items (3)" in view
    lines = [t for t in mrkdwn_texts(home(bot, ALICE)["blocks"]) if t.startswith("*AI-")]
    assert [line.split(" ")[0] for line in lines] == [f"*AI-{late.id}*", f"*AI-{later.id}*", f"*AI-{private_item.id}*"]
    due_late = item(bot, late.id).due_at.astimezone(CPH)
    assert f"INC-1 · :warning: *overdue* since {due_late:%a} {due_late.day} {due_late:%b}" in lines[0]
    assert "Rotate the &lt;!channel&gt; &amp; &lt;b&gt;keys&lt;/b&gt;" in lines[0]  # escaped
    due_later = item(bot, later.id).due_at.astimezone(CPH)
    assert f"INC-1 · due {due_later:%a} {due_later.day} {due_later:%b}" in lines[1] and "· Open" in lines[1]
    assert ":lock: INC-2" in lines[2] and "Leaked keys" not in text
    assert not [line for line in lines if "Bob's own work" in line]
    # The backlog's top has everyone's work, but not what only a private incident links to.
    top = [t for t in mrkdwn_texts(home(bot, ALICE)["blocks"]) if t.startswith("*BL-")]
    assert "Top of the reliability backlog" in view and len(top) == 3
    assert any("Bob's own work" in t for t in top) and not any("signing keys" in t for t in top)


def test_a_long_list_is_capped_and_says_how_many_more(bot):
    incident = declare(bot)
    for n in range(13):
        add_item(bot, incident, f"Follow-up number {n}", due_in_days=5 + n)
    text = open_home(bot, ALICE)
    blocks = home(bot, ALICE)["blocks"]
    assert len(blocks) <= 100
    assert "My action items (13)" in json.dumps(blocks)
    assert sum(1 for t in mrkdwn_texts(blocks) if t.startswith("*AI-")) == 10
    assert "…and 3 more, due later." in text


def test_done_then_a_second_click_changes_nothing(bot):
    made = add_item(bot, declare(bot))
    open_home(bot, ALICE)
    stale_value = f"{made.id}:{made.revision}"
    after = click(bot, ALICE, ids.HOME_AI_DONE, made)
    assert item(bot, made.id).status == "done"
    assert f":white_check_mark: *AI-{made.id}* Add an alert on replica lag is done." in after
    assert f"*AI-{made.id}*" not in after.split("is done.")[1]  # off the list
    # The same button again (a double click, or an old Home in another window).
    again = click(bot, ALICE, ids.HOME_AI_DONE, made, value=stale_value)
    assert f"AI-{made.id} is already done." in again
    with Session(bot.engine) as session:
        changes = session.exec(select(TimelineEvent).where(TimelineEvent.kind == "action_item_status")).all()
    assert len(changes) == 1


def test_snooze_says_until_when_and_a_second_click_says_it_already_is(bot, monkeypatch):
    made = add_item(bot, declare(bot))
    open_home(bot, ALICE)
    clicked = utcnow().replace(microsecond=0)
    monkeypatch.setattr(backlog_listeners, "utcnow", lambda: clicked)
    after = click(bot, ALICE, ids.HOME_AI_SNOOZE, made)
    until = item(bot, made.id).snoozed_until
    assert until == clicked + timedelta(days=7)  # the policy's snooze_days
    local = until.astimezone(CPH)
    assert f"No reminders about *AI-{made.id}* until {local:%a} {local.day} {local:%b}" in after
    assert f"reminders snoozed until {local:%a} {local.day} {local:%b}" in after
    again = click(bot, ALICE, ids.HOME_AI_SNOOZE, made)
    assert f"AI-{made.id} is already snoozed until" in again
    assert item(bot, made.id).snoozed_until == until


def test_reassign_opens_a_form_and_gives_the_item_to_someone_else(bot):
    made = add_item(bot, declare(bot))
    open_home(bot, ALICE)
    bot.driver.block_action(user=ALICE, action_id=ids.HOME_AI_REASSIGN, block_id=f"home_ai:{made.id}",
                            view_id=home(bot, ALICE)["id"])
    form = wait_for(lambda: next((v for v in bot.slack.views(user=ALICE)
                                  if v["type"] == "modal" and not v["closed"]), None), "the Reassign form")
    assert form["callback_id"] == ids.HOME_AI_REASSIGN_VIEW
    # Giving it to its owner is refused under the field (and the Home behind the form is refreshed).
    before = len(publishes(bot, ALICE))
    same = bot.driver.submit_view(form["id"], user=ALICE, values={ids.HOME_AI_OWNER: {ids.HOME_AI_OWNER: ALICE}})
    assert same.json["response_action"] == "errors"
    assert "already owned by that person" in same.json["errors"][ids.HOME_AI_OWNER]
    wait_for(lambda: len(publishes(bot, ALICE)) > before, "Alice's Home after the refusal")
    before = len(publishes(bot, ALICE))
    done = bot.driver.submit_view(form["id"], user=ALICE, values={ids.HOME_AI_OWNER: {ids.HOME_AI_OWNER: BOB}})
    assert done.status == 200 and not done.json
    assert item(bot, made.id).owner == BOB
    wait_for(lambda: len(publishes(bot, ALICE)) > before, "Alice's Home after the reassign")
    text = home_text(bot, ALICE)
    assert f":handshake: *AI-{made.id}* is now <@{BOB}>'s." in text
    assert "No open action items are yours." in text
    told = wait_for(lambda: [m for m in bot.replies(BOB) if "gave you" in m.get("text", "")], "Bob's DM")
    assert f"<@{ALICE}> gave you *AI-{made.id}* Add an alert on replica lag (INC-1" in told[0]["text"]
    assert f"*AI-{made.id}*" in open_home(bot, BOB)


def test_buttons_on_an_old_home_after_someone_reassigned_the_item(bot):
    made = add_item(bot, declare(bot))
    open_home(bot, ALICE)
    with session_scope(bot.engine) as session:
        action_items.reassign(session, session.get(ActionItem, made.id), BOB, actor=BOB, now=utcnow())
    for action_id in (ids.HOME_AI_REASSIGN, ids.HOME_AI_DONE, ids.HOME_AI_SNOOZE):
        answer = click(bot, ALICE, action_id, made, value=f"{made.id}:{made.revision}")
        assert f"AI-{made.id} is not yours any more" in shown(answer)
    assert not [v for v in bot.slack.views(user=ALICE) if v["type"] == "modal"]
    now = item(bot, made.id)
    assert (now.owner, now.status, now.snoozed_until) == (BOB, "open", None)

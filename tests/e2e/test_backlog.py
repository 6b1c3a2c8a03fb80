"""``/incident backlog`` end to end: the ranked list (private incidents counted, never named),
filters, and Assign to me · Mark done · Won't do, stale clicks included."""

from __future__ import annotations

import json

from sqlmodel import Session, select
from tests_support import ALICE, BOB, CAROL, GENERAL, mrkdwn_texts, shown, wait_for

from incidentbot.core import action_items, backlog, incidents
from incidentbot.core.action_items import NewActionItem
from incidentbot.core.incidents import Declaration
from incidentbot.db import session_scope
from incidentbot.models import ActionItem, BacklogItem
from incidentbot.slack import ids
from incidentbot.timeutil import utcnow


def declare(bot, title, severity="SEV2", services=("api",), private=False):
    with session_scope(bot.engine) as session:
        incident, _ = incidents.declare(session, bot.policy, Declaration(
            title=title, severity=severity, declared_by=CAROL, services=list(services), private=private))
    return incident


def add_item(bot, incident, title, owner=BOB):
    with session_scope(bot.engine) as session:
        made = action_items.create(session, bot.policy, session.merge(incident),
                                   NewActionItem(title=title, owner=owner), actor=CAROL, now=utcnow())
    return made


def seed(bot):
    """BL for the checkout alert (INC-1 SEV1 + a private SEV3), the search runbook (INC-2, web),
    and one that only a private incident links to."""
    checkout = declare(bot, "Checkout down", "SEV1", ("api",))
    search = declare(bot, "Search <slow> & flaky", "SEV3", ("web",))
    secret = declare(bot, "Leaked signing keys", "SEV3", ("api",), private=True)
    alert = add_item(bot, checkout, "Add an alert on checkout error rate")
    joined = add_item(bot, secret, "Add an alert on checkout error rate")
    assert joined.backlog_item.id == alert.backlog_item.id  # the same risk
    runbook = add_item(bot, search, "Write the <search> failover runbook")
    hidden = add_item(bot, declare(bot, "Key leak", "SEV1", ("api",), private=True), "Rotate every signing key")
    return alert.backlog_item, runbook.backlog_item, hidden.backlog_item


def ask(bot, text="backlog", user=ALICE) -> dict:
    """Type the command; returns the private answer (an ephemeral message in the channel)."""
    before = {m["ts"] for m in answers(bot, user)}
    bot.driver.slash_command(text, user=user, channel=GENERAL)
    return wait_for(lambda: next((m for m in answers(bot, user) if m["ts"] not in before), None), "the answer")


def answers(bot, user):
    return [m for m in bot.slack.messages(GENERAL, include_ephemeral=True) if m.get("ephemeral") and m["user"] == user]


def reread(bot, message) -> dict:
    return next(m for m in answers(bot, message["user"]) if m["ts"] == message["ts"])


def click(bot, message, action_id, item_id, *, value=None, user=ALICE) -> dict:
    """Click a button of BL-``item_id`` on the list; returns the list once it was replaced."""
    before = json.dumps(reread(bot, message))
    bot.driver.block_action(user=user, action_id=action_id, block_id=f"backlog:{item_id}", value=value,
                            channel=GENERAL, message_ts=message["ts"])
    return wait_for(lambda: (m := reread(bot, message)) and json.dumps(m) != before and m, "the list to be replaced")


def text_of(message) -> str:
    return "\n".join(mrkdwn_texts(message["blocks"]))


def stored(bot, item_id) -> BacklogItem:
    with Session(bot.engine) as session:
        return session.get(BacklogItem, item_id)


def test_the_list_is_ranked_with_each_score_explained_and_private_incidents_counted(bot):
    alert, runbook, hidden = seed(bot)
    message = ask(bot)
    text = text_of(message)
    items = [t for t in mrkdwn_texts(message["blocks"]) if t.startswith("*BL-")]
    assert [t.split(" ")[0] for t in items] == [f"*BL-{alert.id}*", f"*BL-{runbook.id}*"]
    first = items[0].split("\n")
    assert first[0].startswith(f"*BL-{alert.id}* Add an alert on checkout error rate · score *")
    assert first[1].startswith("severity 6.0 (SEV1) + recurrence 6.3 (2 incidents) + breadth ")
    assert first[2] == "Incidents: INC-1 + 1 private incident"
    assert first[3].startswith("Action items: 2 open, 0 overdue: AI-1") and "AI-2" not in first[3]
    assert first[4] == "Owner: _nobody yet_"
    assert "Write the &lt;search&gt; failover runbook" in items[1]  # escaped
    for leak in ("INC-3", "INC-4", "Leaked signing keys", "Key leak", "Rotate every signing key", f"BL-{hidden.id}"):
        assert leak not in json.dumps(message)
    assert len(message["blocks"]) <= 50
    buttons = [e for b in message["blocks"] if b.get("block_id") == f"backlog:{alert.id}" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == [ids.BACKLOG_ASSIGN_ME, ids.BACKLOG_DONE, ids.BACKLOG_WONT_DO]
    assert {b["value"] for b in buttons} == {f"{alert.id}:{stored(bot, alert.id).revision}:"}
    assert "Reliability backlog for all services: 2 open" in text


def test_filters_by_service_or_team_and_lists_the_valid_names_otherwise(bot):
    alert, runbook, _hidden = seed(bot)
    by_service = text_of(ask(bot, "backlog API"))
    assert "for service *api*" in by_service and f"*BL-{alert.id}*" in by_service
    assert f"*BL-{runbook.id}*" not in by_service
    by_team = text_of(ask(bot, "backlog team frontend"))
    assert f"*BL-{runbook.id}*" in by_team and f"*BL-{alert.id}*" not in by_team
    empty = text_of(ask(bot, "backlog search"))
    assert "Nothing open in the reliability backlog for service *search*." in empty
    unknown = ask(bot, "backlog nope")
    assert shown(unknown["text"]) == ("There is no service or team `nope`. Services: api, payments, search, web. "
                                      "Teams: discovery, frontend, payments, platform. "
                                      "Type `/incident backlog` alone for all of it.")


def test_assign_to_me_then_mark_done_closes_its_action_items(bot):
    alert, _runbook, _hidden = seed(bot)
    message = ask(bot, "backlog api")
    after = click(bot, message, ids.BACKLOG_ASSIGN_ME, alert.id)
    assert stored(bot, alert.id).owner == ALICE
    assert text_of(after).startswith(f":information_source: :raising_hand: <@{ALICE}> owns *BL-{alert.id}* now.")
    assert f"Owner: <@{ALICE}>" in text_of(after) and "for service *api*" in text_of(after)  # the filter is kept
    done = click(bot, after, ids.BACKLOG_DONE, alert.id)
    assert stored(bot, alert.id).status == "done"
    with Session(bot.engine) as session:
        statuses = {a.status for a in session.exec(select(ActionItem).where(ActionItem.backlog_item_id == alert.id))}
    assert statuses == {"done"}
    assert f"*BL-{alert.id}* is done. Closed with it: AI-1, AI-2." in text_of(done)
    assert not [t for t in mrkdwn_texts(done["blocks"]) if t.startswith(f"*BL-{alert.id}*")]


def test_a_stale_click_changes_nothing_and_shows_the_item_as_it_is(bot):
    alert, _runbook, _hidden = seed(bot)
    message = ask(bot)
    with session_scope(bot.engine) as session:  # meanwhile, Bob takes it
        backlog.assign(session, session.get(BacklogItem, alert.id), BOB, now=utcnow())
    revision = stored(bot, alert.id).revision
    after = click(bot, message, ids.BACKLOG_DONE, alert.id)
    assert (stored(bot, alert.id).status, stored(bot, alert.id).revision) == ("open", revision)
    assert (f"*BL-{alert.id}* changed since this list was shown: it is open, owner <@{BOB}>. "
            "Nothing was changed") in text_of(after)
    # The refreshed list carries the new revision: now the click works.
    done = click(bot, after, ids.BACKLOG_DONE, alert.id)
    assert stored(bot, alert.id).status == "done" and "is done." in text_of(done)
    # …and the old list's button again (a double click) is answered, not applied twice.
    again = click(bot, done, ids.BACKLOG_DONE, alert.id, value=f"{alert.id}:{revision}:")
    assert f"*BL-{alert.id}* changed since this list was shown: it is done" in text_of(again)


def open_form(bot, message, item_id) -> dict:
    bot.driver.block_action(user=ALICE, action_id=ids.BACKLOG_WONT_DO, block_id=f"backlog:{item_id}",
                            channel=GENERAL, message_ts=message["ts"])
    return wait_for(lambda: next((v for v in bot.slack.views(user=ALICE)
                                  if v["type"] == "modal" and not v["closed"]), None), "the Won't do form")


def test_wont_do_needs_a_reason_and_refreshes_the_list(bot):
    _alert, runbook, _hidden = seed(bot)
    message = ask(bot)
    form = open_form(bot, message, runbook.id)
    assert form["callback_id"] == ids.BACKLOG_WONT_DO_VIEW
    blank = bot.driver.submit_view(form["id"], user=ALICE, values={ids.BACKLOG_REASON: {ids.BACKLOG_REASON: "   "}})
    assert blank.json["response_action"] == "errors" and "Say why" in blank.json["errors"][ids.BACKLOG_REASON]
    assert stored(bot, runbook.id).status == "open"
    reason = "Search is being <replaced> next quarter"
    ok = bot.driver.submit_view(form["id"], user=ALICE, values={ids.BACKLOG_REASON: {ids.BACKLOG_REASON: reason}})
    assert ok.status == 200 and not ok.json
    item = stored(bot, runbook.id)
    assert (item.status, item.reason) == ("wont_do", reason)
    refreshed = wait_for(lambda: "won't be done" in text_of(reread(bot, message)) and reread(bot, message), "the list")
    assert f"*BL-{runbook.id}* won't be done: Search is being &lt;replaced&gt; next quarter." in text_of(refreshed)
    assert not [t for t in mrkdwn_texts(refreshed["blocks"]) if t.startswith(f"*BL-{runbook.id}*")]


def test_wont_do_on_an_item_that_changed_while_the_form_was_open(bot):
    alert, _runbook, _hidden = seed(bot)
    message = ask(bot)
    form = open_form(bot, message, alert.id)
    with session_scope(bot.engine) as session:
        backlog.set_status(session, session.get(BacklogItem, alert.id), "done", now=utcnow())
    ok = bot.driver.submit_view(form["id"], user=ALICE, values={ids.BACKLOG_REASON: {ids.BACKLOG_REASON: "No"}})
    assert ok.status == 200
    assert (stored(bot, alert.id).status, stored(bot, alert.id).reason) == ("done", None)
    refreshed = wait_for(lambda: "changed since" in text_of(reread(bot, message)) and reread(bot, message), "the list")
    assert f"*BL-{alert.id}* changed since this list was shown: it is done" in text_of(refreshed)
    # A button on the old list opens no form for it: the answer is the item as it is now.
    open_views = len([v for v in bot.slack.views(user=ALICE) if v["type"] == "modal"])
    bot.driver.block_action(user=ALICE, action_id=ids.BACKLOG_WONT_DO, block_id=f"backlog:{alert.id}",
                            value=f"{alert.id}:0:", channel=GENERAL, message_ts=message["ts"])
    wait_for(lambda: len([r for r in bot.slack.responses() if r["user"] == ALICE]) >= 3, "the answer")
    assert len([v for v in bot.slack.views(user=ALICE) if v["type"] == "modal"]) == open_views

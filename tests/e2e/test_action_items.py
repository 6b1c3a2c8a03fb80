"""Action items end to end: every way in (command, the card's form, the message shortcut,
a postmortem's proposals), what the channel sees, the backlog buttons, /incident actions."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from sqlmodel import Session, select

from incidentbot.core import due_dates, timeline
from incidentbot.models import ActionItem, BacklogItem, Postmortem
from incidentbot.slack import ids
from incidentbot.timeutil import utcnow
from tests_support import ALICE, BOB, CAROL, GENERAL, mrkdwn_texts, shown, wait_for


def declare(bot, title="Orders stuck in queue", severity="sev3", user=ALICE):
    bot.driver.slash_command(f"{title} {severity}", user=user, channel=GENERAL)
    return bot.wait_provisioned(len(bot.incidents()))


def items(bot) -> list[ActionItem]:
    with Session(bot.engine) as session:
        return list(session.exec(select(ActionItem).order_by(ActionItem.id)))


def records(bot, channel, fragment="added by"):
    """The bot's messages in ``channel`` (thread replies included) that record a new item."""
    return [m for m in bot.slack.messages(channel) if m.get("bot_id") and fragment in m.get("text", "")]


def wait_record(bot, channel, label):
    return wait_for(lambda: [m for m in records(bot, channel) if m["text"].startswith(label)],
                    f"the record of {label}")[-1]


def text_of(message) -> str:
    return " ".join(mrkdwn_texts(message.get("blocks", [])))


def private(bot, user, fragment):
    return wait_for(lambda: [r for r in bot.replies(user) if fragment in (r.get("text") or "")],
                    f"a private answer with {fragment!r}")[-1]


def button(message, action_id, block_id=None):
    return next(e for b in message["blocks"] if block_id in (None, b.get("block_id"))
                for e in ([b["accessory"]] if b.get("accessory") else b.get("elements", []))
                if e.get("action_id") == action_id)


def press(bot, channel, message, action_id, user, block_id=None, value=None):
    value = value or button(message, action_id, block_id)["value"]
    return bot.driver.block_action(user=user, action_id=action_id, value=value, block_id=block_id,
                                   channel=channel, message_ts=message["ts"])


def open_form(bot, user):
    return wait_for(lambda: [v for v in bot.slack.views(user=user) if v["callback_id"] == ids.AI_VIEW
                             and not v.get("closed")], "the action item form")[-1]


# -- /incident action ------------------------------------------------------------------------


def test_command_with_owner_and_due_date_posts_a_record_and_goes_on_the_timeline(bot):
    incident = declare(bot)
    answer = bot.driver.slash_command("action Add an alert on replica lag <@U0BOB|bob> due in 3 weeks",
                                      user=ALICE, channel=incident.channel_id)
    assert answer.status == 200
    record = wait_record(bot, incident.channel_id, "AI-1")
    [item] = items(bot)
    day = due_dates.today(bot.policy, utcnow()) + timedelta(weeks=3)
    assert (item.title, item.owner, item.created_by, item.origin) == ("Add an alert on replica lag", BOB, ALICE,
                                                                      "command")
    assert item.due_at.astimezone(bot.policy.tz).date() == day and (item.priority, item.type) == ("P2", "detective")
    shown_text = text_of(record)
    assert (f"*AI-1* added by <@U0ALICE>: Add an alert on replica lag — owner <@U0BOB>, due "
            f"{day:%a} {day.day} {day:%b}") in shown_text and "P2 detective" in shown_text
    assert "Started backlog item *BL-1*" in shown_text
    with Session(bot.engine) as session:
        events = [e.text for e in timeline.events(session, bot.incident(1)) if e.kind == "action_item"]
    assert events == ["Action item AI-1 added: Add an alert on replica lag"]


def test_without_a_mention_the_author_owns_it_and_due_words_are_read_at_the_end(bot):
    incident = declare(bot)
    bot.driver.slash_command("action Document the due diligence steps for vendors", user=CAROL,
                             channel=incident.channel_id)
    bot.driver.slash_command("action Fix the retry loop due friday", user=CAROL, channel=incident.channel_id)
    wait_record(bot, incident.channel_id, "AI-2")
    first, second = items(bot)
    assert first.title == "Document the due diligence steps for vendors" and first.owner == CAROL
    assert second.title == "Fix the retry loop"
    assert second.due_at.astimezone(bot.policy.tz).weekday() == 4  # a Friday


def test_mistakes_are_answered_privately_with_what_to_type(bot):
    incident = declare(bot)
    cases = {
        "action Fix the queue due someday": "not a due date I understand. Try `2026-12-18`",
        "action " + "x" * 5000: "5,000 characters",
        "action :fire: 🔥": "Say in words what needs doing",
        "action": "Say what needs doing",
    }
    for text, says in cases.items():
        answer = bot.driver.slash_command(text, user=ALICE, channel=incident.channel_id)
        assert answer.json["response_type"] == "ephemeral" and says in answer.json["text"], text
    assert items(bot) == []
    outside = bot.driver.slash_command("action Fix it", user=ALICE, channel=GENERAL)
    assert "works inside an incident channel" in outside.json["text"]


def test_a_replayed_command_creates_one_item(bot):
    incident = declare(bot)
    first = bot.driver.slash_command("action Add a dead-letter queue for orders", user=ALICE,
                                     channel=incident.channel_id)
    wait_record(bot, incident.channel_id, "AI-1")
    again = bot.driver.replay(first)
    assert "AI-1 is already added" in again.json["text"]
    time.sleep(0.3)
    assert len(items(bot)) == 1 and len(records(bot, incident.channel_id)) == 1


def test_titles_are_escaped_in_the_channel_and_emoji_kept(bot):
    incident = declare(bot)
    bot.driver.slash_command("action Stop <!channel> pings & <https://evil.example|fake> links 🚨",
                             user=ALICE, channel=incident.channel_id)
    record = wait_record(bot, incident.channel_id, "AI-1")
    every = " ".join(mrkdwn_texts(record["blocks"])) + record["text"]
    assert "<!channel>" not in every and "<https://evil" not in every
    # Slack's markup is stored as people read it, and escaped when posted.
    assert "Stop @channel pings &amp; fake (https://evil.example) links 🚨" in every
    assert items(bot)[0].title == "Stop @channel pings & fake (https://evil.example) links 🚨"


# -- /incident actions -----------------------------------------------------------------------


def test_actions_lists_the_incidents_items_privately(bot):
    incident = declare(bot)
    bot.driver.slash_command("actions", user=BOB, channel=incident.channel_id)
    empty = private(bot, BOB, "no action items yet")
    assert "/incident action <text>" in shown(empty["text"])
    bot.driver.slash_command("action Add an alert on replica lag <@U0BOB|bob> due 2099-01-02", user=ALICE,
                             channel=incident.channel_id)
    bot.driver.slash_command("action Write the <failover> runbook", user=ALICE, channel=incident.channel_id)
    wait_record(bot, incident.channel_id, "AI-2")
    with Session(bot.engine) as session:
        item = session.get(ActionItem, 1)
        item.external_url, item.external_key = "https://tracker.example/OPS-4", "OPS-4"
        session.add(item)
        session.commit()
    bot.driver.slash_command("actions", user=BOB, channel=incident.channel_id)
    listing = private(bot, BOB, "Action items of INC-1")
    body = text_of(listing)
    assert ("*AI-1* Add an alert on replica lag\n"
            "Open · owner <@U0BOB> · due Fri 2 Jan 2099 · P2 detective · BL-1") in body
    assert "<https://tracker.example/OPS-4|OPS-4>" in body
    assert "*AI-2* Write the &lt;failover&gt; runbook" in body and "owner <@U0ALICE>" in body
    assert listing.get("ephemeral") or listing.get("response_type") == "ephemeral"


# -- the card's form -------------------------------------------------------------------------


def test_the_cards_button_opens_the_form_and_errors_show_under_the_field(bot):
    incident = declare(bot)
    card = bot.slack.message(incident.channel_id, incident.card_ts)
    press(bot, incident.channel_id, card, ids.AI_OPEN_FORM, CAROL)
    form = open_form(bot, CAROL)
    owner = next(b for b in form["blocks"] if b.get("block_id") == "owner")
    assert owner["element"]["initial_user"] == CAROL
    refused = bot.driver.submit_view(form["id"], user=CAROL, values={"title": {"title": "  "}})
    assert refused.json["response_action"] == "errors" and "Say what needs doing" in refused.json["errors"]["title"]
    yesterday = (utcnow() - timedelta(days=2)).date().isoformat()
    refused = bot.driver.submit_view(form["id"], user=CAROL, values={
        "title": {"title": "Write the failover runbook"}, "due": {"due": yesterday}})
    assert "in the past" in refused.json["errors"]["due"]
    values = {"title": {"title": "Write the failover runbook"}, "description": {"description": "Steps & owners"},
              "owner": {"owner": BOB}, "due": {"due": "2099-03-04"}, "type": {"type": "process"},
              "priority": {"priority": "P1"}, "service": {"service": "payments"}}
    accepted = bot.driver.submit_view(form["id"], user=CAROL, values=values)
    assert accepted.status == 200 and not accepted.body
    record = wait_record(bot, incident.channel_id, "AI-1")
    [item] = items(bot)
    assert (item.owner, item.type, item.priority, item.service, item.origin, item.created_by) == (
        BOB, "process", "P1", "payments", "form", CAROL)
    assert item.request_key == f"view:{form['id']}" and item.description == "Steps & owners"
    assert "owner <@U0BOB>, due Wed 4 Mar 2099, P1 process" in text_of(record)
    with Session(bot.engine) as session:
        assert [e.kind for e in timeline.events(session, bot.incident(1))].count("action_item") == 1


def test_a_form_delivered_twice_creates_one_item(bot):
    incident = declare(bot)
    bot.driver.block_action(user=ALICE, action_id=ids.AI_OPEN_FORM, value=f"{incident.id}:0",
                            channel=incident.channel_id, message_ts=incident.card_ts)
    form = open_form(bot, ALICE)
    first = bot.driver.submit_view(form["id"], user=ALICE, values={"title": {"title": "Rotate the API keys"}})
    wait_record(bot, incident.channel_id, "AI-1")
    assert bot.driver.replay(first).status == 200
    time.sleep(0.3)
    assert len(items(bot)) == 1 and len(records(bot, incident.channel_id)) == 1
    assert items(bot)[0].owner == ALICE  # empty owner: whoever submitted


# -- the message shortcut --------------------------------------------------------------------


def test_the_shortcut_prefills_the_form_and_remembers_the_message(bot):
    incident = declare(bot)
    message, _ = bot.driver.user_posts(incident.channel_id, BOB,
                                       "We should add a runbook for queue failover\nit took 20 min to find the steps")
    answer = bot.driver.message_shortcut(ids.AI_FROM_MESSAGE, user=CAROL, channel=incident.channel_id,
                                         message_ts=message["ts"])
    assert answer.status == 200
    form = open_form(bot, CAROL)
    inputs = {b["block_id"]: b["element"] for b in form["blocks"] if b["type"] == "input"}
    assert inputs["title"]["initial_value"] == "We should add a runbook for queue failover"
    assert inputs["description"]["initial_value"].endswith("it took 20 min to find the steps")
    source = json.loads(form["private_metadata"])["source"]
    assert source["channel"] == incident.channel_id and source["ts"] == message["ts"] and source["link"]
    bot.driver.submit_view(form["id"], user=CAROL, values={})
    record = wait_record(bot, incident.channel_id, "AI-1")
    [item] = items(bot)
    assert (item.origin, item.source_ts, item.source_link) == ("shortcut", message["ts"], source["link"])
    assert f"<{source['link']}|from this message>" in text_of(record)


def test_the_shortcut_outside_an_incident_channel_says_where_it_works(bot):
    declare(bot)
    message = bot.slack.post_user_message(GENERAL, ALICE, "we should add an alert")
    bot.driver.message_shortcut(ids.AI_FROM_MESSAGE, user=BOB, channel=GENERAL, message_ts=message["ts"])
    reply = private(bot, BOB, "works on messages in an incident channel")
    assert reply.get("ephemeral") or reply.get("response_type") == "ephemeral"
    assert not [v for v in bot.slack.views(user=BOB) if v["callback_id"] == ids.AI_VIEW]


# -- the backlog buttons ---------------------------------------------------------------------


def test_split_takes_a_joined_item_out_once(bot):
    first_incident = declare(bot, "Replica lag on orders")
    bot.driver.slash_command("action Add an alert on replica lag for the orders database", user=ALICE,
                             channel=first_incident.channel_id)
    wait_record(bot, first_incident.channel_id, "AI-1")
    second = declare(bot, "Orders slow again")
    bot.driver.slash_command("action Alert when replica lag on the orders database exceeds 30s", user=BOB,
                             channel=second.channel_id)
    record = wait_record(bot, second.channel_id, "AI-2")
    assert "Joined *BL-1* Add an alert on replica lag for the orders database (also addresses INC-1)" in text_of(record)
    value = button(record, ids.AI_SPLIT)["value"]
    press(bot, second.channel_id, record, ids.AI_SPLIT, CAROL)
    wait_for(lambda: "split AI-2 into its own backlog item *BL-2*" in text_of(
        bot.slack.message(second.channel_id, record["ts"])), "the record to show the split")
    assert [i.backlog_item_id for i in items(bot)] == [1, 2]
    press(bot, second.channel_id, record, ids.AI_SPLIT, ALICE, value=value)  # a double click
    private(bot, ALICE, "already on its own")
    assert [i.backlog_item_id for i in items(bot)] == [1, 2]


def test_merge_into_a_suggestion_once(bot):
    incident = declare(bot)
    bot.driver.slash_command("action Add an alert on replica lag for the orders database", user=ALICE,
                             channel=incident.channel_id)
    wait_record(bot, incident.channel_id, "AI-1")
    bot.driver.slash_command("action Document the orders database failover", user=ALICE,
                             channel=incident.channel_id)
    record = wait_record(bot, incident.channel_id, "AI-2")
    assert "Started backlog item *BL-2*" in text_of(record)
    assert "Similar: *BL-1* Add an alert on replica lag for the orders database" in text_of(record)
    merge = button(record, ids.AI_MERGE, "ai_merge:1")
    assert merge["text"]["text"] == "Merge into BL-1" and merge["value"] == "2:2:1"
    press(bot, incident.channel_id, record, ids.AI_MERGE, BOB, block_id="ai_merge:1")
    wait_for(lambda: "merged BL-2 into *BL-1*" in text_of(bot.slack.message(incident.channel_id, record["ts"])),
             "the record to show the merge")
    press(bot, incident.channel_id, record, ids.AI_MERGE, CAROL, block_id="ai_merge:1", value="2:2:1")
    private(bot, CAROL, "BL-2 was already merged into BL-1")
    with Session(bot.engine) as session:
        assert session.get(BacklogItem, 2).status == "merged"
    assert [i.backlog_item_id for i in items(bot)] == [1, 1]


# -- a postmortem's proposals ----------------------------------------------------------------


def resolved_with_proposals(bot):
    incident = declare(bot, "Orders stuck in queue", severity="sev2")
    channel = incident.channel_id
    bot.driver.slash_command("lead <@U0BOB>", user=ALICE, channel=channel)
    bot.driver.user_posts(channel, BOB, "Consumers stuck on a poison message; restarting them")
    bot.driver.user_posts(channel, BOB, "action: add a dead-letter queue for the orders consumer")
    bot.driver.user_posts(channel, CAROL, "action: alert on orders consumer lag above 5 minutes")
    bot.driver.slash_command("resolve Poison message removed", user=BOB, channel=channel)
    return incident


def proposals_message(bot, channel):
    return wait_for(lambda: [m for m in bot.slack.messages(channel) if "Proposed action items" in m.get("text", "")],
                    "the proposals")[-1]


def test_proposals_become_items_only_when_confirmed_and_never_twice(bot):
    incident = resolved_with_proposals(bot)
    channel = incident.channel_id
    message = proposals_message(bot, channel)
    assert items(bot) == []
    with Session(bot.engine) as session:
        stored = session.exec(select(Postmortem)).one().draft_actions
    assert [(p["text"], p["owner_id"]) for p in stored] == [
        ("Add a dead-letter queue for the orders consumer", BOB),
        ("Alert on orders consumer lag above 5 minutes", CAROL)]
    first = button(message, ids.AI_CONFIRM, "ai_proposal:0")["value"]
    press(bot, channel, message, ids.AI_CONFIRM, ALICE, block_id="ai_proposal:0")
    wait_for(lambda: items(bot), "the confirmed item")
    wait_for(lambda: "*AI-1* · owner <@U0BOB>" in text_of(bot.slack.message(channel, message["ts"])),
             "the proposal shown as confirmed")
    reply = wait_record(bot, channel, "AI-1")
    assert reply["thread_ts"] == message["ts"]
    press(bot, channel, message, ids.AI_CONFIRM, CAROL, block_id="ai_proposal:0", value=first)  # a double click
    private(bot, CAROL, "AI-1 is already confirmed")
    press(bot, channel, bot.slack.message(channel, message["ts"]), ids.AI_CONFIRM_ALL, CAROL)
    wait_for(lambda: len(items(bot)) == 2, "Confirm all")
    wait_for(lambda: "Every proposal is confirmed" in text_of(bot.slack.message(channel, message["ts"])),
             "every proposal confirmed")
    press(bot, channel, message, ids.AI_CONFIRM_ALL, ALICE, value=str(first.split(":")[0]))
    private(bot, ALICE, "All 2 proposals are already confirmed")
    one, two = items(bot)
    assert (one.origin, one.owner, one.created_by, two.owner) == ("postmortem", BOB, ALICE, CAROL)
    assert one.request_key.startswith("postmortem:") and one.source_ts
    assert len(records(bot, channel)) == 2
    with Session(bot.engine) as session:
        assert [e.kind for e in timeline.events(session, bot.incident(1))].count("action_item") == 2

"""Capture end to end: channel messages, pins, capture reactions, the shortcut and notes.

Every event is delivered the way Slack does when it is unsure: the first delivery,
three retries with the same ``event_id`` (``X-Slack-Retry-Num`` 1..3) and once more
under a fresh ``event_id``. Nothing may happen twice.
"""

from __future__ import annotations

import json
import time

from sqlmodel import Session, select

from incidentbot.core import messages, timeline
from incidentbot.core.policy import parse_policy
from incidentbot.models import ChannelMessage, ProcessedEvent, TimelineEvent
from incidentbot.sandbox.driver import DriverResponse
from incidentbot.slack import ids
from tests_support import ALICE, BOB, CAROL, GENERAL, shown, wait_for


def declare(bot, title="Queue backlog sev2"):
    bot.driver.slash_command(title, user=ALICE, channel=GENERAL)
    return bot.wait_provisioned(len(bot.incidents()))


def redeliver(bot, response: DriverResponse) -> None:
    """Slack's retries of a delivery (same event_id), then a duplicate with a fresh one."""
    envelope = json.loads(response.request_body)
    for retry in (1, 2, 3):
        assert bot.driver.event(envelope["event"], event_id=envelope["event_id"], retry_num=retry).status == 200
    assert bot.driver.event(envelope["event"]).status == 200


def deliver(bot, event: dict) -> DriverResponse:
    """One event, four times under one event_id plus once under a fresh one."""
    first = bot.driver.event(event)
    assert first.status == 200
    redeliver(bot, first)
    return first


def settle(bot, event_id: str) -> None:
    """Wait until a delivery was handled (its claim is committed) and its retries had time to."""
    def claimed():
        with Session(bot.engine) as session:
            return session.get(ProcessedEvent, f"event:{event_id}")
    wait_for(claimed, f"event {event_id} to be handled")
    time.sleep(0.3)


def event_id(response: DriverResponse) -> str:
    return json.loads(response.request_body)["event_id"]


def stored(bot, incident) -> list[ChannelMessage]:
    with Session(bot.engine) as session:
        return messages.for_incident(session, incident, include_deleted=True)


def captured(bot, incident, *, include_deleted=True) -> list[TimelineEvent]:
    with Session(bot.engine) as session:
        return [e for e in timeline.events(session, incident, include_deleted=include_deleted)
                if e.kind in ("message_captured", "note")]


def wait_captured(bot, incident, n=1, **kw) -> list[TimelineEvent]:
    return wait_for(lambda: (found := captured(bot, incident, **kw)) and len(found) >= n and found,
                    f"{n} captured timeline event(s)")


def pin_event(bot, channel: str, ts: str, user: str = BOB) -> dict:
    message = {k: v for k, v in bot.slack.message(channel, ts, include_ephemeral=False).items() if k != "channel"}
    message["permalink"] = f"https://sandbox.slack.com/archives/{channel}/p{ts.replace('.', '')}"
    return {"type": "pin_added", "user": user, "channel_id": channel, "event_ts": f"{time.time():.6f}",
            "item": {"type": "message", "channel": channel, "message": message, "created": int(time.time()),
                     "created_by": user}}


def noisy_calls(bot) -> list[dict]:
    """Calls that would show something in Slack."""
    return [c for c in bot.slack.calls() if c["method"] in ("chat.postMessage", "chat.update", "reactions.add",
                                                            "chat.postEphemeral", "pins.add")]


# -- channel messages ------------------------------------------------------------------------

def test_messages_in_an_incident_channel_are_stored_once(bot):
    incident = declare(bot)
    channel = incident.channel_id
    elsewhere, outside = bot.driver.user_posts(GENERAL, BOB, "lunch?")
    message, response = bot.driver.user_posts(channel, ALICE, "consumer lag is 2h")
    redeliver(bot, response)
    reply, reply_response = bot.driver.user_posts(channel, BOB, "looking", thread_ts=message["ts"])
    settle(bot, event_id(reply_response))
    rows = stored(bot, incident)
    assert [(r.ts, r.text, r.user_id, r.thread_ts, r.source) for r in rows] == [
        (message["ts"], "consumer lag is 2h", ALICE, None, "event"),
        (reply["ts"], "looking", BOB, message["ts"], "event"),
    ]
    assert rows[0].data["client_msg_id"] and rows[0].data["team"]
    with Session(bot.engine) as session:
        # Not an incident channel: no message row, and not even a delivery claim.
        assert session.exec(select(ChannelMessage).where(ChannelMessage.channel_id == GENERAL)).all() == []
        assert session.get(ProcessedEvent, f"event:{event_id(outside)}") is None
    assert elsewhere["ts"] not in {r.ts for r in rows}


def test_bot_and_system_messages_are_stored_too(bot):
    incident = declare(bot)
    channel = incident.channel_id
    alert = {"type": "message", "subtype": "bot_message", "channel": channel, "ts": f"{time.time():.6f}",
             "bot_id": "B0ALERTS", "username": "alertmanager", "text": "p99 latency above 2s",
             "attachments": [{"color": "danger", "title": "checkout-api"}]}
    join = {"type": "message", "subtype": "channel_join", "channel": channel, "user": CAROL,
            "ts": f"{time.time() + 0.001:.6f}", "text": "<@U0CAROL> has joined the channel"}
    deliver(bot, alert)
    settle(bot, event_id(deliver(bot, join)))
    rows = {r.ts: r for r in stored(bot, incident)}
    assert (rows[alert["ts"]].bot_id, rows[alert["ts"]].subtype) == ("B0ALERTS", "bot_message")
    assert rows[alert["ts"]].data["attachments"][0]["title"] == "checkout-api"
    assert rows[join["ts"]].subtype == "channel_join" and len(rows) == 2


def test_the_bots_own_posts_are_captured_live(bot):
    """Bolt drops an app's own events unless told not to; the card and updates are the record."""
    incident = declare(bot)
    card = bot.slack.message(incident.channel_id, incident.card_ts)
    own = {"type": "message", "channel": incident.channel_id, "ts": card["ts"], "user": "U0BOT",
           "bot_id": "B0BOT", "text": card["text"], "blocks": card["blocks"]}
    settle(bot, event_id(deliver(bot, own)))
    rows = {r.ts: r for r in stored(bot, incident)}
    assert rows[card["ts"]].bot_id == "B0BOT" and rows[card["ts"]].text.startswith("INC-1")


def test_edits_and_deletes_follow_the_message_and_its_timeline_event(bot):
    incident = declare(bot)
    channel = incident.channel_id
    message, _ = bot.driver.user_posts(channel, ALICE, "root cause: bad deploy")
    deliver(bot, pin_event(bot, channel, message["ts"]))
    wait_captured(bot, incident)
    edit_ts = f"{float(message['ts']) + 30:.6f}"
    changed = {
        "type": "message", "subtype": "message_changed", "hidden": True, "channel": channel, "ts": edit_ts,
        "message": {"type": "message", "user": ALICE, "text": "root cause: bad config", "ts": message["ts"],
                    "edited": {"user": ALICE, "ts": edit_ts}},
        "previous_message": {"type": "message", "user": ALICE, "text": "root cause: bad deploy", "ts": message["ts"]},
    }
    settle(bot, event_id(deliver(bot, changed)))
    [row] = stored(bot, incident)
    assert (row.text, row.edited_at) == ("root cause: bad config", messages.ts_to_datetime(edit_ts))
    [event] = captured(bot, incident)
    assert (event.text, event.data["edited"]) == ("root cause: bad config", True)

    deleted = {"type": "message", "subtype": "message_deleted", "hidden": True, "channel": channel,
               "ts": f"{float(message['ts']) + 60:.6f}", "deleted_ts": message["ts"],
               "previous_message": changed["message"]}
    settle(bot, event_id(deliver(bot, deleted)))
    [row] = stored(bot, incident)
    assert row.deleted and stored(bot, incident)[0].text == "root cause: bad config"
    [event] = captured(bot, incident)
    assert event.deleted
    assert captured(bot, incident, include_deleted=False) == []


def test_an_edit_or_delete_arriving_before_the_message_wins_over_it(bot):
    incident = declare(bot)
    channel = incident.channel_id
    base = time.time()
    original = {"type": "message", "user": BOB, "text": "v1", "ts": f"{base:.6f}"}
    gone = {"type": "message", "user": BOB, "text": "oops", "ts": f"{base + 1:.6f}"}
    changed = {"type": "message", "subtype": "message_changed", "channel": channel, "ts": f"{base + 5:.6f}",
               "message": {**original, "text": "v2", "edited": {"user": BOB, "ts": f"{base + 5:.6f}"}}}
    deleted = {"type": "message", "subtype": "message_deleted", "channel": channel, "ts": f"{base + 6:.6f}",
               "deleted_ts": gone["ts"], "previous_message": gone}
    settle(bot, event_id(bot.driver.event(changed)))
    settle(bot, event_id(bot.driver.event(deleted)))
    # The originals, late (Slack's retry after the bot was slow).
    settle(bot, event_id(deliver(bot, {**original, "channel": channel})))
    settle(bot, event_id(deliver(bot, {**gone, "channel": channel})))
    rows = stored(bot, incident)
    assert [(r.text, r.deleted) for r in rows] == [("v2", False), ("oops", True)]


# -- pins ---------------------------------------------------------------------------------------

def test_a_pinned_message_lands_on_the_timeline_once_at_its_own_time(bot):
    incident = declare(bot)
    channel = incident.channel_id
    message, _ = bot.driver.user_posts(channel, ALICE, "Rolled back to v2.3; errors dropping")
    bot.slack.clear_calls()
    settle(bot, event_id(deliver(bot, pin_event(bot, channel, message["ts"], user=BOB))))
    [event] = captured(bot, incident)
    assert event.kind == "message_captured" and event.text == "Rolled back to v2.3; errors dropping"
    assert event.occurred_at == messages.ts_to_datetime(message["ts"])
    assert event.actor == ALICE and event.data["captured_by"] == [BOB] and event.data["via"] == ["pin"]
    assert event.message_ts == message["ts"] and event.permalink.endswith(message["ts"].replace(".", ""))
    assert noisy_calls(bot) == []  # capturing keeps Slack quiet


def test_pinning_the_incident_card_is_not_news(bot):
    incident = declare(bot)
    deliver(bot, pin_event(bot, incident.channel_id, incident.card_ts, user=BOB))
    time.sleep(0.5)  # nothing to wait for: an ignored event leaves no trace
    assert captured(bot, incident) == []


def test_a_pin_without_the_message_in_its_payload_reads_it_from_slack(bot):
    incident = declare(bot)
    channel = incident.channel_id
    message = bot.slack.post_user_message(channel, ALICE, "Error budget for checkout is spent")
    bare = {"type": "pin_added", "user": BOB, "channel_id": channel,
            "item": {"type": "message", "channel": channel, "ts": message["ts"]}}
    settle(bot, event_id(deliver(bot, bare)))
    [event] = captured(bot, incident)
    assert (event.text, event.actor, event.message_ts) == ("Error budget for checkout is spent", ALICE, message["ts"])
    assert event.permalink
    [row] = stored(bot, incident)
    assert (row.ts, row.source) == (message["ts"], "backfill")


def test_pins_outside_incident_channels_are_ignored(bot):
    message = bot.slack.post_user_message(GENERAL, ALICE, "not an incident")
    first = deliver(bot, pin_event(bot, GENERAL, message["ts"]))
    time.sleep(0.5)
    with Session(bot.engine) as session:
        assert session.exec(select(TimelineEvent).where(TimelineEvent.kind == "message_captured")).all() == []
        assert session.get(ProcessedEvent, f"event:{event_id(first)}") is None


# -- reactions ----------------------------------------------------------------------------------

def test_the_capture_emoji_adds_a_message_and_other_emoji_do_not(bot):
    incident = declare(bot)
    channel = incident.channel_id
    message, _ = bot.driver.user_posts(channel, BOB, "Found it: the cache TTL was 0")
    other, _ = bot.driver.user_posts(channel, BOB, "brb")
    eyes = bot.driver.user_reacts(channel, other["ts"], "eyes", CAROL)
    redeliver(bot, eyes)
    pin = bot.driver.user_reacts(channel, message["ts"], "pushpin", CAROL)
    redeliver(bot, pin)
    settle(bot, event_id(pin))
    [event] = captured(bot, incident)
    assert (event.message_ts, event.actor, event.data["via"], event.data["captured_by"]) == (
        message["ts"], BOB, ["reaction"], [CAROL])
    assert event.occurred_at == messages.ts_to_datetime(message["ts"])
    with Session(bot.engine) as session:
        assert session.get(ProcessedEvent, f"event:{event_id(eyes)}") is None  # ignored without a write


def test_the_capture_emoji_comes_from_the_policy(make_bot):
    bot = make_bot(parse_policy('[timeline]\ncapture_emoji = ":white_check_mark:"'))
    incident = declare(bot)
    channel = incident.channel_id
    message, _ = bot.driver.user_posts(channel, BOB, "Decision: fail over to eu-west-2")
    bot.driver.user_reacts(channel, message["ts"], "pushpin", CAROL)
    time.sleep(0.5)
    assert captured(bot, incident) == []
    bot.driver.user_reacts(channel, message["ts"], "white_check_mark", CAROL)
    [event] = wait_captured(bot, incident)
    assert event.text == "Decision: fail over to eu-west-2"


def test_reactions_on_messages_the_bot_never_saw_fetch_them_from_slack(bot):
    """Missed message events (bot down): the reacted-to message, a thread reply even,
    is read from conversations.history / conversations.replies."""
    incident = declare(bot)
    channel = incident.channel_id
    parent = bot.slack.post_user_message(channel, ALICE, "Is the CDN involved?")
    reply = bot.slack.post_user_message(channel, BOB, "No: origin 5xx, CDN is fine", thread_ts=parent["ts"])
    bot.slack.clear_calls()
    settle(bot, event_id(bot.driver.user_reacts(channel, reply["ts"], "pushpin", CAROL)))
    [event] = captured(bot, incident)
    assert (event.text, event.actor, event.message_ts) == ("No: origin 5xx, CDN is fine", BOB, reply["ts"])
    assert event.data["thread_ts"] == parent["ts"]
    assert {c["method"] for c in bot.slack.calls()} >= {"conversations.history", "conversations.replies"}
    # The fetched message is stored too.
    assert [r.ts for r in stored(bot, incident)] == [reply["ts"]]


# -- the shortcut ------------------------------------------------------------------------------

def test_the_shortcut_adds_a_message_in_an_incident_channel(bot):
    incident = declare(bot)
    channel = incident.channel_id
    message, _ = bot.driver.user_posts(channel, ALICE, "Customer tickets mention EU only")
    answer = bot.driver.message_shortcut(ids.ADD_TO_TIMELINE, user=CAROL, channel=channel, message_ts=message["ts"])
    assert answer.status == 200
    [event] = wait_captured(bot, incident)
    assert (event.text, event.actor, event.data["via"], event.data["captured_by"]) == (
        "Customer tickets mention EU only", ALICE, ["shortcut"], [CAROL])
    assert event.permalink and event.occurred_at == messages.ts_to_datetime(message["ts"])
    wait_for(lambda: [r for r in bot.replies(CAROL) if "Added to the INC-1 timeline" in r.get("text", "")],
             "the shortcut's confirmation")
    # The very same request again (a replay) does nothing and says nothing more.
    bot.driver.replay(answer)
    bot.driver.message_shortcut(ids.ADD_TO_TIMELINE, user=CAROL, channel=channel, message_ts=message["ts"])
    wait_for(lambda: [r for r in bot.replies(CAROL) if "already on the INC-1 timeline" in r.get("text", "")],
             "the second use's answer")
    time.sleep(0.3)
    assert len(captured(bot, incident)) == 1
    answers = [r for r in bot.slack.responses() if r.get("user") == CAROL and "INC-1 timeline" in r.get("text", "")]
    assert len(answers) == 2


def test_the_shortcut_outside_an_incident_channel_says_where_it_works(bot):
    declare(bot)
    message = bot.slack.post_user_message(GENERAL, ALICE, "is checkout down?")
    answer = bot.driver.message_shortcut(ids.ADD_TO_TIMELINE, user=BOB, channel=GENERAL, message_ts=message["ts"])
    assert answer.status == 200
    [reply] = wait_for(lambda: [r for r in bot.slack.responses() if r.get("user") == BOB
                                and "incident channel" in r.get("text", "")], "the shortcut's refusal")
    assert reply["response_type"] == "ephemeral" and "/incident list" in reply["text"]
    with Session(bot.engine) as session:
        assert session.exec(select(TimelineEvent).where(TimelineEvent.kind == "message_captured")).all() == []


# -- dedupe across paths ---------------------------------------------------------------------

def test_pin_reaction_and_shortcut_of_one_message_are_one_timeline_event(bot):
    incident = declare(bot)
    channel = incident.channel_id
    message, response = bot.driver.user_posts(channel, ALICE, "Mitigated by scaling consumers to 12")
    redeliver(bot, response)
    deliver(bot, pin_event(bot, channel, message["ts"], user=BOB))
    reaction = bot.driver.user_reacts(channel, message["ts"], "pushpin", CAROL)
    redeliver(bot, reaction)
    bot.driver.message_shortcut(ids.ADD_TO_TIMELINE, user=ALICE, channel=channel, message_ts=message["ts"])
    wait_for(lambda: (found := captured(bot, incident)) and len(found[0].data["via"]) == 3 and found,
             "all three capture paths")
    settle(bot, event_id(reaction))
    [event] = captured(bot, incident)
    assert sorted(event.data["via"]) == ["pin", "reaction", "shortcut"]
    assert sorted(event.data["captured_by"]) == [ALICE, BOB, CAROL]
    assert len(stored(bot, incident)) == 1


# -- notes ---------------------------------------------------------------------------------------

def test_a_note_goes_on_the_timeline_and_gets_one_line_in_the_channel(bot):
    incident = declare(bot)
    channel = incident.channel_id
    answer = bot.driver.slash_command("note paused the <nightly> batch job", user=BOB, channel=channel)
    assert answer.status == 200
    [event] = wait_captured(bot, incident)
    assert (event.kind, event.text, event.actor, event.data["via"]) == (
        "note", "paused the <nightly> batch job", BOB, ["note"])
    assert event.source_key.startswith("note:")
    lines = wait_for(lambda: [m for m in bot.slack.messages(channel) if "added a note" in m.get("text", "")],
                     "the note's line")
    assert "&lt;nightly&gt;" in lines[0]["text"] and "<@U0BOB>" in lines[0]["text"]
    bot.driver.replay(answer)  # the same command delivered twice: one note, one line
    time.sleep(0.5)
    assert len(captured(bot, incident)) == 1
    assert len([m for m in bot.slack.messages(channel) if "added a note" in m.get("text", "")]) == 1


def test_note_needs_text_and_an_incident_channel(bot):
    incident = declare(bot)
    empty = bot.driver.slash_command("note", user=BOB, channel=incident.channel_id)
    assert "/incident note <text>" in shown(empty.json["text"])
    outside = bot.driver.slash_command("note something", user=BOB, channel=GENERAL)
    assert "works inside an incident channel" in outside.json["text"]
    assert captured(bot, incident) == []
    assert "/incident note <text>" in shown(bot.driver.slash_command("help", user=BOB, channel=GENERAL).json["text"])


def test_a_person_pinning_through_the_sandbox_lands_on_the_timeline(bot):
    incident = declare(bot)
    message, _ = bot.driver.user_posts(incident.channel_id, CAROL, "Found it: the cron job filled the disk")
    bot.driver.user_pins(incident.channel_id, message["ts"], BOB)
    [event] = wait_captured(bot, incident)
    assert event.text == "Found it: the cron job filled the disk" and event.data["via"] == ["pin"]
    assert message["ts"] in bot.slack.channel(incident.channel_id)["pins"]

"""Backfill after missed events: messages posted while the bot heard nothing (posted to
the sandbox without sending events) are read from conversations.history and
conversations.replies, and only the gaps are stored."""

from __future__ import annotations

import json

from apscheduler.schedulers.background import BackgroundScheduler
from sqlmodel import Session

from incidentbot import worker
from incidentbot.core import messages
from incidentbot.models import ProcessedEvent
from incidentbot.slack.backfill import backfill
from tests_support import ALICE, BOB, CAROL, GENERAL, wait_for


def declare(bot, title="Queue backlog sev2"):
    bot.driver.slash_command(title, user=ALICE, channel=GENERAL)
    return bot.wait_provisioned(len(bot.incidents()))


def stored(bot, incident) -> dict[str, object]:
    with Session(bot.engine) as session:
        return {m.ts: m for m in messages.for_incident(session, incident, include_deleted=True)}


def in_slack(bot, channel) -> set[str]:
    return {m["ts"] for m in bot.slack.messages(channel)}


def heard(bot, response) -> None:
    """Wait for an event the bot did get to be stored."""
    key = f"event:{json.loads(response.request_body)['event_id']}"

    def claimed():
        with Session(bot.engine) as session:
            return session.get(ProcessedEvent, key)
    wait_for(claimed, "the event to be handled")


def calls(bot, method):
    return [c for c in bot.slack.calls(method) if c["ok"]]


def test_backfill_fills_only_the_gaps_including_threads(bot):
    incident = declare(bot)
    channel = incident.channel_id
    seen, response = bot.driver.user_posts(channel, ALICE, "I see 502s on checkout")  # the bot hears this one
    heard(bot, response)
    # The bot is down: these arrive in Slack only.
    missed = bot.slack.post_user_message(channel, BOB, "DB CPU at 100%")
    parent = bot.slack.post_user_message(channel, CAROL, "Who deployed at 10:02?")
    replies = [bot.slack.post_user_message(channel, who, text, thread_ts=parent["ts"])
               for who, text in ((ALICE, "me, v2.4"), (BOB, "rolling back"), (CAROL, "thanks"))]
    # A reply the bot did hear, in a thread it partly missed.
    heard_reply, response = bot.driver.user_posts(channel, BOB, "rollback done", thread_ts=parent["ts"])
    heard(bot, response)

    before = set(stored(bot, incident))
    assert before == {seen["ts"], heard_reply["ts"]}
    added = backfill(bot.deps(), incident)

    after = stored(bot, incident)
    # Everything in the channel is stored now: the missed messages, the thread, and the
    # bot's own card and the join messages Slack recorded.
    assert set(after) == in_slack(bot, channel)
    assert added == len(in_slack(bot, channel)) - len(before)
    assert {missed["ts"], parent["ts"], *(r["ts"] for r in replies)} <= set(after)
    for ts in (missed["ts"], parent["ts"], *(r["ts"] for r in replies)):
        assert after[ts].source == "backfill"
    assert after[seen["ts"]].source == after[heard_reply["ts"]].source == "event"  # not touched
    assert [after[r["ts"]].thread_ts for r in replies] == [parent["ts"]] * 3
    assert after[replies[0]["ts"]].text == "me, v2.4"
    assert after[missed["ts"]].posted_at == messages.ts_to_datetime(missed["ts"])
    assert after[incident.card_ts].bot_id  # the bot's own posts belong to the record too

    # Nothing new: a second backfill adds nothing and does not re-read complete threads.
    bot.slack.clear_calls()
    assert backfill(bot.deps(), incident) == 0
    assert calls(bot, "conversations.history") and not calls(bot, "conversations.replies")
    assert set(stored(bot, incident)) == in_slack(bot, channel)

    # Late events for backfilled messages are duplicates: still one row each.
    late = bot.driver.event({"type": "message", "channel": channel, "user": BOB, "text": "DB CPU at 100%",
                             "ts": missed["ts"]})
    heard(bot, late)
    assert stored(bot, incident)[missed["ts"]].source == "backfill"
    assert len(stored(bot, incident)) == len(in_slack(bot, channel))


def test_backfill_pages_through_long_history_and_long_threads(bot):
    incident = declare(bot)
    channel = incident.channel_id
    for n in range(1005):
        bot.slack.post_user_message(channel, ALICE, f"log line {n}")
    parent = bot.slack.post_user_message(channel, BOB, "thread of doom")
    for n in range(1000):
        bot.slack.post_user_message(channel, CAROL, f"reply {n}", thread_ts=parent["ts"])
    bot.slack.clear_calls()

    added = backfill(bot.deps(), incident)

    assert set(stored(bot, incident)) == in_slack(bot, channel)
    assert added == len(in_slack(bot, channel)) > 2005
    history, replies = calls(bot, "conversations.history"), calls(bot, "conversations.replies")
    assert len(history) >= 2 and len(replies) >= 2  # both were paged with cursors
    assert all(c["args"]["limit"] in (999, "999") for c in history + replies)
    assert any(c["args"].get("cursor") for c in history) and any(c["args"].get("cursor") for c in replies)
    assert backfill(bot.deps(), incident) == 0


def test_a_long_rate_limit_stops_the_backfill_and_the_next_one_resumes(bot):
    incident = declare(bot)
    channel = incident.channel_id
    for n in range(1200):
        bot.slack.post_user_message(channel, ALICE, f"m{n}")
    # One history page a minute, then "come back in 30 s": too long to wait in place.
    bot.slack.set_ratelimit("conversations.history", limit=1, retry_after=30)

    first = backfill(bot.deps(), incident)

    assert first == 999  # the first page is kept
    assert len(stored(bot, incident)) == 999
    assert [c["status"] for c in bot.slack.calls("conversations.history")][-1] == 429

    bot.slack.clear_ratelimits()
    second = backfill(bot.deps(), incident)
    assert first + second == len(in_slack(bot, channel))
    assert set(stored(bot, incident)) == in_slack(bot, channel)


def test_a_short_rate_limit_is_waited_out(bot):
    incident = declare(bot)
    channel = incident.channel_id
    for n in range(1100):
        bot.slack.post_user_message(channel, ALICE, f"m{n}")
    bot.slack.set_ratelimit("conversations.history", limit=1, retry_after=1)

    added = backfill(bot.deps(), incident)

    assert set(stored(bot, incident)) == in_slack(bot, channel)
    assert added == len(in_slack(bot, channel))
    assert 429 in [c["status"] for c in bot.slack.calls("conversations.history")]


def test_the_worker_sweep_backfills_open_incidents(bot):
    first = declare(bot, "Checkout down sev1")
    second = declare(bot, "Search slow sev3")
    for incident in (first, second):
        bot.slack.post_user_message(incident.channel_id, BOB, f"missed in {incident.reference}")
    deps = bot.deps()

    added = worker.backfill_channels(deps)

    assert added == sum(len(in_slack(bot, i.channel_id)) for i in (first, second))
    for incident in (first, second):
        assert set(stored(bot, incident)) == in_slack(bot, incident.channel_id)
    assert worker.backfill_channels(deps) == 0
    scheduled = worker.schedule(BackgroundScheduler(timezone="UTC"), deps).get_jobs()
    assert "backfill_channels" in {job.id for job in scheduled}


def test_the_sweep_stops_at_a_long_rate_limit_and_keeps_what_it_stored(bot):
    first = declare(bot, "Checkout down sev1")
    second = declare(bot, "Search slow sev3")
    for incident in (first, second):
        bot.slack.post_user_message(incident.channel_id, BOB, f"missed in {incident.reference}")
    bot.slack.set_ratelimit("conversations.history", limit=1, retry_after=60)

    added = worker.backfill_channels(bot.deps())

    # Newest incident first: INC-2 got its page, INC-1 waits for the next sweep.
    assert added == len(in_slack(bot, second.channel_id))
    assert stored(bot, first) == {}
    bot.slack.clear_ratelimits()
    assert worker.backfill_channels(bot.deps()) == len(in_slack(bot, first.channel_id))


def test_a_channel_the_bot_cannot_read_is_skipped(bot):
    incident = declare(bot)
    incident.channel_id = "C0GONE"  # deleted, or a private channel the bot was removed from
    assert backfill(bot.deps(), incident) == 0
    assert bot.slack.calls("conversations.history")[-1]["error"] == "channel_not_found"


def test_backfill_picks_up_edits_made_while_the_bot_was_not_listening(bot):
    incident = declare(bot)
    channel = incident.channel_id
    backfill(bot.deps(), incident)
    assert stored(bot, incident)[incident.card_ts].edited_at is None
    # Acknowledging edits the card in place (chat.update); the bot gets no event for it.
    bot.driver.slash_command("ack", user=BOB, channel=channel)
    card = wait_for(lambda: (m := bot.slack.message(channel, incident.card_ts)) and m.get("edited") and m,
                    "the card to be edited")
    wait_for(lambda: [m for m in bot.slack.messages(channel) if "acknowledged" in m.get("text", "")],
             "the acknowledgement line")

    backfill(bot.deps(), incident)

    row = stored(bot, incident)[incident.card_ts]
    assert row.edited_at == messages.ts_to_datetime(card["edited"]["ts"])
    assert row.text == card["text"]
    assert set(stored(bot, incident)) == in_slack(bot, channel)  # and the "acknowledged" line

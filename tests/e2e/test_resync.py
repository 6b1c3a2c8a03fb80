"""Slack brought back in line with the database: what the bot did in Slack but never
recorded (a lost answer, a process that died) is found, not done twice; what it
recorded but never showed is shown by the worker's reconcile sweep."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from incidentbot import worker
from incidentbot.core import incidents
from incidentbot.core.incidents import Declaration
from incidentbot.db import session_scope
from incidentbot.models import Postmortem, StatusUpdate
from incidentbot.slack import blocks, ids, operations
from incidentbot.timeutil import utcnow
from tests_support import ALICE, BOB, GENERAL, INCIDENTS, mrkdwn_texts, wait_for

LATER = timedelta(minutes=5)


def bot_posts(bot, channel: str) -> list[dict]:
    return [m for m in bot.slack.messages(channel) if m.get("bot_id") and not m.get("subtype")]


def announcements(bot) -> list[dict]:
    return [m for m in bot_posts(bot, INCIDENTS) if not m.get("thread_ts") or m["thread_ts"] == m["ts"]]


def card_text(bot, incident) -> str:
    message = bot.slack.message(incident.channel_id, incident.card_ts)
    return " ".join(mrkdwn_texts(message["blocks"]))


def test_declaring_when_slack_answers_are_lost_makes_one_channel_card_and_announcement(bot):
    bot.slack.add_fault("conversations.create", "drop", applied=True, times=1)
    bot.slack.add_fault("chat.postMessage", "drop", applied=True, times=2)  # the card, then the announcement
    bot.driver.slash_command("Payments timing out sev2", user=ALICE, channel=GENERAL)
    incident = bot.wait_provisioned(1)

    assert [c["name"] for c in bot.slack.channels() if "payments-timing-out" in c["name"]] == [incident.channel_name]
    assert [m["ts"] for m in bot_posts(bot, incident.channel_id)] == [incident.card_ts]
    assert incident.card_ts in bot.slack.channel(incident.channel_id)["pins"]
    assert [m["ts"] for m in announcements(bot)] == [incident.announcement_ts]


def test_reconcile_adopts_what_a_dead_process_made_but_never_recorded(bot):
    """The process created the channel and posted the card, then died before storing either."""
    deps = bot.deps()
    with session_scope(bot.engine) as session:
        incident, _ = incidents.declare(session, bot.policy, Declaration("Queue backlog", "SEV2", ALICE))
    name = incidents.channel_name_for(bot.policy, incident)
    channel_id, _ = deps.gateway.create_channel(name)
    text, card = blocks.incident_card(bot.policy, incident)
    card_ts = deps.gateway.post(channel_id, text, card, key=ids.post_key(incident, "card"))

    worker.reconcile(deps, grace=timedelta(0))

    stored = bot.incident(incident.number)
    assert (stored.channel_id, stored.card_ts) == (channel_id, card_ts) and stored.provisioned_at
    assert [c["name"] for c in bot.slack.channels() if c["name"].startswith(name)] == [name]
    assert [m["ts"] for m in bot_posts(bot, channel_id)] == [card_ts]
    assert card_ts in bot.slack.channel(channel_id)["pins"]
    assert ALICE in bot.slack.channel(channel_id)["members"]
    assert [m["ts"] for m in announcements(bot)] == [stored.announcement_ts]


def test_a_channel_another_incident_has_is_never_adopted(bot):
    deps = bot.deps()
    with session_scope(bot.engine) as session:
        first, _ = incidents.declare(session, bot.policy, Declaration("Queue backlog", "SEV2", ALICE))
        second, _ = incidents.declare(session, bot.policy, Declaration("Queue backlog", "SEV2", BOB))
    name = incidents.channel_name_for(bot.policy, second)
    channel_id, _ = deps.gateway.create_channel(name)  # the bot made it, but for the first incident
    with session_scope(bot.engine) as session:
        incidents.attach_channel(session, incidents.get(session, first.id), channel_id, name)

    worker.reconcile(deps, grace=timedelta(0))

    stored = bot.incident(second.number)
    assert stored.channel_id != channel_id and stored.channel_name == f"{name}-2"


def test_a_card_that_failed_to_update_is_shown_again_by_the_sweep(bot):
    bot.driver.slash_command("Search slow sev3", user=ALICE, channel=GENERAL)
    incident = bot.wait_provisioned(1)
    bot.slack.add_fault("chat.update", "error", error="internal_error")
    bot.driver.slash_command("ack", user=BOB, channel=incident.channel_id)
    wait_for(lambda: [m for m in bot_posts(bot, incident.channel_id) if "acknowledged" in m.get("text", "")],
             "the acknowledgement line")
    stale = bot.incident(1)
    assert stale.shown_revision < stale.revision and "Acknowledged" not in card_text(bot, stale)

    bot.slack.clear_faults()
    worker.reconcile(bot.deps(), now=utcnow() + LATER)

    fresh = bot.incident(1)
    assert fresh.shown_revision == fresh.revision
    assert "Acknowledged" in card_text(bot, fresh) or "acknowledged" in card_text(bot, fresh)


def test_a_status_update_that_failed_to_post_is_posted_once_by_the_sweep(bot):
    bot.driver.slash_command("Search slow sev3", user=ALICE, channel=GENERAL)
    incident = bot.wait_provisioned(1)
    deps = bot.deps()
    bot.slack.add_fault("chat.postMessage", "http_error", status=503)  # the client retries 503s, then gives up
    update, changes = operations.post_update(deps, incident.id, ALICE, text="Reindexing, 40% done")
    operations.finish_update(deps, update, changes)
    with Session(bot.engine) as session:
        assert session.get(StatusUpdate, update.id).channel_ts is None

    bot.slack.clear_faults()
    for _ in range(2):  # the second sweep finds nothing left to do
        worker.reconcile(deps, now=utcnow() + LATER)

    with Session(bot.engine) as session:
        stored = session.get(StatusUpdate, update.id)
    posted = [m for m in bot_posts(bot, incident.channel_id) if "Reindexing" in " ".join(mrkdwn_texts(m["blocks"]))]
    assert [m["ts"] for m in posted] == [stored.channel_ts]
    in_thread = [m for m in bot_posts(bot, INCIDENTS) if m.get("thread_ts") == incident.announcement_ts
                 and "Reindexing" in " ".join(mrkdwn_texts(m.get("blocks", [])))]
    assert [m["ts"] for m in in_thread] == [stored.announcement_ts]


def test_a_resolve_whose_process_died_before_slack_is_shown_and_its_postmortem_scheduled(bot):
    bot.driver.slash_command("Checkout down sev1", user=ALICE, channel=GENERAL)
    incident = bot.wait_provisioned(1)
    deps = bot.deps()
    # What a process killed right after the commit leaves: the resolve stored, nothing shown.
    operations.run(deps, incident.id, operations.resolve(deps, ALICE, "Rolled back the deploy."))
    assert "Resolved" not in card_text(bot, incident)

    for _ in range(2):
        worker.reconcile(deps, now=utcnow() + LATER)

    resolved = bot.incident(1)
    assert resolved.shown_revision == resolved.revision
    assert "Resolved" in card_text(bot, resolved)
    assert "Resolved" in " ".join(mrkdwn_texts(bot.slack.message(INCIDENTS, resolved.announcement_ts)["blocks"]))
    with Session(bot.engine) as session:
        assert len(session.exec(select(Postmortem).where(Postmortem.incident_id == resolved.id)).all()) == 1
    texts = [m.get("text", "") for m in bot_posts(bot, resolved.channel_id)]
    assert len([t for t in texts if t.startswith(":spiral_note_pad: *Postmortem for INC-1*")]) == 1  # the plan
    assert len([t for t in texts if "draft for INC-1" in t]) == 1

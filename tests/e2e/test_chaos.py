"""Whole incident lifecycles against a Slack that fails a fifth of all Web API calls.

Every Web API method answers 429, 503, ``ok: false``, answers too late (after doing
the work) or drops the connection (with or without doing the work), 20% of the time
in all. Lifecycles run side by side, as in a real outage. Then the faults stop, the
worker's reconcile sweep runs (as it does every minute), and every incident must be
complete: its whole timeline, one channel, one pinned card, one announcement, each
status update posted once, its postmortem and action item stored once, and Slack
showing the final state.

Sized for CI (200 lifecycles on SQLite, 50 on PostgreSQL); ``INCIDENTBOT_SOAK=1``
plays five times as many, ``INCIDENTBOT_SOAK=n`` n times (docs/testing.md).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from incidentbot import worker
from incidentbot.core import capture
from incidentbot.models import ActionItem, ChannelMessage, Incident, Postmortem, StatusUpdate, TimelineEvent
from incidentbot.slack import provisioning
from incidentbot.slack.blocks import ANSWERED_LATE
from incidentbot.slack.gateway import KEY_EVENT_TYPE, SlackError
from incidentbot.timeutil import utcnow
from tests_support import ALICE, BOB, CAROL, GENERAL, INCIDENTS, mrkdwn_texts, wait_for, soak

SOAK = soak()
SIDE_BY_SIDE = 8
# The bot's Slack client timeout (SLACK_TIMEOUT_SECONDS); "slow" faults answer after 3 s, so
# they time out. A normal call that a loaded machine makes slower than that is one more
# lost answer, which is what this test is about anyway.
CLIENT_TIMEOUT = 2.0
# Five kinds sharing 20%: each fault draws in turn, so these rates add up to
# 1 - (1-0.045)(1-0.045)(1-0.045)(1-0.045)(1-0.025) = 0.20 of all calls.
FAULTS = (
    {"kind": "ratelimit", "rate": 0.045, "retry_after": 0},
    {"kind": "http_error", "rate": 0.045, "status": 503},
    {"kind": "error", "rate": 0.045, "error": "internal_error"},
    {"kind": "drop", "rate": 0.045, "applied": True},
    {"kind": "slow", "rate": 0.025, "seconds": 3.0},
)
EXPECTED_KINDS = ("declared", "acknowledged", "role_assigned", "update_posted", "severity_changed",
                  "mitigated", "resolved")


def lifecycles(database_url: str) -> int:
    """How many to play: INCIDENTBOT_CHAOS_LIFECYCLES when set (a quick run while working)."""
    if os.environ.get("INCIDENTBOT_CHAOS_LIFECYCLES"):
        return int(os.environ["INCIDENTBOT_CHAOS_LIFECYCLES"])
    count = 200 if database_url.startswith("sqlite") else 50
    return count * SOAK


@pytest.fixture
def chaos_bot(make_bot, monkeypatch):
    monkeypatch.setenv("SLACK_TIMEOUT_SECONDS", str(CLIENT_TIMEOUT))
    bot = make_bot()
    assert bot.deps().gateway.client.timeout == CLIENT_TIMEOUT
    return bot


def provisioned(bot, number: int, deps) -> Incident:
    """Wait for the web process's provisioning; when Slack made it give up, do for this
    incident what the worker's reconcile sweep does (every minute) until it is done."""
    deadline = time.monotonic() + 300  # bounds a hang only
    while time.monotonic() < deadline:
        try:
            return wait_for(lambda: _find(bot, Incident.number == number, Incident.provisioned_at != None),  # noqa: E711
                            f"INC-{number} provisioned", timeout=2)
        except TimeoutError:
            incident = bot.incident(number)
            try:
                provisioning.provision(deps, incident.id, resume=True)
            except SlackError:
                pass  # the sweep logs it and comes back
    raise AssertionError(f"INC-{number} never provisioned")


def _find(bot, *where) -> Incident | None:
    """One incident by a condition. Not ``bot.incidents()``: eight players polling every
    incident ever made cost more with each one, until the bot, in the same process, was
    too short of CPU to ack within Slack's 3 s (a soak run failed that way)."""
    with Session(bot.engine) as session:
        return session.exec(select(Incident).where(*where)).first()


def settle(bot, quiet_seconds: float = 6.0) -> None:
    """Wait until the bot has stopped calling Slack: its work after the acks is done. Longer
    than a slow fault plus a retry's backoff, so a call still under way is not missed."""
    seen, quiet_since = -1, time.monotonic()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        calls = len(bot.slack.calls())
        if calls != seen:
            seen, quiet_since = calls, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_seconds:
            return
        time.sleep(0.2)
    raise AssertionError("the bot never stopped calling Slack")


def play(bot, deps, index: int) -> tuple[int, list[str]]:
    """One lifecycle through slash commands and channel events; returns (number, pinned ts)."""
    rng = random.Random(index)
    title = f"Chaos {index} queue stuck"
    answer = bot.driver.slash_command(f"{title} sev2", user=ALICE, channel=GENERAL)
    # 404: Bolt gave up waiting for the ack, as below; the declaration still goes through.
    assert answer.status in (200, 404), answer.status
    number = wait_for(lambda: getattr(_find(bot, Incident.title == title), "number", None), f"{title} stored")
    if answer.status == 404:
        # Slack showed Alice an error: the bot must tell her it went through after all.
        wait_for(lambda: any((r.get("text") or "").startswith(ANSWERED_LATE) and f"INC-{number} " in r["text"]
                             for r in bot.replies(ALICE)), f"INC-{number}: the note that it went through")
    channel = provisioned(bot, number, deps).channel_id
    first, _ = bot.driver.user_posts(channel, BOB, f"Consumers of shard {rng.randint(1, 9)} stopped at 10:02")
    second, _ = bot.driver.user_posts(channel, CAROL, "Rolling back the consumer deploy")
    bot.driver.user_pins(channel, first["ts"], BOB)
    bot.driver.user_reacts(channel, second["ts"], "pushpin", CAROL)
    for user, command, kind in steps(index):
        reply = bot.driver.slash_command(command, user=user, channel=channel)
        if reply.status == 404:
            # Bolt waited 3 s for the ack and gave up (a machine this busy is slower than
            # Slack allows); the command still runs to its end, so wait for its effect
            # before the next one, as a person would.
            wait_for(lambda: kind in kinds(bot, number), f"{command!r} on INC-{number}")
        else:
            assert reply.status == 200, (command, reply.status)
    return number, [first["ts"], second["ts"]]


def steps(index: int) -> tuple[tuple[str, str, str], ...]:
    """(who, /incident subcommand, the timeline event it makes), in order."""
    return ((BOB, "ack", "acknowledged"), (BOB, "lead <@U0CAROL|carol>", "role_assigned"),
            (CAROL, "update Rolling back the consumer", "update_posted"), (CAROL, "sev 1", "severity_changed"),
            (CAROL, f"action Alert on consumer lag for shard {index}", "action_item"),
            (CAROL, "mitigate", "mitigated"), (CAROL, "resolve Consumer rolled back; lag drained", "resolved"))


def kinds(bot, number: int) -> set[str]:
    with Session(bot.engine) as session:
        incident = session.exec(select(Incident).where(Incident.number == number)).one()
        return {e.kind for e in session.exec(select(TimelineEvent).where(TimelineEvent.incident_id == incident.id))}


def bot_messages(bot, channel: str) -> list[dict]:
    return [m for m in bot.slack.messages(channel) if m.get("bot_id") and not m.get("subtype")]


def keys(messages: list[dict]) -> Counter:
    return Counter((m.get("metadata") or {}).get("event_payload", {}).get("key") for m in messages
                   if (m.get("metadata") or {}).get("event_type") == KEY_EVENT_TYPE)


def test_lifecycles_under_slack_faults_end_complete_and_never_doubled(chaos_bot, database_url):
    bot = chaos_bot
    deps = bot.deps()
    for seed, fault in enumerate(FAULTS):
        bot.slack.add_fault("*", seed=seed, **fault)
    count = lifecycles(database_url)
    with ThreadPoolExecutor(SIDE_BY_SIDE) as pool:
        played = list(pool.map(lambda i: play(bot, deps, i), range(count)))
    settle(bot)
    injected = bot.slack.faults()["injected"]
    bot.slack.clear_faults()
    # The worker's sweep, a few minutes on. It takes at most 50 incidents of each kind a run
    # (a minute apart, within Slack's rate limits), so with more lifecycles it takes more
    # runs; the last ones find nothing to do.
    for _ in range(3 + count // 50):
        worker.reconcile(deps, now=utcnow() + timedelta(minutes=5))
    worker.backfill_channels(deps)  # every 10 minutes: messages missed, captures' texts

    assert sum(n for kinds in injected.values() for n in kinds.values()) > count  # the faults did hit
    assert_complete(bot, dict(played))


def assert_complete(bot, pinned: dict[int, list[str]]) -> None:
    incidents = bot.incidents()
    assert sorted(i.number for i in incidents) == sorted(pinned)
    announcements = keys([m for m in bot_messages(bot, INCIDENTS) if m.get("thread_ts") in (None, m["ts"])])
    made = sorted(c["id"] for c in bot.slack.channels() if c.get("creator") == "U0BOT")
    assert made == sorted(i.channel_id for i in incidents)  # no second channel for anyone
    with Session(bot.engine) as session:
        for incident in incidents:
            assert_incident(bot, session, incident, pinned[incident.number], announcements)


def assert_incident(bot, session: Session, incident: Incident, pinned: list[str], announcements: Counter) -> None:
    ref = incident.reference
    assert (incident.status, incident.severity) == ("resolved", "SEV1"), ref
    assert incident.provisioned_at and incident.shown_revision == incident.revision, ref
    events = Counter(e.kind for e in session.exec(select(TimelineEvent).where(TimelineEvent.incident_id == incident.id)))
    assert all(events[kind] == 1 for kind in EXPECTED_KINDS), (ref, events)
    captured = session.exec(select(ChannelMessage).where(ChannelMessage.channel_id == incident.channel_id,
                                                         ChannelMessage.ts.in_(pinned))).all()
    assert sorted(m.ts for m in captured) == sorted(pinned), ref  # both people's messages stored
    assert events[capture.KIND] == 2, (ref, events)  # the pin and the :pushpin:, once each
    texts = {e.source_key: e.text for e in session.exec(select(TimelineEvent).where(
        TimelineEvent.incident_id == incident.id, TimelineEvent.kind == capture.KIND))}
    assert texts == {capture.message_key(incident.channel_id, m.ts): m.text for m in captured}, ref

    posts = bot_messages(bot, incident.channel_id)
    posted = keys(posts)
    assert posted == Counter({k: 1 for k in posted}), (ref, posted)  # no keyed post twice
    cards = [m for m in posts if (m.get("metadata") or {}).get("event_payload", {}).get("key", "").endswith(".card")]
    assert [c["ts"] for c in cards] == [incident.card_ts], ref
    assert incident.card_ts in bot.slack.channel(incident.channel_id)["pins"], ref
    assert "Resolved" in " ".join(mrkdwn_texts(cards[0]["blocks"])), ref
    assert sum(1 for k in announcements if k.startswith(f"{incident.id}.") and k.endswith(".announcement")) == 1, ref
    assert announcements[f"{incident.id}.{int(incident.declared_at.timestamp())}.announcement"] == 1, ref

    updates = session.exec(select(StatusUpdate).where(StatusUpdate.incident_id == incident.id)).all()
    assert len(updates) == 1 and updates[0].channel_ts and updates[0].announcement_ts, ref
    items = session.exec(select(ActionItem).where(ActionItem.incident_id == incident.id)).all()
    assert len(items) == 1, ref
    assert len(session.exec(select(Postmortem).where(Postmortem.incident_id == incident.id)).all()) == 1, ref

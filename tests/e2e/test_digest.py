"""The weekly digest end to end: the worker's sweep posts it once with its chart in the
digest channel; ``/incident digest`` previews it privately; private incidents never show."""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta

from sqlmodel import Session, select
from tests_support import ALICE, BOB, GENERAL, mrkdwn_texts, shown, wait_for

from incidentbot.core import digest_runs, incidents
from incidentbot.core.digest_report import Week
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy, parse_policy
from incidentbot.db import session_scope
from incidentbot.models import DigestRun
from incidentbot.sandbox.constants import BOT_USER_ID, DIGEST_ID
from incidentbot.slack import digest_flow
from incidentbot.timeutil import utcnow

PUBLIC_TITLE = "Checkout API returning 502s <!channel> see <https://evil.example|the runbook>"
SECRET_TITLE = "Signing keys leaked in a public gist"


def declare(bot, title, *, private=False, severity="SEV2", declared_by=ALICE):
    with session_scope(bot.engine) as session:
        incident, _ = incidents.declare(session, bot.policy, Declaration(
            title=title, severity=severity, declared_by=declared_by, private=private))
    return incident


def this_weeks_digest_time(bot):
    """The digest time of the week after this one: when this week's incidents are posted."""
    week = Week.containing(utcnow(), bot.policy)
    return week, digest_runs.due_at(week, bot.policy)


def digest_messages(bot):
    """Everything the bot posted in the digest channel (thread replies included)."""
    return [m for m in bot.slack.messages(DIGEST_ID) if m.get("user") == BOT_USER_ID
            and m.get("subtype") not in {"channel_join"}]


def top_level(messages):
    return [m for m in messages if not m.get("thread_ts") or m["thread_ts"] == m["ts"]]


def assert_no_private_incident(bot, secret, messages):
    for message in messages:
        raw = json.dumps(message)
        assert SECRET_TITLE not in raw and "Signing keys" not in raw
        assert f"INC-{secret.number}" not in raw
    for record in bot.slack.files():
        assert SECRET_TITLE not in json.dumps({k: v for k, v in record.items() if k != "content_b64"})


def rows(bot):
    with Session(bot.engine) as session:
        return session.exec(select(DigestRun)).all()


def test_the_worker_posts_the_digest_once_with_its_chart_and_no_private_incident(bot):
    public = declare(bot, PUBLIC_TITLE)
    secret = declare(bot, SECRET_TITLE, private=True, declared_by=BOB)
    week, due = this_weeks_digest_time(bot)
    deps = bot.deps()
    assert digest_flow.post_weekly_digest(deps, now=due - timedelta(minutes=1)) == 0
    assert digest_messages(bot) == [] and rows(bot) == []

    assert digest_flow.post_weekly_digest(deps, now=due) == 1
    # A second sweep, and a restarted worker (fresh deps), post nothing more.
    assert digest_flow.post_weekly_digest(deps, now=due + timedelta(minutes=1)) == 0
    assert digest_flow.post_weekly_digest(bot.deps(), now=due + timedelta(days=2)) == 0

    posted = digest_messages(bot)
    [message] = top_level(posted)
    assert week.label in message["text"] or week.label in json.dumps(message.get("blocks"))
    assert f"INC-{public.number}" in json.dumps(message)
    assert "<!channel>" not in json.dumps(message)  # the title is escaped: nobody is pinged
    # The chart, in the digest's thread.
    [shared] = [m for m in posted if m.get("subtype") == "file_share"]
    assert shared["thread_ts"] == message["ts"]
    assert [f["name"] for f in shared["files"]] == [f"digest-{week.label}.png"]
    [chart] = [f for f in bot.slack.files() if f["name"] == f"digest-{week.label}.png"]
    assert chart["completed"] and chart["channels"] == [DIGEST_ID] and chart["size"] > 100
    assert chart["content"] is None  # binary: a PNG, not text
    # The bot was not in the channel: it joined to post.
    assert BOT_USER_ID in bot.slack.channel(DIGEST_ID)["members"]
    [run] = rows(bot)
    assert (run.week, run.channel, run.channel_id, run.message_ts, run.posted_at) == (
        week.label, "incident-digest", DIGEST_ID, message["ts"], due)
    assert_no_private_incident(bot, secret, posted)


def test_down_monday_to_wednesday_the_digest_is_posted_on_wednesday(bot):
    declare(bot, "Search is slow")
    week, due = this_weeks_digest_time(bot)
    wednesday = due + timedelta(days=2, hours=5)
    assert digest_flow.post_weekly_digest(bot.deps(), now=wednesday) == 1
    [run] = rows(bot)
    assert run.week == week.label and run.posted_at == wednesday
    # Once the following week is over too, that week is no longer posted late.
    assert digest_runs.due_week(bot.policy, due + timedelta(days=7) - timedelta(minutes=1)) is None


def test_two_workers_racing_post_one_digest(bot):
    declare(bot, "Search is slow")
    _, due = this_weeks_digest_time(bot)
    start = threading.Barrier(3)
    posted: list[int] = []

    def worker():
        deps = bot.deps()
        start.wait()
        posted.append(digest_flow.post_weekly_digest(deps, now=due))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(posted) == [0, 0, 1]
    assert len(top_level(digest_messages(bot))) == 1
    assert len([m for m in digest_messages(bot) if m.get("subtype") == "file_share"]) == 1
    assert len(rows(bot)) == 1


def test_a_slack_failure_releases_the_claim_and_the_next_sweep_posts(bot):
    declare(bot, "Search is slow")
    _, due = this_weeks_digest_time(bot)
    deps = bot.deps()
    bot.slack.set_ratelimit("chat.postMessage", limit=0, retry_after=120)  # too long to wait out in place
    assert digest_flow.post_weekly_digest(deps, now=due) == 0
    assert rows(bot) == [] and top_level(digest_messages(bot)) == []
    bot.slack.clear_ratelimits()
    assert digest_flow.post_weekly_digest(deps, now=due + timedelta(minutes=1)) == 1
    assert len(top_level(digest_messages(bot))) == 1


def test_a_failed_chart_upload_never_posts_the_digest_twice(bot):
    declare(bot, "Search is slow")
    _, due = this_weeks_digest_time(bot)
    deps = bot.deps()
    bot.slack.set_ratelimit("files.getUploadURLExternal", limit=0, retry_after=120)
    assert digest_flow.post_weekly_digest(deps, now=due) == 1
    assert digest_flow.post_weekly_digest(deps, now=due + timedelta(minutes=1)) == 0
    posted = digest_messages(bot)
    assert len(top_level(posted)) == 1 and not [m for m in posted if m.get("subtype") == "file_share"]


def test_a_missing_digest_channel_is_logged_and_retried(make_bot, caplog):
    bot = make_bot(parse_policy('[digest]\nchannel = "weekly-incidents"\n'))
    declare(bot, "Search is slow")
    _, due = this_weeks_digest_time(bot)
    with caplog.at_level(logging.ERROR, logger="incidentbot.slack.digest_flow"):
        assert digest_flow.post_weekly_digest(bot.deps(), now=due) == 0
    assert "'weekly-incidents'" in caplog.text and "does not exist" in caplog.text
    assert rows(bot) == []  # released: the next sweep tries again
    bot.slack.clear_calls()
    assert digest_flow.post_weekly_digest(bot.deps(), now=due + timedelta(minutes=1)) == 0
    assert bot.slack.calls("conversations.list")  # it looked again


def test_a_digest_channel_given_by_id(make_bot):
    bot = make_bot(parse_policy(f'[digest]\nchannel = "{DIGEST_ID}"\n'))
    declare(bot, "Search is slow")
    _, due = this_weeks_digest_time(bot)
    assert digest_flow.post_weekly_digest(bot.deps(), now=due) == 1
    assert len(top_level(digest_messages(bot))) == 1
    assert rows(bot)[0].channel == DIGEST_ID


# --- /incident digest -------------------------------------------------------------------------


def preview_replies(bot, user, before=0):
    return wait_for(lambda: [r for r in bot.slack.responses()[before:] if r.get("user") == user and r.get("blocks")],
                    "the digest preview")


def test_the_preview_is_private_escaped_and_without_private_incidents(bot):
    public = declare(bot, PUBLIC_TITLE)
    secret = declare(bot, SECRET_TITLE, private=True, declared_by=BOB)
    last = Week.containing(utcnow(), bot.policy).previous(bot.policy)
    # Move the incidents into last week, the one the preview shows by default.
    with session_scope(bot.engine) as session:
        for incident in (public, secret):
            row = session.merge(incident)
            row.declared_at = last.start + timedelta(days=2)
            session.add(row)
    ack = bot.driver.slash_command("digest", user=BOB, channel=GENERAL)
    assert ack.status == 200 and (ack.json or {}).get("response_type", "ephemeral") == "ephemeral"
    [reply] = preview_replies(bot, BOB)
    assert reply["response_type"] == "ephemeral" and reply["channel"] == GENERAL
    texts = mrkdwn_texts(reply["blocks"]) + [reply["text"]]
    assert any(last.label in t for t in texts)
    assert any(f"INC-{public.number}" in t for t in texts)
    assert all("<!channel>" not in t and "<https://evil.example" not in t for t in texts)
    assert any("Checkout API returning 502s" in shown(t) for t in texts)
    assert any("only you can see it" in t for t in texts)
    assert_no_private_incident(bot, secret, [reply])
    # Only to Bob: nothing in any channel, nothing recorded as posted.
    assert top_level(digest_messages(bot)) == [] and rows(bot) == []
    assert not [m for m in bot.slack.messages(GENERAL) if m.get("user") == BOT_USER_ID]


def test_the_preview_of_a_given_week(bot):
    week = Week.containing(utcnow(), bot.policy).previous(bot.policy, weeks=7)
    ack = bot.driver.slash_command(f"digest {week.label.lower()}", user=ALICE, channel=GENERAL)
    assert ack.status == 200
    [reply] = preview_replies(bot, ALICE)
    assert any(week.label in t for t in mrkdwn_texts(reply["blocks"]) + [reply["text"]])


def test_a_bad_week_gets_the_syntax(bot):
    for text in ("digest next-week", "digest 2025-W53", "digest 2026-W47 extra"):
        ack = bot.driver.slash_command(text, user=ALICE, channel=GENERAL)
        body = ack.json or {}
        assert body.get("response_type") == "ephemeral", text
        assert "/incident digest [2026-W47]" in body["text"], text
    future = Week.containing(utcnow(), bot.policy).label
    ack = bot.driver.slash_command(f"digest {future}", user=ALICE, channel=GENERAL)
    assert "is not over yet" in ack.json["text"] and "The last complete week is" in ack.json["text"]
    assert bot.slack.responses() == []  # refused at once: nothing was built


def test_help_lists_the_digest_command():
    from incidentbot.slack import blocks

    assert "/incident digest [2026-W47]" in json.dumps(blocks.help_blocks())
    assert load_policy().digest.channel == "incident-digest"

"""Declaring an incident, end to end over HTTP (driver → bot → sandbox Slack)."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import Session

from incidentbot.core import timeline
from incidentbot.core.policy import parse_policy
from tests_support import ALICE, BOB, CAROL, GENERAL, INCIDENTS, mrkdwn_texts, wait_for


def test_quick_declare_opens_channel_card_and_announcement(bot):
    ack = bot.driver.slash_command("Checkout API returning 502s sev2", user=ALICE, channel=GENERAL)

    assert ack.status == 200
    assert ack.json["response_type"] == "ephemeral"
    assert ack.json["text"].startswith("Declaring INC-1: Checkout API returning 502s (SEV2)")
    incident = bot.wait_provisioned(1)

    channel = bot.slack.channel(incident.channel_id)
    assert channel["name"] == incident.channel_name
    assert channel["name"].startswith("inc-") and channel["name"].endswith("-checkout-api-returning-502s")
    assert ALICE in channel["members"] and not channel["is_private"]

    [card] = [m for m in bot.slack.messages(incident.channel_id) if m.get("bot_id") and not m.get("subtype")]
    assert card["ts"] == incident.card_ts and card["ts"] in channel["pins"]
    assert card["blocks"][0]["text"]["text"] == "INC-1: Checkout API returning 502s"
    card_text = " ".join(mrkdwn_texts(card["blocks"]))
    assert "SEV2 · Major" in card_text and "Investigating" in card_text and f"<@{ALICE}>" in card_text

    [announcement] = bot.slack.messages(INCIDENTS)[-1:]
    assert announcement["ts"] == incident.announcement_ts and incident.announcement_channel_id == INCIDENTS
    assert f"<#{incident.channel_id}>" in " ".join(mrkdwn_texts(announcement["blocks"]))

    reply = wait_for(lambda: bot.replies(ALICE), "the declared reply")
    # endswith: on a loaded machine the ack itself can be late, and the reply then says so first.
    assert reply[-1]["text"].endswith(f"INC-1 is declared. Head to <#{incident.channel_id}>.")
    with Session(bot.engine) as session:
        [declared] = timeline.events(session, incident)
    assert (declared.kind, declared.actor) == ("declared", ALICE)


def test_taken_channel_name_gets_a_suffix(make_bot):
    # No date in the pattern, so the test cannot straddle midnight.
    bot = make_bot(parse_policy('[channels]\nname_pattern = "inc-{slug}"'))
    bot.driver.slash_command("Database down", user=ALICE, channel=GENERAL)
    one = bot.wait_provisioned(1)
    bot.driver.slash_command("Database down", user=BOB, channel=GENERAL)
    two = bot.wait_provisioned(2)
    assert (one.channel_name, two.channel_name) == ("inc-database-down", "inc-database-down-2")
    errors = [c["error"] for c in bot.slack.calls("conversations.create") if not c["ok"]]
    assert errors == ["name_taken"]


def test_declare_form_submission(bot):
    ack = bot.driver.slash_command("", user=BOB, channel=GENERAL)
    assert ack.status == 200
    view = wait_for(lambda: bot.slack.views(user=BOB), "the declare form")[-1]
    assert view["callback_id"] == "declare_incident" and json.loads(view["private_metadata"]) == {"channel": GENERAL}
    service = bot.policy.services[0].name

    response = bot.driver.submit_view(view["id"], user=BOB, values={
        "title": {"title": "Search returns nothing"},
        "severity": {"severity": "SEV1"},
        "category": {"category": "code-deploy"},
        "services": {"services": [service]},
        "summary": {"summary": "Since the 14:05 deploy"},
    })

    assert response.status == 200 and not response.body  # the modal closes
    incident = bot.wait_provisioned(1)
    assert (incident.severity, incident.category, incident.services, incident.summary) == (
        "SEV1", "code-deploy", [service], "Since the 14:05 deploy")
    assert incident.request_key == f"view:{view['id']}"
    # The bot is not in #general, so an ephemeral there fails (as in Slack) and the
    # confirmation arrives as a direct message from the app.
    reply = wait_for(lambda: bot.replies(BOB), "the confirmation")[-1]
    assert reply["channel"].startswith("D") and reply["text"].startswith("INC-1 is declared")
    assert [c["error"] for c in bot.slack.calls("chat.postEphemeral")] == ["not_in_channel"]


def test_declare_form_errors_show_on_the_field(bot):
    bot.driver.slash_command("", user=BOB, channel=GENERAL)
    view = wait_for(lambda: bot.slack.views(user=BOB), "the declare form")[-1]
    response = bot.driver.submit_view(view["id"], user=BOB, values={
        "title": {"title": "    "}, "severity": {"severity": "SEV2"},
    })
    assert response.json["response_action"] == "errors"
    assert "Give the incident a title" in response.json["errors"]["title"]
    assert bot.incidents() == []


def test_help_unknown_and_typos_answer_privately(bot):
    help_ack = bot.driver.slash_command("help", user=CAROL, channel=GENERAL)
    assert "/incident declare &lt;title&gt; [sev1..sev4]" in json.dumps(help_ack.json)  # escaped: Slack would read <title> as a link
    typo = bot.driver.slash_command("stauts", user=CAROL, channel=GENERAL)
    assert typo.json["response_type"] == "ephemeral" and "Did you mean `/incident status`?" in typo.json["text"]
    later = bot.driver.slash_command("severity", user=CAROL, channel=GENERAL)  # reserved, not a command yet
    assert "`/incident severity` is not available" in later.json["text"]
    elsewhere = bot.driver.slash_command("timeline", user=CAROL, channel=GENERAL)
    assert "`/incident timeline` works inside an incident channel" in elsewhere.json["text"]
    assert bot.incidents() == [] and bot.slack.calls("conversations.create") == []


def test_five_thousand_character_title_is_refused_with_the_limit(bot):
    ack = bot.driver.slash_command("declare " + "x" * 5000, user=CAROL, channel=GENERAL)
    assert "5,000 characters; keep it to" in ack.json["text"]
    assert bot.incidents() == [] and bot.slack.calls("conversations.create") == []


def test_user_text_cannot_ping_or_fake_links(bot):
    bot.driver.slash_command("declare Hooks <!channel> see <https://evil.example|runbook> & <@U0BOB>",
                             user=CAROL, channel=GENERAL)
    incident = bot.wait_provisioned(1)
    posted = bot.slack.messages(incident.channel_id) + bot.slack.messages(INCIDENTS)
    parsed = " ".join(t for m in posted for t in mrkdwn_texts(m.get("blocks", [])) + [m.get("text", "")])
    assert "<!channel>" not in parsed and "<https://evil" not in parsed and "<@U0BOB>" not in parsed
    # Slack's markup is stored as people read it: "@channel", "runbook (https://evil.example)".
    assert "@channel" in parsed and "runbook (https://evil.example)" in parsed and "&amp;" in parsed


def test_emoji_title_gets_a_numbered_channel(bot):
    bot.driver.slash_command("🔥🔥🔥 sev1", user=ALICE, channel=GENERAL)
    incident = bot.wait_provisioned(1)
    assert incident.channel_name.endswith("-incident-1") and incident.title == "🔥🔥🔥"


def test_announcement_channel_that_cannot_be_used_is_explained(make_bot, sandbox):
    bot = make_bot(parse_policy('[channels]\nannouncement = "no-such-channel"'))
    bot.driver.slash_command("Queue backlog growing", user=ALICE, channel=GENERAL)
    incident = bot.wait_provisioned(1)  # the incident still gets its channel and card
    assert incident.announcement_ts is None and incident.card_ts
    reply = wait_for(lambda: bot.replies(ALICE), "the declared reply")[-1]["text"]
    assert "could not announce it in #no-such-channel (channel_not_found)" in reply
    assert "channels.announcement" in reply


def test_rate_limited_slack_is_retried(bot, sandbox):
    from slack_sdk import WebClient

    # One call per window, and someone else just used it: the bot's first
    # conversations.create gets a 429 with Retry-After: 1, and its retry succeeds.
    bot.slack.set_ratelimit("conversations.create", limit=1, retry_after=1)
    WebClient(token="xoxb-sandbox", base_url=sandbox.api_url).conversations_create(name="someone-elses-channel")
    bot.driver.slash_command("Disk full on db-1", user=ALICE, channel=GENERAL)
    incident = bot.wait_provisioned(1)
    outcomes = [c.get("error") or "ok" for c in bot.slack.calls("conversations.create")]
    assert outcomes == ["ok", "ratelimited", "ok"]
    assert bot.slack.channel(incident.channel_id)["name"] == incident.channel_name


def test_unsigned_and_forged_requests_are_rejected(bot):
    unsigned = bot.driver.slash_command("Forged incident", user=ALICE, channel=GENERAL, sign=False)
    forged = bot.driver.slash_command("Forged incident", user=ALICE, channel=GENERAL, signature="v0=" + "0" * 64)
    assert unsigned.status == 401 and forged.status == 401
    assert bot.incidents() == []


def test_healthz(bot):
    import urllib.request

    with urllib.request.urlopen(f"{bot.url}/healthz") as response:
        assert response.status == 200 and json.loads(response.read()) == {"ok": True, "database": "ok"}


def test_interrupted_provisioning_is_finished_by_the_worker(bot):
    from incidentbot import worker

    bot.slack.set_ratelimit("conversations.create", limit=0, retry_after=30)  # longer than the client waits
    ack = bot.driver.slash_command("Cache cluster down sev1", user=ALICE, channel=GENERAL)
    assert ack.json["text"].startswith("Declaring INC-1")
    reply = wait_for(lambda: bot.replies(ALICE), "the 'will retry' reply")[-1]["text"]
    assert "INC-1 is recorded" in reply and "retry in the background" in reply
    assert bot.incident(1).provisioned_at is None and bot.incident(1).channel_id is None

    bot.slack.clear_ratelimits()
    deps = bot.deps()
    assert worker.reconcile(deps, grace=timedelta(0)) == 1
    incident = bot.incident(1)
    assert incident.provisioned_at and bot.slack.channel(incident.channel_id)["pins"] == [incident.card_ts]
    assert worker.reconcile(deps, grace=timedelta(0)) == 0  # nothing is done twice
    assert len([c for c in bot.slack.calls("conversations.create") if c["ok"]]) == 1


def test_a_declaration_answered_too_late_says_it_went_through(bot):
    # The request spent 4 s in queues before the bot got it: Slack has shown Alice an error.
    ack = bot.driver.slash_command("Checkout API returning 502s sev2", user=ALICE, channel=GENERAL,
                                   timestamp=int(time.time()) - 4)
    assert ack.status == 200
    incident = bot.wait_provisioned(1)
    reply = wait_for(lambda: bot.replies(ALICE), "the declared reply")[-1]["text"]
    assert reply == (":hourglass: Slack may have told you `/incident` failed: I answered it too "
                     "late. It did go through, once; there is no need to type it again.\n"
                     f"INC-1 is declared. Head to <#{incident.channel_id}>.")
    assert [i.number for i in bot.incidents()] == [1]


def test_a_declaration_the_database_held_past_slacks_3_seconds(bot):
    """Storing waited for the database past Slack's 3 s: Bolt gave up on the ack and Slack
    showed an error, but the incident is declared once and the declarer is told so."""
    # 7 s from taking the lock: the command must reach the bot in under 4 s for the ack to be
    # late, whatever the machine's load (SQLite's busy timeout is 15 s).
    with _database_busy(bot.engine, seconds=7):
        ack = bot.driver.slash_command("Payments timing out sev1", user=ALICE, channel=GENERAL)
    assert "Declaring INC-1" not in ack.body  # what Slack got was not the ack
    incident = bot.wait_provisioned(1)
    reply = wait_for(lambda: bot.replies(ALICE), "the declared reply")[-1]["text"]
    assert reply.startswith(":hourglass: Slack may have told you `/incident` failed")
    assert reply.endswith(f"INC-1 is declared. Head to <#{incident.channel_id}>.")
    assert [i.title for i in bot.incidents()] == ["Payments timing out"]


@contextmanager
def _database_busy(engine, *, seconds: float):
    """Hold what a declaration needs to write, from another connection, for ``seconds``:
    SQLite's write lock, or PostgreSQL's lock on taking the next incident number."""
    from incidentbot.core.incidents import _NUMBER_LOCK

    release = threading.Event()
    held = threading.Event()

    def hold():
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _NUMBER_LOCK})
            held.set()
            release.wait(30)
            connection.rollback()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    timer = threading.Timer(seconds, release.set)
    timer.start()
    try:
        yield
    finally:
        timer.join()
        holder.join()

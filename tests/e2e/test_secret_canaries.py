"""Secrets planted in an incident channel never reach the model, the logs or an exported file.

Issue 8 ("attack and bad input"). People paste credentials into incident channels. The bot
stores the channel as it is (its members saw it anyway), but whatever leaves the bot —
the model's prompt, a log line, the postmortem draft in Slack, a timeline, postmortem,
digest or backlog export — must carry placeholders (``<SECRET_1>``, ``<EMAIL_2>``,
``<CUSTOMER_ID_3>``) instead. These tests plant canaries of every kind the redactor knows
(AWS key id and secret, Slack bot/user/app tokens and a webhook, GitHub classic and
fine-grained tokens, a JWT, a private key block, ``password=``, ``Authorization: Bearer``,
a database URL with a password, an ``api_key=`` in a status update, an e-mail address and
a customer id matched by the policy's own pattern) in plain messages, a thread reply, an
edit, a pinned message, a :pushpin: capture, a note and a status update; they run the real
bot against the sandbox Slack and a loopback OpenAI-compatible server and look for every
canary (and pieces of the long ones) wherever something leaves the bot. Each place is
also shown to carry the ordinary words around the canaries and the placeholders, so a
check that looks at the wrong thing cannot pass.

A hand-written set of canaries is planted, then ``ROUNDS`` sets generated from a seed.
``INCIDENTBOT_SOAK=1`` plants 20 generated sets (a number > 1: that many; the policy's
small token budget then makes the model drafter summarise the channel in chunks);
``INCIDENTBOT_CANARY_SEED`` replays another seed.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import re
import string

import pytest
from sqlmodel import Session, select

from drafting.fake_openai import FakeOpenAI, Reply
from incidentbot import logsetup
from incidentbot.cli import main
from incidentbot.core.digest_report import Week
from incidentbot.core.policy import load_policy
from incidentbot.models import ActionItem, Postmortem
from incidentbot.slack import ids
from incidentbot.timeutil import utcnow
from tests_support import ALICE, BOB, CAROL, GENERAL, mrkdwn_texts, wait_for, soak

ROUNDS = soak(on=20)
SEED = int(os.environ.get("INCIDENTBOT_CANARY_SEED", "8"))

# kind → a hand-written value. No value holds a character Slack escapes (& < >), so a
# substring check on any output is exact.
WRITTEN = {
    "aws key id": "AKIAQ7CANARY0AWS1KEY",
    "aws secret": "wJalrXUtnFEMI0K7MDENGbPxRfiCYcanary5ecr0",
    "slack bot token": "xoxb-240981356712-2409813567120-CanaryBotTokenQ0w9",
    "slack user token": "xoxp-240981356712-2409813567121-CanaryUserTokenZ7x",
    "slack app token": "xapp-1-A0CANARY01-2409813567122-canaryapptoken7f3e9b",
    "slack webhook": "https://hooks.slack.com/services/T0CANARY/B0CANARY/CanaryHookSecret42",
    "github token": "ghp_Canary0GithubToken0123456789abcdefAB",
    "github fine-grained token": "github_pat_11CANARY0_CanaryFineGrained0123456789abcdefghij",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnktand0In0.CanarySig0JWTsignature000",
    "private key": "MIIEowIBAAKCAQEAcanaryPrivateKeyBody0q8ZrT5vXa9LmQ2wE7rY1uI3oP6sD",
    "password": "Pl4ntedCanaryPw9",
    "bearer token": "CanaryBearer0Token0abc123XYZ",
    "database password": "CanaryDbPassw0rd",
    "api key": "CanaryStatusApiKey77",
    "e-mail": "canary.oncall@example.org",
    "customer id": "CUST-480213",
}
# The policy's own pattern (docs/configuration.md, [drafting.redact_patterns]), and the
# smallest token budget, so that a soak run's long channel is sent to the model in chunks.
POLICY = '[drafting]\ntoken_budget = 2000\n\n[drafting.redact_patterns]\nCUSTOMER_ID = "CUST-\\\\d{6}"\n'
# Ordinary words planted next to the canaries: they must come through.
CONTEXT = ("orders worker env", "slack app config", "CI runner uses", "failing request had",
           "db.internal:5432/orders", "deploy key was pasted", "report came in from")
# What the redactor leaves in place of a value (drafting/redact.py).
MARKER = re.compile(r"<(SECRET|EMAIL|CUSTOMER_ID)_\d+>")


def generated(rng: random.Random) -> dict[str, str]:
    """One value of every kind, random in the shapes real ones have."""
    def pick(alphabet: str, n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    upper, lower = string.ascii_uppercase + string.digits, string.ascii_lowercase
    alnum = string.ascii_letters + string.digits

    def segment(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = segment(b'{"alg":"HS256","typ":"JWT"}')
    claims = segment(json.dumps({"sub": pick(alnum, 10), "exp": rng.randrange(10**9, 2 * 10**9)}).encode())
    return {
        "aws key id": "AKIA" + pick(upper, 16),
        "aws secret": pick(alnum + "+/", 40),
        "slack bot token": f"xoxb-{pick(string.digits, 12)}-{pick(string.digits, 13)}-{pick(alnum, 24)}",
        "slack user token": f"xoxp-{pick(string.digits, 12)}-{pick(string.digits, 13)}-{pick(alnum, 24)}",
        "slack app token": f"xapp-1-A{pick(upper, 10)}-{pick(string.digits, 13)}-{pick('0123456789abcdef', 64)}",
        "slack webhook": f"https://hooks.slack.com/services/T{pick(upper, 8)}/B{pick(upper, 8)}/{pick(alnum, 24)}",
        "github token": "ghp_" + pick(alnum, 36),
        "github fine-grained token": f"github_pat_{pick(alnum, 22)}_{pick(alnum, 59)}",
        "jwt": f"{header}.{claims}.{segment(rng.randbytes(32))}",
        "private key": "MII" + pick(alnum + "+/", 61),
        "password": pick(alnum + "!#$%*-_.+=@", rng.randrange(10, 20)),
        "bearer token": pick(alnum + "._~+/-", rng.randrange(24, 48)),
        "database password": pick(alnum + "!$*_-.~", rng.randrange(10, 24)),
        "api key": pick(alnum, 32),
        "e-mail": f"{pick(lower, 6)}.{pick(lower, 5)}@{pick(lower, 8)}.{rng.choice(['com', 'io', 'net', 'org'])}",
        "customer id": f"CUST-{pick(string.digits, 6)}",
    }


def rounds() -> list[dict[str, str]]:
    rng = random.Random(SEED)
    return [WRITTEN] + [generated(rng) for _ in range(ROUNDS)]


class Canaries:
    """Every value planted, and how to find one (or a long one's head or tail) in text."""

    def __init__(self, sets: list[dict[str, str]]) -> None:
        self.values = {f"{kind} (set {i})": value for i, values in enumerate(sets) for kind, value in values.items()}

    def leaks(self, text: str) -> list[str]:
        found = []
        for name, value in self.values.items():
            # Long values are also looked for in pieces (the middle and the end; the start
            # may be a public prefix such as https://hooks.slack.com/): a redaction that
            # left part of a token behind leaks it too.
            middle = len(value) // 2
            pieces = [value] + ([value[middle - 6:middle + 6], value[-12:]] if len(value) >= 24 else [])
            found += [f"{name}: {piece!r}" for piece in pieces if piece in text]
        return found


# -- the fake model ------------------------------------------------------------------------


def numbered(prompt: str, words: str) -> list[int]:
    """The numbers the prompt gives the messages containing ``words``."""
    return [int(m.group(1)) for line in prompt.splitlines() if words in line
            for m in [re.match(r"\[(\d+)\]", line)] if m]


class FlakyModel:
    """A server error first (the client retries it), structured output refused on every
    request (the drafter asks again in JSON mode), then answers citing the prompt's numbers."""

    def __init__(self) -> None:
        self.statuses: list[int] = []

    def __call__(self, request: dict) -> Reply:
        reply = self._answer(request)
        self.statuses.append(reply.status)
        return reply

    def _answer(self, request: dict) -> Reply:
        if not self.statuses:
            return Reply(status=500)
        if request["response_format"]["type"] == "json_schema":
            return Reply(status=400)
        system, prompt = (m["content"] for m in request["messages"])
        if system.startswith("You read one part"):  # a chunk of a long channel (map)
            return Reply(content=json.dumps({"events": numbered(prompt, "Root cause"),
                                             "actions": numbered(prompt, "action:")}))
        return Reply(content=json.dumps({
            "summary": "Leaked credentials in the orders worker were rotated.",
            "timeline": [{"id": numbered(prompt, "Root cause")[0],
                          "text": "The orders database credentials were found in a config file"}],
            "action_items": [{"id": numbered(prompt, "action:")[0], "text": "Move the orders secrets to the vault"}],
        }))


@pytest.fixture
def model(monkeypatch):
    with FakeOpenAI(FlakyModel()) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-of-the-bot")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_MODEL", "fake-model")
        yield server


@pytest.fixture
def policy_file(tmp_path, monkeypatch):
    path = tmp_path / "incidentbot.toml"
    path.write_text(POLICY)
    monkeypatch.setenv("INCIDENTBOT_CONFIG", str(path))  # for the command line
    return path


@pytest.fixture
def logs(caplog, monkeypatch):
    """Every record of the whole flow with ``LOG_LEVEL=DEBUG``: the root logger and the
    capture at DEBUG, each library's logger as incidentbot's logging setup leaves it (a
    test that forced slack_sdk to DEBUG would test a configuration the bot never runs)."""
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")  # the commands run below read it too
    saved = {name: logging.getLogger(name).level for name in logsetup.BODY_LOGGERS}
    caplog.set_level(logging.DEBUG)
    logsetup.configure("DEBUG")  # what `incidentbot serve`, `worker` and `run` do with LOG_LEVEL=DEBUG
    yield caplog
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


# -- planting --------------------------------------------------------------------------------


def plant(bot, channel: str, c: dict[str, str]) -> None:
    """One set of canaries in every place a channel keeps text, with ordinary words around."""
    root, _ = bot.driver.user_posts(channel, BOB, f"Found it: the orders worker env has AWS_ACCESS_KEY_ID="
                                                  f"{c['aws key id']} and aws_secret_access_key={c['aws secret']}")
    bot.driver.user_posts(channel, ALICE, f"slack app config: bot {c['slack bot token']} user {c['slack user token']} "
                                          f"socket {c['slack app token']} hook {c['slack webhook']}")
    bot.driver.user_posts(channel, CAROL, f"CI runner uses {c['github token']} and {c['github fine-grained token']}",
                          thread_ts=root["ts"])
    reacted, _ = bot.driver.user_posts(
        channel, BOB, f"the failing request had Authorization: Bearer {c['bearer token']} and session {c['jwt']}")
    bot.driver.user_reacts(channel, reacted["ts"], "pushpin", CAROL)
    url = f"postgres://app_user:{c['database password']}@db.internal:5432/orders"
    pinned, _ = bot.driver.user_posts(
        channel, ALICE, f"Root cause: orders-db URL {url} with password={c['password']} was in a committed config file")
    bot.driver.user_pins(channel, pinned["ts"], ALICE)
    bot.driver.user_posts(channel, BOB, "the deploy key was pasted here:\n-----BEGIN RSA PRIVATE KEY-----\n"
                                        f"{c['private key']}\n-----END RSA PRIVATE KEY-----")
    edit(bot, channel, BOB, "a customer report came in",
         f"a customer report came in from {c['e-mail']} about account {c['customer id']}")
    bot.driver.slash_command(f"update Rotating keys; api_key={c['api key']} is revoked", user=ALICE, channel=channel)
    bot.driver.slash_command(f"note customer {c['customer id']} was told", user=ALICE, channel=channel)
    bot.driver.user_posts(channel, BOB, f"action: rotate {c['aws key id']} and move the orders secrets to the vault")


def edit(bot, channel: str, user: str, before: str, after: str) -> None:
    """A message, then Slack's ``message_changed`` event for its edit."""
    message, _ = bot.driver.user_posts(channel, user, before)
    edit_ts = f"{float(message['ts']) + 0.5:.6f}"
    bot.driver.event({
        "type": "message", "subtype": "message_changed", "hidden": True, "channel": channel, "ts": edit_ts,
        "message": {"type": "message", "user": user, "text": after, "ts": message["ts"],
                    "edited": {"user": user, "ts": edit_ts}},
        "previous_message": {"type": "message", "user": user, "text": before, "ts": message["ts"]},
    })


def resolved_with_canaries(bot) -> tuple[str, Canaries]:
    """INC-1 with every set of canaries planted, resolved, its postmortem drafted and posted."""
    bot.driver.slash_command("Orders worker leaking errors sev2", user=ALICE, channel=GENERAL)
    channel = bot.wait_provisioned(1).channel_id
    bot.driver.slash_command("lead <@U0BOB>", user=ALICE, channel=channel)
    sets = rounds()
    for values in sets:
        plant(bot, channel, values)
    bot.driver.slash_command("resolve Rotated every leaked credential", user=BOB, channel=channel)
    wait_for(lambda: postmortem_posts(bot, channel, "Proposed action items"), "the draft's proposed action items")
    return channel, Canaries(sets)


def stored_postmortem(bot) -> Postmortem:
    with Session(bot.engine) as session:
        return session.exec(select(Postmortem)).one()


def postmortem_posts(bot, channel: str, fragment: str = "") -> list[dict]:
    """The bot's messages from the postmortem plan on (the draft, its proposals, their records)."""
    posted = [m for m in bot.slack.messages(channel) if m.get("bot_id")]
    plan = next((m["ts"] for m in posted if "Postmortem for INC-1" in m.get("text", "")), None)
    return [m for m in posted if plan and float(m["ts"]) >= float(plan) and fragment in m.get("text", "")]


def slack_postmortem(bot, channel: str) -> str:
    """What the bot shows of the postmortem in Slack: its messages (with blocks), the files,
    and the draft and proposals it stored (what Publish posts)."""
    stored = stored_postmortem(bot)
    parts = [m.get("text", "") + "\n" + "\n".join(mrkdwn_texts(m.get("blocks", [])))
             for m in postmortem_posts(bot, channel)]
    parts += [f.get("content", "") for f in bot.slack.files()]
    return "\n".join(parts + [stored.draft_markdown or "", json.dumps(stored.draft_actions)])


def cli(capsys, *argv: str) -> str:
    """``incidentbot <argv>`` as a person runs it; its standard output."""
    capsys.readouterr()
    assert main(list(argv)) == 0, argv
    return capsys.readouterr().out


def check_logs(logs, canaries: Canaries) -> None:
    """No canary in any record (tracebacks included); the capture did see DEBUG lines."""
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in logs.records)
    assert canaries.leaks(text) == []
    assert "sk-test-key-of-the-bot" not in text
    assert {"incidentbot", "slack_bolt"} <= {r.name.split(".")[0] for r in logs.records if r.levelno == logging.DEBUG}
    assert re.search(r"redacted \d+ value\(s\)", text)  # how many were replaced; never which
    # slack_sdk logs whole Web API bodies at DEBUG (conversations.history is the channel).
    assert not [r for r in logs.records if r.name.startswith("slack_sdk") and r.levelno < logging.INFO]


# -- the tests -------------------------------------------------------------------------------


def test_the_model_never_sees_a_canary(make_bot, model, policy_file, logs, database_url, monkeypatch, capsys):
    bot = make_bot(load_policy(policy_file))
    channel, canaries = resolved_with_canaries(bot)
    assert stored_postmortem(bot).draft_model == "fake-model"
    statuses = model.responder.statuses
    assert statuses[:3] == [500, 400, 200] and statuses[-1] == 200
    monkeypatch.setenv("DATABASE_URL", database_url)
    before = len(model.bodies)
    printed = cli(capsys, "postmortem", "draft", "INC-1")  # the command line drafts with the model too
    assert len(model.bodies) > before and "| Drafted by | fake-model |" in printed
    sent = b"\n".join(model.bodies).decode()  # every request, the failed ones and their retries too
    assert canaries.leaks(sent) == []
    for words in CONTEXT:
        assert words in sent
    assert {m.group(1) for m in MARKER.finditer(sent)} == {"SECRET", "EMAIL", "CUSTOMER_ID"}
    shown = slack_postmortem(bot, channel)
    assert "Move the orders secrets to the vault" in shown
    assert canaries.leaks(shown + printed) == []
    check_logs(logs, canaries)


def test_the_offline_draft_and_every_export_are_redacted(make_bot, policy_file, logs, database_url, monkeypatch,
                                                          capsys):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    bot = make_bot(load_policy(policy_file))
    channel, canaries = resolved_with_canaries(bot)
    assert stored_postmortem(bot).draft_model == "offline"
    proposals = postmortem_posts(bot, channel, "Proposed action items")[-1]
    buttons = [(b["block_id"], b["accessory"]["value"]) for b in proposals["blocks"]
               if b.get("accessory", {}).get("action_id") == ids.AI_CONFIRM]
    for block_id, value in buttons:
        bot.driver.block_action(user=ALICE, action_id=ids.AI_CONFIRM, value=value, block_id=block_id,
                                channel=channel, message_ts=proposals["ts"])
    wait_for(lambda: len(action_items(bot)) == len(buttons) > 0, "the confirmed action items")

    shown = slack_postmortem(bot, channel)
    assert "Rotate &lt;SECRET_1&gt; and move" in shown  # escaped, so Slack shows the marker
    draft = next(f["content"] for f in bot.slack.files() if f["name"] == "INC-1-postmortem.md")
    assert "report came in from <EMAIL_" in draft and "about account <CUSTOMER_ID_" in draft
    assert "postgres://<SECRET_" in draft and "@db.internal:5432/orders" in draft
    assert re.search(r"\| Redacted \| \d+ customer_id, \d+ email, \d+ secret \|", draft)

    monkeypatch.setenv("DATABASE_URL", database_url)
    week = Week.containing(utcnow(), bot.policy).label
    exports = {
        **{f"timeline {fmt}": cli(capsys, "timeline", "INC-1", "--format", fmt) for fmt in ("md", "csv", "json")},
        **{f"draft {fmt}": cli(capsys, "postmortem", "draft", "INC-1", "--offline", "--format", fmt)
           for fmt in ("md", "json")},
        **{f"digest {fmt}": cli(capsys, "digest", "--week", week, "--format", fmt)
           for fmt in ("md", "html", "json", "slack")},
        **{f"backlog {fmt}": cli(capsys, "backlog", "--all", "--format", fmt) for fmt in ("md", "csv", "json")},
        "slack": shown,
    }
    assert {name: found for name, text in exports.items() if (found := canaries.leaks(text))} == {}
    for fmt in ("md", "csv", "json"):  # the pinned message, the note and the status update
        timeline = exports[f"timeline {fmt}"]
        assert "@db.internal:5432/orders" in timeline and "api_key=" in timeline and "customer " in timeline
        assert {m.group(1) for m in MARKER.finditer(timeline.replace("&lt;", "<").replace("&gt;", ">"))} == {
            "SECRET", "CUSTOMER_ID"}
    for fmt in ("md", "json"):
        assert "report came in from <EMAIL_" in exports[f"draft {fmt}"]
    assert "Orders worker leaking errors" in exports["digest md"]
    assert "Rotate <SECRET_1> and move the orders secrets to the vault" in exports["backlog json"]
    check_logs(logs, canaries)


def action_items(bot) -> list[ActionItem]:
    with Session(bot.engine) as session:
        return list(session.exec(select(ActionItem)))

"""Request authentication over HTTP: raw requests to the bot's real /slack/events.

Bodies are built exactly as Slack builds them (by the sandbox driver, captured
before sending); the headers are written here, so each test controls the signature,
the timestamp and the bytes on the wire.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import secrets
import time
from urllib.parse import urlsplit

import pytest

from incidentbot.slack import ids
from tests_support import ALICE, GENERAL, wait_for

MUTATING = ("chat.postMessage", "chat.update", "chat.postEphemeral", "views.publish", "views.open",
            "conversations.create", "conversations.invite", "pins.add")


def sign(secret: str, body: bytes, stamp: int) -> str:
    return "v0=" + hmac.new(secret.encode(), b"v0:" + str(stamp).encode() + b":" + body, hashlib.sha256).hexdigest()


def post(bot, body: bytes, content_type: str, headers: dict[str, str]) -> int:
    url = urlsplit(bot.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        connection.request("POST", "/slack/events", body=body, headers={"Content-Type": content_type, **headers})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def signed(secret: str, body: bytes, stamp: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if stamp is None else stamp
    return {"X-Slack-Request-Timestamp": str(stamp), "X-Slack-Signature": sign(secret, body, stamp)}


def capture(bot, build) -> tuple[bytes, str]:
    """The body the driver would send for ``build(driver)``, without sending it."""
    sent = {}

    def keep(body, content_type, **_):
        sent.update(body=body, content_type=content_type)

    original = bot.driver.send
    bot.driver.send = keep
    try:
        build(bot.driver)
    finally:
        bot.driver.send = original
    return sent["body"], sent["content_type"]


def secret_of(bot) -> str:
    return bot.settings.slack_signing_secret.get_secret_value()


# --- the three kinds of request, each with "it did nothing" checks ----------------------

def slash_command(bot):
    body = capture(bot, lambda d: d.slash_command("Forged incident sev1", user=ALICE, channel=GENERAL))
    return body, lambda: bot.incidents() == []


def block_action(bot):
    bot.driver.slash_command("Real incident", user=ALICE, channel=GENERAL)
    incident = bot.wait_provisioned(1)
    wait_for(lambda: bot.replies(ALICE), "the declared reply")
    body = capture(bot, lambda d: d.block_action(user=ALICE, action_id=ids.ACK, channel=incident.channel_id,
                                                 message_ts=incident.card_ts))
    return body, lambda: bot.incident(1).acknowledged_at is None


def event_callback(bot):
    body = capture(bot, lambda d: d.app_home_opened(ALICE))
    return body, lambda: bot.slack.views(user=ALICE) == []


KINDS = pytest.mark.parametrize("kind", [slash_command, block_action, event_callback],
                                ids=["slash_command", "block_actions", "event_callback"])


def assert_nothing_happened(bot, unchanged) -> None:
    time.sleep(0.3)  # anything the bot would do runs within the request or right after it
    assert unchanged()
    assert [c["method"] for c in bot.slack.calls() if c["method"] in MUTATING] == []
    assert len(bot.slack.responses()) == bot.responses_before  # no response_url reply either


def prepared(bot, kind):
    (body, content_type), unchanged = kind(bot)
    bot.slack.clear_calls()
    bot.responses_before = len(bot.slack.responses())
    return body, content_type, unchanged


@KINDS
def test_unsigned_request_is_refused(bot, kind):
    body, content_type, unchanged = prepared(bot, kind)
    assert post(bot, body, content_type, {}) == 401
    assert post(bot, body, content_type, {"X-Slack-Request-Timestamp": str(int(time.time()))}) == 401
    assert_nothing_happened(bot, unchanged)


@KINDS
def test_signature_forged_with_another_secret_is_refused(bot, kind):
    body, content_type, unchanged = prepared(bot, kind)
    assert post(bot, body, content_type, signed(secrets.token_hex(16), body)) == 401
    assert post(bot, body, content_type, {**signed(secret_of(bot), body), "X-Slack-Signature": "v0=" + "0" * 64}) == 401
    assert_nothing_happened(bot, unchanged)


@KINDS
def test_stale_timestamp_is_refused_even_when_correctly_signed(bot, kind):
    body, content_type, unchanged = prepared(bot, kind)
    for age in (60 * 5 + 30, 60 * 60, 86400 * 365):
        assert post(bot, body, content_type, signed(secret_of(bot), body, int(time.time()) - age)) == 401
    assert post(bot, body, content_type, signed(secret_of(bot), body, int(time.time()) + 60 * 10)) == 401  # future
    assert_nothing_happened(bot, unchanged)


@KINDS
def test_body_tampered_after_signing_is_refused(bot, kind):
    body, content_type, unchanged = prepared(bot, kind)
    headers = signed(secret_of(bot), body)
    tampered = body.replace(ALICE.encode(), b"U0MALLORY", 1)
    assert tampered != body
    assert post(bot, tampered, content_type, headers) == 401
    assert post(bot, body + b"&x=1" if content_type.endswith("urlencoded") else body + b" ", content_type, headers) == 401
    assert_nothing_happened(bot, unchanged)


@KINDS
def test_unparseable_tampered_body_is_refused_with_401(bot, kind):
    # web.py checks the signature before Bolt parses the body (a 500 before).
    body, content_type, unchanged = prepared(bot, kind)
    status = post(bot, body[:-1], content_type, signed(secret_of(bot), body))
    assert_nothing_happened(bot, unchanged)
    assert status == 401


@KINDS
def test_correctly_signed_request_is_accepted(bot, kind):
    """The control: the same bytes, signed with the right secret now, do act."""
    body, content_type, unchanged = prepared(bot, kind)
    assert post(bot, body, content_type, signed(secret_of(bot), body)) == 200
    wait_for(lambda: not unchanged(), "the request to take effect")


def test_replayed_slash_command_declares_once(bot):
    body, content_type = capture(bot, lambda d: d.slash_command("Replayed incident sev2", user=ALICE, channel=GENERAL))
    first = post(bot, body, content_type, signed(secret_of(bot), body))
    time.sleep(1.1)  # a fresh timestamp, so the signature differs too
    second = post(bot, body, content_type, signed(secret_of(bot), body))
    third = post(bot, body, content_type, signed(secret_of(bot), body))
    assert (first, second, third) == (200, 200, 200)
    bot.wait_provisioned(1)
    time.sleep(0.5)
    assert [i.number for i in bot.incidents()] == [1]
    assert len([c for c in bot.slack.calls("conversations.create") if c["ok"]]) == 1

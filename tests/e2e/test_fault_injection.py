"""The bot against a flaky Slack: the sandbox injects 429s and 5xx (/_sandbox/faults) and
the gateway's retry handlers must absorb them without doubling any effect."""

from __future__ import annotations

from tests_support import ALICE, GENERAL, INCIDENTS


def test_declare_survives_a_429_and_503s(bot):
    bot.slack.add_fault("conversations.create", "ratelimit", retry_after=1, times=1)
    bot.slack.add_fault("chat.postMessage", "http_error", status=503, times=2)

    ack = bot.driver.slash_command("Payments timing out sev2", user=ALICE, channel=GENERAL)
    assert ack.status == 200
    incident = bot.wait_provisioned(1)

    assert bot.slack.faults()["injected"] == {
        "conversations.create": {"ratelimit": 1}, "chat.postMessage": {"http_error": 2},
    }
    created = bot.slack.calls("conversations.create")
    assert [c["status"] for c in created] == [429, 200]  # retried after Retry-After, once
    assert [c for c in bot.slack.channels() if c["name"].endswith("-payments-timing-out")] == [
        bot.slack.channel(incident.channel_id)
    ]

    cards = [m for m in bot.slack.messages(incident.channel_id) if m.get("bot_id") and not m.get("subtype")]
    assert [c["ts"] for c in cards] == [incident.card_ts]
    assert incident.card_ts in bot.slack.channel(incident.channel_id)["pins"]
    announcements = [m for m in bot.slack.messages(INCIDENTS) if m.get("bot_id") and not m.get("subtype")]
    assert [a["ts"] for a in announcements] == [incident.announcement_ts]

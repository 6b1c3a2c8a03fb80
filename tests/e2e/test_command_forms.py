"""Subcommands that answer with a list or open a form."""

from __future__ import annotations

from tests_support import ALICE, BOB, GENERAL, mrkdwn_texts, wait_for


def declare(bot, title, user=ALICE):
    bot.driver.slash_command(title, user=user, channel=GENERAL)
    return bot.wait_provisioned(len(bot.incidents()))


def test_list_answers_privately_after_the_ack(bot):
    first = declare(bot, "Payments slow sev2")
    second = declare(bot, "Search down sev1")
    ack = bot.driver.slash_command("list", user=BOB, channel=GENERAL)
    assert ack.status == 200 and not ack.body  # the list comes through response_url
    reply = wait_for(lambda: [r for r in bot.slack.responses() if r.get("user") == BOB and r.get("blocks")],
                     "the list")[-1]
    text = " ".join(mrkdwn_texts(reply["blocks"]))
    assert reply["response_type"] == "ephemeral"
    assert text.index("INC-2") < text.index("INC-1")  # newest first
    assert f"<#{first.channel_id}>" in text and f"<#{second.channel_id}>" in text


def test_update_and_resolve_without_text_open_their_forms(bot):
    incident = declare(bot, "Queue stuck sev3")
    bot.driver.slash_command("update", user=ALICE, channel=incident.channel_id)
    update = wait_for(lambda: [v for v in bot.slack.views(user=ALICE) if v["callback_id"] == "incident_update"],
                      "the update form")[-1]
    status = next(b for b in update["blocks"] if b.get("block_id") == "status")
    assert status["element"]["initial_option"]["value"] == "investigating"
    bot.driver.slash_command("resolve", user=ALICE, channel=incident.channel_id)
    wait_for(lambda: [v for v in bot.slack.views(user=ALICE) if v["callback_id"] == "incident_resolve"],
             "the resolve form")
    assert bot.incident(1).resolved_at is None


def test_role_holder_gets_the_responsibilities_by_dm(bot):
    incident = declare(bot, "Latency spike sev2")
    bot.driver.slash_command("role scribe <@U0BOB>", user=ALICE, channel=incident.channel_id)
    dm = wait_for(lambda: [r for r in bot.replies(BOB) if "*Scribe* role" in r.get("text", "")], "the DM")[-1]
    assert dm["channel"].startswith("D") and "What this role asks of you" in dm["text"]
    wait_for(lambda: BOB in bot.slack.channel(incident.channel_id)["members"], "bob to be invited")

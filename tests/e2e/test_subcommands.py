"""The in-channel /incident subcommands, permissions, private incidents, convert."""

from __future__ import annotations

from incidentbot.core.policy import parse_policy
from tests_support import ALICE, BOB, CAROL, GENERAL, INCIDENTS, mrkdwn_texts, shown, wait_for


def declare(bot, title="Queue backlog", severity="sev2", user=ALICE):
    bot.driver.slash_command(f"{title} {severity}", user=user, channel=GENERAL)
    return bot.wait_provisioned(len(bot.incidents()))


def run(bot, incident, text, user=ALICE):
    return bot.driver.slash_command(text, user=user, channel=incident.channel_id)


def posted(bot, channel, fragment):
    return wait_for(lambda: [m for m in bot.slack.messages(channel) if fragment in m.get("text", "")],
                    f"a message with {fragment!r}")


def test_every_subcommand_in_an_incident_channel(bot):
    incident = declare(bot)
    channel = incident.channel_id
    assert run(bot, incident, "ack").status == 200
    posted(bot, channel, "acknowledged the incident")
    run(bot, incident, "lead <@U0BOB|bob>")
    posted(bot, channel, "<@U0BOB> has the *Incident lead* role")
    run(bot, incident, "role comms <@U0CAROL>")
    posted(bot, channel, "<@U0CAROL> has the *Communications* role")
    wait_for(lambda: CAROL in bot.slack.channel(channel)["members"], "carol to be invited")
    run(bot, incident, "status identified")
    posted(bot, channel, "set the status to *Identified*")
    run(bot, incident, "update Found the bad consumer; restarting it")
    posted(bot, channel, "Update on INC-1")
    run(bot, incident, "summary Consumers stuck on a poison message", user=BOB)
    posted(bot, channel, "updated the summary")
    run(bot, incident, "sev 1", user=BOB)
    posted(bot, channel, "changed the severity to *SEV1")
    run(bot, incident, "mitigate", user=BOB)
    posted(bot, channel, "marked the impact as mitigated")
    run(bot, incident, "resolve Poison message removed; consumers caught up", user=BOB)
    posted(bot, channel, "resolved the incident")
    run(bot, incident, "close", user=BOB)
    posted(bot, channel, "closed the incident")
    final = bot.incident(1)
    assert (final.status, final.severity, final.summary) == ("closed", "SEV1", "Consumers stuck on a poison message")
    assert final.closed_at and final.resolved_at and final.acknowledged_at
    after = run(bot, incident, "ack")
    assert "closed" in after.json["text"]


def test_channel_commands_outside_an_incident_channel_say_where(bot):
    answer = bot.driver.slash_command("ack", user=ALICE, channel=GENERAL)
    assert "works inside an incident channel" in answer.json["text"] and "/incident list" in answer.json["text"]


def test_bad_arguments_say_what_to_type(bot):
    incident = declare(bot)
    def answer(text):
        return shown(run(bot, incident, text).json["text"])

    assert "sev1" in answer("sev 9").lower()
    assert "/incident role <role> @person" in answer("role comms")
    assert "lead" in answer("role astronaut <@U0BOB>")
    assert "/incident status <status>" in answer("status")
    assert "investigating" in answer("status sleeping")
    assert "5,000" in answer("summary " + "x" * 5000)


def test_downgrade_needs_a_reason_and_the_lead(make_bot):
    # S0COMMANDERS is the sandbox's "incident-commanders" user group; Carol is in it.
    bot = make_bot(parse_policy('[permissions]\nprivileged_usergroup = "S0COMMANDERS"'))
    incident = declare(bot, severity="sev1")
    run(bot, incident, "lead <@U0BOB>")
    posted(bot, incident.channel_id, "has the *Incident lead* role")
    refused = run(bot, incident, "sev 3 it is minor", user=ALICE)
    assert "lead" in refused.json["text"].lower() and bot.incident(1).severity == "SEV1"
    no_reason = run(bot, incident, "sev 3", user=BOB)
    assert "reason" in no_reason.json["text"].lower()
    run(bot, incident, "sev 3 only internal users affected", user=BOB)
    posted(bot, incident.channel_id, "Reason: only internal users affected")
    # Carol is in the privileged user group: she may, without being the lead.
    run(bot, incident, "sev 4 no customer impact at all", user=CAROL)
    posted(bot, incident.channel_id, "changed the severity to *SEV4")


def test_private_incident_is_never_announced(bot):
    bot.driver.slash_command("", user=BOB, channel=GENERAL)
    form = wait_for(lambda: bot.slack.views(user=BOB), "the declare form")[-1]
    bot.driver.submit_view(form["id"], user=BOB, values={
        "title": {"title": "Customer data in logs"}, "severity": {"severity": "SEV2"},
        "private": {"private": ["private"]}})
    incident = bot.wait_provisioned(1)
    channel = bot.slack.channel(incident.channel_id)
    assert incident.private and channel["is_private"]
    assert BOB in channel["members"] and ALICE not in channel["members"]
    assert "customer-data" not in channel["name"]
    assert incident.announcement_ts is None
    everything_public = " ".join(m.get("text", "") + " ".join(mrkdwn_texts(m.get("blocks", [])))
                                 for m in bot.slack.messages(INCIDENTS) + bot.slack.messages(GENERAL))
    assert "Customer data" not in everything_public
    run(bot, incident, "resolve Logs scrubbed", user=BOB)
    posted(bot, incident.channel_id, "resolved the incident")
    assert not [m for m in bot.slack.messages(INCIDENTS) if m.get("bot_id") and not m.get("subtype")]


def test_security_category_is_private_by_default(bot):
    bot.driver.slash_command("", user=BOB, channel=GENERAL)
    form = wait_for(lambda: bot.slack.views(user=BOB), "the declare form")[-1]
    bot.driver.submit_view(form["id"], user=BOB, values={
        "title": {"title": "Suspicious logins"}, "severity": {"severity": "SEV2"}, "category": {"category": "security"}})
    assert bot.wait_provisioned(1).private


def test_convert_turns_this_channel_into_the_incident_channel(bot):
    created = bot.slack.post_user_message(GENERAL, ALICE, "anyone else seeing 500s?")
    assert created
    answer = bot.driver.slash_command("convert Elevated 500s sev2", user=ALICE, channel=GENERAL)
    assert "Turning this channel" in answer.json["text"]
    incident = bot.wait_provisioned(1)
    assert incident.channel_id == GENERAL and not bot.slack.calls("conversations.create")
    assert incident.card_ts in bot.slack.channel(GENERAL)["pins"]
    again = bot.driver.slash_command("convert Again", user=ALICE, channel=GENERAL)
    assert "already an incident channel" in again.json["text"]


def test_declare_from_a_message_prefills_the_form(bot):
    message = bot.slack.post_user_message(GENERAL, ALICE, "Payments API is timing out for everyone")
    bot.driver.message_shortcut("declare_incident_from_message", user=BOB, channel=GENERAL, message_ts=message["ts"])
    form = wait_for(lambda: bot.slack.views(user=BOB), "the declare form")[-1]
    summary = next(b for b in form["blocks"] if b.get("block_id") == "summary")
    assert summary["element"]["initial_value"].startswith("Payments API is timing out for everyone")
    assert "/archives/C0GENERAL/p" in summary["element"]["initial_value"]


def test_help_inside_an_incident_channel_lists_its_commands_first(bot):
    incident = declare(bot)
    answer = run(bot, incident, "help")
    text = " ".join(mrkdwn_texts(answer.json["blocks"]))
    assert text.index("In an incident channel") < text.index("Anywhere")
    assert "/incident resolve [summary]" in text


def test_restricted_actions_are_configurable(make_bot):
    bot = make_bot(parse_policy('[permissions]\nrestricted_actions = []'))
    incident = declare(bot, severity="sev1")
    run(bot, incident, "lead <@U0BOB>")
    posted(bot, incident.channel_id, "has the *Incident lead* role")
    run(bot, incident, "resolve done", user=ALICE)  # not the lead, but nothing is restricted
    posted(bot, incident.channel_id, "resolved the incident")


def test_a_rate_limited_user_group_lookup_never_delays_the_answer(make_bot):
    """The group is read before the ack: a 429 there is not waited out; the lead rule still applies."""
    bot = make_bot(parse_policy('[permissions]\nprivileged_usergroup = "S0COMMANDERS"'))
    incident = declare(bot, severity="sev1")
    run(bot, incident, "lead <@U0BOB>")
    posted(bot, incident.channel_id, "has the *Incident lead* role")
    bot.slack.set_ratelimit("usergroups.users.list", limit=0, retry_after=30)
    refused = run(bot, incident, "sev 4 minor after all", user=CAROL)  # in the group, but Slack can't say
    assert "lead" in refused.json["text"].lower() and bot.incident(1).severity == "SEV1"
    assert len(bot.slack.calls("usergroups.users.list")) == 1  # asked once, not retried
    run(bot, incident, "sev 4 minor after all", user=BOB)  # the lead may, group or not
    posted(bot, incident.channel_id, "changed the severity to *SEV4")

"""Responding to an incident through the card's buttons and forms, end to end."""

from __future__ import annotations

from sqlmodel import Session, select

from incidentbot.core import timeline
from incidentbot.models import StatusUpdate
from tests_support import ALICE, BOB, CAROL, GENERAL, INCIDENTS, mrkdwn_texts, wait_for


def declare(bot, title="Checkout failing", severity="sev3", user=ALICE):
    bot.driver.slash_command(f"{title} {severity}", user=user, channel=GENERAL)
    number = len(bot.incidents())
    return bot.wait_provisioned(number)


def card(bot, incident):
    return bot.slack.message(incident.channel_id, incident.card_ts)


def click(bot, incident, action_id, user):
    """Press a button on the incident card as it is in Slack right now."""
    message = card(bot, incident)
    button = next(e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == action_id)
    return bot.driver.block_action(user=user, action_id=action_id, value=button["value"],
                                   channel=incident.channel_id, message_ts=incident.card_ts), button["value"]


def lines(bot, channel):
    """What the bot posted in a channel (text of its own, non-system messages)."""
    return [m.get("text", "") for m in bot.slack.messages(channel) if m.get("bot_id") and not m.get("subtype")]


def thread(bot, incident):
    return [m for m in bot.slack.messages(INCIDENTS) if m.get("thread_ts") == incident.announcement_ts
            and m["ts"] != incident.announcement_ts]


def wait_line(bot, channel, fragment):
    return wait_for(lambda: [t for t in lines(bot, channel) if fragment in t], f"a line with {fragment!r}")


def open_form(bot, user, callback_id):
    return wait_for(lambda: [v for v in bot.slack.views(user=user) if v["callback_id"] == callback_id
                             and not v.get("closed")], f"the {callback_id} form")[-1]


def test_full_incident_through_the_card(bot):
    incident = declare(bot)
    click(bot, incident, "incident_ack", BOB)
    wait_line(bot, incident.channel_id, "acknowledged the incident")
    assert bot.incident(1).acknowledged_at is not None

    click(bot, incident, "incident_take_lead", BOB)
    wait_line(bot, incident.channel_id, "has the *Incident lead* role")
    assert "*Incident lead*\n<@U0BOB>" in " ".join(mrkdwn_texts(card(bot, incident)["blocks"]))
    dm = wait_for(lambda: [r for r in bot.replies(BOB) if "You have the *Incident lead* role" in r.get("text", "")],
                  "the lead's DM")
    assert "What this role asks of you" in dm[0]["text"]

    click(bot, incident, "incident_open_update", BOB)
    form = open_form(bot, BOB, "incident_update")
    bot.driver.submit_view(form["id"], user=BOB, values={
        "status": {"status": "identified"}, "text": {"text": "Bad config pushed at 14:02; rolling back."},
        "impact": {"impact": "EU checkouts fail"}, "next_update": {"next_update": "30"}})
    wait_line(bot, incident.channel_id, "Update on INC-1")
    wait_for(lambda: any("rolling back" in " ".join(mrkdwn_texts(m.get("blocks", []))) for m in thread(bot, incident)),
             "the update under the announcement")
    assert bot.incident(1).status == "identified"

    click(bot, incident, "incident_open_severity", BOB)
    form = open_form(bot, BOB, "incident_severity")
    bot.driver.submit_view(form["id"], user=BOB, values={"severity": {"severity": "SEV1"}})
    wait_line(bot, incident.channel_id, "changed the severity to *SEV1")
    # The announcement is brought up to date after the line is posted.
    wait_for(lambda: "SEV1" in bot.slack.message(INCIDENTS, incident.announcement_ts)["text"],
             "the announcement to show SEV1")

    click(bot, incident, "incident_mitigate", BOB)
    wait_line(bot, incident.channel_id, "marked the impact as mitigated")

    click(bot, incident, "incident_open_resolve", BOB)
    form = open_form(bot, BOB, "incident_resolve")
    bot.driver.submit_view(form["id"], user=BOB, values={"summary": {"summary": "Config rolled back."}})
    wait_line(bot, incident.channel_id, "resolved the incident")
    final = bot.incident(1)
    assert final.resolved_at and final.mitigated_at and final.resolution == "Config rolled back."
    [buttons] = [b for b in card(bot, incident)["blocks"] if b["type"] == "actions"]  # only follow-ups left
    assert [e["action_id"] for e in buttons["elements"]] == ["incident_add_action_item"]
    wait_for(lambda: "resolved" in " ".join(m.get("text", "") for m in thread(bot, incident)), "the resolution reply")
    replies = " ".join(m.get("text", "") for m in thread(bot, incident))
    assert "severity" in replies and "mitigated" in replies
    with Session(bot.engine) as session:
        kinds = [e.kind for e in timeline.events(session, final)]
    assert {"declared", "acknowledged", "role_assigned", "update_posted", "severity_changed",
            "mitigated", "resolved"} <= set(kinds)


def test_second_click_and_stale_card_answer_with_the_current_state(bot):
    incident = declare(bot)
    first, stale_value = click(bot, incident, "incident_ack", BOB)
    wait_line(bot, incident.channel_id, "acknowledged the incident")
    # The same (now out of date) button pressed again, as a double click would.
    bot.driver.block_action(user=CAROL, action_id="incident_ack", value=stale_value,
                            channel=incident.channel_id, message_ts=incident.card_ts)
    answer = wait_for(lambda: [r for r in bot.replies(CAROL) if "already acknowledged" in r.get("text", "")],
                      "the already-acknowledged answer")
    assert "INC-1 is now Investigating" in answer[-1]["text"]
    assert len([t for t in lines(bot, incident.channel_id) if "acknowledged the incident" in t]) == 1


def test_form_submitted_twice_posts_once(bot):
    incident = declare(bot)
    click(bot, incident, "incident_open_update", ALICE)
    form = open_form(bot, ALICE, "incident_update")
    values = {"status": {"status": "investigating"}, "text": {"text": "Looking at the logs"}}
    first = bot.driver.submit_view(form["id"], user=ALICE, values=values)
    wait_line(bot, incident.channel_id, "Update on INC-1")
    assert bot.driver.replay(first).status == 200  # the same submission delivered again
    with Session(bot.engine) as session:
        assert len(session.exec(select(StatusUpdate)).all()) == 1


def test_resolve_form_requires_a_summary(bot):
    incident = declare(bot)
    click(bot, incident, "incident_open_resolve", ALICE)
    form = open_form(bot, ALICE, "incident_resolve")
    response = bot.driver.submit_view(form["id"], user=ALICE, values={"summary": {"summary": "   "}})
    assert response.json["response_action"] == "errors" and "summary" in response.json["errors"]
    assert bot.incident(1).resolved_at is None

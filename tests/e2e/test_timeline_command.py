"""/incident timeline, its pages, and editing milestones from it (times in each person's timezone)."""

from __future__ import annotations

from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

from sqlmodel import Session

from incidentbot.core import timeline
from tests_support import ALICE, BOB, GENERAL, mrkdwn_texts, wait_for

ALICE_ZONE = ZoneInfo("Europe/Copenhagen")  # seeded profile timezones
BOB_ZONE = ZoneInfo("America/New_York")


def declare(bot):
    bot.driver.slash_command("Disk pressure on db-2 sev2", user=ALICE, channel=GENERAL)
    return bot.wait_provisioned(1)


def private_to(bot, channel, user, fragment):
    """The command's private answer (sent to its response_url)."""
    return wait_for(lambda: [r for r in bot.slack.responses()
                             if r.get("user") == user and fragment in (r.get("text") or "")],
                    f"a private answer for {user} with {fragment!r}")[-1]


def test_timeline_is_private_and_in_the_readers_zone(bot):
    incident = declare(bot)
    bot.driver.slash_command("note Saw IO wait at 90%", user=ALICE, channel=incident.channel_id)
    wait_for(lambda: [m for m in bot.slack.messages(incident.channel_id) if "IO wait" in m.get("text", "")], "the note")
    bot.driver.slash_command("timeline", user=BOB, channel=incident.channel_id)
    shown = private_to(bot, incident.channel_id, BOB, "Timeline of INC-1")
    text = " ".join(mrkdwn_texts(shown["blocks"]))
    declared_local = incident.declared_at.astimezone(BOB_ZONE)
    assert f"{declared_local:%Y-%m-%d %H:%M} {declared_local.tzname()}" in text
    assert "times in America/New_York" in text and "Saw IO wait at 90%" in text
    assert shown["response_type"] == "ephemeral"
    assert not [m for m in bot.slack.messages(incident.channel_id) if "Timeline of" in m.get("text", "")]


def test_pages_move_with_the_buttons(bot):
    incident = declare(bot)
    from incidentbot.core import incidents
    from incidentbot.db import session_scope

    with session_scope(bot.engine) as session:
        stored = incidents.get(session, incident.id)
        for i in range(60):
            timeline.record(session, stored, "note", f"step {i}", actor=ALICE,
                            occurred_at=incident.declared_at + timedelta(minutes=i + 1))
    bot.driver.slash_command("timeline", user=ALICE, channel=incident.channel_id)
    first = private_to(bot, incident.channel_id, ALICE, "page 1 of 2")
    later = next(e for e in first["blocks"][-1]["elements"] if e["text"]["text"] == "Later ▶")
    bot.driver.block_action(user=ALICE, action_id="timeline_page", value=later["value"], channel=incident.channel_id,
                            ephemeral_blocks=first["blocks"])
    second = wait_for(lambda: [r for r in bot.slack.responses() if "page 2 of 2" in (r.get("text") or "")], "page 2")[-1]
    assert second["replace_original"] and "step 59" in " ".join(mrkdwn_texts(second["blocks"]))


def open_milestones(bot, incident, user):
    bot.driver.slash_command("timeline", user=user, channel=incident.channel_id)
    shown = private_to(bot, incident.channel_id, user, "Timeline of INC-1")
    edit = next(e for e in shown["blocks"][-1]["elements"] if e["action_id"] == "timeline_open_milestones")
    bot.driver.block_action(user=user, action_id="timeline_open_milestones", value=edit["value"],
                            channel=incident.channel_id, ephemeral_blocks=shown["blocks"])
    return wait_for(lambda: [v for v in bot.slack.views(user=user) if v["callback_id"] == "incident_milestones"
                             and not v.get("closed")], "the milestones form")[-1]


def test_milestones_are_edited_in_the_users_timezone(bot):
    incident = declare(bot)
    form = open_milestones(bot, incident, ALICE)
    started = (incident.declared_at - timedelta(minutes=42)).replace(second=0, microsecond=0)
    local = started.astimezone(ALICE_ZONE)
    response = bot.driver.submit_view(form["id"], user=ALICE, values={
        "started_at_date": {"started_at_date": local.date().isoformat()},
        "started_at_time": {"started_at_time": local.strftime("%H:%M")},
        "detection": {"detection": "customer"}})
    assert response.status == 200 and not response.body
    wait_for(lambda: [m for m in bot.slack.messages(incident.channel_id) if "edited the milestones" in m.get("text", "")],
             "the milestones line")
    stored = bot.incident(1)
    assert stored.started_at == started.astimezone(timezone.utc) and stored.detection == "customer"
    with Session(bot.engine) as session:
        assert "milestones_edited" in [e.kind for e in timeline.events(session, stored)]


def test_out_of_order_milestones_are_refused_on_the_field(bot):
    incident = declare(bot)
    form = open_milestones(bot, incident, BOB)
    too_early = (incident.declared_at - timedelta(hours=3)).astimezone(BOB_ZONE)
    response = bot.driver.submit_view(form["id"], user=BOB, values={
        "mitigated_at_date": {"mitigated_at_date": too_early.date().isoformat()},
        "mitigated_at_time": {"mitigated_at_time": too_early.strftime("%H:%M")}})
    assert response.json["response_action"] == "errors"
    assert "Mitigated" in response.json["errors"]["mitigated_at_date"]
    assert "Declared" in response.json["errors"]["mitigated_at_date"]
    assert bot.incident(1).mitigated_at is None

"""The demo's response to INC-1: acknowledge, lead, updates, severity, a nudge,
mitigation and resolution, each shown as people would see it in Slack."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from incidentbot.core import timeline
from incidentbot.core.metrics import durations
from incidentbot.models import Incident
from incidentbot.sandbox.waiting import wait_for
from incidentbot.slack import nudging
from incidentbot.slack.app import build_deps

if TYPE_CHECKING:
    from incidentbot.demo import Demo

ALICE, BOB = "U0ALICE", "U0BOB"


def respond_to_incident(demo: "Demo", incident: Incident) -> None:
    channel, announcements = incident.channel_id, incident.announcement_channel_id

    def step(title: str, actions: list[str], do, expect: int = 1, announced: int = 0, extra=()) -> None:
        here, there = demo.count(channel), demo.count(announcements)
        do()
        seen = [(f"#{incident.channel_name}:", demo.new_lines(channel, here, expect))]
        if announced:
            seen.append(("#incidents, in the announcement's thread:", demo.new_lines(announcements, there, announced)))
        demo.step(title, actions, seen + list(extra))

    def acknowledge_and_lead() -> None:
        demo.click(incident, "incident_ack", BOB)
        _wait_line(demo, channel, "acknowledged")  # the next click must see the refreshed card
        demo.click(incident, "incident_take_lead", BOB)

    step("Bob acknowledges and takes the lead",
         ["bob presses *Acknowledge* on the card", "bob presses *I'm the lead*"], acknowledge_and_lead, expect=2)
    dm = [r for r in demo.sandbox.private_replies(BOB) if "You have the" in r.get("text", "")]
    demo.step("Bob is told what a lead does", ["(a direct message from the app)"],
              [("bob's DM:", demo.renderer()._wrapped(dm[-1]["text"]))] if dm else [])

    def post_update() -> None:
        demo.click(incident, "incident_open_update", BOB)
        form = demo.form(BOB, "incident_update")
        demo.driver.submit_view(form["id"], user=BOB, values={
            "status": {"status": "identified"},
            "text": {"text": "A config change at 14:02 pointed checkout at the old payments cluster. Rolling it back."},
            "impact": {"impact": "About 30% of EU checkouts fail with a 502."},
            "next_update": {"next_update": "30"}})

    step("Bob posts a status update", ["bob presses *Post update* and fills in the form"], post_update,
         expect=2, announced=1)
    def mark_for_timeline() -> None:
        message, _ = demo.driver.user_posts(channel, ALICE, "Found it: the 14:02 config change points checkout "
                                                            "at the old payments cluster.")
        demo.driver.user_pins(channel, message["ts"], BOB)
        wait_for(lambda: _timeline_has(demo, "old payments cluster"), "the captured message")

    step("Alice finds the cause; Bob pins it, so it lands on the timeline",
         ["alice posts in the channel", "bob pins her message"], mark_for_timeline, expect=2)

    def escalate() -> None:
        demo.driver.slash_command("sev 1", user=BOB, channel=channel)
        _wait_line(demo, channel, "changed the severity")
        demo.driver.slash_command("role comms <@U0CAROL>", user=BOB, channel=channel)

    step("The impact is bigger than thought", ["bob: /incident sev 1", "bob: /incident role comms @carol"],
         escalate, expect=2, announced=1)
    deps = build_deps(demo.settings, policy=demo.policy, engine=demo.engine)
    step("Half an hour without an update: the worker nudges",
         ["(the worker's sweep runs; the clock is moved 31 minutes on)"],
         lambda: nudging.send_due(deps, now=_last_update(demo) + timedelta(minutes=31)))

    def resolve() -> None:
        demo.click(incident, "incident_mitigate", BOB)
        _wait_line(demo, channel, "mitigated")
        demo.click(incident, "incident_open_resolve", BOB)
        form = demo.form(BOB, "incident_resolve")
        demo.driver.submit_view(form["id"], user=BOB, values={
            "summary": {"summary": "Config rolled back at 14:31; error rate back to baseline since 14:35."}})

    step("Mitigated, then resolved", ["bob presses *Mitigated*", "bob presses *Resolve* and writes a summary"],
         resolve, expect=2, announced=2)
    posted = demo.sandbox.messages(channel)
    after = 1 + max(i for i, m in enumerate(posted) if "resolved the incident" in m.get("text", ""))
    # Plan (with buttons), the .ics invite, the draft file, the review buttons.
    demo.step("A SEV1 needs a postmortem: scheduled by policy and drafted from the channel",
              ["(the bot, right after the resolution)"],
              [(f"#{incident.channel_name}:", demo.new_lines(channel, after, 4))])
    demo.step("The card, as it is now pinned", [], [
        (f"#{incident.channel_name} (pinned card):",
         demo.renderer().message(demo.sandbox.message(channel, incident.card_ts)))])
    show_timeline_and_metrics(demo, incident)


def show_postmortem(demo: "Demo", incident: Incident) -> None:
    """The draft as it was posted in the channel."""
    draft = next(f for f in demo.sandbox.files() if f["name"] == f"{incident.reference}-postmortem.md")
    demo.step(f"The drafted postmortem of {incident.reference} (the Markdown file in its channel)", [],
              [(draft["name"] + ":", draft["content"].splitlines())])


def show_timeline_and_metrics(demo: "Demo", incident: Incident) -> None:
    answer = _timeline(demo, incident)
    _record_start_of_impact(demo, incident, answer)
    answer = _timeline(demo, incident)
    numbers = durations(demo.incident(incident.number))
    lines = [f"{label:<20} {_minutes(value)}" for label, value in (
        ("time to acknowledge", numbers.time_to_acknowledge), ("time to mitigate", numbers.time_to_mitigate),
        ("time to resolve", numbers.time_to_resolve), ("time to detect", numbers.time_to_detect))]
    demo.step("Alice reads the timeline (only she sees it, in her timezone)", [
        "alice: /incident timeline",
        "alice presses *Edit milestones*: impact started 25 min before the declaration, a customer told us 12 min "
        "before it"], [
        ("Only alice sees:", demo.renderer().blocks(answer["blocks"])),
        (f"{incident.reference}'s numbers (core/metrics.py, from the stored milestones):", lines)])


def _timeline(demo: "Demo", incident: Incident) -> dict:
    before = len(demo.sandbox.responses())
    demo.driver.slash_command("timeline", user=ALICE, channel=incident.channel_id)
    return wait_for(lambda: demo.sandbox.responses()[before:], "the timeline")[-1]


def _record_start_of_impact(demo: "Demo", incident: Incident, shown: dict) -> None:
    """The milestones form, filled in Alice's own timezone (Europe/Copenhagen)."""
    edit = next(e for e in shown["blocks"][-1]["elements"] if e["action_id"] == "timeline_open_milestones")
    demo.driver.block_action(user=ALICE, action_id=edit["action_id"], value=edit["value"],
                             channel=incident.channel_id, ephemeral_blocks=shown["blocks"])
    form = demo.form(ALICE, "incident_milestones")
    zone = ZoneInfo("Europe/Copenhagen")
    started = (incident.declared_at - timedelta(minutes=25)).astimezone(zone)
    detected = (incident.declared_at - timedelta(minutes=12)).astimezone(zone)
    demo.driver.submit_view(form["id"], user=ALICE, values={
        "started_at_date": {"started_at_date": started.date().isoformat()},
        "started_at_time": {"started_at_time": started.strftime("%H:%M")},
        "detected_at_date": {"detected_at_date": detected.date().isoformat()},
        "detected_at_time": {"detected_at_time": detected.strftime("%H:%M")},
        "detection": {"detection": "customer"}})
    wait_for(lambda: demo.incident(incident.number).started_at, "the recorded start of impact")


def _minutes(value) -> str:
    return "–" if value is None else f"{value.total_seconds() / 60:.1f} min"


def _timeline_has(demo: "Demo", fragment: str) -> bool:
    with Session(demo.engine) as session:
        incident = session.exec(select(Incident).where(Incident.number == 1)).one()
        return any(fragment in event.text for event in timeline.events(session, incident))


def _wait_line(demo: "Demo", channel: str, fragment: str) -> None:
    wait_for(lambda: any(fragment in m.get("text", "") for m in demo.sandbox.messages(channel)), fragment)


def _last_update(demo: "Demo"):
    return wait_for(lambda: demo.incident(1).last_update_at, "the stored update")

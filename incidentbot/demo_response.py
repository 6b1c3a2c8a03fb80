"""The demo's response to INC-1: acknowledge, lead, updates, severity, a nudge,
mitigation and resolution, each shown as people would see it in Slack."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from incidentbot.models import Incident
from incidentbot.sandbox.waiting import wait_for
from incidentbot.slack import nudging
from incidentbot.slack.app import build_deps

if TYPE_CHECKING:
    from incidentbot.demo import Demo

BOB = "U0BOB"


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
    demo.step("The card, as it is now pinned", [], [
        (f"#{incident.channel_name} (pinned card):",
         demo.renderer().message(demo.sandbox.message(channel, incident.card_ts)))])


def _wait_line(demo: "Demo", channel: str, fragment: str) -> None:
    wait_for(lambda: any(fragment in m.get("text", "") for m in demo.sandbox.messages(channel)), fragment)


def _last_update(demo: "Demo"):
    return wait_for(lambda: demo.incident(1).last_update_at, "the stored update")

"""The demo's follow-up work: action items from two incidents roll into one backlog item
whose priority score rises when the risk comes back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from incidentbot.models import Incident
from incidentbot.sandbox.waiting import wait_for
from incidentbot.slack.parsing import readable

if TYPE_CHECKING:
    from incidentbot.demo import Demo

ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
GENERAL = "C0GENERAL"
FIRST = "Add an alert on the 502 rate of upstream calls from the checkout API"
SECOND = "Alert when the checkout API upstream returns 502s"


def roll_up_action_items(demo: Demo, first: Incident, again: Incident) -> None:
    _add(demo, first, BOB, f"{FIRST} <@{BOB}|bob> due in 3 weeks",
         f"Bob records a follow-up in #{first.channel_name}")
    demo.step("Alice looks at the reliability backlog", ["alice in #general: /incident backlog"],
              [("Only alice sees:", _backlog(demo))])
    _add(demo, again, CAROL, SECOND, f"The same risk shows up in {again.reference}")
    demo.step("The risk came back: the backlog item's score rises", ["alice in #general: /incident backlog"],
              [("Only alice sees:", _backlog(demo))])


def _add(demo: Demo, incident: Incident, user: str, text: str, title: str) -> None:
    before = demo.count(incident.channel_id)
    demo.driver.slash_command(f"action {text}", user=user, channel=incident.channel_id)
    name = demo.renderer().user(user)
    demo.step(title, [f"{name}: /incident action {readable(text)}"],
              [(f"#{incident.channel_name}:", demo.new_lines(incident.channel_id, before))])


def _backlog(demo: Demo) -> list[str]:
    before = len(demo.sandbox.responses())
    demo.driver.slash_command("backlog", user=ALICE, channel=GENERAL)
    answer = wait_for(lambda: demo.sandbox.responses()[before:], "the backlog")[-1]
    return demo.renderer().blocks(answer.get("blocks") or []) or demo.renderer()._wrapped(answer.get("text", ""))

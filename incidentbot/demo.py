"""``incidentbot demo``: a scripted incident through the real bot, against the sandbox.

Starts the sandbox Slack, migrates a temporary SQLite database, serves the bot's
real WSGI app on loopback, and drives it with correctly signed Slack requests.
Then prints what people would have seen in Slack. No workspace, no API key.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, TextIO

from sqlmodel import Session, select

from incidentbot.demo_backlog import roll_up_action_items
from incidentbot.demo_digest import post_the_digest
from incidentbot.demo_response import respond_to_incident, show_postmortem
from incidentbot.models import Incident
from incidentbot.sandbox.client import SandboxClient
from incidentbot.sandbox.driver import SlackDriver
from incidentbot.sandbox.waiting import wait_for
from incidentbot.sandboxed import bot_on_sandbox
from incidentbot.templating import render
from incidentbot.transcript import Renderer

ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
GENERAL = "C0GENERAL"


class Demo:
    def __init__(self, sandbox: SandboxClient, driver: SlackDriver, engine, settings, policy) -> None:
        self.sandbox, self.driver, self.engine = sandbox, driver, engine
        self.settings, self.policy = settings, policy
        self.steps: list[dict[str, Any]] = []

    def renderer(self) -> Renderer:
        return Renderer(self.sandbox.users(), self.sandbox.channels())

    def step(self, title: str, actions: list[str], seen: list[tuple[str, list[str]]]) -> None:
        self.steps.append({"title": title, "actions": actions, "seen": seen})

    def ack_lines(self, response) -> list[str]:
        body = response.json or {}
        if body.get("blocks"):
            return self.renderer().blocks(body["blocks"])
        return self.renderer()._wrapped(body.get("text") or "(the form opens)")

    def incident(self, number: int) -> Incident:
        with Session(self.engine) as session:
            return session.exec(select(Incident).where(Incident.number == number)).one()

    def wait_provisioned(self, number: int) -> Incident:
        return wait_for(lambda: self._provisioned(number), f"INC-{number} to get its channel")

    def _provisioned(self, number: int) -> Incident | None:
        with Session(self.engine) as session:
            found = session.exec(select(Incident).where(Incident.number == number)).first()
            return found if found and found.provisioned_at else None

    def replies_to(self, user: str, count: int) -> list[dict]:
        """The response_url / ephemeral replies a user has received (waits for ``count``)."""
        def ready() -> list[dict] | None:
            found = self.sandbox.private_replies(user)
            return found if len(found) >= count else None
        return wait_for(ready, f"{count} replies to {user}")

    def click(self, incident: Incident, action_id: str, user: str) -> None:
        """Press a button on the incident card as it is in Slack right now."""
        card = self.sandbox.message(incident.channel_id, incident.card_ts)
        button = next(e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]
                      if e["action_id"] == action_id)
        self.driver.block_action(user=user, action_id=action_id, value=button["value"],
                                 channel=incident.channel_id, message_ts=incident.card_ts)

    def form(self, user: str, callback_id: str) -> dict:
        return wait_for(lambda: next((v for v in reversed(self.sandbox.views(user=user))
                                      if v["callback_id"] == callback_id and not v.get("closed")), None),
                        f"the {callback_id} form")

    def count(self, channel_id: str) -> int:
        return len(self.sandbox.messages(channel_id))

    def new_lines(self, channel_id: str, since: int, expect: int = 1) -> list[str]:
        """The ``expect`` messages posted after the first ``since`` ones, rendered (waits for them).

        Exactly those: the bot may already be posting what the next step shows.
        """
        wait_for(lambda: self.count(channel_id) >= since + expect, f"{expect} new messages in {channel_id}")
        return self.channel_lines(channel_id, self.sandbox.messages(channel_id)[since:since + expect])

    def channel_lines(self, channel_id: str, messages: list[dict] | None = None) -> list[str]:
        renderer = self.renderer()
        lines: list[str] = []
        for message in messages if messages is not None else self.sandbox.messages(channel_id):
            if message.get("subtype") in {"channel_join", "channel_purpose", "channel_topic"}:
                lines.append(f"· {renderer.mrkdwn(message.get('text', ''))}")
                continue
            if message.get("subtype") == "file_share" or message.get("files"):
                names = ", ".join(f.get("name", "?") for f in message.get("files", []))
                lines.append(f"{renderer.user(message.get('user'))} shared a file: {names}")
                continue
            lines += renderer.message(message)
        return lines


def run_demo(out: TextIO) -> int:
    with bot_on_sandbox() as bot:
        demo = Demo(bot.slack, bot.driver, bot.engine, bot.settings, bot.policy)
        _script(demo, bot.policy)
        out.write(render("demo_transcript.txt.j2", steps=demo.steps, summary=_summary(demo)))
    return 0


def _script(demo: Demo, policy) -> None:
    help_ack = demo.driver.slash_command("help", user=ALICE, channel=GENERAL)
    demo.step("Alice asks what the bot can do", ["alice in #general: /incident help"],
              [("Only alice sees:", demo.ack_lines(help_ack))])

    title = "Checkout API returning 502s for EU customers"
    declare_ack = demo.driver.slash_command(f"{title} sev2", user=ALICE, channel=GENERAL)
    first = demo.wait_provisioned(1)
    replies = demo.replies_to(ALICE, 1)
    demo.step("Alice declares an incident in one line", [f"alice in #general: /incident {title} sev2"], [
        ("Only alice sees, at once:", demo.ack_lines(declare_ack)),
        ("…and when the channel is ready:", demo.renderer()._wrapped(replies[-1].get("text", ""))),
        (f"#{first.channel_name} (new channel):", demo.channel_lines(first.channel_id)),
        ("#incidents:", demo.channel_lines(first.announcement_channel_id)),
    ])

    respond_to_incident(demo, first)
    _declare_with_form(demo, policy)
    third = _bad_input(demo)
    roll_up_action_items(demo, first, third)
    show_postmortem(demo, first)
    post_the_digest(demo)  # the demo ends with the week's digest


def _declare_with_form(demo: Demo, policy) -> None:
    demo.driver.slash_command("", user=BOB, channel=GENERAL)
    view = demo.form(BOB, "declare_incident")
    form = Renderer([], []).blocks(view["blocks"])
    service = policy.services[0].name if policy.services else None
    values: dict[str, dict[str, object]] = {
        "title": {"title": "Search returns no results for quoted queries"},
        "severity": {"severity": "SEV3"},
        "category": {"category": "code-deploy"},
        "summary": {"summary": "Since the 14:05 deploy, queries with quotes return nothing. Unquoted queries work."},
    }
    if service:
        values["services"] = {"services": [service]}
    demo.driver.submit_view(view["id"], user=BOB, values=values)
    second = demo.wait_provisioned(2)
    demo.step("Bob uses the declare form", ["bob in #general: /incident", "bob fills in the form and presses Declare"], [
        ("bob sees a form:", form),
        (f"#{second.channel_name} (new channel):", demo.channel_lines(second.channel_id)),
        ("bob gets a direct message from the app (the bot is not in #general):", demo.renderer()._wrapped(demo.replies_to(BOB, 1)[-1].get("text", ""))),
    ])


def _bad_input(demo: Demo) -> Incident:
    typo = demo.driver.slash_command("stauts", user=CAROL, channel=GENERAL)
    too_long = demo.driver.slash_command("declare " + "x" * 5000, user=CAROL, channel=GENERAL)
    sneaky = "Webhooks failing <!channel> see <https://evil.example|the runbook>"
    demo.driver.slash_command(f"declare {sneaky}", user=CAROL, channel=GENERAL)
    third = demo.wait_provisioned(3)
    raw = demo.sandbox.messages(third.announcement_channel_id)[-1]["text"]
    demo.step("Carol makes mistakes; nothing breaks, nobody is pinged", [
        "carol: /incident stauts",
        "carol: /incident declare xxxx… (5,000 characters)",
        f"carol: /incident declare {sneaky}",
    ], [
        ("Only carol sees (typo):", demo.ack_lines(typo)),
        ("Only carol sees (too long):", demo.ack_lines(too_long)),
        ("#incidents shows the title as people read it, escaped (raw text sent to Slack below):",
         demo.channel_lines(third.announcement_channel_id)[-4:] + [f"raw: {raw}"]),
    ])
    return third


def _summary(demo: Demo) -> list[str]:
    with Session(demo.engine) as session:
        rows = session.exec(select(Incident).order_by(Incident.number)).all()
    lines = [f"{i.reference}  {i.severity}  {i.status:<13} #{i.channel_name}" for i in rows]
    calls = Counter(c["method"] for c in demo.sandbox.calls())
    lines.append("Slack Web API calls made by the bot: " + ", ".join(f"{m} ×{n}" for m, n in sorted(calls.items())))
    return lines

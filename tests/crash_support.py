"""Crash-safety harness (tests/e2e/test_crash_safety.py): ``incidentbot serve`` as real
processes that a test SIGKILLs, and what a person would see afterwards, checked.

``ServePool`` keeps one process serving and the next ones already booting, so a restart
after a kill rarely waits for a boot. Web processes hold no state of their own (see
docs/architecture.md), so to the database and to Slack a process that booted while its
predecessor was still alive is a restarted one.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from incidentbot.core import incidents as core_incidents
from incidentbot.core import postmortems
from incidentbot.core.policy import Policy
from incidentbot.models import Incident, Postmortem, StatusUpdate, TimelineEvent
from incidentbot.sandbox.client import SandboxClient
from incidentbot.sandbox.constants import BOT_USER_ID
from incidentbot.slack.blocks import severity_label, status_label
from tests_support import INCIDENTS, mrkdwn_texts, wait_for

REPO = Path(__file__).resolve().parent.parent
# Variables of the test environment that must not leak into the bot's configuration.
_NOT_INHERITED = ("SLACK_", "OPENAI_", "INCIDENTBOT_", "GITHUB_", "JIRA_")
_NOT_INHERITED_NAMES = {"DATABASE_URL", "PORT", "HOST", "WEB_CONCURRENCY", "LOG_LEVEL", "PYTHONDONTWRITEBYTECODE"}


# The shipped policy, with review slots around the clock: every resolve then proposes a
# meeting (and sends its .ics and DMs) whatever the weekday, however many postmortems a
# soak run schedules.
POLICY = """
[business_hours]
start = "00:00"
end = "23:45"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

[postmortems]
meeting_minutes = 15
"""


def serve_env(*, api_url: str, database_url: str, secret: str, policy: Path, bytecode_cache: Path) -> dict[str, str]:
    """The environment of ``incidentbot serve``: the sandbox Slack, the test database.

    Where writing bytecode is turned off (PYTHONDONTWRITEBYTECODE), it goes to a cache
    shared by every restart instead: fifty restarts that each compiled every module again
    would cost minutes of CPU.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_NOT_INHERITED) and k not in _NOT_INHERITED_NAMES}
    env.update(SLACK_BOT_TOKEN="xoxb-sandbox", SLACK_SIGNING_SECRET=secret, SLACK_API_URL=api_url,
               DATABASE_URL=database_url, INCIDENTBOT_CONFIG=str(policy), LOG_LEVEL="WARNING")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServeProcess:
    """One ``incidentbot serve`` (gunicorn master and worker) in its own process group."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = _free_port()
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "incidentbot", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1", "--threads", "4"],
            env=env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        """Until /healthz answers 200; a process that exits while booting fails with its log."""
        def healthy() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"incidentbot serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as answer:
                    return answer.status == 200
            except OSError:
                return False
        wait_for(healthy, f"incidentbot serve on port {self.port} to answer /healthz", timeout=90)

    def kill(self) -> None:
        """SIGKILL the whole group: gunicorn's master and its worker die at once, mid-request."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self._log.close()

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class ServePool:
    """Hands out ready processes; the next ones boot while the current one serves.

    Booting is mostly CPU (imports), so two spares keep both cores of a CI machine busy
    while the test itself mostly waits on sockets.
    """

    def __init__(self, env: dict[str, str], log_dir: Path, *, spares: int = 2) -> None:
        self._env, self._log_dir, self._depth = env, log_dir, spares
        self.started = 0
        # The first one boots alone: it fills the bytecode cache the others then read.
        self._spares = [self._launch()]

    def _launch(self) -> ServeProcess:
        self.started += 1
        return ServeProcess(self._env, self._log_dir / f"serve-{self.started:03d}.log")

    def next(self) -> ServeProcess:
        self._spares[0].wait_ready()
        ready = self._spares.pop(0)
        while len(self._spares) < self._depth:
            self._spares.append(self._launch())
        return ready

    def close(self) -> None:
        while self._spares:
            self._spares.pop().kill()


# What the test did to each incident ------------------------------------------------------

@dataclass(frozen=True)
class Kill:
    """Where the bot process dies: while Slack holds the answer to the (skip+1)-th call of
    ``method`` (its effect applied), or, without a method, a random moment after the request."""

    phase: str  # declare | update | resolve
    kind: str  # the incident it needs: sev2 | sev3 (public, /incident <title>) | private (the form, SEV1)
    method: str | None = None
    skip: int = 0

    def __str__(self) -> str:
        return f"{self.phase} killed " + (f"at {self.method} #{self.skip + 1}" if self.method else "at random")


@dataclass
class Plan:
    """One incident: declared, maybe updated, maybe resolved, with at most one kill per phase."""

    number: int
    kind: str
    kills: dict[str, Kill] = field(default_factory=dict)
    # Filled in while running: which phases Slack certainly saw (a held call), so the
    # database must have committed them; and which were typed at all.
    committed: set[str] = field(default_factory=set)
    typed: set[str] = field(default_factory=set)

    WORDS = {"sev2": "checkout errors", "sev3": "search slow", "private": "leaked key"}

    @property
    def title(self) -> str:
        return f"Crash {self.number:03d} {self.WORDS[self.kind]}"

    @property
    def private(self) -> bool:
        return self.kind == "private"

    @property
    def update_text(self) -> str:
        return f"Crash {self.number:03d} update: errors are dropping"

    @property
    def resolution(self) -> str:
        return f"Crash {self.number:03d} fixed by rolling back"

    def __str__(self) -> str:
        kills = "; ".join(str(k) for k in self.kills.values()) or "no kill"
        return f"{self.title!r} ({kills})"


# What a person would see ------------------------------------------------------------------

class World:
    """The database and the sandbox Slack, read the way the checks need them."""

    def __init__(self, slack: SandboxClient, engine: Engine, policy: Policy) -> None:
        self.slack, self.engine, self.policy = slack, engine, policy

    def incidents_titled(self, title: str) -> list[Incident]:
        with Session(self.engine) as session:
            return list(session.exec(select(Incident).where(Incident.title == title).order_by(Incident.id)))

    def all_incidents(self) -> list[Incident]:
        with Session(self.engine) as session:
            return list(session.exec(select(Incident).order_by(Incident.id)))

    def event_kinds(self, incident: Incident) -> list[str]:
        with Session(self.engine) as session:
            return list(session.exec(select(TimelineEvent.kind).where(TimelineEvent.incident_id == incident.id)))

    def updates(self, incident: Incident, text: str) -> list[StatusUpdate]:
        with Session(self.engine) as session:
            return list(session.exec(select(StatusUpdate).where(
                StatusUpdate.incident_id == incident.id, StatusUpdate.text == text)))

    def postmortem_count(self, incident: Incident) -> int:
        with Session(self.engine) as session:
            return len(session.exec(select(Postmortem.id).where(Postmortem.incident_id == incident.id)).all())

    def traces(self, title: str) -> list[str]:
        """Anything in Slack about an incident that was never stored."""
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower())
        found = [f"channel #{c['name']}" for c in self.slack.channels() if slug in c.get("name", "")]
        found += [f"message {m['ts']} in #incidents" for m in self.slack.messages(INCIDENTS) if title in _all_text(m)]
        return found


def _all_text(message: dict) -> str:
    return "\n".join([message.get("text") or "", *mrkdwn_texts(message.get("blocks") or [])])


def _top_level(message: dict) -> bool:
    return message.get("thread_ts") in (None, message["ts"])


def _bot(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m.get("bot_id")]


def problems(world: World, plan: Plan) -> list[str]:
    """Every way the incident of ``plan`` is incomplete or inconsistent; [] when it is fine."""
    rows = world.incidents_titled(plan.title)
    if not rows:
        found = [f"no incident stored, yet Slack has {t}" for t in world.traces(plan.title)]
        if "declare" in plan.committed:
            found.append("Slack saw the declaration's calls but no incident is stored")
        return [f"{plan}: {p}" for p in found]
    found = [f"declared {len(rows)} times ({', '.join(r.reference for r in rows)})"] if len(rows) > 1 else []
    incident = rows[0]
    found += _record(world, plan, incident)
    if incident.channel_id:
        channel = next((c for c in world.slack.channels() if c["id"] == incident.channel_id), None)
        messages = world.slack.messages(incident.channel_id) if channel else []
        announcements = world.slack.messages(INCIDENTS)
        found += _channel(world, incident, channel)
        found += _card(world, incident, channel, messages)
        found += _announcement(world, incident, announcements)
        found += _update(world, plan, incident, messages, announcements)
        found += _no_repeats(world, incident, messages, announcements)
    return [f"{plan} {incident.reference}: {p}" for p in found]


def _record(world: World, plan: Plan, incident: Incident) -> list[str]:
    found = [f"{name} not recorded" for name in ("channel_id", "card_ts", "provisioned_at")
             if getattr(incident, name) is None]
    if incident.private and (incident.announcement_ts or incident.announcement_channel_id):
        found.append("a private incident has an announcement recorded")
    if not incident.private and (incident.announcement_channel_id != INCIDENTS or not incident.announcement_ts):
        found.append(f"announcement not recorded ({incident.announcement_channel_id}, {incident.announcement_ts})")
    kinds = world.event_kinds(incident)
    if kinds.count("declared") != 1:
        found.append(f"{kinds.count('declared')} 'declared' timeline events")
    resolved = core_incidents.is_resolved(world.policy, incident)
    parts = {"status": resolved, "resolved_at": incident.resolved_at is not None,
             "resolution": incident.resolution is not None, "timeline": kinds.count("resolved") == 1}
    if len(set(parts.values())) != 1 or kinds.count("resolved") > 1:
        found.append(f"resolved only in part: {parts}, {kinds.count('resolved')} 'resolved' events")
    if "resolve" in plan.committed and not resolved:
        found.append("Slack showed the resolve but the record is not resolved")
    required = resolved and postmortems.required(world.policy, incident)
    if world.postmortem_count(incident) != int(required):
        found.append(f"{world.postmortem_count(incident)} postmortems (the policy requires {int(required)})")
    return found


def _channel(world: World, incident: Incident, channel: dict | None) -> list[str]:
    expected = core_incidents.channel_name_for(world.policy, incident)
    named = [c["name"] for c in world.slack.channels() if re.fullmatch(re.escape(expected) + r"(-\d+)?", c.get("name", ""))]
    found = [] if channel and named == [channel["name"]] else [f"channels {named} for one incident"]
    if channel:
        missing = {BOT_USER_ID, incident.declared_by} - set(channel["members"])
        found += [f"{', '.join(sorted(missing))} not in the channel"] if missing else []
        found += [] if channel["is_private"] == incident.private else ["the channel's privacy is wrong"]
    return found


def _card(world: World, incident: Incident, channel: dict | None, messages: list[dict]) -> list[str]:
    header = f"{'🔒 ' if incident.private else ''}{incident.reference}: "
    cards = [m for m in _bot(messages) if _top_level(m) and (m.get("blocks") or [{}])[0].get("type") == "header"
             and m["blocks"][0]["text"]["text"].startswith(header)]
    if [c["ts"] for c in cards] != [incident.card_ts]:
        return [f"cards {[c['ts'] for c in cards]} in the channel, {incident.card_ts} recorded"]
    shown = mrkdwn_texts(cards[0]["blocks"])
    found = [] if channel and incident.card_ts in channel["pins"] else ["the card is not pinned"]
    for name, label in (("Status", status_label(world.policy, incident.status)),
                        ("Severity", severity_label(world.policy, incident.severity))):
        if f"*{name}*\n{label}" not in shown:
            found.append(f"the card does not show {name.lower()} {label!r}")
    return found


def _announcement(world: World, incident: Incident, announcements: list[dict]) -> list[str]:
    headline = f":rotating_light: *{incident.reference}* "
    posts = [m for m in _bot(announcements) if _top_level(m)
             and any(t.startswith(headline) for t in mrkdwn_texts(m.get("blocks") or []))]
    if incident.private:
        leaked = [m["ts"] for m in announcements if incident.title in _all_text(m) or str(incident.channel_id) in _all_text(m)]
        return [f"a private incident appears in #incidents: {leaked}"] if posts or leaked else []
    if [p["ts"] for p in posts] != [incident.announcement_ts]:
        return [f"announcements {[p['ts'] for p in posts]}, {incident.announcement_ts} recorded"]
    shown = _all_text(posts[0])
    status, severity = status_label(world.policy, incident.status), severity_label(world.policy, incident.severity)
    return ([] if f"· {status} ·" in shown else [f"the announcement does not show status {status!r}"]) + \
        ([] if f"*{severity}*" in shown else [f"the announcement does not show severity {severity!r}"])


def _update(world: World, plan: Plan, incident: Incident, messages: list[dict], announcements: list[dict]) -> list[str]:
    if "update" not in plan.typed:
        return []
    stored = world.updates(incident, plan.update_text)
    in_channel = [m["ts"] for m in _bot(messages) if plan.update_text in _all_text(m)]
    in_thread = [m["ts"] for m in _bot(announcements) if plan.update_text in _all_text(m)]
    if not stored:
        missing = ["Slack showed the status update but it is not stored"] if "update" in plan.committed else []
        return missing + ([f"an update that was never stored is in Slack: {in_channel + in_thread}"]
                          if in_channel or in_thread else [])
    found = [f"the status update is stored {len(stored)} times"] if len(stored) > 1 else []
    if in_channel != [stored[0].channel_ts]:
        found.append(f"the update is in the channel as {in_channel}, {stored[0].channel_ts} recorded")
    expected_thread = [] if incident.private else [stored[0].announcement_ts]
    if in_thread != expected_thread:
        found.append(f"the update is under the announcement as {in_thread}, {expected_thread} expected")
    return found


def _no_repeats(world: World, incident: Incident, messages: list[dict], announcements: list[dict]) -> list[str]:
    """Nothing of the resolution and its postmortem is shown twice."""
    ref, ts = incident.reference, incident.announcement_ts
    thread = [m for m in announcements if ts and m.get("thread_ts") == ts and m["ts"] != ts]
    counts = {
        "resolved lines in the channel": [m for m in _bot(messages) if "resolved the incident" in (m.get("text") or "")],
        "resolved replies under the announcement": [m for m in thread if "resolved the incident" in (m.get("text") or "")],
        "postmortem plans": [m for m in _bot(messages) if f"*Postmortem for {ref}*" in (m.get("text") or "")],
        "postmortem drafts": [m for m in _bot(messages) if f"*Postmortem draft for {ref}*" in (m.get("text") or "")],
        "review invites (.ics)": [f for m in messages for f in m.get("files") or []
                                  if f.get("name") == f"{ref}-postmortem-review.ics"],
        "draft files": [f for m in messages for f in m.get("files") or [] if f.get("name") == f"{ref}-postmortem.md"],
    }
    found = [f"{len(items)} {what}" for what, items in counts.items() if len(items) > 1]
    for im in (c for c in world.slack.channels() if c.get("is_im")):
        invites = [m for m in _bot(world.slack.messages(im["id"])) if f"postmortem review of *{ref}*" in (m.get("text") or "")]
        found += [f"{len(invites)} review invitations to {im.get('user')}"] if len(invites) > 1 else []
    return found


def orphans(world: World) -> list[str]:
    """Channels and announcements the bot made that no incident owns (a second try's leftovers)."""
    owned = {i.channel_id for i in world.all_incidents()}
    announced = {i.announcement_ts for i in world.all_incidents()}
    found = [f"channel #{c['name']} belongs to no incident" for c in world.slack.channels()
             if c.get("creator") == BOT_USER_ID and not c.get("is_im") and c["id"] not in owned]
    found += [f"announcement {m['ts']} belongs to no incident" for m in _bot(world.slack.messages(INCIDENTS))
              if _top_level(m) and any(t.startswith(":rotating_light: ") for t in mrkdwn_texts(m.get("blocks") or []))
              and m["ts"] not in announced]
    return found

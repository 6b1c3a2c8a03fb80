"""Crash safety (issue 8, "Faults"): the bot process SIGKILLed in the middle of declaring,
updating and resolving incidents, 50 times; after each restart and the worker's reconcile
sweep, every incident is complete and consistent (tests/crash_support.py says what that
means, as a person in Slack would see it).

The bot runs as a real ``incidentbot serve`` (gunicorn) in its own process group, against
the sandbox Slack and a migrated database. A kill lands either while Slack holds the
answer to one chosen call whose effect it has already applied (a ``slow`` fault: Slack did
it, the bot never learned it — the worst case), or at a random moment 0–300 ms after the
request was sent (seeded). After the kill: faults cleared, the next ``incidentbot serve``
takes over, ``worker.reconcile(grace=0)`` runs in this process as the sweep would a few
minutes later, and the incident is checked.

Default: 50 kills on SQLite, 20 on PostgreSQL (each restart of gunicorn costs about a
second of CPU; two kills in three are held points taken in turn from each flow, so
PostgreSQL's 20 still kill in every phase).
INCIDENTBOT_SOAK=1 multiplies both by 5 (a number > 1: by that number); INCIDENTBOT_CRASH_SEED
draws other random moments.
"""

from __future__ import annotations

import http.client
import itertools
import os
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from slack_sdk import WebClient

from incidentbot.core.policy import load_policy
from incidentbot.db import make_engine, migrate
from incidentbot.sandbox.client import SandboxClient
from incidentbot.sandbox.driver import DriverResponse, SlackDriver
from incidentbot.sandbox.server import SandboxServer
from incidentbot.settings import load_settings
from incidentbot.slack.app import build_deps
from incidentbot.slack.blocks import ANSWERED_LATE
from incidentbot.timeutil import utcnow
from incidentbot.worker import reconcile
from crash_support import POLICY, Kill, Plan, ServePool, World, orphans, problems, serve_env
from tests_support import ALICE, BOB, GENERAL, INCIDENTS, wait_for, soak

SOAK = soak()  # INCIDENTBOT_SOAK=1: 5 times the kills; a number > 1: that many
KILLS = {"sqlite": 50 * SOAK, "postgres": 20 * SOAK}
SEED = int(os.environ.get("INCIDENTBOT_CRASH_SEED", "8"))
HOLD_SECONDS = 30  # far longer than it takes to see the held call and kill the process
RANDOM_DELAY = (0.0, 0.3)
# A request the dead process had on the wire still lands in Slack, usually within
# milliseconds; the real reconcile sweep runs minutes later, so it must not race that
# request here. The sandbox does not show the requests it has accepted but not applied
# yet (nor those still in the listen queue), so there is no condition to wait for: a
# margin ten times the old one, for a sandbox thread starved on a loaded machine. The
# restart of the bot (pool.next) overlaps it.
SETTLE_SECONDS = 2.0
# How long a held point's call may take to come: the bot process may be starved (spare
# processes boot on the same cores), and a miss fails the run as "never reached".
REACH_SECONDS = 90
# How long after the crash the sweep runs: past the provisioning lease (2 minutes) that the
# dead process still holds on the incident it was setting up.
SWEEP_DELAY = timedelta(minutes=3)
DECLARER = {"sev2": ALICE, "sev3": ALICE, "private": BOB}


def _held(phase: str, kind: str, *calls: tuple[str, int]) -> list[Kill]:
    return [Kill(phase, kind, method, skip) for method, skip in calls]


# Every call of each flow that writes something in Slack (or reads what the next write
# needs), in the order the bot makes them; (method, how many calls of it come first).
HELD = [
    # /incident <title>: channel, invite, card, pin, the announcement channel's id, announcement.
    _held("declare", "sev2", ("conversations.create", 0), ("conversations.invite", 0), ("chat.postMessage", 0)),
    _held("declare", "sev3", ("pins.add", 0), ("conversations.list", 0), ("chat.postMessage", 1)),
    # The form, private: opening it, the private channel, card, pin, and the reply (an
    # ephemeral in #general, which Slack refuses since the bot is not there, then a DM).
    _held("declare", "private", ("views.open", 0), ("conversations.create", 0), ("conversations.invite", 0),
          ("chat.postMessage", 0), ("pins.add", 0), ("chat.postEphemeral", 0), ("chat.postMessage", 1)),
    # /incident update: the card, the channel, the announcement thread.
    _held("update", "sev2", ("chat.update", 0), ("chat.postMessage", 0), ("chat.postMessage", 1)),
    _held("update", "private", ("chat.update", 0), ("chat.postMessage", 0)),
    # /incident resolve of a SEV2: card, change line, announcement reply and update, then the
    # postmortem: plan, card, the .ics invite, the DM, the draft file, its buttons, the card.
    _held("resolve", "sev2", ("chat.update", 0), ("chat.postMessage", 0), ("chat.postMessage", 1), ("chat.update", 1),
          ("chat.postMessage", 2), ("chat.update", 2), ("files.completeUploadExternal", 0), ("chat.postMessage", 3),
          ("files.completeUploadExternal", 1), ("chat.postMessage", 4), ("chat.update", 3)),
    # A SEV3 needs no postmortem; a private SEV1 has one but no announcement.
    _held("resolve", "sev3", ("chat.postMessage", 0), ("chat.update", 1)),
    _held("resolve", "private", ("chat.update", 0), ("chat.postMessage", 1), ("chat.postMessage", 2)),
]
AT_RANDOM = [Kill("declare", "sev2"), Kill("resolve", "sev2"), Kill("declare", "private"), Kill("resolve", "sev3"),
             Kill("update", "sev3"), Kill("resolve", "private"), Kill("declare", "sev3"), Kill("update", "private")]


def kill_plan(kills: int) -> list[Plan]:
    """``kills`` kills: two held points for every random one, the held ones taken in turn
    from each flow so that a shorter run still kills in every phase; then grouped into
    incidents, at most one kill per phase of each."""
    held = itertools.cycle(p for group in itertools.zip_longest(*HELD) for p in group if p)
    at_random = itertools.cycle(AT_RANDOM)
    plans: list[Plan] = []
    for i in range(kills):
        kill = next(at_random) if i % 3 == 2 else next(held)
        plan = next((p for p in plans if p.kind == kill.kind and kill.phase not in p.kills), None)
        if plan is None:
            plan = Plan(number=len(plans) + 1, kind=kill.kind)
            plans.append(plan)
        plan.kills[kill.phase] = kill
    return plans


def test_kill_plan_covers_every_held_point_in_the_default_run():
    plans = kill_plan(50)
    kills = [k for p in plans for k in p.kills.values()]
    assert len(kills) == 50
    assert {k for k in kills if k.method} == {k for group in HELD for k in group}
    assert {k.phase for p in kill_plan(20) for k in p.kills.values()} == {"declare", "update", "resolve"}


@pytest.fixture(scope="module")
def bytecode_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bytecode")


class Crashes:
    """Runs the plans against ``incidentbot serve`` processes, killing one per kill."""

    def __init__(self, sandbox: SandboxServer, database_url: str, logs: Path, bytecode_cache: Path) -> None:
        secret = secrets.token_hex(16)
        self.secret, self.logs = secret, logs
        self.slack = SandboxClient(sandbox.url)
        policy = logs / "policy.toml"
        policy.write_text(POLICY)
        settings = load_settings(slack_bot_token="xoxb-sandbox", slack_signing_secret=secret,
                                 slack_api_url=sandbox.api_url, database_url=database_url, incidentbot_config=policy)
        self.engine = make_engine(database_url)
        self.deps = build_deps(settings, policy=load_policy(policy), engine=self.engine)
        self.world = World(self.slack, self.engine, self.deps.policy)
        self.pool = ServePool(serve_env(api_url=sandbox.api_url, database_url=database_url, secret=secret,
                                        policy=policy, bytecode_cache=bytecode_cache), logs)
        try:
            self.bot = self.pool.next()
        except BaseException:
            self.pool.close()
            raise
        self.rng = random.Random(SEED)
        self.sender = ThreadPoolExecutor(max_workers=2, thread_name_prefix="slack-user")
        self.kills = 0
        self.found: list[str] = []
        self.outcomes: Counter[str] = Counter()  # how the random kills landed, for the failure message
        self.unreached: list[str] = []  # held kill points whose call never came

    def close(self) -> None:
        self.bot.kill()
        self.pool.close()
        self.sender.shutdown(wait=True)
        self.deps.engine.dispose()

    @property
    def driver(self) -> SlackDriver:
        return SlackDriver(f"{self.bot.url}/slack/events", self.secret, self.slack)

    # One request, maybe killed ---------------------------------------------------------

    def send(self, kill: Kill | None, request: Callable[[SlackDriver], DriverResponse], plan: Plan) -> bool:
        """Send ``request``; with ``kill``, SIGKILL the bot at its point and restart it.
        Returns whether the request was answered (what the person saw)."""
        if kill is None:
            return request(self.driver).status == 200
        self.slack.clear_calls()
        fault = self.slack.add_fault(kill.method, "slow", seconds=HOLD_SECONDS, times=1, skip=kill.skip) \
            if kill.method else None
        answer: Future = self.sender.submit(request, self.driver)
        if fault:
            try:
                wait_for(lambda: any((c.get("fault") or {}).get("id") == fault["id"]
                                     for c in self.slack.calls(kill.method)), f"{kill}", timeout=REACH_SECONDS)
            except TimeoutError:  # the flow ended without that call: killed afterwards
                self.unreached.append(f"{plan}: {kill}")
        else:
            time.sleep(self.rng.uniform(*RANDOM_DELAY))
        self.bot.kill()
        settled = time.monotonic() + (0 if fault else SETTLE_SECONDS)
        self.kills += 1
        self.slack.clear_faults()
        self.bot = self.pool.next()
        time.sleep(max(0.0, settled - time.monotonic()))
        return _answered(answer)

    def recover(self) -> None:
        """The worker's reconcile sweep, as it runs a few minutes after the crash: by then the
        dead process's provisioning lease has run out."""
        later = utcnow() + SWEEP_DELAY
        reconcile(self.deps, grace=timedelta(0), now=later)

    # The phases --------------------------------------------------------------------------

    def run(self, plan: Plan) -> None:
        self.declare(plan)
        self.check(plan, "declare")
        incident = next(iter(self.world.incidents_titled(plan.title)), None)
        if incident is None or not incident.channel_id:
            return  # problems() reports it; there is no channel to type in
        for phase, words in (("update", f"update {plan.update_text}"), ("resolve", f"resolve {plan.resolution}")):
            if phase in plan.kills:
                plan.typed.add(phase)
                user = DECLARER[plan.kind]
                kill = plan.kills[phase]
                answered = self.send(kill, lambda d, w=words: d.slash_command(w, user=user, channel=incident.channel_id),
                                     plan)
                if kill.method:
                    plan.committed.add(phase)  # its Slack calls come after the change is stored
                else:
                    self.outcomes[f"{phase} at random, {'answered' if answered else 'unanswered'}"] += 1
                self.recover()
                self.check(plan, phase)

    def check(self, plan: Plan, phase: str) -> None:
        self.found += [f"after {phase}: {p}" for p in problems(self.world, plan)]

    def declare(self, plan: Plan) -> None:
        kill = plan.kills.get("declare")
        if kill and kill.method and kill.method != "views.open":
            plan.committed.add("declare")  # every Slack call comes after the incident is stored
        if plan.private:
            self.declare_with_form(plan, kill)
        else:
            command = f"{plan.title} {plan.kind}"
            answered = self.send(kill, lambda d: d.slash_command(command, user=ALICE, channel=GENERAL), plan)
            if kill is None or not self.world.incidents_titled(plan.title):
                if kill is not None:  # never stored: nothing may show in Slack, and the person retypes it
                    self.outcomes["declaration lost, typed again"] += 1
                    self.check(plan, "the declaration was lost")
                    self.send(None, lambda d: d.slash_command(command, user=ALICE, channel=GENERAL), plan)
                self.wait_declared(plan)
            elif not answered:
                # Stored, but Slack showed the person an error: the sweep finishes it, and a
                # second declaration typed now would be a second incident (docs/operations.md).
                self.outcomes["declaration stored, unanswered"] += 1
        self.recover()

    def declare_with_form(self, plan: Plan, kill: Kill | None) -> None:
        opened = {v["id"] for v in self.slack.views(user=BOB)}
        self.send(kill if kill and kill.method == "views.open" else None,
                  lambda d: d.slash_command("", user=BOB, channel=GENERAL), plan)
        view = wait_for(lambda: [v for v in self.slack.views(user=BOB) if v["id"] not in opened], "the form")[-1]
        values = {"title": {"title": plan.title}, "severity": {"severity": "SEV1"}, "private": {"private": ["private"]}}
        submit = lambda d: d.submit_view(view["id"], user=BOB, values=values)  # noqa: E731
        if kill is None or kill.method == "views.open":
            self.send(None, submit, plan)
            self.wait_declared(plan)
            return
        self.send(kill, submit, plan)
        if not self.slack.view(view["id"])["closed"]:
            # Slack showed the form's error; the person submits the same form again.
            stored_before = bool(self.world.incidents_titled(plan.title))
            self.outcomes[f"form submitted again ({'stored' if stored_before else 'lost'} before)"] += 1
            self.send(None, submit, plan)
            if not stored_before:
                self.wait_declared(plan)

    def wait_declared(self, plan: Plan) -> None:
        """Until the declarer is told how it went: the last step of declaring."""
        incident = wait_for(lambda: self.world.incidents_titled(plan.title), f"{plan.title} to be stored")[0]
        told = f"{incident.reference} is "  # "… is declared", or "… is recorded, but …"
        # A just-booted process on a loaded machine may ack after Slack's 3 s: the reply
        # then begins with the note that it went through anyway (declaring.noting_late).
        late = ANSWERED_LATE + "\n"
        wait_for(lambda: [t for t in self.replies_to(DECLARER[plan.kind]) if t.removeprefix(late).startswith(told)],
                 f"the reply about {incident.reference}")

    def replies_to(self, user: str) -> list[str]:
        """What the bot told ``user``: answers to their commands and direct messages."""
        texts = [r.get("text") or "" for r in self.slack.responses() if r.get("user") == user]
        for im in (c for c in self.slack.channels() if c.get("is_im") and c.get("user") == user):
            texts += [m.get("text") or "" for m in self.slack.messages(im["id"]) if m.get("bot_id")]
        return texts


def _answered(answer: Future) -> bool:
    try:
        return answer.result(timeout=30).status == 200
    except (OSError, http.client.HTTPException):  # the connection died with the process
        return False


@pytest.fixture
def crashes(sandbox: SandboxServer, database_url: str, tmp_path: Path, bytecode_cache: Path) -> Iterator[Crashes]:
    migrate(database_url)
    # The bot was invited to #incidents long ago: its first announcement needs no join.
    WebClient(base_url=sandbox.api_url, token="xoxb-sandbox").conversations_join(channel=INCIDENTS)
    run = Crashes(sandbox, database_url, tmp_path, bytecode_cache)
    try:
        yield run
    finally:
        run.close()


def test_sigkill_during_declaration_update_and_resolution(crashes: Crashes, database_url: str) -> None:
    backend = "postgres" if database_url.startswith("postgresql") else "sqlite"
    plans = kill_plan(KILLS[backend])
    for plan in plans:
        crashes.run(plan)

    # Later sweeps must not have disturbed earlier incidents: everything, once more.
    final = [p for plan in plans for p in problems(crashes.world, plan)] + orphans(crashes.world)
    found = list(dict.fromkeys(crashes.found + final))
    if crashes.kills != KILLS[backend]:  # a phase was skipped: the incident had no channel to type in
        found.append(f"{crashes.kills} kills instead of {KILLS[backend]}")
    if SOAK == 1:  # the default run must reach every held point (has a flow changed?)
        found += [f"kill point never reached: {u}" for u in crashes.unreached]
    else:  # a flow may change in a long run (a postmortem without a free review slot sends no .ics)
        crashes.outcomes["held points not reached"] += len(crashes.unreached)
    assert not found, (f"{len(found)} problems after {crashes.kills} kills (seed {SEED}; {dict(crashes.outcomes)}; "
                       f"the bot's logs are in {crashes.logs}):\n" + "\n".join(found))

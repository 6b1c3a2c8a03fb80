"""PostgreSQL restarted during load (issue 8, "Faults"): requests fail politely and
nothing is half-written.

The bot's real WSGI app on loopback and the sandbox Slack, its database on a PostgreSQL
server of the test's own (``own_postgres``). Three threads send signed requests
(``outage_support.Load``) while that server is stopped twice, for a few seconds: ``pg_ctl
stop -m fast`` (sessions closed) and ``-m immediate`` (killed, crash recovery at the next
start). The bot itself is never restarted. Then:

- Slack never got a 500: commands and forms were answered 200 with what was done or
  the database-down text, events 200, or 503 only when they were not stored so that
  Slack delivers them again (docs/operations.md, "Database outage"). An answer later
  than Slack's 3 seconds would be an empty one (Bolt's ack timeout), so being in time
  is checked through what the answers say, not with a clock;
- what was refused changed nothing, and trying again once the database is back works;
- nothing is half-written (every table is checked), and what provisioning the outage
  interrupted is finished by the worker's reconcile sweep: one channel, card and
  announcement per incident;
- the worker's sweeps return quietly while the database is down.

``INCIDENTBOT_SOAK=N`` runs N pairs of outages with N times the work (docs/testing.md).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session

import pgserver
from incidentbot import worker
from incidentbot.db import make_engine
from incidentbot.models import Incident
from incidentbot.sandbox.constants import BOT_USER_ID
from incidentbot.sandboxed import bot_on_sandbox
from incidentbot.slack import ids, modals, provisioning
from incidentbot.slack.app import build_deps
from incidentbot.slack.blocks import ANSWERED_LATE
from incidentbot.timeutil import utcnow
from outage_support import (EVERY, Form, Load, Sent, Target, all_incidents, click, command_form, keyed, outcome,
                             refused, replies_by_url, settle, status_of, stored)
from tests_support import BOB, CAROL, E2E_TRIGGER_LIFETIME, GENERAL, INCIDENTS, wait_for, soak

pytestmark = pytest.mark.postgres

SOAK = soak()
MODES = ("fast", "immediate") * SOAK
# DOWN_SECONDS is the least: the server stays down until outage() has seen what it needs.
UP_SECONDS, DOWN_SECONDS = 1.0, 2.0
# Enough to last the whole load at outage_support.EVERY's pace.
ACK_TARGETS, RESOLVE_TARGETS, FORMS = 12 * SOAK, 10 * SOAK, 20 * SOAK
RETRY = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"}
SWEEPS = {  # the worker's jobs, and the name each one's lock is logged under
    "reconcile": lambda deps: worker.reconcile(deps, grace=timedelta(0)),
    "backfill": worker.backfill_channels,
    "nudges": worker.send_nudges,
    "postmortem-reminders": worker.send_postmortem_reminders,
    "action-item-reminders": worker.send_action_item_reminders,
    "digest": worker.post_weekly_digest,
}


# Made slow (once) just before each stop, so that a declaration is being provisioned
# when the database goes: its channel (fast) or its card (immediate) then exists in
# Slack and not in the database, and the worker's reconcile sweep has to finish it.
INTERRUPTED_AT = {"fast": "conversations.create", "immediate": "conversations.invite"}
# How long Slack holds that call's answer: enough for pg_ctl stop to take effect first on
# a slow machine (a fast stop refuses new connections as soon as it begins), and below
# the bot's Slack client timeout (settings.slack_timeout_seconds, 10 s), past which the
# answer would be lost instead of late. The server then stays down until the declarer
# has been told, so the rest of that provisioning certainly meets a stopped database.
HOLD_SECONDS = 5.0


@dataclass(frozen=True)
class Window:
    mode: str
    began: float  # pg_ctl stop called (a request may be refused from then on)
    ended: float  # pg_ctl start returned: the server answers again
    declare: Sent  # the declaration caught mid-way


@pytest.fixture
def outage_url(own_postgres: pgserver.PostgresServer):
    name = f"outage_{uuid.uuid4().hex}"
    maintenance = pgserver.with_database(own_postgres.url, "postgres")
    with pgserver.connect(maintenance) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pgserver.with_database(own_postgres.url, name)
    if own_postgres.running():
        with pgserver.connect(maintenance) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def outage_bot(outage_url: str):
    with bot_on_sandbox(outage_url, trigger_lifetime=E2E_TRIGGER_LIFETIME) as bot:
        yield bot


@pytest.fixture
def worker_deps(outage_bot, outage_url: str):
    """What a separate worker process has: its own engine on the same database."""
    engine = make_engine(outage_url)
    yield build_deps(outage_bot.settings, policy=outage_bot.policy, engine=engine)
    engine.dispose()


def test_postgres_restarted_under_load(own_postgres, outage_bot, worker_deps, caplog):
    bot = outage_bot
    caplog.set_level(logging.WARNING, logger="incidentbot.db")
    targets = declare_targets(bot, ACK_TARGETS + RESOLVE_TARGETS)
    to_ack, to_resolve = targets[:ACK_TARGETS], targets[ACK_TARGETS:]
    load = Load(bot.driver, bot.slack, forms=open_update_forms(bot, to_ack, FORMS), to_ack=to_ack,
                to_resolve=to_resolve, channels=to_ack).start()
    try:
        windows = [outage(bot, own_postgres, mode, worker_deps, load) for mode in MODES]
        time.sleep(UP_SECONDS)
    finally:
        sent = load.stop()
    assert load.errors == []
    # What the checks below read comes after the answers: each declarer's reply (after
    # provisioning, which may be blocked on a connect timeout), each button's refusal.
    settle(bot, until=lambda: declarers_told(bot, sent + [w.declare for w in windows]) and acks_settled(bot, sent),
           what="every declarer told, every acknowledgement stored or refused")

    outcomes = check_answers(bot, sent, windows)
    check_refused_changed_nothing(bot, sent, outcomes)
    unfinished = check_declarers_told(bot, sent + [w.declare for w in windows])
    assert len(unfinished) >= len(MODES)  # at least the declarations outage() caught mid-way
    try_again(bot, sent, outcomes)
    # Restarted once more while nobody uses the bot: every pooled connection is stale now.
    own_postgres.shutdown("fast")
    own_postgres.start_again()
    check_serves_normally(bot)
    # The interrupted attempts could not release their provisioning lease (no database):
    # the sweep after it has run out finishes them.
    later = utcnow() + provisioning.LEASE + timedelta(seconds=1)
    assert worker.reconcile(worker_deps, grace=timedelta(0), now=later) == len(unfinished)
    worker.backfill_channels(worker_deps)
    settle(bot)

    check_slack_side(bot)
    check_tables(bot, sent)
    skipped = {r.getMessage().split(" sweep skipped")[0] for r in caplog.records
               if "sweep skipped: the database is unavailable" in r.getMessage()}
    assert set(SWEEPS) <= skipped


# -- setting up and bringing the database down ---------------------------------------------------


def declare_targets(bot, count: int) -> list[Target]:
    """``count`` provisioned SEV2 incidents (a postmortem is required when they resolve)."""
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda i: bot.driver.slash_command(f"Payments degraded {i} sev2", user=BOB,
                                                                   channel=GENERAL), range(count)))
    # Setting up, not a test of answering in time: on a loaded machine Bolt may give up
    # waiting for an ack (3 s, a 404 to Slack). The declaration still went through, and
    # the bot says so first in its reply (declaring.noting_late).
    assert all(a.status in (200, 404) for a in answers), [a.body for a in answers]
    assert all(a.json["text"].startswith("Declaring INC-") for a in answers if a.status == 200)
    for late in (a for a in answers if a.status == 404):
        url = command_form(late)["response_url"]
        wait_for(lambda u=url: [t for t in replies_by_url(bot).get(u, []) if t.startswith(ANSWERED_LATE + "\n")],
                 "the late declaration's reply", timeout=120)

    def provisioned() -> list[Incident] | None:
        found = all_incidents(bot)
        return found if len(found) == count and all(i.provisioned_at for i in found) else None
    return [Target(i.id, i.channel_id, i.card_ts) for i in wait_for(provisioned, f"{count} provisioned incidents")]


def open_update_forms(bot, targets: list[Target], count: int) -> list[Form]:
    """``count`` people each with a status update form open (``/incident update`` with no text)."""
    forms = []
    for n in range(count):
        user = bot.slack.add_user(f"U0LOAD{n:03d}", f"responder{n}")["id"]
        target = targets[n % len(targets)]
        assert bot.driver.slash_command("update", user=user, channel=target.channel_id).status == 200
        view = wait_for(lambda u=user: [v for v in bot.slack.views(user=u) if v["callback_id"] == ids.UPDATE_VIEW],
                        f"{user}'s form")[0]
        assert modals.metadata(view)["incident"] == target.id
        forms.append(Form(view["id"], target, user))
    return forms


def outage(bot, server: pgserver.PostgresServer, mode: str, deps, load: Load) -> Window:
    """Some normal load; a declaration caught mid-way (its ``INTERRUPTED_AT`` call held);
    the server down, while /healthz says so and the worker's sweeps return quietly, for
    at least DOWN_SECONDS and until the caught declaration has met the stopped database
    and the load has been refused what the checks need; then the server up again, and
    the bot left as it was."""
    time.sleep(UP_SECONDS)
    method = INTERRUPTED_AT[mode]
    before = slowed(bot, method)
    bot.slack.add_fault(method, "slow", seconds=HOLD_SECONDS, times=1)
    declare = Sent("declare", bot.driver.slash_command(f"Cart failing before a {mode} stop sev3", user=CAROL,
                                                       channel=GENERAL), 0, 0)
    declare.key, declare.response_url = (command_form(declare.response)[k] for k in ("trigger_id", "response_url"))
    assert outcome(declare, []) == "done"
    wait_for(lambda: slowed(bot, method) > before, f"a declaration's {method} under way")
    began = time.monotonic()
    server.shutdown(mode)
    down = time.monotonic()  # pg_ctl stop can take seconds on a slow machine: the least down time counts from here
    assert status_of(health_url(bot)) == 503
    for name, sweep in SWEEPS.items():
        assert sweep(deps) == 0, name

    def enough() -> bool:
        """The caught declaration's declarer was told (its provisioning is over, having
        met the stopped database), the load has been refused each kind of request
        (check_answers needs one of each) and a message in this outage (a 503, which
        Slack delivers again), and the least down time is over."""
        replies = replies_by_url(bot)
        sent = load.recorded()
        kinds = {s.kind for s in sent if refused(s, replies.get(s.response_url, []))}
        message = any(s.kind == "message" and s.response.status == 503 and s.started >= began for s in sent)
        if replies.get(declare.response_url) and kinds == set(EVERY) and message \
                and time.monotonic() - down >= DOWN_SECONDS:
            return True
        time.sleep(0.1)
        return False
    wait_for(enough, f"the caught declaration's reply and refusals of every kind during the {mode} outage",
             timeout=120)
    server.start_again()
    ended = time.monotonic()
    assert status_of(health_url(bot)) == 200
    return Window(mode, began, ended, declare)


def slowed(bot, method: str) -> int:
    return bot.slack.faults()["injected"].get(method, {}).get("slow", 0)


def health_url(bot) -> str:
    return bot.driver.bot_url.replace("/slack/events", "/healthz")


# -- what Slack and the people were told ---------------------------------------------------------------


def check_answers(bot, sent: list[Sent], windows: list[Window]) -> dict[int, str]:
    """Every answer is a 200 (a 503 only for events) saying what was done, or that nothing
    was; refusals only while the database was down. Returns "done"/"refused" per request."""
    replies = replies_by_url(bot)
    outcomes = {}
    for i, s in enumerate(sent):
        assert s.response.status in ({200, 503} if s.kind == "message" else {200}), s
        assert "Something went wrong" not in s.response.body
        outcomes[i] = outcome(s, replies.get(s.response_url, []))
        if outcomes[i] == "refused":
            assert any(s.started <= w.ended and (s.kind == "ack" or s.finished >= w.began) for w in windows), (
                f"{s.kind} refused outside an outage: the bot did not recover by itself", s)
    refused = {s.kind: s for i, s in enumerate(sent) if outcomes[i] == "refused"}
    assert set(refused) == {"declare", "update", "ack", "resolve", "action", "message"}, Counter(
        s.kind for i, s in enumerate(sent) if outcomes[i] == "refused")
    # The words people read (outage_support.outcome holds every refusal to them).
    assert refused["declare"].response.json["text"] == (
        "I can't reach my database right now, so nothing was declared. Please try again in a minute.")
    nothing_changed = "I can't reach my database right now, so nothing was changed. Please try again in a minute."
    assert refused["resolve"].response.json == {"response_type": "ephemeral", "text": nothing_changed}
    assert refused["update"].response.json == {"response_action": "errors", "errors": {"text": nothing_changed}}
    assert replies[refused["ack"].response_url] == [nothing_changed]
    for window in windows:  # Slack is asked to deliver again during each outage
        assert any(s.response.status == 503 for s in sent if window.began <= s.started <= window.ended), window
    everything = [r.get("text") or "" for r in bot.slack.responses()]
    assert not [t for t in everything if "Something went wrong" in t]
    return outcomes


def declarers_told(bot, declares: list[Sent]) -> bool:
    """Whether the declarer of each incident that ``declares`` made has been told how it
    went (the last step of declaring, after provisioning)."""
    urls = {f"command:{s.key}": s.response_url for s in declares if s.kind == "declare"}
    replies = replies_by_url(bot)
    return all(replies.get(urls[i.request_key]) for i in all_incidents(bot) if i.request_key in urls)


def acks_settled(bot, sent: list[Sent]) -> bool:
    """Whether each click on Acknowledge is stored or its refusal has come (after the answer)."""
    replies = replies_by_url(bot)
    with Session(bot.engine) as session:
        return all(replies.get(s.response_url) or stored(session, s) for s in sent if s.kind == "ack")


def check_declarers_told(bot, declares: list[Sent]) -> set[int]:
    """Each declared incident's declarer was told it is declared, or, when its channel
    could not be set up, that it will be finished in the background (and it is not
    provisioned yet). Returns the ids of those left to the worker."""
    replies = replies_by_url(bot)
    by_key = {f"command:{s.key}": s for s in declares if s.kind == "declare"}
    unfinished = set()
    for incident in all_incidents(bot):
        s = by_key.get(incident.request_key)
        if s is None:
            continue  # declared before the load (declare_targets)
        told = " ".join(replies.get(s.response_url, []))
        if incident.provisioned_at:
            assert f"{incident.reference} is declared" in told, told
        else:
            assert f"{incident.reference} is recorded" in told and "retry in the background" in told, told
            unfinished.add(incident.id)
    return unfinished


def check_refused_changed_nothing(bot, sent: list[Sent], outcomes: dict[int, str]) -> None:
    """Done means stored; refused means nothing of it is (before anyone tries again)."""
    with Session(bot.engine) as session:
        for i, s in enumerate(sent):
            done = outcomes[i] == "done"
            if s.kind == "message" and done:
                continue  # stored, or lost between the bot's check and its write: the backfill's (check_tables)
            assert stored(session, s) == done, (outcomes[i], s)


def try_again(bot, sent: list[Sent], outcomes: dict[int, str]) -> None:
    """What people (and Slack, for events) do next: the same thing again, which works now."""
    again = [retry(bot, s) for i, s in enumerate(sent) if outcomes[i] == "refused"]

    def all_stored() -> bool:
        with Session(bot.engine) as session:
            return all(stored(session, s) for s in again)
    wait_for(all_stored, "what was tried again to be stored")
    # The declarations made again provision in the background: over before the reconcile
    # sweep counts what is left to finish.
    settle(bot, until=lambda: declarers_told(bot, again), what="the declarers who tried again to be told")


def check_serves_normally(bot) -> None:
    """The bot, never restarted, works as before: a declaration is provisioned without the
    worker's help, its card's button acknowledges it, a message in its channel is stored."""
    fresh = bot.driver.slash_command("Search is slow after the restart sev3", user=BOB, channel=GENERAL)
    assert fresh.status == 200 and fresh.json["text"].startswith("Declaring INC-"), fresh.body
    number = int(fresh.json["text"].split("INC-")[1].split(":")[0])
    [incident] = wait_for(lambda: [i for i in all_incidents(bot) if i.number == number and i.provisioned_at],
                          f"INC-{number} to be provisioned without the worker")
    target = Target(incident.id, incident.channel_id, incident.card_ts)
    clicked = click(bot.driver, bot.slack, target, ids.ACK, CAROL, kind="ack")
    message, event = bot.driver.user_posts(incident.channel_id, BOB, "error rate is back to normal")
    assert (clicked.response.status, event.status) == (200, 200)
    posted = Sent("message", event, 0, 0, key=message["ts"], target=target)
    with_ack = Sent("ack", clicked.response, 0, 0, target=target)

    def done() -> bool:
        with Session(bot.engine) as session:
            return stored(session, posted) and stored(session, with_ack)
    wait_for(done, "the acknowledgement and the message to be stored")
    form = command_form(fresh)
    declared = Sent("declare", fresh, 0, 0, key=form["trigger_id"], response_url=form["response_url"])
    settle(bot, until=lambda: declarers_told(bot, [declared]), what=f"INC-{number}'s declarer to be told")
    assert replies_by_url(bot).get(clicked.response_url, []) == []


def retry(bot, s: Sent) -> Sent:
    """``s`` once more, answered as done; the new request's record (its own trigger id)."""
    if s.kind == "message":
        assert bot.driver.replay(s.response, headers=RETRY).status == 200  # Slack's own retry
        return s
    if s.kind == "update":
        answer = bot.driver.submit_view(s.key, user=s.user, values={"text": {"text": s.text}})
        assert answer.status == 200 and not answer.body, answer.body  # the form stayed open; now it closes
        return s
    if s.kind == "ack":
        again = click(bot.driver, bot.slack, s.target, ids.ACK, CAROL, kind="ack")
        assert again.response.status == 200 and again.response.body == ""
        return again
    command = command_form(s.response)
    answer = bot.driver.slash_command(command["text"], user=command["user_id"], channel=command["channel_id"])
    assert answer.status == 200 and outcome(Sent(s.kind, answer, 0, 0), []) == "done", answer.body
    form = command_form(answer)
    return Sent(s.kind, answer, 0, 0, key=form["trigger_id"], text=s.text, target=s.target,
                response_url=form["response_url"])


# -- nothing half-written -----------------------------------------------------------------------------


def check_slack_side(bot) -> None:
    """Every incident provisioned, with one channel, one pinned card and one announcement;
    no channel without its incident; no line in a channel about a change not stored."""
    incidents = all_incidents(bot)
    assert incidents and all(i.provisioned_at and i.channel_id and i.card_ts and i.announcement_ts
                             for i in incidents), [i.reference for i in incidents if not i.provisioned_at]
    made = {c["id"] for c in bot.slack.channels() if c.get("creator") == BOT_USER_ID and c["name"].startswith("inc-")}
    assert made == {i.channel_id for i in incidents}
    announcements = keyed(bot.slack.messages(INCIDENTS))
    for incident in incidents:
        messages = bot.slack.messages(incident.channel_id)
        assert keyed(messages)[ids.post_key(incident, "card")] == [incident.card_ts], incident.reference
        assert incident.card_ts in bot.slack.channel(incident.channel_id)["pins"]
        assert announcements[ids.post_key(incident, "announcement")] == [incident.announcement_ts]
        lines = " ".join(m.get("text") or "" for m in messages if m.get("bot_id"))
        assert "Something went wrong" not in lines
        assert ("acknowledged the incident" in lines) <= bool(incident.acknowledged_at), incident.reference
        assert ("resolved the incident" in lines) <= bool(incident.resolved_at), incident.reference


BROKEN = {
    "incident without a number": "SELECT count(*) FROM incident WHERE number IS NULL OR number < 1",
    "incident without exactly one declared event":
        "SELECT count(*) FROM incident i WHERE (SELECT count(*) FROM timeline_event t "
        "WHERE t.incident_id = i.id AND t.kind = 'declared') <> 1",
    "acknowledged without its one event, or the other way round":
        "SELECT count(*) FROM incident i WHERE (i.acknowledged_at IS NOT NULL)::int <> (SELECT count(*) "
        "FROM timeline_event t WHERE t.incident_id = i.id AND t.kind = 'acknowledged')",
    "resolved without its one event and resolution, or the other way round":
        "SELECT count(*) FROM incident i WHERE (i.resolved_at IS NOT NULL AND i.resolution IS NOT NULL)::int "
        "<> (SELECT count(*) FROM timeline_event t WHERE t.incident_id = i.id AND t.kind = 'resolved')",
    "status update without its timeline event":
        "SELECT count(*) FROM status_update s WHERE NOT EXISTS (SELECT 1 FROM timeline_event t WHERE "
        "t.incident_id = s.incident_id AND t.kind = 'update_posted' AND (t.data->>'update_id')::int = s.id)",
    "update event without its status update":
        "SELECT count(*) FROM timeline_event t WHERE t.kind = 'update_posted' AND NOT EXISTS "
        "(SELECT 1 FROM status_update s WHERE s.id = (t.data->>'update_id')::int)",
    "status update never posted in its channel": "SELECT count(*) FROM status_update WHERE channel_ts IS NULL",
    "action item without its backlog item":
        "SELECT count(*) FROM action_item a LEFT JOIN backlog_item b ON b.id = a.backlog_item_id WHERE b.id IS NULL",
    "action item without its timeline event":
        "SELECT count(*) FROM action_item a WHERE NOT EXISTS (SELECT 1 FROM timeline_event t "
        "WHERE t.incident_id = a.incident_id AND t.source_key = 'action_item:' || a.id)",
    "resolved SEV2 without its postmortem":
        "SELECT count(*) FROM incident i WHERE i.resolved_at IS NOT NULL AND i.severity = 'SEV2' "
        "AND NOT EXISTS (SELECT 1 FROM postmortem p WHERE p.incident_id = i.id)",
    "current role held twice":
        "SELECT count(*) FROM (SELECT incident_id, role FROM role_assignment WHERE ended_at IS NULL "
        "GROUP BY incident_id, role HAVING count(*) > 1) twice",
}
# Rows of these tables must belong to an incident that exists.
OWNED = ("timeline_event", "status_update", "channel_message", "role_assignment", "notification", "snooze",
         "postmortem", "action_item")


def check_tables(bot, sent: list[Sent]) -> None:
    with Session(bot.engine) as session:
        counts = {rule: session.execute(text(sql)).scalar() for rule, sql in BROKEN.items()}
        for table in OWNED:
            counts[f"{table} without its incident"] = session.execute(text(
                f"SELECT count(*) FROM {table} x LEFT JOIN incident i ON i.id = x.incident_id "
                "WHERE x.incident_id IS NOT NULL AND i.id IS NULL")).scalar()
        assert {rule: n for rule, n in counts.items() if n} == {}
        # Every message people posted is stored once: by its event, Slack's retry, or the backfill.
        posted = [s for s in sent if s.kind == "message"]
        rows = session.execute(text("SELECT channel_id, ts, count(*) FROM channel_message GROUP BY channel_id, ts"))
        stored_once = {(c, ts) for c, ts, n in rows if n == 1}
        assert [s.key for s in posted if (s.target.channel_id, s.key) not in stored_once] == []

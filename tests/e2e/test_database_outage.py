"""PostgreSQL restarted during load (issue 8, "Faults"): requests fail politely and
nothing is half-written.

The bot's real WSGI app on loopback and the sandbox Slack, its database on a PostgreSQL
server of the test's own (``own_postgres``). Three threads send signed requests
(``outage_support.Load``) while that server is stopped twice for two seconds: ``pg_ctl
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
from incidentbot.timeutil import utcnow
from outage_support import (Form, Load, Sent, Target, all_incidents, click, command_form, keyed, outcome,
                             replies_by_url, settle, status_of, stored)
from tests_support import BOB, CAROL, GENERAL, INCIDENTS, wait_for, soak

pytestmark = pytest.mark.postgres

SOAK = soak()
MODES = ("fast", "immediate") * SOAK
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


@dataclass(frozen=True)
class Window:
    mode: str
    began: float  # pg_ctl stop called
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
    with bot_on_sandbox(outage_url) as bot:
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
        windows = [outage(bot, own_postgres, mode, worker_deps) for mode in MODES]
        time.sleep(UP_SECONDS)
    finally:
        sent = load.stop()
    assert load.errors == []
    settle(bot)

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
    assert all(a.json["text"].startswith("Declaring INC-") for a in answers)

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


def outage(bot, server: pgserver.PostgresServer, mode: str, deps) -> Window:
    """Some normal load; a declaration caught mid-way (its ``INTERRUPTED_AT`` call made
    slow); the server down for DOWN_SECONDS, while /healthz says so and the worker's
    sweeps return quietly; then the server up again, and the bot left as it was."""
    time.sleep(UP_SECONDS)
    method = INTERRUPTED_AT[mode]
    before = slowed(bot, method)
    bot.slack.add_fault(method, "slow", seconds=1.0, times=1)
    declare = Sent("declare", bot.driver.slash_command(f"Cart failing before a {mode} stop sev3", user=CAROL,
                                                       channel=GENERAL), 0, 0)
    declare.key, declare.response_url = (command_form(declare.response)[k] for k in ("trigger_id", "response_url"))
    assert outcome(declare, []) == "done"
    wait_for(lambda: slowed(bot, method) > before, f"a declaration's {method} under way")
    began = time.monotonic()
    server.shutdown(mode)
    assert status_of(health_url(bot)) == 503
    for name, sweep in SWEEPS.items():
        assert sweep(deps) == 0, name
    time.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - began)))
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
    settle(bot)


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
    settle(bot)
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
    return Sent(s.kind, answer, 0, 0, key=command_form(answer)["trigger_id"], text=s.text, target=s.target)


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

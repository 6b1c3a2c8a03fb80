"""The load of tests/e2e/test_database_outage.py: threads sending a steady mix of signed
Slack requests to the bot, every answer recorded with what it was for, so the test can
tell for each one whether it was done and what the person was told."""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy import text
from sqlmodel import Session, select

from incidentbot.models import Incident
from incidentbot.sandbox.client import SandboxClient
from incidentbot.sandbox.driver import DriverResponse, SlackDriver
from incidentbot.slack import ids
from incidentbot.slack.blocks import DATABASE_DOWN, DATABASE_DOWN_DECLARING, DATABASE_LOST
from tests_support import ALICE, BOB, CAROL, GENERAL, wait_for

# The least time between two requests of a kind (seconds), shared by every thread;
# message events fill the gaps. Each kind lands in every 2-second outage.
EVERY = {"declare": 0.4, "update": 0.5, "ack": 0.8, "resolve": 1.0, "action": 0.8, "message": 0.08}


@dataclass(frozen=True)
class Target:
    """A provisioned incident the load acts on."""

    id: int
    channel_id: str
    card_ts: str


@dataclass(frozen=True)
class Form:
    """A status update form someone has open (Slack allows one per person)."""

    view_id: str
    target: Target
    user: str


@dataclass
class Sent:
    """One request and its answer. ``key`` finds its effect: the trigger id (commands),
    the view id (forms), the message ts (events)."""

    kind: str
    response: DriverResponse
    started: float
    finished: float
    key: str = ""
    text: str = ""
    target: Target | None = None
    response_url: str = ""
    event_id: str = ""
    user: str = ""

    def __repr__(self) -> str:  # what an assertion message needs, without the request's bytes
        return (f"Sent({self.kind} {self.key!r} {self.text!r} -> {self.response.status} "
                f"{self.response.body[:300]!r})")


def command_form(response: DriverResponse) -> dict[str, str]:
    """The slash command's fields as sent (trigger_id, response_url …)."""
    return {k: v[0] for k, v in parse_qs(response.request_body.decode()).items()}


def interaction_payload(response: DriverResponse) -> dict:
    return json.loads(command_form(response)["payload"])


class Load:
    """Sends requests from ``threads`` threads until ``stop``: declarations, status updates
    through pre-opened forms, acknowledgements (card button), resolutions and action items
    (subcommands) and people's messages in incident channels. ``forms``, ``to_ack`` and
    ``to_resolve`` are used up one per request; when one runs out, its kind stops."""

    def __init__(self, driver: SlackDriver, slack: SandboxClient, *, forms: list[Form],
                 to_ack: list[Target], to_resolve: list[Target], channels: list[Target], threads: int = 3) -> None:
        self.driver, self.slack = driver, slack
        self.forms, self.to_ack, self.to_resolve = list(forms), list(to_ack), list(to_resolve)
        self._channels = itertools.cycle(channels)
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._due = dict.fromkeys(EVERY, 0.0)
        self._threads = [threading.Thread(target=self._loop, name=f"load-{i}", daemon=True) for i in range(threads)]
        self.sent: list[Sent] = []
        self.errors: list[str] = []  # a request the load itself could not make (a bug in the test)

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def recorded(self) -> list[Sent]:
        """What has been answered so far (the load may still be running)."""
        with self._lock:
            return list(self.sent)

    def stop(self) -> list[Sent]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        return self.sent

    def _loop(self) -> None:
        while not self._stop.is_set():
            picked = self._next()
            if picked is None:
                time.sleep(0.01)
                continue
            kind, item, number = picked
            started = time.monotonic()
            try:
                sent = self._senders()[kind](item, number)
            except Exception as error:  # noqa: BLE001 - reported by the test, with the others
                self.errors.append(f"{kind} {number}: {type(error).__name__}: {error}")
                continue
            sent.started, sent.finished = started, time.monotonic()
            with self._lock:
                self.sent.append(sent)

    def _next(self) -> tuple[str, object, int] | None:
        """The next kind that is due (and what it acts on), or None when nothing is."""
        pools = {"update": self.forms, "ack": self.to_ack, "resolve": self.to_resolve}
        with self._lock:
            now = time.monotonic()
            for kind, every in EVERY.items():
                if self._due[kind] > now or (kind in pools and not pools[kind]):
                    continue
                self._due[kind] = now + every
                item = pools[kind].pop(0) if kind in pools else next(self._channels)
                return kind, item, next(self._numbers)
        return None

    def _senders(self) -> dict[str, Callable[..., Sent]]:
        return {"declare": self._declare, "update": self._update, "ack": self._ack, "resolve": self._resolve,
                "action": self._action, "message": self._message}

    # -- one request of each kind ------------------------------------------------------

    def _declare(self, _channel: Target, n: int) -> Sent:
        title = f"Checkout latency under load {n}"
        response = self.driver.slash_command(f"{title} sev3", user=ALICE, channel=GENERAL)
        form = command_form(response)
        return Sent("declare", response, 0, 0, key=form["trigger_id"], text=title, response_url=form["response_url"])

    def _update(self, form: Form, n: int) -> Sent:
        text = f"Update {n}: rolling back the 14:02 deploy"
        response = self.driver.submit_view(form.view_id, user=form.user, values={"text": {"text": text}})
        return Sent("update", response, 0, 0, key=form.view_id, text=text, target=form.target, user=form.user)

    def _ack(self, target: Target, _n: int) -> Sent:
        return click(self.driver, self.slack, target, ids.ACK, CAROL, kind="ack")

    def _resolve(self, target: Target, n: int) -> Sent:
        return self._subcommand("resolve", CAROL, f"Rolled back release {n}", target)

    def _action(self, target: Target, n: int) -> Sent:
        return self._subcommand("action", BOB, f"Add a retry budget to checkout {n}", target)

    def _subcommand(self, kind: str, user: str, text: str, target: Target) -> Sent:
        """``/incident <kind> <text>`` in the incident's channel."""
        response = self.driver.slash_command(f"{kind} {text}", user=user, channel=target.channel_id)
        form = command_form(response)
        return Sent(kind, response, 0, 0, key=form["trigger_id"], text=text, target=target,
                    response_url=form["response_url"])

    def _message(self, target: Target, n: int) -> Sent:
        text = f"load message {n}: error rate at 3%"
        message, response = self.driver.user_posts(target.channel_id, ALICE, text)
        event_id = json.loads(response.request_body)["event_id"]
        return Sent("message", response, 0, 0, key=message["ts"], text=text, target=target, event_id=event_id)


def click(driver: SlackDriver, slack: SandboxClient, target: Target, action_id: str, user: str, *,
          kind: str) -> Sent:
    """Press a button on the incident's card as it is in Slack right now."""
    card = slack.message(target.channel_id, target.card_ts)
    value = next(e["value"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]
                 if e["action_id"] == action_id)
    response = driver.block_action(user=user, action_id=action_id, value=value, channel=target.channel_id,
                                   message_ts=target.card_ts)
    now = time.monotonic()
    return Sent(kind, response, now, now, key=value, target=target,
                response_url=interaction_payload(response)["response_url"])


# -- reading what happened ------------------------------------------------------------------


# How long the bot must stay still before its background work is taken as over. Only
# after the concrete condition a caller passes (e.g. every declarer told) is met: a
# provisioning blocked on PostgreSQL's 2 s connect timeout is quiet for that long.
QUIET_SECONDS = 5.0


def settle(bot, until: Callable[[], Any] | None = None, what: str = "") -> None:
    """Wait until the bot's work after its answers (provisioning, posting, replying) is
    over: first until ``until`` holds (what the caller is about to check), then until
    there has been no Slack call and no reply for QUIET_SECONDS (anything else still
    trickling in). The deadlines only bound a hang."""
    if until is not None:
        wait_for(until, what or "the bot's background work", timeout=120)
    seen: tuple[int, int] | None = None
    still_since = time.monotonic()

    def quiet() -> bool:
        nonlocal seen, still_since
        now = (len(bot.slack.calls()), len(bot.slack.responses()))
        if now != seen:
            seen, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= QUIET_SECONDS:
            return True
        time.sleep(0.25)
        return False
    wait_for(quiet, "the bot's background work to finish", timeout=120)


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def all_incidents(bot) -> list[Incident]:
    with Session(bot.engine) as session:
        return list(session.exec(select(Incident).order_by(Incident.number)))


def outcome(s: Sent, replies: list[str]) -> str:
    body = s.response.json
    if s.kind == "message":
        if s.response.status == 503:
            assert body == {"ok": False, "error": "database_unavailable"}
            return "refused"
        return "done"
    if s.kind == "declare":
        said = (body or {}).get("text", "")
        if said == DATABASE_DOWN_DECLARING:
            return "refused"
        assert said.startswith("Declaring INC-"), s.response.body
        return "done"
    if s.kind == "update":
        if body and body.get("response_action") == "errors":
            assert body["errors"] == {ids.UPDATE_TEXT: DATABASE_DOWN}
            return "refused"
        assert not s.response.body, s.response.body  # the form closes: stored
        return "done"
    if s.kind == "ack":
        assert s.response.body == "" and set(replies) <= {DATABASE_DOWN, DATABASE_LOST}, replies
        return "refused" if DATABASE_DOWN in replies else "done"
    # resolve, action: subcommands answered in their acknowledgement
    if body:
        assert body == {"response_type": "ephemeral", "text": DATABASE_DOWN}, body
        return "refused"
    assert s.response.body == "" and DATABASE_DOWN not in replies
    return "done"


def refused(s: Sent, replies: list[str]) -> bool:
    """Whether ``s`` has been refused, as far as can be seen yet: ``outcome``'s refusals,
    without its checks, for use while the load runs (an ack's refusal is a reply that
    comes after its answer)."""
    body = s.response.json
    if s.kind == "message":
        return s.response.status == 503
    if s.kind == "declare":
        return (body or {}).get("text") == DATABASE_DOWN_DECLARING
    if s.kind == "update":
        return bool(body) and body.get("response_action") == "errors"
    if s.kind == "ack":
        return DATABASE_DOWN in replies
    return body == {"response_type": "ephemeral", "text": DATABASE_DOWN}


def replies_by_url(bot) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for reply in bot.slack.responses():
        found.setdefault(reply.get("response_url", ""), []).append(reply.get("text") or "")
    return found


def stored(session: Session, s: Sent) -> bool:
    """Whether the effect of ``s`` is in the database."""
    one = lambda sql, **kw: session.execute(text(sql), kw).scalar()  # noqa: E731
    if s.kind == "declare":
        return bool(one("SELECT count(*) FROM incident WHERE request_key = :k", k=f"command:{s.key}"))
    if s.kind == "update":
        update = one("SELECT count(*) FROM status_update WHERE text = :t", t=s.text)
        claim = one("SELECT count(*) FROM processed_event WHERE key = :k", k=f"view:{s.key}")
        assert update == claim, (update, claim, s)  # the form's claim commits with its update, or not at all
        return bool(update)
    if s.kind == "ack":
        return bool(one("SELECT count(*) FROM timeline_event WHERE incident_id = :i AND kind = 'acknowledged' "
                        "AND actor = :a", i=s.target.id, a=CAROL))
    if s.kind == "resolve":
        return bool(one("SELECT count(*) FROM incident WHERE id = :i AND resolution = :t", i=s.target.id, t=s.text))
    if s.kind == "action":
        return bool(one("SELECT count(*) FROM action_item WHERE request_key = :k", k=f"command:{s.key}"))
    return bool(one("SELECT count(*) FROM channel_message WHERE channel_id = :c AND ts = :ts",
                    c=s.target.channel_id, ts=s.key))


def keyed(messages: list[dict]) -> dict[str, list[str]]:
    """The bot's posts by the key in their metadata (``ids.post_key``)."""
    found: dict[str, list[str]] = {}
    for message in messages:
        key = ((message.get("metadata") or {}).get("event_payload") or {}).get("key")
        if key:
            found.setdefault(key, []).append(message["ts"])
    return found


# Each query counts rows that break a rule; every count must be 0.

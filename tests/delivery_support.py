"""Delivering Slack's requests the way Slack does when unsure: the very same request
several times, one after the other or all at once, and waiting until the bot has settled.
Shared by tests/e2e/test_event_retries.py and tests/e2e/test_interaction_retries.py.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func
from sqlmodel import Session, select
from tests_support import wait_for, soak

from incidentbot.models import ChannelMessage, TimelineEvent
from incidentbot.sandbox.driver import DriverResponse, SlackDriver

SOAK = soak()  # INCIDENTBOT_SOAK=1 repeats every burst 5 times; a number > 1, that many times

Request = tuple[DriverResponse, dict]  # a prepared request and the extra headers to send it with

# How long nothing may change before the bot counts as settled. Callers first wait for the
# whole expected effect (every count reached); this window after it is what lets a late
# extra (a second line, one notice too many) show up and fail their exact counts. A losing
# duplicate answers only once the winner's lock is released, so it must not be short.
STILL_SECONDS = 2.0
SETTLE_LIMIT = 120.0  # only bounds a hang (a bot that never stops changing things), as wait_for does


class Recorder(SlackDriver):
    """Builds a request exactly as the driver would send it, without sending it, so the
    very same bytes can be delivered several times, at once."""

    def send(self, body: bytes, content_type: str, **_signing) -> DriverResponse:
        return DriverResponse(0, "", None, {}, body, content_type)


def recorder(bot) -> Recorder:
    return Recorder(bot.driver.bot_url, bot.driver.signing_secret, bot.driver.sandbox)


def retry(n: int | None) -> dict[str, str]:
    """Slack's retry headers (none on the first delivery)."""
    return {} if n is None else {"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"}


def late_ack(answer: DriverResponse) -> bool:
    """Bolt's answer when the listener did not call ack() within Slack's 3 s. The listener
    still runs to the end (its effects happen); only its answer is lost."""
    return answer.status == 404 and "unhandled request" in answer.body


def send_all(bot, requests: list[Request], *, at_once: bool, late_acks: bool = False) -> list[DriverResponse]:
    """Deliver prepared requests (each freshly signed); every answer must be a 200.

    ``late_acks``: Bolt's 404 for an ack later than 3 s is accepted too. For tests of
    exactly-once effects, not of ack speed: buttons and forms do their work before ack()
    (under the same lock as their duplicates), and a burst on a slow machine can take longer.
    Events are acked by Bolt before any work, so their tests keep every answer a 200."""
    def one(request: Request) -> DriverResponse:
        prepared, headers = request
        return bot.driver.replay(prepared, headers=headers)
    if at_once:
        with ThreadPoolExecutor(len(requests)) as pool:
            answers = list(pool.map(one, requests))
    else:
        answers = [one(request) for request in requests]
    assert all(a.status == 200 or (late_acks and late_ack(a)) for a in answers), \
        [(a.status, a.body) for a in answers]
    return answers


def quiet(bot, probe=None, what: str = "the bot to finish") -> None:
    """Wait for ``probe``, then until the bot stops changing things for STILL_SECONDS:
    Slack calls and stored rows stay put. ``probe`` must be the whole expected effect
    (every count reached, ``>=`` where the caller then asserts ``==``), never a first sign
    of it. Losing duplicates leave no trace, so only a settled state can show that they
    did nothing more."""
    if probe is not None:
        wait_for(probe, what)

    def state():
        with Session(bot.engine) as session:
            rows = [session.exec(select(func.count()).select_from(table)).one()
                    for table in (ChannelMessage, TimelineEvent)]
        return len(bot.slack.calls()), len(bot.slack.responses()), rows
    last, since = state(), time.monotonic()
    deadline = since + SETTLE_LIMIT
    while time.monotonic() - since < STILL_SECONDS:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the bot kept changing things for {SETTLE_LIMIT:.0f}s after {what}")
        time.sleep(0.1)
        now = state()
        if now != last:
            last, since = now, time.monotonic()


def failures(caplog) -> list[str]:
    """Errors logged while handling (a duplicate that crashed, a lock that timed out)."""
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]

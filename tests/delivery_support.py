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


def send_all(bot, requests: list[Request], *, at_once: bool) -> list[DriverResponse]:
    """Deliver prepared requests (each freshly signed); every answer must be a 200."""
    def one(request: Request) -> DriverResponse:
        prepared, headers = request
        return bot.driver.replay(prepared, headers=headers)
    if at_once:
        with ThreadPoolExecutor(len(requests)) as pool:
            answers = list(pool.map(one, requests))
    else:
        answers = [one(request) for request in requests]
    assert [a.status for a in answers] == [200] * len(answers), [a.body for a in answers]
    return answers


def quiet(bot, probe=None, what: str = "the bot to finish") -> None:
    """Wait for ``probe`` (the effect), then until the bot stops changing things: Slack calls
    and stored rows stay put. Losing duplicates leave no trace, so only a settled state can
    show that they did nothing."""
    if probe is not None:
        wait_for(probe, what)

    def state():
        with Session(bot.engine) as session:
            rows = [session.exec(select(func.count()).select_from(table)).one()
                    for table in (ChannelMessage, TimelineEvent)]
        return len(bot.slack.calls()), len(bot.slack.responses()), rows
    seen = [state()]
    while len(seen) < 4 or len({repr(s) for s in seen[-4:]}) > 1:
        time.sleep(0.1)
        seen.append(state())


def failures(caplog) -> list[str]:
    """Errors logged while handling (a duplicate that crashed, a lock that timed out)."""
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]

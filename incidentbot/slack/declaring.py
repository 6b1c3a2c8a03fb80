"""The declare flow shared by the slash command and the declare modal.

Both paths validate, store the incident (fast, before or right after ``ack``),
then provision Slack resources and tell the declarer how it went.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from incidentbot import db
from incidentbot.core import incidents
from incidentbot.core.incidents import Declaration
from incidentbot.db import session_scope
from incidentbot.models import Incident
from incidentbot.slack import blocks, provisioning
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError

log = logging.getLogger(__name__)

Reply = Callable[[str], None]


# Slack shows the person an error ("operation_timeout") when the answer to a slash
# command takes longer than this, although the command went through.
SLACK_ANSWER_SECONDS = 3.0


def sent_at(headers: dict) -> float | None:
    """When Slack sent the request (its signed ``X-Slack-Request-Timestamp``, whole seconds)."""
    raw = (headers.get("x-slack-request-timestamp") or [""])[0]
    return float(raw) if raw.isdecimal() else None


def answered_late(sent: float | None, *, now: float | None = None) -> bool:
    """Whether an ack made now reaches Slack too late to be shown. The timestamp has
    whole seconds, so an answer 2-3 s after sending may be taken for late: the note
    below says "may have"."""
    return sent is not None and (time.time() if now is None else now) - sent >= SLACK_ANSWER_SECONDS


def noting_late(reply: Reply) -> Reply:
    """``reply``, which tells the declarer how the declaration went, saying first that it
    went through: Slack showed an error, and a person who believes it declares again."""
    return lambda text: reply(blocks.ANSWERED_LATE + "\n" + text)


def store(deps: Deps, declaration: Declaration) -> tuple[Incident, bool]:
    with session_scope(deps.engine) as session:
        return incidents.declare(session, deps.policy, declaration)


# Provisioning (about two thirds of a declaration's CPU) runs in this small pool rather
# than in the listener thread that acked. When the CPU is short, in a burst of
# declarations, runnable threads share the GIL about evenly: with up to 64 listener
# threads all provisioning, the next commands' acks queued behind them past Slack's 3 s.
# With 8, acks keep most of the CPU and channels come a little later instead; 8 threads
# waiting on Slack (about 1 s per channel) still set up several channels a second, more
# than Slack's limit on conversations.create allows (docs/performance.md).
PROVISIONING_THREADS = 8
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def open_channel_soon(deps: Deps, incident: Incident, reply: Reply) -> None:
    """``open_channel`` in the provisioning pool; returns at once. If the process stops
    first, the worker's reconcile sweep provisions the incident."""
    global _pool
    with _pool_lock:  # made on first use: after gunicorn forked the worker
        if _pool is None:
            _pool = ThreadPoolExecutor(PROVISIONING_THREADS, thread_name_prefix="incidentbot-provisioning")
    _pool.submit(_open_channel_logged, deps, incident, reply)


def _open_channel_logged(deps: Deps, incident: Incident, reply: Reply) -> None:
    try:
        open_channel(deps, incident, reply)
    except Exception:  # the reply itself failed; nobody else would see it
        log.exception("telling the declarer of %s how provisioning went failed", incident.reference)


def open_channel(deps: Deps, incident: Incident, reply: Reply) -> None:
    """Provision the incident's Slack resources and report to the declarer.

    Failures are reported, never raised: the incident is stored, and the worker's
    reconcile sweep finishes provisioning when Slack is reachable again.
    """
    try:
        outcome = provisioning.provision(deps, incident.id)
    except SlackError as error:
        log.warning("provisioning %s stopped at %s: %s", incident.reference, error.method, error.code)
        reply(
            f"{incident.reference} is recorded, but Slack refused to set up its channel "
            f"({error.code}). I will retry in the background; nothing needs to be typed again."
        )
        return
    except Exception:
        log.exception("provisioning %s failed", incident.reference)
        reply(
            f"{incident.reference} is recorded, but setting up its channel failed. "
            "I will retry in the background; nothing needs to be typed again."
        )
        return
    message = blocks.declared_reply(outcome.incident)
    if outcome.problems:
        message += "\n" + "\n".join(f":warning: {p}" for p in outcome.problems)
    reply(message)


def convert(deps: Deps, declaration: Declaration, channel_id: str, channel_name: str, reply: Reply) -> None:
    """``/incident convert``: the channel it was typed in becomes the incident channel.

    No channel is created and its history stays. The bot must be able to post
    there, which is checked before anything is stored: it joins a public channel
    by itself; a private one has to invite it, and makes a private incident.
    """
    try:
        deps.gateway.join(channel_id)
    except SlackError as error:
        # A private channel can't be joined; it is fine if the bot was invited.
        invited = error.code == "method_not_supported_for_channel_type" and deps.gateway.can_see(channel_id)
        if not invited:
            reply("I can't post in this channel. Invite me first (`/invite @incidentbot`), "
                  "then run `/incident convert` again. Nothing was declared.")
            return
        # Its people chose a private channel: the incident is private too (never announced,
        # only its members see it), or its title would reach everyone.
        declaration = replace(declaration, private=True)
    try:
        incident, created = store(deps, declaration)
    except Exception as error:
        if not db.unavailable(error):
            raise
        log.warning("declaration not stored: the database is unavailable (%s)", db.describe(error))
        reply(blocks.DATABASE_DOWN_DECLARING)
        return
    if not created:
        return
    with session_scope(deps.engine) as session:
        incidents.attach_channel(session, incidents.get(session, incident.id), channel_id, channel_name)
    open_channel_soon(deps, incident, reply)

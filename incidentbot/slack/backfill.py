"""Filling the gaps in an incident channel's stored messages from Slack's history.

Messages normally arrive as ``message`` events (``slack/capture.py``). Events sent
while the bot was down are lost to it, so the worker's backfill sweep pages through
``conversations.history`` (999 messages a page, cursors) and ``conversations.replies``
for threads, and stores the messages it does not have yet (``source="backfill"``).

Messages already stored that were edited since (``edited.ts`` newer than the stored
edit) get the new text, on their timeline event too. Threads whose replies are all
stored already are not fetched again.

Rows are committed page by page: a long rate limit (a 429 whose ``Retry-After`` the
client will not wait out) stops the backfill, keeps what was stored, and the next
sweep carries on.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from incidentbot.core import capture, incidents, messages
from incidentbot.db import session_scope
from incidentbot.models import Incident
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError

log = logging.getLogger(__name__)

# How far before the declaration to look: a converted channel holds the discussion
# that led to the incident (a channel the bot created has nothing older anyway).
MARGIN = timedelta(hours=24)
BATCH = 200  # messages stored per transaction
# The bot cannot read the channel (removed, archived, never invited): nothing to do.
_UNREADABLE = frozenset({"not_in_channel", "channel_not_found", "is_archived", "missing_scope"})


class RateLimited(Exception):
    """Slack asked for a long pause; what was stored so far is kept. ``added`` says how much."""

    def __init__(self, added: int) -> None:
        super().__init__(f"rate limited after storing {added} messages")
        self.added = added


def backfill(deps: Deps, incident: Incident, *, raise_on_ratelimit: bool = False) -> int:
    """Store the incident channel's messages that are not stored yet; how many were added.

    A long rate limit ends the backfill early (returning what was added, or raising
    ``RateLimited`` with ``raise_on_ratelimit`` so a sweep can stop for all incidents).
    """
    if not incident.channel_id:
        return 0
    writer = _Writer(deps, incident)
    try:
        _fill(deps, incident, writer)
    except SlackError as error:
        writer.flush()
        if error.code == "ratelimited":
            log.info("backfill of %s paused by a rate limit after %d messages; the next sweep resumes",
                     incident.reference, writer.added)
            if raise_on_ratelimit:
                raise RateLimited(writer.added) from None
        elif error.code in _UNREADABLE:
            log.info("backfill of %s: cannot read %s (%s)", incident.reference, incident.channel_id, error.code)
        else:
            raise
        return writer.added
    writer.flush()
    with session_scope(deps.engine) as session:
        # Captures made before their message could be read get its text now.
        capture.fill_all_pending(session, incidents.get(session, incident.id))
    if writer.added:
        log.info("backfill of %s stored %d missed messages", incident.reference, writer.added)
    return writer.added


def _fill(deps: Deps, incident: Incident, writer: _Writer) -> None:
    channel = incident.channel_id
    with session_scope(deps.engine) as session:
        writer.known = messages.known_ts(session, channel)
        replies_stored = messages.thread_counts(session, channel)
    start = min(incident.declared_at, incident.started_at or incident.declared_at) - MARGIN
    threads: list[dict[str, Any]] = []
    for message in deps.gateway.history(channel, oldest=messages.datetime_to_ts(start)):
        writer.add(message)
        if _has_replies(message) and not _complete(message, writer.known, replies_stored):
            threads.append(message)
    writer.flush()
    for parent in threads:
        for message in deps.gateway.replies(channel, parent["ts"]):
            writer.add(message)
        writer.flush()


def _has_replies(message: dict) -> bool:
    return bool(message.get("reply_count")) or bool(message.get("latest_reply"))


def _complete(parent: dict, known: set[str], replies_stored: dict[str, int]) -> bool:
    """Every reply of the thread is stored already (so replies need not be fetched)."""
    latest = parent.get("latest_reply")
    count = int(parent.get("reply_count") or 0)
    return bool(latest) and latest in known and replies_stored.get(parent["ts"], 0) >= count


class _Writer:
    """Stores unknown messages in batches, each batch its own transaction."""

    def __init__(self, deps: Deps, incident: Incident) -> None:
        self.deps = deps
        self.incident_id = incident.id
        self.channel = incident.channel_id or ""
        self.known: set[str] = set()
        self.pending: list[dict[str, Any]] = []
        self.edits: list[dict[str, Any]] = []
        self.added = 0

    def add(self, message: dict[str, Any]) -> None:
        ts = message.get("ts")
        if not ts:
            return
        if ts in self.known:
            if (message.get("edited") or {}).get("ts"):
                self.edits.append(message)  # maybe edited while the bot was down
            return
        self.known.add(ts)
        self.pending.append(message)
        if len(self.pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not (self.pending or self.edits):
            return
        batch, self.pending = self.pending, []
        edits, self.edits = self.edits, []
        with session_scope(self.deps.engine) as session:
            incident = incidents.get(session, self.incident_id)
            for message in batch:
                _row, created = messages.store(session, incident, self.channel, message, source="backfill")
                self.added += created
            for message in edits:
                edited_at = messages.ts_to_datetime(message["edited"]["ts"])
                row = messages.get(session, self.channel, message["ts"])
                if row is not None and (row.edited_at is None or edited_at > row.edited_at):
                    messages.edit(session, self.channel, message["ts"], message.get("text") or "", edited_at)
                    capture.update_captured(session, incident, self.channel, message["ts"], message.get("text") or "")

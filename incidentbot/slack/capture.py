"""Capturing from Slack: channel messages, pins, capture reactions, the "Add to incident
timeline" shortcut and ``/incident note``.

Each handler turns a Slack payload into calls on ``core.messages`` / ``core.capture``.
Events are claimed (``event:<event_id>``) in the same transaction as their effect, so
a retried delivery changes nothing; a duplicate with a fresh ``event_id`` is harmless
too, because a message is stored once per ``(channel, ts)`` and captured once per
``message:<channel>:<ts>``. Captures keep Slack quiet: nothing is posted for them (only
a note gets a line in the channel), and the card is not refreshed.

Messages in channels that are not incident channels are ignored without any write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from incidentbot.core import capture, deliveries, incidents, messages
from incidentbot.core.errors import Closed, DomainError
from incidentbot.db import session_scope
from incidentbot.models import Incident
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError
from incidentbot.slack.mrkdwn import escape, user
from incidentbot.timeutil import utcnow

log = logging.getLogger(__name__)

# message subtypes that describe a change to another message rather than a new one.
_CHANGED, _DELETED = "message_changed", "message_deleted"
_NOT_A_MESSAGE = frozenset({"message_replied"})  # a thread parent's reply summary changed


# -- message events ----------------------------------------------------------------

def on_message(deps: Deps, body: dict, event: dict) -> None:
    """Store a message posted in an incident channel, or apply its edit or deletion."""
    channel = event.get("channel")
    subtype = event.get("subtype")
    if not channel or subtype in _NOT_A_MESSAGE:
        return
    with session_scope(deps.engine) as session:
        incident = incidents.by_channel(session, channel)
        if incident is None or not _claim(session, body, "message"):
            return
        if subtype == _CHANGED:
            _edited(session, incident, channel, event)
        elif subtype == _DELETED:
            _deleted(session, incident, channel, event)
        elif event.get("ts"):
            messages.store(session, incident, channel, event, source="event")
            capture.fill_pending(session, incident, channel, event)


def _edited(session: Session, incident: Incident, channel: str, event: dict) -> None:
    message = event.get("message") or {}
    ts = message.get("ts")
    if not ts:
        return
    text = message.get("text") or ""
    edited = (message.get("edited") or {}).get("ts") or event.get("event_ts") or event.get("ts")
    edited_at = messages.ts_to_datetime(edited) if edited else utcnow()
    row = messages.edit(session, channel, ts, text, edited_at)
    if row is None:
        # The edit came before (or without) the message itself: store the edited version;
        # the original's late delivery is then a duplicate. When the original was stored
        # meanwhile (a concurrent delivery), the edit is applied to it after all.
        row, created = messages.store(session, incident, channel, message, source="event")
        if not created:
            row = messages.edit(session, channel, ts, text, edited_at)
    # The stored text, not this event's: an older edit delivered late must not win here.
    capture.update_captured(session, incident, channel, ts, row.text)


def _deleted(session: Session, incident: Incident, channel: str, event: dict) -> None:
    ts = event.get("deleted_ts") or (event.get("previous_message") or {}).get("ts")
    if not ts:
        return
    if messages.delete(session, channel, ts) is None and event.get("previous_message"):
        # Deleted before we stored it: keep a tombstone, so a late delivery of the
        # original does not bring it back.
        messages.store(session, incident, channel, event["previous_message"], source="event")
        messages.delete(session, channel, ts)
    capture.delete_captured(session, incident, channel, ts)


# -- pins and capture reactions ---------------------------------------------------------

def on_pin(deps: Deps, body: dict, event: dict) -> None:
    """A message pinned in an incident channel goes on the timeline."""
    item = event.get("item") or {}
    channel = event.get("channel_id") or item.get("channel")
    message = item.get("message") or {}
    ts = message.get("ts") or item.get("ts")
    if item.get("type", "message") != "message" or not (channel and ts):
        return
    incident = _incident_for(deps, channel, body)
    if incident is None or ts == incident.card_ts:  # the bot's own card is not news
        return
    source = "event"
    if not message.get("text") and not message.get("files"):  # Slack left the message out
        fetched = _stored(deps, channel, ts) or _fetch(deps, channel, ts)
        readable = fetched is not None and fetched is not _UNREADABLE
        message, source = (fetched, "backfill") if readable else ({**message, "ts": ts}, source)
    _capture_message(deps, body, incident, channel, message, via="pin", source=source,
                     actor=event.get("user") or item.get("created_by"), permalink=message.get("permalink"))


def on_reaction(deps: Deps, body: dict, event: dict) -> None:
    """A reaction with the policy's capture emoji puts the message on the timeline."""
    item = event.get("item") or {}
    reaction = (event.get("reaction") or "").split("::", 1)[0]  # "+1::skin-tone-2" → "+1"
    if item.get("type") != "message" or reaction != deps.policy.timeline.capture_emoji:
        return
    channel, ts = item.get("channel"), item.get("ts")
    if not (channel and ts):
        return
    incident = _incident_for(deps, channel, body)
    if incident is None or ts == incident.card_ts:
        return
    message = _stored(deps, channel, ts) or _fetch(deps, channel, ts)
    if message is None:
        log.info("reaction on %s/%s: the message is gone; nothing captured", channel, ts)
        return
    if message is _UNREADABLE:
        # Captured all the same, with its text to come when the message is stored (its own
        # event, still on its way, or the backfill): Slack does not send a reaction twice.
        _capture_message(deps, body, incident, channel, {"ts": ts, "text": ""}, via="reaction", source=None,
                         actor=event.get("user"), pending=True)
        return
    _capture_message(deps, body, incident, channel, message, via="reaction", source="backfill",
                     actor=event.get("user"))


def _incident_for(deps: Deps, channel: str, body: dict) -> Incident | None:
    """The incident of ``channel`` when the delivery is new; None otherwise (no write)."""
    with session_scope(deps.engine) as session:
        incident = incidents.by_channel(session, channel)
        event_id = body.get("event_id")
        if incident is None or (event_id and capture.handled(session, f"event:{event_id}")):
            return None
        return incident


def _stored(deps: Deps, channel: str, ts: str) -> dict | None:
    """The message as the channel-message table has it (no Slack call), if it does."""
    with session_scope(deps.engine) as session:
        row = messages.get(session, channel, ts)
        if row is None or row.deleted:
            return None
        return {**row.data, "ts": row.ts, "user": row.user_id, "bot_id": row.bot_id, "text": row.text,
                "thread_ts": row.thread_ts, "subtype": row.subtype}


_UNREADABLE: dict = {}  # _fetch's answer when Slack could not say (as opposed to "gone": None)


def _fetch(deps: Deps, channel: str, ts: str) -> dict | None:
    try:
        return deps.gateway.message(channel, ts)
    except SlackError as error:
        log.warning("could not read message %s in %s: %s", ts, channel, error.code)
        return _UNREADABLE


def _capture_message(deps: Deps, body: dict, incident: Incident, channel: str, message: dict, *,
                     via: str, source: str | None, actor: str | None, permalink: str | None = None,
                     pending: bool = False) -> None:
    """Claim the delivery, store the message if it is new (``source``: how we got it; None:
    not stored, its text is ``pending``), and capture it."""
    ts = str(message["ts"])
    link = permalink or deps.gateway.permalink(channel, ts)
    with session_scope(deps.engine) as session:
        if not _claim(session, body, via):
            return
        current = incidents.get(session, incident.id)
        if source is not None:
            messages.store(session, current, channel, message, source=source)
        data = {**_extra(message), **({capture.TEXT_PENDING: True} if pending else {})}
        try:
            capture.capture(session, current, channel_id=channel, ts=ts, author=message.get("user"),
                            text=message.get("text") or "", permalink=link, via=via, actor=actor, data=data)
            if pending and (stored := messages.get(session, channel, ts)) is not None:
                # stored between our look and this transaction
                capture.fill_pending(session, current, channel, {"ts": ts, "text": stored.text, "user": stored.user_id})
        except Closed:
            log.info("%s is closed; %s of %s not captured", current.reference, via, ts)


def _extra(message: dict) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if message.get("bot_id"):
        extra["bot_id"] = message["bot_id"]
    if message.get("thread_ts") and message["thread_ts"] != message["ts"]:
        extra["thread_ts"] = message["thread_ts"]
    return extra


# -- the "Add to incident timeline" shortcut --------------------------------------------------

def add_from_shortcut(deps: Deps, shortcut: dict, reply: Callable[[str], None]) -> None:
    """Capture the shortcut's message in an incident channel; elsewhere, say where it works."""
    channel = (shortcut.get("channel") or {}).get("id", "")
    message = dict(shortcut.get("message") or {})
    message.setdefault("ts", shortcut.get("message_ts"))
    actor = (shortcut.get("user") or {}).get("id")
    with session_scope(deps.engine) as session:
        incident = incidents.by_channel(session, channel) if channel else None
    if incident is None:
        reply("*Add to incident timeline* works on messages in an incident channel. "
              "Find yours with `/incident list`.")
        return
    if not message.get("ts"):
        return
    ts = str(message["ts"])
    link = deps.gateway.permalink(channel, ts)
    with session_scope(deps.engine) as session:
        # One shortcut use has one trigger_id: a replayed request answers once.
        if shortcut.get("trigger_id") and not deliveries.claim(session, f"shortcut:{shortcut['trigger_id']}", "shortcut"):
            return
        current = incidents.get(session, incident.id)
        messages.store(session, current, channel, message, source="event")
        try:
            _event, created = capture.capture(
                session, current, channel_id=channel, ts=ts, author=message.get("user"),
                text=message.get("text") or "", permalink=link, via="shortcut", actor=actor, data=_extra(message))
        except DomainError as error:
            reply(escape(str(error)))
            return
    reply(f"Added to the {incident.reference} timeline." if created
          else f"That message is already on the {incident.reference} timeline.")


# -- /incident note ---------------------------------------------------------------------------------

def add_note(deps: Deps, incident: Incident, command: dict, text: str) -> tuple[str, bool]:
    """Store a note (raises the domain's errors for the caller to show); (its text, new?)."""
    key = command.get("trigger_id") or command.get("response_url") or ""
    with session_scope(deps.engine) as session:
        current = incidents.get(session, incident.id)
        event, created = capture.note(session, deps.policy, current, text=text, actor=command["user_id"],
                                      key=key, channel_id=command.get("channel_id"))
    return event.text, created


def post_note(deps: Deps, incident: Incident, actor: str, text: str) -> None:
    """The one capture that shows in the channel: a short line with the note."""
    line = f":memo: {user(actor)} added a note to the timeline:\n" + "\n".join(
        f">{part}" for part in escape(text.strip()).splitlines())
    try:
        deps.gateway.post(incident.channel_id, line)
    except SlackError as error:
        log.warning("could not post a note line in %s: %s", incident.channel_id, error.code)


# -- helpers ----------------------------------------------------------------------------------------

def _claim(session: Session, body: dict, kind: str) -> bool:
    """Claim the delivery in the caller's transaction; deliveries without an id always run
    (they are idempotent anyway)."""
    event_id = body.get("event_id")
    return deliveries.claim(session, f"event:{event_id}", kind) if event_id else True

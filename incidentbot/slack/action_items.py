"""Action items in Slack: the command, the form (card button, message shortcut), the
channel record of each new item with its backlog buttons, and ``/incident actions``.

``core.action_items`` decides (validation, policy defaults, the backlog item, the timeline
event); this module shows the result. The domain call runs before ``ack()`` where it
decides the answer (a mistake is shown privately or under the form's field); posting in
the channel comes after and is best effort, because the item is already stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session

from incidentbot.core import action_items, backlog, due_dates, incidents
from incidentbot.core.action_items import NewActionItem
from incidentbot.core.errors import InvalidInput
from incidentbot.db import session_scope
from incidentbot.models import ActionItem, BacklogItem, Incident
from incidentbot.slack import action_item_blocks as ui
from incidentbot.slack import effects, modals, parsing
from incidentbot.slack.deps import Deps
from incidentbot.timeutil import utcnow

Message = tuple[str, list[dict]]


@dataclass
class Added:
    """A stored item and how the channel shows it."""

    item: ActionItem
    incident: Incident
    new: bool  # False: this request had already created it (a retry, a double click)
    outcome: ui.Outcome


# --- creating --------------------------------------------------------------------------


def add_from_command(deps: Deps, incident: Incident, command: dict, text: str) -> Added:
    """``/incident action <text> [@owner] [due <date>]``; raises the domain's errors."""
    request = parsing.action_request(text)
    now = utcnow()
    actor = command["user_id"]
    spec = NewActionItem(
        title=request.title, owner=request.owner or actor, due=_due(deps, request.due, now), origin="command",
        # One invocation has one trigger_id: a replayed request finds the item it made.
        request_key=f"command:{command.get('trigger_id') or command.get('response_url')}")
    return create(deps, incident.id, spec, actor=actor)


def _due(deps: Deps, words: str | None, now: datetime) -> date | None:
    if not words:
        return None
    try:
        return due_dates.parse_due(words, deps.policy, now)
    except InvalidInput as error:
        raise InvalidInput("due", f"{error.message} Everything after the last word `due` is read as the "
                                  "due date.") from None


def add_from_form(deps: Deps, view: dict, actor: str) -> Added:
    """A submitted form (from the card or the shortcut); the form's view id makes it once."""
    meta = modals.metadata(view)
    values = ui.form_values(view["state"]["values"])
    source = meta.get("source") or {}
    spec = NewActionItem(
        title=values.title, description=values.description, owner=values.owner or actor, due=values.due,
        type=values.type, priority=values.priority, service=values.service,
        origin="shortcut" if source else "form", source_channel_id=source.get("channel"),
        source_ts=source.get("ts"), source_link=source.get("link"), request_key=f"view:{view['id']}")
    return create(deps, int(meta["incident"]), spec, actor=actor)


def create(deps: Deps, incident_id: int, spec: NewActionItem, *, actor: str) -> Added:
    with session_scope(deps.engine) as session:
        incident = incidents.get(session, incident_id)
        created = action_items.create(session, deps.policy, incident, spec, actor=actor, now=utcnow())
        kind = "joined" if created.match is not None else "started"
        suggestions = [ref for ref in (_ref(session, backlog.get(session, m.key), incident)
                                       for m in created.suggestions) if ref.id != created.backlog_item.id]
        outcome = ui.Outcome(kind, _ref(session, created.backlog_item, incident), tuple(suggestions[:3]))
        return Added(created.item, incident, created.new, outcome)


def announce(deps: Deps, added: Added, *, thread_ts: str | None = None) -> None:
    """The visible record in the incident channel (once: a replayed request posts nothing)."""
    if not added.new or not added.incident.channel_id:
        return
    text, message = ui.created_message(deps.policy, added.item, added.outcome)
    effects.best_effort("post a new action item", deps.gateway.post, added.incident.channel_id, text, message,
                        thread_ts=thread_ts)


# --- the form --------------------------------------------------------------------------


def open_form(deps: Deps, trigger_id: str, incident_id: int, opener: str, *, title: str = "",
              description: str = "", source: dict | None = None) -> None:
    with session_scope(deps.engine) as session:
        incident = incidents.get(session, incident_id)
    deps.gateway.open_view(trigger_id, ui.form(deps.policy, incident, opener=opener, title=title,
                                               description=description, source=source))


def open_from_message(deps: Deps, shortcut: dict, reply: Callable[[str], None]) -> None:
    """The shortcut: the form prefilled with the message, remembering where it came from."""
    channel = (shortcut.get("channel") or {}).get("id", "")
    with session_scope(deps.engine) as session:
        incident = incidents.by_channel(session, channel) if channel else None
    if incident is None:
        reply("*Create action item* works on messages in an incident channel. Find yours with `/incident list`, "
              "or type `/incident action <text>` in it.")
        return
    message = shortcut.get("message") or {}
    ts = str(message.get("ts") or shortcut.get("message_ts") or "")
    text = parsing.unescape(message.get("text") or "").strip()
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    source = {"channel": channel, "ts": ts, "link": deps.gateway.permalink(channel, ts) if ts else None}
    open_form(deps, shortcut["trigger_id"], incident.id, shortcut["user"]["id"], title=first_line,
              description=text, source=source)


# --- the backlog buttons on the channel record -----------------------------------------


def split(deps: Deps, item_id: int, actor: str) -> Message:
    """Take the item out of the backlog item it joined; AlreadyDone when it is on its own."""
    with session_scope(deps.engine) as session:
        # Locked, so a double click waits and then finds it already on its own.
        item = session.get(ActionItem, item_id, with_for_update=True) or action_items.get(session, item_id)
        new = backlog.split(session, item, actor=actor, now=utcnow())
        incident = incidents.get(session, item.incident_id)
        outcome = ui.Outcome("split", _ref(session, new, incident), actor=actor)
        return ui.created_message(deps.policy, item, outcome)


def merge(deps: Deps, item_id: int, source_id: int, target_id: int, actor: str) -> Message:
    """Merge the backlog item the new item started into a suggested one; AlreadyDone the second time."""
    with session_scope(deps.engine) as session:
        source = session.get(BacklogItem, source_id, with_for_update=True) or backlog.get(session, source_id)
        target = backlog.merge(session, source, backlog.get(session, target_id), now=utcnow())
        item = action_items.get(session, item_id)
        incident = incidents.get(session, item.incident_id)
        outcome = ui.Outcome("merged", _ref(session, target, incident), actor=actor, merged_from=backlog.label(source))
        return ui.created_message(deps.policy, item, outcome)


def replace_clicked_message(deps: Deps, body: dict, message: Message) -> None:
    """Show the new state on the message whose button was clicked."""
    container = body.get("container") or {}
    channel, ts = container.get("channel_id"), container.get("message_ts")
    if channel and ts:
        effects.best_effort("update the action item message", deps.gateway.update, channel, ts, *message)


# --- /incident actions -----------------------------------------------------------------


def list_message(deps: Deps, incident_id: int) -> Message:
    with session_scope(deps.engine) as session:
        incident = incidents.get(session, incident_id)
        items = action_items.for_incident(session, incident_id)
    return ui.item_list(deps.policy, incident, items)


# --- helpers ---------------------------------------------------------------------------


def _ref(session: Session, item: BacklogItem, incident: Incident) -> ui.BacklogRef:
    """A backlog item as ``incident``'s channel may see it.

    Its title came from some incident's action item: when that was a private incident's (or
    all of its incidents are private) and this is not that incident, the title stays out of
    this channel; private incidents are never named as "also addresses".
    """
    linked = backlog.incidents_of(session, item)
    if item.private_incident_id is not None:  # its text came from that private incident
        visible = item.private_incident_id == incident.id
    else:
        visible = any(i.id == incident.id or not i.private for i in linked) or not linked
    also = tuple(i.reference for i in sorted(linked, key=lambda i: i.number) if i.id != incident.id and not i.private)
    return ui.BacklogRef(item.id, backlog.label(item), item.title if visible else None, also)

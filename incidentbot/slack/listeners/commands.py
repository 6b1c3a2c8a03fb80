"""``/incident``: parse, call the domain, answer.

Subcommands that change an incident run the domain change before ``ack()`` (it
is one small transaction and decides the answer) and show it in Slack after.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import Ack, App, BoltRequest, Respond

from incidentbot import db
from incidentbot.core import incidents
from incidentbot.core.errors import AlreadyDone, DomainError, InvalidInput
from incidentbot.core.incidents import Declaration
from incidentbot.db import session_scope
from incidentbot.models import Incident
from incidentbot.slack import (blocks, capture, declaring, home, ids, modals, operations, parsing, postmortem_flow,
                               timeline_view)
from incidentbot.slack.deps import Deps
from incidentbot.slack.listeners import action_items as action_item_commands
from incidentbot.slack.mrkdwn import escape

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.command(ids.COMMAND)(incident_command)


def incident_command(ack: Ack, command: dict, respond: Respond, context: dict, request: BoltRequest) -> None:
    deps: Deps = context["deps"]
    try:
        parsed = parsing.parse(parsing.unescape(command.get("text") or ""))
    except parsing.CommandError as error:
        _refuse(ack, str(error))
        return
    if parsed.name == "help":
        incident = _incident_here(deps, command)
        ack(response_type="ephemeral", text=blocks.help_text(), blocks=blocks.help_blocks(incident is not None))
    elif parsed.name == "form":
        ack()
        deps.gateway.open_view(command["trigger_id"], modals.declare_modal(deps.policy, channel=command.get("channel_id", "")))
    elif parsed.name == "list":
        # Private incidents need a members lookup per channel: after the ack.
        ack()
        text, message = home.list_message(deps, command["user_id"])
        respond(response_type="ephemeral", text=text, blocks=message)
    elif parsed.name == "backlog":
        # Scoring reads every open backlog item: after the ack.
        ack()
        from incidentbot.slack import backlog_view

        backlog_view.show_backlog(deps, command, respond, parsed.rest)
    elif parsed.name == "digest":
        preview_digest(ack, command, respond, deps, parsed)
    elif parsed.name in ("declare", "convert"):
        declare_from_command(ack, command, respond, deps, parsed, sent_at=declaring.sent_at(request.headers))
    elif parsed.name in parsing.IN_CHANNEL:
        in_incident_channel(ack, command, respond, deps, parsed)
    else:
        _refuse(ack, f"`/incident {parsed.name}` is not available. Type `/incident help` for what is.")


def preview_digest(ack: Ack, command: dict, respond: Respond, deps: Deps, parsed: parsing.Command) -> None:
    """``/incident digest [week]``: the weekly digest, only to the person who asked (built after the ack)."""
    from incidentbot.slack import digest_flow
    from incidentbot.timeutil import utcnow

    now = utcnow()
    try:
        week = digest_flow.preview_week(deps, parsed.rest, now)
    except InvalidInput as error:
        _refuse(ack, error.message)
        return
    ack(response_type="ephemeral", text=f"Building the digest of {week.label}…")
    digest_flow.preview(deps, week, respond, now)


def declare_from_command(ack: Ack, command: dict, respond: Respond, deps: Deps, parsed: parsing.Command,
                         *, sent_at: float | None = None) -> None:
    convert = parsed.name == "convert"
    if convert and _incident_here(deps, command):
        _refuse(ack, "This channel is already an incident channel.")
        return
    try:
        declaration = Declaration(
            title=incidents.clean_title(deps.policy, parsed.title),
            severity=incidents.check_severity(deps.policy, parsed.severity),
            declared_by=command["user_id"],
            # One slash command invocation has one trigger_id: a replayed request
            # finds the incident it already made.
            request_key=f"command:{command.get('trigger_id') or command.get('response_url')}",
        )
    except InvalidInput as error:
        _refuse(ack, error.message)
        return
    reply = lambda text: respond(text=text, response_type="ephemeral")  # noqa: E731
    if convert:
        if declaring.answered_late(sent_at):
            reply = declaring.noting_late(reply)
        ack(response_type="ephemeral", text="Turning this channel into an incident channel…")
        declaring.convert(deps, declaration, command["channel_id"], command.get("channel_name", ""), reply)
        return
    try:
        incident, created = declaring.store(deps, declaration)
    except Exception as error:
        if not db.unavailable(error):
            raise  # a bug: errors.report_error answers it
        log.warning("declaration not stored: the database is unavailable (%s)", db.describe(error))
        ack(response_type="ephemeral", text=blocks.DATABASE_DOWN_DECLARING)
        return
    if declaring.answered_late(sent_at):
        reply = declaring.noting_late(reply)
    ack(response_type="ephemeral", text=blocks.declaring_ack(incident))
    if created:
        declaring.open_channel_soon(deps, incident, reply)


def in_incident_channel(ack: Ack, command: dict, respond: Respond, deps: Deps, parsed: parsing.Command) -> None:
    incident = _incident_here(deps, command)
    if incident is None:
        _refuse(ack, f"`/incident {parsed.name}` works inside an incident channel. "
                     "Find yours with `/incident list`, or declare one with `/incident <title>`.")
        return
    actor = command["user_id"]
    special = _NOT_A_CHANGE.get(parsed.name)
    if special and special(ack, command, respond, deps, incident, parsed):
        return
    try:
        if parsed.name == "update":
            update, changes = operations.post_update(deps, incident.id, actor, text=parsed.text)
            ack()
            operations.finish_update(deps, update, changes)
            return
        operation = _operation(deps, actor, parsed)
        changes = operations.run(deps, incident.id, operation)
    except AlreadyDone as done:
        _refuse(ack, str(done), operations.state_note(deps, incident.id))
        return
    except DomainError as error:
        _refuse(ack, str(error))
        return
    ack()
    operations.finish(deps, changes)


def _open_form(build):
    """A subcommand given without text opens its form instead."""
    def handle(ack: Ack, command: dict, _respond: Respond, deps: Deps, incident: Incident,
               parsed: parsing.Command) -> bool:
        if parsed.rest:
            return False
        ack()
        deps.gateway.open_view(command["trigger_id"], build(deps.policy, incident))
        return True
    return handle


def show_timeline(ack: Ack, command: dict, respond: Respond, deps: Deps, incident: Incident,
                  parsed: parsing.Command) -> bool:
    """``/incident timeline [page]``: private, paged, in the reader's timezone (after the ack)."""
    ack()
    page = int(parsed.rest) - 1 if parsed.rest.strip().isdecimal() else 0
    text, message = timeline_view.for_viewer(deps, incident.id, command["user_id"], page)
    respond(text=text, blocks=message, response_type="ephemeral")
    return True


def add_note(ack: Ack, command: dict, _respond: Respond, deps: Deps, incident: Incident,
             parsed: parsing.Command) -> bool:
    """``/incident note <text>``: on the timeline at the time it was typed, and a line in the channel."""
    try:
        noted, created = capture.add_note(deps, incident, command, parsed.text)
    except DomainError as error:
        _refuse(ack, str(error))
        return True
    ack()
    if created:  # a replayed command posts nothing again
        capture.post_note(deps, incident, command["user_id"], noted)
    return True


def _operation(deps: Deps, actor: str, parsed: parsing.Command) -> operations.Operation:
    """The domain operation a subcommand asks for; InvalidInput when its arguments are wrong."""
    users, rest = parsing.mentions(parsed.rest)
    name = parsed.name
    simple: dict[str, Callable[[], operations.Operation]] = {
        "ack": lambda: operations.acknowledge(deps, actor),
        "mitigate": lambda: operations.mitigate(deps, actor),
        "close": lambda: operations.close(deps, actor),
        "resolve": lambda: operations.resolve(deps, actor, parsed.text),
        "summary": lambda: operations.set_summary(deps, actor, parsed.text),
        "status": lambda: operations.set_status(deps, actor, parsed.rest.strip().lower()),
        "lead": lambda: operations.assign(deps, actor, deps.policy.lead_role.id, users[0] if users else actor),
    }
    if name in simple:
        if name in ("status", "summary") and not parsed.rest.strip():
            raise InvalidInput(name, f"Say what to set: `{parsing.USAGE[name][0]}`.")
        return simple[name]()
    if name == "role":
        role, *_ = rest.split() or [""]
        if not role or not users:
            raise InvalidInput("role", f"Name the role and mention the person: `{parsing.USAGE['role'][0]}`.")
        return operations.assign(deps, actor, role.lower(), users[0])
    # sev <1-4> [reason]
    level, _, reason = parsed.text.strip().partition(" ")
    if not level:
        raise InvalidInput("severity", f"Say which severity: `{parsing.USAGE['sev'][0]}`.")
    return operations.set_severity(deps, actor, level, reason.strip() or None)


def draft_postmortem(ack: Ack, command: dict, respond: Respond, deps: Deps, incident: Incident,
                     parsed: parsing.Command) -> bool:
    """``/incident postmortem``: drafting reads the whole channel, so it runs after the ack."""
    ack(response_type="ephemeral", text=f"Drafting the postmortem of {incident.reference}…")
    try:
        note = postmortem_flow.draft_now(deps, incident.id, command["user_id"])
    except DomainError as error:
        note = str(error)
    respond(text=escape(note), response_type="ephemeral")
    return True


# In-channel subcommands that change nothing by themselves (or not right away).
_NOT_A_CHANGE = {
    "update": _open_form(modals.update_modal),
    "resolve": _open_form(modals.resolve_modal),
    "note": add_note,
    "timeline": show_timeline,
    "postmortem": draft_postmortem,
    # Action items (slack/listeners/action_items.py): not a change of the incident itself.
    "action": action_item_commands.action_command,
    "actions": action_item_commands.actions_command,
}


def _incident_here(deps: Deps, command: dict) -> Incident | None:
    with session_scope(deps.engine) as session:
        return incidents.by_channel(session, command.get("channel_id", ""))


def _refuse(ack: Ack, message: str, note: str = "") -> None:
    """Answer privately with a plain-text ``message`` and an optional mrkdwn ``note``."""
    text = escape(message) + (" " + note if note else "")
    ack(response_type="ephemeral", text=text, blocks=blocks.error_blocks(message, note))


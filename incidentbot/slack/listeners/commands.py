"""``/incident``: parse, call the domain, answer.

Subcommands that change an incident run the domain change before ``ack()`` (it
is one small transaction and decides the answer) and show it in Slack after.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import Ack, App, Respond

from incidentbot.core import incidents
from incidentbot.core.errors import AlreadyDone, DomainError, InvalidInput
from incidentbot.core.incidents import Declaration
from incidentbot.db import session_scope
from incidentbot.models import Incident
from incidentbot.slack import blocks, declaring, home, ids, modals, operations, parsing
from incidentbot.slack.deps import Deps
from incidentbot.slack.mrkdwn import escape

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.command(ids.COMMAND)(incident_command)


def incident_command(ack: Ack, command: dict, respond: Respond, context: dict) -> None:
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
    elif parsed.name in ("declare", "convert"):
        declare_from_command(ack, command, respond, deps, parsed)
    elif parsed.name in parsing.IN_CHANNEL:
        in_incident_channel(ack, command, deps, parsed)
    else:
        _refuse(ack, f"`/incident {parsed.name}` is not available. Type `/incident help` for what is.")


def declare_from_command(ack: Ack, command: dict, respond: Respond, deps: Deps, parsed: parsing.Command) -> None:
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
        ack(response_type="ephemeral", text="Turning this channel into an incident channel…")
        declaring.convert(deps, declaration, command["channel_id"], command.get("channel_name", ""), reply)
        return
    try:
        incident, created = declaring.store(deps, declaration)
    except Exception:
        log.exception("could not store a declaration")
        _refuse(ack, "I could not record the incident: the database is not answering. "
                     "Nothing was declared; please try again in a minute.")
        return
    ack(response_type="ephemeral", text=blocks.declaring_ack(incident))
    if created:
        declaring.open_channel(deps, incident, reply)


def in_incident_channel(ack: Ack, command: dict, deps: Deps, parsed: parsing.Command) -> None:
    incident = _incident_here(deps, command)
    if incident is None:
        _refuse(ack, f"`/incident {parsed.name}` works inside an incident channel. "
                     "Find yours with `/incident list`, or declare one with `/incident <title>`.")
        return
    actor = command["user_id"]
    if parsed.name == "update" and not parsed.rest:
        ack()
        deps.gateway.open_view(command["trigger_id"], modals.update_modal(deps.policy, incident))
        return
    if parsed.name == "resolve" and not parsed.rest:
        ack()
        deps.gateway.open_view(command["trigger_id"], modals.resolve_modal(deps.policy, incident))
        return
    try:
        if parsed.name == "update":
            update, changes = operations.post_update(deps, incident.id, actor, text=parsed.rest)
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


def _operation(deps: Deps, actor: str, parsed: parsing.Command) -> operations.Operation:
    """The domain operation a subcommand asks for; InvalidInput when its arguments are wrong."""
    users, rest = parsing.mentions(parsed.rest)
    name = parsed.name
    simple: dict[str, Callable[[], operations.Operation]] = {
        "ack": lambda: operations.acknowledge(deps, actor),
        "mitigate": lambda: operations.mitigate(deps, actor),
        "close": lambda: operations.close(deps, actor),
        "resolve": lambda: operations.resolve(deps, actor, parsed.rest),
        "summary": lambda: operations.set_summary(deps, actor, parsed.rest),
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
    level, _, reason = parsed.rest.strip().partition(" ")
    if not level:
        raise InvalidInput("severity", f"Say which severity: `{parsing.USAGE['sev'][0]}`.")
    return operations.set_severity(deps, actor, level, reason.strip() or None)


def _incident_here(deps: Deps, command: dict) -> Incident | None:
    with session_scope(deps.engine) as session:
        return incidents.by_channel(session, command.get("channel_id", ""))


def _refuse(ack: Ack, message: str, note: str = "") -> None:
    """Answer privately with a plain-text ``message`` and an optional mrkdwn ``note``."""
    text = escape(message) + (" " + note if note else "")
    ack(response_type="ephemeral", text=text, blocks=blocks.error_blocks(message, note))


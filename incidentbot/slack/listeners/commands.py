"""``/incident``: parse, call the domain, answer."""

from __future__ import annotations

import json
import logging

from slack_bolt import Ack, App, Respond

from incidentbot.core import incidents
from incidentbot.core.errors import InvalidInput
from incidentbot.core.incidents import Declaration
from incidentbot.slack import blocks, declaring, ids, parsing
from incidentbot.slack.deps import Deps

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.command(ids.COMMAND)(incident_command)


def incident_command(ack: Ack, command: dict, respond: Respond, context: dict) -> None:
    deps: Deps = context["deps"]
    try:
        parsed = parsing.parse(command.get("text"))
    except parsing.CommandError as error:
        ack(response_type="ephemeral", text=str(error), blocks=blocks.error_blocks(str(error)))
        return
    if parsed.name == "help":
        ack(response_type="ephemeral", text=blocks.help_text(), blocks=blocks.help_blocks())
    elif parsed.name == "form":
        open_declare_form(ack, command, deps)
    elif parsed.name == "declare":
        declare_from_command(ack, command, respond, deps, parsed)
    else:
        message = f"`/incident {parsed.name}` is not available. Here is what you can type:"
        ack(response_type="ephemeral", text=message, blocks=blocks.error_blocks(message))


def open_declare_form(ack: Ack, command: dict, deps: Deps) -> None:
    ack()
    # The channel it was typed in, so the confirmation can be shown there.
    metadata = json.dumps({"channel": command.get("channel_id", "")})
    deps.gateway.open_view(command["trigger_id"], blocks.declare_modal(deps.policy, private_metadata=metadata))


def declare_from_command(ack: Ack, command: dict, respond: Respond, deps: Deps, parsed: parsing.Command) -> None:
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
        ack(response_type="ephemeral", text=error.message, blocks=blocks.error_blocks(error.message))
        return
    try:
        incident, created = declaring.store(deps, declaration)
    except Exception:
        log.exception("could not store a declaration")
        ack(
            response_type="ephemeral",
            text="I could not record the incident: the database is not answering. "
            "Nothing was declared; please try again in a minute.",
        )
        return
    ack(response_type="ephemeral", text=blocks.declaring_ack(incident))
    if created:
        declaring.open_channel(deps, incident, lambda text: respond(text=text, response_type="ephemeral"))

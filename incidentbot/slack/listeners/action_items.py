"""Action items: ``/incident action`` and ``actions``, the card's *Add action item* button,
the form, the *Create action item* shortcut, the backlog buttons on a new item's record,
and confirming a postmortem draft's proposals.

Thin listeners: read the payload, call ``slack.action_items`` (which runs the domain in
one transaction), answer. Mistakes are answered privately, or under the form's field.
"""

from __future__ import annotations

from slack_bolt import Ack, App, Respond

from incidentbot.core import action_items
from incidentbot.core.errors import DomainError
from incidentbot.models import Incident
from incidentbot.slack import action_item_proposals as proposals
from incidentbot.slack import action_items as flows
from incidentbot.slack import blocks, ids, parsing
from incidentbot.slack.deps import Deps
from incidentbot.slack.mrkdwn import escape

# Domain field → the form input that shows its error (core.incidents.check_services says "services").
_FIELD_OF = {"services": ids.AI_SERVICE}
_FIELDS = {ids.AI_TITLE, ids.AI_DESCRIPTION, ids.AI_OWNER, ids.AI_DUE, ids.AI_TYPE, ids.AI_PRIORITY, ids.AI_SERVICE}


def register(app: App) -> None:
    app.action(ids.AI_OPEN_FORM)(open_form_clicked)
    app.view(ids.AI_VIEW)(form_submitted)
    app.shortcut(ids.AI_FROM_MESSAGE)(create_from_message)
    app.action(ids.AI_SPLIT)(split_clicked)
    app.action(ids.AI_MERGE)(merge_clicked)
    app.action(ids.AI_CONFIRM)(confirm_clicked)
    app.action(ids.AI_CONFIRM_ALL)(confirm_all_clicked)


# --- /incident action, /incident actions (dispatched by listeners/commands.py) ---------


def action_command(ack: Ack, command: dict, _respond: Respond, deps: Deps, incident: Incident,
                   parsed: parsing.Command) -> bool:
    """Store first (the answer depends on it), ack, then the record in the channel."""
    try:
        added = flows.add_from_command(deps, incident, command, parsed.rest)
    except DomainError as error:
        ack(response_type="ephemeral", text=escape(str(error)),
            blocks=[blocks.section(f":warning: {escape(str(error))}")])
        return True
    if added.new:
        ack()
        flows.announce(deps, added)
    else:  # the same request delivered again
        ack(response_type="ephemeral", text=f"{action_items.label(added.item)} is already added.")
    return True


def actions_command(ack: Ack, _command: dict, respond: Respond, deps: Deps, incident: Incident,
                    _parsed: parsing.Command) -> bool:
    ack()
    text, message = flows.list_message(deps, incident.id)
    respond(text=text, blocks=message, response_type="ephemeral")
    return True


# --- the form --------------------------------------------------------------------------


def open_form_clicked(ack: Ack, body: dict, context: dict) -> None:
    """The card's button; its value is "<incident id>:<revision>" like every card button.

    Resolved incidents still take action items, so an old card's button opens the form too.
    """
    ack()
    incident_id = int(body["actions"][0]["value"].partition(":")[0])
    flows.open_form(context["deps"], body["trigger_id"], incident_id, body["user"]["id"])


def create_from_message(ack: Ack, shortcut: dict, respond: Respond, context: dict) -> None:
    ack()
    flows.open_from_message(context["deps"], shortcut,
                            lambda text: respond(text=text, response_type="ephemeral", replace_original=False))


def form_submitted(ack: Ack, body: dict, view: dict, context: dict) -> None:
    deps: Deps = context["deps"]
    try:
        added = flows.add_from_form(deps, view, body["user"]["id"])
    except DomainError as error:
        field = getattr(error, "field", "")
        field = _FIELD_OF.get(field, field)
        ack(response_action="errors", errors={field if field in _FIELDS else ids.AI_TITLE: str(error)})
        return
    ack()
    flows.announce(deps, added)


# --- buttons on messages ---------------------------------------------------------------


def _value(body: dict) -> list[int]:
    return [int(part) for part in body["actions"][0]["value"].split(":")]


def _tell(respond: Respond, text: str) -> None:
    respond(text=escape(text), response_type="ephemeral", replace_original=False)


def split_clicked(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    ack()
    deps: Deps = context["deps"]
    (item_id,) = _value(body)
    try:
        message = flows.split(deps, item_id, body["user"]["id"])
    except DomainError as error:
        _tell(respond, str(error))
        return
    flows.replace_clicked_message(deps, body, message)


def merge_clicked(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    ack()
    deps: Deps = context["deps"]
    item_id, source_id, target_id = _value(body)
    try:
        message = flows.merge(deps, item_id, source_id, target_id, body["user"]["id"])
    except DomainError as error:
        _tell(respond, str(error))
        return
    flows.replace_clicked_message(deps, body, message)


def confirm_clicked(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    ack()
    deps: Deps = context["deps"]
    postmortem_id, index, check = body["actions"][0]["value"].split(":")
    try:
        result = proposals.confirm(deps, int(postmortem_id), int(index), check, body["user"]["id"])
    except DomainError as error:
        _tell(respond, str(error))
        return
    proposals.announce(deps, result, body)
    if result.notes:
        _tell(respond, " ".join(result.notes))


def confirm_all_clicked(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    ack()
    deps: Deps = context["deps"]
    try:
        result = proposals.confirm_all(deps, int(body["actions"][0]["value"]), body["user"]["id"])
    except DomainError as error:
        _tell(respond, str(error))
        return
    proposals.announce(deps, result, body)
    if result.notes:
        _tell(respond, " ".join(result.notes))

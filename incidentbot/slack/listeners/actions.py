"""The incident card's buttons (and the nudges' Snooze).

Every button's value is ``"<incident id>:<revision>"``. Buttons act on the
incident as it is now: a click on an old card, or a second click, gets the
current state back instead of doing the action twice, and the card is refreshed.
"""

from __future__ import annotations

import logging

from slack_bolt import Ack, App, Respond

from incidentbot import db
from incidentbot.core.errors import AlreadyDone, DomainError
from incidentbot.slack import blocks, effects, ids, modals, nudging, operations, timeline_view
from incidentbot.slack.deps import Deps
from incidentbot.slack.listeners import errors
from incidentbot.slack.mrkdwn import escape

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.action(ids.ACK)(acknowledge_clicked)
    app.action(ids.TAKE_LEAD)(take_lead_clicked)
    app.action(ids.MITIGATE)(mitigate_clicked)
    app.action(ids.OPEN_UPDATE)(open_update_form)
    app.action(ids.OPEN_SEVERITY)(open_severity_form)
    app.action(ids.OPEN_RESOLVE)(open_resolve_form)
    app.action(ids.SNOOZE)(nudging.snooze_clicked)
    app.action(ids.TIMELINE_PAGE)(timeline_page_clicked)
    app.action(ids.OPEN_MILESTONES)(open_milestones_form)


def _clicked(body: dict) -> tuple[int, int, str]:
    """(incident id, card revision, user) from a button click."""
    incident_id, _, revision = body["actions"][0]["value"].partition(":")
    return int(incident_id), int(revision or 0), body["user"]["id"]


def _act(ack: Ack, body: dict, respond: Respond, context: dict, make) -> None:
    ack()
    deps: Deps = context["deps"]
    incident_id, revision, actor = _clicked(body)
    try:
        changes = operations.run(deps, incident_id, make(deps, actor))
    except DomainError as error:
        _answer(deps, respond, incident_id, revision, error)
        return
    except Exception as error:
        # Acknowledged already, but the change's one transaction did not commit: say so
        # (errors.report_error could only say that it may be partly done).
        if not db.unavailable(error):
            raise
        log.warning("button not applied: the database is unavailable (%s)", db.describe(error))
        errors.tell(respond, body, blocks.DATABASE_DOWN)
        return
    operations.finish(deps, changes)


def acknowledge_clicked(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    _act(ack, body, respond, context, lambda deps, actor: operations.acknowledge(deps, actor))


def take_lead_clicked(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    _act(ack, body, respond, context,
         lambda deps, actor: operations.assign(deps, actor, deps.policy.lead_role.id, actor))


def mitigate_clicked(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    _act(ack, body, respond, context, lambda deps, actor: operations.mitigate(deps, actor))


def _open(ack: Ack, body: dict, respond: Respond, context: dict, build) -> None:
    """Open a form for an incident that can still take it; otherwise say why not."""
    ack()
    deps: Deps = context["deps"]
    incident_id, revision, _actor = _clicked(body)
    incident, _holders = effects.current(deps, incident_id)
    if incident.resolved_at:
        _answer(deps, respond, incident_id, revision, AlreadyDone(f"{incident.reference} is already resolved."))
        return
    deps.gateway.open_view(body["trigger_id"], build(deps.policy, incident))


def open_update_form(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    _open(ack, body, respond, context, modals.update_modal)


def open_severity_form(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    _open(ack, body, respond, context, modals.severity_modal)


def open_resolve_form(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    _open(ack, body, respond, context, modals.resolve_modal)


def _answer(deps: Deps, respond: Respond, incident_id: int, revision: int, error: DomainError) -> None:
    """Tell only the clicker why nothing happened, with the state as it is now."""
    message = escape(str(error))
    if isinstance(error, AlreadyDone):
        message += " " + operations.state_note(deps, incident_id)
    respond(text=message, response_type="ephemeral", replace_original=False)
    incident, holders = effects.current(deps, incident_id)
    if incident.revision != revision:
        effects.refresh_card(deps, incident, holders)  # the clicked card was out of date


def timeline_page_clicked(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    """Earlier / Later on the (private) timeline message: replace it with that page."""
    ack()
    incident_id, _, page = body["actions"][0]["value"].partition(":")
    text, message = timeline_view.for_viewer(context["deps"], int(incident_id), body["user"]["id"], int(page or 0))
    respond(text=text, blocks=message, response_type="ephemeral", replace_original=True)


def open_milestones_form(ack: Ack, body: dict, context: dict) -> None:
    ack()
    deps: Deps = context["deps"]
    incident_id, _revision, actor = _clicked(body)
    incident, _holders = effects.current(deps, incident_id)
    zone = deps.gateway.user_timezone(actor)
    deps.gateway.open_view(body["trigger_id"], modals.milestones_modal(deps.policy, incident, zone))

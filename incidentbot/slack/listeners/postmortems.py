"""The postmortem's buttons and forms: the review meeting, the draft, publishing."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from slack_bolt import Ack, App, Respond

from incidentbot.core import incidents, postmortems
from incidentbot.core.errors import DomainError
from incidentbot.db import session_scope
from incidentbot.models import Postmortem
from incidentbot.slack import blocks, ids, modals, postmortem_flow
from incidentbot.slack.deps import Deps
from incidentbot.slack.mrkdwn import escape, user


def register(app: App) -> None:
    app.action(ids.PM_CONFIRM)(confirm_clicked)
    app.action(ids.PM_RESCHEDULE)(open_reschedule_form)
    app.action(ids.PM_NOT_NEEDED)(open_not_needed_form)
    app.action(ids.PM_REGENERATE)(regenerate_clicked)
    app.action(ids.PM_REVIEW)(review_clicked)
    app.action(ids.PM_PUBLISH)(publish_clicked)
    app.view(ids.PM_RESCHEDULE_VIEW)(reschedule_submitted)
    app.view(ids.PM_NOT_NEEDED_VIEW)(not_needed_submitted)


def _clicked(body: dict) -> tuple[int, str]:
    return int(body["actions"][0]["value"]), body["user"]["id"]


def _change(deps: Deps, postmortem_id: int, apply) -> tuple[Postmortem, str, str]:
    """Apply a domain change; returns the postmortem, its incident's channel and reference."""
    with session_scope(deps.engine) as session:
        postmortem = session.get(Postmortem, postmortem_id)
        apply(session, postmortem)
        incident = incidents.get(session, postmortem.incident_id)
        return postmortem, incident.channel_id, incident.reference


def _act(ack: Ack, body: dict, respond: Respond, context: dict, apply, line) -> None:
    """A button that changes the postmortem: errors privately, the result in the channel."""
    ack()
    deps: Deps = context["deps"]
    postmortem_id, actor = _clicked(body)
    try:
        postmortem, channel, reference = _change(deps, postmortem_id, lambda s, pm: apply(deps, s, pm, actor))
    except DomainError as error:
        respond(text=escape(str(error)), response_type="ephemeral", replace_original=False)
        return
    deps.gateway.post(channel, line(deps, postmortem, actor, reference))
    postmortem_flow.refresh_card(deps, postmortem.incident_id)


def confirm_clicked(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    _act(ack, body, respond, context,
         lambda deps, s, pm, actor: postmortems.confirm_meeting(s, pm, actor),
         lambda deps, pm, actor, ref: f":white_check_mark: {user(actor)} confirmed the postmortem review of {ref} "
                                      f"for {blocks.when(pm.meeting_at, deps.policy)}.")


def review_clicked(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    _act(ack, body, respond, context,
         lambda deps, s, pm, actor: postmortems.advance(s, pm, "in_review", actor),
         lambda deps, pm, actor, ref: f":mag: {user(actor)} marked the postmortem of {ref} as *in review*.")


def publish_clicked(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    ack()
    deps: Deps = context["deps"]
    postmortem_id, actor = _clicked(body)
    try:
        note = postmortem_flow.publish(deps, postmortem_id, actor)
    except DomainError as error:
        respond(text=escape(str(error)), response_type="ephemeral", replace_original=False)
        return
    respond(text=escape(note), response_type="ephemeral", replace_original=False)


def regenerate_clicked(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    ack()
    deps: Deps = context["deps"]
    postmortem_id, actor = _clicked(body)
    with session_scope(deps.engine) as session:
        incident_id = session.get(Postmortem, postmortem_id).incident_id
    try:
        note = postmortem_flow.draft_now(deps, incident_id, actor)
    except DomainError as error:
        note = str(error)
    respond(text=escape(note), response_type="ephemeral", replace_original=False)


def open_reschedule_form(ack: Ack, body: dict, context: dict) -> None:
    ack()
    deps: Deps = context["deps"]
    postmortem_id, actor = _clicked(body)
    with session_scope(deps.engine) as session:
        postmortem = session.get(Postmortem, postmortem_id)
        reference = incidents.get(session, postmortem.incident_id).reference
    zone = deps.gateway.user_timezone(actor)
    deps.gateway.open_view(body["trigger_id"], modals.reschedule_modal(postmortem_id, reference, zone, postmortem.meeting_at))


def open_not_needed_form(ack: Ack, body: dict, context: dict) -> None:
    ack()
    deps: Deps = context["deps"]
    postmortem_id, _actor = _clicked(body)
    with session_scope(deps.engine) as session:
        reference = incidents.get(session, session.get(Postmortem, postmortem_id).incident_id).reference
    deps.gateway.open_view(body["trigger_id"], modals.not_needed_modal(postmortem_id, reference))


def reschedule_submitted(ack: Ack, body: dict, view: dict, context: dict) -> None:
    deps: Deps = context["deps"]
    meta = modals.metadata(view)
    actor = body["user"]["id"]
    try:
        when = modals.picked_moment(view["state"]["values"], ZoneInfo(meta["zone"]))
        postmortem, channel, reference = _change(
            deps, meta["postmortem"], lambda s, pm: postmortems.reschedule(s, deps.policy, pm, actor, when))
    except modals.FieldErrors as errors:
        ack(response_action="errors", errors=errors.by_field)
        return
    except DomainError as error:
        ack(response_action="errors", errors={ids.PM_WHEN_DATE: str(error)})
        return
    ack()
    deps.gateway.post(channel, f":calendar: {user(actor)} moved the postmortem review of {reference} to "
                               f"{blocks.when(postmortem.meeting_at, deps.policy)}.")
    postmortem_flow.refresh_card(deps, postmortem.incident_id)


def not_needed_submitted(ack: Ack, body: dict, view: dict, context: dict) -> None:
    deps: Deps = context["deps"]
    actor = body["user"]["id"]
    reason = modals.text(view["state"]["values"], ids.PM_REASON) or ""
    try:
        postmortem, channel, reference = _change(
            deps, modals.metadata(view)["postmortem"], lambda s, pm: postmortems.not_needed(s, pm, actor, reason))
    except DomainError as error:
        ack(response_action="errors", errors={ids.PM_REASON: str(error)})
        return
    ack()
    deps.gateway.post(channel, f":heavy_minus_sign: {user(actor)} recorded that {reference} needs no postmortem: "
                               f"{escape(reason.strip())}")
    postmortem_flow.refresh_card(deps, postmortem.incident_id)

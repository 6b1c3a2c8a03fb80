"""Modal submissions. Errors are shown under the field they concern.

A submission is handled once per view id: a retried delivery finds the claim.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App

from incidentbot import db
from incidentbot.core import incidents, milestones
from incidentbot.core.errors import AlreadyDone, DomainError, InvalidInput
from incidentbot.core.incidents import Declaration
from incidentbot.slack import blocks, declaring, effects, ids, modals, operations
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.view(ids.DECLARE_VIEW)(declare_submitted)
    app.view(ids.UPDATE_VIEW)(update_submitted)
    app.view(ids.SEVERITY_VIEW)(severity_submitted)
    app.view(ids.RESOLVE_VIEW)(resolve_submitted)
    app.view(ids.MILESTONES_VIEW)(milestones_submitted)


def declare_submitted(ack: Ack, body: dict, view: dict, context: dict) -> None:
    deps: Deps = context["deps"]
    user_id = body["user"]["id"]
    try:
        declaration = _declaration_from(deps, view["state"]["values"], user_id, view["id"])
        incident, created = declaring.store(deps, declaration)
    except modals.FieldErrors as errors:
        ack(response_action="errors", errors=errors.by_field)
        return
    except Exception as error:
        if not db.unavailable(error):
            raise  # a bug: errors.report_error answers it
        log.warning("declaration not stored: the database is unavailable (%s)", db.describe(error))
        ack(response_action="errors", errors={ids.DECLARE_TITLE: blocks.DATABASE_DOWN_DECLARING})
        return
    ack()
    origin = modals.metadata(view).get("channel")
    if created:
        declaring.open_channel_soon(deps, incident, lambda text: _tell(deps, origin, user_id, text))


def _declaration_from(deps: Deps, values: dict, user_id: str, view_id: str) -> Declaration:
    policy = deps.policy
    checks = {
        ids.DECLARE_TITLE: lambda: incidents.clean_title(policy, modals.text(values, ids.DECLARE_TITLE)),
        ids.DECLARE_SEVERITY: lambda: incidents.check_severity(policy, modals.selected(values, ids.DECLARE_SEVERITY)),
        ids.DECLARE_CATEGORY: lambda: incidents.check_category(policy, modals.selected(values, ids.DECLARE_CATEGORY)),
        ids.DECLARE_SERVICES: lambda: incidents.check_services(policy, modals.selected_many(values, ids.DECLARE_SERVICES)),
        ids.DECLARE_SUMMARY: lambda: incidents.clean_summary(policy, modals.text(values, ids.DECLARE_SUMMARY)),
    }
    fields, errors = {}, {}
    for block_id, check in checks.items():
        try:
            fields[block_id] = check()
        except InvalidInput as error:
            errors[block_id] = error.message
    if errors:
        raise modals.FieldErrors(errors)
    return Declaration(
        title=fields[ids.DECLARE_TITLE],
        severity=fields[ids.DECLARE_SEVERITY],
        category=fields[ids.DECLARE_CATEGORY],
        services=fields[ids.DECLARE_SERVICES],
        summary=fields[ids.DECLARE_SUMMARY],
        private="private" in modals.selected_many(values, ids.DECLARE_PRIVATE),
        declared_by=user_id,
        # Slack submits a view once, but a retried delivery must not declare twice.
        request_key=f"view:{view_id}",
    )


def _tell(deps: Deps, channel_id: str | None, user_id: str, text: str) -> None:
    """Show the result where the form was opened; fall back to a DM from the app."""
    if channel_id:
        try:
            deps.gateway.post_ephemeral(channel_id, user_id, text)
            return
        except SlackError as error:
            log.info("ephemeral reply in %s failed (%s); sending a DM", channel_id, error.code)
    deps.gateway.post(user_id, text)


# Forms opened on an incident ------------------------------------------------------

_FIELD_OF = {  # domain field name → the modal input that shows its error
    "text": ids.UPDATE_TEXT, "status": ids.UPDATE_STATUS, "next_update": ids.UPDATE_NEXT,
    "impact": ids.UPDATE_IMPACT, "severity": ids.SEVERITY_VALUE, "reason": ids.SEVERITY_REASON,
    "summary": ids.RESOLVE_SUMMARY,
}


def _field_error(error: DomainError, default_field: str) -> dict[str, str]:
    field = _FIELD_OF.get(getattr(error, "field", ""), default_field)
    return {field: str(error)}


def update_submitted(ack: Ack, body: dict, view: dict, context: dict) -> None:
    deps: Deps = context["deps"]
    values = view["state"]["values"]
    next_minutes = modals.selected(values, ids.UPDATE_NEXT)
    try:
        update, changes = operations.post_update(
            deps, modals.metadata(view)["incident"], body["user"]["id"],
            text=modals.text(values, ids.UPDATE_TEXT), status=modals.selected(values, ids.UPDATE_STATUS),
            impact=modals.text(values, ids.UPDATE_IMPACT), next_minutes=int(next_minutes) if next_minutes else None,
            once_key=f"view:{view['id']}")
    except DomainError as error:
        ack(response_action="errors", errors=_field_error(error, ids.UPDATE_TEXT))
        return
    ack()
    if update is not None:
        operations.finish_update(deps, update, changes)


def severity_submitted(ack: Ack, body: dict, view: dict, context: dict) -> None:
    deps: Deps = context["deps"]
    values = view["state"]["values"]
    operation = operations.set_severity(deps, body["user"]["id"], modals.selected(values, ids.SEVERITY_VALUE) or "",
                                        modals.text(values, ids.SEVERITY_REASON))
    _submit_change(ack, view, deps, operation, ids.SEVERITY_VALUE)


def resolve_submitted(ack: Ack, body: dict, view: dict, context: dict) -> None:
    deps: Deps = context["deps"]
    operation = operations.resolve(deps, body["user"]["id"], modals.text(view["state"]["values"], ids.RESOLVE_SUMMARY))
    _submit_change(ack, view, deps, operation, ids.RESOLVE_SUMMARY)


def _submit_change(ack: Ack, view: dict, deps: Deps, operation, default_field: str) -> None:
    try:
        changes = operations.run(deps, modals.metadata(view)["incident"], operation, once_key=f"view:{view['id']}")
    except DomainError as error:
        ack(response_action="errors", errors=_field_error(error, default_field))
        return
    ack()
    operations.finish(deps, changes)


def milestones_submitted(ack: Ack, body: dict, view: dict, context: dict) -> None:
    deps: Deps = context["deps"]
    meta = modals.metadata(view)
    zone = ZoneInfo(meta["zone"])
    values = view["state"]["values"]
    incident, _holders = effects.current(deps, meta["incident"])
    try:
        edits = modals.milestone_values(incident, values, zone)
    except modals.FieldErrors as errors:
        ack(response_action="errors", errors=errors.by_field)
        return
    detection = modals.selected(values, ids.MILESTONES_DETECTION)
    actor = body["user"]["id"]
    operation = lambda session, fresh: milestones.set_milestones(  # noqa: E731
        session, deps.policy, fresh, actor, edits, detection=detection)
    try:
        changes = operations.run(deps, incident.id, operation, once_key=f"view:{view['id']}")
    except AlreadyDone:
        ack()  # nothing changed: just close the form
        return
    except DomainError as error:
        field = getattr(error, "field", "")
        block = f"{field}_date" if field in modals.MILESTONE_LABELS else ids.MILESTONES_DETECTION
        ack(response_action="errors", errors={block: str(error)})
        return
    ack()
    operations.finish(deps, changes)

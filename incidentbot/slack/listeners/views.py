"""Modal submissions."""

from __future__ import annotations

import json
import logging

from slack_bolt import Ack, App

from incidentbot.core import incidents
from incidentbot.core.errors import InvalidInput
from incidentbot.core.incidents import Declaration
from incidentbot.slack import declaring, ids
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.view(ids.DECLARE_VIEW)(declare_submitted)


def declare_submitted(ack: Ack, body: dict, view: dict, context: dict) -> None:
    deps: Deps = context["deps"]
    user_id = body["user"]["id"]
    values = view["state"]["values"]
    try:
        declaration = _declaration_from(deps, values, user_id, view["id"])
    except _FieldErrors as errors:
        # Shown under the fields themselves; the modal stays open.
        ack(response_action="errors", errors=errors.by_field)
        return
    try:
        incident, created = declaring.store(deps, declaration)
    except Exception:
        log.exception("could not store a declaration")
        ack(response_action="errors", errors={
            ids.DECLARE_TITLE: "I could not record the incident: the database is not answering. Try again in a minute.",
        })
        return
    ack()
    origin = json.loads(view.get("private_metadata") or "{}").get("channel")
    if created:
        declaring.open_channel(deps, incident, lambda text: _tell(deps, origin, user_id, text))


class _FieldErrors(Exception):
    def __init__(self, by_field: dict[str, str]) -> None:
        super().__init__(by_field)
        self.by_field = by_field


def _declaration_from(deps: Deps, values: dict, user_id: str, view_id: str) -> Declaration:
    policy = deps.policy
    fields: dict[str, object] = {}
    errors: dict[str, str] = {}
    checks = {
        ids.DECLARE_TITLE: lambda: incidents.clean_title(policy, _text(values, ids.DECLARE_TITLE)),
        ids.DECLARE_SEVERITY: lambda: incidents.check_severity(policy, _selected(values, ids.DECLARE_SEVERITY)),
        ids.DECLARE_CATEGORY: lambda: incidents.check_category(policy, _selected(values, ids.DECLARE_CATEGORY)),
        ids.DECLARE_SERVICES: lambda: incidents.check_services(policy, _selected_many(values, ids.DECLARE_SERVICES)),
        ids.DECLARE_SUMMARY: lambda: incidents.clean_summary(policy, _text(values, ids.DECLARE_SUMMARY)),
    }
    for block_id, check in checks.items():
        try:
            fields[block_id] = check()
        except InvalidInput as error:
            errors[block_id] = error.message
    if errors:
        raise _FieldErrors(errors)
    return Declaration(
        title=fields[ids.DECLARE_TITLE],
        severity=fields[ids.DECLARE_SEVERITY],
        category=fields[ids.DECLARE_CATEGORY],
        services=fields[ids.DECLARE_SERVICES],
        summary=fields[ids.DECLARE_SUMMARY],
        declared_by=user_id,
        # Slack submits a view once, but a retried delivery must not declare twice.
        request_key=f"view:{view_id}",
    )


def _state(values: dict, block_id: str) -> dict:
    return (values.get(block_id) or {}).get(block_id) or {}


def _text(values: dict, block_id: str) -> str | None:
    return _state(values, block_id).get("value")


def _selected(values: dict, block_id: str) -> str | None:
    option = _state(values, block_id).get("selected_option")
    return option.get("value") if option else None


def _selected_many(values: dict, block_id: str) -> list[str]:
    return [o["value"] for o in _state(values, block_id).get("selected_options") or []]


def _tell(deps: Deps, channel_id: str | None, user_id: str, text: str) -> None:
    """Show the result where the form was opened; fall back to a DM from the app."""
    if channel_id:
        try:
            deps.gateway.post_ephemeral(channel_id, user_id, text)
            return
        except SlackError as error:
            log.info("ephemeral reply in %s failed (%s); sending a DM", channel_id, error.code)
    deps.gateway.post(user_id, text)

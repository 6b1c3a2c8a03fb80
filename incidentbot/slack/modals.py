"""Every modal the bot opens, and reading their submitted values.

Input blocks use the same id for ``block_id`` and ``action_id``, so a submitted
value is ``values[id][id]`` and field errors can be keyed by that id.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from incidentbot.core.policy import Policy
from incidentbot.models import Incident
from incidentbot.slack import ids
from incidentbot.slack.blocks import Block, plain, section, severity_label
from incidentbot.slack.mrkdwn import escape
from incidentbot.timeutil import NonexistentLocalTime, local_to_utc, utc_to_local_parts

OPTION_MAX = 75
NEXT_UPDATE_CHOICES = (15, 30, 60, 120, 240, 480)


def option(value: str, label: str, description: str | None = None) -> dict[str, Any]:
    option: dict[str, Any] = {"text": plain(label, OPTION_MAX), "value": value}
    if description:
        option["description"] = plain(description, OPTION_MAX)
    return option


def input_block(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False, hint: str = "") -> Block:
    block = {"type": "input", "block_id": block_id, "optional": optional, "label": plain(label),
             "element": {"action_id": block_id, **element}}
    if hint:
        block["hint"] = plain(hint)
    return block


def _modal(callback_id: str, title: str, submit: str, blocks: list[Block], metadata: dict) -> dict[str, Any]:
    return {"type": "modal", "callback_id": callback_id, "title": plain(title), "submit": plain(submit),
            "close": plain("Cancel"), "private_metadata": json.dumps(metadata), "blocks": blocks}


def metadata(view: dict) -> dict:
    return json.loads(view.get("private_metadata") or "{}")


def _severity_options(policy: Policy) -> list[dict[str, Any]]:
    return [option(s.id, f"{s.id} · {s.name}", s.description) for s in policy.severities]


def declare_modal(policy: Policy, *, channel: str = "", summary: str = "") -> dict[str, Any]:
    """The form behind ``/incident`` with no arguments (and the message shortcut)."""
    severities = _severity_options(policy)
    default = next(o for o in severities if o["value"] == policy.default_severity)
    categories = [option(c.id, c.name, c.description) for c in policy.taxonomy.categories][:100]
    services = [option(s.name, s.name, f"Team: {s.team}") for s in policy.services][:100]
    blocks: list[Block] = [
        input_block(ids.DECLARE_TITLE, "Title", {"type": "plain_text_input", "max_length": policy.limits.title_max_chars,
                                            "placeholder": plain("What is broken, for whom?")}),
        input_block(ids.DECLARE_SEVERITY, "Severity", {"type": "static_select", "options": severities, "initial_option": default}),
        input_block(ids.DECLARE_CATEGORY, "Category", {"type": "static_select", "options": categories,
                                                  "placeholder": plain("What changed? (optional)")}, optional=True),
    ]
    if services:
        blocks.append(input_block(ids.DECLARE_SERVICES, "Affected services", {
            "type": "multi_static_select", "options": services, "placeholder": plain("Pick services")}, optional=True))
    summary_element: dict[str, Any] = {"type": "plain_text_input", "multiline": True,
                                       "max_length": policy.limits.summary_max_chars,
                                       "placeholder": plain("What do we know so far? (optional)")}
    if summary:
        summary_element["initial_value"] = summary[: policy.limits.summary_max_chars]
    blocks.append(input_block(ids.DECLARE_SUMMARY, "Summary", summary_element, optional=True))
    private_categories = [c.name for c in policy.taxonomy.categories if c.private_by_default]
    blocks.append(input_block(ids.DECLARE_PRIVATE, "Visibility", {
        "type": "checkboxes",
        "options": [option("private", "Private incident",
                            "Private channel, no public announcement, hidden from people outside it")],
    }, optional=True, hint=("Always private for: " + ", ".join(private_categories)) if private_categories else ""))
    return _modal(ids.DECLARE_VIEW, "Declare an incident", "Declare", blocks, {"channel": channel})


def update_modal(policy: Policy, incident: Incident) -> dict[str, Any]:
    statuses = [option(s.id, s.name, s.description or None) for s in policy.statuses if not s.resolved]
    current = next((o for o in statuses if o["value"] == incident.status), None)
    cadence = policy.severity(incident.severity).update_every_minutes
    choices = sorted(set(NEXT_UPDATE_CHOICES) | {cadence})
    nexts = [option(str(m), f"In {m // 60} h" if m % 60 == 0 else f"In {m} min") for m in choices]
    blocks: list[Block] = [
        section(f"*{incident.reference}*: {escape(incident.title)}"),
        input_block(ids.UPDATE_STATUS, "Status", {"type": "static_select", "options": statuses,
                                             **({"initial_option": current} if current else {})}),
        input_block(ids.UPDATE_TEXT, "What's happening", {"type": "plain_text_input", "multiline": True,
                                                     "max_length": policy.limits.summary_max_chars}),
        input_block(ids.UPDATE_IMPACT, "Customer impact", {"type": "plain_text_input", "multiline": True,
                                                      "max_length": policy.limits.summary_max_chars}, optional=True),
        input_block(ids.UPDATE_NEXT, "Next update", {"type": "static_select", "options": nexts,
                                                "initial_option": next(o for o in nexts if o["value"] == str(cadence))}),
    ]
    return _modal(ids.UPDATE_VIEW, "Post an update", "Post", blocks, {"incident": incident.id})


def severity_modal(policy: Policy, incident: Incident) -> dict[str, Any]:
    options = _severity_options(policy)
    current = next(o for o in options if o["value"] == incident.severity)
    blocks: list[Block] = [
        section(f"*{incident.reference}* is {escape(severity_label(policy, incident.severity))}."),
        input_block(ids.SEVERITY_VALUE, "New severity", {"type": "static_select", "options": options, "initial_option": current}),
        input_block(ids.SEVERITY_REASON, "Reason", {"type": "plain_text_input", "multiline": True, "max_length": 1000},
               optional=True, hint="Needed when lowering the severity."),
    ]
    return _modal(ids.SEVERITY_VIEW, "Change severity", "Change", blocks, {"incident": incident.id})


def resolve_modal(policy: Policy, incident: Incident) -> dict[str, Any]:
    blocks: list[Block] = [
        section(f"Resolve *{incident.reference}*: {escape(incident.title)}"),
        input_block(ids.RESOLVE_SUMMARY, "Resolution summary", {
            "type": "plain_text_input", "multiline": True, "max_length": policy.limits.summary_max_chars,
            "placeholder": plain("What fixed it, and is any impact left?")}),
    ]
    return _modal(ids.RESOLVE_VIEW, "Resolve incident", "Resolve", blocks, {"incident": incident.id})


# Reading submitted values -----------------------------------------------------------

def _state(values: dict, block_id: str) -> dict:
    return (values.get(block_id) or {}).get(block_id) or {}


def text(values: dict, block_id: str) -> str | None:
    return _state(values, block_id).get("value")


def selected(values: dict, block_id: str) -> str | None:
    option = _state(values, block_id).get("selected_option")
    return option.get("value") if option else None


def selected_many(values: dict, block_id: str) -> list[str]:
    return [o["value"] for o in _state(values, block_id).get("selected_options") or []]


# Milestones ----------------------------------------------------------------------

MILESTONE_LABELS = {
    "started_at": "Impact started",
    "detected_at": "Detected",
    "acknowledged_at": "Acknowledged",
    "mitigated_at": "Mitigated",
    "resolved_at": "Resolved",
}
DETECTION_LABELS = {"monitoring": "Monitoring / alerting", "customer": "A customer", "staff": "Our own staff"}


def editable_milestones(incident: Incident) -> list[str]:
    """Declared and closed are facts of the bot; resolved only once it is resolved."""
    return [m for m in MILESTONE_LABELS if m != "resolved_at" or incident.resolved_at]


def milestones_modal(policy: Policy, incident: Incident, zone: ZoneInfo) -> dict[str, Any]:
    """Date and time pickers per milestone, shown and read in the user's own timezone."""
    blocks: list[Block] = [section(
        f"*{incident.reference}* milestones, in *{escape(zone.key)}* (your Slack timezone). "
        f"Declared {incident.declared_at.astimezone(zone):%Y-%m-%d %H:%M}. Leave both empty to clear one.")]
    for name in editable_milestones(incident):
        value = getattr(incident, name)
        day, clock = utc_to_local_parts(value, zone) if value else (None, None)
        blocks.append(input_block(f"{name}_date", f"{MILESTONE_LABELS[name]}: date",
                             {"type": "datepicker", **({"initial_date": day} if day else {})}, optional=True))
        blocks.append(input_block(f"{name}_time", f"{MILESTONE_LABELS[name]}: time",
                             {"type": "timepicker", "timezone": zone.key, **({"initial_time": clock} if clock else {})},
                             optional=True))
    detections = [option(key, label) for key, label in DETECTION_LABELS.items()]
    current = next((o for o in detections if o["value"] == incident.detection), None)
    blocks.append(input_block(ids.MILESTONES_DETECTION, "How was it detected?", {
        "type": "static_select", "options": detections, **({"initial_option": current} if current else {})},
        optional=True))
    return _modal(ids.MILESTONES_VIEW, "Edit milestones", "Save", blocks,
                  {"incident": incident.id, "zone": zone.key})


def milestone_values(incident: Incident, values: dict, zone: ZoneInfo) -> dict[str, datetime | None]:
    """The submitted milestones as UTC; raises FieldErrors keyed by the picker to mark."""
    found: dict[str, datetime | None] = {}
    errors: dict[str, str] = {}
    for name in editable_milestones(incident):
        day = _state(values, f"{name}_date").get("selected_date")
        clock = _state(values, f"{name}_time").get("selected_time")
        if bool(day) != bool(clock):
            errors[f"{name}_date"] = "Give both a date and a time, or leave both empty."
            continue
        try:
            found[name] = local_to_utc(day, clock, zone) if day else None
        except NonexistentLocalTime as error:
            errors[f"{name}_time"] = f"{error}. Pick a time before or after the change."
    if errors:
        raise FieldErrors(errors)
    # Only what differs from what is stored is an edit (pickers have minute precision).
    return {name: value for name, value in found.items() if _minute(value) != _minute(getattr(incident, name))}


def _minute(value: datetime | None) -> datetime | None:
    return value.replace(second=0, microsecond=0) if value else None


class FieldErrors(Exception):
    """Form errors keyed by block id, for ``response_action: errors``."""

    def __init__(self, by_field: dict[str, str]) -> None:
        super().__init__(by_field)
        self.by_field = by_field


# Postmortem ----------------------------------------------------------------------

def reschedule_modal(postmortem_id: int, reference: str, zone: ZoneInfo, current: datetime | None) -> dict[str, Any]:
    day, clock = utc_to_local_parts(current, zone) if current else (None, None)
    blocks: list[Block] = [
        section(f"When should the postmortem review of *{reference}* be? Times are in *{escape(zone.key)}*."),
        input_block(ids.PM_WHEN_DATE, "Date", {"type": "datepicker", **({"initial_date": day} if day else {})}),
        input_block(ids.PM_WHEN_TIME, "Time", {"type": "timepicker", "timezone": zone.key,
                                          **({"initial_time": clock} if clock else {})}),
    ]
    return _modal(ids.PM_RESCHEDULE_VIEW, "Reschedule review", "Reschedule", blocks,
                  {"postmortem": postmortem_id, "zone": zone.key})


def not_needed_modal(postmortem_id: int, reference: str) -> dict[str, Any]:
    blocks: list[Block] = [
        section(f"No postmortem for *{reference}*? Say why; the reason is recorded on the incident."),
        input_block(ids.PM_REASON, "Reason", {"type": "plain_text_input", "multiline": True, "max_length": 1000}),
    ]
    return _modal(ids.PM_NOT_NEEDED_VIEW, "No postmortem", "Record", blocks, {"postmortem": postmortem_id})


def picked_moment(values: dict, zone: ZoneInfo) -> datetime:
    """The date and time picked in ``zone``, as UTC; FieldErrors when the clocks skip it."""
    day = _state(values, ids.PM_WHEN_DATE).get("selected_date")
    clock = _state(values, ids.PM_WHEN_TIME).get("selected_time")
    if not (day and clock):
        raise FieldErrors({ids.PM_WHEN_DATE: "Pick both a date and a time."})
    try:
        return local_to_utc(day, clock, zone)
    except NonexistentLocalTime as error:
        raise FieldErrors({ids.PM_WHEN_TIME: f"{error}. Pick another time."}) from None

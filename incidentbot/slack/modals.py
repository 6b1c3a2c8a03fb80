"""Every modal the bot opens, and reading their submitted values.

Input blocks use the same id for ``block_id`` and ``action_id``, so a submitted
value is ``values[id][id]`` and field errors can be keyed by that id.
"""

from __future__ import annotations

import json
from typing import Any

from incidentbot.core.policy import Policy
from incidentbot.models import Incident
from incidentbot.slack import ids
from incidentbot.slack.blocks import Block, plain, section, severity_label
from incidentbot.slack.mrkdwn import escape

OPTION_MAX = 75
NEXT_UPDATE_CHOICES = (15, 30, 60, 120, 240, 480)


def _option(value: str, label: str, description: str | None = None) -> dict[str, Any]:
    option: dict[str, Any] = {"text": plain(label, OPTION_MAX), "value": value}
    if description:
        option["description"] = plain(description, OPTION_MAX)
    return option


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False, hint: str = "") -> Block:
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
    return [_option(s.id, f"{s.id} · {s.name}", s.description) for s in policy.severities]


def declare_modal(policy: Policy, *, channel: str = "", summary: str = "") -> dict[str, Any]:
    """The form behind ``/incident`` with no arguments (and the message shortcut)."""
    severities = _severity_options(policy)
    default = next(o for o in severities if o["value"] == policy.default_severity)
    categories = [_option(c.id, c.name, c.description) for c in policy.taxonomy.categories][:100]
    services = [_option(s.name, s.name, f"Team: {s.team}") for s in policy.services][:100]
    blocks: list[Block] = [
        _input(ids.DECLARE_TITLE, "Title", {"type": "plain_text_input", "max_length": policy.limits.title_max_chars,
                                            "placeholder": plain("What is broken, for whom?")}),
        _input(ids.DECLARE_SEVERITY, "Severity", {"type": "static_select", "options": severities, "initial_option": default}),
        _input(ids.DECLARE_CATEGORY, "Category", {"type": "static_select", "options": categories,
                                                  "placeholder": plain("What changed? (optional)")}, optional=True),
    ]
    if services:
        blocks.append(_input(ids.DECLARE_SERVICES, "Affected services", {
            "type": "multi_static_select", "options": services, "placeholder": plain("Pick services")}, optional=True))
    summary_element: dict[str, Any] = {"type": "plain_text_input", "multiline": True,
                                       "max_length": policy.limits.summary_max_chars,
                                       "placeholder": plain("What do we know so far? (optional)")}
    if summary:
        summary_element["initial_value"] = summary[: policy.limits.summary_max_chars]
    blocks.append(_input(ids.DECLARE_SUMMARY, "Summary", summary_element, optional=True))
    private_categories = [c.name for c in policy.taxonomy.categories if c.private_by_default]
    blocks.append(_input(ids.DECLARE_PRIVATE, "Visibility", {
        "type": "checkboxes",
        "options": [_option("private", "Private incident",
                            "Private channel, no public announcement, hidden from people outside it")],
    }, optional=True, hint=("Always private for: " + ", ".join(private_categories)) if private_categories else ""))
    return _modal(ids.DECLARE_VIEW, "Declare an incident", "Declare", blocks, {"channel": channel})


def update_modal(policy: Policy, incident: Incident) -> dict[str, Any]:
    statuses = [_option(s.id, s.name, s.description or None) for s in policy.statuses if not s.resolved]
    current = next((o for o in statuses if o["value"] == incident.status), None)
    cadence = policy.severity(incident.severity).update_every_minutes
    choices = sorted(set(NEXT_UPDATE_CHOICES) | {cadence})
    nexts = [_option(str(m), f"In {m // 60} h" if m % 60 == 0 else f"In {m} min") for m in choices]
    blocks: list[Block] = [
        section(f"*{incident.reference}*: {escape(incident.title)}"),
        _input(ids.UPDATE_STATUS, "Status", {"type": "static_select", "options": statuses,
                                             **({"initial_option": current} if current else {})}),
        _input(ids.UPDATE_TEXT, "What's happening", {"type": "plain_text_input", "multiline": True,
                                                     "max_length": policy.limits.summary_max_chars}),
        _input(ids.UPDATE_IMPACT, "Customer impact", {"type": "plain_text_input", "multiline": True,
                                                      "max_length": policy.limits.summary_max_chars}, optional=True),
        _input(ids.UPDATE_NEXT, "Next update", {"type": "static_select", "options": nexts,
                                                "initial_option": next(o for o in nexts if o["value"] == str(cadence))}),
    ]
    return _modal(ids.UPDATE_VIEW, "Post an update", "Post", blocks, {"incident": incident.id})


def severity_modal(policy: Policy, incident: Incident) -> dict[str, Any]:
    options = _severity_options(policy)
    current = next(o for o in options if o["value"] == incident.severity)
    blocks: list[Block] = [
        section(f"*{incident.reference}* is {escape(severity_label(policy, incident.severity))}."),
        _input(ids.SEVERITY_VALUE, "New severity", {"type": "static_select", "options": options, "initial_option": current}),
        _input(ids.SEVERITY_REASON, "Reason", {"type": "plain_text_input", "multiline": True, "max_length": 1000},
               optional=True, hint="Needed when lowering the severity."),
    ]
    return _modal(ids.SEVERITY_VIEW, "Change severity", "Change", blocks, {"incident": incident.id})


def resolve_modal(policy: Policy, incident: Incident) -> dict[str, Any]:
    blocks: list[Block] = [
        section(f"Resolve *{incident.reference}*: {escape(incident.title)}"),
        _input(ids.RESOLVE_SUMMARY, "Resolution summary", {
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

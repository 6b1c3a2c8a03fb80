"""Block Kit, built in one place.

Every function returns plain dicts ready for the Web API. User text goes through
``mrkdwn.escape`` before it lands in a mrkdwn field; plain_text fields are not
parsed by Slack, so they only need to fit their length limits.
"""

from __future__ import annotations

from typing import Any

from incidentbot.core.policy import Policy
from incidentbot.models import Incident
from incidentbot.slack import ids
from incidentbot.slack.mrkdwn import channel, escape, truncate, user
from incidentbot.slack.parsing import QUICK_DECLARE, USAGE

Block = dict[str, Any]

# Block Kit limits (api.slack.com/reference/block-kit): header text 150, section
# text 3,000, option text 75, modal title 24.
HEADER_MAX = 150
SECTION_MAX = 3000
OPTION_MAX = 75


def _plain(text: str, limit: int | None = None) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit) if limit else text, "emoji": True}


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_MAX)}}


def severity_label(policy: Policy, severity_id: str) -> str:
    severity = policy.severity(severity_id)
    return f"{severity.id} · {severity.name}"


def status_label(policy: Policy, status_id: str) -> str:
    return policy.status(status_id).name


def incident_card(policy: Policy, incident: Incident, lead: str | None = None) -> tuple[str, list[Block]]:
    """The pinned card at the top of the incident channel: (fallback text, blocks)."""
    fields = [
        f"*Severity*\n{escape(severity_label(policy, incident.severity))}",
        f"*Status*\n{escape(status_label(policy, incident.status))}",
        f"*Lead*\n{user(lead)}",
        f"*Declared by*\n{user(incident.declared_by)}",
    ]
    if incident.category:
        fields.append(f"*Category*\n{escape(policy.category(incident.category).name)}")
    if incident.services:
        fields.append(f"*Services*\n{escape(', '.join(incident.services))}")
    blocks: list[Block] = [
        {"type": "header", "text": _plain(f"{incident.reference}: {incident.title}", HEADER_MAX)},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if incident.summary:
        blocks.append(_section(f"*Summary*\n{escape(incident.summary)}"))
    blocks.append(_declared_context(policy, incident))
    text = f"{incident.reference}: {escape(incident.title)} ({incident.severity}, {status_label(policy, incident.status)})"
    return text, blocks


def announcement(policy: Policy, incident: Incident) -> tuple[str, list[Block]]:
    """The post in the announcement channel that points people at the incident channel."""
    headline = (
        f":rotating_light: *{incident.reference}* {escape(incident.title)}\n"
        f"*{escape(severity_label(policy, incident.severity))}* · "
        f"{escape(status_label(policy, incident.status))} · "
        f"declared by {user(incident.declared_by)}"
    )
    blocks: list[Block] = [_section(headline)]
    if incident.summary:
        blocks.append(_section(escape(incident.summary)))
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"Join {channel(incident.channel_id, incident.channel_name or '')} to help."}],
        }
    )
    text = f"{incident.reference} declared: {escape(incident.title)} ({incident.severity}) in {channel(incident.channel_id)}"
    return text, blocks


def declared_reply(incident: Incident) -> str:
    """What the declarer sees (ephemeral) once the channel is ready."""
    return f"{incident.reference} is declared. Head to {channel(incident.channel_id, incident.channel_name or '')}."


def declaring_ack(incident: Incident) -> str:
    """The immediate answer to the slash command, before the channel exists."""
    return f"Declaring {incident.reference}: {escape(incident.title)} ({incident.severity}). Opening a channel…"


def help_blocks() -> list[Block]:
    lines = [f"`{QUICK_DECLARE[0]}`  {QUICK_DECLARE[1]}"]
    lines += [f"`{syntax}`  {what}" for syntax, what in USAGE.values()]
    return [
        _section("*incidentbot*: declare and run incidents from Slack.\n" + "\n".join(lines)),
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "Severity words: sev1 (most severe) to sev4. Example: `/incident API errors on checkout sev2`"}],
        },
    ]


def help_text() -> str:
    return "incidentbot commands: " + "; ".join(syntax for syntax, _ in [QUICK_DECLARE, *USAGE.values()])


def error_blocks(message: str) -> list[Block]:
    return [_section(f":warning: {message}"), *help_blocks()[1:]]


def _option(value: str, label: str, description: str | None = None) -> dict[str, Any]:
    option: dict[str, Any] = {"text": _plain(label, OPTION_MAX), "value": value}
    if description:
        option["description"] = _plain(description, OPTION_MAX)
    return option


def declare_modal(policy: Policy, *, title: str = "", private_metadata: str = "") -> dict[str, Any]:
    """The form behind ``/incident`` with no arguments."""
    severities = [_option(s.id, f"{s.id} · {s.name}", s.description) for s in policy.severities]
    default = next(o for o in severities if o["value"] == policy.default_severity)
    categories = [_option(c.id, c.name, c.description) for c in policy.taxonomy.categories][:100]
    services = [_option(s.name, s.name, f"Team: {s.team}") for s in policy.services][:100]
    blocks: list[Block] = [
        _input(ids.DECLARE_TITLE, "Title", {
            "type": "plain_text_input", "max_length": policy.limits.title_max_chars,
            "placeholder": _plain("What is broken, for whom?"), **({"initial_value": title} if title else {}),
        }),
        _input(ids.DECLARE_SEVERITY, "Severity", {
            "type": "static_select", "options": severities, "initial_option": default,
        }),
        _input(ids.DECLARE_CATEGORY, "Category", {
            "type": "static_select", "options": categories, "placeholder": _plain("What changed? (optional)"),
        }, optional=True),
    ]
    if services:
        blocks.append(_input(ids.DECLARE_SERVICES, "Affected services", {
            "type": "multi_static_select", "options": services, "placeholder": _plain("Pick services"),
        }, optional=True))
    blocks.append(_input(ids.DECLARE_SUMMARY, "Summary", {
        "type": "plain_text_input", "multiline": True, "max_length": policy.limits.summary_max_chars,
        "placeholder": _plain("What do we know so far? (optional)"),
    }, optional=True))
    return {
        "type": "modal",
        "callback_id": ids.DECLARE_VIEW,
        "title": _plain("Declare an incident"),
        "submit": _plain("Declare"),
        "close": _plain("Cancel"),
        "private_metadata": private_metadata,
        "blocks": blocks,
    }


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False) -> Block:
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": _plain(label),
        "element": {"action_id": block_id, **element},
    }


def _declared_context(policy: Policy, incident: Incident) -> Block:
    local = incident.declared_at.astimezone(policy.tz)
    # <!date> renders in each reader's own timezone; the fallback is the org's.
    epoch = int(incident.declared_at.timestamp())
    fallback = local.strftime("%Y-%m-%d %H:%M %Z")
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f"Declared <!date^{epoch}^{{date_short_pretty}} {{time}}|{fallback}>"}],
    }

"""Block Kit, built in one place.

Every function returns plain dicts ready for the Web API. User text goes through
``mrkdwn.escape`` before it lands in a mrkdwn field; plain_text fields are not
parsed by Slack, so they only need to fit their length limits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from incidentbot.core.policy import Policy
from incidentbot.models import Incident
from incidentbot.slack import ids
from incidentbot.slack.mrkdwn import channel, escape, truncate, user
from incidentbot.slack.parsing import IN_CHANNEL, QUICK_DECLARE, USAGE

Block = dict[str, Any]

# Block Kit limits (api.slack.com/reference/block-kit): header text 150, section
# text 3,000, option text 75, modal title 24.
HEADER_MAX = 150
SECTION_MAX = 3000
OPTION_MAX = 75


def plain(text: str, limit: int | None = None) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit) if limit else text, "emoji": True}


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_MAX)}}


def severity_label(policy: Policy, severity_id: str) -> str:
    severity = policy.severity(severity_id)
    return f"{severity.id} · {severity.name}"


def status_label(policy: Policy, status_id: str) -> str:
    return policy.status(status_id).name


def incident_card(policy: Policy, incident: Incident, holders: dict[str, str] | None = None,
                  postmortem=None) -> tuple[str, list[Block]]:
    """The pinned card at the top of the incident channel: (fallback text, blocks).

    ``postmortem`` (a ``models.Postmortem``), once there is one, adds its status line.

    ``holders`` maps role id → user id (core.roles.holders). Buttons are shown
    until the incident is resolved; their values carry the incident's revision.
    """
    holders = holders or {}
    lead_role = policy.lead_role
    fields = [
        f"*Severity*\n{escape(severity_label(policy, incident.severity))}",
        f"*Status*\n{escape(status_label(policy, incident.status))}",
        f"*{escape(lead_role.name)}*\n{user(holders.get(lead_role.id))}",
        f"*Declared by*\n{user(incident.declared_by)}",
    ]
    fields += [f"*{escape(role.name)}*\n{user(holders[role.id])}" for role in policy.roles
               if role.id != lead_role.id and role.id in holders]
    if incident.category:
        fields.append(f"*Category*\n{escape(policy.category(incident.category).name)}")
    if incident.services:
        fields.append(f"*Services*\n{escape(', '.join(incident.services))}")
    blocks: list[Block] = [
        {"type": "header", "text": plain(f"{'🔒 ' if incident.private else ''}{incident.reference}: {incident.title}", HEADER_MAX)},
        # Slack allows 10 fields per section.
        *({"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields[i:i + 10]]}
          for i in range(0, len(fields), 10)),
    ]
    if incident.summary:
        blocks.append(section(f"*Summary*\n{escape(incident.summary)}"))
    if incident.resolution:
        blocks.append(section(f"*Resolution*\n{escape(incident.resolution)}"))
    blocks.append(_milestones_context(policy, incident))
    if postmortem is not None:
        blocks.append(postmortem_context(policy, postmortem))
    if not incident.closed_at:
        blocks.append(card_buttons(incident))
    text = f"{incident.reference}: {escape(incident.title)} ({incident.severity}, {status_label(policy, incident.status)})"
    return text, blocks


def card_buttons(incident: Incident) -> Block:
    """The response buttons; once resolved, only *Add action item* (follow-ups come then)."""
    value = f"{incident.id}:{incident.revision}"
    if incident.resolved_at:
        buttons = [(ids.AI_OPEN_FORM, "Add action item", None)]
    else:
        buttons = [
            (ids.ACK, "Acknowledge", None) if not incident.acknowledged_at else None,
            (ids.TAKE_LEAD, "I'm the lead", None),
            (ids.OPEN_UPDATE, "Post update", "primary"),
            (ids.OPEN_SEVERITY, "Change severity", None),
            (ids.MITIGATE, "Mitigated", None) if not incident.mitigated_at else None,
            (ids.AI_OPEN_FORM, "Add action item", None),
            (ids.OPEN_RESOLVE, "Resolve", "danger"),
        ]
    elements = []
    for action_id, label, style in filter(None, buttons):
        button = {"type": "button", "action_id": action_id, "text": plain(label), "value": value}
        if style:
            button["style"] = style
        elements.append(button)
    return {"type": "actions", "block_id": "incident_card_actions", "elements": elements}


def announcement(policy: Policy, incident: Incident) -> tuple[str, list[Block]]:
    """The post in the announcement channel that points people at the incident channel."""
    headline = (
        f":rotating_light: *{incident.reference}* {escape(incident.title)}\n"
        f"*{escape(severity_label(policy, incident.severity))}* · "
        f"{escape(status_label(policy, incident.status))} · "
        f"declared by {user(incident.declared_by)}"
    )
    blocks: list[Block] = [section(headline)]
    if incident.summary:
        blocks.append(section(escape(incident.summary)))
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"Join {channel(incident.channel_id, incident.channel_name or '')} to help."}],
        }
    )
    text = f"{incident.reference} declared: {escape(incident.title)} ({incident.severity}) in {channel(incident.channel_id)}"
    return text, blocks


def channel_link(incident: Incident) -> str:
    return channel(incident.channel_id, incident.channel_name or "")


def declared_reply(incident: Incident) -> str:
    """What the declarer sees (ephemeral) once the channel is ready."""
    return f"{incident.reference} is declared. Head to {channel(incident.channel_id, incident.channel_name or '')}."


# When the database cannot be reached (listeners/errors.py). Before a request is
# acknowledged nothing is committed: every listener stores its change in one transaction
# and only then acknowledges. After it, the change may be stored and showing it not.
DATABASE_DOWN = "I can't reach my database right now, so nothing was changed. Please try again in a minute."
DATABASE_DOWN_DECLARING = "I can't reach my database right now, so nothing was declared. Please try again in a minute."
DATABASE_LOST = ("I lost my database connection before I could finish that, so it may be only partly done. "
                 "Please check in a minute and try again if it is missing.")


# Before what the declarer is told when the ack reached Slack after its 3 seconds.
ANSWERED_LATE = (":hourglass: Slack may have told you `/incident` failed: I answered it too late. "
                 "It did go through, once; there is no need to type it again.")


def declaring_ack(incident: Incident) -> str:
    """The immediate answer to the slash command, before the channel exists."""
    return f"Declaring {incident.reference}: {escape(incident.title)} ({incident.severity}). Opening a channel…"


def help_blocks(in_incident_channel: bool = False) -> list[Block]:
    """The syntax of every subcommand; in an incident channel its commands come first."""
    def lines(names) -> str:
        return "\n".join(f"`{escape(USAGE[n][0])}`  {USAGE[n][1]}" for n in names)

    anywhere = [n for n in USAGE if n not in IN_CHANNEL]
    declare = f"`{escape(QUICK_DECLARE[0])}`  {QUICK_DECLARE[1]}\n" + lines(anywhere)
    channel_part = "*In an incident channel*\n" + lines([n for n in USAGE if n in IN_CHANNEL])
    parts = [channel_part, "*Anywhere*\n" + declare] if in_incident_channel else [
        "*Anywhere*\n" + declare, channel_part]
    return [
        section("*incidentbot*: declare and run incidents from Slack."),
        *(section(part) for part in parts),
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "Severity words: sev1 (most severe) to sev4. Example: `/incident API errors on checkout sev2`"}],
        },
    ]


def help_text() -> str:
    return "incidentbot commands: " + escape("; ".join(syntax for syntax, _ in [QUICK_DECLARE, *USAGE.values()]))


def error_blocks(message: str, note: str = "") -> list[Block]:
    """A refusal: the plain-text ``message`` (escaped here), an optional mrkdwn
    ``note`` (e.g. the incident's current state), and the severity-words hint."""
    return [section(f":warning: {escape(message)}{' ' + note if note else ''}"), help_blocks()[-1]]


def when(moment: datetime, policy: Policy) -> str:
    """A time every reader sees in their own timezone; the fallback is the org's."""
    fallback = moment.astimezone(policy.tz).strftime("%Y-%m-%d %H:%M %Z")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


_POSTMORTEM_STATUS = {"scheduled": "scheduled", "drafted": "drafted", "in_review": "in review",
                      "published": "published", "not_needed": "not needed"}


def postmortem_context(policy: Policy, postmortem) -> Block:
    """The postmortem's status, owner, due date and review time (the card, App Home)."""
    parts = [f":spiral_note_pad: Postmortem *{_POSTMORTEM_STATUS.get(postmortem.status, postmortem.status)}*"]
    if postmortem.status not in ("published", "not_needed"):
        parts.append(f"owner {user(postmortem.owner)}")
        parts.append(f"due {when(postmortem.due_at, policy)}")
        if postmortem.meeting_at:
            parts.append(f"review {when(postmortem.meeting_at, policy)}")
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(parts)}]}


def _milestones_context(policy: Policy, incident: Incident) -> Block:
    reached = [("Declared", incident.declared_at), ("Acknowledged", incident.acknowledged_at),
               ("Mitigated", incident.mitigated_at), ("Resolved", incident.resolved_at),
               ("Closed", incident.closed_at)]
    text = " · ".join(f"{label} {when(moment, policy)}" for label, moment in reached if moment)
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


# Lines posted in the incident channel (and the announcement thread) for each change.
_CHANGE_LINES = {
    "acknowledged": ":eyes: {actor} acknowledged the incident.",
    "status_changed": ":arrows_counterclockwise: {actor} set the status to *{after}* (was {before}).",
    "severity_changed": ":rotating_light: {actor} changed the severity to *{after}* (was {before}).",
    "role_assigned": ":bust_in_silhouette: {holder} has the *{role}* role ({how}{handover}).",
    "mitigated": ":adhesive_bandage: {actor} marked the impact as mitigated.",
    "resolved": ":white_check_mark: {actor} resolved the incident.",
    "closed": ":lock: {actor} closed the incident.",
    "summary_changed": ":memo: {actor} updated the summary.",
    "milestones_edited": ":calendar: {actor} edited the milestones: {detail}",
}


def change_line(policy: Policy, change) -> str:
    """One short mrkdwn line saying what changed, by whom (for core.changes.Change)."""
    values = {"actor": user(change.actor), "before": change.before or "", "after": change.after or "",
              "detail": escape(change.detail or "")}
    if change.kind == "status_changed":
        values.update(before=escape(status_label(policy, change.before)), after=escape(status_label(policy, change.after)))
    elif change.kind == "severity_changed":
        values["after"] = escape(severity_label(policy, change.after))
    elif change.kind == "role_assigned":
        role = policy.role(change.detail)
        values.update(holder=user(change.after), role=escape(role.name),
                      how="took it" if change.actor == change.after else f"assigned by {user(change.actor)}",
                      handover=f"; handed over from {user(change.before)}" if change.before else "")
    line = _CHANGE_LINES.get(change.kind, "{actor}: " + change.kind.replace("_", " ")).format(**values)
    if change.kind == "severity_changed" and change.detail:
        line += f" Reason: {escape(change.detail)}"
    quoted = change.detail if change.kind == "resolved" else change.after if change.kind == "summary_changed" else None
    if quoted:
        line += "\n" + quote(quoted)
    return line


def quote(text: str) -> str:
    """User text as a mrkdwn block quote, every line escaped and quoted."""
    return "\n".join(f">{line}" for line in escape(text).splitlines())


def update_message(policy: Policy, incident: Incident, update) -> tuple[str, list[Block]]:
    """A status update as posted in the channel and under the announcement."""
    head = (f":loudspeaker: *Update on {incident.reference}* · {escape(status_label(policy, update.status))} · "
            f"{escape(severity_label(policy, incident.severity))} · by {user(update.author)}")
    blocks: list[Block] = [section(head), section(escape(update.text))]
    if update.impact:
        blocks.append(section(f"*Customer impact*\n{escape(update.impact)}"))
    if update.next_update_at:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"Next update by {when(update.next_update_at, policy)}"}]})
    return f"Update on {incident.reference}: {escape(truncate(update.text, 200))}", blocks

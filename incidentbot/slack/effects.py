"""Showing a change in Slack: the card, the channel, the announcement thread.

The change is already committed when these run, so nothing here may fail the
request: a Slack error is logged and the next change (or the card's next refresh)
brings Slack back in line with the database.
"""

from __future__ import annotations

import logging

from incidentbot.core import incidents, postmortems, roles
from incidentbot.core.changes import Change
from incidentbot.db import session_scope
from incidentbot.models import Incident
from incidentbot.slack import blocks
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError
from incidentbot.slack.mrkdwn import escape

log = logging.getLogger(__name__)


def publish(deps: Deps, changes: list[Change]) -> None:
    """Refresh the card, post one line per change, and thread the important ones."""
    if not changes:
        return
    incident, holders = current(deps, changes[0].incident.id)
    refresh_card(deps, incident, holders)
    for change in changes:
        line = blocks.change_line(deps.policy, change)
        best_effort("post a change line", deps.gateway.post, incident.channel_id, line)
        if change.kind == "role_assigned":
            _welcome(deps, incident, change)
    if any(c.announce for c in changes):
        announce(deps, incident, [blocks.change_line(deps.policy, c) for c in changes if c.announce])


def current(deps: Deps, incident_id: int) -> tuple[Incident, dict[str, str]]:
    with session_scope(deps.engine) as session:
        incident = incidents.get(session, incident_id)
        return incident, roles.holders(session, incident)


def refresh_card(deps: Deps, incident: Incident, holders: dict[str, str] | None = None) -> None:
    if not (incident.channel_id and incident.card_ts):
        return
    with session_scope(deps.engine) as session:
        postmortem = postmortems.get(session, incident)
    text, card = blocks.incident_card(deps.policy, incident, holders, postmortem)
    best_effort("update the card", deps.gateway.update, incident.channel_id, incident.card_ts, text, card)


def announce(deps: Deps, incident: Incident, lines: list[str]) -> None:
    """Reply under the original announcement and bring its text up to date.

    Private incidents were never announced, and must never be.
    """
    if incident.private or not (incident.announcement_channel_id and incident.announcement_ts):
        return
    channel, ts = incident.announcement_channel_id, incident.announcement_ts
    for line in lines:
        best_effort("reply under the announcement", deps.gateway.post, channel, line, thread_ts=ts)
    text, post = blocks.announcement(deps.policy, incident)
    best_effort("update the announcement", deps.gateway.update, channel, ts, text, post)


def _welcome(deps: Deps, incident: Incident, change: Change) -> None:
    """Bring the new role holder into the channel and tell them what the role asks of them."""
    role = deps.policy.role(change.detail)
    best_effort("invite the role holder", deps.gateway.invite, incident.channel_id, [change.after])
    message = (f"You have the *{escape(role.name)}* role in *{incident.reference}*: {escape(incident.title)} "
               f"in <#{incident.channel_id}>.\n*What this role asks of you*\n{escape(role.description)}")
    best_effort("DM the role holder", deps.gateway.post, change.after, message)


def best_effort(what: str, call, *args, **kwargs) -> None:
    """Make a Slack call whose failure must not undo what is already committed: log it."""
    try:
        call(*args, **kwargs)
    except SlackError as error:
        log.warning("could not %s: %s", what, error.code)

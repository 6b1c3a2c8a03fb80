"""Showing a change in Slack: the card, the channel, the announcement thread.

The change is already committed when these run, so nothing here may fail the
request: a Slack error is logged, and the incident's ``shown_revision`` stays behind
its ``revision`` (or is reset) so that the worker's reconcile sweep shows it again
(``incidentbot.slack.resync``). A change line that could not be posted is not posted
later: the card, the timeline and the announcement carry the state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from incidentbot.core import incidents, postmortems, resync, roles
from incidentbot.core.changes import Change
from incidentbot.db import session_scope
from incidentbot.models import Incident
from incidentbot.slack import blocks
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError
from incidentbot.slack.mrkdwn import escape

log = logging.getLogger(__name__)


def publish(deps: Deps, changes: list[Change]) -> None:
    """Show committed changes in Slack (``show``)."""
    if changes:
        show(deps, changes[0].incident.id, changes)


def show(deps: Deps, incident_id: int, changes: list[Change],
         first: Callable[[Incident], None] | None = None) -> None:
    """Refresh the card, then ``first`` (a status update is posted there), then one line per
    change in the channel, the important ones also under the announcement; and record
    whether the card and the announcement show the incident's revision."""
    incident, holders = current(deps, incident_id)
    shown = refresh_card(deps, incident, holders)
    if first is not None:
        first(incident)
    for change in changes:
        line = blocks.change_line(deps.policy, change)
        best_effort("post a change line", deps.gateway.post, incident.channel_id, line)
        if change.kind == "role_assigned":
            _welcome(deps, incident, change)
    if any(c.announce for c in changes):
        shown = announce(deps, incident, [blocks.change_line(deps.policy, c) for c in changes if c.announce]) and shown
    settle_shown(deps, incident, shown)


def settle_shown(deps: Deps, incident: Incident, shown: bool) -> None:
    """Record whether the card and the announcement now show ``incident.revision``. Only
    at the end: a process that dies between the card and the announcement leaves the
    revision unshown, and the reconcile sweep shows both again. A newer change that came
    in meanwhile may have been overwritten by this older rendering landing last, so then
    the revision counts as unshown too."""
    with session_scope(deps.engine) as session:
        if shown and resync.revision(session, incident.id) == incident.revision:
            resync.mark_shown(session, incident.id, incident.revision)
        else:
            resync.mark_unshown(session, incident.id)


def current(deps: Deps, incident_id: int) -> tuple[Incident, dict[str, str]]:
    with session_scope(deps.engine) as session:
        incident = incidents.get(session, incident_id)
        return incident, roles.holders(session, incident)


def refresh_card(deps: Deps, incident: Incident, holders: dict[str, str] | None = None, *,
                 mark_shown: bool = False) -> bool:
    """Show the incident's current state on its card; False when Slack refused (the
    sweep will show it again). ``mark_shown`` when nothing else is left to show.

    Two changes in quick succession refresh the card from two threads, and the older
    rendering may reach Slack last; so after each update the revision is read again and
    a card that was overtaken is rendered once more (a few times at most).
    """
    if not (incident.channel_id and incident.card_ts):
        return False
    for _attempt in range(3):
        with session_scope(deps.engine) as session:
            postmortem = postmortems.get(session, incident)
        text, card = blocks.incident_card(deps.policy, incident, holders, postmortem)
        shown = best_effort("update the card", deps.gateway.update, incident.channel_id, incident.card_ts, text, card)
        latest, latest_holders = current(deps, incident.id)
        if not shown or latest.revision == incident.revision:
            break
        incident, holders = latest, latest_holders
    if mark_shown or not shown:
        settle_shown(deps, incident, shown)
    return shown


def announce(deps: Deps, incident: Incident, lines: list[str]) -> bool:
    """Reply under the original announcement and bring its text up to date; False when
    part of it failed.

    Private incidents were never announced, and must never be.
    """
    if incident.private or not (incident.announcement_channel_id and incident.announcement_ts):
        return True
    channel, ts = incident.announcement_channel_id, incident.announcement_ts
    replied = all([best_effort("reply under the announcement", deps.gateway.post, channel, line, thread_ts=ts)
                   for line in lines])
    return update_announcement(deps, incident) and replied


def update_announcement(deps: Deps, incident: Incident) -> bool:
    """Bring the announcement's text up to date (public incidents only)."""
    if incident.private or not (incident.announcement_channel_id and incident.announcement_ts):
        return True
    text, post = blocks.announcement(deps.policy, incident)
    return best_effort("update the announcement", deps.gateway.update,
                       incident.announcement_channel_id, incident.announcement_ts, text, post)


def _welcome(deps: Deps, incident: Incident, change: Change) -> None:
    """Bring the new role holder into the channel and tell them what the role asks of them."""
    role = deps.policy.role(change.detail)
    invited = best_effort("invite the role holder", deps.gateway.invite, incident.channel_id, [change.after])
    if incident.private and not invited:
        return  # someone Slack would not let in must not read a private incident's title in a DM
    message = (f"You have the *{escape(role.name)}* role in *{incident.reference}*: {escape(incident.title)} "
               f"in <#{incident.channel_id}>.\n*What this role asks of you*\n{escape(role.description)}")
    best_effort("DM the role holder", deps.gateway.post, change.after, message)


def best_effort(what: str, call, *args, **kwargs) -> bool:
    """Make a Slack call whose failure must not undo what is already committed: log it.
    Returns whether it worked."""
    try:
        call(*args, **kwargs)
    except SlackError as error:
        log.warning("could not %s: %s", what, error.code)
        return False
    return True

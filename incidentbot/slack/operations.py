"""What responders do to an incident, shared by subcommands, buttons and modals.

Each operation runs the domain change in one transaction (raising the domain's
errors for the caller to show), and ``finish`` then shows the result in Slack.
Callers do the domain part before ``ack()`` where it decides the answer, and the
Slack part after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlmodel import Session

from incidentbot.core import deliveries, incidents, lifecycle, roles, updates
from incidentbot.core.changes import Change
from incidentbot.db import session_scope
from incidentbot.models import Incident, StatusUpdate
from incidentbot.slack import blocks, effects, ids, postmortem_flow
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError

log = logging.getLogger(__name__)

Operation = Callable[[Session, Incident], "Change | list[Change]"]


def run(deps: Deps, incident_id: int, operation: Operation, *, once_key: str | None = None) -> list[Change]:
    """Apply ``operation`` to the incident in one transaction.

    With ``once_key`` (a view id, an event id) the operation runs at most once:
    a retried delivery of the same submission finds the key claimed and does
    nothing, in the same transaction as the change itself.
    """
    with session_scope(deps.engine) as session:
        if once_key and not deliveries.claim(session, once_key, "operation"):
            return []
        result = operation(session, incidents.get(session, incident_id))
    return result if isinstance(result, list) else [result]


def finish(deps: Deps, changes: list[Change]) -> None:
    effects.publish(deps, changes)
    resolved = [c for c in changes if c.kind == "resolved"]
    if resolved:
        # After everything people see of the resolution: the postmortem never delays it.
        postmortem_flow.after_resolve(deps, resolved[0].incident.id)


def privileged(deps: Deps, user_id: str) -> bool:
    """Whether the user is in the policy's privileged Slack user group.

    Asked before ``ack()`` (it decides the answer), so the lookup is cached, never
    retried and times out in 2 s; when Slack can't say, the user is not privileged
    and the other rules (the lead, the listed users) still apply.
    """
    group = deps.policy.permissions.privileged_usergroup
    if not group:
        return False
    try:
        return user_id in deps.gateway.usergroup_members(group)
    except (SlackError, OSError) as error:
        log.warning("could not read user group %s: %s", group, getattr(error, "code", type(error).__name__))
        return False


# The operations ----------------------------------------------------------------

def acknowledge(deps: Deps, actor: str) -> Operation:
    return lambda session, incident: lifecycle.acknowledge(session, deps.policy, incident, actor)


def assign(deps: Deps, actor: str, role_id: str, user_id: str) -> Operation:
    return lambda session, incident: roles.assign(session, deps.policy, incident, role_id, user_id, actor)


def set_status(deps: Deps, actor: str, status: str) -> Operation:
    return lambda session, incident: lifecycle.set_status(
        session, deps.policy, incident, status, actor, privileged=privileged(deps, actor))


def set_severity(deps: Deps, actor: str, severity: str, reason: str | None) -> Operation:
    return lambda session, incident: lifecycle.set_severity(
        session, deps.policy, incident, severity, actor, reason=reason, privileged=privileged(deps, actor))


def mitigate(deps: Deps, actor: str) -> Operation:
    return lambda session, incident: lifecycle.mitigate(session, deps.policy, incident, actor)


def resolve(deps: Deps, actor: str, summary: str | None) -> Operation:
    return lambda session, incident: lifecycle.resolve(
        session, deps.policy, incident, actor, summary, privileged=privileged(deps, actor))


def close(deps: Deps, actor: str) -> Operation:
    return lambda session, incident: lifecycle.close(
        session, deps.policy, incident, actor, privileged=privileged(deps, actor))


def set_summary(deps: Deps, actor: str, summary: str) -> Operation:
    return lambda session, incident: lifecycle.set_summary(session, deps.policy, incident, actor, summary)


def post_update(deps: Deps, incident_id: int, author: str, *, text: str | None, status: str | None = None,
                impact: str | None = None, next_minutes: int | None = None,
                once_key: str | None = None) -> tuple[StatusUpdate | None, list[Change]]:
    """Store a status update (and any status change it carries)."""
    with session_scope(deps.engine) as session:
        if once_key and not deliveries.claim(session, once_key, "operation"):
            return None, []
        incident = incidents.get(session, incident_id)
        update, changes = updates.post_update(session, deps.policy, incident, author, text=text, status=status,
                                              impact=impact, next_update_minutes=next_minutes)
    return update, changes


def finish_update(deps: Deps, update: StatusUpdate, changes: list[Change]) -> None:
    """Post the update in the channel and under the announcement (recording where), and
    show the status change it may carry; the update is its own message, not a line."""
    effects.show(deps, update.incident_id, [c for c in changes if c.kind != "update_posted"],
                 first=lambda incident: show_update(deps, incident, update))


def show_update(deps: Deps, incident: Incident, update: StatusUpdate, *, look_first: bool = False) -> None:
    """Post the update where it is not posted yet (the channel, the announcement thread)
    and record where. ``look_first`` (the reconcile sweep): an earlier attempt may have
    posted it without recording it, so look for its key before posting."""
    text, message = blocks.update_message(deps.policy, incident, update)
    channel_ts = update.channel_ts or _post(deps, incident.channel_id, text, message,
                                            key=ids.post_key(incident, f"update-{update.id}"), look_first=look_first)
    announcement_ts = update.announcement_ts
    if not (incident.private or announcement_ts) and incident.announcement_ts:
        announcement_ts = _post(deps, incident.announcement_channel_id, text, message,
                                thread_ts=incident.announcement_ts, look_first=look_first,
                                key=ids.post_key(incident, f"update-{update.id}-announcement"))
    with session_scope(deps.engine) as session:
        stored = session.get(StatusUpdate, update.id)
        updates.attach_messages(session, stored, channel_ts=channel_ts, announcement_ts=announcement_ts)


def _post(deps: Deps, channel: str | None, text: str, message, *, thread_ts: str | None = None,
          key: str | None = None, look_first: bool = False) -> str | None:
    if not channel:
        return None
    try:
        if key and look_first and (found := deps.gateway.find_keyed(channel, key, thread_ts=thread_ts)):
            return found
        return deps.gateway.post(channel, text, message, thread_ts=thread_ts, key=key)
    except SlackError as error:
        log.warning("could not post in %s: %s", channel, error.code)
        return None


def state_note(deps: Deps, incident_id: int) -> str:
    """The incident's current state in one line, for answers to stale clicks."""
    incident, holders = effects.current(deps, incident_id)
    lead = holders.get(deps.policy.lead_role.id)
    return (f"{incident.reference} is now {blocks.status_label(deps.policy, incident.status)}, "
            f"{incident.severity}, lead {f'<@{lead}>' if lead else 'not assigned'}.")


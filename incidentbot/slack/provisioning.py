"""Giving a declared incident its Slack home: channel, members, card, announcement.

Each step looks at what the database already records and does only what is
missing, then records its result before the next step. That makes the whole
thing safe to run again after a crash or a Slack outage: the worker's reconcile
sweep calls ``provision`` for incidents whose provisioning never finished.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from incidentbot.core import incidents
from incidentbot.db import session_scope
from incidentbot.models import Incident
from incidentbot.slack import blocks
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    incident: Incident
    problems: list[str] = field(default_factory=list)
    # False when a step failed in a way that may pass (rate limit, Slack down):
    # the incident then stays unprovisioned and the worker's sweep tries again.
    complete: bool = True


def provision(deps: Deps, incident_id: int) -> Outcome:
    """Create whatever the incident still lacks in Slack. Raises on essential failures."""
    with session_scope(deps.engine) as session:
        incident = incidents.get(session, incident_id)
    _ensure_channel(deps, incident)
    deps.gateway.invite(incident.channel_id, [incident.declared_by])
    _ensure_card(deps, incident)
    outcome = Outcome(incident)
    if not incident.private:
        _ensure_announcement(deps, incident, outcome)
    if outcome.complete:
        with session_scope(deps.engine) as session:
            incident = incidents.get(session, incident_id)
            incidents.mark_provisioned(session, incident)
        outcome.incident = incident
    return outcome


def _ensure_channel(deps: Deps, incident: Incident) -> None:
    if incident.channel_id:
        return
    name = incidents.channel_name_for(deps.policy, incident)
    channel_id, channel_name = deps.gateway.create_channel(name, private=incident.private)
    with session_scope(deps.engine) as session:
        fresh = incidents.get(session, incident.id)
        incidents.attach_channel(session, fresh, channel_id, channel_name)
    incident.channel_id, incident.channel_name = channel_id, channel_name


def _ensure_card(deps: Deps, incident: Incident) -> None:
    if not incident.card_ts:
        text, card = blocks.incident_card(deps.policy, incident)
        ts = deps.gateway.post(incident.channel_id, text, card)
        with session_scope(deps.engine) as session:
            incidents.attach_card(session, incidents.get(session, incident.id), ts)
        incident.card_ts = ts
    # Pinning is idempotent (already_pinned is fine), so it is simply repeated.
    deps.gateway.pin(incident.channel_id, incident.card_ts)


def _ensure_announcement(deps: Deps, incident: Incident, outcome: Outcome) -> None:
    """Announce publicly. A broken announcement channel must not stop the response."""
    if incident.announcement_ts:
        return
    target = deps.policy.channels.announcement
    try:
        channel_id = deps.gateway.resolve_channel(target)
        text, post = blocks.announcement(deps.policy, incident)
        ts = deps.gateway.post(channel_id, text, post)
    except SlackError as error:
        log.warning("could not announce %s in #%s: %s", incident.reference, target, error.code)
        permanent = error.code in _NEEDS_A_PERSON
        outcome.problems.append(_announcement_problem(target, error.code, permanent))
        outcome.complete = outcome.complete and permanent
        return
    with session_scope(deps.engine) as session:
        incidents.attach_announcement(session, incidents.get(session, incident.id), channel_id, ts)
    incident.announcement_channel_id, incident.announcement_ts = channel_id, ts


# Failures that repeat until someone changes Slack or the policy; retrying is pointless.
_NEEDS_A_PERSON = {
    "channel_not_found",
    "not_in_channel",
    "method_not_supported_for_channel_type",
    "is_archived",
    "restricted_action",
}


def _announcement_problem(target: str, code: str, permanent: bool) -> str:
    if permanent:
        return (
            f"I could not announce it in #{target} ({code}). Invite me to #{target}, "
            "or set `channels.announcement` in the policy to a channel I can post in."
        )
    return f"I could not announce it in #{target} yet ({code}); I will keep trying."

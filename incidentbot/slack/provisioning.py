"""Giving a declared incident its Slack home: channel, members, card, announcement.

Each step looks at what the database already records and does only what is
missing, then records its result before the next step. That makes the whole
thing safe to run again after a crash or a Slack outage: the worker's reconcile
sweep calls ``provision`` for incidents whose provisioning never finished.

Slack may have done a step whose result the database never got (the process died
between the call and the commit, or the answer was lost). So a resumed step looks
for its own earlier work before doing it again: the channel by its name and
creator, the card and the announcement by the key in their message metadata.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from incidentbot.core import incidents
from incidentbot import db
from incidentbot.db import session_scope
from incidentbot.models import Incident
from incidentbot.slack import blocks, ids
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError
from incidentbot.timeutil import utcnow

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    incident: Incident
    problems: list[str] = field(default_factory=list)
    # False when a step failed in a way that may pass (rate limit, Slack down):
    # the incident then stays unprovisioned and the worker's sweep tries again.
    complete: bool = True


def provision(deps: Deps, incident_id: int, *, resume: bool = False, now: datetime | None = None) -> Outcome:
    """Create whatever the incident still lacks in Slack. Raises on essential failures.

    ``resume`` (the reconcile sweep): an earlier attempt may have posted the card and
    the announcement without recording them, so look for them first. Runs under the
    incident's provisioning lease; when someone else holds it, does nothing and says
    the outcome is not complete (the sweep comes back).
    """
    with session_scope(deps.engine) as session:
        mine = incidents.lease_provisioning(session, incident_id, now=now or utcnow(), hold=LEASE)
        incident = incidents.get(session, incident_id)
    if not mine:
        return Outcome(incident, complete=bool(incident.provisioned_at))
    try:
        return _provision(deps, incident, resume=resume)  # gives the lease back when it ends
    except BaseException:
        _release(deps, incident_id)
        raise


def _release(deps: Deps, incident_id: int) -> None:
    """Give the lease back. When the database has gone away meanwhile, the lease simply
    runs out; that must not turn a finished provisioning into a reported failure."""
    try:
        with session_scope(deps.engine) as session:
            incidents.release_provisioning(session, incident_id)
    except Exception as error:
        if not db.unavailable(error):
            raise
        log.warning("provisioning lease of incident %s left to run out: %s", incident_id, db.describe(error))


# Longer than any one attempt takes (Slack retries included); a process that dies
# holding it only delays the sweep by this much.
LEASE = timedelta(minutes=2)


def _provision(deps: Deps, incident: Incident, *, resume: bool) -> Outcome:
    """The steps, each stored before the next; the announcement is stored with the end
    of provisioning and the lease, in one transaction."""
    _ensure_channel(deps, incident)
    deps.gateway.invite(incident.channel_id, [incident.declared_by])
    _ensure_card(deps, incident, look_first=resume)
    outcome = Outcome(incident)
    announced = {} if incident.private else _ensure_announcement(deps, incident, outcome, look_first=resume)
    finished_at = utcnow() if outcome.complete else None
    with session_scope(deps.engine) as session:
        incidents.record_provisioning(session, incident.id, finished_at=finished_at, **announced)
        if finished_at is None:
            incidents.release_provisioning(session, incident.id)
    incident.provisioned_at = finished_at
    return outcome


def _ensure_channel(deps: Deps, incident: Incident) -> None:
    if incident.channel_id:
        return
    name = incidents.channel_name_for(deps.policy, incident)
    channel_id, channel_name = deps.gateway.create_channel(
        name, private=incident.private, adopt=lambda found: _made_for(deps, incident, found))
    with session_scope(deps.engine) as session:
        incidents.record_provisioning(session, incident.id, channel_id=channel_id, channel_name=channel_name)
    incident.channel_id, incident.channel_name = channel_id, channel_name


# A channel made at most this long before the declaration was stored is not its channel.
_CLOCK_SKEW_SECONDS = 60


def _made_for(deps: Deps, incident: Incident, channel: dict) -> bool:
    """Whether an existing channel with the incident's name is one an earlier attempt made
    for it: the bot created it, after the declaration, and no incident has it."""
    if channel.get("creator") != deps.gateway.bot_identity()[0]:
        return False
    if int(channel.get("created") or 0) < incident.declared_at.timestamp() - _CLOCK_SKEW_SECONDS:
        return False
    with session_scope(deps.engine) as session:
        owner = incidents.by_channel(session, str(channel["id"]))
    return owner is None or owner.id == incident.id  # or another attempt just stored it


def _ensure_card(deps: Deps, incident: Incident, *, look_first: bool) -> None:
    if not incident.card_ts:
        key = ids.post_key(incident, "card")
        found = deps.gateway.find_keyed(incident.channel_id, key) if look_first else None
        text, card = blocks.incident_card(deps.policy, incident)
        ts = found or deps.gateway.post(incident.channel_id, text, card, key=key)
        with session_scope(deps.engine) as session:
            incidents.record_provisioning(session, incident.id, card_ts=ts)
        incident.card_ts = ts
    # Pinning is idempotent (already_pinned is fine), so it is simply repeated.
    deps.gateway.pin(incident.channel_id, incident.card_ts)


def _ensure_announcement(deps: Deps, incident: Incident, outcome: Outcome, *, look_first: bool) -> dict[str, str]:
    """Announce publicly; returns what to store. A broken announcement channel must not
    stop the response."""
    if incident.announcement_ts:
        return {}
    target = deps.policy.channels.announcement
    key = ids.post_key(incident, "announcement")
    try:
        channel_id = deps.gateway.resolve_channel(target)
        oldest = f"{incident.declared_at.timestamp() - _CLOCK_SKEW_SECONDS:.6f}"
        found = deps.gateway.find_keyed(channel_id, key, oldest=oldest) if look_first else None
        text, post = blocks.announcement(deps.policy, incident)
        ts = found or deps.gateway.post(channel_id, text, post, key=key)
    except SlackError as error:
        log.warning("could not announce %s in #%s: %s", incident.reference, target, error.code)
        permanent = error.code in _NEEDS_A_PERSON
        outcome.problems.append(_announcement_problem(target, error.code, permanent))
        outcome.complete = outcome.complete and permanent
        return {}
    incident.announcement_channel_id, incident.announcement_ts = channel_id, ts
    return {"announcement_channel_id": channel_id, "announcement_ts": ts}


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

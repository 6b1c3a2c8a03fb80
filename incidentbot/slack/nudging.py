"""Nudges in incident channels: overdue updates, no lead, no activity.

``core.nudges`` decides what is due from database state; this module sends it.
Each nudge is claimed in the database before it is posted (exactly once across
workers and restarts) and released again if Slack refuses it, so the next sweep
retries instead of losing it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from incidentbot.core import incidents, nudges
from incidentbot.db import session_scope, sweep_lock
from incidentbot.models import Incident
from incidentbot.slack import blocks, ids
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError
from incidentbot.timeutil import utcnow

log = logging.getLogger(__name__)


def send_due(deps: Deps, now: datetime | None = None) -> int:
    """Send every nudge that is due now; returns how many were sent."""
    now = now or utcnow()
    with sweep_lock(deps.engine, "nudges") as mine:
        if not mine:
            return 0
        with session_scope(deps.engine) as session:
            due = nudges.due(session, deps.policy, now)
        return sum(_send(deps, nudge, now) for nudge in due)


def _send(deps: Deps, nudge: nudges.DueNudge, now: datetime) -> int:
    with session_scope(deps.engine) as session:
        claim = nudges.claim(session, nudge, now)
        incident = incidents.get(session, nudge.incident_id)
    if claim is None or not incident.channel_id:
        return 0
    text, message = nudge_message(deps, incident, nudge.kind)
    try:
        ts = deps.gateway.post(incident.channel_id, text, message)
    except SlackError as error:
        log.warning("nudge %s for %s not sent (%s); will retry", nudge.kind, incident.reference, error.code)
        with session_scope(deps.engine) as session:
            nudges.release(session, _reload(session, claim))
        return 0
    with session_scope(deps.engine) as session:
        nudges.mark_sent(session, _reload(session, claim), channel_id=incident.channel_id, message_ts=ts, now=now)
    return 1


def _reload(session, claim):
    return session.get(type(claim), claim.id)


def nudge_message(deps: Deps, incident: Incident, kind: str) -> tuple[str, list[dict]]:
    severity = deps.policy.severity(incident.severity)
    texts = {
        "update_overdue": (f":hourglass_flowing_sand: Time for a status update on *{incident.reference}* "
                           f"({severity.id} asks for one every {severity.update_every_minutes} min). "
                           "Use the card's *Post update* button or `/incident update <text>`."),
        "no_lead": (f":bust_in_silhouette: *{incident.reference}* has no lead yet. Take it with the card's "
                    "*I'm the lead* button, or `/incident lead @person`."),
        "idle": (f":zzz: Nothing has been recorded on *{incident.reference}* for "
                 f"{deps.policy.nudges.idle_hours} h. Post an update, or resolve it if it is over."),
    }
    text = texts[kind]
    snooze = {"type": "button", "action_id": ids.SNOOZE, "value": f"{incident.id}:{kind}",
              "text": blocks.plain(f"Snooze {deps.policy.nudges.snooze_minutes} min")}
    return text, [blocks.section(text), {"type": "actions", "block_id": "nudge_actions", "elements": [snooze]}]


def snooze_clicked(ack, body: dict, respond, context: dict) -> None:
    """The Snooze button: silence this kind of nudge for the policy's snooze time."""
    ack()
    deps: Deps = context["deps"]
    incident_id, _, kind = body["actions"][0]["value"].partition(":")
    actor = body["user"]["id"]
    with session_scope(deps.engine) as session:
        incident = incidents.get(session, int(incident_id))
        until = nudges.snooze(session, deps.policy, incident, kind, actor, utcnow())
    respond(replace_original=True, text=f"Snoozed by <@{actor}> until {blocks.when(until, deps.policy)}.")

"""The declare flow shared by the slash command and the declare modal.

Both paths validate, store the incident (fast, before or right after ``ack``),
then provision Slack resources and tell the declarer how it went.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from incidentbot import db
from incidentbot.core import incidents
from incidentbot.core.incidents import Declaration
from incidentbot.db import session_scope
from incidentbot.models import Incident
from incidentbot.slack import blocks, provisioning
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError

log = logging.getLogger(__name__)

Reply = Callable[[str], None]


def store(deps: Deps, declaration: Declaration) -> tuple[Incident, bool]:
    with session_scope(deps.engine) as session:
        return incidents.declare(session, deps.policy, declaration)


def open_channel(deps: Deps, incident: Incident, reply: Reply) -> None:
    """Provision the incident's Slack resources and report to the declarer.

    Failures are reported, never raised: the incident is stored, and the worker's
    reconcile sweep finishes provisioning when Slack is reachable again.
    """
    try:
        outcome = provisioning.provision(deps, incident.id)
    except SlackError as error:
        log.warning("provisioning %s stopped at %s: %s", incident.reference, error.method, error.code)
        reply(
            f"{incident.reference} is recorded, but Slack refused to set up its channel "
            f"({error.code}). I will retry in the background; nothing needs to be typed again."
        )
        return
    except Exception:
        log.exception("provisioning %s failed", incident.reference)
        reply(
            f"{incident.reference} is recorded, but setting up its channel failed. "
            "I will retry in the background; nothing needs to be typed again."
        )
        return
    message = blocks.declared_reply(outcome.incident)
    if outcome.problems:
        message += "\n" + "\n".join(f":warning: {p}" for p in outcome.problems)
    reply(message)


def convert(deps: Deps, declaration: Declaration, channel_id: str, channel_name: str, reply: Reply) -> None:
    """``/incident convert``: the channel it was typed in becomes the incident channel.

    No channel is created and its history stays. The bot must be able to post
    there, which is checked before anything is stored: it joins a public channel
    by itself; a private one has to invite it, and makes a private incident.
    """
    try:
        deps.gateway.join(channel_id)
    except SlackError as error:
        # A private channel can't be joined; it is fine if the bot was invited.
        invited = error.code == "method_not_supported_for_channel_type" and deps.gateway.can_see(channel_id)
        if not invited:
            reply("I can't post in this channel. Invite me first (`/invite @incidentbot`), "
                  "then run `/incident convert` again. Nothing was declared.")
            return
        # Its people chose a private channel: the incident is private too (never announced,
        # only its members see it), or its title would reach everyone.
        declaration = replace(declaration, private=True)
    try:
        incident, created = store(deps, declaration)
    except Exception as error:
        if not db.unavailable(error):
            raise
        log.warning("declaration not stored: the database is unavailable (%s)", db.describe(error))
        reply(blocks.DATABASE_DOWN_DECLARING)
        return
    if not created:
        return
    with session_scope(deps.engine) as session:
        incidents.attach_channel(session, incidents.get(session, incident.id), channel_id, channel_name)
    open_channel(deps, incident, reply)

"""The declare flow shared by the slash command and the declare modal.

Both paths validate, store the incident (fast, before or right after ``ack``),
then provision Slack resources and tell the declarer how it went.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

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

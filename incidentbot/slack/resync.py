"""Showing in Slack what the database says and Slack does not show yet.

Run by the worker's reconcile sweep after provisioning. Each part reads what is
missing from the database (``incidentbot.core.resync``) and shows it again: a card
or announcement left at an older state, a status update never posted, a postmortem
the policy requires but the resolve never got to schedule. Posts that may have
happened without being recorded are looked for by their key first (``ids.post_key``),
so nothing is posted twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from incidentbot.core import postmortems, resync
from incidentbot.db import session_scope
from incidentbot.models import StatusUpdate
from incidentbot.slack import effects, operations, postmortem_flow
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError

log = logging.getLogger(__name__)

# Leave a change this long to the web process that is showing it right now (its
# Slack calls, retries included, take less).
SYNC_GRACE = timedelta(minutes=2)


@dataclass
class Resynced:
    cards: int = 0
    updates: int = 0
    postmortems: int = 0

    def __bool__(self) -> bool:
        return bool(self.cards or self.updates or self.postmortems)


def resync_all(deps: Deps, *, now: datetime, grace: timedelta = SYNC_GRACE) -> Resynced:
    """Show again whatever failed to show before ``now - grace``. Never raises for one
    incident: the others still get their turn."""
    done = Resynced()
    with session_scope(deps.engine) as session:
        stale = resync.stale_cards(session, changed_before=now - grace)
        unposted = resync.unposted_updates(session, now=now, posted_before=now - grace)
        unscheduled = resync.resolved_without_postmortem(session, now=now, resolved_before=now - grace)
    for incident in stale:
        done.cards += _guarded(f"card of {incident.reference}", reshow_incident, deps, incident.id)
    for update in unposted:
        done.updates += _guarded(f"status update {update.id}", repost_update, deps, update)
    for incident in unscheduled:
        if postmortems.required(deps.policy, incident):
            postmortem_flow.after_resolve(deps, incident.id)  # schedules, announces, drafts; never raises
            done.postmortems += 1
    return done


def reshow_incident(deps: Deps, incident_id: int) -> bool:
    """The card and the announcement as they are now; the role holders in the channel."""
    incident, holders = effects.current(deps, incident_id)
    if holders:
        effects.best_effort("invite the role holders", deps.gateway.invite, incident.channel_id,
                            sorted(set(holders.values())))
    if not effects.update_announcement(deps, incident):
        effects.settle_shown(deps, incident, False)
        return False
    return effects.refresh_card(deps, incident, holders, mark_shown=True)


def repost_update(deps: Deps, update: StatusUpdate) -> bool:
    incident, _ = effects.current(deps, update.incident_id)
    operations.show_update(deps, incident, update, look_first=True)
    return True


def _guarded(what: str, call, *args) -> int:
    try:
        return int(bool(call(*args)))
    except (SlackError, OSError) as error:
        log.warning("reconcile: could not show the %s again: %s", what, getattr(error, "code", error))
        return 0

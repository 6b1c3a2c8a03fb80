"""The scheduled side of the bot (``incidentbot worker``).

The database says what is due; the scheduler only wakes the sweeps up. Each
sweep takes a lock, so several workers can run and each piece of work is done by
one of them.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from incidentbot.core import incidents
from incidentbot.db import session_scope, sweep_lock
from incidentbot.slack import nudging, provisioning
from incidentbot.slack.deps import Deps
from incidentbot.timeutil import utcnow

log = logging.getLogger(__name__)

# Leave a just-declared incident to the web process that is provisioning it.
RECONCILE_GRACE = timedelta(minutes=2)
RECONCILE_EVERY_SECONDS = 60
NUDGE_EVERY_SECONDS = 60


def reconcile(deps: Deps, *, grace: timedelta = RECONCILE_GRACE) -> int:
    """Finish provisioning incidents whose Slack setup was interrupted. Returns how many."""
    with sweep_lock(deps.engine, "reconcile") as mine:
        if not mine:
            return 0
        with session_scope(deps.engine) as session:
            pending = incidents.unprovisioned(session, declared_before=utcnow() - grace)
        done = 0
        for incident in pending:
            try:
                if provisioning.provision(deps, incident.id).complete:
                    done += 1
            except Exception as error:  # one stuck incident must not stop the others
                log.warning("reconcile: %s still not provisioned: %s", incident.reference, error)
        if pending:
            log.info("reconcile: provisioned %d of %d pending incidents", done, len(pending))
        return done


def send_nudges(deps: Deps) -> int:
    return nudging.send_due(deps)


def schedule(scheduler: BaseScheduler, deps: Deps) -> BaseScheduler:
    """The sweeps and how often they wake up; each job looks at the database for
    what is due, so a missed wake-up (downtime) only delays work, never loses it."""
    for job, seconds in ((reconcile, RECONCILE_EVERY_SECONDS), (send_nudges, NUDGE_EVERY_SECONDS)):
        scheduler.add_job(job, "interval", seconds=seconds, args=[deps], id=job.__name__,
                          coalesce=True, max_instances=1, next_run_time=utcnow())
    return scheduler


def run(deps: Deps) -> None:
    scheduler = schedule(BlockingScheduler(timezone="UTC"), deps)
    log.info("worker started: %s", ", ".join(job.id for job in scheduler.get_jobs()))
    scheduler.start()

"""The scheduled side of the bot (``incidentbot worker``).

The database says what is due; the scheduler only wakes the sweeps up. Each
sweep takes a lock, so several workers can run and each piece of work is done by
one of them.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from incidentbot import db, trackers
from incidentbot.core import incidents, messages
from incidentbot.db import session_scope, sweep_lock
from incidentbot.slack import backfill, nudging, postmortem_flow, provisioning, resync
from incidentbot.slack import action_item_reminders  # owner reminders about action items
from incidentbot.slack import digest_flow  # the weekly digest
from incidentbot.slack.deps import Deps
from incidentbot.timeutil import utcnow
from incidentbot.trackers import sync as tracker_sync

log = logging.getLogger(__name__)

# Leave a just-declared incident to the web process that is provisioning it.
RECONCILE_GRACE = timedelta(minutes=2)
RECONCILE_EVERY_SECONDS = 60
NUDGE_EVERY_SECONDS = 60
BACKFILL_EVERY_SECONDS = 600
DIGEST_EVERY_SECONDS = 60  # the digest is due from its day and time on; posted once (digest_run)
TRACKER_EVERY_SECONDS = 60  # exports are due at once; each item's status is read every 15 min
# Keep backfilling a resolved incident's channel this long: its postmortem is drafted from it.
BACKFILL_AFTER_RESOLVED = timedelta(days=7)


def reconcile(deps: Deps, *, grace: timedelta = RECONCILE_GRACE, now: datetime | None = None) -> int:
    """Finish provisioning incidents whose Slack setup was interrupted, then show in
    Slack what failed to show (``slack.resync``). Returns how many were provisioned."""
    now = now or utcnow()
    with sweep_lock(deps.engine, "reconcile") as mine:
        if not mine:
            return 0
        with session_scope(deps.engine) as session:
            pending = incidents.unprovisioned(session, declared_before=now - grace)
        done = 0
        for incident in pending:
            try:
                if provisioning.provision(deps, incident.id, resume=True, now=now).complete:
                    done += 1
            except Exception as error:  # one stuck incident must not stop the others
                log.warning("reconcile: %s still not provisioned: %s", incident.reference, error)
        if pending:
            log.info("reconcile: provisioned %d of %d pending incidents", done, len(pending))
        shown = resync.resync_all(deps, now=now, grace=min(grace, resync.SYNC_GRACE))
        if shown:
            log.info("reconcile: shown again: %s", shown)
        return done


def backfill_channels(deps: Deps) -> int:
    """Store messages the bot missed (it was down) in the channels of current incidents.

    Returns how many messages were added. A long rate limit stops the sweep for every
    incident (the limit is per method, per workspace); the next sweep resumes, and
    what was stored stays.
    """
    with sweep_lock(deps.engine, "backfill") as mine:
        if not mine:
            return 0
        with session_scope(deps.engine) as session:
            pending = messages.to_backfill(session, resolved_after=utcnow() - BACKFILL_AFTER_RESOLVED)
        added = 0
        for incident in pending:
            try:
                added += backfill.backfill(deps, incident, raise_on_ratelimit=True)
            except backfill.RateLimited as stopped:
                added += stopped.added
                log.info("backfill: rate limited at %s; resuming next sweep", incident.reference)
                break
            except Exception as error:  # one unreadable channel must not stop the others
                log.warning("backfill: %s failed: %s", incident.reference, error)
        return added


def send_nudges(deps: Deps) -> int:
    return nudging.send_due(deps)


def send_postmortem_reminders(deps: Deps) -> int:
    return postmortem_flow.send_reminders(deps)


def send_action_item_reminders(deps: Deps) -> int:
    """DM owners about action items due soon or overdue (under its own sweep lock)."""
    return action_item_reminders.send_action_item_reminders(deps)


def post_weekly_digest(deps: Deps) -> int:
    """Post last week's digest once it is due (docs/digest.md), once across restarts and workers."""
    return digest_flow.post_weekly_digest(deps)


def sync_trackers(deps: Deps, tracker: trackers.Tracker) -> int:
    """Export action items to the issue tracker and read statuses back (docs/trackers.md).
    Never raises: a tracker that is down is recorded on the items and retried with backoff."""
    return tracker_sync.sweep(deps.engine, deps.policy, tracker).exported


def schedule(scheduler: BaseScheduler, deps: Deps) -> BaseScheduler:
    """The sweeps and how often they wake up; each job looks at the database for
    what is due, so a missed wake-up (downtime) only delays work, never loses it."""
    jobs = ((reconcile, RECONCILE_EVERY_SECONDS), (send_nudges, NUDGE_EVERY_SECONDS),
            (backfill_channels, BACKFILL_EVERY_SECONDS), (send_postmortem_reminders, NUDGE_EVERY_SECONDS))
    jobs += ((send_action_item_reminders, NUDGE_EVERY_SECONDS),)
    jobs += ((post_weekly_digest, DIGEST_EVERY_SECONDS),)
    for job, seconds in jobs:
        scheduler.add_job(_quiet_when_database_down(job), "interval", seconds=seconds, args=[deps], id=job.__name__,
                          coalesce=True, max_instances=1, next_run_time=utcnow())
    tracker = trackers.from_settings(deps.settings)  # ConfigError at start-up when a variable is missing
    if tracker is not None:
        scheduler.add_job(_quiet_when_database_down(sync_trackers), "interval", seconds=TRACKER_EVERY_SECONDS,
                          args=[deps, tracker], id="sync_trackers", coalesce=True, max_instances=1,
                          next_run_time=utcnow())
    return scheduler


def _quiet_when_database_down(job):
    """A sweep that loses the database halfway logs one line and returns: the next run
    (a minute later) does the rest, since each sweep reads what is due from the database."""
    @functools.wraps(job)
    def run(*args):
        try:
            return job(*args)
        except Exception as error:
            if not db.unavailable(error):
                raise
            log.warning("%s stopped: the database is unavailable (%s)", job.__name__, db.describe(error))
            return 0
    return run


def run(deps: Deps) -> None:
    scheduler = schedule(BlockingScheduler(timezone="UTC"), deps)
    log.info("worker started: %s", ", ".join(job.id for job in scheduler.get_jobs()))
    scheduler.start()

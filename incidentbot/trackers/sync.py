"""The worker's tracker sweep: export new action items, read exported ones' status back.

Every tracker call happens outside a database transaction: claim the item (commit),
call the tracker, record the outcome (commit). A tracker that is down costs one failed
call per sweep, not one per item: the first failure that is not about a single item
stops the sweep, and the items not tried stay due for the next one. Nothing here
raises out of ``sweep``; failures are recorded on the items and logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from incidentbot.core import tracker_exports
from incidentbot.core.policy import Policy
from incidentbot.core.tracker_exports import Claim
from incidentbot.db import session_scope, sweep_lock
from incidentbot.timeutil import ensure_utc, utcnow
from incidentbot.trackers.base import Tracker, TrackerError

log = logging.getLogger(__name__)

EXPORT_BATCH = 50
SYNC_BATCH = 100


@dataclass
class SweepResult:
    exported: int = 0  # issues created (or found, from an attempt whose answer was lost)
    synced: int = 0  # statuses read back
    changed: int = 0  # our items whose status the tracker changed
    failed: int = 0  # calls that failed (recorded on the items)
    stopped: str | None = None  # why the sweep stopped early: the tracker is down, rate limited …

    def add(self, other: "SweepResult") -> "SweepResult":
        return SweepResult(self.exported + other.exported, self.synced + other.synced,
                           self.changed + other.changed, self.failed + other.failed, self.stopped or other.stopped)


def sweep(engine: Engine, policy: Policy, tracker: Tracker, *, now: datetime | None = None) -> SweepResult:
    """Export, then sync; one worker at a time (PostgreSQL advisory lock). Never raises.

    After the tracker asked us to wait (a rate limit with Retry-After), this process
    does not call it again before then: GitHub penalises clients that keep trying.
    """
    now = ensure_utc(now) if now else utcnow()
    paused = getattr(tracker, "paused_until", None)
    if paused is not None and now < paused:
        name = getattr(tracker, "display_name", tracker.system)
        return SweepResult(stopped=f"{name} asked us to wait until {paused:%H:%M:%S} UTC")
    try:
        with sweep_lock(engine, "trackers") as mine:
            if not mine:
                return SweepResult()
            result = export_pending(engine, policy, tracker, now=now)
            if result.stopped is None:
                result = result.add(sync_statuses(engine, tracker, now=now))
    except Exception as error:  # the database is down, a bug: the next sweep tries again
        # A traceback for bugs; an unreachable database is said in one line.
        log.warning("trackers: sweep failed: %s", _describe(error), exc_info=not isinstance(error, DBAPIError))
        return SweepResult(stopped=_describe(error))
    if result.exported or result.changed or result.failed:
        log.info("trackers: %d exported, %d synced (%d changed), %d failed%s", result.exported, result.synced,
                 result.changed, result.failed, f"; stopped: {result.stopped}" if result.stopped else "")
    return result


def export_pending(engine: Engine, policy: Policy, tracker: Tracker, *, now: datetime | None = None,
                   limit: int = EXPORT_BATCH) -> SweepResult:
    """Create issues for open action items not exported yet whose attempt is due.

    Safe to run from several workers at once: each item is claimed before the tracker
    is called. After a failed attempt the tracker is searched for the item's marker
    before creating, so an issue whose creation answer was lost is linked, not doubled.
    """
    now = ensure_utc(now) if now else utcnow()
    result = SweepResult()
    with session_scope(engine) as session:
        due = tracker_exports.due_for_export(session, now=now, limit=limit)
    for item in due:
        with session_scope(engine) as session:
            claim = tracker_exports.claim_export(session, item, now=now)
            if claim is None:
                continue  # another worker has it
            spec = tracker_exports.describe(session, policy, item.id)
        try:
            issue = tracker.find(spec) if claim.attempt > 1 else None
            if issue is None:
                issue = tracker.create(spec)
        except Exception as error:
            result.failed += 1
            if _failed(engine, tracker, claim, error, now=now, what="export of"):
                result.stopped = _describe(error)
                break
            continue
        with session_scope(engine) as session:
            tracker_exports.record_exported(session, claim, system=tracker.system, key=issue.key, url=issue.url,
                                             now=now)
        result.exported += 1
        log.info("trackers: AI-%d exported as %s", item.id, issue.key)
    return result


def sync_statuses(engine: Engine, tracker: Tracker, *, now: datetime | None = None,
                  limit: int = SYNC_BATCH) -> SweepResult:
    """Read back the status of exported open items that are due (every 15 minutes each);
    an issue closed in the tracker finishes our item (``action_items.set_status``)."""
    now = ensure_utc(now) if now else utcnow()
    result = SweepResult()
    with session_scope(engine) as session:
        due = tracker_exports.due_for_sync(session, tracker.system, now=now, limit=limit)
    for item in due:
        with session_scope(engine) as session:
            claim = tracker_exports.claim_sync(session, item, now=now)
        if claim is None:
            continue
        try:
            remote = tracker.status(claim.external_key)
        except Exception as error:
            result.failed += 1
            if _failed(engine, tracker, claim, error, now=now, what="status sync of"):
                result.stopped = _describe(error)
                break
            continue
        with session_scope(engine) as session:
            synced = tracker_exports.record_synced(session, claim, remote, now=now)
        result.synced += 1
        if synced is not None and synced.changed_to:
            result.changed += 1
            log.info("trackers: AI-%d is now %s (%s %s)", item.id, synced.changed_to, claim.external_key,
                     remote.display)
    return result


def _failed(engine: Engine, tracker: Tracker, claim: Claim, error: Exception, *, now: datetime,
            what: str) -> bool:
    """Record the failure on the item; True when the sweep should stop (the tracker,
    not this item, is the problem)."""
    if isinstance(error, TrackerError):
        permanent, wait, item_only = error.permanent, error.retry_after, error.item_only
        if wait and not item_only and hasattr(tracker, "paused_until"):
            tracker.paused_until = now + timedelta(seconds=min(wait, tracker_exports.BACKOFF_MAX.total_seconds()))
    else:  # a bug or a surprise in a response: retried with backoff, logged in full
        log.exception("trackers: %s AI-%d failed unexpectedly", what, claim.item_id)
        permanent, wait, item_only = False, None, True
    with session_scope(engine) as session:
        tracker_exports.record_failure(session, claim, _describe(error), permanent=permanent, retry_after=wait,
                                       now=now)
    log.warning("trackers: %s AI-%d failed (attempt %d%s): %s", what, claim.item_id, claim.attempt,
                ", will not retry soon" if permanent else "", _describe(error))
    return not item_only


def _describe(error: Exception) -> str:
    return error.message if isinstance(error, TrackerError) else f"{type(error).__name__}: {error}"

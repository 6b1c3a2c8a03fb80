"""Export of action items to an issue tracker: the database side.

Which items are due for export or for a status sync, claiming an item before the
tracker is called (so two workers never export it twice), recording what happened
with exponential backoff, and what a tracker's status means for our item. No HTTP
and no Slack here: ``incidentbot.trackers`` talks to GitHub and Jira.

State lives on ``ActionItem``:

- ``external_key`` NULL: not exported yet. Due when ``export_next_at`` is NULL (a new
  item) or has passed.
- ``external_key`` set: exported. ``export_next_at`` is when its status is read back
  next (every ``SYNC_EVERY``); items that are done or won't be done are not synced.
- ``export_attempts``: attempts (export or sync) since the last success. A claim
  increments it and pushes ``export_next_at`` a lease ahead, so a worker that dies
  mid-call leaves an item that is retried after the lease.
- ``export_error``: the last failure, for people to read; cleared by a success.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from incidentbot.core import action_items
from incidentbot.core.errors import AlreadyDone
from incidentbot.core.policy import Policy
from incidentbot.drafting.redact import Redactor
from incidentbot.models import ActionItem, BacklogItem, Incident
from incidentbot.timeutil import ensure_utc

BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=6)
SYNC_EVERY = timedelta(minutes=15)
# Longer than any one tracker call (10 s timeouts, a search before a re-create).
CLAIM_LEASE = timedelta(minutes=5)
ERROR_MAX = 500
# Resolutions that mean "closed without doing it" (compared without case or apostrophe style).
WONT_DO_RESOLUTIONS = ("won't do", "won't fix", "wontfix", "declined", "duplicate")


@dataclass(frozen=True)
class ExportSpec:
    """What a tracker needs to create the issue for one action item."""

    item_id: int
    reference: str  # AI-12
    title: str
    description: str
    owner: str | None  # Slack user id
    due: date | None  # the due day in the organisation's timezone
    priority: str
    type: str
    service: str | None
    incident_reference: str  # INC-3
    incident_title: str
    backlog_reference: str | None  # BL-4
    backlog_title: str | None
    source_link: str | None


@dataclass(frozen=True)
class RemoteStatus:
    """A tracker issue's state in our terms."""

    status: str  # open | in_progress | done | wont_do
    display: str  # the tracker's own words, stored in external_status: "closed (completed)", "In Progress"
    reason: str | None = None  # why it won't be done (wont_do only)


@dataclass(frozen=True)
class Claim:
    item_id: int
    attempt: int  # 1: the first attempt since the last success
    external_key: str | None


# --- what is due ------------------------------------------------------------------------


def due_for_export(session: Session, *, now: datetime, limit: int = 50) -> list[ActionItem]:
    """Open items not exported yet whose next attempt is due, oldest first.

    Items of private incidents are never exported: their titles would leave the
    incident's channel (see docs/trackers.md).
    """
    now = ensure_utc(now)
    query = (
        select(ActionItem)
        .join(Incident, col(Incident.id) == col(ActionItem.incident_id))
        .where(col(ActionItem.external_key).is_(None), col(ActionItem.status).in_(action_items.OPEN),
               col(Incident.private).is_(False),
               col(ActionItem.export_next_at).is_(None) | (col(ActionItem.export_next_at) <= now))
        .order_by(col(ActionItem.id))
        .limit(limit)
    )
    return list(session.exec(query))


def due_for_sync(session: Session, system: str, *, now: datetime, limit: int = 100) -> list[ActionItem]:
    """Open items exported to ``system`` whose status should be read back now, most overdue first."""
    now = ensure_utc(now)
    query = (
        select(ActionItem)
        .where(col(ActionItem.external_key).is_not(None), ActionItem.external_system == system,
               col(ActionItem.status).in_(action_items.OPEN),
               col(ActionItem.export_next_at).is_(None) | (col(ActionItem.export_next_at) <= now))
        .order_by(col(ActionItem.export_next_at).is_not(None), col(ActionItem.export_next_at), col(ActionItem.id))
        .limit(limit)
    )
    return list(session.exec(query))


# --- claims -----------------------------------------------------------------------------


def claim_export(session: Session, item: ActionItem, *, now: datetime) -> Claim | None:
    """Take ``item`` (as read by ``due_for_export``) for one export attempt; None when
    another worker took it first or it is no longer due. Commit before calling the tracker."""
    return _claim(session, item, now=now, exported=False)


def claim_sync(session: Session, item: ActionItem, *, now: datetime) -> Claim | None:
    """Take an exported item for one status read; None when another worker has it."""
    return _claim(session, item, now=now, exported=True)


def _claim(session: Session, item: ActionItem, *, now: datetime, exported: bool) -> Claim | None:
    # A compare-and-set on the attempt counter: of two workers that read the same row,
    # the second one's UPDATE matches nothing (PostgreSQL re-checks the WHERE clause
    # after waiting for the first one's row lock; SQLite runs one writer at a time).
    now = ensure_utc(now)
    key = col(ActionItem.external_key)
    result = session.execute(
        update(ActionItem)
        .where(col(ActionItem.id) == item.id,
               col(ActionItem.export_attempts) == item.export_attempts,
               key.is_not(None) if exported else key.is_(None),
               col(ActionItem.status).in_(action_items.OPEN),
               col(ActionItem.export_next_at).is_(None) | (col(ActionItem.export_next_at) <= now))
        .values(export_attempts=ActionItem.export_attempts + 1, export_next_at=now + CLAIM_LEASE)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return Claim(item.id, item.export_attempts + 1, item.external_key)


# --- results ----------------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure in a row: 1 min, 2, 4, … at most 6 h."""
    if attempts <= 1:
        return BACKOFF_FIRST
    return min(BACKOFF_FIRST * (2 ** min(attempts - 1, 20)), BACKOFF_MAX)


def next_attempt_delay(attempts: int, *, permanent: bool, retry_after: float | None = None,
                       syncing: bool = False) -> timedelta:
    """How long to leave an item alone after a failure.

    A permanent error (bad credentials, validation) waits the longest backoff, so it is
    retried a few times a day rather than every minute; a tracker's Retry-After is
    honoured (within the cap); a failed sync never comes back sooner than the sync period.
    """
    delay = BACKOFF_MAX if permanent else backoff(attempts)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(timedelta(seconds=retry_after), BACKOFF_MAX))
    if syncing:
        delay = max(delay, SYNC_EVERY)
    return delay


def record_exported(session: Session, claim: Claim, *, system: str, key: str, url: str,
                    now: datetime) -> ActionItem | None:
    """The issue exists: link it. None when the item was linked meanwhile (nothing changed)."""
    now = ensure_utc(now)
    item = _locked(session, claim.item_id)
    if item is None or item.external_key is not None:
        return None
    item.external_system, item.external_key, item.external_url = system, key, url
    item.external_status = "open"
    item.export_attempts, item.export_error = 0, None
    item.synced_at = now
    item.export_next_at = now + SYNC_EVERY
    session.add(item)
    session.flush()
    return item


def record_failure(session: Session, claim: Claim, error: str, *, permanent: bool, now: datetime,
                   retry_after: float | None = None) -> ActionItem | None:
    """The tracker call failed: keep the error for people to read and set the next attempt."""
    now = ensure_utc(now)
    item = _locked(session, claim.item_id)
    if item is None:
        return None
    if item.external_key != claim.external_key:
        return item  # linked by another worker meanwhile; its state wins
    delay = next_attempt_delay(item.export_attempts, permanent=permanent, retry_after=retry_after,
                               syncing=claim.external_key is not None)
    item.export_error = _clip(error)
    item.export_next_at = now + delay
    session.add(item)
    session.flush()
    return item


@dataclass(frozen=True)
class Synced:
    item: ActionItem
    changed_to: str | None  # our new status, when the tracker's changed it


def record_synced(session: Session, claim: Claim, remote: RemoteStatus, *, now: datetime) -> Synced | None:
    """Store the tracker's status and, when it finished or started the work, move our
    item there through ``action_items.set_status`` (timeline event, backlog settled)."""
    now = ensure_utc(now)
    item = _locked(session, claim.item_id)
    if item is None or item.external_key != claim.external_key:
        return None
    item.external_status = _clip(remote.display, 100)
    item.synced_at = now
    item.export_attempts, item.export_error = 0, None
    item.export_next_at = now + SYNC_EVERY
    target = sync_target(item.status, remote)
    changed_to = None
    if target is not None:
        status, reason = target
        try:
            # No Slack user made this change; the reason (wont_do) names the tracker.
            action_items.set_status(session, item, status, actor=None, now=now, reason=reason)  # type: ignore[arg-type]
            changed_to = status
        except AlreadyDone:
            pass
    if item.status not in action_items.OPEN:
        item.export_next_at = None  # finished here: nothing more to read back
    session.add(item)
    session.flush()
    return Synced(item, changed_to)


def _locked(session: Session, item_id: int) -> ActionItem | None:
    item = session.get(ActionItem, item_id, populate_existing=True, with_for_update=True)
    return item


def _clip(text: str, limit: int = ERROR_MAX) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- status mapping ---------------------------------------------------------------------


def github_status(state: str | None, state_reason: str | None) -> RemoteStatus:
    """A GitHub issue's ``state`` and ``state_reason`` in our terms."""
    if (state or "").lower() != "closed":
        return RemoteStatus("open", "open")
    reason = (state_reason or "completed").lower()
    if reason == "not_planned":
        return RemoteStatus("wont_do", "closed (not planned)", "closed as not planned in GitHub")
    if reason == "duplicate":
        return RemoteStatus("wont_do", "closed (duplicate)", "closed as a duplicate in GitHub")
    return RemoteStatus("done", "closed (completed)")


def jira_status(category_key: str | None, status_name: str | None, resolution: str | None) -> RemoteStatus:
    """A Jira issue's status category (new | indeterminate | done), status and resolution in our terms."""
    name = (status_name or category_key or "unknown").strip()
    category = (category_key or "").lower()
    if category == "done":
        display = f"{name} ({resolution})" if resolution and resolution != name else name
        if resolution and _normal(resolution) in WONT_DO_RESOLUTIONS:
            return RemoteStatus("wont_do", display, f"resolved as {resolution} in Jira")
        return RemoteStatus("done", display)
    if category == "indeterminate":
        return RemoteStatus("in_progress", name)
    return RemoteStatus("open", name)


def sync_target(current: str, remote: RemoteStatus) -> tuple[str, str | None] | None:
    """The status our item should move to, or None. Only ever forward: a finished item is
    not reopened, and an item in progress here is not moved back to open."""
    if current not in action_items.OPEN or remote.status == current:
        return None
    if remote.status in ("done", "wont_do"):
        return remote.status, remote.reason
    if remote.status == "in_progress" and current == "open":
        return "in_progress", None
    return None


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u2019", "'").strip().lower())


# --- what to export ---------------------------------------------------------------------


def describe(session: Session, policy: Policy, item_id: int) -> ExportSpec:
    """Everything the issue will say, read from the item, its incident and backlog item."""
    item = action_items.get(session, item_id)
    incident = session.get(Incident, item.incident_id)
    backlog_item = session.get(BacklogItem, item.backlog_item_id) if item.backlog_item_id else None
    due = ensure_utc(item.due_at).astimezone(policy.tz).date() if item.due_at else None
    # The issue leaves the workspace: what people typed (a key pasted into a title) goes
    # through the same redaction as a draft. One redactor, so a value repeated in two
    # fields gets the same placeholder.
    redact = Redactor(policy.drafting.redact_patterns).redact
    return ExportSpec(
        item_id=item.id, reference=action_items.label(item), title=redact(item.title),
        description=redact(item.description), owner=item.owner, due=due, priority=item.priority, type=item.type,
        service=item.service, incident_reference=incident.reference, incident_title=redact(incident.title),
        backlog_reference=f"BL-{backlog_item.id}" if backlog_item else None,
        backlog_title=redact(backlog_item.title) if backlog_item else None, source_link=item.source_link,
    )

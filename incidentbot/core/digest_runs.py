"""When the weekly digest is due, and posting it exactly once (no Slack here).

The digest of ISO week W is due on the policy's digest day and time (``[digest] day``,
``time``, in the organisation's timezone) of week W+1, and stays due until W+1 ends.
``due_week`` is a pure function of the policy and the clock; the ``digest_run`` row
(unique per week and channel) says whether it went out. A worker *claims* the row
before posting, marks it posted afterwards, or releases it when Slack refused; a claim
never marked posted within ``CLAIM_LEASE`` (the worker died mid-post) is taken over,
as in ``core/notifications.py``.

Decisions:

* Only the last complete week is ever posted. After downtime the worker posts it as
  soon as it is back (down Monday to Wednesday: it posts on Wednesday). A week whose
  digest was missed entirely (the worker was down until the next week had ended too)
  is not posted late: a stale digest right before the current one helps nobody.
  ``/incident digest 2026-W40`` still shows any week.
* Between the end of a week and its digest time (Monday 00:00-09:00 by default)
  nothing is due.
* A week with no incidents is posted too, even before the first incident ever: "no
  incidents last week" is news, and a digest that silently skips weeks looks broken.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from incidentbot.core.digest_report import Week
from incidentbot.core.policy import Policy
from incidentbot.models import DigestRun
from incidentbot.timeutil import ensure_utc

CLAIM_LEASE = timedelta(minutes=10)


def due_at(week: Week, policy: Policy) -> datetime:
    """When the digest of ``week`` is due (UTC): the digest day and time of the week after it."""
    day = week.monday + timedelta(days=7 + policy.digest.weekday)
    local = datetime.combine(day, policy.digest.time_of_day, tzinfo=policy.tz)
    # A wall time a DST change skips (02:30 on a spring-forward Sunday) takes the offset
    # from before the change (zoneinfo's fold=0): 02:30 CET, which is 03:30 CEST.
    return ensure_utc(local)


def due_week(policy: Policy, now: datetime) -> Week | None:
    """The week whose digest is due at ``now``: the last complete week once its digest
    time has come; ``None`` before that (see the decisions above)."""
    last = Week.containing(now, policy).previous(policy)
    return last if ensure_utc(now) >= due_at(last, policy) else None


def last_complete_week(policy: Policy, now: datetime) -> Week:
    """The newest week that has ended at ``now`` (what ``/incident digest`` shows by default)."""
    return Week.containing(now, policy).previous(policy)


def find(session: Session, week_label: str, channel: str) -> DigestRun | None:
    return session.exec(select(DigestRun).where(DigestRun.week == week_label, DigestRun.channel == channel)).first()


def claim(session: Session, week_label: str, channel: str, now: datetime) -> DigestRun | None:
    """Take the week's digest for posting to ``channel``; ``None`` when it was posted, or
    another worker holds a claim younger than the lease. Commit before posting."""
    now = ensure_utc(now)
    existing = find(session, week_label, channel)
    if existing is None:
        run = DigestRun(week=week_label, channel=channel, claimed_at=now)
        try:
            with session.begin_nested():
                session.add(run)
        except IntegrityError:  # another worker inserted it between our read and our insert
            return _take_over_abandoned(session, week_label, channel, now)
        return run
    if existing.posted_at is not None:
        return None
    return _take_over_abandoned(session, week_label, channel, now)


def mark_posted(session: Session, run: DigestRun, *, channel_id: str, message_ts: str | None,
                now: datetime) -> None:
    run.posted_at = ensure_utc(now)
    run.channel_id = channel_id
    run.message_ts = message_ts
    session.add(run)
    session.flush()


def release(session: Session, run: DigestRun) -> None:
    """Posting failed: drop the claim so the next sweep tries again."""
    if run.posted_at is not None:
        raise ValueError(f"the digest of {run.week} was posted; releasing it would post it twice")
    session.delete(run)
    session.flush()


def _take_over_abandoned(session: Session, week_label: str, channel: str, now: datetime) -> DigestRun | None:
    """Claim a row whose earlier claim was never marked posted within the lease."""
    result = session.execute(
        update(DigestRun)
        .where(
            DigestRun.week == week_label,
            DigestRun.channel == channel,
            DigestRun.posted_at == None,  # noqa: E711
            DigestRun.claimed_at <= now - CLAIM_LEASE,
        )
        .values(claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    query = (select(DigestRun).where(DigestRun.week == week_label, DigestRun.channel == channel)
             .execution_options(populate_existing=True))
    return session.exec(query).one()

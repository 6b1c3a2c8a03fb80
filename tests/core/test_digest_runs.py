"""When the weekly digest is due, and claiming it so it is posted exactly once."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlmodel import Session, select

from incidentbot.core import digest_runs
from incidentbot.core.digest_report import Week
from incidentbot.core.policy import parse_policy
from incidentbot.models import DigestRun
from incidentbot.timeutil import utcnow

UTC = timezone.utc
CPH = ZoneInfo("Europe/Copenhagen")
POLICY = parse_policy('timezone = "Europe/Copenhagen"\n')  # digest: Monday 09:00 local
CHANNEL = "incident-digest"


def cph(*args) -> datetime:
    return datetime(*args, tzinfo=CPH).astimezone(UTC)


def label(week: Week | None) -> str | None:
    return week.label if week else None


# --- due_week -----------------------------------------------------------------------------


@pytest.mark.parametrize(("moment", "expected"), [
    (cph(2026, 11, 23, 8, 59), None),  # Monday before 09:00: 2026-W47 is not due yet
    (cph(2026, 11, 23, 8, 59, 59, 999999), None),
    (cph(2026, 11, 23, 9, 0), "2026-W47"),  # 09:00 local = 08:00 UTC in winter
    (cph(2026, 11, 25, 14, 0), "2026-W47"),  # down Monday to Wednesday: caught up on Wednesday
    (cph(2026, 11, 29, 23, 59), "2026-W47"),  # due for the rest of the week
    (cph(2026, 11, 30, 0, 0), None),  # W48 has ended too: W47 is not posted late
    (cph(2026, 11, 30, 9, 0), "2026-W48"),
])
def test_due_on_the_digest_day_and_time_of_the_week_after(moment, expected):
    assert label(digest_runs.due_week(POLICY, moment)) == expected


def test_due_week_reads_the_frozen_clock():
    with freeze_time(cph(2026, 11, 23, 9, 0)):
        assert label(digest_runs.due_week(POLICY, utcnow())) == "2026-W47"
    with freeze_time(cph(2026, 11, 23, 8, 59)):
        assert digest_runs.due_week(POLICY, utcnow()) is None


def test_spring_forward_week():
    # Summer time starts Sunday 29 March 2026: W13 is 167 hours long, and its digest is
    # due Monday 30 March 09:00 CEST, 07:00 UTC (the week before: 08:00 UTC).
    w13 = Week.of(2026, 13, POLICY)
    assert w13.end - w13.start == timedelta(hours=167)
    assert digest_runs.due_at(w13, POLICY) == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert digest_runs.due_at(w13.previous(POLICY), POLICY) == datetime(2026, 3, 23, 8, 0, tzinfo=UTC)
    assert digest_runs.due_week(POLICY, datetime(2026, 3, 30, 6, 59, tzinfo=UTC)) is None
    assert label(digest_runs.due_week(POLICY, datetime(2026, 3, 30, 7, 0, tzinfo=UTC))) == "2026-W13"


def test_fall_back_week():
    # Winter time starts Sunday 25 October 2026: W43 is 169 hours long; due 26 October 08:00 UTC.
    w43 = Week.of(2026, 43, POLICY)
    assert w43.end - w43.start == timedelta(hours=169)
    assert digest_runs.due_at(w43, POLICY) == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)
    assert digest_runs.due_week(POLICY, datetime(2026, 10, 26, 7, 59, tzinfo=UTC)) is None
    assert label(digest_runs.due_week(POLICY, datetime(2026, 10, 26, 8, 0, tzinfo=UTC))) == "2026-W43"
    # 00:30 local on Monday is still Sunday in UTC: the week is read in local time.
    assert digest_runs.due_week(POLICY, cph(2026, 10, 26, 0, 30)) is None


def test_year_boundary_week_53_and_week_1():
    # 2026 has 53 ISO weeks: W53 is Monday 28 December 2026 to Sunday 3 January 2027.
    assert label(digest_runs.due_week(POLICY, cph(2027, 1, 1, 12, 0))) == "2026-W52"
    assert digest_runs.due_week(POLICY, cph(2027, 1, 4, 8, 59)) is None
    assert label(digest_runs.due_week(POLICY, cph(2027, 1, 4, 9, 0))) == "2026-W53"
    assert label(digest_runs.due_week(POLICY, cph(2027, 1, 11, 9, 0))) == "2027-W01"
    # A year without W53: 2025-W52 is followed by 2026-W01 (Monday 29 December 2025).
    assert label(digest_runs.due_week(POLICY, cph(2026, 1, 5, 9, 0))) == "2026-W01"
    assert label(digest_runs.due_week(POLICY, cph(2025, 12, 29, 9, 0))) == "2025-W52"


def test_another_day_time_and_timezone():
    policy = parse_policy('timezone = "America/New_York"\n[digest]\nday = "fri"\ntime = "16:30"\n')
    # 2026-W47 is 16-22 November; its digest is due Friday 27 November 16:30 EST (21:30 UTC).
    assert digest_runs.due_at(Week.of(2026, 47, policy), policy) == datetime(2026, 11, 27, 21, 30, tzinfo=UTC)
    assert label(digest_runs.due_week(policy, datetime(2026, 11, 27, 21, 29, tzinfo=UTC))) is None
    assert label(digest_runs.due_week(policy, datetime(2026, 11, 27, 21, 30, tzinfo=UTC))) == "2026-W47"
    assert label(digest_runs.due_week(policy, datetime(2026, 11, 30, 4, 59, tzinfo=UTC))) == "2026-W47"  # Sun 23:59


def test_last_complete_week_is_the_previous_week_at_any_time():
    assert digest_runs.last_complete_week(POLICY, cph(2026, 11, 23, 0, 1)).label == "2026-W47"
    assert digest_runs.last_complete_week(POLICY, cph(2026, 11, 29, 23, 59)).label == "2026-W47"


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="naive"):
        digest_runs.due_week(POLICY, datetime(2026, 11, 23, 9, 0))


# --- claims ----------------------------------------------------------------------------------

NOW = cph(2026, 11, 23, 9, 0)


def test_claim_is_exactly_once_across_sessions(engine):
    with Session(engine) as one, Session(engine) as two:
        claimed = digest_runs.claim(one, "2026-W47", CHANNEL, NOW)
        one.commit()
        assert claimed is not None and claimed.claimed_at == NOW
        assert digest_runs.claim(two, "2026-W47", CHANNEL, NOW) is None  # held, within the lease
        two.commit()
        digest_runs.mark_posted(one, claimed, channel_id="C0DIGEST", message_ts="1.5", now=NOW)
        one.commit()
    with Session(engine) as session:
        # Posted: never again, however late (a restart, a second worker, a day later).
        assert digest_runs.claim(session, "2026-W47", CHANNEL, NOW + timedelta(days=1)) is None
        [row] = session.exec(select(DigestRun)).all()
        assert (row.week, row.channel, row.posted_at, row.channel_id, row.message_ts) == (
            "2026-W47", CHANNEL, NOW, "C0DIGEST", "1.5")
        # Another week, or another channel, is another digest.
        assert digest_runs.claim(session, "2026-W48", CHANNEL, NOW) is not None
        assert digest_runs.claim(session, "2026-W47", "C0OTHER", NOW) is not None
        session.commit()


def test_release_and_abandoned_claims(engine):
    with Session(engine) as session:
        claimed = digest_runs.claim(session, "2026-W47", CHANNEL, NOW)
        session.commit()
        digest_runs.release(session, claimed)  # Slack refused: the next sweep tries again
        session.commit()
        again = digest_runs.claim(session, "2026-W47", CHANNEL, NOW + timedelta(minutes=1))
        session.commit()  # ... and this worker dies before posting
        assert again is not None
    with Session(engine) as session:
        assert digest_runs.claim(session, "2026-W47", CHANNEL, NOW + timedelta(minutes=10, seconds=59)) is None
        taken = digest_runs.claim(session, "2026-W47", CHANNEL, NOW + timedelta(minutes=11))
        session.commit()
        assert taken is not None and taken.claimed_at == NOW + timedelta(minutes=11)
        assert len(session.exec(select(DigestRun)).all()) == 1
        digest_runs.mark_posted(session, taken, channel_id="C0DIGEST", message_ts="2.0", now=NOW)
        session.commit()
        with pytest.raises(ValueError, match="post it twice"):
            digest_runs.release(session, taken)


def test_two_workers_racing_for_one_digest(engine):
    start = threading.Barrier(4)
    results: list[bool] = []
    lock = threading.Lock()

    def worker():
        with Session(engine) as session:
            start.wait()
            claimed = digest_runs.claim(session, "2026-W47", CHANNEL, NOW)
            session.commit()
            with lock:
                results.append(claimed is not None)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False, False, False, True]
    with Session(engine) as session:
        assert len(session.exec(select(DigestRun)).all()) == 1


def test_two_workers_racing_to_take_over_an_abandoned_claim(engine):
    with Session(engine) as session:
        digest_runs.claim(session, "2026-W47", CHANNEL, NOW)
        session.commit()
    later = NOW + timedelta(minutes=30)
    start = threading.Barrier(2)
    results: list[bool] = []

    def worker():
        with Session(engine) as session:
            start.wait()
            claimed = digest_runs.claim(session, "2026-W47", CHANNEL, later)
            session.commit()
            results.append(claimed is not None)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False, True]

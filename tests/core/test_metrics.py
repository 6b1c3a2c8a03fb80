"""Metrics: per-incident durations and impact, and the SQL aggregations over a period.

Every expectation is computed by hand in the comment next to it. The database tests
run on SQLite and PostgreSQL with the same expectations, so both give the same numbers.
"""

import random
import statistics
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from incidentbot.core import metrics
from incidentbot.core.metrics import Distribution, Durations
from incidentbot.models import Incident

UTC = timezone.utc
MONDAY = datetime(2026, 11, 16, tzinfo=UTC)  # the week [MONDAY, NEXT_MONDAY)
NEXT_MONDAY = MONDAY + timedelta(days=7)


def at(minutes: float, base: datetime = MONDAY) -> datetime:
    return base + timedelta(minutes=minutes)


_numbers = iter(range(1, 10**6))


def incident(**fields) -> Incident:
    """An incident row with the given milestones (declared at MONDAY + 1 day by default)."""
    defaults = dict(title="t", severity="SEV2", status="resolved", declared_by="U0ALICE",
                    declared_at=at(24 * 60), services=[])
    defaults.update(fields)
    return Incident(number=next(_numbers), **defaults)


def add(session, *rows: Incident) -> None:
    session.add_all(rows)
    session.commit()


# --- one incident -------------------------------------------------------------------------------

D = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def test_durations_of_an_incident_with_every_milestone():
    row = incident(started_at=D - timedelta(minutes=40), detected_at=D - timedelta(minutes=25), declared_at=D,
                   acknowledged_at=D + timedelta(minutes=4), mitigated_at=D + timedelta(minutes=50),
                   resolved_at=D + timedelta(hours=2))
    assert metrics.durations(row) == Durations(
        time_to_detect=timedelta(minutes=15),  # started 08:20 → detected 08:35
        time_to_acknowledge=timedelta(minutes=4),  # declared 09:00 → acknowledged 09:04
        time_to_mitigate=timedelta(minutes=90),  # started 08:20 → mitigated 09:50
        time_to_resolve=timedelta(minutes=160),  # started 08:20 → resolved 11:00
    )
    assert metrics.impact_minutes(row) == 90.0  # started 08:20 → mitigated 09:50


def test_missing_milestones_give_no_number():
    row = incident(declared_at=D)
    assert metrics.durations(row) == Durations(None, None, None, None)
    assert metrics.impact_minutes(row) is None  # ongoing


def test_without_started_the_clock_starts_at_declared_and_detect_has_no_number():
    row = incident(declared_at=D, detected_at=D - timedelta(minutes=5), mitigated_at=D + timedelta(minutes=30),
                   resolved_at=D + timedelta(minutes=45))
    assert metrics.durations(row) == Durations(
        time_to_detect=None,  # no start of impact: no number, although detected_at is set
        time_to_acknowledge=None,  # never acknowledged
        time_to_mitigate=timedelta(minutes=30),  # declared 09:00 → mitigated 09:30
        time_to_resolve=timedelta(minutes=45),  # declared 09:00 → resolved 09:45
    )
    assert metrics.impact_minutes(row) == 30.0


def test_detected_falls_back_to_declared_when_started_is_set():
    row = incident(started_at=D - timedelta(minutes=12), declared_at=D)
    assert metrics.durations(row).time_to_detect == timedelta(minutes=12)  # started 08:48 → declared 09:00


def test_impact_ends_at_resolved_when_mitigated_is_missing():
    row = incident(started_at=D - timedelta(minutes=10), declared_at=D,
                   resolved_at=D + timedelta(minutes=20, seconds=30))
    assert metrics.impact_minutes(row) == 30.5  # 08:50 → 09:20:30
    assert metrics.durations(row).time_to_mitigate is None


def test_an_end_before_its_start_is_no_number():
    """Inconsistent (e.g. imported) milestones: no negative durations."""
    row = incident(started_at=D, declared_at=D, acknowledged_at=D - timedelta(minutes=1),
                   mitigated_at=D - timedelta(minutes=5))
    assert metrics.durations(row).time_to_acknowledge is None
    assert metrics.durations(row).time_to_mitigate is None
    assert metrics.impact_minutes(row) is None


def test_durations_are_exact_across_dst():
    cph = ZoneInfo("Europe/Copenhagen")
    # 01:30 CET → 03:30 CEST on 2026-03-29 is one hour, not two.
    row = incident(started_at=datetime(2026, 3, 29, 1, 30, tzinfo=cph),
                   declared_at=datetime(2026, 3, 29, 3, 30, tzinfo=cph))
    assert metrics.durations(row).time_to_detect == timedelta(hours=1)


# --- counts -------------------------------------------------------------------------------------


def test_counts_by_severity_include_start_and_exclude_end(session):
    add(session,
        incident(severity="SEV1", declared_at=MONDAY),  # exactly at start: in
        incident(severity="SEV2", declared_at=at(1)),
        incident(severity="SEV2", declared_at=NEXT_MONDAY - timedelta(microseconds=1)),  # last moment: in
        incident(severity="SEV3", declared_at=NEXT_MONDAY),  # exactly at end: out
        incident(severity="SEV3", declared_at=MONDAY - timedelta(seconds=1)))  # before: out
    assert metrics.counts_by(session, MONDAY, NEXT_MONDAY, "severity") == {"SEV2": 2, "SEV1": 1}
    assert list(metrics.counts_by(session, MONDAY, NEXT_MONDAY, "severity")) == ["SEV2", "SEV1"]  # largest first
    assert metrics.counts_by(session, NEXT_MONDAY, NEXT_MONDAY + timedelta(days=7), "severity") == {"SEV3": 1}


def test_the_window_may_be_given_in_any_timezone(session):
    cph = ZoneInfo("Europe/Copenhagen")
    add(session, incident(declared_at=datetime(2026, 11, 15, 23, 30, tzinfo=UTC)),  # Monday 00:30 in Copenhagen
        incident(declared_at=datetime(2026, 11, 22, 23, 30, tzinfo=UTC)))  # the next Monday 00:30 there
    week = (datetime(2026, 11, 16, tzinfo=cph), datetime(2026, 11, 23, tzinfo=cph))
    assert metrics.counts_by(session, *week, "severity") == {"SEV2": 1}


def test_counts_by_category_status_and_detection(session):
    add(session,
        incident(category="code-deploy", status="resolved", detection="monitoring"),
        incident(category="code-deploy", status="investigating", detection="customer"),
        incident(category=None, status="resolved", detection="monitoring"),
        incident(category="config-change", status="closed", detection=None))
    window = (MONDAY, NEXT_MONDAY)
    assert metrics.counts_by(session, *window, "category") == {"code-deploy": 2, "config-change": 1,
                                                              "uncategorised": 1}
    assert metrics.counts_by(session, *window, "status") == {"resolved": 2, "closed": 1, "investigating": 1}
    assert metrics.counts_by(session, *window, "detection") == {"monitoring": 2, "customer": 1, "unrecorded": 1}


def test_counts_by_service_count_each_listed_service(session):
    add(session,
        incident(services=["payments-api", "checkout"]),
        incident(services=["checkout"]),
        incident(services=[]),  # no service: not counted
        incident(services=["checkout"], declared_at=NEXT_MONDAY))  # outside the window
    assert metrics.counts_by(session, MONDAY, NEXT_MONDAY, "service") == {"checkout": 2, "payments-api": 1}


def test_private_incidents_are_counted_unless_excluded(session):
    add(session,
        incident(severity="SEV1", private=True, services=["vault"], category="security"),
        incident(severity="SEV1", services=["checkout"]))
    window = (MONDAY, NEXT_MONDAY)
    assert metrics.counts_by(session, *window, "severity") == {"SEV1": 2}
    assert metrics.counts_by(session, *window, "severity", include_private=False) == {"SEV1": 1}
    assert metrics.counts_by(session, *window, "service", include_private=False) == {"checkout": 1}
    assert metrics.counts_by(session, *window, "category", include_private=False) == {"uncategorised": 1}


def test_an_empty_window_counts_nothing(session):
    for field in metrics.FIELDS:
        assert metrics.counts_by(session, MONDAY, NEXT_MONDAY, field) == {}


def test_bad_arguments_are_programming_errors(session):
    with pytest.raises(ValueError, match="unknown field"):
        metrics.counts_by(session, MONDAY, NEXT_MONDAY, "team")
    with pytest.raises(ValueError, match="naive"):
        metrics.counts_by(session, datetime(2026, 11, 16), NEXT_MONDAY, "severity")
    with pytest.raises(ValueError, match="must end after it starts"):
        metrics.distribution(session, NEXT_MONDAY, MONDAY, "time_to_resolve")
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.distribution(session, MONDAY, NEXT_MONDAY, "time_to_coffee")


# --- distributions ------------------------------------------------------------------------------


def resolved_after(minutes: float, **fields) -> Incident:
    """Declared on Tuesday 00:00 and resolved ``minutes`` later (no started_at)."""
    declared = fields.pop("declared_at", at(24 * 60))
    return incident(declared_at=declared, resolved_at=declared + timedelta(minutes=minutes), **fields)


def test_no_incidents_no_numbers(session):
    add(session, incident())  # declared, but never resolved: not in n
    assert metrics.distribution(session, MONDAY, NEXT_MONDAY, "time_to_resolve") == Distribution(0, None, None, None,
                                                                                                  None)


def test_one_incident(session):
    add(session, resolved_after(7.5))
    assert metrics.distribution(session, MONDAY, NEXT_MONDAY, "time_to_resolve") == Distribution(1, 7.5, 7.5, 7.5, 7.5)


def test_two_incidents(session):
    add(session, resolved_after(30), resolved_after(10))
    # sorted 10, 30; median at position 0.5 × 1 = 0.5 → 10 + 0.5 × 20 = 20;
    # p90 at 0.9 × 1 = 0.9 → 10 + 0.9 × 20 = 28.
    assert metrics.distribution(session, MONDAY, NEXT_MONDAY, "time_to_resolve") == Distribution(2, 20.0, 28.0, 10.0,
                                                                                                  30.0)


TEN = [40, 3, 240, 12, 25, 8, 90, 5, 60, 20]  # sorted: 3 5 8 12 20 25 40 60 90 240


def test_ten_incidents(session):
    add(session, *(resolved_after(minutes) for minutes in TEN))
    # median at 0.5 × 9 = 4.5 → sorted[4] + 0.5 × (sorted[5] − sorted[4]) = 20 + 0.5 × 5 = 22.5
    # p90 at 0.9 × 9 = 8.1 → sorted[8] + 0.1 × (sorted[9] − sorted[8]) = 90 + 0.1 × 150 = 105
    assert metrics.distribution(session, MONDAY, NEXT_MONDAY, "time_to_resolve") == Distribution(10, 22.5, 105.0, 3.0,
                                                                                                  240.0)


def test_rows_missing_a_milestone_or_outside_the_window_are_not_in_n(session):
    add(session,
        resolved_after(10), resolved_after(20),
        incident(),  # not resolved
        resolved_after(999, declared_at=NEXT_MONDAY),  # declared at the end: out
        resolved_after(999, declared_at=MONDAY - timedelta(minutes=1)))  # declared before: out
    assert metrics.distribution(session, MONDAY, NEXT_MONDAY, "time_to_resolve").n == 2


def test_each_metric_uses_its_own_pair(session):
    t = at(24 * 60)  # Tuesday 00:00
    minutes = lambda n: timedelta(minutes=n)  # noqa: E731
    add(session,
        # detect 10, acknowledge 3, mitigate 40 (from started), resolve 70 (from started)
        incident(started_at=t - minutes(15), detected_at=t - minutes(5), declared_at=t,
                 acknowledged_at=t + minutes(3), mitigated_at=t + minutes(25), resolved_at=t + minutes(55)),
        # detect: started → declared (no detected_at) = 20; acknowledge 7; mitigate 30 (from declared); resolve —
        incident(started_at=t - minutes(20), declared_at=t, acknowledged_at=t + minutes(7),
                 mitigated_at=t + minutes(10)),
        # no started: no detect; mitigate and resolve from declared: 12 and 60
        incident(declared_at=t, detected_at=t - minutes(2), mitigated_at=t + minutes(12),
                 resolved_at=t + minutes(60)))
    window = (MONDAY, NEXT_MONDAY)
    assert metrics.distribution(session, *window, "time_to_detect") == Distribution(2, 15.0, 19.0, 10.0, 20.0)
    assert metrics.distribution(session, *window, "time_to_acknowledge") == Distribution(2, 5.0, 6.6, 3.0, 7.0)
    # mitigate: 12, 30, 40 → median 30; p90 at 1.8 → 30 + 0.8 × 10 = 38
    assert metrics.distribution(session, *window, "time_to_mitigate") == Distribution(3, 30.0, 38.0, 12.0, 40.0)
    # resolve: 60, 70 → median 65; p90 at 0.9 → 60 + 0.9 × 10 = 69
    assert metrics.distribution(session, *window, "time_to_resolve") == Distribution(2, 65.0, 69.0, 60.0, 70.0)


def test_severity_and_private_filters(session):
    add(session, resolved_after(10, severity="SEV1"), resolved_after(20, severity="SEV1", private=True),
        resolved_after(99, severity="SEV3"))
    window = (MONDAY, NEXT_MONDAY)
    assert metrics.distribution(session, *window, "time_to_resolve", severity="SEV1") == Distribution(
        2, 15.0, 19.0, 10.0, 20.0)
    assert metrics.distribution(session, *window, "time_to_resolve", severity="SEV1", include_private=False) == (
        Distribution(1, 10.0, 10.0, 10.0, 10.0))


def test_seconds_count(session):
    add(session, resolved_after(1.25), resolved_after(2.5))  # 75 s and 150 s
    # median 1.875; p90 1.25 + 0.9 × 1.25 = 2.375
    assert metrics.distribution(session, MONDAY, NEXT_MONDAY, "time_to_resolve") == Distribution(
        2, 1.875, 2.375, 1.25, 2.5)


def reference(values: list[float]) -> Distribution:
    """Linear interpolation between closest ranks, as Python's statistics module computes it."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return Distribution(1, ordered[0], ordered[0], ordered[0], ordered[0])
    deciles = statistics.quantiles(ordered, n=10, method="inclusive")
    return Distribution(len(ordered), round(statistics.median(ordered), 6), round(deciles[8], 6), ordered[0],
                        ordered[-1])


@pytest.mark.parametrize("count", [1, 2, 3, 7, 10, 11, 101, 250])
def test_the_sql_percentiles_match_the_reference_method(session, count):
    rnd = random.Random(count)
    seconds = [rnd.randrange(1, 5 * 24 * 3600) for _ in range(count)]  # whole seconds
    add(session, *(resolved_after(s / 60) for s in seconds))
    expected = reference([s / 60 for s in seconds])
    got = metrics.distribution(session, MONDAY, NEXT_MONDAY, "time_to_resolve")
    assert (got.n, got.minimum, got.maximum) == (expected.n, round(expected.minimum, 6), round(expected.maximum, 6))
    assert got.median == pytest.approx(expected.median, abs=1e-6)
    assert got.p90 == pytest.approx(expected.p90, abs=1e-6)
    if session.get_bind().dialect.name == "postgresql":
        # The window-function query SQLite uses gives the same numbers as percentile_cont.
        durations = metrics._durations_query(session, MONDAY, NEXT_MONDAY, "time_to_resolve", severity=None,
                                             include_private=True)
        assert metrics._distribution_ranked(session, durations) == got


# --- customer impact --------------------------------------------------------------------------


def test_impact_is_clipped_to_the_window(session):
    add(session,
        # started Sunday 23:00, mitigated Monday 01:00: 60 of its 120 minutes are in the week
        incident(services=["checkout"], started_at=at(-60), declared_at=at(-30), mitigated_at=at(60)),
        # Wednesday 10:00 → 10:45, entirely inside: 45
        incident(services=["checkout", "payments-api"], started_at=at(2 * 1440 + 600),
                 declared_at=at(2 * 1440 + 610), mitigated_at=at(2 * 1440 + 645)),
        # Sunday 23:30 (next week starts at 00:00) → Monday 00:20: 30 minutes inside
        incident(services=["payments-api"], declared_at=NEXT_MONDAY - timedelta(minutes=30),
                 mitigated_at=NEXT_MONDAY + timedelta(minutes=20)),
        # the whole week and more: 7 × 1440 = 10080
        incident(services=["search"], started_at=at(-1440), declared_at=at(-1440), mitigated_at=at(8 * 1440)),
        # ended exactly when the week began: nothing inside
        incident(services=["ledger"], started_at=at(-30), declared_at=at(-30), mitigated_at=MONDAY),
        # began exactly when the week ended: nothing inside
        incident(services=["ledger"], declared_at=NEXT_MONDAY, mitigated_at=NEXT_MONDAY + timedelta(minutes=5)))
    assert metrics.impact_by_service(session, MONDAY, NEXT_MONDAY) == {
        "search": 10080.0,
        "checkout": 105.0,  # 60 + 45
        "payments-api": 75.0,  # 45 + 30
    }
    # The same, by incident: the same clipping, so each service's rows add up to its total.
    rows = metrics.impact_by_incident(session, MONDAY, NEXT_MONDAY, services=["checkout", "payments-api"])
    assert [(row.service, row.minutes) for row in rows] == [
        ("checkout", 60.0), ("checkout", 45.0), ("payments-api", 45.0), ("payments-api", 30.0)]
    assert not any(row.private for row in rows)


def test_impact_ends_at_resolved_and_ongoing_impact_is_left_out_unless_asked(session):
    add(session,
        # no mitigated_at: impact until resolved, Tuesday 00:00 → 00:30
        incident(services=["checkout"], declared_at=at(1440), resolved_at=at(1470)),
        # still ongoing since Friday 12:00
        incident(services=["checkout", "search"], status="investigating", started_at=at(4 * 1440 + 720),
                 declared_at=at(4 * 1440 + 730)))
    assert metrics.impact_by_service(session, MONDAY, NEXT_MONDAY) == {"checkout": 30.0}
    # Counting the ongoing one up to Saturday 12:00: 1440 more minutes
    saturday_noon = at(5 * 1440 + 720)
    assert metrics.impact_by_service(session, MONDAY, NEXT_MONDAY, ongoing_until=saturday_noon) == {
        "checkout": 1470.0, "search": 1440.0}
    # ... and up to a time after the window: clipped at its end, Friday 12:00 → Monday 00:00 = 2.5 days
    later = NEXT_MONDAY + timedelta(days=3)
    assert metrics.impact_by_service(session, MONDAY, NEXT_MONDAY, ongoing_until=later) == {
        "checkout": 3630.0, "search": 3600.0}


def test_private_impact_is_excluded_when_asked(session):
    add(session,
        incident(services=["vault"], private=True, declared_at=at(100), mitigated_at=at(110)),
        incident(services=["vault"], declared_at=at(200), mitigated_at=at(203)))
    assert metrics.impact_by_service(session, MONDAY, NEXT_MONDAY) == {"vault": 13.0}
    assert metrics.impact_by_service(session, MONDAY, NEXT_MONDAY, include_private=False) == {"vault": 3.0}


def test_no_impact_in_an_empty_window(session):
    assert metrics.impact_by_service(session, MONDAY, NEXT_MONDAY) == {}

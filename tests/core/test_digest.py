"""The weekly digest's content (``core.digest.build``), on SQLite and PostgreSQL.

Weeks are ISO weeks in Europe/Copenhagen; every expected number is worked out by hand in
the comment next to it. 2026-W47 is Mon 16 Nov – Sun 22 Nov (CET, UTC+1); its 12-week
window W36–W47 (31 Aug – 22 Nov) contains the end of summer time (Sun 25 Oct, W43).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import event

from incidentbot.core import postmortems
from incidentbot.core.digest import build, minutes_text, trend_note
from incidentbot.core.digest_report import Budget, BudgetShare, Count, PostmortemLine, Repeat, Week
from incidentbot.core.metrics import Distribution
from incidentbot.core.policy import parse_policy
from incidentbot.models import ActionItem, BacklogItem, Incident, Postmortem

UTC = timezone.utc
CPH = ZoneInfo("Europe/Copenhagen")
POLICY = parse_policy("""
timezone = "Europe/Copenhagen"
[[services]]
name = "api"
team = "Payments"
slo = 0.999
[[services]]
name = "web"
team = "Web"
slo = 0.995
[[services]]
name = "ledger"
team = "Payments"
slo = 0.9999
""")
W47 = Week.of(2026, 47, POLICY)
AFTER_W47 = datetime(2026, 11, 23, 9, 0, tzinfo=CPH)  # Monday morning, when the digest goes out


def cph(*args, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=CPH, fold=fold).astimezone(UTC)


def incident(number: int, declared_at: datetime, **fields) -> Incident:
    defaults = dict(title=f"Incident {number}", severity="SEV2", status="resolved", declared_by="U0ALICE",
                    services=[])
    defaults.update(fields)
    return Incident(number=number, declared_at=declared_at, **defaults)


def with_impact(number: int, start: datetime, minutes: float | None, **fields) -> Incident:
    """Declared when its impact began; mitigated ``minutes`` later (None: still ongoing)."""
    end = None if minutes is None else start + timedelta(minutes=minutes)
    return incident(number, fields.pop("declared_at", start), started_at=start, mitigated_at=end, **fields)


def add(session, *rows) -> None:
    session.add_all(rows)
    session.commit()


# --- weeks in local time -----------------------------------------------------------------------


def test_week_boundaries_are_local_midnights(session):
    add(session,
        incident(1, cph(2026, 11, 15, 23, 59)),  # Sunday of W46
        incident(2, cph(2026, 11, 16, 0, 0)),  # Monday 00:00 exactly: W47
        incident(3, cph(2026, 11, 22, 23, 30)),  # Sunday 23:30 local (22:30 UTC): still W47
        incident(4, cph(2026, 11, 23, 0, 10)))  # Monday 00:10 local (Sunday 23:10 UTC): W48
    digest = build(session, POLICY, W47, now=AFTER_W47)
    assert [row.number for row in digest.incidents] == [2, 3]
    assert digest.total_week == 2
    assert digest.total_window == 3  # W46's incident is in the window, W48's is not
    assert [(w.week, sum(w.by_severity.values())) for w in digest.weekly[-2:]] == [("2026-W46", 1), ("2026-W47", 2)]
    next_week = build(session, POLICY, Week.of(2026, 48, POLICY), now=AFTER_W47 + timedelta(days=7))
    assert [row.number for row in next_week.incidents] == [4]
    assert digest.week.start == datetime(2026, 11, 15, 23, 0, tzinfo=UTC)
    assert digest.timezone == "Europe/Copenhagen" and digest.generated_at == AFTER_W47.astimezone(UTC)
    assert digest.narrative is None


def test_the_week_summer_time_ends_is_169_hours_and_counted_in_real_minutes(session):
    w43 = Week.of(2026, 43, POLICY)  # Mon 19 Oct (CEST) – Sun 25 Oct; clocks go back Sun 03:00 → 02:00
    assert w43.end - w43.start == timedelta(hours=169)
    add(session,
        # 01:30 CEST → 02:30 CET (the second 02:30) is 2 real hours, not 1.
        incident(1, cph(2026, 10, 25, 1, 30), started_at=cph(2026, 10, 25, 1, 30),
                 mitigated_at=cph(2026, 10, 25, 2, 30, fold=1), services=["api"]),
        incident(2, cph(2026, 10, 25, 23, 30)),  # Sunday 23:30 CET: W43
        incident(3, cph(2026, 10, 26, 0, 10)))  # Monday 00:10 CET: W44
    digest = build(session, POLICY, w43, now=cph(2026, 10, 26, 9, 0))
    assert [row.number for row in digest.incidents] == [1, 2]
    assert digest.incidents[0].impact_minutes == 120.0
    api = budget(digest, "api")
    # Window W32–W43: 3 Aug 00:00 CEST → 26 Oct 00:00 CET = 12 × 10,080 + 60 = 121,020 min.
    assert api.budget_minutes == 121.02  # × (1 − 0.999)
    assert api.consumed_week_minutes == api.consumed_window_minutes == 120.0
    assert api.left_minutes == 1.02 and not api.over


# --- error budgets -----------------------------------------------------------------------------


def budget(digest, service: str) -> Budget:
    return next(b for b in digest.budgets if b.service == service)


@pytest.mark.parametrize(("year", "week", "window_minutes"), [
    (2026, 6, 120_960),  # W51 2025 – W06 2026: all winter time, 12 × 7 × 24 × 60
    (2026, 13, 120_900),  # W02 – W13: summer time begins Sun 29 Mar, one hour less
    (2026, 47, 121_020),  # W36 – W47: summer time ends Sun 25 Oct, one hour more
])
def test_budget_is_window_length_times_one_minus_slo_exactly(session, year, week, window_minutes):
    digest = build(session, POLICY, Week.of(year, week, POLICY), now=datetime(2027, 1, 1, tzinfo=UTC))
    expected = {  # window_minutes × (1 − slo), written out
        120_960: {"api": 120.96, "web": 604.8, "ledger": 12.096},
        120_900: {"api": 120.9, "web": 604.5, "ledger": 12.09},
        121_020: {"api": 121.02, "web": 605.1, "ledger": 12.102},
    }[window_minutes]
    assert {b.service: b.budget_minutes for b in digest.budgets} == expected
    assert all(b.left_minutes == b.budget_minutes and b.shares == () and not b.over for b in digest.budgets)


def test_budgets_charge_clipped_impact_largest_share_first_and_private_unnamed(session):
    add(session,
        # Sunday 23:00 (W46) → Monday 01:00 (W47): 60 min in the week, 120 in the window.
        with_impact(1, cph(2026, 11, 15, 23, 0), 120, services=["api"]),
        with_impact(2, cph(2026, 11, 17, 9, 15), 45, services=["api", "web"]),  # charged to both
        with_impact(3, cph(2026, 11, 18, 12, 0), 30, services=["api"], private=True),
        with_impact(4, cph(2026, 10, 14, 10, 0), 20, services=["api"]),  # W42: window only
        # Began Sunday 30 Aug 23:00 CEST, before the window (31 Aug 00:00): 30 of its 90 min count.
        with_impact(5, cph(2026, 8, 30, 23, 0), 90, services=["api"]),
        with_impact(6, cph(2026, 11, 19, 8, 0), None, services=["api"]),  # not mitigated: left out
        with_impact(7, cph(2026, 11, 18, 14, 0), 20, services=["ledger"]),
        with_impact(8, cph(2026, 11, 18, 15, 0), 500, services=["billing"]))  # no SLO in the policy
    digest = build(session, POLICY, W47, now=AFTER_W47)
    assert [b.service for b in digest.budgets] == ["api", "web", "ledger"]  # policy order
    assert budget(digest, "api") == Budget(
        service="api", slo=0.999, budget_minutes=121.02,
        consumed_week_minutes=135.0,  # 60 + 45 + 30
        consumed_window_minutes=245.0,  # 120 + 45 + 30 + 20 + 30
        left_minutes=-123.98,  # 121.02 − 245
        shares=(BudgetShare(1, 60.0), BudgetShare(2, 45.0), BudgetShare(None, 30.0)),
        over=True)
    assert budget(digest, "web") == Budget("web", 0.995, 605.1, 45.0, 45.0, 560.1, (BudgetShare(2, 45.0),), False)
    ledger = budget(digest, "ledger")
    assert (ledger.budget_minutes, ledger.consumed_window_minutes, ledger.left_minutes, ledger.over) == (
        12.102, 20.0, -7.898, True)
    assert digest.notes == ["1 incident's customer impact has not ended (no mitigated or resolved time); "
                            "it is not counted in the error budgets."]


def test_no_services_no_budgets(session):
    policy = parse_policy('timezone = "Europe/Copenhagen"\n')
    add(session, with_impact(1, cph(2026, 11, 17, 9, 0), 30, services=["api"]))
    digest = build(session, policy, Week.of(2026, 47, policy), now=AFTER_W47)
    assert digest.budgets == [] and digest.notes == []


# --- counts ------------------------------------------------------------------------------------


def test_counts_by_severity_category_and_detection_with_private_ones_counted(session):
    add(session,
        incident(1, cph(2026, 11, 16, 9, 0), severity="SEV1", category="code-deploy", detection="monitoring"),
        incident(2, cph(2026, 11, 17, 9, 0), severity="SEV2", category="security", detection="customer",
                 private=True),
        incident(3, cph(2026, 11, 18, 9, 0), severity="SEV2"),
        incident(4, cph(2026, 10, 1, 9, 0), severity="SEV3", category="config-change", detection="staff"),  # W40
        incident(5, cph(2026, 11, 4, 9, 0), severity="SEV9", category="legacy"),  # W45; both no longer in the policy
        incident(6, cph(2026, 8, 30, 9, 0), severity="SEV1"))  # W35: before the window
    digest = build(session, POLICY, W47, now=AFTER_W47)
    assert (digest.total_week, digest.total_window, digest.private_count) == (3, 5, 1)
    assert [row.number for row in digest.incidents] == [1, 3]  # the private one is counted, not listed
    assert digest.by_severity == [Count("SEV1", 1, 1), Count("SEV2", 2, 2), Count("SEV3", 0, 1), Count("SEV4", 0, 0),
                                  Count("SEV9", 0, 1)]
    # Taxonomy order (code-deploy, config-change, …, security), then unknown ids, then uncategorised.
    assert digest.by_category == [Count("code-deploy", 1, 1), Count("config-change", 0, 1), Count("security", 1, 1),
                                  Count("legacy", 0, 1), Count("uncategorised", 1, 1)]
    assert digest.detection == [Count("monitoring", 1, 1), Count("customer", 1, 1), Count("staff", 0, 1),
                                Count("unrecorded", 1, 2)]
    weekly = {w.week: w.by_severity for w in digest.weekly}
    assert list(weekly) == [f"2026-W{n}" for n in range(36, 48)]  # oldest first, every week
    assert weekly["2026-W47"] == {"SEV1": 1, "SEV2": 2, "SEV3": 0, "SEV4": 0, "SEV9": 0}
    assert weekly["2026-W40"] == {"SEV1": 0, "SEV2": 0, "SEV3": 1, "SEV4": 0, "SEV9": 0}
    assert weekly["2026-W45"]["SEV9"] == 1
    assert sum(sum(w.values()) for w in weekly.values()) == digest.total_window


def test_weekly_counts_cross_the_year_end(session):
    w02 = Week.of(2027, 2, POLICY)  # 2026 has 53 ISO weeks
    add(session, incident(1, cph(2026, 12, 31, 12, 0), severity="SEV1"))  # Thursday of 2026-W53
    digest = build(session, POLICY, w02, now=cph(2027, 1, 18, 9, 0))
    assert [w.week for w in digest.weekly] == [f"2026-W{n}" for n in range(44, 54)] + ["2027-W01", "2027-W02"]
    assert digest.weekly[9].by_severity["SEV1"] == 1 and digest.total_window == 1 and digest.total_week == 0


def test_the_weeks_incidents_with_their_numbers(session):
    row = incident(7, cph(2026, 11, 17, 10, 0), title="Checkout <b>502s</b>", severity="SEV1", category="code-deploy",
                   services=["api", "web"], status="closed", detection="customer", channel_id="C0INC7",
                   started_at=cph(2026, 11, 17, 9, 20), detected_at=cph(2026, 11, 17, 9, 50),
                   acknowledged_at=cph(2026, 11, 17, 10, 5), mitigated_at=cph(2026, 11, 17, 10, 40),
                   resolved_at=cph(2026, 11, 17, 12, 20))
    add(session, row, incident(8, cph(2026, 11, 16, 8, 0), status="investigating"))
    add(session, Postmortem(incident_id=row.id, owner="U0BOB", status="drafted", due_at=cph(2026, 11, 20, 17, 0)))
    digest = build(session, POLICY, W47, now=AFTER_W47)
    assert [r.number for r in digest.incidents] == [8, 7]  # oldest first
    ongoing, listed = digest.incidents
    assert (listed.title, listed.severity, listed.category, listed.services, listed.status, listed.detection) == (
        "Checkout <b>502s</b>", "SEV1", "code-deploy", ("api", "web"), "closed", "customer")
    assert (listed.time_to_detect, listed.time_to_mitigate, listed.time_to_resolve) == (30.0, 80.0, 180.0)
    assert listed.impact_minutes == 80.0  # 09:20 → 10:40
    assert (listed.postmortem_status, listed.channel_id) == ("drafted", "C0INC7")
    assert (ongoing.time_to_detect, ongoing.time_to_mitigate, ongoing.impact_minutes) == (None, None, None)
    assert ongoing.postmortem_status is None


# --- trends: honest about small numbers ---------------------------------------------------------


def mitigated_after(number: int, declared_at: datetime, minutes: float) -> Incident:
    return incident(number, declared_at, mitigated_at=declared_at + timedelta(minutes=minutes))


def test_too_few_incidents_are_not_compared(session):
    add(session, *(mitigated_after(n, cph(2026, 11, 17, 9, 0) - timedelta(weeks=n), 10 * n) for n in range(3)))
    add(session, *(mitigated_after(100 + n, cph(2026, 7, 1, 9, 0) + timedelta(days=n), 5) for n in range(12)))
    trend = next(t for t in build(session, POLICY, W47, now=AFTER_W47).trends if t.metric == "time_to_mitigate")
    assert (trend.week.n, trend.window.n, trend.previous_window.n) == (1, 3, 12)
    assert not trend.enough
    assert trend.note == "n = 3: too few incidents to compare (fewer than 10)"


def test_enough_incidents_are_compared_by_median_and_n(session):
    # Window: 10, 20, …, 100 min (median 55); previous window (W24–W35): 5, 10, …, 60 (median 32.5).
    add(session, *(mitigated_after(n, cph(2026, 11, 17, 9, 0) - timedelta(days=7 * n), 10 * (n + 1))
                   for n in range(10)))
    add(session, *(mitigated_after(100 + n, cph(2026, 6, 10, 9, 0) + timedelta(days=n), 5 * (n + 1))
                   for n in range(12)))
    digest = build(session, POLICY, W47, now=AFTER_W47)
    trend = next(t for t in digest.trends if t.metric == "time_to_mitigate")
    assert [t.metric for t in digest.trends] == ["time_to_detect", "time_to_acknowledge", "time_to_mitigate",
                                                 "time_to_resolve"]
    assert trend.window == Distribution(10, 55.0, 91.0, 10.0, 100.0)  # p90 at h = 8.1: 90 + 0.1 × 10
    assert trend.previous_window.n == 12 and trend.previous_window.median == 32.5
    assert trend.week == Distribution(1, 10.0, 10.0, 10.0, 10.0)
    assert trend.enough
    assert trend.note == "median 55 min vs 32.5 min in the previous 12 weeks (n = 10 vs 12)"
    others = [t for t in digest.trends if t.metric != "time_to_mitigate"]
    assert all(not t.enough and t.note == "n = 0: too few incidents to compare (fewer than 10)" for t in others)
    assert not any("mean" in t.note for t in digest.trends)


def test_trend_notes():
    def dist(n, median=None):
        return Distribution(n, median, median, median, median)

    assert trend_note(dist(14, 42.0), dist(12, 57.0), 12, 10) == \
        "median 42 min vs 57 min in the previous 12 weeks (n = 14 vs 12)"
    assert trend_note(dist(14, 42.0), dist(4, 57.0), 12, 10) == \
        "n = 14 vs 4 in the previous 12 weeks: too few incidents to compare (fewer than 10)"
    assert trend_note(dist(2, 1.0), dist(2, 1.0), 1, 1) == "median 1 min vs 1 min in the previous week (n = 2 vs 2)"
    assert [minutes_text(m) for m in (4.5, 3.0, 32.5, 57.25, 1440.4, 12345.0)] == [
        "4.5", "3", "32.5", "57.2", "1,440", "12,345"]


# --- the postmortem pipeline ------------------------------------------------------------------


def postmortem(session, number: int, status: str, due_at: datetime, *, private=False, **fields) -> Postmortem:
    row = incident(number, due_at - timedelta(days=5), title=f"Incident {number}", private=private)
    add(session, row)
    pm = Postmortem(incident_id=row.id, owner=f"U0OWNER{number}", status=status, due_at=due_at, **fields)
    add(session, pm)
    return pm


def test_pipeline_due_overdue_published_and_not_needed(session):
    postmortem(session, 1, "scheduled", cph(2026, 11, 19, 17, 0))  # due Thursday
    postmortem(session, 2, "drafted", cph(2026, 11, 16, 17, 0))  # due Monday
    postmortem(session, 3, "in_review", cph(2026, 11, 10, 17, 0))  # due last week
    postmortem(session, 4, "scheduled", cph(2026, 11, 25, 17, 0))  # due next week
    postmortem(session, 5, "published", cph(2026, 11, 16, 17, 0), published_at=cph(2026, 11, 17, 15, 0))
    postmortem(session, 6, "published", cph(2026, 11, 10, 17, 0), published_at=cph(2026, 11, 12, 15, 0))
    marked = postmortem(session, 7, "scheduled", cph(2026, 11, 20, 17, 0))
    postmortems.not_needed(session, marked, "U0ALICE", "duplicate of INC-3", now=cph(2026, 11, 17, 10, 0))
    # Marked not needed last week; a draft stored this week moves updated_at, not the week it was marked.
    earlier = postmortem(session, 8, "scheduled", cph(2026, 11, 13, 17, 0))
    postmortems.not_needed(session, earlier, "U0ALICE", "a test", now=cph(2026, 11, 12, 10, 0))
    postmortems.record_draft(session, earlier, markdown="# draft", model="offline", now=cph(2026, 11, 18, 10, 0))
    session.commit()
    postmortem(session, 9, "scheduled", cph(2026, 11, 12, 17, 0), private=True)  # overdue, private

    def numbers(lines):
        return [line.incident_number for line in lines]

    midweek = build(session, POLICY, W47, now=cph(2026, 11, 18, 12, 0)).pipeline  # overdue as of Wednesday noon
    assert numbers(midweek.due_this_week) == [2, 1]  # soonest due first
    assert numbers(midweek.overdue) == [3, None, 2]  # 10 Nov, the private one (12 Nov), 16 Nov
    assert numbers(midweek.published) == [5]
    assert numbers(midweek.not_needed) == [7]
    after = build(session, POLICY, W47, now=AFTER_W47).pipeline  # overdue as of the end of the week
    assert numbers(after.overdue) == [3, None, 2, 1]
    assert after.overdue[0] == PostmortemLine(3, "Incident 3", "U0OWNER3", cph(2026, 11, 10, 17, 0), "in_review")
    assert after.overdue[1] == PostmortemLine(None, None, None, cph(2026, 11, 12, 17, 0), "scheduled")
    assert after.not_needed[0].status == "not_needed"


# --- action items and the backlog ---------------------------------------------------------------


def action(session, incident_row: Incident, *, created: datetime, status="open", due=None, completed=None,
           backlog_item: BacklogItem | None = None) -> ActionItem:
    with freeze_time(created):  # created_at/updated_at default to now, as in the app
        item = ActionItem(incident_id=incident_row.id, title="Add an alert", type="detective", priority="P2",
                          origin="command", created_by="U0ALICE", status=status, due_at=due, completed_at=completed,
                          backlog_item_id=backlog_item.id if backlog_item else None)
        add(session, item)
    return item


def backlog_item(session, title: str, created: datetime, status="open") -> BacklogItem:
    with freeze_time(created):
        item = BacklogItem(title=title, status=status, services=["api"])
        add(session, item)
    return item


def test_action_item_counts(session):
    now_week, old = incident(1, cph(2026, 11, 17, 9, 0)), incident(2, cph(2026, 10, 1, 9, 0))
    hidden = incident(3, cph(2026, 11, 17, 9, 0), private=True)
    add(session, now_week, old, hidden)
    action(session, now_week, created=cph(2026, 11, 17, 10, 0))  # opened
    action(session, hidden, created=cph(2026, 11, 18, 10, 0))  # opened (a private incident's: counted)
    action(session, old, created=cph(2026, 10, 2, 10, 0), status="done", completed=cph(2026, 11, 18, 9, 0))  # closed
    action(session, old, created=cph(2026, 10, 2, 10, 0), status="wont_do", completed=cph(2026, 11, 22, 23, 0))
    action(session, old, created=cph(2026, 10, 2, 10, 0), status="done", completed=cph(2026, 11, 10, 9, 0))
    action(session, old, created=cph(2026, 10, 2, 10, 0), due=cph(2026, 11, 20, 17, 0))  # overdue by the end
    action(session, old, created=cph(2026, 10, 2, 10, 0), status="in_progress", due=cph(2026, 11, 11, 17, 0))
    action(session, old, created=cph(2026, 10, 2, 10, 0), due=cph(2026, 11, 24, 17, 0))  # not yet due
    action(session, old, created=cph(2026, 10, 2, 10, 0), status="done", due=cph(2026, 11, 1, 17, 0),
           completed=cph(2026, 10, 30, 9, 0))
    after = build(session, POLICY, W47, now=AFTER_W47).actions
    assert (after.opened, after.closed, after.overdue) == (2, 2, 2)
    midweek = build(session, POLICY, W47, now=cph(2026, 11, 18, 12, 0)).actions
    assert midweek.overdue == 1  # on Wednesday only the one due 11 Nov was late


def test_backlog_top_five_with_what_changed_and_recurred_risks(session):
    this_week, this_week_2 = incident(51, cph(2026, 11, 17, 9, 0)), incident(52, cph(2026, 11, 18, 9, 0))
    severe = incident(53, cph(2026, 11, 17, 11, 0), severity="SEV1")
    secret = incident(9001, cph(2026, 11, 19, 9, 0), private=True)
    old, old_secret = incident(40, cph(2026, 9, 30, 9, 0)), incident(9000, cph(2026, 9, 1, 9, 0), private=True)
    add(session, this_week, this_week_2, severe, secret, old, old_secret)
    created_before = cph(2026, 10, 1, 9, 0)
    fresh = backlog_item(session, "Alert on queue depth", cph(2026, 11, 17, 12, 0))
    action(session, severe, created=cph(2026, 11, 17, 12, 0), backlog_item=fresh)
    mixed = backlog_item(session, "Replica lag", created_before)
    for row in (old, this_week, secret):
        action(session, row, created=row.declared_at + timedelta(hours=1), backlog_item=mixed)
    again = backlog_item(session, "Retry storms", created_before)
    for row in (old, this_week_2):
        action(session, row, created=row.declared_at + timedelta(hours=1), backlog_item=again)
    private_only = backlog_item(session, "Vault policy", created_before)
    for row in (old_secret, secret):
        action(session, row, created=row.declared_at + timedelta(hours=1), backlog_item=private_only)
    closed = backlog_item(session, "Done already", created_before, status="done")
    for row in (old, this_week):
        action(session, row, created=row.declared_at + timedelta(hours=1), backlog_item=closed, status="done",
               completed=created_before)
    quiet = [backlog_item(session, f"Quiet risk {n}", created_before) for n in range(3)]
    for item in quiet:
        action(session, old, created=created_before, backlog_item=item)

    actions = build(session, POLICY, W47, now=AFTER_W47).actions
    assert len(actions.top) == 5
    assert [line.score for line in actions.top] == sorted((line.score for line in actions.top), reverse=True)
    by_label = {line.label: line for line in actions.top}
    assert by_label[f"BL-{mixed.id}"].change == "+2 incidents (INC-51, 1 private)"
    assert by_label[f"BL-{mixed.id}"].incidents == (51, 40)  # the private one is not listed
    assert by_label[f"BL-{again.id}"].change == "+1 incident (INC-52)"
    assert by_label[f"BL-{fresh.id}"].change == "new"
    assert {line.change for line in actions.top if line.title.startswith("Quiet")} == {"unchanged"}
    assert f"BL-{private_only.id}" not in by_label and f"BL-{closed.id}" not in by_label
    # Recurred: open, linked to this week's incident and to an earlier one; highest score first.
    assert {line.label for line in actions.recurred} == {f"BL-{mixed.id}", f"BL-{again.id}"}
    assert [line.score for line in actions.recurred] == sorted((line.score for line in actions.recurred),
                                                               reverse=True)


# --- repeats -----------------------------------------------------------------------------------


def test_repeats_of_services_and_categories(session):
    add(session,
        incident(101, cph(2026, 11, 17, 9, 0), services=["api", "web"], category="code-deploy"),
        incident(102, cph(2026, 10, 20, 9, 0), services=["api"], category="code-deploy"),  # W43
        incident(103, cph(2026, 11, 1, 9, 0), services=["api"], private=True),  # counted, not listed
        incident(104, cph(2026, 11, 18, 9, 0), services=["db"]),
        incident(105, cph(2026, 11, 19, 9, 0), services=["db"]),  # twice in the week is a repeat too
        incident(106, cph(2026, 10, 5, 9, 0), services=["cache"]),
        incident(107, cph(2026, 10, 6, 9, 0), services=["cache"]),  # none this week: no repeat
        incident(108, cph(2026, 11, 20, 9, 0), services=["queue"]),
        incident(109, cph(2026, 8, 20, 9, 0), services=["queue"]),  # before the window: no repeat
        incident(110, cph(2026, 11, 20, 9, 0), services=["search"], private=True),
        incident(111, cph(2026, 9, 20, 9, 0), services=["search"]))
    repeats = build(session, POLICY, W47, now=AFTER_W47).repeats
    assert repeats == [
        Repeat("service", "api", (101, 102)),  # 3 incidents, newest first, the private one left out
        Repeat("service", "db", (105, 104)),
        Repeat("service", "search", (111,)),  # this week's is private: it counts, it is not named
        Repeat("category", "code-deploy", (101, 102)),
    ]


# --- private incidents ----------------------------------------------------------------------------

SECRET_TITLE = "Vault keys leaked by Zyxwv"


def test_no_private_title_or_number_anywhere_in_the_digest(session):
    secret = with_impact(9001, cph(2026, 11, 18, 9, 0), 30, title=SECRET_TITLE, private=True, services=["api"],
                         category="security", channel_id="C0SECRET", severity="SEV1")
    earlier_secret = with_impact(9002, cph(2026, 10, 7, 9, 0), 15, title=SECRET_TITLE + " again", private=True,
                                 services=["api"], category="security", channel_id="C0SECRET2")
    public = with_impact(12, cph(2026, 11, 17, 9, 0), 20, services=["api"], category="security")
    add(session, secret, earlier_secret, public)
    add(session, Postmortem(incident_id=secret.id, owner="U0SECRETOWNER", status="scheduled",
                            due_at=cph(2026, 11, 20, 17, 0)))
    add(session, Postmortem(incident_id=earlier_secret.id, owner="U0SECRETOWNER", status="published",
                            due_at=cph(2026, 11, 16, 17, 0), published_at=cph(2026, 11, 17, 9, 0)))
    mixed = backlog_item(session, "Rotate credentials", cph(2026, 10, 8, 9, 0))
    for row in (earlier_secret, secret, public):
        action(session, row, created=row.declared_at + timedelta(hours=1), backlog_item=mixed)

    digest = build(session, POLICY, W47, now=AFTER_W47)
    assert (digest.private_count, digest.total_week) == (1, 2)
    assert budget(digest, "api").shares == (BudgetShare(None, 30.0), BudgetShare(12, 20.0))
    assert [line.incident_number for line in digest.pipeline.overdue] == [None]
    assert [line.incident_number for line in digest.pipeline.published] == [None]
    assert digest.actions.recurred[0].change == "+2 incidents (INC-12, 1 private)"
    assert Repeat("category", "security", (12,)) in digest.repeats

    strings, numbers = [], []

    def walk(value):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            strings.append(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            numbers.append(value)

    walk(asdict(digest))
    text = "\n".join(strings)
    for leak in ("Vault", "Zyxwv", "9001", "9002", "C0SECRET", "U0SECRETOWNER"):
        assert leak not in text
    assert 9001 not in numbers and 9002 not in numbers


# --- queries ---------------------------------------------------------------------------------


def test_the_number_of_queries_does_not_grow_with_the_incidents(engine, session):
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    def queries() -> int:
        statements.clear()
        build(session, POLICY, W47, now=AFTER_W47)
        return len(statements)

    def seed(first: int, count: int) -> None:
        rows = [with_impact(first + n, cph(2026, 11, 16, 9, 0) - timedelta(days=3 * n), 15 + n,
                            services=["api", "web"], category="code-deploy", private=n % 5 == 0)
                for n in range(count)]
        add(session, *rows)
        item = backlog_item(session, f"Risk {first}", cph(2026, 9, 1, 9, 0))
        for n, row in enumerate(rows):
            add(session, Postmortem(incident_id=row.id, owner="U0BOB", status="scheduled",
                                    due_at=row.declared_at + timedelta(days=5)))
            action(session, row, created=row.declared_at, due=row.declared_at + timedelta(days=20),
                   backlog_item=item)

    seed(1, 3)
    few = queries()
    seed(1000, 60)
    assert queries() == few
    assert few <= 30, few  # 28 today: see docs/digest.md

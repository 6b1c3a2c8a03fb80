"""Hand-built weekly digests for the renderer, chart, narrative and CLI tests.

They do not come from ``core.digest.build``: the renderers must show what they are
given, so the tests give them exactly what they should show (including a few things
``build`` is not supposed to produce, to check the renderers do not trust it blindly).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from incidentbot.core.digest_report import (
    Actions,
    BacklogLine,
    Budget,
    BudgetShare,
    Count,
    Digest,
    IncidentRow,
    Pipeline,
    PostmortemLine,
    Repeat,
    Trend,
    Week,
    WeekCount,
)
from incidentbot.core.metrics import METRICS, Distribution
from incidentbot.core.policy import Policy, parse_policy

EVIL_TITLE = "<!channel> checkout & <script>alert(1)</script> *down*"
EVIL_SERVICE = "api<b>"
PRIVATE_TITLE = "Payroll export leaked to ACME-PRIVATE-CANARY"
GENERATED = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
NONE = Distribution(0, None, None, None, None)


def policy() -> Policy:
    return parse_policy('timezone = "Europe/Copenhagen"\n', "test")


def week(p: Policy | None = None) -> Week:
    return Week.of(2026, 47, p or policy())


def dist(n: int, median: float, p90: float, low: float, high: float) -> Distribution:
    return Distribution(n, median, p90, low, high)


def row(number: int, title: str = "Checkout API returning 502s", *, severity: str = "SEV2",
        services: tuple[str, ...] = ("checkout",), channel: str | None = "C0CHECKOUT", ttr: float | None = 42.0,
        hours: float = 10) -> IncidentRow:
    return IncidentRow(
        number=number, title=title, severity=severity, category="code-deploy", services=services,
        declared_at=week().start + timedelta(hours=hours), status="resolved" if ttr else "investigating",
        detection="monitoring", time_to_detect=5.0, time_to_mitigate=30.0 if ttr else None, time_to_resolve=ttr,
        impact_minutes=35.0 if ttr else None, postmortem_status="drafted" if severity in ("SEV1", "SEV2") else None,
        channel_id=channel,
    )


def _weekly(counts: list[dict[str, int]]) -> list[WeekCount]:
    w = week()
    p = policy()
    labels = [w.previous(p, k).label for k in range(len(counts) - 1, -1, -1)]
    return [WeekCount(label, c) for label, c in zip(labels, counts)]


def busy() -> Digest:
    """14 incidents (2 private), enough data for trends, one service over budget, a full pipeline."""
    incidents = [row(57, EVIL_TITLE, severity="SEV1", services=(EVIL_SERVICE,), channel="C057", ttr=185.0)]
    incidents += [row(n, f"Search latency #{n}", services=("search",), channel=None if n % 2 else f"C0{n}",
                      ttr=20.0 + n, hours=n) for n in range(58, 69)]
    incidents.append(row(69, "Login errors", severity="SEV3", ttr=None, channel="C069"))
    trends = [Trend(m, dist(3, 30.0, 50.0, 10.0, 60.0), dist(14, 42.0, 185.0, 5.0, 550.0),
                    dist(12, 57.0, 200.0, 4.0, 600.0), True, "median 42 min, down from 57 (n = 14 vs 12)")
              for m in METRICS]
    return Digest(
        week=week(), timezone="Europe/Copenhagen", window_weeks=12, min_sample=10, generated_at=GENERATED,
        incidents=incidents, private_count=2, total_week=14, total_window=61,
        by_severity=[Count("SEV1", 1, 4), Count("SEV2", 11, 30), Count("SEV3", 2, 27), Count("SEV4", 0, 0)],
        by_category=[Count("code-deploy", 13, 40), Count("uncategorised", 1, 21)],
        detection=[Count("monitoring", 12, 50), Count("customer", 2, 9), Count("unrecorded", 0, 2)],
        trends=trends,
        budgets=[
            Budget(EVIL_SERVICE, 0.999, 120.96, 185.0, 200.0, -79.04,
                   (BudgetShare(57, 150.0), BudgetShare(None, 35.0)), True),
            Budget("search", 0.99, 1209.6, 300.0, 400.0, 809.6, (BudgetShare(58, 21.0),), False),
        ],
        pipeline=Pipeline(
            due_this_week=(PostmortemLine(58, "Search latency #58", "U0ALICE", week().start + timedelta(days=4),
                                          "drafted"),),
            overdue=(PostmortemLine(40, "Payments timeout", "U0BOB", week().start - timedelta(days=3), "scheduled"),
                     PostmortemLine(None, None, "U0CAROL", week().start - timedelta(days=1), "scheduled")),
            published=(PostmortemLine(50, "DNS outage", "U0ALICE", week().start, "published"),),
            not_needed=(),
        ),
        actions=Actions(
            opened=12, closed=9, overdue=3,
            top=(BacklogLine("BL-4", "Add canary for checkout <deploys>", 15.2, "+1 incident (INC-57)", (57, 40)),
                 BacklogLine("BL-9", "Search index runbook", 11.0, "new", (58,))),
            recurred=(BacklogLine("BL-4", "Add canary for checkout <deploys>", 15.2, "+1 incident (INC-57)",
                                  (57, 40)),),
        ),
        repeats=[Repeat("service", "search", tuple(range(68, 57, -1)) + (33, 21)),
                 Repeat("category", "code-deploy", (57, 58, 40))],
        weekly=_weekly([{"SEV1": 0, "SEV2": 3, "SEV3": 2}] * 11 + [{"SEV1": 1, "SEV2": 11, "SEV3": 2}]),
        narrative=None,
        notes=["The policy's SLO for search changed on 2026-11-18; budgets use the new one."],
    )


def empty() -> Digest:
    """Nothing happened this week or in the window."""
    return Digest(
        week=week(), timezone="Europe/Copenhagen", window_weeks=12, min_sample=10, generated_at=GENERATED,
        incidents=[], private_count=0, total_week=0, total_window=0,
        by_severity=[Count(s, 0, 0) for s in ("SEV1", "SEV2", "SEV3", "SEV4")], by_category=[], detection=[],
        trends=[Trend(m, NONE, NONE, NONE, False, "too few incidents to compare (n = 0 < 10)") for m in METRICS],
        budgets=[Budget("checkout", 0.999, 120.96, 0.0, 0.0, 120.96, (), False)],
        pipeline=Pipeline((), (), (), ()),
        actions=Actions(0, 0, 0, (), ()),
        repeats=[],
        weekly=_weekly([{}] * 12),
    )


def small() -> Digest:
    """Three incidents: distributions with n = 3, and notes that say so instead of a trend."""
    incidents = [row(7, "Checkout slow", ttr=42.0), row(8, "Checkout slow again", ttr=65.0, hours=30),
                 row(9, "Cron missed", severity="SEV3", ttr=5.0, channel=None, hours=50)]
    trends = [Trend(m, dist(3, 42.0, 60.0, 5.0, 65.0), dist(3, 42.0, 60.0, 5.0, 65.0), dist(1, 30.0, 30.0, 30.0, 30.0),
                    False, "too few incidents to compare (n = 3 < 10)") for m in METRICS]
    d = empty()
    d.incidents, d.total_week, d.total_window = incidents, 3, 4
    d.by_severity = [Count("SEV1", 0, 0), Count("SEV2", 2, 3), Count("SEV3", 1, 1)]
    d.detection = [Count("monitoring", 3, 4)]
    d.trends = trends
    d.weekly = _weekly([{}] * 10 + [{"SEV2": 1}, {"SEV2": 2, "SEV3": 1}])
    return d


def private_only() -> Digest:
    """Two private incidents and nothing else: counts, minutes, never a title."""
    d = empty()
    d.private_count, d.total_week, d.total_window = 2, 2, 2
    d.by_severity = [Count("SEV1", 1, 1), Count("SEV2", 1, 1)]
    d.by_category = [Count("security", 2, 2)]
    d.budgets = [Budget("payroll", 0.999, 120.96, 150.0, 150.0, -29.04, (BudgetShare(None, 100.0),
                                                                      BudgetShare(None, 50.0)), True)]
    # core.digest gives private lines no title; one that came along anyway must not be shown.
    d.pipeline = Pipeline(due_this_week=(PostmortemLine(None, PRIVATE_TITLE, "U0ALICE", week().end, "scheduled"),),
                          overdue=(), published=(), not_needed=())
    d.trends = [Trend(m, dist(2, 40.0, 50.0, 30.0, 50.0), dist(2, 40.0, 50.0, 30.0, 50.0), NONE, False,
                      "too few incidents to compare (n = 2 < 10)") for m in METRICS]
    d.weekly = _weekly([{}] * 11 + [{"SEV1": 1, "SEV2": 1}])
    return d


def many(n: int = 300) -> Digest:
    """A week with ``n`` incidents and long lists everywhere (Slack's limits)."""
    d = busy()
    services = tuple(f"svc-{j}" for j in range(8))
    d.incidents = [row(1000 + i, f"Flapping health check {i} " + "x" * 150, services=services, channel=f"C{i:08d}")
                   for i in range(n)]
    d.total_week = n + d.private_count
    d.pipeline = Pipeline(
        due_this_week=tuple(PostmortemLine(1000 + i, "y" * 200, "U0ALICE", week().end, "drafted") for i in range(60)),
        overdue=tuple(PostmortemLine(1000 + i, "z" * 200, "U0BOB", week().start, "scheduled") for i in range(60)),
        published=tuple(PostmortemLine(1000 + i, "p", "U0BOB", week().start, "published") for i in range(60)),
        not_needed=(),
    )
    d.budgets = [Budget(f"svc-{i}", 0.999, 120.96, 10.0, 20.0, 100.96,
                        tuple(BudgetShare(1000 + j, 1.0) for j in range(40)), False) for i in range(40)]
    d.repeats = [Repeat("service", f"svc-{i}", tuple(range(1000, 1100))) for i in range(40)]
    d.actions = Actions(300, 200, 100, d.actions.top,
                        tuple(BacklogLine(f"BL-{i}", "r" * 300, 1.0, "unchanged", tuple(range(1000, 1050)))
                              for i in range(40)))
    d.notes = ["n" * 5000]
    return d

"""Backlog priority score: each factor by hand, the orderings it is designed for, and its
explanation. The policy has four severities (SEV1..SEV4, ranks 0..3) as the shipped one does.

Default weights: severity 3, recurrence 4, breadth 1, impact 2, age 0.5, overdue 2, effort 1.
"""

import ast
import math
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incidentbot.core import backlog_score
from incidentbot.core.backlog_score import (
    DEFAULT_WEIGHTS,
    WEIGHT_NAMES,
    LinkedIncident,
    ScoreInput,
    check_weights,
    score,
)

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)


def incident(number, sev=1, services=("checkout",), teams=("payments",), impact=None, count=4):
    """An incident of severity SEV<sev> (rank sev - 1 of ``count``)."""
    return LinkedIncident(number=number, severity_rank=sev - 1, severity_count=count,
                          severity_id=f"SEV{sev}", services=tuple(services), teams=tuple(teams),
                          impact_minutes=impact)


def item(*incidents, age_days=0, open_items=1, overdue=0, effort=None, now=NOW):
    return ScoreInput(incidents=tuple(incidents), created_at=now - timedelta(days=age_days), now=now,
                      open_items=max(open_items, overdue), overdue_items=overdue, effort=effort)


def factor(result, name):
    (found,) = [f for f in result.factors if f.name == name]
    return found


# --------------------------------------------------------------------------- orderings


def test_a_risk_recurring_in_three_lesser_incidents_outranks_a_one_off_sev1():
    # Design choice: recurrence is the strongest signal that a risk will bite again, so
    # when everything else is equal (one service, one team, impact unknown):
    #   SEV2, SEV2, SEV3: severity 0.75×2×3 = 4.5 + recurrence 4×log2(4) = 8.0 + breadth log2(3) = 1.6 → 14.1
    #   SEV1 once:        severity 1.00×2×3 = 6.0 + recurrence 4×log2(2) = 4.0 + breadth 1.6           → 11.6
    #   SEV3 twice:       severity 0.50×2×3 = 3.0 + recurrence 4×log2(3) = 6.3 + breadth 1.6           → 10.9
    #   SEV2 once:        4.5 + 4.0 + 1.6                                                             → 10.1
    #   SEV3 once:        3.0 + 4.0 + 1.6                                                             →  8.6
    recurring = score(item(incident(1, 2), incident(2, 2), incident(3, 3)))
    sev1_once = score(item(incident(4, 1)))
    sev3_twice = score(item(incident(5, 3), incident(6, 3)))
    sev2_once = score(item(incident(7, 2)))
    sev3_once = score(item(incident(8, 3)))

    assert [s.total for s in (recurring, sev1_once, sev3_twice, sev2_once, sev3_once)] == [
        14.1, 11.6, 10.9, 10.1, 8.6]
    # ...but a SEV1 is still the biggest single factor of a one-off item.
    assert max(sev1_once.factors, key=lambda f: f.points).name == "severity"


def test_a_one_off_sev1_with_an_hour_of_customer_impact_outranks_the_recurring_unknown_one():
    # impact 2 × log10(1 + 60) = 3.57 → 3.6; 11.6 + 3.6 = 15.2 > 14.1
    assert score(item(incident(4, 1, impact=60))).total == 15.2


def test_the_demo_two_incidents_roll_into_one_item_with_a_rising_score():
    first = score(item(incident(41, 2, impact=30), age_days=1, open_items=1))
    # A week later incident #57 (SEV3, checkout + the cart service) adds an action item to the
    # same risk, and the first one is now overdue.
    second = score(item(incident(41, 2, impact=30), incident(57, 3, ("checkout", "cart"), impact=12),
                        age_days=8, open_items=2, overdue=1))
    # impact 2 × log10(31) = 2.98 → 3.0
    assert first.explain() == (
        "13.1 = severity 4.5 + recurrence 4.0 + breadth 1.6 + impact 3.0 + age 0.0 + overdue 0.0 + effort 0.0")
    # recurrence 4×log2(3) = 6.3; breadth log2(1 + 3) = 2.0; impact 2×log10(43) = 3.3;
    # age 8/30×0.5 = 0.13 → 0.1; overdue 2×log2(2) = 2.0
    assert second.explain() == (
        "18.2 = severity 4.5 + recurrence 6.3 + breadth 2.0 + impact 3.3 + age 0.1 + overdue 2.0 + effort 0.0")
    assert second.total > first.total


incidents_st = st.builds(
    incident,
    number=st.integers(1, 10_000),
    sev=st.integers(1, 4),
    services=st.lists(st.sampled_from(["api", "db", "cart", "search"]), max_size=3),
    teams=st.lists(st.sampled_from(["core", "data", "web"]), max_size=2),
    impact=st.none() | st.floats(0, 100_000),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(incidents_st, max_size=8, unique_by=lambda i: i.number), incidents_st,
       st.integers(0, 400), st.integers(0, 5), st.sampled_from([None, "S", "M", "L", "XL"]))
def test_another_linked_incident_always_raises_the_score(linked, extra, age, overdue, effort):
    if extra.number in {i.number for i in linked}:
        extra = LinkedIncident(**{**extra.__dict__, "number": 10_001})
    before = score(item(*linked, age_days=age, overdue=overdue, effort=effort))
    after = score(item(*linked, extra, age_days=age, overdue=overdue, effort=effort))
    assert after.total > before.total
    # ...while the same incident linked twice (two of its action items) counts once.
    assert score(item(*linked, *linked, age_days=age, overdue=overdue, effort=effort)) == before


# --------------------------------------------------------------------------- each factor


@pytest.mark.parametrize(("incidents", "value", "points"), [
    ((), "none", 0.0),
    ((incident(1, 1),), "SEV1", 6.0),  # gravity 4/4 × 2 × 3
    ((incident(1, 2),), "SEV2", 4.5),  # 3/4
    ((incident(1, 3),), "SEV3", 3.0),  # 2/4
    ((incident(1, 4),), "SEV4", 1.5),  # 1/4: the least severe still counts
    ((incident(1, 3), incident(2, 1), incident(3, 4)), "SEV1", 6.0),  # the worst one counts
    ((incident(1, 1, count=1),), "SEV1", 6.0),  # a policy with one severity
    ((incident(1, 2, count=2),), "SEV2", 3.0),  # 1/2
])
def test_severity(incidents, value, points):
    f = factor(score(item(*incidents)), "severity")
    assert (f.value, f.weight, f.points) == (value, 3.0, points)


def test_severity_explanation():
    f = factor(score(item(incident(1, 3), incident(2, 2))), "severity")
    assert f.explanation == "SEV2 (most severe of 2) is rank 2 of 4: gravity 0.75 × 2 × weight 3 = 4.5."
    assert factor(score(item()), "severity").explanation == "No linked incidents, so it adds nothing."


@pytest.mark.parametrize(("n", "value", "points"), [
    (0, "0 incidents", 0.0), (1, "1 incident", 4.0), (2, "2 incidents", 6.3),  # 4 × log2(3) = 6.34
    (3, "3 incidents", 8.0), (7, "7 incidents", 12.0),
])
def test_recurrence_grows_with_diminishing_returns(n, value, points):
    f = factor(score(item(*(incident(i) for i in range(1, n + 1)))), "recurrence")
    assert (f.value, f.points) == (value, points)
    if n == 3:
        assert f.explanation == "log2(1 + 3 incidents) = 2.00 × weight 4 = 8.0."


@pytest.mark.parametrize(("incidents", "value", "points"), [
    ((), "0 services, 0 teams", 0.0),
    ((incident(1, services=(), teams=("core",)),), "0 services, 1 team", 1.0),  # log2(2)
    ((incident(1, services=("api",), teams=("core",)),), "1 service, 1 team", 1.6),  # log2(3)
    # distinct across incidents: api, db + core, data = 4 → log2(5) = 2.32
    ((incident(1, services=("api",), teams=("core",)), incident(2, services=("api", "db"), teams=("data",))),
     "2 services, 2 teams", 2.3),
    ((incident(1, services=("a", "b", "c", "d"), teams=("t", "u", "v")),), "4 services, 3 teams", 3.0),
])
def test_breadth_counts_distinct_services_and_teams(incidents, value, points):
    f = factor(score(item(*incidents)), "breadth")
    assert (f.value, f.points) == (value, points)


@pytest.mark.parametrize(("impacts", "value", "points"), [
    ((), "0 min", 0.0),
    ((0,), "0 min", 0.0),
    ((9,), "9 min", 2.0),  # 2 × log10(10)
    ((40, 59), "99 min", 4.0),  # summed across incidents: 2 × log10(100)
    ((999,), "999 min", 6.0),
    ((12.5,), "12.5 min", 2.3),  # 2 × log10(13.5) = 2.26
    ((None,), "unknown", 0.0),
    ((None, None), "unknown", 0.0),
    ((9, None), "9 min", 2.0),  # the known part counts
])
def test_impact_is_log_scaled_and_unknown_adds_nothing(impacts, value, points):
    f = factor(score(item(*(incident(i, impact=m) for i, m in enumerate(impacts, 1)))), "impact")
    assert (f.value, f.points) == (value, points)


def test_impact_explanations():
    assert factor(score(item(incident(1, impact=None))), "impact").explanation == (
        "Customer impact is unknown, so it adds nothing.")
    assert factor(score(item(incident(1, impact=95), incident(2, impact=None))), "impact").explanation == (
        "log10(1 + 95 min, unknown for 1 incident) = 1.98 × weight 2 = 4.0.")


@pytest.mark.parametrize(("created", "value", "points"), [
    (NOW, "0 days", 0.0),
    (NOW - timedelta(hours=23), "0 days", 0.0),  # whole days
    (NOW - timedelta(days=1), "1 day", 0.0),  # 1/30 × 0.5 = 0.017
    (NOW - timedelta(days=30), "30 days", 0.5),
    (NOW - timedelta(days=60), "60 days", 1.0),
    (NOW - timedelta(days=90), "90 days", 1.5),
    (NOW - timedelta(days=400), "400 days", 1.5),  # capped: old items rise but never dominate
    (NOW + timedelta(days=2), "0 days", 0.0),  # clock skew: created "in the future"
])
def test_age_rises_slowly_and_is_capped(created, value, points):
    f = factor(score(ScoreInput((), created, NOW, 1, 0)), "age")
    assert (f.value, f.points) == (value, points)


def test_age_explanation():
    assert factor(score(item(age_days=41)), "age").explanation == "41 days / 30 = 1.37 × weight 0.5 = 0.7."
    assert factor(score(item(age_days=200)), "age").explanation == (
        "200 days capped at 90 / 30 = 3.00 × weight 0.5 = 1.5.")


def test_age_works_across_time_zones():
    paris = ZoneInfo("Europe/Paris")
    created = datetime(2026, 10, 17, 11, 30, tzinfo=paris)  # 09:30 UTC (summer time)
    assert factor(score(ScoreInput((), created, NOW, 0, 0)), "age").value == "30 days"


@pytest.mark.parametrize(("overdue", "points"), [(0, 0.0), (1, 2.0), (2, 3.2), (3, 4.0), (7, 6.0)])
def test_overdue_grows_with_diminishing_returns(overdue, points):
    f = factor(score(item(open_items=7, overdue=overdue)), "overdue")
    assert (f.value, f.points) == (f"{overdue} overdue", points)


@pytest.mark.parametrize(("effort", "value", "points"), [
    ("S", "S", 1.0), ("M", "M", 0.0), ("L", "L", -1.0), ("XL", "XL", -2.0),
    (" xl ", "XL", -2.0), (None, "not estimated", 0.0),
])
def test_cheaper_items_rank_a_little_higher(effort, value, points):
    f = factor(score(item(effort=effort)), "effort")
    assert (f.value, f.points) == (value, points)


def test_effort_explanations():
    assert factor(score(item(effort="S")), "effort").explanation == "S is cheap, ranks higher: +1 × weight 1 = 1.0."
    assert factor(score(item(effort="L")), "effort").explanation == "L is costly, ranks lower: -1 × weight 1 = -1.0."
    assert factor(score(item()), "effort").explanation == "Effort is not estimated, so it adds nothing."


# --------------------------------------------------------------------------- weights


def busy_item():
    return item(incident(1, 2, impact=30), incident(2, 2, ("checkout", "cart"), impact=None),
                incident(3, 3, teams=("payments", "data"), impact=65),
                age_days=41, open_items=3, overdue=2, effort="L")


def test_a_full_explanation():
    result = score(busy_item())
    assert result.explain() == (
        "21.7 = severity 4.5 + recurrence 8.0 + breadth 2.3 + impact 4.0 + age 0.7 + overdue 3.2 + effort -1.0")
    assert [(f.name, f.value) for f in result.factors] == [
        ("severity", "SEV2"), ("recurrence", "3 incidents"), ("breadth", "2 services, 2 teams"),
        ("impact", "95 min"), ("age", "41 days"), ("overdue", "2 overdue"), ("effort", "L")]
    assert score(busy_item()) == result  # deterministic


@pytest.mark.parametrize("name", WEIGHT_NAMES)
def test_a_zero_weight_removes_its_factor(name):
    full = score(busy_item())
    without = score(busy_item(), {**DEFAULT_WEIGHTS, name: 0})
    assert factor(without, name).points == 0.0 and factor(without, name).weight == 0.0
    assert without.total == pytest.approx(full.total - factor(full, name).points)
    assert [f for f in without.factors if f.name != name] == [f for f in full.factors if f.name != name]


def test_weights_scale_points_and_missing_weights_take_the_default():
    doubled = score(busy_item(), {"recurrence": 8})
    assert factor(doubled, "recurrence").points == 16.0
    assert factor(doubled, "severity").points == 4.5  # default weight 3
    assert score(busy_item(), {}) == score(busy_item())
    assert score(item(), {name: 0 for name in WEIGHT_NAMES}).total == 0.0


def test_check_weights():
    assert check_weights(DEFAULT_WEIGHTS) == []
    assert check_weights({}) == []
    assert check_weights({"age": 0, "impact": 2.5}) == []
    expected = "expected one of severity, recurrence, breadth, impact, age, overdue, effort"
    assert check_weights({"sevrity": 3, "age": -0.5, "impact": "2", "effort": True,
                          "overdue": math.inf, "colour": 1}) == [
        f"unknown weight 'sevrity' (did you mean 'severity'?); {expected}",
        "weight 'age' must be >= 0, not -0.5",
        "weight 'impact' must be a number, not str",
        "weight 'effort' must be a number, not bool",
        "weight 'overdue' must be a finite number, not inf",
        f"unknown weight 'colour'; {expected}",
    ]


def test_score_refuses_bad_weights():
    with pytest.raises(ValueError, match=r"^weight 'age' must be >= 0, not -1$"):
        score(busy_item(), {"age": -1})
    with pytest.raises(ValueError, match=r"unknown weight 'sevrity'"):
        score(busy_item(), {"sevrity": 3})


# --------------------------------------------------------------------------- shape and input checks


@settings(max_examples=300, deadline=None)
@given(st.lists(incidents_st, max_size=6), st.integers(0, 400), st.integers(0, 5),
       st.sampled_from([None, "S", "M", "L", "XL"]),
       st.fixed_dictionaries({}, optional={n: st.floats(0, 10) for n in WEIGHT_NAMES}))
def test_the_explanation_always_adds_up(linked, age, overdue, effort, weights):
    result = score(item(*linked, age_days=age, overdue=overdue, effort=effort), weights)
    assert tuple(f.name for f in result.factors) == WEIGHT_NAMES
    assert result.total == pytest.approx(sum(f.points for f in result.factors), abs=1e-9)
    assert all(f.points >= 0 for f in result.factors if f.name != "effort")
    assert all(f.explanation.endswith(".") for f in result.factors)
    total, parts = result.explain().split(" = ")
    numbers = [float(p.rsplit(" ", 1)[1]) for p in parts.split(" + ")]
    assert float(total) == result.total
    assert sum(numbers) == pytest.approx(float(total), abs=1e-9)


def test_an_item_with_nothing_linked():
    result = score(item())
    assert result.total == 0.0
    assert [f.value for f in result.factors] == [
        "none", "0 incidents", "0 services, 0 teams", "0 min", "0 days", "0 overdue", "not estimated"]


@pytest.mark.parametrize("which", ["created_at", "now"])
def test_naive_datetimes_are_refused(which):
    naive = datetime(2026, 11, 1, 12, 0)
    moments = {"created_at": NOW - timedelta(days=3), "now": NOW, which: naive}
    with pytest.raises(ValueError, match=rf"^{which} must be timezone-aware"):
        score(ScoreInput((), open_items=0, overdue_items=0, **moments))


@pytest.mark.parametrize(("bad", "message"), [
    (item(open_items=1, overdue=0, effort="XXL"), "effort must be one of S, M, L, XL or None, not 'XXL'"),
    (ScoreInput((), NOW, NOW, open_items=1, overdue_items=2), "overdue_items (2) cannot exceed open_items (1)"),
    (ScoreInput((), NOW, NOW, open_items=-1, overdue_items=0), "open_items and overdue_items must be >= 0"),
    (item(incident(7, 5)), "incident #7: severity rank 4 is outside 0..3"),
    (item(incident(7, impact=-3)), "incident #7: impact minutes must be >= 0, not -3"),
    (item(incident(7, impact=math.nan)), "incident #7: impact minutes must be >= 0, not nan"),
])
def test_inconsistent_input_is_refused(bad, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        score(bad)


def test_the_module_is_pure():
    tree = ast.parse(Path(backlog_score.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}

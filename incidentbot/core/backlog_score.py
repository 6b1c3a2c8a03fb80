"""Priority score of a reliability backlog item, explained factor by factor (each × its weight).

severity: gravity of the worst linked incident (rank 0 → 1, last → 1/count) × 2 · recurrence:
log2(1 + incidents) · breadth: log2(1 + services + teams) · impact: log10(1 + minutes), unknown 0
· age: whole days / 30, capped at 90 days · overdue: log2(1 + overdue items) · effort: S +1, M 0,
L -1, XL -2, unknown 0. Points are rounded to 0.1 and the total is their sum, so it adds up.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

WEIGHT_NAMES = ("severity", "recurrence", "breadth", "impact", "age", "overdue", "effort")
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "severity": 3.0, "recurrence": 4.0, "breadth": 1.0, "impact": 2.0,
    "age": 0.5, "overdue": 2.0, "effort": 1.0,
}
SEVERITY_SCALE = 2.0  # a SEV1 alone (6.0 by default) outweighs every other single factor
AGE_DAYS_PER_POINT = 30
AGE_CAP_DAYS = 90
EFFORT_STEPS: Mapping[str, int] = {"S": 1, "M": 0, "L": -1, "XL": -2}


@dataclass(frozen=True)
class LinkedIncident:
    number: int
    severity_rank: int  # 0 = most severe in the policy
    severity_count: int  # how many severities the policy has
    severity_id: str  # e.g. "SEV1", for explanations
    services: tuple[str, ...]
    teams: tuple[str, ...]
    impact_minutes: float | None  # customer-impact minutes (None = unknown)


@dataclass(frozen=True)
class ScoreInput:
    incidents: tuple[LinkedIncident, ...]  # distinct incidents (duplicates by number are ignored)
    created_at: datetime  # tz-aware
    now: datetime  # tz-aware
    open_items: int  # open/in_progress action items
    overdue_items: int  # open items past their due date
    effort: str | None = None  # "S", "M", "L", "XL" or None (unknown)


@dataclass(frozen=True)
class Factor:
    name: str  # one of WEIGHT_NAMES
    value: str  # the raw input, human readable
    weight: float
    points: float  # contribution to the total, rounded to 0.1 (negative only for effort)
    explanation: str  # how value became points


@dataclass(frozen=True)
class Score:
    total: float
    factors: tuple[Factor, ...]  # all seven, in WEIGHT_NAMES order

    def explain(self) -> str:
        parts = " + ".join(f"{f.name} {f.points:.1f}" for f in self.factors)
        return f"{self.total:.1f} = {parts}"


def check_weights(weights: Mapping[str, float]) -> list[str]:
    """Problems with policy weights, one message each; [] when they are fine."""
    problems: list[str] = []
    for name, value in weights.items():
        if name not in WEIGHT_NAMES:
            close = difflib.get_close_matches(str(name), WEIGHT_NAMES, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"unknown weight '{name}'{hint}; expected one of {', '.join(WEIGHT_NAMES)}")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"weight '{name}' must be a number, not {type(value).__name__}")
        elif not math.isfinite(value):
            problems.append(f"weight '{name}' must be a finite number, not {value}")
        elif value < 0:
            problems.append(f"weight '{name}' must be >= 0, not {value:g}")
    return problems


def score(item: ScoreInput, weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> Score:
    """Score ``item``; weights missing from ``weights`` take their DEFAULT_WEIGHTS value."""
    problems = check_weights(weights)
    if problems:
        raise ValueError("; ".join(problems))
    w = {name: float(weights.get(name, DEFAULT_WEIGHTS[name])) for name in WEIGHT_NAMES}
    incidents = _validated(item)
    factors = (
        _severity(incidents, w["severity"]),
        _log_factor("recurrence", w["recurrence"], len(incidents), _plural(len(incidents), "incident"), 2),
        _breadth(incidents, w["breadth"]),
        _impact(incidents, w["impact"]),
        _age(item, w["age"]),
        _log_factor("overdue", w["overdue"], item.overdue_items, f"{item.overdue_items} overdue", 2),
        _effort(item.effort, w["effort"]),
    )
    return Score(total=round(sum(f.points for f in factors), 1), factors=factors)


def _validated(item: ScoreInput) -> tuple[LinkedIncident, ...]:
    for label, moment in (("created_at", item.created_at), ("now", item.now)):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{label} must be timezone-aware (UTC), got naive {moment.isoformat()}")
    if item.open_items < 0 or item.overdue_items < 0:
        raise ValueError("open_items and overdue_items must be >= 0")
    if item.overdue_items > item.open_items:
        raise ValueError(f"overdue_items ({item.overdue_items}) cannot exceed open_items ({item.open_items})")
    if item.effort is not None and item.effort.strip().upper() not in EFFORT_STEPS:
        raise ValueError(f"effort must be one of {', '.join(EFFORT_STEPS)} or None, not {item.effort!r}")
    distinct: dict[int, LinkedIncident] = {}
    for inc in item.incidents:
        if not 0 <= inc.severity_rank < inc.severity_count:
            raise ValueError(f"incident #{inc.number}: severity rank {inc.severity_rank} is outside "
                             f"0..{inc.severity_count - 1}")
        if inc.impact_minutes is not None and not inc.impact_minutes >= 0:
            raise ValueError(f"incident #{inc.number}: impact minutes must be >= 0, not {inc.impact_minutes}")
        distinct.setdefault(inc.number, inc)
    return tuple(distinct.values())


def _factor(name: str, value: str, weight: float, raw: float, how: str) -> Factor:
    """``how`` is the formula for ``raw``; the sentence ends with the weight and the points."""
    points = round(raw * weight, 1) + 0.0  # + 0.0 turns -0.0 into 0.0
    return Factor(name, value, weight, points, f"{how} × weight {weight:g} = {points:.1f}.")


def _nothing(name: str, value: str, weight: float, why: str) -> Factor:
    return Factor(name, value, weight, 0.0, f"{why}, so it adds nothing.")


def _log_factor(name: str, weight: float, count: float, value: str, base: int, counted: str = "") -> Factor:
    raw = math.log(1 + count, base)
    return _factor(name, value, weight, raw, f"log{base}(1 + {counted or value}) = {raw:.2f}")


def _severity(incidents: tuple[LinkedIncident, ...], weight: float) -> Factor:
    if not incidents:
        return _nothing("severity", "none", weight, "No linked incidents")
    worst = min(incidents, key=lambda i: (i.severity_rank / i.severity_count, i.number))
    gravity = (worst.severity_count - worst.severity_rank) / worst.severity_count
    of = f" (most severe of {len(incidents)})" if len(incidents) > 1 else ""
    return _factor("severity", worst.severity_id, weight, gravity * SEVERITY_SCALE,
                   f"{worst.severity_id}{of} is rank {worst.severity_rank + 1} of {worst.severity_count}: "
                   f"gravity {gravity:.2f} × {SEVERITY_SCALE:g}")


def _breadth(incidents: tuple[LinkedIncident, ...], weight: float) -> Factor:
    services = {s for i in incidents for s in i.services}
    teams = {t for i in incidents for t in i.teams}
    value = f"{_plural(len(services), 'service')}, {_plural(len(teams), 'team')}"
    both = len(services) + len(teams)
    return _log_factor("breadth", weight, both, value, 2, f"{both} services and teams")


def _impact(incidents: tuple[LinkedIncident, ...], weight: float) -> Factor:
    known = [i.impact_minutes for i in incidents if i.impact_minutes is not None]
    if incidents and not known:
        return _nothing("impact", "unknown", weight, "Customer impact is unknown")
    minutes = sum(known)
    unknown = len(incidents) - len(known)
    counted = f"{_num(minutes)} min" + (f", unknown for {_plural(unknown, 'incident')}" if unknown else "")
    return _log_factor("impact", weight, minutes, f"{_num(minutes)} min", 10, counted)


def _age(item: ScoreInput, weight: float) -> Factor:
    days = max(0, (item.now - item.created_at).days)  # whole days; an item "from the future" is 0
    capped = min(days, AGE_CAP_DAYS)
    cap = f" capped at {AGE_CAP_DAYS}" if days > AGE_CAP_DAYS else ""
    raw = capped / AGE_DAYS_PER_POINT
    return _factor("age", _plural(days, "day"), weight, raw,
                   f"{_plural(days, 'day')}{cap} / {AGE_DAYS_PER_POINT:g} = {raw:.2f}")


def _effort(effort: str | None, weight: float) -> Factor:
    if effort is None:
        return _nothing("effort", "not estimated", weight, "Effort is not estimated")
    size = effort.strip().upper()
    step = EFFORT_STEPS[size]
    why = "cheap, ranks higher" if step > 0 else "neutral" if step == 0 else "costly, ranks lower"
    return _factor("effort", size, weight, float(step), f"{size} is {why}: {step:+d}")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _num(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"

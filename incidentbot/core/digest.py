"""The weekly digest: what happened in one ISO week, against the weeks before it, in numbers.

``build`` fills ``core.digest_report.Digest`` for one week in the organisation's timezone
and the ``[digest] window_weeks`` window that ends with it. Every aggregation runs in SQL,
in a fixed number of queries whatever the number of incidents (docs/digest.md lists them);
Python only shapes the few grouped rows that come back.

Private incidents count in every number (counts, distributions, minutes of impact) and are
never named: no title, number or channel of one appears anywhere in the digest. Durations
use the same (start → end) pairs as ``core.metrics``, so an incident's own numbers and the
digest's distributions agree. There is no mean anywhere; below ``[digest] min_sample`` a
comparison says it has too few incidents instead of comparing.

No Slack, no model: the narrative is added by the caller (it stays ``None`` here).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, and_, case, func, literal, select, true, union_all
from sqlmodel import Session

from incidentbot.core import metrics
from incidentbot.core.digest_followup import actions, budgets, pipeline
from incidentbot.core.digest_report import Count, Digest, IncidentRow, Repeat, Trend, Week, WeekCount
from incidentbot.core.metrics import UNCATEGORISED, UNRECORDED, Distribution
from incidentbot.core.policy import Policy
from incidentbot.models import Incident, Postmortem
from incidentbot.timeutil import ensure_utc

DETECTIONS = ("monitoring", "customer", "staff")  # then anything else recorded, then "unrecorded"
LISTED_METRICS = ("time_to_detect", "time_to_mitigate", "time_to_resolve")  # IncidentRow's columns


@dataclass(frozen=True)
class Periods:
    """The intervals one digest looks at, all ``[start, end)`` in UTC on local midnights."""

    week: Week
    weeks: tuple[Week, ...]  # the window's weeks, oldest first; the last one is ``week``
    window_start: datetime
    previous_start: datetime  # the window of the same length before the window
    cutoff: datetime  # "overdue" is judged at min(end of the week, now)

    @classmethod
    def of(cls, policy: Policy, week: Week, now: datetime) -> Periods:
        n = policy.digest.window_weeks
        weeks = tuple(week.previous(policy, k) for k in range(n - 1, -1, -1))
        previous_start = week.previous(policy, n).window_start(n, policy)
        return cls(week, weeks, weeks[0].start, previous_start, min(week.end, ensure_utc(now)))

    @property
    def window_minutes(self) -> int:
        """The window's real length (a DST week is 60 minutes shorter or longer)."""
        return int((self.week.end - self.window_start).total_seconds()) // 60


def build(session: Session, policy: Policy, week: Week, *, now: datetime) -> Digest:
    """The digest of ``week``; ``now`` judges what is overdue and stamps ``generated_at``."""
    now = ensure_utc(now)
    periods = Periods.of(policy, week, now)
    counts = _Counts.query(session, policy, periods)
    budget_lines, budget_notes = budgets(session, policy, periods.week, periods.window_start,
                                         periods.window_minutes)
    return Digest(
        week=week,
        timezone=policy.timezone,
        window_weeks=policy.digest.window_weeks,
        min_sample=policy.digest.min_sample,
        generated_at=now,
        incidents=incident_rows(session, week),
        private_count=counts.private_week,
        total_week=counts.total_week,
        total_window=counts.total_window,
        by_severity=counts.by_severity(policy),
        by_category=counts.by_category(policy),
        detection=counts.by_detection(),
        trends=trends(session, policy, periods),
        budgets=budget_lines,
        pipeline=pipeline(session, week, periods.cutoff),
        actions=actions(session, policy, week, periods.cutoff),
        repeats=repeats(session, periods),
        weekly=counts.weekly(policy),
        notes=budget_notes,
    )


# --- the week's incidents (one query) -----------------------------------------------------------


def incident_rows(session: Session, week: Week) -> list[IncidentRow]:
    """Every non-private incident declared in the week, oldest first, with its numbers."""
    query = (
        select(Incident.number, Incident.title, Incident.severity, Incident.category, Incident.services,
               Incident.status, Incident.detection, Incident.channel_id, Incident.started_at,
               Incident.detected_at, Incident.declared_at, Incident.acknowledged_at, Incident.mitigated_at,
               Incident.resolved_at, Postmortem.status.label("postmortem_status"))
        .select_from(Incident)
        .outerjoin(Postmortem, Postmortem.incident_id == Incident.id)
        .where(Incident.declared_at >= week.start, Incident.declared_at < week.end,
               Incident.private == False)  # noqa: E712  (SQL expression)
        .order_by(Incident.declared_at, Incident.number)
    )
    rows = []
    for row in session.execute(query):
        ttd, ttm, ttr = (metrics.duration_minutes(row, metric) for metric in LISTED_METRICS)
        rows.append(IncidentRow(
            number=row.number, title=row.title, severity=row.severity, category=row.category,
            services=tuple(row.services or ()), declared_at=row.declared_at, status=row.status,
            detection=row.detection, time_to_detect=ttd, time_to_mitigate=ttm, time_to_resolve=ttr,
            impact_minutes=metrics.impact_minutes(row), postmortem_status=row.postmortem_status,
            channel_id=row.channel_id))
    return rows


# --- counts (one query) -------------------------------------------------------------------------


@dataclass
class _Counts:
    """Incidents of the window grouped by (week of the window, severity, category, detection, private)."""

    periods: Periods
    rows: list[tuple[int, str, str, str, bool, int]]

    @classmethod
    def query(cls, session: Session, policy: Policy, periods: Periods) -> _Counts:
        # The week each incident falls in, from the exact local-midnight boundaries.
        bucket = case(*((Incident.declared_at < w.end, i) for i, w in enumerate(periods.weeks)), else_=-1)
        inner = (
            select(bucket.label("bucket"), Incident.severity.label("severity"),
                   func.coalesce(Incident.category, UNCATEGORISED).label("category"),
                   func.coalesce(Incident.detection, UNRECORDED).label("detection"),
                   Incident.private.label("private"))
            .where(Incident.declared_at >= periods.window_start, Incident.declared_at < periods.week.end)
            .subquery("windowed")
        )
        keys = (inner.c.bucket, inner.c.severity, inner.c.category, inner.c.detection, inner.c.private)
        rows = session.execute(select(*keys, func.count()).group_by(*keys)).all()
        return cls(periods, [(int(b), str(s), str(c), str(d), bool(p), int(n)) for b, s, c, d, p, n in rows])

    @property
    def _last(self) -> int:
        return len(self.periods.weeks) - 1

    @property
    def total_week(self) -> int:
        return sum(n for b, *_rest, n in self.rows if b == self._last)

    @property
    def total_window(self) -> int:
        return sum(n for *_rest, n in self.rows)

    @property
    def private_week(self) -> int:
        return sum(n for b, _s, _c, _d, private, n in self.rows if b == self._last and private)

    def _by(self, index: int) -> tuple[dict[str, int], dict[str, int]]:
        week: dict[str, int] = defaultdict(int)
        window: dict[str, int] = defaultdict(int)
        for row in self.rows:
            window[row[index]] += row[-1]
            if row[0] == self._last:
                week[row[index]] += row[-1]
        return week, window

    def by_severity(self, policy: Policy) -> list[Count]:
        """Every policy severity in policy order (zeros included), then any no longer in the policy."""
        week, window = self._by(1)
        keys = list(policy.severity_ids) + sorted(set(window) - set(policy.severity_ids))
        return [Count(key, week.get(key, 0), window.get(key, 0)) for key in keys]

    def by_category(self, policy: Policy) -> list[Count]:
        """Categories with an incident in the window, in taxonomy order; unknown ids, then uncategorised."""
        week, window = self._by(2)
        known = [c.id for c in policy.taxonomy.categories if c.id in window]
        other = sorted(set(window) - set(known) - {UNCATEGORISED})
        keys = known + other + ([UNCATEGORISED] if UNCATEGORISED in window else [])
        return [Count(key, week.get(key, 0), window.get(key, 0)) for key in keys]

    def by_detection(self) -> list[Count]:
        """monitoring, customer, staff (zeros included), other recorded values, unrecorded."""
        week, window = self._by(3)
        keys = list(DETECTIONS) + sorted(set(window) - set(DETECTIONS) - {UNRECORDED}) + [UNRECORDED]
        return [Count(key, week.get(key, 0), window.get(key, 0)) for key in keys]

    def weekly(self, policy: Policy) -> list[WeekCount]:
        severities = list(policy.severity_ids)
        severities += sorted({row[1] for row in self.rows} - set(severities))
        counts = [dict.fromkeys(severities, 0) for _ in self.periods.weeks]
        for bucket, severity, *_rest, n in self.rows:
            if 0 <= bucket < len(counts):  # always: the query reads only the window
                counts[bucket][severity] += n
        return [WeekCount(week.label, by_severity) for week, by_severity in zip(self.periods.weeks, counts)]


# --- trends (three distributions per metric) ----------------------------------------------------


def trends(session: Session, policy: Policy, periods: Periods) -> list[Trend]:
    week = periods.week
    result = []
    for metric in metrics.METRICS:
        this_week = metrics.distribution(session, week.start, week.end, metric)
        window = metrics.distribution(session, periods.window_start, week.end, metric)
        previous = metrics.distribution(session, periods.previous_start, periods.window_start, metric)
        enough = min(window.n, previous.n) >= policy.digest.min_sample
        result.append(Trend(metric, this_week, window, previous, enough,
                            trend_note(window, previous, policy.digest.window_weeks, policy.digest.min_sample)))
    return result


def trend_note(window: Distribution, previous: Distribution, weeks: int, min_sample: int) -> str:
    """The comparison in words, or why there is none. Medians only: never a mean."""
    before = "the previous week" if weeks == 1 else f"the previous {weeks} weeks"
    too_few = f"too few incidents to compare (fewer than {min_sample})"
    if window.n < min_sample:
        return f"n = {window.n}: {too_few}"
    if previous.n < min_sample:
        return f"n = {window.n} vs {previous.n} in {before}: {too_few}"
    return (f"median {minutes_text(window.median)} min vs {minutes_text(previous.median)} min in {before} "
            f"(n = {window.n} vs {previous.n})")


def minutes_text(value: float | None) -> str:
    """Whole minutes from 100 up (``1,440``), one decimal below (``32.5``, ``42``)."""
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}".removesuffix(".0")


# --- repeats (one query) ------------------------------------------------------------------------


def repeats(session: Session, periods: Periods) -> list[Repeat]:
    """Services and categories with an incident this week and at least one other in the window.

    Decided on every incident (private ones included); the numbers listed are the
    non-private ones, newest first. Services first, then categories; most incidents first.
    """
    week = periods.week
    in_week = case((Incident.declared_at >= week.start, 1), else_=0).label("in_week")
    in_window = and_(Incident.declared_at >= periods.window_start, Incident.declared_at < week.end)
    listed = metrics.listed_services(session)
    columns = (Incident.number.label("number"), Incident.private.label("private"),
               Incident.declared_at.label("declared_at"), in_week)
    keyed = union_all(
        select(literal("service", String).label("kind"), listed.c.value.label("name"), *columns)
        .select_from(Incident).join(listed, true()).where(in_window),
        select(literal("category", String).label("kind"), Incident.category.label("name"), *columns)
        .where(in_window, Incident.category.is_not(None)),
    ).cte("keyed")
    repeated = (
        select(keyed.c.kind, keyed.c.name, func.count().label("total"))
        .group_by(keyed.c.kind, keyed.c.name)
        .having(func.sum(keyed.c.in_week) > 0, func.count() >= 2)
        .subquery("repeated")
    )
    public = and_(keyed.c.kind == repeated.c.kind, keyed.c.name == repeated.c.name,
                  keyed.c.private == False)  # noqa: E712  (SQL expression)
    query = (
        select(repeated.c.kind, repeated.c.name, repeated.c.total, keyed.c.number)
        .select_from(repeated).outerjoin(keyed, public)
        .order_by(repeated.c.kind, repeated.c.name, keyed.c.declared_at.desc(), keyed.c.number.desc())
    )
    found: dict[tuple[str, str], tuple[int, list[int]]] = {}
    for kind, name, total, number in session.execute(query):
        _total, numbers = found.setdefault((str(kind), str(name)), (int(total), []))
        if number is not None:
            numbers.append(int(number))
    order = {"service": 0, "category": 1}
    keys = sorted(found, key=lambda key: (order.get(key[0], 2), -found[key][0], key[1]))
    return [Repeat(kind, name, tuple(found[(kind, name)][1])) for kind, name in keys]

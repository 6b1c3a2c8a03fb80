"""Incident metrics: durations between milestones, customer impact, and aggregations.

Every duration is a (start → end) pair of stored milestones (``PAIRS``, documented in
docs/metrics.md). A milestone that is missing gives no number (``None``, or the row
left out of ``n``) rather than a guessed one. The same pairs drive the per-incident
functions and the SQL aggregations, so the digest's distributions and an incident's
own numbers can never disagree.

The aggregations run in SQL (GROUP BY, percentiles) on SQLite and PostgreSQL alike,
because the digest runs them over the whole incident history.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Float, Integer, Numeric, and_, cast, extract, func, literal, or_, select, true
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from incidentbot.models import Incident
from incidentbot.timeutil import UTCDateTime, ensure_utc

Metric = Literal["time_to_detect", "time_to_acknowledge", "time_to_mitigate", "time_to_resolve"]
CountField = Literal["severity", "category", "service", "detection", "status"]

# Each side is a chain of milestones: the first one that is set is used.
PAIRS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # Impact began → someone noticed (declaring it is noticing it at the latest).
    # Without started_at there is no start, so no number.
    "time_to_detect": (("started_at",), ("detected_at", "declared_at")),
    "time_to_acknowledge": (("declared_at",), ("acknowledged_at",)),
    "time_to_mitigate": (("started_at", "declared_at"), ("mitigated_at",)),
    "time_to_resolve": (("started_at", "declared_at"), ("resolved_at",)),
}
METRICS: tuple[str, ...] = tuple(PAIRS)
# Customer impact: from when it began until it stopped (mitigated, or resolved at the latest).
IMPACT: tuple[tuple[str, ...], tuple[str, ...]] = (("started_at", "declared_at"), ("mitigated_at", "resolved_at"))

UNCATEGORISED = "uncategorised"  # counts_by("category") for incidents without one
UNRECORDED = "unrecorded"  # counts_by("detection") for incidents where it was not recorded
FIELDS: tuple[str, ...] = ("severity", "category", "service", "detection", "status")

MEDIAN, P90 = 0.5, 0.9
_DECIMALS = 6  # minutes are rounded to 6 decimals (60 µs), so both databases print the same


@dataclass(frozen=True)
class Durations:
    time_to_detect: timedelta | None
    time_to_acknowledge: timedelta | None
    time_to_mitigate: timedelta | None
    time_to_resolve: timedelta | None


@dataclass(frozen=True)
class Distribution:
    """Durations in minutes; ``n`` counts only incidents that have both milestones."""

    n: int
    median: float | None
    p90: float | None
    minimum: float | None
    maximum: float | None


# --- one incident ------------------------------------------------------------------------------


def durations(incident: Incident) -> Durations:
    return Durations(**{metric: duration(incident, metric) for metric in METRICS})


def duration(incident: Incident, metric: str) -> timedelta | None:
    """One metric of one incident; None when a milestone is missing or the end is before the start."""
    start_chain, end_chain = PAIRS[metric]
    return _between(_first(incident, start_chain), _first(incident, end_chain))


def duration_minutes(incident: Incident, metric: str) -> float | None:
    """``duration`` in minutes, rounded as the aggregations round them (6 decimals)."""
    span = duration(incident, metric)
    return None if span is None else _minutes(span.total_seconds())


def impact_minutes(incident: Incident) -> float | None:
    """Customer-impact minutes: started (or declared) → mitigated (or resolved); None while ongoing."""
    span = _between(_first(incident, IMPACT[0]), _first(incident, IMPACT[1]))
    return None if span is None else _minutes(span.total_seconds())


def _first(incident: Incident, chain: Sequence[str]) -> datetime | None:
    for name in chain:
        value = getattr(incident, name)
        if value is not None:
            return value
    return None


def _between(start: datetime | None, end: datetime | None) -> timedelta | None:
    if start is None or end is None:
        return None
    # In UTC: Python subtracts two times that share a tzinfo by their wall clocks,
    # which is an hour off across a DST change (01:30 CET → 03:30 CEST is one hour).
    start, end = ensure_utc(start), ensure_utc(end)
    return None if end < start else end - start


# --- aggregations over a period (SQL) --------------------------------------------------------


def counts_by(
    session: Session, start: datetime, end: datetime, field: CountField, *, include_private: bool = True
) -> dict[str, int]:
    """Incidents declared in ``[start, end)`` counted by ``field``, largest count first.

    ``service`` counts an incident once for each service it lists (so the counts may
    add up to more than the number of incidents, and an incident without services is
    not counted). A missing category is ``"uncategorised"``, a missing detection
    ``"unrecorded"``.
    """
    start, end = _window(start, end)
    if field == "service":
        services = _services(session)
        key: ColumnElement[Any] = services.c.value
        query = select(key, func.count()).select_from(Incident).join(services, true())
    elif field in FIELDS:
        column = getattr(Incident, field)
        fallback = {"category": UNCATEGORISED, "detection": UNRECORDED}.get(field)
        key = func.coalesce(column, fallback) if fallback else column
        query = select(key, func.count()).select_from(Incident)
    else:
        raise ValueError(f"unknown field {field!r}; expected one of {', '.join(FIELDS)}")
    query = _declared_within(query, start, end, include_private).group_by(key)
    rows = session.execute(query).all()
    return dict(sorted(((str(name), int(count)) for name, count in rows), key=lambda item: (-item[1], item[0])))


def distribution(
    session: Session,
    start: datetime,
    end: datetime,
    metric: Metric,
    *,
    severity: str | None = None,
    include_private: bool = True,
) -> Distribution:
    """Median, p90, min and max (minutes) of ``metric`` over incidents declared in ``[start, end)``.

    Percentiles interpolate linearly between the two nearest ranks (PostgreSQL's
    ``percentile_cont``; numpy's default): position ``p × (n − 1)`` in the sorted values.
    """
    start, end = _window(start, end)
    seconds = _durations_query(session, start, end, metric, severity=severity, include_private=include_private)
    if _dialect(session) == "postgresql":
        return _distribution_percentile_cont(session, seconds)
    return _distribution_ranked(session, seconds)


def impact_by_service(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    include_private: bool = True,
    ongoing_until: datetime | None = None,
) -> dict[str, float]:
    """Customer-impact minutes per service inside ``[start, end)``, largest first.

    An incident counts when its impact window (started or declared → mitigated or
    resolved) overlaps ``[start, end)``, and only for the part inside it. Every service
    the incident lists is charged the incident's full (clipped) impact. Incidents whose
    impact has not ended are left out, unless ``ongoing_until`` (usually now) is given:
    then their impact runs until that time.
    """
    clipped, services, query = _impact_query(session, start, end, include_private, ongoing_until)
    rows = session.execute(query.add_columns(services.c.value, func.sum(clipped)).group_by(services.c.value)).all()
    minutes = ((str(name), _minutes(float(total))) for name, total in rows)
    return dict(sorted(minutes, key=lambda item: (-item[1], item[0])))


@dataclass(frozen=True)
class IncidentImpact:
    """One incident's clipped customer impact charged to one service (``impact_by_incident``)."""

    number: int
    private: bool
    service: str
    minutes: float


def impact_by_incident(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    services: Sequence[str] | None = None,
    include_private: bool = True,
    ongoing_until: datetime | None = None,
) -> list[IncidentImpact]:
    """``impact_by_service`` split by incident: one row per (incident, service), largest first.

    The same overlap and clipping rules, so for each service the rows add up to its
    ``impact_by_service`` total. ``services`` keeps only those services (None: all).
    """
    clipped, listed, query = _impact_query(session, start, end, include_private, ongoing_until)
    query = query.add_columns(Incident.number, Incident.private, listed.c.value, clipped)
    if services is not None:
        query = query.where(listed.c.value.in_(list(services)))
    rows = [IncidentImpact(int(number), bool(private), str(service), _minutes(float(seconds)))
            for number, private, service, seconds in session.execute(query).all()]
    return sorted(rows, key=lambda row: (-row.minutes, row.service, -row.number))


def _impact_query(
    session: Session, start: datetime, end: datetime, include_private: bool, ongoing_until: datetime | None
):
    """The clipped impact (seconds), the services table and the filtered query, without columns."""
    start, end = _window(start, end)
    impact_start = _coalesce(IMPACT[0])
    # Written exactly as the expression index on it (see docs/metrics.md), so a recent
    # window reads only the incidents whose impact ended after it began.
    stored_end = _coalesce(IMPACT[1])
    lower = literal(start, UTCDateTime)
    upper = literal(end, UTCDateTime)
    if ongoing_until is None:
        impact_end, ended_after_start = stored_end, stored_end > lower
    else:
        impact_end = func.coalesce(stored_end, literal(ensure_utc(ongoing_until), UTCDateTime))
        ended_after_start = or_(stored_end > lower, and_(stored_end.is_(None), impact_end > lower))
    dialect = _dialect(session)
    greatest, least = (func.greatest, func.least) if dialect == "postgresql" else (func.max, func.min)
    clipped = _seconds(dialect, least(impact_end, upper), greatest(impact_start, lower))
    services = _services(session)
    query = (
        select()
        .select_from(Incident)
        .join(services, true())
        .where(ended_after_start, impact_start < upper, impact_end > impact_start)
    )
    if not include_private:
        query = query.where(Incident.private == False)  # noqa: E712  (SQL expression)
    return clipped, services, query


# --- the SQL pieces -----------------------------------------------------------------------------


def _window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = ensure_utc(start), ensure_utc(end)  # naive datetimes are refused (ValueError)
    if end <= start:
        raise ValueError(f"the window must end after it starts ({start.isoformat()} → {end.isoformat()})")
    return start, end


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _declared_within(query, start: datetime, end: datetime, include_private: bool):
    query = query.where(Incident.declared_at >= start, Incident.declared_at < end)
    if not include_private:
        query = query.where(Incident.private == False)  # noqa: E712  (SQL expression)
    return query


def listed_services(session: Session):
    """The elements of ``incident.services`` (a JSON list) as a table with a ``value`` column,
    to join to ``incident`` (``json_each`` on SQLite, ``json_array_elements_text`` on PostgreSQL)."""
    return _services(session)


def _services(session: Session):
    """The elements of ``incident.services`` (a JSON list) as a table with a ``value`` column."""
    name = "json_array_elements_text" if _dialect(session) == "postgresql" else "json_each"
    return getattr(func, name)(Incident.services).table_valued("value", name="service")


def _coalesce(chain: Sequence[str]) -> ColumnElement[Any]:
    columns = [getattr(Incident, name) for name in chain]
    return columns[0] if len(columns) == 1 else func.coalesce(*columns)


def _seconds(dialect: str, end: ColumnElement[Any], start: ColumnElement[Any]) -> ColumnElement[Any]:
    """``end - start`` in seconds, to the millisecond (SQLite's date functions resolve milliseconds)."""
    if dialect == "postgresql":
        return cast(func.round(cast(extract("epoch", end - start), Numeric), 3), Float)
    # SQLite keeps naive UTC text; julianday() reads it as UTC days.
    return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)


def _durations_query(
    session: Session, start: datetime, end: datetime, metric: str, *, severity: str | None, include_private: bool
):
    """One row per incident with both milestones: its ``metric`` in seconds, as ``s``."""
    if metric not in PAIRS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    first, last = (_coalesce(chain) for chain in PAIRS[metric])
    seconds = _seconds(_dialect(session), last, first).label("s")
    query = select(seconds).select_from(Incident).where(first.is_not(None), last.is_not(None), last >= first)
    if severity is not None:
        query = query.where(Incident.severity == severity)
    return _declared_within(query, start, end, include_private).subquery("durations")


def _distribution_percentile_cont(session: Session, durations) -> Distribution:
    s = durations.c.s
    n, median, p90, low, high = session.execute(
        select(
            func.count(s),
            func.percentile_cont(MEDIAN).within_group(s),
            func.percentile_cont(P90).within_group(s),
            func.min(s),
            func.max(s),
        )
    ).one()
    if not n:
        return Distribution(0, None, None, None, None)
    return Distribution(int(n), *(_minutes(float(value)) for value in (median, p90, low, high)))


def _distribution_ranked(session: Session, durations) -> Distribution:
    """The same numbers as ``percentile_cont``, from a window-function query (any SQL database).

    The database sorts and numbers the rows and hands back only the few it needs (the
    two ranks around each percentile, the first and the last); the interpolation between
    two numbers happens here, with PostgreSQL's formula ``lo + frac × (hi − lo)``.
    """
    s = durations.c.s
    ranked = select(
        s.label("s"),
        (func.row_number().over(order_by=s) - 1).label("i"),
        func.count().over().label("n"),
    ).subquery("ranked")
    i, n = ranked.c.i, ranked.c.n
    wanted = [literal(0), n - 1]
    for p in (MEDIAN, P90):
        low = cast(literal(p, Float) * (n - 1), Integer)  # floor: the position is never negative
        wanted += [low, low + 1]
    rows = session.execute(select(n, i, ranked.c.s).where(i.in_(wanted))).all()
    if not rows:
        return Distribution(0, None, None, None, None)
    count = int(rows[0][0])
    value = {int(rank): float(seconds) for _n, rank, seconds in rows}
    median, p90 = (_interpolate(value, p, count) for p in (MEDIAN, P90))
    return Distribution(count, _minutes(median), _minutes(p90), _minutes(value[0]), _minutes(value[count - 1]))


def _interpolate(value: dict[int, float], p: float, n: int) -> float:
    position = p * (n - 1)
    low, high = math.floor(position), math.ceil(position)
    if high == low:
        return value[low]
    return value[low] + (position - low) * (value[high] - value[low])


def _minutes(seconds: float) -> float:
    return round(seconds / 60.0, _DECIMALS)

"""Formatting shared by every digest format: durations, distributions, local dates, labels.

Nothing here computes a statistic; it only turns the values ``core.digest`` computed into
words. ``public`` is the one exception to "format only": it drops what a private
incident could leak (a title on a private postmortem line) before any renderer or
operator template sees the digest.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from incidentbot.core.digest_report import Digest, Pipeline, PostmortemLine
from incidentbot.core.metrics import Distribution
from incidentbot.core.policy import Policy

METRIC_LABELS = {
    "time_to_detect": "Time to detect",
    "time_to_acknowledge": "Time to acknowledge",
    "time_to_mitigate": "Time to mitigate",
    "time_to_resolve": "Time to resolve",
}
DETECTION_LABELS = {"monitoring": "Monitoring", "customer": "Customers", "staff": "Staff",
                    "unrecorded": "Not recorded"}
PIPELINE_GROUPS = (("overdue", "Overdue"), ("due_this_week", "Due this week"),
                   ("published", "Published this week"), ("not_needed", "Marked not needed this week"))
POSTMORTEM_STATUS = {"scheduled": "scheduled", "drafted": "drafted", "in_review": "in review",
                     "published": "published", "not_needed": "not needed"}
OVER_BUDGET = "over budget"
MODEL_NOTE = "Written by a model from the numbers above."


# --- numbers -------------------------------------------------------------------------------------


def duration(minutes: float | None) -> str:
    """``42 min``, ``3 h 5 min``, ``2 d 4 h``; ``—`` when there is no number."""
    if minutes is None or not math.isfinite(minutes):
        return "—"
    if 0 < minutes < 0.5:
        return "< 1 min"
    sign, total = ("-" if minutes < 0 else ""), int(round(abs(minutes)))
    if total < 60:
        return f"{sign}{total} min"
    hours, mins = divmod(total, 60)
    if hours < 48:
        return f"{sign}{hours} h" + (f" {mins} min" if mins else "")
    days, hours = divmod(hours, 24)
    return f"{sign}{days} d" + (f" {hours} h" if hours else "")


def distribution(dist: Distribution, min_sample: int) -> str:
    """``median 42 min · p90 3 h 5 min · 5 min – 9 h (n = 14)``.

    Below ``min_sample`` the p90 is left out: with a handful of values it is one of them,
    not a percentile. One value is shown as itself.
    """
    if dist.n == 0 or dist.median is None:
        return "no data (n = 0)"
    if dist.n == 1:
        return f"{duration(dist.median)} (n = 1)"
    parts = [f"median {duration(dist.median)}"]
    if dist.n >= min_sample and dist.p90 is not None:
        parts.append(f"p90 {duration(dist.p90)}")
    if dist.minimum is not None and dist.maximum is not None:
        parts.append(f"{duration(dist.minimum)} – {duration(dist.maximum)}")
    return " · ".join(parts) + f" (n = {dist.n})"


def percent(slo: float) -> str:
    """``0.999`` → ``99.9%``."""
    return f"{slo * 100:.4f}".rstrip("0").rstrip(".") + "%"


def score(value: float) -> str:
    return f"{value:.1f}"


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def incident_ref(number: int | None) -> str:
    return f"INC-{number}" if number is not None else "a private incident"


# --- time ----------------------------------------------------------------------------------------


def zone(digest: Digest) -> ZoneInfo:
    try:
        return ZoneInfo(digest.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local(moment: datetime, tz: ZoneInfo) -> datetime:
    if moment.tzinfo is None:  # the data model is aware; be lenient with hand-built digests
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(tz)


def day(moment: datetime | None, tz: ZoneInfo) -> str:
    """``Fri 20 Nov``."""
    if moment is None:
        return "—"
    value = local(moment, tz)
    return f"{value:%a} {value.day} {value:%b}"


def when(moment: datetime | None, tz: ZoneInfo) -> str:
    """``Fri 20 Nov 14:05``."""
    if moment is None:
        return "—"
    return f"{day(moment, tz)} {local(moment, tz):%H:%M}"


def week_span(digest: Digest) -> str:
    """``16–22 Nov 2026``, ``30 Nov – 6 Dec 2026``, ``29 Dec 2025 – 4 Jan 2026``."""
    tz = zone(digest)
    first = local(digest.week.start, tz).date()
    last = (local(digest.week.end, tz) - timedelta(days=1)).date()
    if first.year != last.year:
        return f"{first.day} {first:%b %Y} – {last.day} {last:%b %Y}"
    if first.month != last.month:
        return f"{first.day} {first:%b} – {last.day} {last:%b %Y}"
    return f"{first.day}–{last.day} {last:%b %Y}"


# --- names from the policy (ids that are no longer in it are shown as they are) -------------------


def severity_name(policy: Policy, severity_id: str) -> str:
    try:
        severity = policy.severity(severity_id)
    except (KeyError, ValueError):
        return severity_id
    return f"{severity.id} · {severity.name}"


def category_name(policy: Policy, category_id: str | None) -> str:
    if not category_id or category_id == "uncategorised":
        return "Uncategorised"
    try:
        return policy.category(category_id).name
    except KeyError:
        return category_id


def status_name(policy: Policy, status_id: str) -> str:
    try:
        return policy.status(status_id).name
    except KeyError:
        return status_id


def detection_name(kind: str | None) -> str:
    return DETECTION_LABELS.get(kind or "unrecorded", (kind or "").capitalize())


def metric_name(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " ").capitalize())


def postmortem_status(status: str | None) -> str:
    return POSTMORTEM_STATUS.get(status or "", status or "none")


# --- privacy -------------------------------------------------------------------------------------


def public(digest: Digest) -> Digest:
    """The digest with nothing of a private incident but its count and minutes.

    ``core.digest`` already leaves private incidents out of the incident list and gives
    their postmortem lines no number, title or owner; a title or owner that came along
    anyway is dropped here, so neither a format nor an operator's template can show it.
    """

    def line(pm: PostmortemLine) -> PostmortemLine:
        return replace(pm, title=None, owner=None) if pm.incident_number is None else pm

    pipeline = digest.pipeline
    cleaned = Pipeline(**{name: tuple(line(pm) for pm in getattr(pipeline, name))
                          for name in ("due_this_week", "overdue", "published", "not_needed")})
    return replace(digest, pipeline=cleaned)


def channels(digest: Digest) -> dict[int, str]:
    """Incident number → channel id, for the incidents this digest lists."""
    return {row.number: row.channel_id for row in digest.incidents if row.channel_id}

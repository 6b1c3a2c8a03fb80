"""The weekly digest as data: what ``core.digest.build`` computes and every renderer shows.

A digest covers one ISO week in the organisation's timezone (Monday 00:00 to the next
Monday 00:00 local, so a DST week is 167 or 169 hours long), and a rolling window of
``window_weeks`` weeks ending with it. Renderers (Slack blocks, Markdown, HTML, JSON)
only format these values; none of them computes anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from incidentbot.core.errors import InvalidInput
from incidentbot.core.metrics import Distribution
from incidentbot.core.policy import Policy
from incidentbot.timeutil import ensure_utc

_WEEK = re.compile(r"(\d{4})-?W(\d{1,2})", re.I)


@dataclass(frozen=True)
class Week:
    """An ISO week; ``start``/``end`` are its local Monday midnights, as UTC."""

    year: int
    number: int
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @classmethod
    def of(cls, year: int, number: int, policy: Policy) -> Week:
        monday = date.fromisocalendar(year, number, 1)
        return cls(year, number, local_midnight(monday, policy), local_midnight(monday + timedelta(days=7), policy))

    @classmethod
    def containing(cls, moment: datetime, policy: Policy) -> Week:
        year, number, _ = ensure_utc(moment).astimezone(policy.tz).date().isocalendar()
        return cls.of(year, number, policy)

    @classmethod
    def parse(cls, text: str, policy: Policy) -> Week:
        """``2026-W47`` or ``2026W47`` (case-insensitive)."""
        match = _WEEK.fullmatch(text.strip())
        try:
            if match is None:
                raise ValueError(text)
            return cls.of(int(match[1]), int(match[2]), policy)
        except ValueError:
            raise InvalidInput("week", f"`{text.strip()[:20]}` is not an ISO week; use e.g. `2026-W47`.") from None

    def previous(self, policy: Policy, weeks: int = 1) -> Week:
        year, number, _ = (self.monday - timedelta(weeks=weeks)).isocalendar()
        return Week.of(year, number, policy)

    def window_start(self, weeks: int, policy: Policy) -> datetime:
        """The start (UTC) of the ``weeks``-week window that ends with this week."""
        return local_midnight(self.monday - timedelta(weeks=weeks - 1), policy)


def local_midnight(day: date, policy: Policy) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=policy.tz).astimezone(timezone.utc)


@dataclass(frozen=True)
class IncidentRow:
    """One (non-private) incident declared in the week."""

    number: int
    title: str  # as typed; renderers escape it
    severity: str
    category: str | None
    services: tuple[str, ...]
    declared_at: datetime
    status: str
    detection: str | None  # monitoring | customer | staff | None (not recorded)
    time_to_detect: float | None  # minutes; None when a milestone is missing
    time_to_mitigate: float | None
    time_to_resolve: float | None
    impact_minutes: float | None
    postmortem_status: str | None  # None: no postmortem
    channel_id: str | None


@dataclass(frozen=True)
class Count:
    key: str  # a severity id, category id (or "uncategorised"), detection kind, ...
    week: int
    window: int


@dataclass(frozen=True)
class Trend:
    """A duration metric this window against the window before; ``enough`` is n >= min_sample on both."""

    metric: str  # time_to_detect | time_to_acknowledge | time_to_mitigate | time_to_resolve
    week: Distribution
    window: Distribution
    previous_window: Distribution
    enough: bool
    note: str  # e.g. "median 42 min, down from 57 (n = 14 vs 12)" or "too few incidents to compare (n = 3 < 10)"


@dataclass(frozen=True)
class BudgetShare:
    incident_number: int | None  # None: a private incident (counted, never named)
    minutes: float


@dataclass(frozen=True)
class Budget:
    """One service with an SLO: its error budget over the window, in minutes."""

    service: str
    slo: float
    budget_minutes: float  # window length × (1 - slo)
    consumed_week_minutes: float  # customer impact of this week's incidents
    consumed_window_minutes: float
    left_minutes: float  # budget - consumed in the window (negative when over)
    shares: tuple[BudgetShare, ...]  # this week's incidents, largest first
    over: bool


@dataclass(frozen=True)
class PostmortemLine:
    incident_number: int | None  # None: private
    title: str | None
    owner: str | None
    due_at: datetime
    status: str


@dataclass(frozen=True)
class Pipeline:
    due_this_week: tuple[PostmortemLine, ...]
    overdue: tuple[PostmortemLine, ...]
    published: tuple[PostmortemLine, ...]  # published this week
    not_needed: tuple[PostmortemLine, ...]  # marked not needed this week


@dataclass(frozen=True)
class BacklogLine:
    label: str  # BL-<id>
    title: str
    score: float
    change: str  # what changed this week: "new", "+1 incident (INC-57)", "score 12.1 → 15.2", "unchanged"
    incidents: tuple[int, ...]  # non-private incident numbers


@dataclass(frozen=True)
class Actions:
    opened: int  # action items created this week
    closed: int  # done or won't do this week
    overdue: int  # open and past due at the end of the week
    top: tuple[BacklogLine, ...]  # top 5 open backlog items by score
    recurred: tuple[BacklogLine, ...]  # backlog items linked to this week's incidents and to earlier ones


@dataclass(frozen=True)
class Repeat:
    kind: str  # "service" | "category"
    name: str
    incident_numbers: tuple[int, ...]  # this week's and earlier ones in the window, newest first


@dataclass(frozen=True)
class WeekCount:
    """Incidents declared in one week of the window, by severity (for the chart)."""

    week: str  # "2026-W47"
    by_severity: dict[str, int]


@dataclass
class Digest:
    week: Week
    timezone: str
    window_weeks: int
    min_sample: int
    generated_at: datetime
    incidents: list[IncidentRow]
    private_count: int  # private incidents this week: a count only
    total_week: int  # all incidents this week, private included
    total_window: int
    by_severity: list[Count]
    by_category: list[Count]
    detection: list[Count]
    trends: list[Trend]
    budgets: list[Budget]
    pipeline: Pipeline
    actions: Actions
    repeats: list[Repeat]
    weekly: list[WeekCount]  # every week of the window, oldest first, zeros included
    narrative: str | None = None  # written by a model from this data, never from channel text
    notes: list[str] = field(default_factory=list)

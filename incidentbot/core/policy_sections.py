"""The sections of the organisation policy (see ``policy.py`` for the whole and the loader).

Each model checks the shape of its own values. Rules that compare several entries
(unique ids, exactly one lead, ...) live in ``policy.py`` because only there is the
full key path known for the error message.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from incidentbot.core.policy_values import (
    RESTRICTABLE_ACTIONS,
    WEEKDAYS,
    Action,
    ChannelRef,
    ClockTime,
    Emoji,
    Name,
    NamePattern,
    ServiceName,
    SeverityId,
    Slug,
    Text,
    UserId,
    UsergroupId,
    Weekday,
    clock,
)


class Section(BaseModel):
    # extra="forbid" turns a typo in the TOML into an error instead of a silently ignored key;
    # frozen because one Policy object is shared by every handler and job.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Severity(Section):
    id: SeverityId
    name: Name
    description: Text = ""
    postmortem_required: bool = False
    # Default policy: SEV1 reviewed within 3 calendar days, SEV2 within 5 business days.
    postmortem_due_days: int = Field(default=5, gt=0)
    postmortem_due_business_days: bool = True
    update_every_minutes: int = Field(default=60, gt=0)


class Status(Section):
    id: Slug
    name: Name
    initial: bool = False
    final: bool = False
    # "resolved" counts for metrics (time to resolve) and triggers the postmortem;
    # "final" means nothing follows (closed).
    resolved: bool = False
    description: Text = ""


class Category(Section):
    id: Slug
    name: Name
    description: Text = ""
    # Incidents of this category get a private channel and no public announcement
    # unless the declarer says otherwise.
    private_by_default: bool = False


def _default_categories() -> list[Category]:
    rows = [
        ("code-deploy", "Code deploy", "A release of application code changed behaviour."),
        ("config-change", "Configuration change", "A configuration, feature flag or secret changed."),
        ("capacity-load", "Capacity / load", "Traffic or data volume exceeded what the system could serve."),
        ("dependency-third-party", "Dependency / third party", "An upstream service or vendor failed or changed."),
        ("infrastructure-hardware-network", "Infrastructure / hardware / network",
         "Hosts, disks, cloud resources or the network failed."),
        ("data-pipeline-integrity", "Data pipeline / integrity", "Data was late, lost, duplicated or corrupted."),
        ("performance-degradation", "Performance degradation", "The system slowed down without a clear change."),
        ("time-certificates-expiry", "Time / certificates / expiry",
         "A certificate, credential, domain or licence expired, or clocks disagreed."),
        ("security", "Security", "A vulnerability, intrusion or leak, or its mitigation."),
        ("automation-tooling", "Automation / tooling", "Scripts, CI/CD or operational tooling misbehaved."),
        ("unknown", "Unknown", "Not classified yet; set a category before the postmortem."),
    ]
    # Security incidents may concern an unpatched vulnerability: keep them private by default.
    return [Category(id=i, name=n, description=d, private_by_default=i == "security") for i, n, d in rows]


DEFAULT_TAGS = ["cascading-failure", "near-miss", "detected-by-monitoring", "detected-by-customer",
                "detected-by-staff"]


class Taxonomy(Section):
    categories: list[Category] = Field(default_factory=_default_categories, min_length=1)
    tags: list[Slug] = Field(default_factory=lambda: list(DEFAULT_TAGS))
    default_category: Slug = "unknown"


class Service(Section):
    name: ServiceName
    team: Name
    slo: float = Field(gt=0, lt=1)
    # Tier 1 = most critical; action items on tier-1 services get the shortest due dates.
    tier: int = Field(default=2, ge=1)
    description: Text = ""

    @property
    def error_budget(self) -> float:
        """Fraction of the window the service may be unavailable (1 - SLO)."""
        return 1.0 - self.slo


class Role(Section):
    id: Slug
    name: Name
    description: Text = ""
    lead: bool = False


class Channels(Section):
    name_pattern: NamePattern = "inc-{date}-{slug}"
    announcement: ChannelRef = "incidents"
    # Private incidents must not leak their title through the channel name, hence {number}.
    private_name_pattern: NamePattern = "inc-{date}-{number}"


class Digest(Section):
    channel: ChannelRef = "incident-digest"
    day: Weekday = "mon"
    time: ClockTime = "09:00"
    window_weeks: int = Field(default=12, gt=0)
    # Below this many incidents the digest lists them instead of showing distributions.
    min_sample: int = Field(default=10, ge=1)

    @property
    def time_of_day(self) -> dt.time:
        return clock(self.time)

    @property
    def weekday(self) -> int:
        """0 = Monday, as ``datetime.date.weekday()``."""
        return WEEKDAYS.index(self.day)


class BusinessHours(Section):
    start: ClockTime = "09:00"
    end: ClockTime = "17:00"
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]), min_length=1)
    holidays: list[dt.date] = Field(default_factory=list)

    @property
    def start_time(self) -> dt.time:
        return clock(self.start)

    @property
    def end_time(self) -> dt.time:
        return clock(self.end)

    @property
    def weekdays(self) -> frozenset[int]:
        return frozenset(WEEKDAYS.index(day) for day in self.days)

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays

    def is_open(self, local: dt.datetime) -> bool:
        """Whether ``local`` (already in the organisation's timezone) is within business hours."""
        return self.is_working_day(local.date()) and self.start_time <= local.time() < self.end_time


class TimelineRules(Section):
    capture_emoji: Emoji = "pushpin"


class Limits(Section):
    # Slack header blocks hold 150 characters and section text 3,000.
    title_max_chars: int = Field(default=120, gt=0, le=150)
    summary_max_chars: int = Field(default=2900, gt=0, le=3000)


class Permissions(Section):
    # Who may do these: the incident's lead, privileged_users, members of privileged_usergroup.
    # While an incident has no lead, anyone may, so a response is never blocked.
    restricted_actions: list[Action] = Field(default_factory=lambda: list(RESTRICTABLE_ACTIONS))
    privileged_users: list[UserId] = Field(default_factory=list)
    privileged_usergroup: UsergroupId = ""


class Nudges(Section):
    enabled: bool = True
    no_lead_minutes: int = Field(default=10, gt=0)
    idle_hours: int = Field(default=4, gt=0)
    snooze_minutes: int = Field(default=60, gt=0)


class Postmortems(Section):
    # Categories whose incidents always need a postmortem, in addition to the severities
    # with postmortem_required = true.
    required_categories: list[Slug] = Field(default_factory=list)
    # Who owns the postmortem: the holder of this role when the incident is resolved
    # (the declarer when nobody holds it). Reassignable afterwards.
    owner_role: Slug = "lead"
    # Length of the review meeting proposed in business hours before the due date.
    meeting_minutes: int = Field(default=60, gt=0)
    # The proposal is at least this many hours after resolving, so people can read the
    # draft first; when no such slot fits before the due date, the first free one is used.
    meeting_notice_hours: int = Field(default=24, ge=0)
    # "Draft not started" reminder: on the morning of the business day this many
    # business days before the due day (0: the due day itself).
    reminder_days_before_due: int = Field(default=2, ge=0)
    # An overdue postmortem is reminded to its owner first, then to the incident channel
    # this many business days later.
    overdue_channel_after_days: int = Field(default=1, gt=0)
    # false turns every postmortem reminder off (draft, meeting, overdue).
    reminders: bool = True
    # Publishing the postmortem also closes the incident.
    close_on_publish: bool = False


ACTION_ITEM_TYPES = ("preventative", "detective", "corrective", "process")
PRIORITIES = ("P1", "P2", "P3")
EFFORTS = ("S", "M", "L", "XL")
Priority = Annotated[str, BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v),
                     AfterValidator(lambda v: _one_of(v, PRIORITIES))]


def _one_of(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"must be one of {', '.join(allowed)}")
    return value


class ActionItemRules(Section):
    # Default policy: priority (P1) action items due in 4 weeks on tier-1 services, 8 otherwise.
    priority_due_weeks_by_tier: dict[Annotated[int, Field(ge=1)], Annotated[int, Field(gt=0)]] = Field(
        default_factory=lambda: {1: 4, 2: 8, 3: 8}
    )
    priority_due_weeks_default: int = Field(default=8, gt=0)
    # P2 and P3 items: weeks until due, whatever the tier.
    due_weeks_by_priority: dict[Priority, Annotated[int, Field(gt=0)]] = Field(
        default_factory=lambda: {"P2": 12, "P3": 26}
    )
    # Priority of an item created without one.
    default_priority: Priority = "P2"
    # Owners are reminded this many calendar days before the due date, on the due date
    # when overdue, and again every overdue_repeat_days while it stays overdue (0: once).
    remind_days_before_due: int = Field(default=3, ge=0)
    overdue_repeat_days: int = Field(default=7, ge=0)
    # "Snooze" in App Home silences an item's reminders for this many days.
    snooze_days: int = Field(default=7, gt=0)
    reminders: bool = True

    def priority_due_weeks(self, tier: int | None) -> int:
        """Weeks until a priority action item is due, for the most critical affected tier."""
        if tier is None:
            return self.priority_due_weeks_default
        return self.priority_due_weeks_by_tier.get(tier, self.priority_due_weeks_default)

    def due_weeks(self, priority: str, tier: int | None) -> int:
        if priority == "P1":
            return self.priority_due_weeks(tier)
        return self.due_weeks_by_priority.get(priority, self.priority_due_weeks_default)


def _weights(value: dict[str, float]) -> dict[str, float]:
    from incidentbot.core.backlog_score import DEFAULT_WEIGHTS, check_weights

    problems = check_weights(value)
    if problems:
        raise ValueError("; ".join(problems))
    return {**DEFAULT_WEIGHTS, **value}


def _default_weights() -> dict[str, float]:
    from incidentbot.core.backlog_score import DEFAULT_WEIGHTS

    return dict(DEFAULT_WEIGHTS)


def _default_threshold(name: str) -> float:
    from incidentbot.core import similarity

    return getattr(similarity, name)


_PATTERN_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,30}")


def _patterns(value: dict[str, str]) -> dict[str, str]:
    for name, pattern in value.items():
        if not _PATTERN_NAME.fullmatch(name):
            raise ValueError(f"pattern name {name!r} must be capitals, digits and '_', like 'EMPLOYEE_ID' "
                             "(it becomes the placeholder <EMPLOYEE_ID_1>)")
        try:
            compiled = re.compile(pattern)
        except re.error as error:
            raise ValueError(f"pattern {name!r} is not a valid regular expression: {error}") from None
        if compiled.match(""):
            raise ValueError(f"pattern {name!r} matches empty text; it would redact nothing useful")
    return value


class Drafting(Section):
    # Seconds to wait for each model request; a timeout falls back to the offline drafter.
    model_timeout_seconds: float = Field(default=60, gt=0, le=600)
    # Estimated prompt tokens per model request: longer channel histories are summarised
    # in chunks first (map-reduce), each chunk within this budget.
    token_budget: int = Field(default=12_000, ge=2_000, le=1_000_000)
    # Your own secrets, redacted before anything reaches a model or a file:
    # NAME = "regex" replaces each match with <NAME_1>, <NAME_2>, ...
    redact_patterns: Annotated[dict[str, str], AfterValidator(_patterns)] = Field(default_factory=dict)


class BacklogRules(Section):
    # A new action item joins the most similar open backlog item when the similarity
    # (0..1, text plus same service/category) reaches attach_threshold; items from
    # suggest_floor up are offered as "merge into" buttons.
    attach_threshold: float = Field(default_factory=lambda: _default_threshold("ATTACH_THRESHOLD"), gt=0, le=1)
    suggest_floor: float = Field(default_factory=lambda: _default_threshold("SUGGEST_FLOOR"), gt=0, le=1)
    # Weights of the priority score's factors; missing ones keep their default.
    weights: Annotated[dict[str, float], AfterValidator(_weights)] = Field(default_factory=_default_weights)
    # How many items /incident backlog shows.
    top: int = Field(default=10, gt=0, le=20)

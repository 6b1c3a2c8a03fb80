"""Organisation policy: severities, statuses, taxonomy, services, roles, schedules.

One TOML file (``INCIDENTBOT_CONFIG``, or the shipped ``incidentbot/incidentbot.toml``)
is parsed with ``tomllib`` and validated with pydantic at start-up. Every problem is
reported as ``<source>: <key.path[index]>: <what is wrong>``, one line each, so an
operator can fix the file without reading Python tracebacks.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from incidentbot.core.policy_errors import PolicyError, Problem, describe, syntax_problem
from incidentbot.core.policy_sections import (
    ActionItemRules,
    BacklogRules,
    BusinessHours,
    Category,
    Channels,
    Digest,
    Drafting,
    Limits,
    Nudges,
    Permissions,
    Postmortems,
    Role,
    Section,
    Service,
    Severity,
    SeverityId,
    Status,
    Taxonomy,
    TimelineRules,
)

__all__ = [
    "ActionItemRules", "BacklogRules", "BusinessHours", "Category", "Channels", "Digest", "Drafting", "Limits", "Nudges",
    "Permissions", "Policy", "PolicyError", "Postmortems", "Role", "Service", "Severity", "Status", "Taxonomy",
    "TimelineRules",
    "load_policy", "parse_policy",
]

SHIPPED_SOURCE = "incidentbot.toml (shipped default)"


def _default_severities() -> list[Severity]:
    return [
        Severity(id="SEV1", name="Critical", postmortem_required=True, postmortem_due_days=3,
                 postmortem_due_business_days=False, update_every_minutes=30,
                 description="Customer-facing outage or data loss: a core product is down or "
                             "unusable for many customers, or data is lost or exposed."),
        Severity(id="SEV2", name="Major", postmortem_required=True, postmortem_due_days=5,
                 update_every_minutes=60,
                 description="Major degradation: a core feature is broken or badly slow for a "
                             "significant share of customers, with no workaround."),
        Severity(id="SEV3", name="Minor", postmortem_due_days=10, update_every_minutes=120,
                 description="Minor impact: a non-core feature is broken, or a core one is "
                             "degraded for few customers or has a workaround."),
        Severity(id="SEV4", name="Low", postmortem_due_days=10, update_every_minutes=240,
                 description="Little or no customer impact: an internal problem, a near miss, "
                             "or a risk that needs coordinated attention."),
    ]


def _default_statuses() -> list[Status]:
    return [
        Status(id="investigating", name="Investigating", initial=True,
               description="Impact is known; the cause is not."),
        Status(id="identified", name="Identified", description="The cause is known; a fix is under way."),
        Status(id="monitoring", name="Monitoring",
               description="A fix or mitigation is in place; watching that it holds."),
        Status(id="resolved", name="Resolved", resolved=True,
               description="Customer impact has ended; follow-up (postmortem, actions) remains."),
        Status(id="closed", name="Closed", resolved=True, final=True,
               description="All follow-up is done; the incident is archived."),
    ]


def _default_roles() -> list[Role]:
    return [
        Role(id="lead", name="Incident lead", lead=True, description=(
            "You coordinate the response: keep a single picture of what is happening, decide "
            "on next steps, hand out work and roles, set the severity, and decide when the "
            "incident is mitigated and resolved. Delegate the hands-on fixing so you can "
            "keep the overview.")),
        Role(id="comms", name="Communications", description=(
            "You keep everyone outside the channel informed: post status updates on the "
            "agreed cadence, answer stakeholders and support, and keep customer-facing "
            "status pages in step with what responders know.")),
        Role(id="scribe", name="Scribe", description=(
            "You keep the record: add decisions, findings and actions to the incident "
            "timeline as they happen (pin or react to messages), note times, and capture "
            "open questions for the postmortem.")),
    ]


class Policy(Section):
    """The whole organisation policy. An empty file gives these defaults (with no services)."""

    timezone: str = "UTC"
    default_severity: SeverityId = "SEV3"
    severities: list[Severity] = Field(default_factory=_default_severities, min_length=1)
    statuses: list[Status] = Field(default_factory=_default_statuses, min_length=1)
    taxonomy: Taxonomy = Field(default_factory=Taxonomy)
    services: list[Service] = Field(default_factory=list)
    roles: list[Role] = Field(default_factory=_default_roles, min_length=1)
    channels: Channels = Field(default_factory=Channels)
    digest: Digest = Field(default_factory=Digest)
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    timeline: TimelineRules = Field(default_factory=TimelineRules)
    limits: Limits = Field(default_factory=Limits)
    action_items: ActionItemRules = Field(default_factory=ActionItemRules)
    backlog: BacklogRules = Field(default_factory=BacklogRules)
    permissions: Permissions = Field(default_factory=Permissions)
    nudges: Nudges = Field(default_factory=Nudges)
    postmortems: Postmortems = Field(default_factory=Postmortems)
    drafting: Drafting = Field(default_factory=Drafting)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA timezone name such as 'UTC' or 'Europe/Copenhagen'") from None
        return value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Policy:
        problems = [problem for check in _CHECKS for problem in check(self)]
        if problems:
            source = (info.context or {}).get("source", "<policy>")
            raise PolicyError(source, problems)
        return self

    # --- lookups -------------------------------------------------------------------------

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def severity_ids(self) -> list[str]:
        return [severity.id for severity in self.severities]

    def severity(self, id: str | int) -> Severity:
        """Find a severity by "SEV1", "sev1", "sev 1" or just "1" / 1 (the id's number)."""
        key = re.sub(r"\s+", "", str(id)).upper()
        for severity in self.severities:
            if severity.id == key:
                return severity
        if key.isdecimal():
            by_number = [s for s in self.severities if _trailing_number(s.id) == int(key)]
            if len(by_number) == 1:
                return by_number[0]
        raise KeyError(f"unknown severity {id!r}; expected one of {', '.join(self.severity_ids)}")

    def severity_rank(self, id: str | int) -> int:
        """0 for the most severe; larger is less severe."""
        return self.severities.index(self.severity(id))

    @property
    def initial_status(self) -> Status:
        return next(status for status in self.statuses if status.initial)

    @property
    def final_statuses(self) -> list[Status]:
        return [status for status in self.statuses if status.final]

    def status(self, id: str) -> Status:
        return _find(self.statuses, "id", id, "status")

    def category(self, id: str) -> Category:
        return _find(self.taxonomy.categories, "id", id, "category")

    def service(self, name: str) -> Service:
        return _find(self.services, "name", name, "service")

    def role(self, id: str) -> Role:
        return _find(self.roles, "id", id, "role")

    @property
    def lead_role(self) -> Role:
        return next(role for role in self.roles if role.lead)


def _trailing_number(id: str) -> int | None:
    match = re.search(r"(\d+)$", id)
    return int(match[1]) if match else None


def _find(items: list[Any], attr: str, key: str, what: str) -> Any:
    wanted = str(key).strip().lower()
    for item in items:
        if getattr(item, attr).lower() == wanted:
            return item
    known = ", ".join(getattr(item, attr) for item in items) or "none configured"
    raise KeyError(f"unknown {what} {key!r}; expected one of {known}")


# --- rules across entries (each yields (key path, message)) --------------------------------


def _duplicates(items: list[Any], attr: str, path: str) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        value = getattr(item, attr).lower()
        if value in seen:
            yield (f"{path}[{index}].{attr}",
                   f"duplicate {attr} {getattr(item, attr)!r} (already used by {path}[{seen[value]}])")
        seen.setdefault(value, index)


def _exactly_one(items: list[Any], flag: str, path: str, what: str) -> Iterator[Problem]:
    flagged = [index for index, item in enumerate(items) if getattr(item, flag)]
    if not flagged:
        yield path, f"exactly one {what} must have {flag} = true (none has)"
    for index in flagged[1:]:
        yield (f"{path}[{index}].{flag}",
               f"only one {what} can have {flag} = true ({path}[{flagged[0]}] already has)")


def _one_of(value: str, allowed: Iterable[str], path: str) -> Iterator[Problem]:
    allowed = list(allowed)
    if value.lower() not in (item.lower() for item in allowed):
        yield path, f"must be one of {', '.join(allowed)} (got {value!r})"


def _check_severities(policy: Policy) -> Iterator[Problem]:
    yield from _duplicates(policy.severities, "id", "severities")
    yield from _one_of(policy.default_severity, policy.severity_ids, "default_severity")


def _check_statuses(policy: Policy) -> Iterator[Problem]:
    statuses = policy.statuses
    yield from _duplicates(statuses, "id", "statuses")
    yield from _exactly_one(statuses, "initial", "statuses", "status")
    if not any(status.final for status in statuses):
        yield "statuses", "at least one status must have final = true (e.g. 'closed')"
    for index, status in enumerate(statuses):
        if status.initial and (status.final or status.resolved):
            yield f"statuses[{index}].initial", "the initial status cannot also be final or resolved"


def _check_taxonomy(policy: Policy) -> Iterator[Problem]:
    taxonomy = policy.taxonomy
    yield from _duplicates(taxonomy.categories, "id", "taxonomy.categories")
    seen: set[str] = set()
    for index, tag in enumerate(taxonomy.tags):
        if tag in seen:
            yield f"taxonomy.tags[{index}]", f"duplicate tag {tag!r}"
        seen.add(tag)
    ids = [category.id for category in taxonomy.categories]
    yield from _one_of(taxonomy.default_category, ids, "taxonomy.default_category")


def _check_services_and_roles(policy: Policy) -> Iterator[Problem]:
    yield from _duplicates(policy.services, "name", "services")
    yield from _duplicates(policy.roles, "id", "roles")
    yield from _exactly_one(policy.roles, "lead", "roles", "role")


def _check_business_hours(policy: Policy) -> Iterator[Problem]:
    hours = policy.business_hours
    if hours.start_time >= hours.end_time:
        yield "business_hours.end", f"must be later than start ({hours.start}) (got {hours.end!r})"
    if len(set(hours.days)) != len(hours.days):
        yield "business_hours.days", "lists a day more than once"


def _check_permissions(policy: Policy) -> Iterator[Problem]:
    for key in ("restricted_actions", "privileged_users"):
        seen: set[str] = set()
        for index, value in enumerate(getattr(policy.permissions, key)):
            if value in seen:
                yield f"permissions.{key}[{index}]", f"lists {value!r} more than once"
            seen.add(value)


def _check_postmortems(policy: Policy) -> Iterator[Problem]:
    rules = policy.postmortems
    categories = [category.id for category in policy.taxonomy.categories]
    seen: set[str] = set()
    for index, category in enumerate(rules.required_categories):
        path = f"postmortems.required_categories[{index}]"
        if category in seen:
            yield path, f"lists {category!r} more than once"
        seen.add(category)
        yield from _one_of(category, categories, path)
    yield from _one_of(rules.owner_role, [role.id for role in policy.roles], "postmortems.owner_role")
    hours = policy.business_hours
    day = (hours.end_time.hour * 60 + hours.end_time.minute) - (hours.start_time.hour * 60 + hours.start_time.minute)
    if 0 < day < rules.meeting_minutes:
        yield ("postmortems.meeting_minutes",
               f"must fit within business hours ({hours.start}-{hours.end} is {day} minutes) "
               f"(got {rules.meeting_minutes})")


_CHECKS: list[Callable[[Policy], Iterable[Problem]]] = [
    _check_severities, _check_statuses, _check_taxonomy, _check_services_and_roles, _check_business_hours,
    _check_permissions, _check_postmortems,
]


# --- loading --------------------------------------------------------------------------------


def load_policy(path: Path | str | None = None) -> Policy:
    """Load the policy file at ``path``; ``None`` loads the shipped default."""
    if path is None:
        text = resources.files("incidentbot").joinpath("incidentbot.toml").read_text(encoding="utf-8")
        return parse_policy(text, SHIPPED_SOURCE)
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(str(path), [("", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(str(path), [("", f"cannot read the file ({exc})")]) from None
    return parse_policy(text, str(path))


def parse_policy(text: str, source: str = "<string>") -> Policy:
    """Parse and validate policy TOML; raises PolicyError naming every bad key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, [syntax_problem(exc)]) from None
    try:
        return Policy.model_validate(data, context={"source": source})
    except ValidationError as exc:
        raise PolicyError(source, [describe(error, Policy) for error in exc.errors()]) from None

"""Due dates of action items: the policy's defaults and what people type.

A due date is a day in the organisation's timezone; the item is due at the end of
business hours that day (stored as UTC). A default that lands on a weekend or holiday
moves to the next business day, so nobody's work is due on a Sunday.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from incidentbot.core import calendar
from incidentbot.core.errors import InvalidInput
from incidentbot.core.policy import Policy
from incidentbot.core.policy_values import WEEKDAYS
from incidentbot.models import Incident
from incidentbot.timeutil import ensure_utc

EXAMPLES = "`2026-12-18`, `friday`, `tomorrow`, `in 3 weeks` or `in 10 days`"
_IN = re.compile(r"in\s+(\d{1,3})\s*(d|day|days|w|wk|week|weeks)", re.I)
_SHORT = re.compile(r"(\d{1,3})\s*(d|w)", re.I)
_DAY_NAMES = {name: index for index, name in enumerate(WEEKDAYS)}
_DAY_NAMES.update({"monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4,
                   "saturday": 5, "sunday": 6, "tues": 1, "thur": 3, "thurs": 3})


def today(policy: Policy, now: datetime) -> date:
    return ensure_utc(now).astimezone(policy.tz).date()


def due_moment(policy: Policy, day: date) -> datetime:
    """When an item due on ``day`` is overdue: the end of business hours that day (UTC)."""
    return calendar.business_end(day, policy)


def service_tier(policy: Policy, service: str | None, incident: Incident) -> int | None:
    """The tier of ``service``, else of the incident's most critical service."""
    names = [service] if service else list(incident.services or [])
    tiers = [s.tier for s in policy.services if s.name in names]
    return min(tiers) if tiers else None


def default_due(policy: Policy, *, priority: str, tier: int | None, now: datetime) -> date:
    """The policy's due day for a new item: weeks by priority (and tier for P1)."""
    weeks = policy.action_items.due_weeks(priority, tier)
    day = today(policy, now) + timedelta(weeks=weeks)
    if not calendar.is_business_day(day, policy):
        day = calendar.shift_business_days(day, 1, policy)
    return day


def parse_due(text: str, policy: Policy, now: datetime) -> date:
    """A day from ``2026-12-18``, ``today``, ``tomorrow``, a weekday name, ``in 3 weeks``, ``2w``.

    A weekday means the next one after today ("friday" on a Friday is a week later).
    Days in the past are refused, with what to type instead.
    """
    raw = " ".join(text.split()).lower()
    start = today(policy, now)
    day = _parse(raw, start)
    if day is None:
        raise InvalidInput("due", f"`{text.strip()[:40]}` is not a due date I understand. Try {EXAMPLES}.")
    if day < start:
        raise InvalidInput("due", f"{day.isoformat()} is in the past. Give a day from today on, e.g. {EXAMPLES}.")
    return day


def check_due(day: date, policy: Policy, now: datetime) -> date:
    """A picked date (from a date picker): refuse days in the past."""
    if day < today(policy, now):
        raise InvalidInput("due", f"{day.isoformat()} is in the past. Pick today or a later day.")
    return day


def _parse(raw: str, start: date) -> date | None:
    if raw == "today":
        return start
    if raw == "tomorrow":
        return start + timedelta(days=1)
    if raw in _DAY_NAMES:
        ahead = (_DAY_NAMES[raw] - start.weekday() - 1) % 7 + 1
        return start + timedelta(days=ahead)
    match = _IN.fullmatch(raw) or _SHORT.fullmatch(raw)
    if match:
        count = int(match[1])
        return start + (timedelta(weeks=count) if match[2].startswith("w") else timedelta(days=count))
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None

"""Business days, due dates and meeting slots in the organisation's timezone.

Everything here is computed on the wall clock of ``policy.timezone``: "5 business days
later at the end of business hours" is a date and a clock time there, turned into an
instant only at the end. That keeps due dates and meetings right across daylight-saving
changes (a 09:00 meeting is at 09:00 local in winter and in summer, a different UTC hour).
Values returned are timezone-aware; instants meant for the database are UTC.

Working days are ``business_hours.days`` minus ``business_hours.holidays``; business
hours are ``[start, end)`` on those days.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from incidentbot.core.policy import Policy
from incidentbot.core.policy_values import WEEKDAYS
from incidentbot.timeutil import ensure_utc

# Proposed meetings start on this grid (counted from the start of business hours), so
# a proposal reads "10:30", not "10:07".
SLOT_STEP_MINUTES = 30


def localize(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """The wall-clock ``clock`` on ``day`` in ``tz``, as an aware datetime in ``tz``.

    A time that happens twice (clocks go back) is the first one; a time skipped when the
    clocks go forward moves on by the gap (02:30 becomes 03:30), as a wall clock does.
    """
    naive = datetime.combine(day, clock.replace(tzinfo=None, fold=0))
    return naive.replace(tzinfo=tz).astimezone(timezone.utc).astimezone(tz)


def is_business_day(day: date, policy: Policy) -> bool:
    return policy.business_hours.is_working_day(day)


def is_business_time(moment: datetime, policy: Policy) -> bool:
    """Whether ``moment`` falls within business hours on a business day (end excluded)."""
    return policy.business_hours.is_open(ensure_utc(moment).astimezone(policy.tz))


def shift_business_days(day: date, days: int, policy: Policy) -> date:
    """The date ``days`` business days after ``day`` (before it when negative).

    ``day`` itself does not count: one business day after Friday is Monday, and so it is
    after Saturday. ``0`` gives ``day`` back, working day or not.
    """
    step = 1 if days >= 0 else -1
    remaining = abs(days)
    while remaining:
        day += timedelta(days=step)
        if is_business_day(day, policy):
            remaining -= 1
    return day


def add_business_days(start: datetime, days: int, policy: Policy) -> datetime:
    """``start`` moved ``days`` business days on (back when negative), in ``policy.tz``.

    The wall-clock time is kept (Friday 18:30 + 1 business day is Monday 18:30 local,
    whatever the UTC offsets of the two days); weekends and holidays are skipped.
    """
    local = ensure_utc(start).astimezone(policy.tz)
    return localize(shift_business_days(local.date(), days, policy), local.time(), policy.tz)


def business_start(day: date, policy: Policy) -> datetime:
    """The start of business hours on ``day``, as UTC."""
    return localize(day, policy.business_hours.start_time, policy.tz).astimezone(timezone.utc)


def business_end(day: date, policy: Policy) -> datetime:
    """The end of business hours on ``day``, as UTC."""
    return localize(day, policy.business_hours.end_time, policy.tz).astimezone(timezone.utc)


def next_business_time(moment: datetime, policy: Policy) -> datetime:
    """``moment`` if it is in business hours, else the next start of business hours (UTC)."""
    moment = ensure_utc(moment)
    if is_business_time(moment, policy):
        return moment
    day = moment.astimezone(policy.tz).date()
    if is_business_day(day, policy) and moment < business_start(day, policy):
        return business_start(day, policy)
    return business_start(shift_business_days(day, 1, policy), policy)


def next_business_morning(moment: datetime, policy: Policy) -> datetime:
    """The start of business hours on the first business day after ``moment``'s local date (UTC)."""
    day = ensure_utc(moment).astimezone(policy.tz).date()
    return business_start(shift_business_days(day, 1, policy), policy)


def due_at(policy: Policy, severity_id: str, resolved_at: datetime) -> datetime:
    """When the postmortem of an incident of ``severity_id`` resolved at ``resolved_at`` is due (UTC).

    The severity's ``postmortem_due_days`` after the local date of the resolve, counted in
    business days when ``postmortem_due_business_days`` (weekends and holidays skipped) or
    in calendar days otherwise; due at the end of business hours on that day. With the
    default policy a SEV2 resolved on Friday evening is due the next Friday at 17:00, a
    SEV1 resolved then on Monday at 17:00.
    """
    severity = policy.severity(severity_id)
    resolved_day = ensure_utc(resolved_at).astimezone(policy.tz).date()
    if severity.postmortem_due_business_days:
        day = shift_business_days(resolved_day, severity.postmortem_due_days, policy)
    else:
        day = resolved_day + timedelta(days=severity.postmortem_due_days)
    return business_end(day, policy)


def first_free_slot(
    policy: Policy,
    after: datetime,
    before: datetime,
    minutes: int,
    busy: list[tuple[datetime, datetime]],
    *,
    step_minutes: int = SLOT_STEP_MINUTES,
) -> datetime | None:
    """The first meeting start (UTC) at or after ``after`` that fits.

    A slot lies within business hours of one business day, ends by ``before``, and does
    not overlap any ``busy`` interval (``[start, end)``, so back-to-back is fine). Starts
    are on a ``step_minutes`` grid counted from the start of business hours. Lunchtime is
    not special. ``None`` when nothing fits.
    """
    if minutes <= 0 or step_minutes <= 0:
        raise ValueError("minutes and step_minutes must be positive")
    after, before = ensure_utc(after), ensure_utc(before)
    length, step = timedelta(minutes=minutes), timedelta(minutes=step_minutes)
    intervals = sorted((ensure_utc(start), ensure_utc(end)) for start, end in busy)
    day = after.astimezone(policy.tz).date()
    last_day = before.astimezone(policy.tz).date()
    while day <= last_day:
        if is_business_day(day, policy):
            opens, closes = business_start(day, policy), business_end(day, policy)
            limit = min(closes, before)
            slot = _on_grid(opens, max(opens, after), step)
            while slot + length <= limit:
                clash = next((end for start, end in intervals if start < slot + length and end > slot), None)
                if clash is None:
                    return slot
                slot = _on_grid(opens, clash, step)
        day += timedelta(days=1)
    return None


def _on_grid(origin: datetime, at_least: datetime, step: timedelta) -> datetime:
    """The first ``origin + k * step`` (k >= 0) not earlier than ``at_least``."""
    if at_least <= origin:
        return origin
    return origin + step * math.ceil((at_least - origin) / step)


def meeting_problem(policy: Policy, start: datetime, minutes: int) -> str | None:
    """Why a meeting of ``minutes`` at ``start`` is not within business hours, or ``None``."""
    hours, tz = policy.business_hours, policy.tz
    local = ensure_utc(start).astimezone(tz)
    day = local.date()
    if day in hours.holidays:
        return f"{day_label(day)} is a holiday. Pick a working day."
    if not is_business_day(day, policy):
        return f"{day_label(day)} is not a working day ({_working_days(policy)}). Pick a working day."
    opens, closes = business_start(day, policy), business_end(day, policy)
    where = f"business hours are {hours.start}-{hours.end} ({policy.timezone})"
    if start < opens:
        return f"{local:%H:%M} is before business hours start: {where}."
    end = ensure_utc(start) + timedelta(minutes=minutes)
    if end > closes:
        latest = (closes - timedelta(minutes=minutes)).astimezone(tz)
        return (f"A {minutes}-minute meeting at {local:%H:%M} would end at {end.astimezone(tz):%H:%M}, after "
                f"business hours end ({hours.end} {policy.timezone}). Start it by {latest:%H:%M}.")
    return None


def day_label(day: date) -> str:
    """``Friday 27 March 2026``."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def moment_label(moment: datetime, policy: Policy) -> str:
    """``Fri 27 Mar 2026 17:00 (Europe/Copenhagen)``: an instant for people to read."""
    local = ensure_utc(moment).astimezone(policy.tz)
    return f"{local:%a} {local.day} {local:%b %Y %H:%M} ({policy.timezone})"


def _working_days(policy: Policy) -> str:
    """``Mon-Fri``, or ``Mon, Wed, Fri`` when the working days are not a run."""
    numbers = sorted(policy.business_hours.weekdays)
    names = [WEEKDAYS[number].capitalize() for number in numbers]
    if len(numbers) > 2 and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{names[0]}-{names[-1]}"
    return ", ".join(names)

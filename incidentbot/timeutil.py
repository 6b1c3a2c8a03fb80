"""Time helpers: the database holds UTC, everything in memory is timezone-aware."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from sqlalchemy.types import DateTime, TypeDecorator


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware (freezegun-friendly: reads datetime.now)."""
    return datetime.now(timezone.utc)


def ensure_utc(value: datetime) -> datetime:
    """Convert an aware datetime to UTC; refuse naive ones, whose zone is a guess."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
    return value.astimezone(timezone.utc)


def from_slack_ts(ts: str) -> datetime:
    """A Slack message ts ("1732190000.000100") as an aware UTC datetime."""
    return datetime.fromtimestamp(float(ts), tz=timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp column that always round-trips as an aware UTC datetime.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value is
    stored as naive UTC and the zone is put back when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = ensure_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class NonexistentLocalTime(ValueError):
    """A wall-clock time skipped by a daylight-saving change (e.g. 02:30 when clocks jump to 03:00)."""


def local_to_utc(day: str, clock: str, zone: ZoneInfo) -> datetime:
    """A date ("2026-03-29") and time ("02:30") picked in ``zone``, as UTC.

    A time that happens twice (clocks go back) is taken as the first one, as Slack
    and most calendars do; a time that never happens raises ``NonexistentLocalTime``.
    """
    local = datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), tzinfo=zone)
    utc = local.astimezone(timezone.utc)
    if utc.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise NonexistentLocalTime(f"{day} {clock} does not exist in {zone.key} (the clocks were changed)")
    return utc


def utc_to_local_parts(moment: datetime, zone: ZoneInfo) -> tuple[str, str]:
    """(date "YYYY-MM-DD", time "HH:MM") of an aware moment in ``zone``, for pickers."""
    local = moment.astimezone(zone)
    return local.date().isoformat(), local.strftime("%H:%M")

"""The value types the policy's sections are made of (``policy_sections.py``).

Each checks one TOML value: a slug, a severity id, a clock time, a weekday, a channel, a
user or user group id, a channel name pattern. Their messages say what to write instead;
``policy.py`` puts the key path in front.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, StringConstraints

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")
_SERVICE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_SEVERITY_ID = re.compile(r"[A-Z][A-Z0-9_-]*")
_HHMM = re.compile(r"(\d{1,2}):(\d{2})")
# Slack channel names: lowercase letters, digits, '-' and '_', at most 80 characters.
_CHANNEL_NAME = re.compile(r"[a-z0-9_-]{1,80}")
# Public (C...) and private/legacy group (G...) conversation ids.
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{6,}")
_EMOJI = re.compile(r"[a-z0-9_+'-]+")
# Slack user ids (U..., or W... on Enterprise Grid) and user group ids (S...).
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_USERGROUP_ID = re.compile(r"S[A-Z0-9]{2,}")
RESTRICTABLE_ACTIONS = ("downgrade", "resolve", "close")

PLACEHOLDERS = ("date", "number", "slug", "severity")
# Values used to try a channel-name pattern out at load time, so a broken pattern
# fails at start-up instead of when the first incident is declared.
_SAMPLE = {"date": "20240131", "number": 42, "slug": "checkout-errors", "severity": "sev1"}


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError("must be lowercase letters, digits, '-' or '_', like 'code-deploy'")
    return value


def _service_name(value: str) -> str:
    if not _SERVICE_NAME.fullmatch(value):
        raise ValueError("must be lowercase letters, digits, '.', '-' or '_', like 'payments-api'")
    return value


def _severity_id(value: object) -> object:
    value = value.strip().upper() if isinstance(value, str) else value
    if isinstance(value, str) and not _SEVERITY_ID.fullmatch(value):
        raise ValueError("must be a letter followed by letters, digits, '-' or '_', like 'SEV1'")
    return value


def _hhmm(value: object) -> object:
    """Accept "9:00", "09:00" or a TOML local time (09:00:00); store "HH:MM"."""
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if not isinstance(value, str):
        return value
    match = _HHMM.fullmatch(value.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError("must be a 24-hour time as HH:MM, like '09:30'")
    return f"{int(match[1]):02d}:{match[2]}"


_DAY_ALIASES = {name: name[:3] for name in
                ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
_DAY_ALIASES.update({day: day for day in WEEKDAYS})


def _weekday(value: object) -> object:
    """Accept "mon", "Monday", "MON"; store the three-letter lowercase form."""
    if not isinstance(value, str):
        return value
    day = _DAY_ALIASES.get(value.strip().lower())
    if day is None:
        raise ValueError(f"must be a day of the week: {', '.join(WEEKDAYS)}")
    return day


def _channel_ref(value: object) -> object:
    """A channel name (a leading '#' is dropped) or a channel id such as C0123ABCD."""
    if not isinstance(value, str):
        return value
    value = value.strip().removeprefix("#")
    if _CHANNEL_ID.fullmatch(value) or _CHANNEL_NAME.fullmatch(value):
        return value
    raise ValueError(
        "must be a Slack channel name (lowercase letters, digits, '-', '_', at most 80) "
        "or a channel id like 'C0123ABCD'"
    )


def _emoji(value: object) -> object:
    value = value.strip().strip(":") if isinstance(value, str) else value
    if isinstance(value, str) and not _EMOJI.fullmatch(value):
        raise ValueError("must be an emoji name without colons, like 'pushpin'")
    return value


def _user_id(value: object) -> object:
    value = value.strip().upper() if isinstance(value, str) else value
    if isinstance(value, str) and not _USER_ID.fullmatch(value):
        raise ValueError("must be a Slack user id like 'U012ABC' (find it in the person's profile)")
    return value


def _usergroup_id(value: object) -> object:
    value = value.strip().upper() if isinstance(value, str) else value
    if isinstance(value, str) and value and not _USERGROUP_ID.fullmatch(value):
        raise ValueError("must be a Slack user group id like 'S012ABC', or \"\" for none")
    return value


def _action(value: object) -> object:
    value = value.strip().lower() if isinstance(value, str) else value
    if isinstance(value, str) and value not in RESTRICTABLE_ACTIONS:
        raise ValueError(f"must be one of {', '.join(RESTRICTABLE_ACTIONS)}")
    return value


def _name_pattern(value: str) -> str:
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(value) if field is not None]
    except ValueError as exc:
        raise ValueError(f"has unbalanced braces ({exc}); write literal braces as '{{{{' and '}}}}'") from None
    allowed = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    unknown = sorted({field for field in fields if field not in PLACEHOLDERS})
    if unknown:
        shown = ", ".join("{" + field + "}" for field in unknown)
        raise ValueError(f"unknown placeholder {shown}; allowed: {allowed}")
    if "slug" not in fields and "number" not in fields:
        raise ValueError("must contain {slug} or {number} so that every incident gets its own channel")
    try:
        sample = value.format(**_SAMPLE)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cannot be formatted ({exc})") from None
    if not _CHANNEL_NAME.fullmatch(sample):
        raise ValueError(
            f"gives {sample!r}, which is not a Slack channel name "
            "(lowercase letters, digits, '-', '_', at most 80 characters)"
        )
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Slug = Annotated[str, BeforeValidator(_lower), AfterValidator(_slug)]
SeverityId = Annotated[str, BeforeValidator(_severity_id)]
ServiceName = Annotated[str, BeforeValidator(_lower), AfterValidator(_service_name)]
ClockTime = Annotated[str, BeforeValidator(_hhmm)]
Weekday = Annotated[str, BeforeValidator(_weekday)]
ChannelRef = Annotated[str, BeforeValidator(_channel_ref)]
NamePattern = Annotated[str, AfterValidator(_name_pattern)]
UserId = Annotated[str, BeforeValidator(_user_id)]
UsergroupId = Annotated[str, BeforeValidator(_usergroup_id)]
Action = Annotated[str, BeforeValidator(_action)]
Emoji = Annotated[str, BeforeValidator(_emoji)]


def clock(value: str) -> dt.time:
    """A checked ``HH:MM`` as a time of day."""
    hours, minutes = value.split(":")
    return dt.time(int(hours), int(minutes))

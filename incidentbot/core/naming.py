"""Slack channel names for incidents.

Slack allows lowercase letters, digits, ``-`` and ``_``, at most 80 characters.
Names are built from the policy pattern; the Slack gateway adds a suffix when a
name is taken.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

MAX_CHANNEL_NAME = 80
# Room kept for the "-NN" suffix added on name_taken.
SUFFIX_ROOM = 4

_NOT_ALLOWED = re.compile(r"[^a-z0-9_-]+")
_DASHES = re.compile(r"-{2,}")


def slugify(text: str, max_length: int = MAX_CHANNEL_NAME) -> str:
    """Lowercase ASCII slug: accents folded, everything else becomes ``-``.

    Emoji and scripts with no ASCII form vanish; the caller decides the fallback
    when nothing is left.
    """
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _DASHES.sub("-", _NOT_ALLOWED.sub("-", folded.lower())).strip("-_")
    if len(slug) > max_length:
        # Cut at a word boundary when one is near, so names stay readable.
        cut = slug[:max_length]
        boundary = cut.rfind("-")
        slug = cut[:boundary] if boundary > max_length // 2 else cut
    return slug.strip("-_")


def channel_name(
    pattern: str, *, number: int, title: str, severity: str, declared_at: datetime
) -> str:
    """The channel name for an incident, from a pattern such as ``inc-{date}-{slug}``.

    ``declared_at`` must already be in the organisation's timezone: the date in
    the name is the one people see on their calendars.
    """
    fixed = pattern.format(
        date=declared_at.strftime("%Y%m%d"),
        number=number,
        severity=severity.lower(),
        slug="",
    )
    room = MAX_CHANNEL_NAME - SUFFIX_ROOM - len(fixed)
    slug = slugify(title, max(room, 0)) or f"incident-{number}"
    name = pattern.format(
        date=declared_at.strftime("%Y%m%d"),
        number=number,
        severity=severity.lower(),
        slug=slug,
    )
    name = _DASHES.sub("-", _NOT_ALLOWED.sub("-", name.lower())).strip("-_")
    return name[: MAX_CHANNEL_NAME - SUFFIX_ROOM]


def with_suffix(name: str, attempt: int) -> str:
    """The name to try after ``name`` was taken ``attempt - 1`` times (``name-2`` …)."""
    suffix = f"-{attempt}"
    return name[: MAX_CHANNEL_NAME - len(suffix)].rstrip("-_") + suffix

"""Calendar invites (iCalendar, RFC 5545) for postmortem review meetings.

Times are written in UTC (``DTSTART:20260330T070000Z``): every calendar app reads them,
no ``VTIMEZONE`` is needed, and each attendee's app shows the meeting in their own
timezone. The organisation's timezone is used for the human-readable time in the
description. Lines end in CRLF and are folded at 75 octets (never inside a UTF-8
character); text values escape ``\\``, ``;``, ``,`` and newlines.

With an organizer e-mail the invite is a ``METHOD:REQUEST`` with an ``ATTENDEE`` per
participant that has an e-mail (apps offer to accept it); without one it is a
``METHOD:PUBLISH`` event that apps simply add. Participants without an e-mail are
named in the description. Sending the same ``uid`` again with a higher ``sequence``
updates the event (a rescheduled meeting); ``cancel=True`` removes it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from incidentbot.timeutil import ensure_utc, utcnow

PRODID = "-//incidentbot//Postmortem review//EN"
MAX_OCTETS = 75
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A deliberately plain address check: enough to keep anything odd out of a mailto: URI.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_URI_UNSAFE = re.compile(r"[\s\"<>\\^`{|}]")


def meeting_invite(
    *,
    uid: str,
    title: str,
    description: str,
    start: datetime,
    minutes: int,
    organizer_email: str | None,
    attendees: list[tuple[str, str | None]],
    tz: ZoneInfo,
    url: str | None,
    sequence: int = 0,
    confirmed: bool = False,
    cancel: bool = False,
    organizer_name: str = "incidentbot",
    now: datetime | None = None,
) -> str:
    """The ``.ics`` text of a review meeting: one ``VEVENT`` in a ``VCALENDAR``.

    ``attendees`` are ``(display name, e-mail or None)``. ``confirmed`` gives
    ``STATUS:CONFIRMED`` (else ``TENTATIVE``: a proposal). ``now`` is the ``DTSTAMP``.
    """
    if minutes <= 0:
        raise ValueError("minutes must be positive")
    if not uid.strip() or _CONTROL.search(uid) or "\n" in uid or "\r" in uid:
        raise ValueError("uid must be a non-empty single line")
    start = ensure_utc(start)
    end = start + timedelta(minutes=minutes)
    stamp = ensure_utc(now) if now else utcnow()
    organizer = _email(organizer_email)
    with_email = [(name, _email(email)) for name, email in attendees]
    invited = [(name, email) for name, email in with_email if email] if organizer else []
    named_only = [name for name, email in with_email if not (organizer and email)]

    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    when = (f"{local_start:%a} {local_start.day} {local_start:%b %Y, %H:%M}-{local_end:%H:%M} "
            f"{tz.key} ({local_start.tzname()})")
    body = [_plain(description), "", f"When: {when}"]
    if named_only:
        body.append("Participants: " + ", ".join(name for name in named_only if name))
    if url:
        body.append(f"Link: {url}")
    # iTIP (RFC 5546): REQUEST and CANCEL need an organizer; PUBLISH has no attendees.
    method = ("CANCEL" if cancel else "REQUEST") if organizer else "PUBLISH"

    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"METHOD:{method}",
        "BEGIN:VEVENT",
        f"UID:{uid.strip()}",
        f"DTSTAMP:{_utc(stamp)}",
        f"DTSTART:{_utc(start)}",
        f"DTEND:{_utc(end)}",
        f"SEQUENCE:{int(sequence)}",
        f"SUMMARY:{escape_text(title)}",
        f"DESCRIPTION:{escape_text(chr(10).join(body).strip())}",
        "STATUS:" + ("CANCELLED" if cancel else "CONFIRMED" if confirmed else "TENTATIVE"),
        "TRANSP:OPAQUE",
    ]
    safe_url = _uri(url)
    if safe_url:
        lines.append(f"URL:{safe_url}")
    if organizer:
        lines.append(f"ORGANIZER;CN={param_value(organizer_name)}:mailto:{organizer}")
        for name, email in invited:
            cn = f"CN={param_value(name)};" if name else ""
            lines.append(f"ATTENDEE;{cn}CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;"
                         f"RSVP=TRUE:mailto:{email}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(fold(line) + "\r\n" for line in lines)


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): ``\\`` ``;`` ``,`` escaped, newlines as ``\\n``."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROL.sub(" ", value).replace("\t", " ")
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def param_value(value: str) -> str:
    """A parameter value (e.g. ``CN``): quoted when it holds ``:`` ``;`` ``,``; ``"`` and
    line breaks, which a parameter value cannot hold, become ``'`` and spaces."""
    value = _CONTROL.sub(" ", value.replace("\r", " ").replace("\n", " ").replace("\t", " ")).replace('"', "'")
    return f'"{value}"' if re.search(r"[:;,]", value) else value


def fold(line: str) -> str:
    """Fold a content line at 75 octets (continuations start with a space), never
    splitting a UTF-8 character."""
    pieces, current, size, limit = [], [], 0, MAX_OCTETS
    for char in line:
        octets = len(char.encode("utf-8"))
        if size + octets > limit:
            pieces.append("".join(current))
            current, size, limit = [" "], 1, MAX_OCTETS
        current.append(char)
        size += octets
    pieces.append("".join(current))
    return "\r\n".join(pieces)


def _plain(text: str) -> str:
    """Text with line breaks normalised and control characters blanked, trimmed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return _CONTROL.sub(" ", text).strip()


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _email(value: str | None) -> str | None:
    value = (value or "").strip()
    return value if _EMAIL.fullmatch(value) else None


def _uri(value: str | None) -> str | None:
    value = (value or "").strip()
    return value if value and not _URI_UNSAFE.search(value) and not _CONTROL.search(value) else None

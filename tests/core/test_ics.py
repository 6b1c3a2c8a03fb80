"""Review meeting invites: RFC 5545 text that calendar apps import."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incidentbot.core import ics

UTC = timezone.utc
CPH = ZoneInfo("Europe/Copenhagen")
NY = ZoneInfo("America/New_York")
STAMP = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


# --- a small, strict reader --------------------------------------------------------------------


def unfold(text: str) -> list[str]:
    """Content lines: CRLF line ends only, folds (CRLF + space) joined, each physical line <= 75 octets."""
    assert text.endswith("\r\n"), "the last line ends with CRLF"
    assert "\n" not in text.replace("\r\n", ""), "a bare LF"
    assert "\r" not in text.replace("\r\n", ""), "a bare CR"
    physical = text[:-2].split("\r\n")
    for line in physical:
        assert len(line.encode("utf-8")) <= 75, f"longer than 75 octets: {line!r}"
        assert line, "an empty line"
    logical: list[str] = []
    for line in physical:
        if line[0] in " \t":
            assert logical, "a continuation before any line"
            logical[-1] += line[1:]
        else:
            logical.append(line)
    return logical


def split(line: str) -> tuple[str, dict[str, str], str]:
    """NAME;PARAM=value;PARAM="quoted":value -> (name, params, value)."""
    match = re.match(r'([A-Z0-9-]+)((?:;[A-Z0-9-]+=(?:"[^"]*"|[^";:,]*))*):(.*)\Z', line)
    assert match, f"not a content line: {line!r}"
    params = dict(re.findall(r';([A-Z0-9-]+)=("[^"]*"|[^";:,]*)', match[2]))
    return match[1], {k: v.strip('"') for k, v in params.items()}, match[3]


def unescape(value: str) -> str:
    assert not re.search(r"(?<!\\)(?:\\\\)*[;,]", value.replace("\\;", "").replace("\\,", "")), value
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\":
            nxt = value[i + 1]
            assert nxt in "\\;,nN", f"bad escape \\{nxt}"
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def parse(text: str) -> dict:
    """The calendar as nested dicts; BEGIN/END must pair up."""
    stack: list[tuple[str, dict]] = []
    root = None
    for line in unfold(text):
        name, params, value = split(line)
        if name == "BEGIN":
            component = {"_name": value, "_children": []}
            if stack:
                stack[-1][1]["_children"].append(component)
            stack.append((value, component))
        elif name == "END":
            assert stack and stack[-1][0] == value, f"END:{value} does not close {stack[-1][0] if stack else None}"
            _, component = stack.pop()
            if not stack:
                root = component
        else:
            assert stack, f"{name} outside any component"
            stack[-1][1].setdefault(name, []).append((params, value))
    assert not stack and root is not None
    return root


def prop(component: dict, name: str) -> str:
    [(_, value)] = component[name]
    return value


def invite(**overrides) -> str:
    args = dict(
        uid="postmortem-7@incidentbot", title="INC-42 postmortem review: Checkout failing",
        description="Review of INC-42.", start=datetime(2026, 3, 30, 7, 0, tzinfo=UTC), minutes=60,
        organizer_email="incidents@example.com",
        attendees=[("Alice Jensen", "alice@example.com"), ("Bob", None), ("Carol, SRE", "carol@example.com")],
        tz=CPH, url="https://example.slack.com/archives/C0INC", now=STAMP,
    )
    args.update(overrides)
    return ics.meeting_invite(**args)


# --- tests -------------------------------------------------------------------------------------


def test_a_request_with_organizer_and_attendees():
    text = invite()
    calendar = parse(text)
    assert calendar["_name"] == "VCALENDAR"
    assert (prop(calendar, "VERSION"), prop(calendar, "METHOD")) == ("2.0", "REQUEST")
    assert prop(calendar, "PRODID")
    [event] = calendar["_children"]
    assert event["_name"] == "VEVENT"
    assert prop(event, "UID") == "postmortem-7@incidentbot"
    assert prop(event, "DTSTAMP") == "20260320T120000Z"
    assert (prop(event, "DTSTART"), prop(event, "DTEND")) == ("20260330T070000Z", "20260330T080000Z")
    assert prop(event, "SEQUENCE") == "0" and prop(event, "STATUS") == "TENTATIVE"
    assert unescape(prop(event, "SUMMARY")) == "INC-42 postmortem review: Checkout failing"
    assert prop(event, "URL") == "https://example.slack.com/archives/C0INC"
    [(organizer_params, organizer)] = event["ORGANIZER"]
    assert organizer == "mailto:incidents@example.com" and organizer_params["CN"] == "incidentbot"
    attendees = {value: params for params, value in event["ATTENDEE"]}
    assert set(attendees) == {"mailto:alice@example.com", "mailto:carol@example.com"}
    assert attendees["mailto:alice@example.com"]["CN"] == "Alice Jensen"
    assert attendees["mailto:carol@example.com"]["CN"] == "Carol, SRE"  # quoted: it holds a comma
    assert 'CN="Carol, SRE"' in text.replace("\r\n ", "")
    assert all(p["RSVP"] == "TRUE" and p["PARTSTAT"] == "NEEDS-ACTION" for p in attendees.values())
    description = unescape(prop(event, "DESCRIPTION"))
    assert description == (
        "Review of INC-42.\n\nWhen: Mon 30 Mar 2026, 09:00-10:00 Europe/Copenhagen (CEST)\n"
        "Participants: Bob\nLink: https://example.slack.com/archives/C0INC"
    )


def test_times_are_utc_and_the_local_time_is_right_across_dst():
    # 09:00 in Copenhagen: 08:00 UTC on Friday 27 March (CET), 07:00 UTC on Monday 30 March (CEST).
    friday = parse(invite(start=datetime(2026, 3, 27, 9, 0, tzinfo=CPH)))["_children"][0]
    monday = parse(invite(start=datetime(2026, 3, 30, 9, 0, tzinfo=CPH)))["_children"][0]
    assert prop(friday, "DTSTART") == "20260327T080000Z" and prop(monday, "DTSTART") == "20260330T070000Z"
    assert "09:00-10:00 Europe/Copenhagen (CET)" in unescape(prop(friday, "DESCRIPTION"))
    assert "09:00-10:00 Europe/Copenhagen (CEST)" in unescape(prop(monday, "DESCRIPTION"))
    # Autumn: Monday 26 October 09:00 CET is 08:00 UTC; a 90-minute meeting.
    autumn = parse(invite(start=datetime(2026, 10, 26, 9, 0, tzinfo=CPH), minutes=90))["_children"][0]
    assert (prop(autumn, "DTSTART"), prop(autumn, "DTEND")) == ("20261026T080000Z", "20261026T093000Z")
    # New York after its change on 8 March: 10:00 EDT is 14:00 UTC.
    new_york = parse(invite(start=datetime(2026, 3, 9, 10, 0, tzinfo=NY), tz=NY))["_children"][0]
    assert prop(new_york, "DTSTART") == "20260309T140000Z"
    assert "Mon 9 Mar 2026, 10:00-11:00 America/New_York (EDT)" in unescape(prop(new_york, "DESCRIPTION"))
    # Every date-time is UTC: no TZID, so no VTIMEZONE is needed.
    assert "TZID" not in invite() and "VTIMEZONE" not in invite()


def test_without_an_organizer_it_is_published_and_everyone_is_named():
    calendar = parse(invite(organizer_email=None))
    [event] = calendar["_children"]
    assert prop(calendar, "METHOD") == "PUBLISH"
    assert "ORGANIZER" not in event and "ATTENDEE" not in event
    assert "Participants: Alice Jensen, Bob, Carol, SRE" in unescape(prop(event, "DESCRIPTION"))


def test_confirmed_updates_and_cancellations():
    confirmed = parse(invite(confirmed=True, sequence=2))["_children"][0]
    assert (prop(confirmed, "STATUS"), prop(confirmed, "SEQUENCE")) == ("CONFIRMED", "2")
    cancelled = parse(invite(cancel=True, sequence=3))
    assert prop(cancelled, "METHOD") == "CANCEL"
    assert prop(cancelled["_children"][0], "STATUS") == "CANCELLED"
    published = parse(invite(cancel=True, organizer_email=None))
    assert prop(published, "METHOD") == "PUBLISH" and prop(published["_children"][0], "STATUS") == "CANCELLED"


def test_text_is_escaped_and_long_lines_are_folded():
    title = 'Rollback; cache, "config" \\ flags\nand more'
    description = "Line one\r\nLine two; with, punctuation\rand a backslash \\n that is not a newline " + "é" * 80
    event = parse(invite(title=title, description=description))["_children"][0]
    assert unescape(prop(event, "SUMMARY")) == 'Rollback; cache, "config" \\ flags\nand more'
    assert unescape(prop(event, "DESCRIPTION")).startswith(
        "Line one\nLine two; with, punctuation\nand a backslash \\n that is not a newline " + "é" * 80)
    raw = invite(title=title, description=description)
    assert "SUMMARY:Rollback\\; cache\\, \"config\" \\\\ flags\\nand more" in raw
    assert any(line.startswith(" ") for line in raw.split("\r\n"))  # folded


def test_odd_addresses_and_urls_are_left_out():
    event = parse(invite(attendees=[("Eve", "eve@example.com\r\nATTENDEE:mailto:x@y.z"), ("Dan", "not an email")],
                         url="javascript:alert(1) x"))["_children"][0]
    assert "ATTENDEE" not in event and "URL" not in event
    assert "Participants: Eve, Dan" in unescape(prop(event, "DESCRIPTION"))
    with pytest.raises(ValueError):
        invite(minutes=0)
    with pytest.raises(ValueError):
        invite(uid="a\r\nb")
    with pytest.raises(ValueError, match="naive"):
        invite(start=datetime(2026, 3, 30, 9, 0))


def test_fold_never_splits_a_utf8_character():
    line = "DESCRIPTION:" + "ø" * 100 + "🙂" * 30
    folded = ics.fold(line)
    pieces = folded.split("\r\n")
    assert all(len(piece.encode("utf-8")) <= 75 for piece in pieces)
    assert pieces[0] + "".join(piece[1:] for piece in pieces[1:]) == line
    assert ics.fold("X" * 75) == "X" * 75 and ics.fold("X" * 76) == "X" * 75 + "\r\n X"


@settings(max_examples=200, deadline=None)
@given(title=st.text(max_size=300), description=st.text(max_size=600),
       names=st.lists(st.text(max_size=60), max_size=4))
def test_any_text_round_trips(title, description, names):
    attendees = [(name, f"user{i}@example.com") for i, name in enumerate(names)]
    calendar = parse(invite(title=title, description=description, attendees=attendees))
    [event] = calendar["_children"]

    def clean(value: str) -> str:
        value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
        return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", " ", value)

    assert unescape(prop(event, "SUMMARY")) == clean(title)
    assert unescape(prop(event, "DESCRIPTION")).startswith(clean(description).strip())
    assert len(event.get("ATTENDEE", [])) == len(names)

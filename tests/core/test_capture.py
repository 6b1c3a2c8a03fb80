"""Capturing messages on the timeline: one event per message, original time, edits, deletes, notes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
from freezegun import freeze_time
from sqlmodel import Session

from incidentbot.core import capture, incidents, timeline
from incidentbot.core.errors import Closed, InvalidInput
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy
from incidentbot.models import TimelineEvent

CHANNEL = "C0INC1"
TS = "1732190000.000100"  # 2024-11-21 11:53:20.000100 UTC
POLICY = load_policy()


@pytest.fixture
def incident(session):
    created, _ = incidents.declare(session, POLICY, Declaration("Queue backlog", "SEV2", "U1"))
    incidents.attach_channel(session, created, CHANNEL, "inc-1")
    session.commit()
    return created


def grab(session, incident, via, actor="U0BOB", ts=TS, text="restarted the consumer"):
    return capture.capture(session, incident, channel_id=CHANNEL, ts=ts, author="U0ALICE", text=text,
                           permalink=f"https://x.slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}",
                           via=via, actor=actor)


def captured(session, incident) -> list[TimelineEvent]:
    return [e for e in timeline.events(session, incident, include_deleted=True) if e.kind in ("message_captured", "note")]


def test_a_capture_keeps_the_messages_time_author_and_link(session, incident):
    with freeze_time("2026-05-01 09:00:00"):
        event, created = grab(session, incident, "pin")
    session.commit()
    session.expire_all()
    assert created
    stored = session.get(TimelineEvent, event.id)
    assert stored.kind == "message_captured"
    assert stored.occurred_at == datetime(2024, 11, 21, 11, 53, 20, 100, tzinfo=timezone.utc)  # not "now"
    assert (stored.actor, stored.text, stored.message_ts) == ("U0ALICE", "restarted the consumer", TS)
    assert stored.permalink.endswith("p1732190000000100")
    assert stored.source_key == f"message:{CHANNEL}:{TS}"
    assert stored.data["via"] == ["pin"] and stored.data["captured_by"] == ["U0BOB"]


def test_pin_reaction_and_shortcut_of_one_message_are_one_event(session, incident):
    first, created = grab(session, incident, "pin", actor="U0BOB")
    session.commit()
    again, created_again = grab(session, incident, "reaction", actor="U0CAROL")
    third, created_third = grab(session, incident, "shortcut", actor="U0BOB")
    repeat, created_repeat = grab(session, incident, "reaction", actor="U0CAROL")
    session.commit()
    assert created and not (created_again or created_third or created_repeat)
    assert first.id == again.id == third.id == repeat.id
    session.expire_all()
    [event] = captured(session, incident)
    assert event.data["via"] == ["pin", "reaction", "shortcut"]
    assert event.data["captured_by"] == ["U0BOB", "U0CAROL"]


def test_other_messages_are_other_events_in_time_order(session, incident):
    grab(session, incident, "pin", ts="1732190100.000000", text="second")
    grab(session, incident, "reaction", ts="1732190000.000000", text="first")
    session.commit()
    assert [e.text for e in captured(session, incident)] == ["first", "second"]


def test_concurrent_captures_of_one_message_make_one_event(engine, incident):
    incident_id = incident.id

    def capture_once(via):
        with Session(engine) as session:
            _event, created = grab(session, incidents.get(session, incident_id), via)
            session.commit()
            return created

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(capture_once, ["pin", "reaction", "shortcut"] * 2))
    assert results.count(True) == 1
    with Session(engine) as session:
        [event] = captured(session, incidents.get(session, incident_id))
    if engine.dialect.name == "postgresql":  # row locks: no capture path is lost
        assert sorted(event.data["via"]) == ["pin", "reaction", "shortcut"]


def test_an_edit_updates_the_event_and_a_delete_marks_it(session, incident):
    grab(session, incident, "pin")
    session.commit()
    edited = capture.update_captured(session, incident, CHANNEL, TS, "restarted the consumer (twice)")
    assert edited.text == "restarted the consumer (twice)" and edited.data["edited"] is True
    assert edited.data["via"] == ["pin"]  # the rest of data survives
    assert capture.update_captured(session, incident, CHANNEL, "1.000000", "x") is None  # never captured
    session.commit()
    session.expire_all()
    assert captured(session, incident)[0].text == "restarted the consumer (twice)"
    assert capture.delete_captured(session, incident, CHANNEL, TS).deleted
    assert capture.delete_captured(session, incident, CHANNEL, "1.000000") is None
    session.commit()
    assert [e for e in timeline.events(session, incident) if e.kind == "message_captured"] == []
    assert captured(session, incident)[0].deleted


def test_notes_are_at_the_time_typed_and_once_per_command(session, incident):
    with freeze_time("2026-03-29 01:30:00"):  # Europe's spring-forward night; UTC does not care
        note, created = capture.note(session, POLICY, incident, text="  rolled back  v2.3 ", actor="U0BOB",
                                     key="trigger-1", channel_id=CHANNEL)
        again, created_again = capture.note(session, POLICY, incident, text="rolled back v2.3", actor="U0BOB",
                                            key="trigger-1", channel_id=CHANNEL)
    session.commit()
    assert created and not created_again and note.id == again.id
    assert (note.kind, note.text, note.actor, note.source_key) == ("note", "rolled back  v2.3", "U0BOB", "note:trigger-1")
    assert note.occurred_at == datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc)
    assert note.data["via"] == ["note"] and note.message_ts is None


def test_empty_and_too_long_notes_are_refused(session, incident):
    with pytest.raises(InvalidInput, match="/incident note <text>"):
        capture.note(session, POLICY, incident, text="   ", actor="U0BOB", key="t1")
    with pytest.raises(InvalidInput, match="2,900"):
        capture.note(session, POLICY, incident, text="x" * 3000, actor="U0BOB", key="t2")


def test_a_closed_incident_takes_no_captures(session, incident):
    incident.closed_at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    session.add(incident)
    session.commit()
    with pytest.raises(Closed):
        grab(session, incident, "pin")
    with pytest.raises(Closed):
        capture.note(session, POLICY, incident, text="late", actor="U0BOB", key="t3")


def test_bad_arguments_are_programming_errors(session, incident):
    with pytest.raises(ValueError, match="capture path"):
        grab(session, incident, "telepathy")
    with pytest.raises(ValueError, match="channel and ts"):
        capture.capture(session, incident, channel_id=None, ts=None, author=None, text="", permalink=None,
                        via="pin", actor=None)

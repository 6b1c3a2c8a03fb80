"""Edits of channel messages (``slack.capture._edited``): the newest edit wins in the
message and in its timeline event, whatever order the edits arrive in, and an edit that
races its message's first delivery is not lost."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from incidentbot.core import capture, incidents, messages
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy
from incidentbot.slack import capture as slack_capture

CHANNEL, TS = "C0INC1", "1732190000.000100"


@pytest.fixture
def incident(session):
    created, _ = incidents.declare(session, load_policy(), Declaration("Queue backlog", "SEV2", "U1"))
    incidents.attach_channel(session, created, CHANNEL, "inc-1")
    session.commit()
    return created


def changed(text: str, edited_ts: str) -> dict:
    return {"type": "message", "subtype": "message_changed", "channel": CHANNEL, "ts": edited_ts,
            "message": {"type": "message", "user": "U0ALICE", "text": text, "ts": TS,
                        "edited": {"user": "U0ALICE", "ts": edited_ts}}}


def test_an_older_edit_delivered_late_changes_neither_the_message_nor_its_timeline_event(session, incident):
    messages.store(session, incident, CHANNEL, {"ts": TS, "user": "U0ALICE", "text": "v1"}, source="event")
    capture.capture(session, incident, channel_id=CHANNEL, ts=TS, author="U0ALICE", text="v1", permalink=None,
                    via="pin", actor="U0BOB")
    slack_capture._edited(session, incident, CHANNEL, changed("v3", "1732190010.000000"))
    slack_capture._edited(session, incident, CHANNEL, changed("v2", "1732190005.000000"))
    session.commit()
    assert messages.get(session, CHANNEL, TS).text == "v3"
    event = capture.by_source(session, incident, capture.message_key(CHANNEL, TS))
    assert (event.text, event.data["edited"]) == ("v3", True)


def test_an_edit_racing_the_first_delivery_of_its_message_is_applied(engine, incident, monkeypatch):
    """The edit's look finds no message (the original is not committed yet); by the time
    the edit stores its version, the original is there: the edit must still be applied."""
    real_edit = messages.edit
    with Session(engine) as original:
        messages.store(original, incident, CHANNEL, {"ts": TS, "user": "U0ALICE", "text": "typo"}, source="event")
        original.commit()
    looks = []

    def not_yet_visible(session, channel_id, ts, new_text, edited_at):
        looks.append(ts)
        return None if len(looks) == 1 else real_edit(session, channel_id, ts, new_text, edited_at)
    monkeypatch.setattr(messages, "edit", not_yet_visible)
    with Session(engine) as late:
        slack_capture._edited(late, incident, CHANNEL, changed("fixed", "1732190003.000000"))
        late.commit()
    with Session(engine) as check:
        row = messages.get(check, CHANNEL, TS)
        assert (row.text, row.edited_at) == ("fixed", messages.ts_to_datetime("1732190003.000000"))
    assert len(looks) == 2

"""slack/listeners/errors.py: what Slack and the person get when a listener fails.
Bolt's ``response`` is there until the listener acknowledges, None after."""

from __future__ import annotations

import json

from slack_bolt.response import BoltResponse
from sqlalchemy import exc

from incidentbot.db import make_engine
from incidentbot.slack import blocks
from incidentbot.slack.listeners import errors
from pgserver import free_port

DOWN = exc.OperationalError("SELECT 1", {}, OSError("connection refused"))
COMMAND = {"command": "/incident", "text": "ack", "response_url": "https://hooks.example/r"}
CLICK = {"type": "block_actions", "response_url": "https://hooks.example/r", "actions": [{"action_id": "incident_ack"}]}
FORM = {"type": "view_submission", "view": {"blocks": [
    {"type": "section", "block_id": "intro"},
    {"type": "input", "block_id": "status", "element": {"type": "static_select"}},
    {"type": "input", "block_id": "text", "element": {"type": "plain_text_input"}},
]}}


class Said(list):
    """Bolt's ``respond``: what was sent through the response_url."""

    def __call__(self, **kwargs) -> None:
        self.append(kwargs)


def unacknowledged() -> BoltResponse:
    return BoltResponse(status=500, body="")


def test_a_command_refused_before_its_ack_is_answered_in_the_ack():
    said = Said()
    answer = errors.report_error(DOWN, COMMAND, said, unacknowledged())
    assert (answer.status, json.loads(answer.body)) == (200, {"response_type": "ephemeral", "text": blocks.DATABASE_DOWN})
    assert said == []  # once, in the ack


def test_a_form_shows_it_under_its_first_text_field_and_stays_open():
    answer = errors.report_error(DOWN, FORM, None, unacknowledged())
    assert json.loads(answer.body) == {"response_action": "errors", "errors": {"text": blocks.DATABASE_DOWN}}


def test_after_the_ack_it_may_be_partly_done_and_is_said_privately():
    said = Said()
    assert errors.report_error(DOWN, CLICK, said, None) is None
    assert said == [{"text": blocks.DATABASE_LOST, "response_type": "ephemeral", "replace_original": False}]


def test_a_bug_is_never_a_500():
    said = Said()
    answer = errors.report_error(KeyError("card_ts"), CLICK, said, unacknowledged())
    assert (answer.status, answer.body) == (200, "")
    assert said == [{"text": errors.SOMETHING_WENT_WRONG, "response_type": "ephemeral", "replace_original": False}]


def test_an_event_has_nobody_to_answer():
    said = Said()
    assert errors.report_error(DOWN, {"type": "event_callback", "event": {"type": "message"}}, said,
                               BoltResponse(status=200)) is None
    assert said == []


def test_events_are_refused_with_503_while_the_database_is_down():
    passed = []
    down = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x")
    up = make_engine("sqlite://")
    try:
        event = {"type": "event_callback", "event_id": "Ev1", "event": {"type": "message"}}
        refused = errors.hold_events_while_database_down(event, {"deps": _Deps(down)}, lambda: passed.append(1))
        assert (refused.status, json.loads(refused.body)) == (503, {"ok": False, "error": "database_unavailable"})
        assert passed == []
        errors.hold_events_while_database_down(event, {"deps": _Deps(up)}, lambda: passed.append(1))
        errors.hold_events_while_database_down(COMMAND, {"deps": _Deps(down)}, lambda: passed.append(2))
        assert passed == [1, 2]  # commands are never held here: they get their answer in the ack
    finally:
        down.dispose()
        up.dispose()


class _Deps:
    def __init__(self, engine) -> None:
        self.engine = engine

"""Requests no listener takes are answered 200, and a person is told what to do.

A non-2xx answer to an event counts as a failed delivery: Slack delivers it again and
turns event delivery off for an app that keeps failing. A click on a button an older
version posted would show only a warning sign.
"""

from __future__ import annotations

import json
import logging

from incidentbot.sandbox.driver import JSON
from incidentbot.slack.listeners.fallbacks import STALE, STALE_FORM
from tests_support import ALICE, BOB, GENERAL, wait_for


def test_an_event_nothing_uses_is_answered_200_and_changes_nothing(bot):
    before = len(bot.slack.calls())
    answer = bot.driver.event({"type": "member_joined_channel", "user": BOB, "channel": GENERAL})
    assert answer.status == 200
    renamed = bot.driver.event({"type": "channel_rename", "channel": {"id": GENERAL, "name": "general-2"}})
    assert renamed.status == 200
    assert bot.incidents() == [] and len(bot.slack.calls()) == before


def test_app_rate_limited_is_answered_200_and_logged(bot, caplog):
    body = {"token": bot.driver.verification_token, "type": "app_rate_limited", "team_id": bot.driver.team_id,
            "minute_rate_limited": 1795251600, "api_app_id": bot.driver.api_app_id}
    with caplog.at_level(logging.WARNING, logger="incidentbot"):
        answer = bot.driver.send(json.dumps(body).encode(), JSON)
    assert answer.status == 200
    assert any("app_rate_limited" in r.getMessage() and "1795251600" in r.getMessage() for r in caplog.records)


def test_a_button_from_an_older_version_says_so(bot):
    deps = bot.deps()
    ts = deps.gateway.post(GENERAL, "An old card", [{
        "type": "actions", "block_id": "old",
        "elements": [{"type": "button", "action_id": "incident_escalate", "text": {"type": "plain_text", "text": "Escalate"},
                      "value": "1"}],
    }])
    answer = bot.driver.block_action(user=ALICE, action_id="incident_escalate", channel=GENERAL, message_ts=ts)
    assert answer.status == 200
    reply = wait_for(lambda: bot.replies(ALICE), "the answer to the click")[-1]
    assert reply["text"] == STALE and "/incident help" in reply["text"]


def test_a_message_shortcut_from_an_older_version_says_so(bot):
    posted, _ = bot.driver.user_posts(GENERAL, BOB, "Checkout is slow")
    answer = bot.driver.message_shortcut("escalate_message", user=ALICE, channel=GENERAL, message_ts=posted["ts"])
    assert answer.status == 200
    assert wait_for(lambda: bot.replies(ALICE), "the answer to the shortcut")[-1]["text"] == STALE


def test_a_form_from_an_older_version_is_replaced_by_an_explanation(bot):
    deps = bot.deps()
    view = deps.gateway.client.views_open(trigger_id=bot.slack.mint_trigger(ALICE), view={
        "type": "modal", "callback_id": "incident_escalate_view", "title": {"type": "plain_text", "text": "Escalate"},
        "submit": {"type": "plain_text", "text": "Escalate"},
        "blocks": [{"type": "input", "block_id": "why", "label": {"type": "plain_text", "text": "Why"},
                    "element": {"type": "plain_text_input", "action_id": "why"}}],
    })["view"]
    answer = bot.driver.submit_view(view["id"], user=ALICE, values={"why": {"why": "customers"}})
    assert answer.status == 200
    assert answer.json["response_action"] == "update"
    assert STALE_FORM in json.dumps(answer.json["view"]["blocks"])
    assert bot.incidents() == []


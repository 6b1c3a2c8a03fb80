"""views.* with trigger_id rules (on a fake clock, no sleeping) and hashes."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from incidentbot.sandbox import SandboxClient, SandboxServer
from incidentbot.sandbox.clock import FakeClock


def error_of(call, **kwargs) -> dict:
    with pytest.raises(SlackApiError) as caught:
        call(**kwargs)
    return caught.value.response.data


def modal(title: str = "Declare incident", **extra) -> dict:
    return {
        "type": "modal",
        "callback_id": "declare",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Declare"},
        "private_metadata": "C0GENERAL",
        "blocks": [
            {
                "type": "input",
                "block_id": "title",
                "label": {"type": "plain_text", "text": "Title"},
                "element": {"type": "plain_text_input", "action_id": "value"},
            }
        ],
        **extra,
    }


def test_open_returns_the_view_and_records_who_it_is_for(slack: WebClient, inspect: SandboxClient) -> None:
    trigger = inspect.mint_trigger("U0ALICE")
    view = slack.views_open(trigger_id=trigger, view=modal())["view"]
    assert view["id"].startswith("V") and view["hash"]
    assert view["callback_id"] == "declare" and view["private_metadata"] == "C0GENERAL"
    assert view["state"] == {"values": {}} and view["root_view_id"] == view["id"]
    stored = inspect.view(view["id"])
    assert stored["user"] == "U0ALICE" and stored["trigger_id"] == trigger and stored["type"] == "modal"


def test_trigger_is_single_use(slack: WebClient, inspect: SandboxClient) -> None:
    trigger = inspect.mint_trigger("U0ALICE")
    slack.views_open(trigger_id=trigger, view=modal())
    assert error_of(slack.views_open, trigger_id=trigger, view=modal())["error"] == "exchanged_trigger_id"
    assert error_of(slack.views_open, trigger_id="123.456.abc", view=modal())["error"] == "invalid_trigger_id"


def test_trigger_expires_after_three_seconds(slack: WebClient, inspect: SandboxClient, clock: FakeClock) -> None:
    fresh = inspect.mint_trigger("U0ALICE")
    stale = inspect.mint_trigger("U0ALICE")
    clock.advance(2.9)
    assert slack.views_open(trigger_id=fresh, view=modal())["ok"]
    clock.advance(0.2)
    assert error_of(slack.views_open, trigger_id=stale, view=modal())["error"] == "expired_trigger_id"


def test_view_limits_are_enforced(slack: WebClient, inspect: SandboxClient) -> None:
    long_title = error_of(slack.views_open, trigger_id=inspect.mint_trigger("U0ALICE"), view=modal("x" * 25))
    assert long_title["error"] == "invalid_arguments"
    assert "/view/title/text" in long_title["response_metadata"]["messages"][0]
    big = modal(private_metadata="x" * 3001)
    assert error_of(slack.views_open, trigger_id=inspect.mint_trigger("U0ALICE"), view=big)["error"] == "invalid_arguments"
    no_submit = modal()
    del no_submit["submit"]
    assert error_of(slack.views_open, trigger_id=inspect.mint_trigger("U0ALICE"), view=no_submit)["error"] == "invalid_arguments"


def test_update_by_id_or_external_id_with_hash(slack: WebClient, inspect: SandboxClient) -> None:
    view = slack.views_open(trigger_id=inspect.mint_trigger("U0ALICE"), view=modal(external_id="declare-1"))["view"]
    updated = slack.views_update(view_id=view["id"], hash=view["hash"], view=modal("Step 2", external_id="declare-1"))["view"]
    assert updated["id"] == view["id"] and updated["hash"] != view["hash"]
    assert error_of(slack.views_update, view_id=view["id"], hash=view["hash"], view=modal())["error"] == "hash_conflict"
    by_external = slack.views_update(external_id="declare-1", view=modal("Step 3", external_id="declare-1"))["view"]
    assert by_external["title"]["text"] == "Step 3"
    assert error_of(slack.views_update, view_id="V0MISSING", view=modal())["error"] == "not_found"


def test_push_stacks_at_most_three(slack: WebClient, inspect: SandboxClient) -> None:
    root = slack.views_open(trigger_id=inspect.mint_trigger("U0ALICE"), view=modal())["view"]
    second = slack.views_push(trigger_id=inspect.mint_trigger("U0ALICE"), view=modal("Two"))["view"]
    assert second["root_view_id"] == root["id"] and second["previous_view_id"] == root["id"]
    slack.views_push(trigger_id=inspect.mint_trigger("U0ALICE"), view=modal("Three"))
    refused = error_of(slack.views_push, trigger_id=inspect.mint_trigger("U0ALICE"), view=modal("Four"))
    assert refused["error"] == "push_limit_reached"


def test_publish_home_keeps_one_view_per_user(slack: WebClient, inspect: SandboxClient) -> None:
    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Open incidents: 0"}}]}
    first = slack.views_publish(user_id="U0BOB", view=home)["view"]
    second = slack.views_publish(user_id="U0BOB", view=home, hash=first["hash"])["view"]
    assert first["id"] == second["id"]
    assert error_of(slack.views_publish, user_id="U0BOB", view=home, hash=first["hash"])["error"] == "hash_conflict"
    assert error_of(slack.views_publish, user_id="U0NOBODY", view=home)["error"] == "user_not_found"
    assert [v["type"] for v in inspect.views(user="U0BOB")] == ["home"]


def test_response_actions_change_the_modal(slack: WebClient, inspect: SandboxClient, server: SandboxServer) -> None:
    view = slack.views_open(trigger_id=inspect.mint_trigger("U0ALICE"), view=modal())["view"]
    errors = inspect.apply_view_response(view["id"], {"response_action": "errors", "errors": {"title": "Too short"}})
    assert errors["errors"] == {"title": "Too short"} and not errors["closed"]
    updated = inspect.apply_view_response(view["id"], {"response_action": "update", "view": modal("Next")})
    assert updated["title"]["text"] == "Next" and updated["id"] == view["id"]
    pushed = inspect.apply_view_response(view["id"], {"response_action": "push", "view": modal("Pushed")})
    assert pushed["previous_view_id"] == view["id"]
    cleared = inspect.apply_view_response(pushed["id"], {"response_action": "clear"})
    assert cleared["closed"] and inspect.view(view["id"])["closed"]
    assert error_of(slack.views_update, view_id=view["id"], view=modal())["error"] == "not_found"

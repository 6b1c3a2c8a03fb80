"""conversations.*, users.* and auth over real HTTP with the real slack_sdk WebClient."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from incidentbot.sandbox import SandboxServer


def error_of(call, **kwargs) -> dict:
    with pytest.raises(SlackApiError) as caught:
        call(**kwargs)
    return caught.value.response.data


def test_auth_test_names_the_bot(slack: WebClient, server: SandboxServer) -> None:
    result = slack.auth_test()
    assert result["user_id"] == "U0BOT"
    assert result["bot_id"] == "B0BOT"
    assert result["team_id"] == "T0SANDBOX"
    assert result["url"] == server.url


def test_unknown_and_missing_tokens_are_refused(server: SandboxServer) -> None:
    assert error_of(WebClient(base_url=server.api_url, token="xoxb-wrong").auth_test)["error"] == "invalid_auth"
    assert error_of(WebClient(base_url=server.api_url).auth_test)["error"] == "not_authed"


def test_unknown_method(slack: WebClient) -> None:
    assert error_of(slack.api_call, api_method="nope.never")["error"] == "unknown_method"


def test_seeded_users_have_slack_profiles(slack: WebClient) -> None:
    alice = slack.users_info(user="U0ALICE")["user"]
    assert alice["name"] == "alice"
    assert alice["tz"] == "Europe/Copenhagen"
    assert alice["profile"]["email"] == "alice@sandbox.example"
    assert alice["profile"]["display_name"] == "alice"
    assert error_of(slack.users_info, user="U0NOBODY")["error"] == "user_not_found"


def test_users_list_pages_with_cursors(slack: WebClient) -> None:
    seen, cursor = [], None
    while True:
        page = slack.users_list(limit=2, cursor=cursor)
        seen += [u["id"] for u in page["members"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert seen == ["U0BOT", "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0ERIN"]


def test_create_channel_makes_the_bot_a_member(slack: WebClient, server: SandboxServer) -> None:
    channel = slack.conversations_create(name="inc-42-db-outage")["channel"]
    assert channel["id"].startswith("C") and channel["id"] == channel["id"].upper()
    assert channel["name"] == "inc-42-db-outage"
    assert channel["is_member"] is True and channel["is_private"] is False
    assert channel["creator"] == "U0BOT"
    assert server.state.channels[channel["id"]].members == ["U0BOT"]


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "invalid_name_required"),
        ("x" * 81, "invalid_name_maxlength"),
        ("Inc-42", "invalid_name_specials"),
        ("inc 42", "invalid_name_specials"),
        ("inc#42", "invalid_name_specials"),
        ("--", "invalid_name_punctuation"),
        ("general", "name_taken"),
    ],
)
def test_channel_names_follow_slack_rules(slack: WebClient, name: str, error: str) -> None:
    assert error_of(slack.conversations_create, name=name)["error"] == error


def test_eighty_characters_is_allowed_and_a_second_create_is_name_taken(slack: WebClient) -> None:
    slack.conversations_create(name="a" * 80)
    assert error_of(slack.conversations_create, name="a" * 80)["error"] == "name_taken"


def test_not_in_channel_until_the_bot_joins(slack: WebClient) -> None:
    assert error_of(slack.chat_postMessage, channel="C0INCIDENTS", text="hi")["error"] == "not_in_channel"
    assert error_of(slack.conversations_history, channel="C0INCIDENTS")["error"] == "not_in_channel"
    joined = slack.conversations_join(channel="C0INCIDENTS")["channel"]
    assert joined["is_member"] is True
    assert slack.chat_postMessage(channel="C0INCIDENTS", text="hi")["ok"]
    again = slack.conversations_join(channel="C0INCIDENTS")
    assert again["warning"] == "already_in_channel"


def test_private_channels_are_invisible_to_outsiders(slack: WebClient, server: SandboxServer) -> None:
    secret = server.state.add_channel("secret", is_private=True, members=["U0ALICE"])
    assert error_of(slack.conversations_info, channel=secret.id)["error"] == "channel_not_found"
    assert error_of(slack.conversations_join, channel=secret.id)["error"] == "channel_not_found"
    assert error_of(slack.chat_postMessage, channel=secret.id, text="x")["error"] == "channel_not_found"
    mine = slack.conversations_create(name="inc-private", is_private=True)["channel"]
    assert mine["is_private"] is True
    assert error_of(slack.conversations_join, channel=mine["id"])["error"] == "method_not_supported_for_channel_type"


def test_invite_is_all_or_nothing_unless_forced(slack: WebClient, server: SandboxServer) -> None:
    channel = slack.conversations_create(name="inc-invite")["channel"]["id"]
    slack.conversations_invite(channel=channel, users="U0ALICE")
    failed = error_of(slack.conversations_invite, channel=channel, users="U0ALICE,U0BOB")
    assert failed["error"] == "already_in_channel"
    assert failed["errors"] == [{"user": "U0ALICE", "ok": False, "error": "already_in_channel"}]
    assert "U0BOB" not in server.state.channels[channel].members
    forced = slack.conversations_invite(channel=channel, users="U0ALICE,U0BOB", force=True)
    assert forced["ok"] and forced["errors"][0]["user"] == "U0ALICE"
    assert server.state.channels[channel].members == ["U0BOT", "U0ALICE", "U0BOB"]
    assert error_of(slack.conversations_invite, channel=channel, users="U0BOB")["error"] == "already_in_channel"


def test_invite_errors(slack: WebClient) -> None:
    channel = slack.conversations_create(name="inc-invite-errors")["channel"]["id"]
    assert error_of(slack.conversations_invite, channel=channel, users="U0BOT")["error"] == "cant_invite_self"
    assert error_of(slack.conversations_invite, channel=channel, users="U0GHOST")["error"] == "user_not_found"
    assert error_of(slack.conversations_invite, channel="C0GENERAL", users="U0ALICE")["error"] == "not_in_channel"
    assert error_of(slack.conversations_invite, channel="C0MISSING", users="U0ALICE")["error"] == "channel_not_found"


def test_members_list_pages(slack: WebClient) -> None:
    first = slack.conversations_members(channel="C0GENERAL", limit=3)
    second = slack.conversations_members(channel="C0GENERAL", cursor=first["response_metadata"]["next_cursor"])
    assert first["members"] + second["members"] == ["U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0ERIN"]
    assert second["response_metadata"]["next_cursor"] == ""


def test_list_filters_types_and_archived(slack: WebClient) -> None:
    private = slack.conversations_create(name="inc-hidden", is_private=True)["channel"]["id"]
    old = slack.conversations_create(name="inc-old")["channel"]["id"]
    slack.conversations_archive(channel=old)
    public = {c["id"] for c in slack.conversations_list()["channels"]}
    assert {"C0GENERAL", "C0INCIDENTS", old} <= public and private not in public
    both = slack.conversations_list(types="public_channel,private_channel", exclude_archived=True)
    ids = {c["id"] for c in both["channels"]}
    assert private in ids and old not in ids
    pages = slack.conversations_list(limit=1)
    assert len(pages["channels"]) == 1 and pages["response_metadata"]["next_cursor"]


def test_topic_purpose_and_archive(slack: WebClient, server: SandboxServer) -> None:
    channel = slack.conversations_create(name="inc-topic")["channel"]["id"]
    assert slack.conversations_setTopic(channel=channel, topic="SEV1 · investigating")["channel"]["topic"]["value"] == "SEV1 · investigating"
    assert slack.conversations_setPurpose(channel=channel, purpose="DB outage")["purpose"] == "DB outage"
    assert error_of(slack.conversations_setTopic, channel=channel, topic="x" * 251)["error"] == "too_long"
    assert error_of(slack.conversations_setTopic, channel="C0GENERAL", topic="x")["error"] == "not_in_channel"
    slack.conversations_archive(channel=channel)
    assert error_of(slack.conversations_archive, channel=channel)["error"] == "already_archived"
    assert error_of(slack.chat_postMessage, channel=channel, text="late")["error"] == "is_archived"
    subtypes = [m.get("subtype") for m in server.state.channels[channel].messages]
    assert subtypes == ["channel_topic", "channel_purpose"]


def test_info_counts_members_on_request(slack: WebClient) -> None:
    info = slack.conversations_info(channel="C0GENERAL", include_num_members=True)["channel"]
    assert info["num_members"] == 5 and info["is_member"] is False and info["is_general"] is True


def test_direct_messages(slack: WebClient, server: SandboxServer) -> None:
    opened = slack.conversations_open(users="U0DAVE")["channel"]["id"]
    assert opened.startswith("D")
    assert slack.conversations_open(users="U0DAVE", return_im=True)["channel"] == {
        **server.state.channels[opened].to_slack(), "id": opened,
    }
    # Posting to a user id lands in the same DM, as Slack does.
    posted = slack.chat_postMessage(channel="U0DAVE", text="Your postmortem is due Friday")
    assert posted["channel"] == opened
    assert [m["text"] for m in slack.conversations_history(channel=opened)["messages"]] == ["Your postmortem is due Friday"]
    assert {c["id"] for c in slack.conversations_list(types="im")["channels"]} == {opened}
    assert error_of(slack.conversations_invite, channel=opened, users="U0ERIN")["error"] == "method_not_supported_for_channel_type"


def test_tests_can_add_users_and_channels(slack: WebClient, server: SandboxServer) -> None:
    server.state.add_user("U0FRANK", "frank", real_name="Frank Foster", tz="Australia/Sydney", email="frank@corp.example")
    frank = slack.users_info(user="U0FRANK")["user"]
    assert frank["profile"]["email"] == "frank@corp.example" and frank["tz_offset"] in (36_000, 39_600)
    assert slack.users_lookupByEmail(email="frank@corp.example")["user"]["id"] == "U0FRANK"
    ops = server.state.add_channel("ops", members=["U0FRANK"], topic="Ops chatter")
    info = slack.conversations_info(channel=ops.id)["channel"]
    assert info["name"] == "ops" and info["topic"]["value"] == "Ops chatter" and info["is_member"] is False

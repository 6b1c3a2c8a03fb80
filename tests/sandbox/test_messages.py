"""chat.*, pins.*, reactions.*, bookmarks.* and history over real HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from incidentbot.sandbox import SandboxServer
from incidentbot.sandbox.clock import FakeClock


def error_of(call, **kwargs) -> dict:
    with pytest.raises(SlackApiError) as caught:
        call(**kwargs)
    return caught.value.response.data


@pytest.fixture
def channel(slack: WebClient) -> str:
    return slack.conversations_create(name="inc-1-checkout")["channel"]["id"]


def test_post_message_returns_a_slack_message(slack: WebClient, channel: str, clock: FakeClock) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*SEV1*"}}]
    posted = slack.chat_postMessage(channel=channel, text="SEV1 declared", blocks=blocks)
    assert posted["channel"] == channel
    assert posted["ts"] == f"{int(clock.now)}.000000"
    message = posted["message"]
    assert message["type"] == "message" and message["user"] == "U0BOT" and message["bot_id"] == "B0BOT"
    assert message["text"] == "SEV1 declared"
    assert message["blocks"][0]["text"]["text"] == "*SEV1*" and message["blocks"][0]["block_id"]


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_post_message_errors(slack: WebClient, channel: str) -> None:
    assert error_of(slack.chat_postMessage, channel=channel)["error"] == "no_text"
    assert error_of(slack.chat_postMessage, channel="C0NOPE", text="x")["error"] == "channel_not_found"
    assert error_of(slack.chat_postMessage, channel=channel, text="x" * 40_001)["error"] == "msg_too_long"
    too_many = [{"type": "divider"}] * 51
    assert error_of(slack.chat_postMessage, channel=channel, text="x", blocks=too_many)["error"] == "invalid_blocks"
    long_section = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    failed = error_of(slack.chat_postMessage, channel=channel, text="x", blocks=long_section)
    assert failed["error"] == "invalid_blocks"
    assert "json-pointer:/blocks/0/text/text" in failed["response_metadata"]["messages"][0]


def test_thread_replies_keep_the_parent_summary(slack: WebClient, channel: str, server: SandboxServer) -> None:
    parent = slack.chat_postMessage(channel=channel, text="status")["ts"]
    first = slack.chat_postMessage(channel=channel, text="r1", thread_ts=parent)["ts"]
    second = slack.chat_postMessage(channel=channel, text="r2", thread_ts=first)  # a reply's ts joins its thread
    assert second["message"]["thread_ts"] == parent
    stored = server.state.channels[channel].by_ts[parent]
    assert stored["reply_count"] == 2 and stored["latest_reply"] == second["ts"] and stored["reply_users"] == ["U0BOT"]
    replies = slack.conversations_replies(channel=channel, ts=parent)["messages"]
    assert [m["text"] for m in replies] == ["status", "r1", "r2"]
    history = slack.conversations_history(channel=channel)["messages"]
    assert [m["text"] for m in history] == ["status"]
    assert error_of(slack.chat_postMessage, channel=channel, text="x", thread_ts="1.000001")["error"] == "invalid_thread_ts"
    assert error_of(slack.conversations_replies, channel=channel, ts="1.000001")["error"] == "thread_not_found"


def test_ts_are_unique_and_increasing_under_concurrency(server: SandboxServer, channel: str) -> None:
    # The fake clock stands still, so every ts beyond the first must come from the tie-breaker.
    def post(i: int) -> str:
        client = WebClient(base_url=server.api_url, token="xoxb-sandbox")
        return client.chat_postMessage(channel=channel, text=str(i))["ts"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        stamps = list(pool.map(post, range(200)))
    assert len(set(stamps)) == 200
    stored = [m["ts"] for m in server.state.channels[channel].messages]
    assert stored == sorted(stored, key=Decimal) and len(stored) == 200
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)


def test_ts_follow_the_real_clock_when_it_moves(server: SandboxServer, clock: FakeClock, channel: str, slack: WebClient) -> None:
    first = slack.chat_postMessage(channel=channel, text="a")["ts"]
    clock.advance(12.5)
    second = slack.chat_postMessage(channel=channel, text="b")["ts"]
    assert Decimal(second) - Decimal(first) == Decimal("12.5")


def test_history_pages_through_2500_messages(slack: WebClient, server: SandboxServer, channel: str) -> None:
    for i in range(2500):
        server.state.add_message(channel, user="U0ALICE", text=f"m{i}")
    seen, cursor, pages = [], None, 0
    while True:
        page = slack.conversations_history(channel=channel, limit=999, cursor=cursor)
        pages += 1
        seen += [m["text"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] is bool(cursor)
        if not cursor:
            break
    assert pages == 3
    assert seen == [f"m{i}" for i in reversed(range(2500))]
    assert len(slack.conversations_history(channel=channel, limit=5000)["messages"]) == 999


def test_history_bounds(slack: WebClient, channel: str, clock: FakeClock) -> None:
    stamps = []
    for i in range(5):
        stamps.append(slack.chat_postMessage(channel=channel, text=f"m{i}")["ts"])
        clock.advance(1)
    window = slack.conversations_history(channel=channel, oldest=stamps[1], latest=stamps[3])
    assert [m["text"] for m in window["messages"]] == ["m2"]
    inclusive = slack.conversations_history(channel=channel, oldest=stamps[1], latest=stamps[3], inclusive=True)
    assert [m["text"] for m in inclusive["messages"]] == ["m3", "m2", "m1"]
    assert error_of(slack.conversations_history, channel=channel, cursor="bm9wZQ==")["error"] == "invalid_cursor"


def test_update_and_delete(slack: WebClient, server: SandboxServer, channel: str) -> None:
    ts = slack.chat_postMessage(channel=channel, text="v1", blocks=[{"type": "divider"}])["ts"]
    updated = slack.chat_update(channel=channel, ts=ts, text="v2")
    assert updated["text"] == "v2" and updated["message"]["edited"]["user"] == "U0BOT"
    assert updated["message"]["blocks"][0]["type"] == "divider"  # omitted blocks are kept, as in Slack
    assert "blocks" not in slack.chat_update(channel=channel, ts=ts, text="v3", blocks=[])["message"]
    assert error_of(slack.chat_update, channel=channel, ts="1.000001", text="x")["error"] == "message_not_found"
    human = server.state.add_message(channel, user="U0ALICE", text="mine")
    assert error_of(slack.chat_update, channel=channel, ts=human["ts"], text="x")["error"] == "cant_update_message"
    assert error_of(slack.chat_delete, channel=channel, ts=human["ts"])["error"] == "cant_delete_message"
    slack.chat_delete(channel=channel, ts=ts)
    assert ts not in server.state.channels[channel].by_ts


def test_ephemeral_messages_are_kept_apart(slack: WebClient, server: SandboxServer, channel: str) -> None:
    slack.conversations_invite(channel=channel, users="U0BOB")
    sent = slack.chat_postEphemeral(channel=channel, user="U0BOB", text="only you")
    assert sent["message_ts"]
    assert server.state.ephemerals[0]["user"] == "U0BOB" and server.state.ephemerals[0]["ephemeral"] is True
    assert all(m["text"] != "only you" for m in server.state.channels[channel].messages)
    assert error_of(slack.chat_postEphemeral, channel=channel, user="U0CAROL", text="x")["error"] == "user_not_in_channel"


def test_permalink(slack: WebClient, server: SandboxServer, channel: str) -> None:
    ts = slack.chat_postMessage(channel=channel, text="x")["ts"]
    link = slack.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
    assert link == f"{server.url}archives/{channel}/p{ts.replace('.', '')}"
    reply = slack.chat_postMessage(channel=channel, text="r", thread_ts=ts)["ts"]
    assert slack.chat_getPermalink(channel=channel, message_ts=reply)["permalink"].endswith(f"?thread_ts={ts}&cid={channel}")


def test_pins(slack: WebClient, server: SandboxServer, channel: str) -> None:
    ts = slack.chat_postMessage(channel=channel, text="header")["ts"]
    slack.pins_add(channel=channel, timestamp=ts)
    assert error_of(slack.pins_add, channel=channel, timestamp=ts)["error"] == "already_pinned"
    assert error_of(slack.pins_add, channel=channel, timestamp="1.000001")["error"] == "message_not_found"
    general = server.state.channels["C0GENERAL"]
    human = server.state.add_message("C0GENERAL", user="U0ALICE", text="hi")
    assert error_of(slack.pins_add, channel=general.id, timestamp=human["ts"])["error"] == "not_in_channel"
    items = slack.pins_list(channel=channel)["items"]
    assert [i["message"]["ts"] for i in items] == [ts]
    assert server.state.channels[channel].by_ts[ts]["pinned_to"] == [channel]
    slack.pins_remove(channel=channel, timestamp=ts)
    assert error_of(slack.pins_remove, channel=channel, timestamp=ts)["error"] == "no_pin"


def test_reactions_and_bookmarks(slack: WebClient, server: SandboxServer, channel: str) -> None:
    ts = slack.chat_postMessage(channel=channel, text="x")["ts"]
    slack.reactions_add(channel=channel, timestamp=ts, name="eyes")
    assert error_of(slack.reactions_add, channel=channel, timestamp=ts, name="eyes")["error"] == "already_reacted"
    assert server.state.channels[channel].by_ts[ts]["reactions"] == [{"name": "eyes", "users": ["U0BOT"], "count": 1}]
    bookmark = slack.bookmarks_add(channel_id=channel, title="Runbook", type="link", link="https://runbooks.example/db")
    assert bookmark["bookmark"]["title"] == "Runbook" and bookmark["bookmark"]["id"].startswith("Bk")
    assert error_of(slack.bookmarks_add, channel_id=channel, title="x", type="message", link="https://x")["error"] == "invalid_bookmark_type"
    assert error_of(slack.bookmarks_add, channel_id="C0GENERAL", title="x", type="link", link="https://x")["error"] == "not_in_channel"


def test_form_encoded_calls_decode_blocks(server: SandboxServer, channel: str) -> None:
    # slack_sdk sends some methods as forms; structured arguments arrive as JSON strings then.
    client = WebClient(base_url=server.api_url, token="xoxb-sandbox")
    response = client.api_call(
        "chat.postMessage",
        params={"channel": channel, "text": "f", "blocks": '[{"type": "divider"}]'},
    )
    assert response["message"]["blocks"][0]["type"] == "divider"

"""The gateway against the sandbox Slack when answers are lost: calls that create
something are never resent blindly, keyed posts and channels are found again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from incidentbot.sandbox import SandboxClient, SandboxServer
from incidentbot.slack.gateway import LOST_ANSWER, SlackError, SlackGateway, make_client



@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as running:
        yield running


@pytest.fixture
def inspect(server: SandboxServer) -> SandboxClient:
    return SandboxClient(server.url)


# Only the tests that provoke a timeout use a short one, and their "slow" faults answer
# three times later; every other call keeps the production default, since a loaded CI
# machine can take over a second to answer even on loopback.
SHORT_TIMEOUT = 5


@pytest.fixture
def gateway(server: SandboxServer) -> SlackGateway:
    return SlackGateway(make_client("xoxb-sandbox", server.api_url))


@pytest.fixture
def impatient_gateway(server: SandboxServer) -> SlackGateway:
    return SlackGateway(make_client("xoxb-sandbox", server.api_url, timeout=SHORT_TIMEOUT))


@pytest.fixture
def room(gateway: SlackGateway) -> str:
    """A channel the bot made, so it is a member."""
    return gateway.create_channel("room")[0]


def bot_posts(inspect: SandboxClient, channel: str) -> list[dict]:
    return [m for m in inspect.messages(channel) if m.get("bot_id") and not m.get("subtype")]


def test_a_keyed_post_whose_answer_is_lost_is_found_not_posted_twice(gateway, inspect, room):
    inspect.add_fault("chat.postMessage", "drop", applied=True, times=1)
    ts = gateway.post(room, "The card", key="1.1700000000.card")
    [posted] = bot_posts(inspect, room)
    assert posted["ts"] == ts and posted["text"] == "The card"
    assert len(inspect.calls("chat.postMessage")) == 1  # dropped, found, not sent again


def test_a_keyed_post_that_never_happened_is_posted_after_looking(gateway, inspect, room):
    inspect.add_fault("chat.postMessage", "drop", applied=False, times=1)
    ts = gateway.post(room, "The card", key="1.1700000000.card")
    assert [m["ts"] for m in bot_posts(inspect, room)] == [ts]
    assert len(inspect.calls("conversations.history")) == 1  # looked once before posting again


def test_a_slow_keyed_reply_is_found_in_its_thread(gateway, impatient_gateway, inspect, room):
    parent = gateway.post(room, "Announcement")
    inspect.add_fault("chat.postMessage", "slow", seconds=SHORT_TIMEOUT * 3, times=1)
    ts = impatient_gateway.post(room, "Update", thread_ts=parent, key="1.1700000000.update-1-announcement")
    replies = [m for m in inspect.messages(room) if m.get("thread_ts") == parent and m["ts"] != parent]
    assert [r["ts"] for r in replies] == [ts]


def test_an_unkeyed_post_whose_answer_is_lost_raises_instead_of_posting_again(gateway, inspect, room):
    inspect.add_fault("chat.postMessage", "drop", applied=True, times=1)
    with pytest.raises(SlackError) as caught:
        gateway.post(room, "A change line")
    assert caught.value.code == LOST_ANSWER and caught.value.uncertain
    assert len(bot_posts(inspect, room)) == 1  # Slack did post it; the bot did not post it again


def test_reads_and_updates_are_resent_after_a_dropped_connection(gateway, inspect, room):
    ts = gateway.post(room, "v1")
    inspect.add_fault("chat.update", "drop", applied=False, times=1)
    gateway.update(room, ts, "v2")
    assert [m["text"] for m in bot_posts(inspect, room)] == ["v2"]


def test_a_created_channel_whose_answer_is_lost_is_adopted(gateway, inspect):
    inspect.add_fault("conversations.create", "drop", applied=True, times=1)
    seen = []
    channel_id, name = gateway.create_channel("inc-7-db", adopt=lambda found: seen.append(found) or True)
    assert name == "inc-7-db" and seen[0]["id"] == channel_id
    assert [c["name"] for c in inspect.channels() if c["name"].startswith("inc-7")] == ["inc-7-db"]


def test_a_channel_not_adopted_leaves_its_name_and_takes_the_next(gateway, inspect):
    gateway.create_channel("inc-8-db")
    channel_id, name = gateway.create_channel("inc-8-db", adopt=lambda found: False)
    assert name == "inc-8-db-2"
    assert sorted(c["name"] for c in inspect.channels() if c["name"].startswith("inc-8")) == ["inc-8-db", "inc-8-db-2"]


def test_a_create_that_never_happened_is_sent_again_once(gateway, inspect):
    inspect.add_fault("conversations.create", "drop", applied=False, times=1)
    _, name = gateway.create_channel("inc-9-db", adopt=lambda found: True)
    assert name == "inc-9-db"
    assert [c["status"] for c in inspect.calls("conversations.create")] == [None, 200]


def test_a_timeout_is_a_slack_error_that_says_the_call_may_have_happened(impatient_gateway, inspect, room):
    inspect.add_fault("chat.postMessage", "slow", seconds=SHORT_TIMEOUT * 3, times=1)
    with pytest.raises(SlackError) as caught:
        impatient_gateway.post(room, "slow")
    assert caught.value.uncertain and caught.value.method == "chat.postMessage"


def test_a_lost_answer_for_a_name_someone_else_has_takes_the_next_name(gateway, inspect):
    gateway.create_channel("inc-10-db")  # another incident's channel
    inspect.add_fault("conversations.create", "drop", applied=False, times=1)  # its name_taken is lost
    _, name = gateway.create_channel("inc-10-db", adopt=lambda found: False)
    assert name == "inc-10-db-2"
    assert sorted(c["name"] for c in inspect.channels() if c["name"].startswith("inc-10")) == ["inc-10-db",
                                                                                              "inc-10-db-2"]


def test_a_create_lost_twice_is_left_to_the_sweep(gateway, inspect):
    inspect.add_fault("conversations.create", "drop", applied=False, times=2)
    with pytest.raises(SlackError) as caught:
        gateway.create_channel("inc-11-db", adopt=lambda found: True)
    assert caught.value.uncertain and caught.value.method == "conversations.create"
    assert not [c for c in inspect.channels() if c["name"].startswith("inc-11")]

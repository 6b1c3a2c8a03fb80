"""Rate limits, files_upload_v2, response_urls and the inspection endpoints."""

from __future__ import annotations

import json
import threading
import urllib.request
from types import SimpleNamespace

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from incidentbot.sandbox import SandboxClient, SandboxError, SandboxServer
from incidentbot.sandbox.clock import FakeClock


def test_ratelimited_answers_429_with_retry_after(slack: WebClient, inspect: SandboxClient) -> None:
    inspect.set_ratelimit("conversations.create", limit=1, retry_after=7)
    slack.conversations_create(name="inc-a")
    with pytest.raises(SlackApiError) as caught:
        slack.conversations_create(name="inc-b")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "7"
    assert caught.value.response.data == {"ok": False, "error": "ratelimited"}
    assert slack.auth_test()["ok"]  # limits are per method


def test_retry_handler_waits_out_the_limit(server: SandboxServer, inspect: SandboxClient, clock: FakeClock, monkeypatch) -> None:
    slept: list[float] = []

    def fake_sleep(seconds: float) -> None:
        # The handler's sleep moves the sandbox clock instead of the test's wall clock.
        slept.append(seconds)
        clock.advance(seconds)

    monkeypatch.setattr(builtin_handlers, "time", SimpleNamespace(sleep=fake_sleep))
    client = WebClient(base_url=server.api_url, token="xoxb-sandbox", retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
    inspect.set_ratelimit("conversations.create", limit=1, retry_after=1)
    client.conversations_create(name="inc-a")
    assert client.conversations_create(name="inc-b")["channel"]["name"] == "inc-b"
    assert len(slept) == 1 and slept[0] >= 1
    assert [c["error"] for c in inspect.calls("conversations.create")] == [None, "ratelimited", None]


def test_ratelimits_can_be_cleared(slack: WebClient, inspect: SandboxClient) -> None:
    inspect.set_ratelimit("auth.test", limit=0)
    with pytest.raises(SlackApiError):
        slack.auth_test()
    inspect.clear_ratelimits()
    assert slack.auth_test()["ok"]


def test_files_upload_v2_end_to_end(slack: WebClient, inspect: SandboxClient) -> None:
    slack.conversations_join(channel="C0INCIDENTS")
    result = slack.files_upload_v2(
        channel="C0INCIDENTS", content="# INC-1 postmortem\n", filename="inc-1.md",
        title="INC-1 postmortem", initial_comment="Draft attached",
    )
    file_id = result["file"]["id"]
    assert file_id.startswith("F") and result["file"]["title"] == "INC-1 postmortem"
    stored = inspect.files()[0]
    assert stored["id"] == file_id and stored["name"] == "inc-1.md" and stored["size"] == 19
    assert stored["content"] == "# INC-1 postmortem\n" and stored["channels"] == ["C0INCIDENTS"]
    shared = inspect.messages("C0INCIDENTS")[-1]
    assert shared["subtype"] == "file_share" and shared["text"] == "Draft attached"
    assert shared["files"][0]["id"] == file_id


def test_files_need_the_bot_in_the_channel(slack: WebClient) -> None:
    with pytest.raises(SlackApiError) as caught:
        slack.files_upload_v2(channel="C0GENERAL", content="x", filename="x.txt")
    assert caught.value.response["error"] == "not_in_channel"


def test_response_url_ephemeral_in_channel_and_replace(slack: WebClient, inspect: SandboxClient) -> None:
    url = inspect.mint_response_url("C0GENERAL", "U0ALICE")
    assert WebhookClient(url).send(text="Only you can see this").status_code == 200
    assert WebhookClient(url).send(text="Everyone sees this", response_type="in_channel").status_code == 200
    responses = inspect.responses()
    assert [(r["response_type"], r["user"], r["channel"]) for r in responses] == [
        ("ephemeral", "U0ALICE", "C0GENERAL"), ("in_channel", "U0ALICE", "C0GENERAL"),
    ]
    assert [m["text"] for m in inspect.messages("C0GENERAL")] == ["Everyone sees this"]
    with_ephemeral = inspect.messages("C0GENERAL", include_ephemeral=True)
    assert [m.get("ephemeral", False) for m in with_ephemeral] == [True, False]

    slack.conversations_join(channel="C0GENERAL")
    ts = slack.chat_postMessage(channel="C0GENERAL", text="Acknowledge?")["ts"]
    on_message = inspect.mint_response_url("C0GENERAL", "U0BOB", message_ts=ts)
    WebhookClient(on_message).send(text="Acknowledged by bob", replace_original=True)
    assert inspect.message("C0GENERAL", ts)["text"] == "Acknowledged by bob"


def test_added_user_is_in_the_workspace(slack: WebClient, inspect: SandboxClient) -> None:
    added = inspect.add_user("U0LOAD1", "load1", real_name="Load One", tz="Europe/Paris")
    assert (added["id"], added["tz"]) == ("U0LOAD1", "Europe/Paris")
    assert slack.users_info(user="U0LOAD1")["user"]["real_name"] == "Load One"
    with pytest.raises(SandboxError, match="exists"):
        inspect.add_user("U0LOAD1", "again")


def test_response_url_reply_names_its_url(inspect: SandboxClient) -> None:
    url = inspect.mint_response_url("C0GENERAL", "U0ALICE")
    WebhookClient(url).send(text="Only you can see this")
    assert [r["response_url"] for r in inspect.responses()] == [url]


def test_response_url_allows_five_uses(inspect: SandboxClient) -> None:
    url = inspect.mint_response_url("C0GENERAL", "U0ALICE")
    statuses = [WebhookClient(url).send(text=str(i)).status_code for i in range(6)]
    assert statuses == [200] * 5 + [404]


def test_inspection_endpoints(slack: WebClient, inspect: SandboxClient, server: SandboxServer) -> None:
    assert {u["id"] for u in inspect.users()} >= {"U0BOT", "U0ALICE", "U0ERIN"}
    general = inspect.channel_by_name("#general")
    assert general["id"] == "C0GENERAL" and "U0BOT" not in general["members"] and general["pins"] == []
    assert inspect.channel_by_name("nope") is None
    channel = slack.conversations_create(name="inc-9")["channel"]["id"]
    ts = slack.chat_postMessage(channel=channel, text="x")["ts"]
    slack.pins_add(channel=channel, timestamp=ts)
    assert inspect.channel(channel)["pins"] == [ts]
    posts = inspect.calls(method="chat.postMessage")
    assert posts == [{"method": "chat.postMessage", "args": {"channel": channel, "text": "x"}, "ok": True, "error": None, "status": 200}]
    inspect.clear_calls()
    assert inspect.calls() == []
    with pytest.raises(SandboxError):
        inspect.messages("C0MISSING")


def test_human_messages_and_reactions_for_event_tests(inspect: SandboxClient) -> None:
    message = inspect.post_user_message("C0GENERAL", "U0ALICE", "db is down")
    reply = inspect.post_user_message("C0GENERAL", "U0BOB", "looking", thread_ts=message["ts"])
    assert reply["thread_ts"] == message["ts"]
    reacted = inspect.add_user_reaction("C0GENERAL", message["ts"], ":rotating_light:", "U0BOB")
    assert reacted["reactions"] == [{"name": "rotating_light", "users": ["U0BOB"], "count": 1}]


def test_reset_restores_the_seed(slack: WebClient, inspect: SandboxClient) -> None:
    slack.conversations_create(name="inc-temp")
    inspect.set_ratelimit("auth.test", limit=0)
    inspect.reset()
    assert {c["name"] for c in inspect.channels()} == {"general", "incidents", "incident-digest"}
    assert slack.auth_test()["ok"]


def test_permalinks_resolve_on_the_sandbox(slack: WebClient) -> None:
    channel = slack.conversations_create(name="inc-link")["channel"]["id"]
    ts = slack.chat_postMessage(channel=channel, text="evidence")["ts"]
    link = slack.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
    with urllib.request.urlopen(link) as response:
        assert json.loads(response.read())["text"] == "evidence"


def test_json_and_query_string_arguments(server: SandboxServer) -> None:
    request = urllib.request.Request(
        f"{server.api_url}users.info?user=U0CAROL", headers={"Authorization": "Bearer xoxb-sandbox"},
    )
    with urllib.request.urlopen(request) as response:
        assert json.loads(response.read())["user"]["name"] == "carol"
    bad = urllib.request.Request(
        f"{server.api_url}auth.test", data=b"[1]", method="POST",
        headers={"Authorization": "Bearer xoxb-sandbox", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(bad) as response:
        assert json.loads(response.read())["error"] == "json_not_object"


def test_only_loopback_addresses() -> None:
    with pytest.raises(ValueError):
        SandboxServer(host="0.0.0.0")


def test_serve_forever_blocks_until_stopped_and_seed_can_be_off() -> None:
    server = SandboxServer(seed=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert [u["id"] for u in SandboxClient(server.url).users()] == ["U0BOT"]
        assert SandboxClient(server.url).channels() == []
    finally:
        server.stop()
        thread.join(timeout=5)
    assert not thread.is_alive()
    SandboxServer().stop()  # never started: stopping must not hang


def test_one_channel_is_looked_up_by_id(slack: WebClient, inspect: SandboxClient) -> None:
    made = slack.conversations_create(name="inc-lookup")["channel"]["id"]
    slack.conversations_create(name="inc-other")
    assert inspect.channel(made)["name"] == "inc-lookup"
    assert inspect.channel("C0NOPE") is None
    assert len(inspect.channels()) > 2  # the seeded channels too

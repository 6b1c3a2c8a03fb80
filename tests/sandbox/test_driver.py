"""The driver's requests are signed like Slack's and parse in a real slack_bolt App."""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace
from typing import Any, Iterator
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from incidentbot.sandbox import SandboxClient, SandboxServer, SlackDriver

SECRET = "sandbox-signing-secret"

DECLARE_MODAL = {
    "type": "modal",
    "callback_id": "declare",
    "notify_on_close": True,
    "title": {"type": "plain_text", "text": "Declare incident"},
    "submit": {"type": "plain_text", "text": "Declare"},
    "blocks": [
        {"type": "input", "block_id": "title", "label": {"type": "plain_text", "text": "Title"},
         "element": {"type": "plain_text_input", "action_id": "value"}},
        {"type": "input", "block_id": "severity", "label": {"type": "plain_text", "text": "Severity"},
         "element": {"type": "static_select", "action_id": "value", "options": [
             {"text": {"type": "plain_text", "text": "SEV1"}, "value": "sev1"},
             {"text": {"type": "plain_text", "text": "SEV2"}, "value": "sev2"}]}},
        {"type": "input", "block_id": "services", "label": {"type": "plain_text", "text": "Services"},
         "element": {"type": "multi_static_select", "action_id": "value", "options": [
             {"text": {"type": "plain_text", "text": "API"}, "value": "api"},
             {"text": {"type": "plain_text", "text": "DB"}, "value": "db"}]}},
        {"type": "input", "block_id": "lead", "label": {"type": "plain_text", "text": "Lead"},
         "element": {"type": "users_select", "action_id": "value"}},
        {"type": "input", "block_id": "started", "label": {"type": "plain_text", "text": "Started"},
         "element": {"type": "datepicker", "action_id": "value"}},
        {"type": "input", "block_id": "at", "label": {"type": "plain_text", "text": "At"},
         "element": {"type": "timepicker", "action_id": "value", "initial_time": "09:30"}},
        {"type": "input", "block_id": "flags", "optional": True, "label": {"type": "plain_text", "text": "Flags"},
         "element": {"type": "checkboxes", "action_id": "value", "options": [
             {"text": {"type": "plain_text", "text": "Private"}, "value": "private"}]}},
    ],
}

HEADER_BLOCKS = [
    {"type": "section", "block_id": "header", "text": {"type": "mrkdwn", "text": "*INC-1*"}},
    {"type": "actions", "block_id": "incident_actions", "elements": [
        {"type": "button", "action_id": "acknowledge", "text": {"type": "plain_text", "text": "Acknowledge"}, "value": "INC-1"},
        {"type": "static_select", "action_id": "change_severity", "options": [
            {"text": {"type": "plain_text", "text": "SEV1"}, "value": "sev1"},
            {"text": {"type": "plain_text", "text": "SEV2"}, "value": "sev2"}]},
    ]},
]


class _QuietWSGI(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: request lines would drown the test output."""


def build_app(server: SandboxServer, received: dict[str, Any]) -> App:
    # process_before_response: listeners finish before the HTTP answer, so tests need no waiting.
    app = App(signing_secret=SECRET, client=WebClient(base_url=server.api_url, token="xoxb-sandbox"),
              process_before_response=True)

    @app.command("/incident")
    def declare(ack, command, respond, client):
        ack()
        received["command"] = command
        client.views_open(trigger_id=command["trigger_id"], view=DECLARE_MODAL)
        respond(text=f"Declaring: {command['text']}")

    @app.action("acknowledge")
    def acknowledge(ack, body, action):
        ack()
        received["action"] = (body, action)

    @app.action("change_severity")
    def change_severity(ack, action):
        ack()
        received["select"] = action

    @app.view("declare")
    def submitted(ack, view):
        received["view"] = view
        title = view["state"]["values"]["title"]["value"]["value"]
        if len(title) < 3:
            ack(response_action="errors", errors={"title": "Too short"})
        else:
            ack()

    @app.view_closed("declare")
    def closed(ack, body):
        ack()
        received["closed"] = body

    @app.shortcut("add_to_timeline")
    def add_to_timeline(ack, shortcut):
        ack()
        received["message_shortcut"] = shortcut

    @app.shortcut("declare_global")
    def declare_global(ack, shortcut):
        ack()
        received["global_shortcut"] = shortcut

    @app.event("message")
    def message(event):
        received.setdefault("messages", []).append(event)

    @app.event("reaction_added")
    def reaction(event):
        received["reaction"] = event

    return app


@pytest.fixture
def bot(server: SandboxServer) -> Iterator[SimpleNamespace]:
    received: dict[str, Any] = {}
    wsgi = make_server("127.0.0.1", 0, SlackRequestHandler(build_app(server, received)), handler_class=_QuietWSGI)
    thread = threading.Thread(target=wsgi.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{wsgi.server_port}/slack/events", received=received)
    finally:
        wsgi.shutdown()
        wsgi.server_close()
        thread.join()


@pytest.fixture
def driver(bot: SimpleNamespace, server: SandboxServer) -> SlackDriver:
    return SlackDriver(bot.url, SECRET, server.url)


@pytest.fixture
def header(server: SandboxServer, slack: WebClient) -> tuple[str, str]:
    channel = slack.conversations_create(name="inc-1-db")["channel"]["id"]
    slack.conversations_invite(channel=channel, users="U0ALICE,U0BOB")
    ts = slack.chat_postMessage(channel=channel, text="INC-1", blocks=HEADER_BLOCKS)["ts"]
    return channel, ts


class _Capture(BaseHTTPRequestHandler):
    """Records what the driver sends, byte for byte, and answers 200."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.captured.append((body, dict(self.headers)))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced."""


@pytest.fixture
def capture(server: SandboxServer) -> Iterator[SimpleNamespace]:
    http = HTTPServer(("127.0.0.1", 0), _Capture)
    http.captured = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    driver = SlackDriver(f"http://127.0.0.1:{http.server_port}/slack/events", SECRET, server.url)
    try:
        yield SimpleNamespace(driver=driver, requests=http.captured)  # type: ignore[attr-defined]
    finally:
        http.shutdown()
        http.server_close()
        thread.join()


def test_signatures_verify_with_slack_sdk(capture: SimpleNamespace) -> None:
    assert capture.driver.slash_command("db down", user="U0ALICE", channel="C0GENERAL").status == 200
    body, headers = capture.requests[-1]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    assert not SignatureVerifier("another-secret").is_valid_request(body, headers)


def test_slash_command_shape_and_follow_ups(driver: SlackDriver, bot: SimpleNamespace, inspect: SandboxClient) -> None:
    response = driver.slash_command("db down", user="U0ALICE", channel="C0GENERAL")
    assert response.status == 200
    command = bot.received["command"]
    assert command["command"] == "/incident" and command["text"] == "db down"
    assert (command["user_id"], command["user_name"]) == ("U0ALICE", "alice")
    assert (command["channel_id"], command["channel_name"]) == ("C0GENERAL", "general")
    assert (command["team_id"], command["team_domain"], command["api_app_id"]) == ("T0SANDBOX", "sandbox", "A0INCIDENTBOT")
    assert command["is_enterprise_install"] == "false"
    # The trigger and response_url were minted on the sandbox, so the bot's follow-ups worked.
    assert inspect.views(user="U0ALICE")[0]["callback_id"] == "declare"
    assert inspect.responses()[0]["text"] == "Declaring: db down"


def test_block_action_on_a_message(driver: SlackDriver, bot: SimpleNamespace, header: tuple[str, str]) -> None:
    channel, ts = header
    assert driver.block_action(user="U0BOB", action_id="acknowledge", channel=channel, message_ts=ts).status == 200
    body, action = bot.received["action"]
    assert action["action_id"] == "acknowledge" and action["block_id"] == "incident_actions"
    assert action["type"] == "button" and action["value"] == "INC-1"
    assert body["container"] == {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False}
    assert body["message"]["ts"] == ts and body["channel"]["id"] == channel
    assert body["user"]["id"] == "U0BOB" and body["response_url"] and body["trigger_id"]

    driver.block_action(user="U0BOB", action_id="change_severity", value="sev2", channel=channel, message_ts=ts)
    assert bot.received["select"]["selected_option"]["value"] == "sev2"


def test_view_submission_converts_values(driver: SlackDriver, bot: SimpleNamespace, inspect: SandboxClient) -> None:
    driver.slash_command("", user="U0ALICE", channel="C0GENERAL")
    view_id = inspect.views(user="U0ALICE")[0]["id"]
    response = driver.submit_view(view_id, user="U0ALICE", values={
        "title": {"value": "Checkout failing"},
        "severity": {"value": "sev1"},
        "services": {"value": ["api", "db"]},
        "lead": {"value": "U0BOB"},
        "started": {"value": date(2024, 11, 21)},
    })
    assert response.status == 200
    values = bot.received["view"]["state"]["values"]
    assert values["title"]["value"] == {"type": "plain_text_input", "value": "Checkout failing"}
    assert values["severity"]["value"]["selected_option"]["value"] == "sev1"
    assert [o["value"] for o in values["services"]["value"]["selected_options"]] == ["api", "db"]
    assert values["lead"]["value"] == {"type": "users_select", "selected_user": "U0BOB"}
    assert values["started"]["value"] == {"type": "datepicker", "selected_date": "2024-11-21"}
    assert values["at"]["value"] == {"type": "timepicker", "selected_time": "09:30"}  # initial value kept
    assert values["flags"]["value"] == {"type": "checkboxes", "selected_options": []}
    assert inspect.view(view_id)["closed"]  # a plain ack() closes the modal


def test_view_submission_errors_keep_the_modal_open(driver: SlackDriver, inspect: SandboxClient) -> None:
    driver.slash_command("", user="U0ALICE", channel="C0GENERAL")
    view_id = inspect.views(user="U0ALICE")[0]["id"]
    response = driver.submit_view(view_id, user="U0ALICE", values={"title": {"value": "x"}})
    assert response.json == {"response_action": "errors", "errors": {"title": "Too short"}}
    assert inspect.view(view_id)["errors"] == {"title": "Too short"} and not inspect.view(view_id)["closed"]
    with pytest.raises(ValueError):
        driver.submit_view(view_id, user="U0ALICE", values={"nope": {"value": "x"}})
    with pytest.raises(ValueError):
        driver.submit_view(view_id, user="U0ALICE", values={"severity": {"value": "sev9"}})


def test_close_view(driver: SlackDriver, bot: SimpleNamespace, inspect: SandboxClient) -> None:
    driver.slash_command("", user="U0ALICE", channel="C0GENERAL")
    view_id = inspect.views(user="U0ALICE")[0]["id"]
    assert driver.close_view(view_id, user="U0ALICE").status == 200
    assert bot.received["closed"]["type"] == "view_closed" and bot.received["closed"]["view"]["id"] == view_id
    assert inspect.view(view_id)["closed"]


def test_shortcuts(driver: SlackDriver, bot: SimpleNamespace, header: tuple[str, str]) -> None:
    channel, ts = header
    assert driver.message_shortcut("add_to_timeline", user="U0ALICE", channel=channel, message_ts=ts).status == 200
    shortcut = bot.received["message_shortcut"]
    assert shortcut["type"] == "message_action" and shortcut["message"]["text"] == "INC-1"
    assert shortcut["channel"]["id"] == channel and shortcut["response_url"]
    assert driver.global_shortcut("declare_global", user="U0BOB").status == 200
    assert bot.received["global_shortcut"]["user"]["id"] == "U0BOB"


def test_events_reach_listeners(driver: SlackDriver, bot: SimpleNamespace, header: tuple[str, str]) -> None:
    channel, ts = header
    message, response = driver.user_posts(channel, "U0ALICE", "rolled back the deploy")
    assert response.status == 200
    event = bot.received["messages"][-1]
    assert (event["channel"], event["user"], event["ts"]) == (channel, "U0ALICE", message["ts"])
    assert driver.user_reacts(channel, message["ts"], "pushpin", "U0BOB").status == 200
    assert bot.received["reaction"]["item"] == {"type": "message", "channel": channel, "ts": message["ts"]}
    # Bolt answers 404 to events nobody listens to; the driver reports it rather than raising.
    assert driver.event({"type": "channel_rename", "channel": {"id": channel}}).status == 404


def test_event_envelope_and_retry_headers(capture: SimpleNamespace) -> None:
    capture.driver.event({"type": "app_home_opened", "user": "U0ALICE"}, event_id="Ev123", retry_num=1, retry_reason="http_timeout")
    body, headers = capture.requests[-1]
    envelope = json.loads(body)
    assert envelope["type"] == "event_callback" and envelope["event_id"] == "Ev123"
    assert envelope["authorizations"][0]["user_id"] == "U0BOT" and envelope["event"]["event_ts"]
    assert headers["X-Slack-Retry-Num"] == "1" and headers["X-Slack-Retry-Reason"] == "http_timeout"
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    capture.driver.event({"type": "app_home_opened", "user": "U0ALICE"})
    assert json.loads(capture.requests[-1][0])["event_id"].startswith("Ev")


def test_bolt_refuses_bad_signatures(driver: SlackDriver) -> None:
    assert driver.slash_command("x", user="U0ALICE", channel="C0GENERAL", sign=False).status == 401
    stale = int(time.time()) - 600
    assert driver.slash_command("x", user="U0ALICE", channel="C0GENERAL", timestamp=stale).status == 401
    assert driver.slash_command("x", user="U0ALICE", channel="C0GENERAL", signature="v0=" + "0" * 64).status == 401


def test_url_verification(driver: SlackDriver) -> None:
    response = driver.url_verification("challenge-123")
    assert response.status == 200 and response.json == {"challenge": "challenge-123"}


def test_block_action_inside_a_modal(capture: SimpleNamespace, slack: WebClient, inspect: SandboxClient) -> None:
    view = slack.views_open(trigger_id=inspect.mint_trigger("U0ALICE"), view=DECLARE_MODAL)["view"]
    capture.driver.block_action(user="U0ALICE", action_id="value", block_id="severity", value="sev2", view_id=view["id"])
    payload = json.loads(parse_qs(capture.requests[-1][0].decode())["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["container"] == {"type": "view", "view_id": view["id"]}
    assert payload["view"]["id"] == view["id"] and "user" not in payload["view"]
    action = payload["actions"][0]
    assert (action["type"], action["block_id"], action["selected_option"]["value"]) == ("static_select", "severity", "sev2")
    assert "response_url" not in payload  # Slack sends none for actions in modals


def test_driver_refuses_what_slack_could_not_send(capture: SimpleNamespace, header: tuple[str, str]) -> None:
    channel, ts = header
    with pytest.raises(ValueError):
        capture.driver.block_action(user="U0ALICE", action_id="acknowledge")
    with pytest.raises(ValueError):
        capture.driver.message_shortcut("add_to_timeline", user="U0ALICE", channel=channel, message_ts="1.000001")
    with pytest.raises(ValueError):
        capture.driver.slash_command("x", user="U0NOBODY", channel=channel)

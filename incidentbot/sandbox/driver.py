"""Drive the bot's real HTTP endpoint exactly as Slack would: signed slash commands,
interaction payloads and Events API envelopes, with trigger_ids and response_urls
minted on the sandbox so the bot's follow-up Web API calls line up.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack
from urllib.parse import urlencode

from incidentbot.sandbox.blocks import elements_of
from incidentbot.sandbox.client import SandboxClient
from incidentbot.sandbox.constants import APP_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID
from incidentbot.sandbox.view_state import state_entry, build_state_values

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
VIEW_META_KEYS = ("user", "trigger_id", "closed", "errors")


class Signing(TypedDict, total=False):
    """Overrides for security tests: unsigned, stale or forged requests."""

    sign: bool
    timestamp: int | None
    signature: str | None
    headers: dict[str, str] | None


@dataclass
class DriverResponse:
    status: int
    body: str
    json: dict | None
    headers: dict
    # What was sent, so a test can deliver the very same request again (replay).
    request_body: bytes = b""
    request_type: str = ""


def _decode(body: str) -> dict | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _action_ts() -> str:
    return f"{time.time():.6f}"


class SlackDriver:
    def __init__(
        self,
        bot_url: str,
        signing_secret: str,
        sandbox: SandboxClient | str,
        *,
        team_id: str = TEAM_ID,
        team_domain: str = TEAM_DOMAIN,
        api_app_id: str = APP_ID,
        timeout: float = 10.0,
        verification_token: str = "sandbox-verification-token",
    ) -> None:
        self.bot_url = bot_url
        self.signing_secret = signing_secret
        self.sandbox = SandboxClient(sandbox) if isinstance(sandbox, str) else sandbox
        self.team_id = team_id
        self.team_domain = team_domain
        self.api_app_id = api_app_id
        self.timeout = timeout
        self.verification_token = verification_token

    # ----------------------------------------------------------------- transport
    def sign(self, body: bytes, timestamp: int) -> str:
        base = b"v0:" + str(timestamp).encode() + b":" + body
        return "v0=" + hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()

    def send(
        self,
        body: bytes,
        content_type: str,
        *,
        sign: bool = True,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> DriverResponse:
        """POST one request to the bot; non-2xx answers are returned, not raised."""
        stamp = int(time.time()) if timestamp is None else timestamp
        request_headers = {"Content-Type": content_type, "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
        if sign or signature is not None:
            request_headers["X-Slack-Request-Timestamp"] = str(stamp)
            request_headers["X-Slack-Signature"] = signature or self.sign(body, stamp)
        request_headers.update(headers or {})
        request = urllib.request.Request(self.bot_url, data=body, method="POST", headers=request_headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = self._response(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as exc:
            answer = self._response(exc.code, exc.read(), dict(exc.headers))
        answer.request_body, answer.request_type = body, content_type
        return answer

    def replay(self, previous: DriverResponse, **signing: Unpack[Signing]) -> DriverResponse:
        """Deliver a request again, byte for byte (freshly signed): a duplicate delivery."""
        return self.send(previous.request_body, previous.request_type, **signing)

    @staticmethod
    def _response(status: int, raw: bytes, headers: dict) -> DriverResponse:
        text = raw.decode("utf-8", errors="replace")
        return DriverResponse(status=status, body=text, json=_decode(text), headers=headers)

    def _interaction(self, payload: dict, signing: Signing) -> DriverResponse:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.send(body, FORM, **signing)

    # ----------------------------------------------------------------- lookups on the sandbox
    def _user(self, user_id: str) -> dict:
        user = next((u for u in self.sandbox.users() if u["id"] == user_id), None)
        if user is None:
            raise ValueError(f"no user {user_id} in the sandbox")
        return {"id": user["id"], "username": user["name"], "name": user["name"], "team_id": self.team_id}

    def _channel(self, channel_id: str) -> dict:
        if channel_id.startswith("D"):
            return {"id": channel_id, "name": "directmessage"}
        channel = self.sandbox.channel(channel_id)
        if channel is None:
            raise ValueError(f"no channel {channel_id} in the sandbox")
        return {"id": channel["id"], "name": channel["name"]}

    def _open_view(self, view_id: str) -> dict:
        view = self.sandbox.view(view_id)
        if view is None:
            raise ValueError(f"no view {view_id} in the sandbox")
        if view["closed"]:
            raise ValueError(f"view {view_id} is closed")
        return view

    def _base(self, kind: str, user: str) -> dict[str, Any]:
        return {
            "type": kind,
            "user": self._user(user),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    # ----------------------------------------------------------------- slash commands
    def slash_command(self, text: str, *, user: str, channel: str, command: str = "/incident", **signing: Unpack[Signing]) -> DriverResponse:
        body = self.slash_command_body(text, user=user, channel=channel, command=command)
        return self.send(body, FORM, **signing)

    def slash_command_body(self, text: str, *, user: str, channel: str, command: str = "/incident") -> bytes:
        """The form Slack posts for a slash command, with a fresh trigger_id and response_url.

        Separate from sending so a load generator can build requests ahead of their send time.
        """
        form = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel,
            "channel_name": self._channel(channel)["name"],
            "user_id": user,
            "user_name": self._user(user)["name"],
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": self.sandbox.mint_response_url(channel, user),
            "trigger_id": self.sandbox.mint_trigger(user),
        }
        return urlencode(form).encode()

    # ----------------------------------------------------------------- block actions
    def block_action(
        self,
        *,
        user: str,
        action_id: str,
        value: str | None = None,
        block_id: str | None = None,
        channel: str | None = None,
        message_ts: str | None = None,
        view_id: str | None = None,
        selected_option: dict | None = None,
        ephemeral_blocks: list | None = None,
        **signing: Unpack[Signing],
    ) -> DriverResponse:
        """A click or selection. With view_id it happens in a modal/Home, else on a message.

        ``ephemeral_blocks`` clicks a button on a private answer that only its reader saw
        (a response_url reply): Slack stores no such message, so its blocks are passed in.
        """
        payload = self._base("block_actions", user)
        payload["trigger_id"] = self.sandbox.mint_trigger(user)
        if view_id is not None:
            view = self._open_view(view_id)
            payload.update(container={"type": "view", "view_id": view_id}, view=_slack_view(view))
            blocks = view["blocks"]
        elif channel is not None and message_ts is not None:
            blocks = self._message_context(payload, user, channel, message_ts)
        elif channel is not None and ephemeral_blocks is not None:
            blocks = self._ephemeral_context(payload, user, channel, ephemeral_blocks)
        else:
            raise ValueError("block_action needs view_id, or channel and message_ts")
        payload["actions"] = [self._action(blocks, action_id, block_id, value, selected_option)]
        return self._interaction(payload, signing)

    def _message_context(self, payload: dict, user: str, channel: str, message_ts: str) -> list:
        message = self.sandbox.message(channel, message_ts, include_ephemeral=True)
        if message is None:
            raise ValueError(f"no message {message_ts} in {channel}")
        ephemeral = bool(message.get("ephemeral"))
        payload.update(
            container={"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": ephemeral},
            channel=self._channel(channel),
            state={"values": {}},
            response_url=self.sandbox.mint_response_url(channel, user, message_ts),
        )
        if not ephemeral:
            # Slack leaves the message out of payloads from ephemeral messages.
            payload["message"] = _slack_message(message)
        return message.get("blocks") or []

    def _ephemeral_context(self, payload: dict, user: str, channel: str, blocks: list) -> list:
        payload.update(
            container={"type": "message", "message_ts": _action_ts(), "channel_id": channel, "is_ephemeral": True},
            channel=self._channel(channel),
            state={"values": {}},
            response_url=self.sandbox.mint_response_url(channel, user),
        )
        return blocks

    @staticmethod
    def _action(blocks: list, action_id: str, block_id: str | None, value: str | None, selected_option: dict | None) -> dict:
        found_block, element = _find_element(blocks, action_id, block_id)
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id or found_block or "actions",
            "action_ts": _action_ts(),
        }
        kind = element.get("type") if element else ("static_select" if selected_option else "button")
        action["type"] = kind
        if selected_option is not None:
            action["selected_option"] = selected_option
        elif kind == "button":
            if element and "text" in element:
                action["text"] = element["text"]
            chosen = value if value is not None else (element or {}).get("value")
            if chosen is not None:
                action["value"] = chosen
        elif element is not None:
            action.update(state_entry(element, value))
        elif value is not None:
            action["value"] = value
        return action

    # ----------------------------------------------------------------- views
    def submit_view(self, view_id: str, *, user: str, values: dict[str, dict[str, object]], **signing: Unpack[Signing]) -> DriverResponse:
        """Submit a modal; then tell the sandbox what the app's response_action did to it."""
        view = self._open_view(view_id)
        slack_view = _slack_view(view)
        slack_view["state"] = {"values": build_state_values(view, values)}
        payload = self._base("view_submission", user)
        payload.update(trigger_id=self.sandbox.mint_trigger(user), view=slack_view, response_urls=[])
        response = self._interaction(payload, signing)
        if response.status == 200:
            self.sandbox.apply_view_response(view_id, response.json or {})
        return response

    def close_view(self, view_id: str, *, user: str, **signing: Unpack[Signing]) -> DriverResponse:
        view = self._open_view(view_id)
        payload = self._base("view_closed", user)
        payload.update(view=_slack_view(view), is_cleared=False)
        response = self._interaction(payload, signing)
        self.sandbox.close_view(view_id)
        return response

    # ----------------------------------------------------------------- shortcuts
    def message_shortcut(self, callback_id: str, *, user: str, channel: str, message_ts: str, **signing: Unpack[Signing]) -> DriverResponse:
        message = self.sandbox.message(channel, message_ts, include_ephemeral=False)
        if message is None:
            raise ValueError(f"no message {message_ts} in {channel}")
        payload = self._base("message_action", user)
        payload.update(
            callback_id=callback_id, trigger_id=self.sandbox.mint_trigger(user), action_ts=_action_ts(),
            channel=self._channel(channel), message_ts=message_ts, message=_slack_message(message),
            response_url=self.sandbox.mint_response_url(channel, user),
        )
        return self._interaction(payload, signing)

    def global_shortcut(self, callback_id: str, *, user: str, **signing: Unpack[Signing]) -> DriverResponse:
        payload = self._base("shortcut", user)
        payload.update(callback_id=callback_id, trigger_id=self.sandbox.mint_trigger(user), action_ts=_action_ts())
        return self._interaction(payload, signing)

    # ----------------------------------------------------------------- events
    def event(
        self,
        event: dict,
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        **signing: Unpack[Signing],
    ) -> DriverResponse:
        """Deliver an Events API envelope; retries carry X-Slack-Retry-Num/-Reason like Slack's."""
        event = dict(event)
        event.setdefault("event_ts", event.get("ts") or _action_ts())
        envelope = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
            "event_time": int(time.time()),
            "authorizations": [{
                "enterprise_id": None, "team_id": self.team_id, "user_id": BOT_USER_ID,
                "is_bot": True, "is_enterprise_install": False,
            }],
            "is_ext_shared_channel": False,
        }
        headers = dict(signing.pop("headers", None) or {})
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        return self.send(json.dumps(envelope).encode(), JSON, headers=headers, **signing)

    def url_verification(self, challenge: str, **signing: Unpack[Signing]) -> DriverResponse:
        body = {"token": self.verification_token, "challenge": challenge, "type": "url_verification"}
        return self.send(json.dumps(body).encode(), JSON, **signing)

    # ----------------------------------------------------------------- humans doing things, then the event
    def user_posts(self, channel: str, user: str, text: str, *, thread_ts: str | None = None, **signing: Unpack[Signing]) -> tuple[dict, DriverResponse]:
        """A person posts in the sandbox channel; the bot gets the matching `message` event."""
        message = self.sandbox.post_user_message(channel, user, text, thread_ts=thread_ts)
        event = {
            "type": "message", "channel": channel, "user": user, "text": text, "ts": message["ts"],
            "team": self.team_id, "client_msg_id": str(uuid.uuid4()),
            "channel_type": self._channel_type(channel),
        }
        if message.get("thread_ts"):
            event["thread_ts"] = message["thread_ts"]
        return message, self.event(event, **signing)

    def user_reacts(self, channel: str, ts: str, name: str, user: str, **signing: Unpack[Signing]) -> DriverResponse:
        message = self.sandbox.add_user_reaction(channel, ts, name, user)
        event = {
            "type": "reaction_added", "user": user, "reaction": name.strip(":"),
            "item": {"type": "message", "channel": channel, "ts": ts}, "item_user": message.get("user"),
        }
        return self.event(event, **signing)

    def user_pins(self, channel: str, ts: str, user: str, **signing: Unpack[Signing]) -> DriverResponse:
        """A person pins a message; the bot gets Slack's `pin_added` event (with the message)."""
        message = {k: v for k, v in self.sandbox.pin_as_user(channel, ts, user).items() if k != "channel"}
        event = {"type": "pin_added", "user": user, "channel_id": channel, "event_ts": _action_ts(),
                 "item": {"type": "message", "channel": channel, "message": message, "created": int(time.time()),
                          "created_by": user}}
        return self.event(event, **signing)

    def app_home_opened(self, user: str, **signing: Unpack[Signing]) -> DriverResponse:
        event: dict[str, Any] = {"type": "app_home_opened", "user": user, "channel": f"D{user[1:]}", "tab": "home"}
        home = next((v for v in self.sandbox.views(user=user) if v["type"] == "home"), None)
        if home is not None:
            event["view"] = _slack_view(home)
        return self.event(event, **signing)

    def _channel_type(self, channel: str) -> str:
        """Events name the kind of conversation: channel, group (private) or im."""
        found = self.sandbox.channel(channel)
        if found is not None and found.get("is_im"):
            return "im"
        return "group" if found and found["is_private"] else "channel"


def _slack_view(view: dict) -> dict:
    """A stored view without the sandbox's bookkeeping fields."""
    return {k: v for k, v in view.items() if k not in VIEW_META_KEYS}


def _slack_message(message: dict) -> dict:
    return {k: v for k, v in message.items() if k not in ("channel", "ephemeral")}


def _find_element(blocks: list, action_id: str, block_id: str | None) -> tuple[str | None, dict | None]:
    for block in blocks:
        if block_id is not None and block.get("block_id") != block_id:
            continue
        for element in elements_of(block):
            if element.get("action_id") == action_id:
                return block.get("block_id"), element
    return None, None

"""A small urllib client for the sandbox's inspection and test-control endpoints."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode


class SandboxError(RuntimeError):
    """The sandbox refused a test-control request (a bug in the test, usually)."""


class SandboxClient:
    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url if url.endswith("/") else f"{url}/"
        self.timeout = timeout

    def _request(self, verb: str, path: str, body: Any = None, **query: Any) -> Any:
        params = {k: v for k, v in query.items() if v is not None}
        url = f"{self.url}_sandbox/{path}" + (f"?{urlencode(params)}" if params else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=verb, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise SandboxError(f"{verb} {path}: {exc.code} {exc.read().decode(errors='replace')}") from exc

    # ----------------------------------------------------------------- inspection
    def users(self) -> list[dict]:
        return self._request("GET", "users")

    def add_user(self, user_id: str, name: str, *, real_name: str | None = None, tz: str | None = None) -> dict:
        """Another person in the workspace (``users.info`` and the driver know them)."""
        return self._request("POST", "users", {"id": user_id, "name": name, "real_name": real_name, "tz": tz})

    def channels(self) -> list[dict]:
        return self._request("GET", "channels")

    def channel(self, channel_id: str) -> dict | None:
        return next(iter(self._request("GET", "channels", id=channel_id)), None)

    def channel_by_name(self, name: str) -> dict | None:
        return next((c for c in self.channels() if c.get("name") == name.removeprefix("#")), None)

    def messages(self, channel: str, include_ephemeral: bool = False) -> list[dict]:
        return self._request("GET", "messages", channel=channel, include_ephemeral="1" if include_ephemeral else None)

    def message(self, channel: str, ts: str, include_ephemeral: bool = True) -> dict | None:
        return next((m for m in self.messages(channel, include_ephemeral) if m["ts"] == ts), None)

    def calls(self, method: str | None = None) -> list[dict]:
        return self._request("GET", "calls", method=method)

    def clear_calls(self) -> None:
        self._request("DELETE", "calls")

    def views(self, user: str | None = None) -> list[dict]:
        return self._request("GET", "views", user=user)

    def view(self, view_id: str) -> dict | None:
        found = self._request("GET", "views", id=view_id)
        return found[0] if found else None

    def responses(self) -> list[dict]:
        return self._request("GET", "responses")

    def private_replies(self, user: str) -> list[dict]:
        """What the bot told ``user`` privately: response_url replies, ephemerals and DMs."""
        sent = [r for r in self.responses() if r.get("user") == user]
        for channel in self.channels():
            messages = self.messages(channel["id"], include_ephemeral=True)
            if channel.get("is_im"):
                sent += [m for m in messages if channel.get("user") == user and m.get("bot_id")]
            else:
                sent += [m for m in messages if m.get("ephemeral") and m.get("user") == user]
        return sent

    def files(self) -> list[dict]:
        return self._request("GET", "files")

    # ----------------------------------------------------------------- what Slack itself would do
    def mint_trigger(self, user: str) -> str:
        return self._request("POST", "triggers", {"user": user})["trigger_id"]

    def mint_response_url(self, channel: str, user: str, message_ts: str | None = None) -> str:
        body = {"channel": channel, "user": user, "message_ts": message_ts}
        return self._request("POST", "response_urls", body)["response_url"]

    def post_user_message(self, channel: str, user: str, text: str, *, thread_ts: str | None = None, blocks: list | None = None) -> dict:
        body = {"channel": channel, "user": user, "text": text, "thread_ts": thread_ts, "blocks": blocks}
        return self._request("POST", "messages", body)

    def pin_as_user(self, channel: str, ts: str, user: str) -> dict:
        return self._request("POST", "pins", {"channel": channel, "ts": ts, "user": user})

    def add_user_reaction(self, channel: str, ts: str, name: str, user: str) -> dict:
        return self._request("POST", "reactions", {"channel": channel, "ts": ts, "name": name, "user": user})

    def apply_view_response(self, view_id: str, response: dict | None) -> dict:
        """Tell the sandbox what the app answered to a view_submission (response_action)."""
        return self._request("POST", f"views/{view_id}/response_action", response or {})

    def close_view(self, view_id: str) -> dict:
        return self._request("POST", f"views/{view_id}/close", {})

    # ----------------------------------------------------------------- test control
    def set_ratelimit(self, method: str, limit: int, retry_after: int = 1, window: float = 60.0) -> None:
        self._request("POST", "ratelimits", {"method": method, "limit": limit, "retry_after": retry_after, "window": window})

    def clear_ratelimits(self) -> None:
        self._request("DELETE", "ratelimits")

    def add_fault(
        self, method: str, kind: str, *, rate: float = 1.0, times: int | None = None, retry_after: int | None = None,
        status: int | None = None, seconds: float | None = None, error: str | None = None,
        applied: bool | None = None, seed: int | None = None, skip: int | None = None,
    ) -> dict:
        """Inject a fault into Web API calls of ``method`` (or "*"); see incidentbot/sandbox/faults.py.
        ``skip`` lets that many matching calls through first (``skip=2``: the third call is hit)."""
        body = {"method": method, "kind": kind, "rate": rate, "times": times, "skip": skip, "retry_after": retry_after,
                "status": status, "seconds": seconds, "error": error, "applied": applied, "seed": seed}
        return self._request("POST", "faults", {k: v for k, v in body.items() if v is not None})["fault"]

    def faults(self) -> dict:
        """``{"faults": [...], "injected": {method: {kind: count}}}``."""
        return self._request("GET", "faults")

    def clear_faults(self) -> None:
        self._request("DELETE", "faults")

    def reset(self) -> None:
        """Forget the workspace, the call log, rate limits and faults."""
        self._request("POST", "reset")

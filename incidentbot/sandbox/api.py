"""Dispatch of one Web API call: method lookup, auth, rate limits, call log, Slack-style errors."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from incidentbot.sandbox import methods_chat, methods_conversations, methods_misc, methods_views
from incidentbot.sandbox.args import Args, decode_json_arguments
from incidentbot.sandbox.state import SandboxState, SlackError

log = logging.getLogger(__name__)

Handler = Callable[[SandboxState, Args], dict]

METHODS: dict[str, Handler] = {
    **methods_conversations.METHODS,
    **methods_chat.METHODS,
    **methods_views.METHODS,
    **methods_misc.METHODS,
}


@dataclass
class ApiResult:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def call_method(state: SandboxState, method: str, raw_args: dict[str, Any], token: str | None, tokens: tuple[str, ...]) -> ApiResult:
    """Run `method` as Slack would and log it in `state.calls`, whatever the outcome."""
    args = {k: v for k, v in raw_args.items() if k != "token"}
    with state.lock:
        result = _answer(state, method, args, token, tokens)
        state.calls.append({
            "method": method, "args": _readable(args), "ok": bool(result.body.get("ok")),
            "error": result.body.get("error"), "status": result.status,
        })
        return result


def _answer(state: SandboxState, method: str, args: dict[str, Any], token: str | None, tokens: tuple[str, ...]) -> ApiResult:
    handler = METHODS.get(method)
    if handler is None:
        return _error("unknown_method")
    if not token:
        return _error("not_authed")
    if token not in tokens:
        return _error("invalid_auth")
    limit = state.ratelimits.get(method)
    if limit is not None and not limit.admit(state.now()):
        retry_after = max(1, round(limit.blocked_until - state.now()))
        return ApiResult(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})
    try:
        body = handler(state, Args(decode_json_arguments(args)))
    except SlackError as exc:
        return _error(exc.code, **exc.extra)
    except Exception:
        # A sandbox bug must be loud in tests, yet still look like a Slack failure to the client.
        log.exception("sandbox failed on %s", method)
        return ApiResult(500, {"ok": False, "error": "internal_error"})
    return ApiResult(200, {"ok": True, **body})


def _readable(args: dict[str, Any]) -> dict[str, Any]:
    """Logged arguments with JSON strings decoded, so tests read blocks as lists."""
    try:
        return decode_json_arguments(args)
    except SlackError:
        return dict(args)


def _error(code: str, **extra: Any) -> ApiResult:
    return ApiResult(200, {"ok": False, "error": code, **extra})

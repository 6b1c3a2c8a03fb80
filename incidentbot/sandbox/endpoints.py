"""The sandbox's own HTTP surface: inspection and test-control routes under /_sandbox/,
the response_url target, the file upload target and permalinks.

Each route takes (state, query, body) and returns (HTTP status, JSON-able body).
"""

from __future__ import annotations

import base64
import copy
from typing import Any, Callable

from incidentbot.sandbox.blocks import MESSAGE_BLOCKS_MAX, blocks_errors, with_ids
from incidentbot.sandbox.constants import BOT_USER_ID
from incidentbot.sandbox.methods_conversations import system_message
from incidentbot.sandbox.methods_chat import add_reaction
from incidentbot.sandbox.methods_misc import receive_upload
from incidentbot.sandbox.methods_views import apply_response_action, close_view
from incidentbot.sandbox.state import RateLimit, SandboxState, SlackError, ts_key

# Slack accepts up to five posts to a response_url within thirty minutes.
RESPONSE_URL_USES = 5
RESPONSE_URL_LIFETIME_SECONDS = 30 * 60

Query = dict[str, str]
Route = Callable[[SandboxState, Query, Any], tuple[int, Any]]


class BadRequest(Exception):
    """A malformed test-control request: answered 400 with the reason."""


def _require(body: Any, *names: str) -> list[Any]:
    if not isinstance(body, dict) or any(not body.get(n) for n in names):
        raise BadRequest(f"body must be a JSON object with {', '.join(names)}")
    return [body[n] for n in names]


def channel_dump(state: SandboxState, channel_id: str) -> dict:
    channel = state.channels[channel_id]
    data = channel.to_slack()
    data.update(members=list(channel.members), pins=list(channel.pins), bookmarks=list(channel.bookmarks))
    return data


def get_users(state: SandboxState, query: Query, body: Any) -> tuple[int, Any]:
    return 200, list(state.users.values())


def get_channels(state: SandboxState, query: Query, body: Any) -> tuple[int, Any]:
    """Every channel, or with ``?id=C…`` just that one (a list of zero or one): tests that
    look up a channel per request must not cost more with every channel made."""
    wanted = query.get("id")
    if wanted is not None:
        return 200, [channel_dump(state, wanted)] if wanted in state.channels else []
    return 200, [channel_dump(state, cid) for cid in state.channels]


def get_messages(state: SandboxState, query: Query, body: Any) -> tuple[int, Any]:
    channel = state.channels.get(query.get("channel", ""))
    if channel is None:
        raise BadRequest("unknown channel")
    messages = list(channel.messages)
    if query.get("include_ephemeral") in ("1", "true"):
        messages += [m for m in state.ephemerals if m["channel"] == channel.id]
        messages.sort(key=lambda m: ts_key(m["ts"]))
    return 200, messages


def post_message(state: SandboxState, query: Query, body: Any) -> tuple[int, Any]:
    """A human posts in a channel (tests then deliver the matching `message` event)."""
    channel_id, user = _require(body, "channel", "user")
    if channel_id not in state.channels:
        raise BadRequest("unknown channel")
    state.user(user)
    blocks = with_ids(body["blocks"]) if body.get("blocks") else None
    extra = {"client_msg_id": body.get("client_msg_id")} if body.get("client_msg_id") else None
    message = state.add_message(
        channel_id, user=user, text=body.get("text", ""), blocks=blocks, thread_ts=body.get("thread_ts"), extra=extra,
    )
    return 200, message


def post_reaction(state: SandboxState, query: Query, body: Any) -> tuple[int, Any]:
    channel_id, ts, name, user = _require(body, "channel", "ts", "name", "user")
    channel = state.channels.get(channel_id)
    if channel is None:
        raise BadRequest("unknown channel")
    message = state.message(channel, ts)
    add_reaction(message, name.strip(":"), user)
    return 200, message


def post_pin(state: SandboxState, query: Query, body: Any) -> tuple[int, Any]:
    """A person pins a message (Slack then posts a pinned_item notice, as for the bot)."""
    channel_id, ts, user = _require(body, "channel", "ts", "user")
    channel = state.channels.get(channel_id)
    if channel is None:
        raise BadRequest("unknown channel")
    message = state.message(channel, ts)
    if ts not in channel.pins:
        channel.pins.append(ts)
        message["pinned_to"] = [channel.id]
        system_message(state, channel, user, "pinned_item", f"<@{user}> pinned a message to this channel.",
                       item_type="C", item={"type": "message", "channel": channel.id, "ts": ts})
    return 200, message


def get_calls(state: SandboxState, query: Query, body: Any) -> tuple[int, Any]:
    method = query.get("method")
    return 200, [c for c in state.calls if method is None or c["method"] == method]


def delete_calls(state: SandboxState, query: Query, body: Any) -> tuple[int, Any]:
    state.calls.clear()
    return 200, {"ok": True}


def view_dump(state: SandboxState, view_id: str) -> dict:
    data = dict(state.views[view_id])
    data.update(state.view_meta[view_id])
    return data


def get_views(state: SandboxState, query: Query, body: Any) -> tuple[int, Any]:
    views = [view_dump(state, v) for v in state.views]
    if user := query.get("user"):
        views = [v for v in views if v["user"] == user]
    if view_id := query.get("id"):
        views = [v for v in views if v["id"] == view_id]
    return 200, views


def view_action(state: SandboxState, view_id: str, body: Any, *, close: bool) -> tuple[int, Any]:
    if view_id not in state.views:
        raise BadRequest("unknown view")
    if close:
        close_view(state, view_id)
        return 200, view_dump(state, view_id)
    view = apply_response_action(state, view_id, body if isinstance(body, dict) else None)
    return 200, view_dump(state, view["id"])


def get_files(state: SandboxState, query: Query, body: Any) -> tuple[int, Any]:
    files = []
    for record in state.files.values():
        content = record["content"] or b""
        entry = {k: v for k, v in record.items() if k not in ("content", "upload_token")}
        entry.update(size=len(content), content_b64=base64.b64encode(content).decode())
        try:
            entry["content"] = content.decode("utf-8")
        except UnicodeDecodeError:
            entry["content"] = None
        files.append(entry)
    return 200, files


def post_user(state: SandboxState, query: Query, body: Any) -> tuple[int, Any]:
    """Another person in the workspace (Slack lets each person have one modal open at a
    time, so a load of open forms needs as many people)."""
    user_id, name = _require(body, "id", "name")
    if user_id in state.users:
        raise BadRequest(f"user {user_id} exists")
    return 200, state.add_user(user_id, name, real_name=body.get("real_name"), tz=body.get("tz") or "UTC")


def post_trigger(state: SandboxState, query: Query, body: Any) -> tuple[int, Any]:
    (user,) = _require(body, "user")
    return 200, {"trigger_id": state.mint_trigger(user)}


def post_response_url(state: SandboxState, query: Query, body: Any) -> tuple[int, Any]:
    channel, user = _require(body, "channel", "user")
    return 200, {"response_url": state.mint_response_url(channel, user, body.get("message_ts"))}


def get_responses(state: SandboxState, query: Query, body: Any) -> tuple[int, Any]:
    return 200, list(state.responses)


def post_ratelimit(state: SandboxState, query: Query, body: Any) -> tuple[int, Any]:
    (method,) = _require(body, "method")
    limit = body.get("limit")
    if not isinstance(limit, int) or limit < 0:
        raise BadRequest("limit must be a non-negative integer")
    state.ratelimits[method] = RateLimit(
        limit=limit, retry_after=int(body.get("retry_after", 1)), window=float(body.get("window", 60.0)),
    )
    return 200, {"ok": True}


def delete_ratelimits(state: SandboxState, query: Query, body: Any) -> tuple[int, Any]:
    state.ratelimits.clear()
    return 200, {"ok": True}


def post_reset(state: SandboxState, query: Query, body: Any) -> tuple[int, Any]:
    state.reset()
    return 200, {"ok": True}


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "users"): get_users,
    ("POST", "users"): post_user,
    ("GET", "channels"): get_channels,
    ("GET", "messages"): get_messages,
    ("POST", "messages"): post_message,
    ("POST", "reactions"): post_reaction,
    ("POST", "pins"): post_pin,
    ("GET", "calls"): get_calls,
    ("DELETE", "calls"): delete_calls,
    ("GET", "views"): get_views,
    ("GET", "files"): get_files,
    ("POST", "triggers"): post_trigger,
    ("POST", "response_urls"): post_response_url,
    ("GET", "responses"): get_responses,
    ("POST", "ratelimits"): post_ratelimit,
    ("DELETE", "ratelimits"): delete_ratelimits,
    ("POST", "reset"): post_reset,
}


def handle_sandbox(state: SandboxState, verb: str, parts: list[str], query: Query, body: Any) -> tuple[int, Any]:
    """Route /_sandbox/<parts...>; answers are deep copies so callers never share live state."""
    with state.lock:
        try:
            status, payload = _route(state, verb, parts, query, body)
        except BadRequest as exc:
            return 400, {"ok": False, "error": str(exc)}
        except SlackError as exc:
            return 400, {"ok": False, "error": exc.code}
        return status, copy.deepcopy(payload)


def _route(state: SandboxState, verb: str, parts: list[str], query: Query, body: Any) -> tuple[int, Any]:
    if len(parts) == 1 and (verb, parts[0]) in ROUTES:
        return ROUTES[(verb, parts[0])](state, query, body)
    if verb == "POST" and len(parts) == 3 and parts[0] == "views" and parts[2] in ("response_action", "close"):
        return view_action(state, parts[1], body, close=parts[2] == "close")
    if verb == "POST" and len(parts) == 2 and parts[0] == "response_url":
        return respond(state, parts[1], body)
    return 404, {"ok": False, "error": "unknown sandbox route"}


def respond(state: SandboxState, token: str, body: Any) -> tuple[int, Any]:
    """A post to a response_url: ephemeral reply, in-channel message, or change the original."""
    target = state.response_urls.get(token)
    if target is None or state.now() - target["minted_at"] > RESPONSE_URL_LIFETIME_SECONDS:
        return 404, {"ok": False, "error": "expired_url"}
    if target["uses"] >= RESPONSE_URL_USES:
        return 404, {"ok": False, "error": "used_url"}
    if not isinstance(body, dict):
        return 400, {"ok": False, "error": "invalid_payload"}
    if not body.get("text") and not body.get("blocks") and not body.get("delete_original"):
        return 400, {"ok": False, "error": "no_text"}
    if body.get("blocks") and blocks_errors(body["blocks"], maximum=MESSAGE_BLOCKS_MAX):
        return 400, {"ok": False, "error": "invalid_blocks"}
    record = {
        "channel": target["channel"], "user": target["user"], "response_type": body.get("response_type") or "ephemeral",
        "text": body.get("text", ""), "blocks": body.get("blocks"), "thread_ts": body.get("thread_ts"),
        "replace_original": bool(body.get("replace_original")), "delete_original": bool(body.get("delete_original")),
        "original_ts": target["message_ts"], "ts": state.next_ts(),
        # Which request was answered: a test can match a reply to the click or command it sent.
        "response_url": f"{state.base_url}_sandbox/response_url/{token}",
    }
    _deliver(state, target, record)
    target["uses"] += 1
    state.responses.append(record)
    return 200, {"ok": True}


def _original(state: SandboxState, target: dict) -> tuple[list[dict] | None, dict | None]:
    """The message an interaction's response_url may replace: in the channel, or ephemeral."""
    ts = target["message_ts"]
    channel = state.channels.get(target["channel"])
    if ts and channel is not None and ts in channel.by_ts:
        return channel.messages, channel.by_ts[ts]
    ephemeral = next((m for m in state.ephemerals if ts and m["ts"] == ts), None)
    return (state.ephemerals, ephemeral) if ephemeral else (None, None)


def _deliver(state: SandboxState, target: dict, record: dict) -> None:
    home, original = _original(state, target)
    if original is not None and record["delete_original"]:
        if home is state.ephemerals:
            state.ephemerals.remove(original)
        else:
            state.channels[target["channel"]].remove_message(original["ts"])
    elif original is not None and record["replace_original"]:
        original.update(text=record["text"], edited={"user": BOT_USER_ID, "ts": record["ts"]})
        if record["blocks"] is not None:
            original["blocks"] = with_ids(record["blocks"])
    elif record["delete_original"]:
        return
    elif record["response_type"] == "in_channel" and target["channel"] in state.channels:
        # response_url messages need no membership: Slack posts them on the app's behalf.
        state.add_message(target["channel"], user=BOT_USER_ID, text=record["text"],
                          blocks=with_ids(record["blocks"]) if record["blocks"] else None, thread_ts=record["thread_ts"])
    else:
        state.ephemerals.append({
            "type": "message", "ts": record["ts"], "user": target["user"], "bot_id": state.users[BOT_USER_ID]["profile"]["bot_id"],
            "channel": target["channel"], "text": record["text"], "blocks": record["blocks"], "ephemeral": True,
        })


def receive_file(state: SandboxState, token: str, content: bytes) -> tuple[int, str]:
    try:
        record = receive_upload(state, token, content)
    except SlackError:
        return 404, "file_not_found"
    return 200, f"OK - {len(record['content'])}"


def permalink_target(state: SandboxState, channel_id: str, ts_part: str) -> tuple[int, Any]:
    """GET on a permalink shows the message, so links the bot renders can be followed in tests."""
    with state.lock:
        channel = state.channels.get(channel_id)
        ts = f"{ts_part[1:-6]}.{ts_part[-6:]}" if ts_part.startswith("p") and len(ts_part) > 7 else ""
        message = channel.by_ts.get(ts) if channel else None
        if message is None:
            return 404, {"ok": False, "error": "message_not_found"}
        return 200, copy.deepcopy(message)

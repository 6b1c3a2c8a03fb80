"""conversations.* Web API methods, called with the state lock held."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from incidentbot.sandbox.args import Args
from incidentbot.sandbox.constants import BOT_USER_ID
from incidentbot.sandbox.pagination import clamp_limit, decode_cursor, encode_cursor, page
from incidentbot.sandbox.state import Channel, SandboxState, SlackError, ts_key

NAME_MAX = 80
NAME_ALLOWED = re.compile(r"^[a-z0-9_-]+$")
HISTORY_MAX = 999
TOPIC_MAX = 250
PURPOSE_MAX = 250


def validate_name(name: str | None) -> str:
    if not name:
        raise SlackError("invalid_name_required")
    if len(name) > NAME_MAX:
        raise SlackError("invalid_name_maxlength")
    if not NAME_ALLOWED.match(name):
        raise SlackError("invalid_name_specials")
    if not name.strip("-_"):
        raise SlackError("invalid_name_punctuation")
    return name


def member_channel(state: SandboxState, args: Args, arg: str = "channel") -> Channel:
    """A channel the bot must be in: invisible private ones do not exist, public ones say so."""
    channel = state.visible_channel(args.text(arg))
    if BOT_USER_ID not in channel.members:
        raise SlackError("not_in_channel")
    return channel


def system_message(state: SandboxState, channel: Channel, user: str, subtype: str, text: str, **extra: Any) -> None:
    """Slack records joins, topic and purpose changes as subtype messages in the channel."""
    state.add_message(channel.id, user=user, text=text, extra={"subtype": subtype, **extra})


def conversations_create(state: SandboxState, args: Args) -> dict:
    name = validate_name(args.text("name"))
    if state.channel_by_name(name) is not None:
        raise SlackError("name_taken")
    channel = state.add_channel(name, is_private=args.flag("is_private"), members=(BOT_USER_ID,), creator=BOT_USER_ID)
    return {"channel": channel.to_slack()}


def conversations_info(state: SandboxState, args: Args) -> dict:
    channel = state.visible_channel(args.text("channel"))
    return {"channel": channel.to_slack(num_members=args.flag("include_num_members"))}


def _kind(channel: Channel) -> str:
    if channel.im_user is not None:
        return "im"
    return "private_channel" if channel.is_private else "public_channel"


def conversations_list(state: SandboxState, args: Args) -> dict:
    types = set(args.csv("types") or ["public_channel"])
    exclude_archived = args.flag("exclude_archived")
    channels = [
        c for c in state.channels.values()
        if c.visible_to(BOT_USER_ID)
        and _kind(c) in types
        and not (exclude_archived and c.is_archived)
    ]
    limit = clamp_limit(args.number("limit", 100), default=100, maximum=1000)
    chunk, next_cursor = page(channels, cursor=args.text("cursor"), limit=limit, key=lambda c: c.id, kind="channel")
    return {"channels": [c.to_slack() for c in chunk], "response_metadata": {"next_cursor": next_cursor}}


def conversations_open(state: SandboxState, args: Args) -> dict:
    """Only one-to-one DMs: the bot has no use for group DMs, so they are refused."""
    users = args.csv("users")
    if not users and (channel_id := args.text("channel")):
        return {"channel": state.visible_channel(channel_id).to_slack()}
    if len(users) != 1:
        raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] exactly one user is supported"]})
    channel = state.direct_channel(users[0])
    body = channel.to_slack() if args.flag("return_im") else {"id": channel.id}
    return {"channel": body}


def conversations_join(state: SandboxState, args: Args) -> dict:
    channel = state.visible_channel(args.text("channel"))
    if channel.is_private:
        raise SlackError("method_not_supported_for_channel_type")
    if channel.is_archived:
        raise SlackError("is_archived")
    if BOT_USER_ID in channel.members:
        return {
            "channel": channel.to_slack(),
            "warning": "already_in_channel",
            "response_metadata": {"warnings": ["already_in_channel"]},
        }
    channel.members.append(BOT_USER_ID)
    system_message(state, channel, BOT_USER_ID, "channel_join", f"<@{BOT_USER_ID}> has joined the channel")
    return {"channel": channel.to_slack()}


def _invite_error(state: SandboxState, channel: Channel, user_id: str) -> str | None:
    if user_id == BOT_USER_ID:
        return "cant_invite_self"
    if user_id not in state.users:
        return "user_not_found"
    if user_id in channel.members:
        return "already_in_channel"
    return None


def conversations_invite(state: SandboxState, args: Args) -> dict:
    """Slack invites all or nobody: one bad user fails the call, unless force=true skips it."""
    channel = state.visible_channel(args.text("channel"))
    if channel.im_user is not None:
        raise SlackError("method_not_supported_for_channel_type")
    if channel.is_archived:
        raise SlackError("is_archived")
    if BOT_USER_ID not in channel.members:
        raise SlackError("not_in_channel")
    users = list(dict.fromkeys(args.csv("users")))
    if not users:
        raise SlackError("no_user")
    if len(users) > 1000:
        raise SlackError("too_many_users")
    verdicts = {u: _invite_error(state, channel, u) for u in users}
    failures = [{"user": u, "ok": False, "error": e} for u, e in verdicts.items() if e]
    valid = [u for u, e in verdicts.items() if e is None]
    if failures and (not args.flag("force") or not valid):
        raise SlackError(failures[0]["error"], errors=failures)
    for user_id in valid:
        channel.members.append(user_id)
        system_message(state, channel, user_id, "channel_join", f"<@{user_id}> has joined the channel", inviter=BOT_USER_ID)
    body: dict[str, Any] = {"channel": channel.to_slack()}
    if failures:
        body["errors"] = failures
    return body


def conversations_members(state: SandboxState, args: Args) -> dict:
    channel = state.visible_channel(args.text("channel"))
    limit = clamp_limit(args.number("limit", 100), default=100, maximum=1000)
    chunk, next_cursor = page(channel.members, cursor=args.text("cursor"), limit=limit, key=str, kind="user")
    return {"members": chunk, "response_metadata": {"next_cursor": next_cursor}}


def _bound(args: Args, name: str, error: str, default: Decimal) -> Decimal:
    value = args.text(name)
    if value is None:
        return default
    try:
        return ts_key(value)
    except ValueError as exc:
        raise SlackError(error) from exc


def _in_bounds(args: Args):
    """Filter for oldest/latest; bounds are exclusive unless `inclusive` is set.

    `latest` defaults to "no upper bound" rather than the clock, because ts values run
    ahead of a frozen or coarse clock when many messages share one microsecond.
    """
    oldest = _bound(args, "oldest", "invalid_ts_oldest", Decimal(0))
    latest = _bound(args, "latest", "invalid_ts_latest", Decimal("Infinity"))
    inclusive = args.flag("inclusive")

    def accept(message: dict) -> bool:
        key = ts_key(message["ts"])
        if inclusive:
            return oldest <= key <= latest
        return oldest < key < latest

    return accept


def _is_top_level(message: dict) -> bool:
    thread_ts = message.get("thread_ts")
    return not thread_ts or thread_ts == message["ts"] or message.get("subtype") == "thread_broadcast"


def public_message(message: dict, *, with_metadata: bool = False) -> dict:
    """A stored message as the Web API returns it (the channel is implied by the call).

    Like Slack, history and replies leave message metadata out unless asked
    (``include_all_metadata``)."""
    hidden = {"channel"} if with_metadata else {"channel", "metadata"}
    return {k: v for k, v in message.items() if k not in hidden}


def conversations_history(state: SandboxState, args: Args) -> dict:
    channel = member_channel(state, args)
    accept = _in_bounds(args)
    newest_first = [m for m in reversed(channel.messages) if _is_top_level(m) and accept(m)]
    if cursor := args.text("cursor"):
        start_key = ts_key(decode_cursor(cursor, "next_ts"))
        newest_first = [m for m in newest_first if ts_key(m["ts"]) <= start_key]
    limit = clamp_limit(args.number("limit", 100), default=100, maximum=HISTORY_MAX)
    chunk, rest = newest_first[:limit], newest_first[limit:]
    return {
        "messages": [public_message(m, with_metadata=args.flag("include_all_metadata")) for m in chunk],
        "has_more": bool(rest),
        "pin_count": len(channel.pins),
        "channel_actions_ts": None,
        "channel_actions_count": 0,
        "response_metadata": {"next_cursor": encode_cursor("next_ts", rest[0]["ts"]) if rest else ""},
    }


def conversations_replies(state: SandboxState, args: Args) -> dict:
    channel = member_channel(state, args)
    parent = channel.by_ts.get(args.text("ts") or "")
    if parent is None:
        raise SlackError("thread_not_found")
    thread_ts = parent.get("thread_ts") or parent["ts"]
    parent = channel.by_ts[thread_ts]
    accept = _in_bounds(args)
    replies = [m for m in channel.messages if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts and accept(m)]
    limit = clamp_limit(args.number("limit", 1000), default=1000, maximum=1000)
    chunk, next_cursor = page([parent, *replies], cursor=args.text("cursor"), limit=limit, key=lambda m: m["ts"], kind="next_ts")
    return {
        "messages": [public_message(m, with_metadata=args.flag("include_all_metadata")) for m in chunk],
        "has_more": bool(next_cursor),
        "response_metadata": {"next_cursor": next_cursor},
    }


def conversations_set_topic(state: SandboxState, args: Args) -> dict:
    channel = member_channel(state, args)
    topic = args.text("topic", "")
    if len(topic) > TOPIC_MAX:
        raise SlackError("too_long")
    channel.topic = {"value": topic, "creator": BOT_USER_ID, "last_set": int(state.now())}
    system_message(state, channel, BOT_USER_ID, "channel_topic", f"set the channel topic: {topic}", topic=topic)
    return {"channel": channel.to_slack()}


def conversations_set_purpose(state: SandboxState, args: Args) -> dict:
    channel = member_channel(state, args)
    purpose = args.text("purpose", "")
    if len(purpose) > PURPOSE_MAX:
        raise SlackError("too_long")
    channel.purpose = {"value": purpose, "creator": BOT_USER_ID, "last_set": int(state.now())}
    system_message(state, channel, BOT_USER_ID, "channel_purpose", f"set the channel purpose: {purpose}", purpose=purpose)
    return {"channel": channel.to_slack(), "purpose": purpose}


def conversations_archive(state: SandboxState, args: Args) -> dict:
    channel = state.visible_channel(args.text("channel"))
    if channel.im_user is not None:
        raise SlackError("method_not_supported_for_channel_type")
    if channel.is_general:
        raise SlackError("cant_archive_general")
    if channel.is_archived:
        raise SlackError("already_archived")
    if BOT_USER_ID not in channel.members:
        raise SlackError("not_in_channel")
    channel.is_archived = True
    return {}


METHODS = {
    "conversations.create": conversations_create,
    "conversations.info": conversations_info,
    "conversations.list": conversations_list,
    "conversations.open": conversations_open,
    "conversations.join": conversations_join,
    "conversations.invite": conversations_invite,
    "conversations.members": conversations_members,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "conversations.setTopic": conversations_set_topic,
    "conversations.setPurpose": conversations_set_purpose,
    "conversations.archive": conversations_archive,
}

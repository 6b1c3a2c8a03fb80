"""chat.*, pins.*, reactions.* and bookmarks.* Web API methods, called with the state lock held."""

from __future__ import annotations

from typing import Any

from incidentbot.sandbox.args import Args
from incidentbot.sandbox.blocks import MESSAGE_BLOCKS_MAX, blocks_errors, with_ids
from incidentbot.sandbox.constants import BOT_USER_ID, TEAM_ID
from incidentbot.sandbox.methods_conversations import member_channel, public_message, system_message
from incidentbot.sandbox.state import Channel, SandboxState, SlackError

TEXT_MAX = 40_000
BOOKMARKS_MAX = 100


def message_content(args: Args) -> dict[str, Any]:
    """text/blocks/attachments of a post or update, checked the way Slack checks them."""
    text = args.text("text", "")
    blocks = args.structured("blocks")
    attachments = args.structured("attachments")
    if not text and not blocks and not attachments:
        raise SlackError("no_text")
    if len(text) > TEXT_MAX:
        raise SlackError("msg_too_long")
    content: dict[str, Any] = {"text": text}
    if blocks:
        if errors := blocks_errors(blocks, maximum=MESSAGE_BLOCKS_MAX):
            raise SlackError("invalid_blocks", response_metadata={"messages": errors})
        content["blocks"] = with_ids(blocks)
    if attachments:
        content["attachments"] = attachments
    if metadata := args.structured("metadata"):
        content["metadata"] = metadata
    return content


def postable_channel(state: SandboxState, args: Args) -> Channel:
    channel = state.visible_channel(args.text("channel"))
    if channel.is_archived:
        raise SlackError("is_archived")
    if BOT_USER_ID not in channel.members:
        raise SlackError("not_in_channel")
    return channel


def chat_post_message(state: SandboxState, args: Args) -> dict:
    channel = postable_channel(state, args)
    content = message_content(args)
    thread_ts = args.text("thread_ts")
    if thread_ts and thread_ts not in channel.by_ts:
        raise SlackError("invalid_thread_ts")
    extra = {k: v for k, v in content.items() if k != "text"}
    if thread_ts and args.flag("reply_broadcast"):
        extra["subtype"] = "thread_broadcast"
    message = state.add_message(channel.id, user=BOT_USER_ID, text=content["text"], thread_ts=thread_ts, extra=extra)
    return {"channel": channel.id, "ts": message["ts"], "message": public_message(message)}


def chat_post_ephemeral(state: SandboxState, args: Args) -> dict:
    channel = postable_channel(state, args)
    recipient = args.text("user")
    state.user(recipient)
    if recipient not in channel.members:
        raise SlackError("user_not_in_channel")
    content = message_content(args)
    message = {
        "type": "message", "ts": state.next_ts(), "user": recipient, "bot_id": state.users[BOT_USER_ID]["profile"]["bot_id"],
        "channel": channel.id, "ephemeral": True, "team": TEAM_ID, **content,
    }
    if thread_ts := args.text("thread_ts"):
        message["thread_ts"] = thread_ts
    state.ephemerals.append(message)
    return {"message_ts": message["ts"]}


def own_message(state: SandboxState, args: Args, ts_arg: str, error: str) -> tuple[Channel, dict]:
    channel = state.visible_channel(args.text("channel"))
    message = state.message(channel, args.text(ts_arg))
    if message.get("user") != BOT_USER_ID:
        raise SlackError(error)
    return channel, message


def chat_update(state: SandboxState, args: Args) -> dict:
    channel, message = own_message(state, args, "ts", "cant_update_message")
    if channel.is_archived:
        raise SlackError("is_archived")
    content = message_content(args)
    message["text"] = content["text"]
    for key in ("blocks", "attachments", "metadata"):
        if key in content:
            message[key] = content[key]
        elif args.data.get(key) is not None:
            message.pop(key, None)  # an explicitly empty value clears the field, as in Slack
    message["edited"] = {"user": BOT_USER_ID, "ts": state.next_ts()}
    return {"channel": channel.id, "ts": message["ts"], "text": message["text"], "message": public_message(message)}


def chat_delete(state: SandboxState, args: Args) -> dict:
    channel, message = own_message(state, args, "ts", "cant_delete_message")
    channel.remove_message(message["ts"])
    if message["ts"] in channel.pins:
        channel.pins.remove(message["ts"])
    if message.get("thread_ts") and message["thread_ts"] != message["ts"]:
        state.refresh_thread(channel, message["thread_ts"])
    return {"channel": channel.id, "ts": message["ts"]}


def chat_get_permalink(state: SandboxState, args: Args) -> dict:
    channel = state.visible_channel(args.text("channel"))
    message = state.message(channel, args.text("message_ts"))
    return {"channel": channel.id, "permalink": state.permalink(channel.id, message)}


def pins_add(state: SandboxState, args: Args) -> dict:
    channel = member_channel(state, args)
    message = state.message(channel, args.text("timestamp"))
    if message["ts"] in channel.pins:
        raise SlackError("already_pinned")
    channel.pins.append(message["ts"])
    message["pinned_to"] = [channel.id]
    system_message(state, channel, BOT_USER_ID, "pinned_item", f"<@{BOT_USER_ID}> pinned a message to this channel.",
                   item_type="C", item={"type": "message", "channel": channel.id, "ts": message["ts"]})
    return {}


def pins_remove(state: SandboxState, args: Args) -> dict:
    channel = member_channel(state, args)
    message = state.message(channel, args.text("timestamp"))
    if message["ts"] not in channel.pins:
        raise SlackError("no_pin")
    channel.pins.remove(message["ts"])
    message.pop("pinned_to", None)
    return {}


def pins_list(state: SandboxState, args: Args) -> dict:
    channel = state.visible_channel(args.text("channel"))
    items = [
        {"type": "message", "created": int(float(ts)), "created_by": BOT_USER_ID, "channel": channel.id,
         "message": public_message(channel.by_ts[ts])}
        for ts in channel.pins
    ]
    return {"items": items}


def _reaction_target(state: SandboxState, args: Args) -> tuple[dict, str]:
    channel = state.visible_channel(args.text("channel"))
    message = state.message(channel, args.text("timestamp"))
    name = (args.text("name") or "").strip(":")
    if not name:
        raise SlackError("invalid_name")
    return message, name


def reactions_add(state: SandboxState, args: Args) -> dict:
    message, name = _reaction_target(state, args)
    add_reaction(message, name, BOT_USER_ID)
    return {}


def add_reaction(message: dict, name: str, user: str) -> None:
    reactions = message.setdefault("reactions", [])
    reaction = next((r for r in reactions if r["name"] == name), None)
    if reaction is None:
        reaction = {"name": name, "users": [], "count": 0}
        reactions.append(reaction)
    if user in reaction["users"]:
        raise SlackError("already_reacted")
    reaction["users"].append(user)
    reaction["count"] = len(reaction["users"])


def reactions_remove(state: SandboxState, args: Args) -> dict:
    message, name = _reaction_target(state, args)
    reaction = next((r for r in message.get("reactions", []) if r["name"] == name), None)
    if reaction is None or BOT_USER_ID not in reaction["users"]:
        raise SlackError("no_reaction")
    reaction["users"].remove(BOT_USER_ID)
    reaction["count"] = len(reaction["users"])
    message["reactions"] = [r for r in message["reactions"] if r["count"]]
    return {}


def bookmarks_add(state: SandboxState, args: Args) -> dict:
    channel = member_channel(state, args, "channel_id")
    title, kind, link = args.text("title"), args.text("type"), args.text("link")
    if not title:
        raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: title"]})
    if kind != "link":
        raise SlackError("invalid_bookmark_type")
    if not link or not link.startswith(("http://", "https://")):
        raise SlackError("invalid_link")
    if len(channel.bookmarks) >= BOOKMARKS_MAX:
        raise SlackError("too_many_bookmarks")
    now = int(state.now())
    bookmark = {
        "id": state.new_id("Bk"), "channel_id": channel.id, "title": title, "link": link,
        "emoji": args.text("emoji"), "icon_url": None, "type": "link", "entity_id": None,
        "date_created": now, "date_updated": 0, "rank": chr(ord("a") + len(channel.bookmarks) % 26),
        "last_updated_by_user_id": BOT_USER_ID, "last_updated_by_team_id": TEAM_ID,
        "shortcut_id": None, "app_id": None,
    }
    channel.bookmarks.append(bookmark)
    return {"bookmark": bookmark}


def bookmarks_list(state: SandboxState, args: Args) -> dict:
    channel = state.visible_channel(args.text("channel_id"))
    return {"bookmarks": list(channel.bookmarks)}


METHODS = {
    "chat.postMessage": chat_post_message,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
    "chat.getPermalink": chat_get_permalink,
    "pins.add": pins_add,
    "pins.remove": pins_remove,
    "pins.list": pins_list,
    "reactions.add": reactions_add,
    "reactions.remove": reactions_remove,
    "bookmarks.add": bookmarks_add,
    "bookmarks.list": bookmarks_list,
}

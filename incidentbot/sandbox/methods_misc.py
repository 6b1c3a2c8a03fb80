"""auth.*, users.* and the files_upload_v2 flow (files.getUploadURLExternal/completeUploadExternal)."""

from __future__ import annotations

import mimetypes
import secrets

from incidentbot.sandbox.args import Args
from incidentbot.sandbox.constants import BOT_ID, BOT_NAME, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID, TEAM_NAME
from incidentbot.sandbox.methods_chat import postable_channel
from incidentbot.sandbox.pagination import clamp_limit, page
from incidentbot.sandbox.state import SandboxState, SlackError


def auth_test(state: SandboxState, args: Args) -> dict:
    return {
        "url": state.base_url, "team": TEAM_NAME, "user": BOT_NAME, "team_id": TEAM_ID,
        "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False,
    }


def team_info(state: SandboxState, args: Args) -> dict:
    return {"team": {"id": TEAM_ID, "name": TEAM_NAME, "domain": TEAM_DOMAIN, "url": state.base_url}}


def users_info(state: SandboxState, args: Args) -> dict:
    return {"user": state.user(args.text("user"))}


def users_list(state: SandboxState, args: Args) -> dict:
    users = list(state.users.values())
    # Slack answers everyone when no limit is given; it recommends pages of at most 200.
    limit = clamp_limit(args.number("limit", 0), default=len(users) or 1, maximum=1000)
    chunk, next_cursor = page(users, cursor=args.text("cursor"), limit=limit, key=lambda u: u["id"], kind="user")
    return {"members": chunk, "cache_ts": int(state.now()), "response_metadata": {"next_cursor": next_cursor}}


def users_lookup_by_email(state: SandboxState, args: Args) -> dict:
    email = (args.text("email") or "").lower()
    user = next((u for u in state.users.values() if (u["profile"].get("email") or "").lower() == email), None)
    if user is None:
        raise SlackError("users_not_found")
    return {"user": user}


def files_get_upload_url_external(state: SandboxState, args: Args) -> dict:
    filename = args.text("filename")
    length = args.number("length", 0)
    if not filename or length <= 0:
        raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] filename and length are required"]})
    file_id = state.new_id("F")
    token = secrets.token_urlsafe(18)
    state.files[file_id] = {
        "id": file_id, "name": filename, "title": filename, "length": length,
        "alt_txt": args.text("alt_txt"), "upload_token": token, "content": None,
        "channels": [], "completed": False,
    }
    return {"upload_url": f"{state.base_url}upload/v1/{token}", "file_id": file_id}


def receive_upload(state: SandboxState, token: str, content: bytes) -> dict:
    """Step two of files_upload_v2: the bytes arrive at the URL step one handed out."""
    with state.lock:
        record = next((f for f in state.files.values() if f["upload_token"] == token), None)
        if record is None or record["completed"]:
            raise SlackError("file_not_found")
        record["content"] = content
        return record


def _file_object(state: SandboxState, record: dict) -> dict:
    mimetype = mimetypes.guess_type(record["name"])[0] or "text/plain"
    return {
        "id": record["id"], "created": int(state.now()), "timestamp": int(state.now()),
        "name": record["name"], "title": record["title"], "mimetype": mimetype,
        "filetype": record["name"].rsplit(".", 1)[-1] if "." in record["name"] else "text",
        "user": BOT_USER_ID, "size": len(record["content"] or b""), "mode": "hosted",
        "is_external": False, "alt_txt": record["alt_txt"],
        "url_private": f"{state.base_url}files/{record['id']}/{record['name']}",
        "permalink": f"{state.base_url}files/{BOT_USER_ID}/{record['id']}/{record['name']}",
        "channels": list(record["channels"]),
    }


def files_complete_upload_external(state: SandboxState, args: Args) -> dict:
    entries = args.structured("files")
    if not isinstance(entries, list) or not entries:
        raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] files is required"]})
    records = []
    for entry in entries:
        record = state.files.get(str(entry.get("id")))
        if record is None or record["content"] is None or record["completed"]:
            raise SlackError("file_not_found")
        records.append((record, entry))
    channel_ids = args.csv("channels") or args.csv("channel_id")
    channels = [postable_channel(state, Args({"channel": c})) for c in channel_ids]
    for record, entry in records:
        record.update(title=entry.get("title") or record["name"], completed=True, channels=[c.id for c in channels])
    files = [_file_object(state, record) for record, _ in records]
    for channel in channels:
        state.add_message(
            channel.id, user=BOT_USER_ID, text=args.text("initial_comment", ""),
            thread_ts=args.text("thread_ts"), extra={"subtype": "file_share", "files": files, "upload": True},
        )
    return {"files": files}


def usergroups_users_list(state: SandboxState, args: Args) -> dict:
    group = state.usergroups.get(args.text("usergroup") or "")
    if group is None:
        raise SlackError("no_such_subteam")
    return {"users": list(group["users"])}


METHODS = {
    "usergroups.users.list": usergroups_users_list,
    "auth.test": auth_test,
    "team.info": team_info,
    "users.info": users_info,
    "users.list": users_list,
    "users.lookupByEmail": users_lookup_by_email,
    "files.getUploadURLExternal": files_get_upload_url_external,
    "files.completeUploadExternal": files_complete_upload_external,
}

"""In-memory workspace of the sandbox Slack: users, channels, messages, views, files.

Everything here is plain data guarded by one re-entrant lock. The Web API method
modules mutate it while holding `state.lock`; the HTTP server never touches the
fields directly.
"""

from __future__ import annotations

import secrets
import threading
import time
from bisect import insort
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from incidentbot.sandbox.constants import APP_ID, BOT_USER_ID, TEAM_ID, TRIGGER_LIFETIME_SECONDS
from incidentbot.sandbox.seed import seed_workspace, user_object



class SlackError(Exception):
    """A Web API failure: answered as HTTP 200 `{"ok": false, "error": code, **extra}`."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


def ts_key(ts: str) -> Decimal:
    """Sort key for Slack timestamps; Decimal keeps all six fractional digits exact."""
    try:
        return Decimal(str(ts))
    except InvalidOperation as exc:
        raise ValueError(f"not a Slack ts: {ts!r}") from exc


def _message_key(message: dict) -> Decimal:
    return ts_key(message["ts"])


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool
    creator: str
    created: int
    members: list[str] = field(default_factory=list)
    topic: dict = field(default_factory=lambda: {"value": "", "creator": "", "last_set": 0})
    purpose: dict = field(default_factory=lambda: {"value": "", "creator": "", "last_set": 0})
    is_archived: bool = False
    is_general: bool = False
    # A direct message between the bot and `im_user`: no name, not a channel.
    im_user: str | None = None
    # Every message (top-level and thread replies) ordered by ts, plus an index by ts.
    messages: list[dict] = field(default_factory=list)
    by_ts: dict[str, dict] = field(default_factory=dict)
    pins: list[str] = field(default_factory=list)
    bookmarks: list[dict] = field(default_factory=list)

    def visible_to(self, user_id: str) -> bool:
        """Private channels do not exist for anyone outside them (Slack answers channel_not_found)."""
        return not self.is_private or user_id in self.members

    def to_slack(self, viewer: str = BOT_USER_ID, *, num_members: bool = False) -> dict:
        if self.im_user is not None:
            return {
                "id": self.id, "created": self.created, "is_im": True, "is_channel": False, "is_private": True,
                "is_org_shared": False, "user": self.im_user, "is_user_deleted": False, "priority": 0,
            }
        data = {
            "id": self.id,
            "name": self.name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "created": self.created,
            "creator": self.creator,
            "is_archived": self.is_archived,
            "is_general": self.is_general,
            "unlinked": 0,
            "name_normalized": self.name,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": viewer in self.members,
            "context_team_id": TEAM_ID,
            "topic": dict(self.topic),
            "purpose": dict(self.purpose),
            "previous_names": [],
        }
        if num_members:
            data["num_members"] = len(self.members)
        return data

    def add_message(self, message: dict) -> None:
        insort(self.messages, message, key=_message_key)
        self.by_ts[message["ts"]] = message

    def remove_message(self, ts: str) -> dict:
        message = self.by_ts.pop(ts)
        self.messages.remove(message)
        return message


@dataclass
class RateLimit:
    """A per-method budget: `limit` calls per `window` seconds, then 429 for `retry_after` s."""

    limit: int
    retry_after: int
    window: float = 60.0
    window_start: float = 0.0
    count: int = 0
    blocked_until: float = 0.0

    def admit(self, now: float) -> bool:
        if now < self.blocked_until:
            return False
        if now - self.window_start >= self.window or self.blocked_until:
            # A new window opens once the previous one is over or the penalty was served.
            self.window_start, self.count, self.blocked_until = now, 0, 0.0
        if self.count >= self.limit:
            self.blocked_until = now + self.retry_after
            return False
        self.count += 1
        return True


class SandboxState:
    """The whole fake workspace. Hold `lock` while reading or changing anything."""

    def __init__(self, *, seed: bool = True, clock: Callable[[], float] = time.time,
                 trigger_lifetime: float = TRIGGER_LIFETIME_SECONDS) -> None:
        self.lock = threading.RLock()
        self.trigger_lifetime = trigger_lifetime
        self.clock = clock
        self.seeded = seed
        self.base_url = "http://127.0.0.1/"
        # Counters survive reset(): ids and ts never repeat within one server's life.
        self._seq = 0
        self._last_ts_us = 0
        self.reset()

    # ----------------------------------------------------------------- lifecycle
    def reset(self) -> None:
        """Forget everything and, when seeding is on, rebuild the seeded workspace."""
        with self.lock:
            self.users: dict[str, dict] = {}
            # User groups (usergroups.*): id -> {"id", "handle", "name", "users": [...]}
            self.usergroups: dict[str, dict] = {}
            self.channels: dict[str, Channel] = {}
            self.ephemerals: list[dict] = []
            self.views: dict[str, dict] = {}
            self.view_meta: dict[str, dict] = {}
            self.modal_stacks: dict[str, list[str]] = {}
            self.home_views: dict[str, str] = {}
            self.triggers: dict[str, dict] = {}
            self.response_urls: dict[str, dict] = {}
            self.responses: list[dict] = []
            self.files: dict[str, dict] = {}
            self.calls: list[dict] = []
            self.ratelimits: dict[str, RateLimit] = {}
            seed_workspace(self, humans=self.seeded)

    # ----------------------------------------------------------------- identifiers
    def new_id(self, prefix: str) -> str:
        """Slack-looking ids (prefix + uppercase suffix), unique for the life of the state."""
        with self.lock:
            self._seq += 1
            return f"{prefix}{self._seq:06X}{secrets.token_hex(2).upper()}"

    def next_ts(self) -> str:
        """A message ts from the clock, strictly greater than every ts handed out before."""
        with self.lock:
            now_us = int(self.clock() * 1_000_000)
            self._last_ts_us = max(now_us, self._last_ts_us + 1)
            seconds, micros = divmod(self._last_ts_us, 1_000_000)
            return f"{seconds}.{micros:06d}"

    def now(self) -> float:
        return self.clock()

    # ----------------------------------------------------------------- users
    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str | None = None,
        tz: str = "UTC",
        email: str | None = None,
        display_name: str | None = None,
        is_bot: bool = False,
        bot_id: str | None = None,
        is_admin: bool = False,
    ) -> dict:
        with self.lock:
            user = user_object(
                user_id, name, real_name=real_name, tz=tz, email=email,
                display_name=display_name, is_bot=is_bot, bot_id=bot_id,
                is_admin=is_admin, updated=int(self.clock()),
            )
            self.users[user_id] = user
            return user

    def user(self, user_id: str | None) -> dict:
        with self.lock:
            if not user_id or user_id not in self.users:
                raise SlackError("user_not_found")
            return self.users[user_id]

    def human_ids(self) -> list[str]:
        with self.lock:
            return [u["id"] for u in self.users.values() if not u["is_bot"]]

    # ----------------------------------------------------------------- channels
    def add_channel(
        self,
        name: str,
        *,
        channel_id: str | None = None,
        is_private: bool = False,
        members: tuple[str, ...] | list[str] = (),
        creator: str | None = None,
        topic: str = "",
        purpose: str = "",
        is_general: bool = False,
    ) -> Channel:
        with self.lock:
            if any(c.name == name for c in self.channels.values()):
                raise ValueError(f"channel name taken: {name}")
            now = int(self.clock())
            creator = creator or (members[0] if members else BOT_USER_ID)
            channel = Channel(
                id=channel_id or self.new_id("C"), name=name, is_private=is_private,
                creator=creator, created=now, members=list(dict.fromkeys(members)),
                is_general=is_general,
            )
            channel.topic = {"value": topic, "creator": creator if topic else "", "last_set": now if topic else 0}
            channel.purpose = {"value": purpose, "creator": creator if purpose else "", "last_set": now if purpose else 0}
            self.channels[channel.id] = channel
            return channel

    def channel_by_name(self, name: str) -> Channel | None:
        with self.lock:
            return next((c for c in self.channels.values() if c.name == name and c.im_user is None), None)

    def direct_channel(self, user_id: str) -> Channel:
        """The bot's DM with a person, opened on first use like conversations.open does."""
        with self.lock:
            self.user(user_id)
            found = next((c for c in self.channels.values() if c.im_user == user_id), None)
            if found is None:
                found = Channel(
                    id=self.new_id("D"), name="", is_private=True, creator=BOT_USER_ID,
                    created=int(self.clock()), members=[BOT_USER_ID, user_id], im_user=user_id,
                )
                self.channels[found.id] = found
            return found

    def visible_channel(self, ref: str | None, viewer: str = BOT_USER_ID) -> Channel:
        """Resolve an id to a channel the viewer can see. Slack also accepts `#name`/name,
        and a user id, which means the bot's DM with that person."""
        with self.lock:
            channel = self.channels.get(ref or "")
            if channel is None and ref in self.users and ref != BOT_USER_ID:
                channel = self.direct_channel(ref)
            if channel is None and ref:
                channel = self.channel_by_name(ref.removeprefix("#"))
            if channel is None or not channel.visible_to(viewer):
                raise SlackError("channel_not_found")
            return channel

    # ----------------------------------------------------------------- messages
    def message(self, channel: Channel, ts: str | None) -> dict:
        with self.lock:
            message = channel.by_ts.get(ts or "")
            if message is None:
                raise SlackError("message_not_found")
            return message

    def add_message(
        self,
        channel_id: str,
        *,
        user: str,
        text: str = "",
        blocks: list | None = None,
        thread_ts: str | None = None,
        extra: dict | None = None,
    ) -> dict:
        """Store a message (from a human or the bot) and keep the parent's thread summary right."""
        with self.lock:
            channel = self.channels[channel_id]
            parent = self.message(channel, thread_ts) if thread_ts else None
            message: dict[str, Any] = {"type": "message", "ts": self.next_ts(), "user": user, "text": text}
            bot_id = self.users.get(user, {}).get("profile", {}).get("bot_id")
            if bot_id:
                message["bot_id"] = bot_id
                message["app_id"] = APP_ID
            if blocks:
                message["blocks"] = blocks
            message["team"] = TEAM_ID
            message["channel"] = channel_id
            message.update(extra or {})
            if parent is not None:
                message["thread_ts"] = parent.get("thread_ts") or parent["ts"]
            channel.add_message(message)
            if parent is not None:
                self.refresh_thread(channel, message["thread_ts"])
            return message

    def refresh_thread(self, channel: Channel, thread_ts: str) -> None:
        """Recompute reply_count/reply_users/latest_reply on a thread parent, as Slack shows them."""
        parent = channel.by_ts.get(thread_ts)
        if parent is None:
            return
        replies = [m for m in channel.messages if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts]
        for key in ("thread_ts", "reply_count", "reply_users", "reply_users_count", "latest_reply"):
            parent.pop(key, None)
        if replies:
            users = list(dict.fromkeys(m["user"] for m in replies))
            parent.update(
                thread_ts=thread_ts, reply_count=len(replies), reply_users=users,
                reply_users_count=len(users), latest_reply=replies[-1]["ts"],
            )

    # ----------------------------------------------------------------- triggers & response urls
    def mint_trigger(self, user: str) -> str:
        with self.lock:
            self.user(user)
            self._seq += 1
            trigger_id = f"{int(self.clock())}.{self._seq}.{secrets.token_hex(16)}"
            self.triggers[trigger_id] = {"user": user, "minted_at": self.clock(), "used": False}
            return trigger_id

    def exchange_trigger(self, trigger_id: str | None) -> dict:
        """Use a trigger up; Slack refuses unknown, reused and stale ones with distinct errors."""
        with self.lock:
            trigger = self.triggers.get(trigger_id or "")
            if trigger is None:
                raise SlackError("invalid_trigger_id")
            if trigger["used"]:
                raise SlackError("exchanged_trigger_id")
            if self.clock() - trigger["minted_at"] > self.trigger_lifetime:
                raise SlackError("expired_trigger_id")
            trigger["used"] = True
            return trigger

    def mint_response_url(self, channel: str, user: str, message_ts: str | None = None) -> str:
        with self.lock:
            token = secrets.token_urlsafe(18)
            self.response_urls[token] = {
                "channel": channel, "user": user, "message_ts": message_ts,
                "minted_at": self.clock(), "uses": 0,
            }
            return f"{self.base_url}_sandbox/response_url/{token}"

    def permalink(self, channel_id: str, message: dict) -> str:
        link = f"{self.base_url}archives/{channel_id}/p{message['ts'].replace('.', '')}"
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != message["ts"]:
            link += f"?thread_ts={thread_ts}&cid={channel_id}"
        return link

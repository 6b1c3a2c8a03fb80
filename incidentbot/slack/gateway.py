"""The one door to the Slack Web API.

Handlers and provisioning call these methods instead of ``client.*`` so that the
awkward parts of Slack live here once: ``name_taken`` retries, joining a channel
on ``not_in_channel``, tolerating "already done" answers (which is what makes a
retried step harmless), paging, and turning errors into ``SlackError``.
"""

from __future__ import annotations

import http.client
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from incidentbot.core import naming
from incidentbot.slack.webclient import CREATING_METHODS, LOST_ANSWER, SlackError, make_client  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
MAX_NAME_ATTEMPTS = 20
PAGE_LIMIT = 999  # conversations.history pages hold at most 999 messages
GROUP_CACHE_SECONDS = 300


KEY_EVENT_TYPE = "incidentbot_post"  # message metadata that lets the bot find its own posts
KEY_SEARCH_LIMIT = 200  # how far back a keyed post is looked for (newest first)


class SlackGateway:
    def __init__(self, client: WebClient, fast_client: WebClient | None = None) -> None:
        self.client = client
        # For lookups on the ack path: short timeout, no retries.
        self.fast_client = fast_client or client
        self._channel_ids: dict[str, str] = {}
        self._groups: dict[str, tuple[float, set[str]]] = {}
        self._zones: dict[str, ZoneInfo] = {}
        self._identity: tuple[str, str] | None = None
        self._lock = threading.Lock()

    def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self.client, method.replace(".", "_"))(**kwargs).data  # type: ignore[no-any-return]
        except SlackApiError as error:
            code = error.response.get("error", "unknown_error") if error.response else "unknown_error"
            raise SlackError(method, code) from None
        except (OSError, http.client.HTTPException) as error:
            # Timeouts, resets, refused connections (URLError is an OSError): the
            # retry handlers have given up, and the call may have happened.
            log.warning("Slack %s: no answer (%s)", method, type(error).__name__)
            raise SlackError(method, LOST_ANSWER, uncertain=True) from None

    # Channels -----------------------------------------------------------------

    def create_channel(self, name: str, *, private: bool = False,
                       adopt: Callable[[dict[str, Any]], bool] | None = None) -> tuple[str, str]:
        """Create ``name``, or ``name-2``, ``name-3`` … when taken. Returns (id, name).

        ``adopt`` recognises a channel this very request created before (a lost answer,
        a crash before the id was stored): when a name is taken, or the answer to the
        create was lost, the existing channel of that name is offered to ``adopt`` and
        used if it says yes, instead of making a second one.
        """
        attempt, resent = 1, False
        while attempt <= MAX_NAME_ATTEMPTS:
            candidate = name if attempt == 1 else naming.with_suffix(name, attempt)
            try:
                data = self._call("conversations.create", name=candidate, is_private=private)
            except SlackError as error:
                if error.code != "name_taken" and not error.uncertain:
                    raise
                found = self.find_channel(candidate) if adopt else None
                if found and adopt(found):
                    return str(found["id"]), str(found["name"])
                if found or not error.uncertain:
                    # Someone else's channel has the name (a lost answer that would have
                    # said name_taken, too): the next name.
                    attempt, resent = attempt + 1, False
                    continue
                if resent:
                    raise
                resent = True  # not created after all: try the same name once more
                continue
            return data["channel"]["id"], data["channel"]["name"]
        raise SlackError("conversations.create", "name_taken")

    def invite(self, channel_id: str, user_ids: list[str]) -> None:
        """Invite people; those already there (or the bot itself) are not an error.

        Slack's invite is all-or-nothing unless ``force`` is set: one member already
        in the channel would otherwise keep everyone else out.
        """
        wanted = [u for u in dict.fromkeys(user_ids) if u]
        if not wanted:
            return
        try:
            self._call("conversations.invite", channel=channel_id, users=",".join(wanted), force=True)
        except SlackError as error:
            if error.code not in {"already_in_channel", "cant_invite_self"}:
                raise

    def join(self, channel_id: str) -> None:
        self._call("conversations.join", channel=channel_id)

    def can_see(self, channel_id: str) -> bool:
        """Whether the bot is in (or may read) the channel; private ones answer channel_not_found."""
        try:
            return bool(self._call("conversations.info", channel=channel_id)["channel"].get("is_member", True))
        except SlackError:
            return False

    def members(self, channel_id: str) -> set[str]:
        """Everyone in a channel (paged). Private incidents are visible to these people."""
        found: set[str] = set()
        cursor = None
        while True:
            data = self._call("conversations.members", channel=channel_id, limit=999,
                              **({"cursor": cursor} if cursor else {}))
            found.update(data.get("members", []))
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return found

    def usergroup_members(self, usergroup_id: str) -> set[str]:
        """Members of a Slack user group, cached for a few minutes (checked on every
        restricted action, and group changes are rare)."""
        now = time.monotonic()
        with self._lock:
            cached = self._groups.get(usergroup_id)
        if cached and now - cached[0] < GROUP_CACHE_SECONDS:
            return cached[1]
        try:
            data = self.fast_client.usergroups_users_list(usergroup=usergroup_id).data
        except SlackApiError as error:
            code = error.response.get("error", "unknown_error") if error.response else "unknown_error"
            raise SlackError("usergroups.users.list", code) from None
        members = set(data.get("users", []))
        with self._lock:
            self._groups[usergroup_id] = (now, members)
        return members

    def upload(self, channel_id: str, filename: str, content: str | bytes, *, title: str,
               comment: str | None = None, thread_ts: str | None = None) -> None:
        """Share a file (text, or bytes such as a PNG) in a channel, in a thread when ``thread_ts``
        is given (files_upload_v2: get an upload URL, upload, complete)."""
        try:
            self.client.files_upload_v2(channel=channel_id, filename=filename, content=content, title=title,
                                        initial_comment=comment, thread_ts=thread_ts)
        except SlackApiError as error:
            code = error.response.get("error", "unknown_error") if error.response else "unknown_error"
            raise SlackError("files.upload_v2", code) from None
        except (OSError, http.client.HTTPException):
            raise SlackError("files.upload_v2", LOST_ANSWER, uncertain=True) from None

    def bot_identity(self) -> tuple[str, str]:
        """(user id, bot id) of the bot itself, asked once (auth.test)."""
        with self._lock:
            if self._identity:
                return self._identity
        data = self._call("auth.test")
        with self._lock:
            self._identity = (str(data.get("user_id", "")), str(data.get("bot_id", "")))
            return self._identity

    def user_profile(self, user_id: str) -> tuple[str, str | None]:
        """(display name, email or None) for calendar invites; the id when Slack can't say."""
        try:
            found = self._call("users.info", user=user_id)["user"]
        except SlackError:
            return user_id, None
        profile = found.get("profile") or {}
        name = profile.get("display_name") or found.get("real_name") or found.get("name") or user_id
        return name, profile.get("email")

    def user_timezone(self, user_id: str) -> ZoneInfo:
        """The timezone set in the person's Slack profile (UTC when unknown), cached."""
        with self._lock:
            cached = self._zones.get(user_id)
        if cached:
            return cached
        try:
            name = self._call("users.info", user=user_id)["user"].get("tz") or "UTC"
            zone = ZoneInfo(name)
        except (SlackError, ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")
        with self._lock:
            self._zones[user_id] = zone
        return zone

    def resolve_channel(self, name_or_id: str) -> str:
        """A channel id for a configured channel name (cached; IDs pass through)."""
        name = name_or_id.lstrip("#")
        if _CHANNEL_ID.match(name):
            return name
        with self._lock:
            if name in self._channel_ids:
                return self._channel_ids[name]
        found = self.find_channel(name)
        if found is None:
            raise SlackError("conversations.list", "channel_not_found")
        with self._lock:
            self._channel_ids[name] = found["id"]
        return str(found["id"])

    def find_channel(self, name: str) -> dict[str, Any] | None:
        """The unarchived channel called ``name`` that the bot can see (paged list), or None."""
        cursor = None
        while True:
            data = self._call(
                "conversations.list",
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=999,
                **({"cursor": cursor} if cursor else {}),
            )
            for found in data.get("channels", []):
                if found["name"] == name:
                    return dict(found)
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None

    # Messages -----------------------------------------------------------------

    def post(self, channel_id: str, text: str, blocks: list[dict[str, Any]] | None = None,
             *, thread_ts: str | None = None, key: str | None = None) -> str:
        """Post a message and return its ts; joins a public channel the bot is not in.

        ``key`` makes the post happen once: it travels in the message's metadata, and
        when the answer is lost the bot looks for it before posting again.
        """
        kwargs: dict[str, Any] = {"channel": channel_id, "text": text, "blocks": blocks,
                                  "unfurl_links": False, "unfurl_media": False}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        if key:
            kwargs["metadata"] = {"event_type": KEY_EVENT_TYPE, "event_payload": {"key": key}}
        try:
            return self._post_once(kwargs)
        except SlackError as error:
            if not (key and error.uncertain):
                raise
        found = self.find_keyed(channel_id, key, thread_ts=thread_ts)
        return found or self._post_once(kwargs)

    def _post_once(self, kwargs: dict[str, Any]) -> str:
        try:
            return str(self._call("chat.postMessage", **kwargs)["ts"])
        except SlackError as error:
            if error.code != "not_in_channel":
                raise
        self.join(kwargs["channel"])
        return str(self._call("chat.postMessage", **kwargs)["ts"])

    def find_keyed(self, channel_id: str, key: str, *, thread_ts: str | None = None,
                   oldest: str | None = None) -> str | None:
        """The ts of the bot's post carrying ``key`` (see ``post``), among the channel's
        (or the thread's) latest messages since ``oldest``; None when there is none."""
        if thread_ts:  # a whole thread, oldest first
            found = self._paged("conversations.replies", channel=channel_id, ts=thread_ts, include_all_metadata=True)
        else:
            found = self._paged("conversations.history", channel=channel_id, include_all_metadata=True,
                                **({"oldest": oldest} if oldest else {}))
        try:
            for seen, message in enumerate(found):
                metadata = message.get("metadata") or {}
                if metadata.get("event_type") == KEY_EVENT_TYPE and (metadata.get("event_payload") or {}).get("key") == key:
                    return str(message["ts"])
                if not thread_ts and seen >= KEY_SEARCH_LIMIT:
                    return None
        except SlackError as error:
            if error.code not in {"not_in_channel", "channel_not_found", "thread_not_found"}:
                raise
        return None  # a channel the bot is not in holds no post of its

    def update(self, channel_id: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        self._call("chat.update", channel=channel_id, ts=ts, text=text, blocks=blocks)

    def pin(self, channel_id: str, ts: str) -> None:
        try:
            self._call("pins.add", channel=channel_id, timestamp=ts)
        except SlackError as error:
            if error.code != "already_pinned":
                raise

    def permalink(self, channel_id: str, ts: str) -> str | None:
        """A link to a message, or None when Slack can't give one (the link is a nicety)."""
        try:
            return str(self._call("chat.getPermalink", channel=channel_id, message_ts=ts)["permalink"])
        except SlackError:
            return None

    def history(self, channel_id: str, oldest: str | None = None) -> Iterator[dict[str, Any]]:
        """Top-level messages of a channel, newest first, newer than ``oldest`` (a ts).

        Pages of 999 with cursors, fetched as the caller iterates, so a caller that
        stores each page keeps it when a later page fails (a long rate limit raises
        ``SlackError("...", "ratelimited")``; short ones are retried by the client).
        Thread replies are not in history: see ``replies``.
        """
        bounds = {"oldest": oldest} if oldest else {}
        yield from self._paged("conversations.history", channel=channel_id, **bounds)

    def replies(self, channel_id: str, ts: str) -> Iterator[dict[str, Any]]:
        """A thread, oldest first: its parent, then every reply (``ts`` may be either)."""
        yield from self._paged("conversations.replies", channel=channel_id, ts=ts)

    def message(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        """One message by its ts, top-level or a thread reply; None when it is gone."""
        try:
            data = self._call("conversations.history", channel=channel_id, latest=ts, oldest=ts,
                              inclusive=True, limit=1)
            found = [m for m in data.get("messages", []) if m.get("ts") == ts]
            if found:
                return found[0]
            # Not in history: a thread reply (replies accepts the ts of any message in a thread).
            return next((m for m in self.replies(channel_id, ts) if m.get("ts") == ts), None)
        except SlackError as error:
            if error.code in {"thread_not_found", "message_not_found"}:
                return None
            raise

    def _paged(self, method: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            data = self._call(method, limit=PAGE_LIMIT, **kwargs, **({"cursor": cursor} if cursor else {}))
            yield from data.get("messages", [])
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    def post_ephemeral(self, channel_id: str, user_id: str, text: str,
                       blocks: list[dict[str, Any]] | None = None) -> None:
        self._call("chat.postEphemeral", channel=channel_id, user=user_id, text=text, blocks=blocks)

    # Views ------------------------------------------------------------------------

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> str:
        return str(self._call("views.open", trigger_id=trigger_id, view=view)["view"]["id"])

    def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        self._call("views.publish", user_id=user_id, view=view)

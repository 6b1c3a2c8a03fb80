"""Read a Slack workspace export: users, channels and their messages.

A standard export (Slack admin → "Export data") is a folder, or the ``.zip`` of one::

    users.json          people and bots
    channels.json       public channels   (groups.json: private, mpims.json / dms.json: DMs)
    <channel name>/     one folder per channel (a DM's folder is named after its id)
        2024-03-13.json one file per UTC day: a JSON list of messages, oldest first

Thread replies are in the day file of their own ``ts``, next to the channel's other
messages; pins are in the channel object (``pins``) and/or on the message (``pinned_to``).

This module only reads files: no database, no Slack API, no incidentbot state. The
importer (``incidentbot.importing``) and the offline postmortem drafter both build on it,
and it works on any export, not only ones made by channels the bot knew about.
"""

from __future__ import annotations

import html
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from incidentbot.slack_export_files import CHANNEL_FILES, ExportFiles, SlackExportError

__all__ = [
    "ExportMessage", "ExportUser", "SlackExport", "SlackExportError", "UnknownChannel", "ts_to_datetime",
    "write_export",
]

_DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
_TS = re.compile(r"^(\d{1,12})(?:\.(\d{1,6}))?$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# <@U123>, <@U123|name>, <#C123|name>, <!here>, <!subteam^S1|@team>, <https://x|label>, <mailto:a@b|a@b>
_ANGLE = re.compile(r"<([^<>\n]+)>")


class UnknownChannel(SlackExportError, KeyError):
    """No channel with that name (or id) in the export; the message lists the ones there are."""

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0]) if self.args else "unknown channel"


def ts_to_datetime(ts: str) -> datetime:
    """A Slack ``ts`` ("1613720137.301901") as an exact, aware UTC datetime (no float rounding)."""
    match = _TS.match(str(ts).strip())
    if match is None:
        raise ValueError(f"not a Slack ts: {ts!r}")
    seconds, fraction = match.groups()
    return _EPOCH + timedelta(seconds=int(seconds), microseconds=int((fraction or "0").ljust(6, "0")))


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, fraction = str(ts).partition(".")
    return int(seconds or 0), int((fraction or "0").ljust(6, "0")[:6])


@dataclass(frozen=True)
class ExportUser:
    id: str
    name: str = ""  # the handle ("dorthe.skov")
    real_name: str = ""
    display_name: str = ""
    is_bot: bool = False
    bot_id: str | None = None  # for bot users: the B... id their messages carry
    deleted: bool = False
    tz: str | None = None

    def display(self) -> str:
        """The best human name: display name, else real name, else handle, else the id."""
        return self.display_name or self.real_name or self.name or self.id

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ExportUser:
        profile = raw.get("profile") or {}
        return cls(
            id=str(raw.get("id") or ""),
            name=str(raw.get("name") or ""),
            real_name=str(raw.get("real_name") or profile.get("real_name") or ""),
            display_name=str(profile.get("display_name") or ""),
            is_bot=bool(raw.get("is_bot") or raw.get("is_app_user") and profile.get("bot_id")),
            bot_id=profile.get("bot_id") or None,
            deleted=bool(raw.get("deleted")),
            tz=raw.get("tz") or None,
        )


@dataclass(frozen=True)
class ExportMessage:
    """One message as exported, with the fields most readers need pulled out.

    ``raw`` is the message exactly as in the day file (Slack's own field names), which
    is what ``incidentbot.core.messages.store`` takes.
    """

    ts: str
    posted_at: datetime  # UTC, from ts
    user_id: str | None
    bot_id: str | None
    username: str | None  # a bot message's display name ("Alertmanager")
    subtype: str | None  # None for a plain message; "bot_message", "channel_join", ...
    text: str  # as Slack stores it: mentions as <@U123>, &lt; &gt; &amp; escaped
    thread_ts: str | None  # on a parent (equal to ts) and on its replies
    reply_count: int
    reactions: tuple[tuple[str, tuple[str, ...]], ...]  # (emoji name, user ids)
    pinned: bool
    files: tuple[str, ...]  # file names (exports hold no file contents)
    raw: dict[str, Any] = field(compare=False, repr=False, hash=False)

    @classmethod
    def from_json(cls, raw: dict[str, Any], *, pinned_ts: frozenset[str] = frozenset(),
                  channel_id: str | None = None) -> ExportMessage:
        ts = str(raw["ts"])
        pinned_to = raw.get("pinned_to") or ()
        bot_profile = raw.get("bot_profile") or {}
        return cls(
            ts=ts,
            posted_at=ts_to_datetime(ts),
            user_id=raw.get("user") or None,
            bot_id=raw.get("bot_id") or bot_profile.get("id") or None,
            username=raw.get("username") or bot_profile.get("name") or None,
            subtype=raw.get("subtype") or None,
            text=str(raw.get("text") or ""),
            thread_ts=raw.get("thread_ts") or None,
            reply_count=int(raw.get("reply_count") or 0),
            reactions=tuple(
                (str(r.get("name") or ""), tuple(str(u) for u in r.get("users") or ()))
                for r in raw.get("reactions") or () if isinstance(r, dict)
            ),
            pinned=ts in pinned_ts or bool(pinned_to) and (channel_id is None or channel_id in pinned_to),
            files=tuple(str(f.get("name") or f.get("title") or f.get("id") or "file")
                        for f in raw.get("files") or () if isinstance(f, dict)),
            raw=raw,
        )

    @property
    def is_bot(self) -> bool:
        return self.subtype == "bot_message" or bool(self.bot_id)

    @property
    def is_reply(self) -> bool:
        """A reply inside a thread (not the thread's parent)."""
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def edited_at(self) -> datetime | None:
        edited = self.raw.get("edited") or {}
        return ts_to_datetime(edited["ts"]) if edited.get("ts") else None

    def reacted_with(self, emoji: str) -> tuple[str, ...]:
        """User ids that reacted with ``emoji`` (name without colons; skin tones ignored)."""
        wanted = emoji.strip(":")
        users: list[str] = []
        for name, who in self.reactions:
            if name.split("::", 1)[0] == wanted:
                users.extend(u for u in who if u not in users)
        return tuple(users)

    @property
    def attachment_text(self) -> str:
        """The text of legacy attachments (alert bots put their details there), one per line."""
        parts: list[str] = []
        for attachment in self.raw.get("attachments") or ():
            if not isinstance(attachment, dict):
                continue
            for key in ("pretext", "title", "text"):
                value = attachment.get(key)
                if value and value not in parts:
                    parts.append(str(value))
            if not any(attachment.get(key) for key in ("pretext", "title", "text")) and attachment.get("fallback"):
                parts.append(str(attachment["fallback"]))
        return "\n".join(parts)


class SlackExport:
    """A Slack export opened for reading. Build it with ``SlackExport.open(path)``."""

    def __init__(self, source: ExportFiles, users: dict[str, ExportUser], channels: list[dict[str, Any]]) -> None:
        self._source = source
        self.path = source.path
        self.users = users
        self.channels = channels
        self._bots = {u.bot_id: u for u in users.values() if u.bot_id}
        self._by_id = {str(c.get("id")): c for c in channels if c.get("id")}
        self._cache: dict[str, list[ExportMessage]] = {}

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path) -> SlackExport:
        """Open an export folder (or its .zip). Errors name the file or folder that is missing."""
        path = Path(path).expanduser()
        if not path.exists():
            raise SlackExportError(f"{path}: no such folder (expected a Slack export: users.json, "
                                   "channels.json and one folder per channel)")
        if path.is_file() and not zipfile.is_zipfile(path):
            raise SlackExportError(f"{path}: not a folder or a .zip file; give the unpacked export folder")
        source = ExportFiles(path)
        listed = [name for name in CHANNEL_FILES if source.exists(name)]
        if not listed:
            raise SlackExportError(f"{source.describe('channels.json')}: missing; a Slack export lists its "
                                   "channels in channels.json (private ones in groups.json)")
        if not source.exists("users.json"):
            raise SlackExportError(f"{source.describe('users.json')}: missing; a Slack export lists its "
                                   "people and bots in users.json")
        users_raw = source.read_json("users.json")
        if not isinstance(users_raw, list):
            raise SlackExportError(f"{source.describe('users.json')}: expected a JSON list of users")
        users = {}
        for raw in users_raw:
            if isinstance(raw, dict) and raw.get("id"):
                user = ExportUser.from_json(raw)
                users[user.id] = user
        channels: list[dict[str, Any]] = []
        for name in listed:
            listed_raw = source.read_json(name)
            if not isinstance(listed_raw, list):
                raise SlackExportError(f"{source.describe(name)}: expected a JSON list of channels")
            for channel in listed_raw:
                if isinstance(channel, dict) and (channel.get("name") or channel.get("id")):
                    channels.append({**channel, "_listed_in": name})
        return cls(source, users, channels)

    # --- channels --------------------------------------------------------------------------

    @staticmethod
    def _folder_name(channel: dict[str, Any]) -> str:
        # Slack names a channel's folder after the channel; a DM (no name) after its id.
        return str(channel.get("name") or channel.get("id"))

    def channel(self, name: str) -> dict[str, Any]:
        """The channel object named ``name`` (``#`` optional; a channel id works too)."""
        wanted = (name or "").strip().lstrip("#")
        for channel in self.channels:
            if channel.get("name") == wanted:
                return channel
        if wanted in self._by_id:
            return self._by_id[wanted]
        available = sorted(self._folder_name(c) for c in self.channels)
        shown = ", ".join(available[:50]) + (f", … ({len(available) - 50} more)" if len(available) > 50 else "")
        raise UnknownChannel(f"There is no channel {wanted!r} in the export at {self.path}. "
                             f"Channels: {shown or '(none)'}")

    def channel_names(self) -> list[str]:
        return [self._folder_name(c) for c in self.channels]

    def messages(self, channel_name: str) -> list[ExportMessage]:
        """Every message of the channel, all days, oldest first.

        Thread replies are included in their place in time; joins, topic changes and
        other system messages are kept with their ``subtype``. A message that appears in
        two day files (some exports repeat thread broadcasts) is returned once.
        """
        channel = self.channel(channel_name)
        folder = self._folder_name(channel)
        if folder in self._cache:
            return list(self._cache[folder])
        if not self._source.is_dir(folder):
            raise SlackExportError(f"{self._source.describe(folder + '/')}: missing; the export has no "
                                   f"messages for #{folder} (Slack writes a folder per channel with messages)")
        pinned = frozenset(str(p.get("id")) for p in channel.get("pins") or () if isinstance(p, dict) and p.get("id"))
        seen: dict[str, ExportMessage] = {}
        for name in self._source.files_in(folder):
            if not _DAY_FILE.match(name):
                continue
            relative = f"{folder}/{name}"
            day = self._source.read_json(relative)
            if not isinstance(day, list):
                raise SlackExportError(f"{self._source.describe(relative)}: expected a JSON list of messages")
            for raw in day:
                if not isinstance(raw, dict) or not raw.get("ts"):
                    continue
                try:
                    message = ExportMessage.from_json(raw, pinned_ts=pinned, channel_id=channel.get("id"))
                except ValueError as exc:
                    raise SlackExportError(f"{self._source.describe(relative)}: {exc}") from exc
                seen.setdefault(message.ts, message)
        ordered = sorted(seen.values(), key=lambda m: _ts_key(m.ts))
        self._cache[folder] = ordered
        return list(ordered)

    # --- people ----------------------------------------------------------------------------

    def display_name(self, user_id: str | None) -> str:
        """A person's (or bot user's) best name; the id itself when the export does not know them."""
        if not user_id:
            return "unknown"
        user = self.users.get(user_id)
        return user.display() if user else user_id

    def author(self, message: ExportMessage) -> str:
        """Who posted ``message``, as a name: the person, else the bot's username."""
        if message.user_id and message.user_id in self.users:
            return self.users[message.user_id].display()
        if message.username:
            return message.username
        if message.bot_id and message.bot_id in self._bots:
            return self._bots[message.bot_id].display()
        return message.user_id or message.bot_id or "unknown"

    def is_bot(self, message: ExportMessage) -> bool:
        """Posted by a bot or an integration (``bot_message``, a ``bot_id``, a bot user, Slackbot)."""
        if message.is_bot or message.user_id == "USLACKBOT":
            return True
        user = self.users.get(message.user_id or "")
        return bool(user and user.is_bot)

    # --- text ------------------------------------------------------------------------------

    def resolve_mentions(self, text: str) -> str:
        """Slack's stored text as people read it.

        ``<@U123>`` → ``@Name``, ``<#C1|name>`` → ``#name``, ``<!here>`` → ``@here``,
        ``<url|label>`` → ``label (url)``, ``<url>`` → ``url``, then ``&lt; &gt; &amp;``
        unescaped (after the links, whose brackets are the only literal ``<`` ``>``).
        """
        return html.unescape(_ANGLE.sub(lambda m: self._token(m.group(1)), text or "")) if text else ""

    def _token(self, inner: str) -> str:
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            user_id = target[1:]
            if user_id in self.users:
                return "@" + self.users[user_id].display()
            return "@" + (label or user_id)
        if target.startswith("#"):
            channel = self._by_id.get(target[1:])
            return "#" + (label or (self._folder_name(channel) if channel else target[1:]))
        if target.startswith("!"):
            command = target[1:]
            if command.startswith("subteam^"):
                return label or "@" + command.split("^", 1)[1]
            if command.startswith("date^"):
                return label or command
            return label or "@" + command  # !here, !channel, !everyone
        url = target
        if url.startswith("mailto:"):
            address = url[len("mailto:"):]
            return label if label and label != address else address
        if label and label != url and label != re.sub(r"^https?://", "", url):
            return f"{label} ({url})"
        return url

    def plain_text(self, message: ExportMessage) -> str:
        """The message's text with mentions resolved; a bot message's attachments appended."""
        text = self.resolve_mentions(message.text)
        extra = message.attachment_text
        if extra and extra not in text:
            text = f"{text}\n{self.resolve_mentions(extra)}" if text else self.resolve_mentions(extra)
        return text

    def __repr__(self) -> str:
        return f"SlackExport({str(self.path)!r}, {len(self.channels)} channels, {len(self.users)} users)"


def write_export(
    path: str | Path,
    *,
    users: list[dict[str, Any]],
    channels: list[dict[str, Any]],
    messages: dict[str, list[dict[str, Any]]],
    private: bool = False,
) -> Path:
    """Write a folder shaped like a Slack export (tests, demos, hand-made samples).

    ``messages`` maps a channel name to its messages (Slack's own fields, at least
    ``ts``); they are split into UTC day files as Slack does. ``private`` writes the
    channels to ``groups.json`` instead of ``channels.json``.
    """
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    (root / "users.json").write_text(json.dumps(users, indent=1), encoding="utf-8")
    (root / ("groups.json" if private else "channels.json")).write_text(json.dumps(channels, indent=1),
                                                                         encoding="utf-8")
    for name, listed in messages.items():
        folder = root / name
        folder.mkdir(exist_ok=True)
        days: dict[str, list[dict[str, Any]]] = {}
        for message in sorted(listed, key=lambda m: _ts_key(m["ts"])):
            days.setdefault(ts_to_datetime(message["ts"]).date().isoformat(), []).append(message)
        for day, day_messages in days.items():
            (folder / f"{day}.json").write_text(json.dumps(day_messages, indent=1, ensure_ascii=False),
                                                encoding="utf-8")
    return root

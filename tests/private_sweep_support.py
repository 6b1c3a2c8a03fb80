"""Who saw what, rebuilt from the sandbox Slack: for sweeping private incident data.

Every piece of text the bot put in front of people is collected with its audience:

- every Web API call it made (``chat.postMessage``, ``chat.update``, ``views.publish``, …),
  so earlier versions of an edited message or a Home count, not only what is left at the end;
- ``response_url`` replies, ephemerals, modals, files (name, title and content), and every
  message left in the workspace's channels;
- what a test adds itself: the answers to slash commands, the CLI's outputs (``cli_outputs``
  runs ``incidentbot …`` in-process; its output counts as seen by everyone, like a shared file).

The audience of a public channel is everyone, of a private channel its members (at the
end of the test), of a DM, an ephemeral, a Home or a modal its one reader. A private
incident's markers may only be seen by its channel's members (``leaks``).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from incidentbot.cli import main
from incidentbot.sandbox.constants import BOT_USER_ID

# Web API methods that show something to people (the rest only read, or are covered by
# ``_views`` and ``_files``).
SHOWING = ("chat.postMessage", "chat.update", "chat.postEphemeral", "chat.scheduleMessage", "chat.meMessage",
           "views.publish", "files.completeUploadExternal", "conversations.setTopic", "conversations.setPurpose",
           "conversations.rename", "bookmarks.add", "bookmarks.edit", "pins.add", "reactions.add")


@dataclass(frozen=True)
class Seen:
    where: str  # e.g. "chat.postMessage C0INCIDENTS", "views.publish U0CAROL", "incidentbot digest --format md"
    audience: frozenset[str]
    text: str


@dataclass(frozen=True)
class Secret:
    """What gives a private incident away: its canary token, reference, channel id and name."""

    label: str
    members: frozenset[str]
    token: str
    number: int
    channel_id: str
    channel_name: str

    def found_in(self, text: str) -> list[str]:
        # The token in any case: a slug or a file name lower-cases it.
        found = [self.token] if self.token.lower() in text.lower() else []
        found += [marker for marker in (self.channel_id, self.channel_name) if marker in text]
        # INC-2 but not INC-21; a private channel's own name (inc-<date>-2) is lower case.
        if re.search(rf"\bINC-{self.number}(?!\d)", text):
            found.append(f"INC-{self.number}")
        return found


def dump(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class Workspace:
    """The sandbox's channels and people, to tell each thing's audience."""

    def __init__(self, client) -> None:
        self.humans = frozenset(u["id"] for u in client.users() if not u.get("is_bot") and u["id"] != BOT_USER_ID)
        self.channels = {c["id"]: c for c in client.channels()}
        self.by_name = {c.get("name"): c for c in self.channels.values() if c.get("name")}

    def audience(self, channel: str | None) -> frozenset[str]:
        """Who can read ``channel`` (an id, a name, or a user id meaning the bot's DM with them)."""
        if channel in self.humans:
            return frozenset({channel})
        found = self.channels.get(channel or "") or self.by_name.get((channel or "").lstrip("#"))
        if found is None:
            return self.humans  # unknown: assume the worst
        if found.get("is_im"):
            return frozenset({found["user"]})
        if found.get("is_private"):
            return frozenset(found.get("members") or ()) & self.humans
        return self.humans


def collect(client) -> list[Seen]:
    """Everything the sandbox shows the bot sent or left for people to see."""
    space = Workspace(client)
    seen = [*_calls(client, space), *_responses(client, space), *_views(client), *_files(client, space)]
    for channel in space.channels.values():
        # A channel's name, topic and purpose are seen by whoever may see the channel.
        about = {k: v for k, v in channel.items() if k not in ("members", "pins")}
        seen.append(Seen(f"channel {channel['id']}", space.audience(channel["id"]), dump(about)))
        for message in client.messages(channel["id"], include_ephemeral=True):
            if message.get("ephemeral"):
                seen.append(Seen(f"ephemeral to {message.get('user')} in {channel['id']}",
                                 frozenset({message.get("user")}), dump(message)))
            else:
                where = f"message in {channel['id']} ({channel.get('name') or 'DM'})"
                seen.append(Seen(where, space.audience(channel["id"]), dump(message)))
    return seen


def _calls(client, space: Workspace) -> list[Seen]:
    seen = []
    for call in client.calls():
        args = call.get("args") or {}
        if call["method"] not in SHOWING:
            continue
        if call["method"] == "chat.postEphemeral":
            audience = frozenset({args.get("user")})
        elif "user_id" in args:  # views.publish
            audience = frozenset({args["user_id"]})
        else:
            audience = space.audience(args.get("channel") or args.get("channel_id"))
        target = args.get("user_id") or args.get("channel") or args.get("channel_id")
        seen.append(Seen(f"{call['method']} {target}", audience, dump(args)))
    return seen


def _responses(client, space: Workspace) -> list[Seen]:
    seen = []
    for reply in client.responses():
        # In the channel, or replacing a message that may be there (the worst case is assumed);
        # otherwise only its reader saw it.
        replacing = reply.get("replace_original") and reply.get("original_ts")
        public = reply.get("response_type") == "in_channel" or replacing
        audience = space.audience(reply["channel"]) if public else frozenset({reply["user"]})
        seen.append(Seen(f"response_url reply to {reply['user']} in {reply['channel']}", audience, dump(reply)))
    return seen


def _views(client) -> list[Seen]:
    return [Seen(f"{view['type']} view of {view['user']}", frozenset({view["user"]}), dump(view))
            for view in client.views()]


def _files(client, space: Workspace) -> list[Seen]:
    seen = []
    for record in client.files():
        audience = frozenset().union(*(space.audience(c) for c in record.get("channels") or []))
        content = record.get("content")
        if content is None:  # binary (the digest chart): look at its bytes too
            content = base64.b64decode(record.get("content_b64") or "").decode("latin-1")
        meta = {k: v for k, v in record.items() if k not in ("content", "content_b64")}
        content = content.replace("\r\n ", "")  # an .ics folds long lines: unfold them (RFC 5545)
        seen.append(Seen(f"file {record.get('name')}", audience, dump(meta) + "\n" + content))
    return seen


def cli_outputs(bot, monkeypatch, capsys, runs):
    """``incidentbot …`` run in-process on the bot's database: {command line: stdout}."""
    monkeypatch.setenv("DATABASE_URL", bot.settings.database_url)
    for name in ("INCIDENTBOT_CONFIG", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    outputs = {}
    for argv in runs:
        capsys.readouterr()
        code = main(argv)
        captured = capsys.readouterr()
        assert code == 0, (argv, captured.err)
        outputs["incidentbot " + " ".join(argv)] = captured.out
    return outputs


def leaks(seen: list[Seen], secrets: list[Secret]) -> list[tuple[str, str, str]]:
    """(where, whose, marker) for every marker of a private incident someone outside it saw."""
    return [(s.where, secret.label, marker) for s in seen for secret in secrets
            if not s.audience <= secret.members for marker in secret.found_in(s.text)]


def shown_to(seen: list[Seen], user: str, where: str = "") -> str:
    """Everything ``user`` could see (from places whose name contains ``where``), as one text."""
    return "\n".join(s.text for s in seen if user in s.audience and where in s.where)

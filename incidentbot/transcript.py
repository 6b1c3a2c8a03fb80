"""Showing Slack messages as plain text, the way a person would read them.

Used by ``incidentbot demo`` to print what users would see in Slack. It resolves
``<@U…>`` and ``<#C…>`` to names, shows ``<!date…|fallback>`` by its fallback and
undoes mrkdwn escaping, so escaped user text reads as typed (and visibly does
not ping anyone).
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

_ENTITY = re.compile(r"<([@#!])([^>|]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<(https?://[^>|]+)(?:\|([^>]*))?>")


class Renderer:
    def __init__(self, users: list[dict[str, Any]], channels: list[dict[str, Any]]) -> None:
        self.users = {u["id"]: u.get("name") or u["id"] for u in users}
        self.channels = {c["id"]: c.get("name") or c["id"] for c in channels}

    def mrkdwn(self, text: str) -> str:
        def entity(match: re.Match) -> str:
            sigil, target, label = match.groups()
            if sigil == "@":
                return "@" + self.users.get(target, target)
            if sigil == "#":
                return "#" + self.channels.get(target, label or target)
            return label if label is not None else "@" + target.split("^")[0]

        text = _ENTITY.sub(entity, text)
        text = _LINK.sub(lambda m: f"[{m.group(2) or m.group(1)}]", text)
        return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

    def user(self, user_id: str | None) -> str:
        return self.users.get(user_id or "", user_id or "?")

    def blocks(self, blocks: list[dict[str, Any]]) -> list[str]:
        lines: list[str] = []
        for block in blocks:
            lines.extend(self._block(block))
        return lines

    def _block(self, block: dict[str, Any]) -> list[str]:
        kind = block.get("type")
        if kind == "header":
            title = block["text"]["text"]
            return [f"┃ {title}", "┃ " + "━" * min(len(title), 60)]
        if kind == "section":
            out = []
            if block.get("text"):
                out += self._wrapped(block["text"].get("text", ""))
            fields = [self.mrkdwn(f.get("text", "")).replace("\n", ": ", 1) for f in block.get("fields", [])]
            out += [f"┃ {'  ·  '.join(fields[i:i + 2])}" for i in range(0, len(fields), 2)]
            return out
        if kind == "context":
            return [f"┃ ({' '.join(self.mrkdwn(e.get('text', '')) for e in block.get('elements', []))})"]
        if kind == "actions":
            return ["┃ " + "  ".join(f"[ {e.get('text', {}).get('text', '?')} ]" for e in block.get("elements", []))]
        if kind == "input":
            return [f"┃ {block['label']['text']}{' (optional)' if block.get('optional') else ''}: {self._element(block['element'])}"]
        if kind == "divider":
            return ["┃ ─────"]
        return [f"┃ <{kind} block>"]

    def _wrapped(self, text: str) -> list[str]:
        lines: list[str] = []
        for paragraph in self.mrkdwn(text).split("\n"):
            lines += [f"┃ {line}" for line in (textwrap.wrap(paragraph, 88) or [""])]
        return lines

    @staticmethod
    def _element(element: dict[str, Any]) -> str:
        kind = element.get("type", "")
        if kind.endswith("select"):
            options = [o["text"]["text"] for o in element.get("options", [])]
            shown = ", ".join(options[:4]) + (f", … ({len(options)} choices)" if len(options) > 4 else "")
            return f"<choose: {shown}>"
        return "<text>" if kind == "plain_text_input" else f"<{kind}>"

    def message(self, message: dict[str, Any]) -> list[str]:
        """A message with its author line, blocks (or text), and pinned mark."""
        author = self.user(message.get("user"))
        pinned = "  📌 pinned" if message.get("pinned_to") else ""
        head = f"{author}{' (only visible to you)' if message.get('ephemeral') else ''}{pinned}"
        body = self.blocks(message["blocks"]) if message.get("blocks") else self._wrapped(message.get("text", ""))
        return [head, *body]

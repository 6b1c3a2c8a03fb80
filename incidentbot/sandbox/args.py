"""Typed access to Web API arguments, however they arrived (query, form or JSON)."""

from __future__ import annotations

import json
from typing import Any

from incidentbot.sandbox.state import SlackError

# In form bodies Slack clients send these structured arguments as JSON strings.
JSON_ARGUMENTS = frozenset({"blocks", "attachments", "view", "files", "metadata", "outputs"})


def decode_json_arguments(raw: dict[str, Any]) -> dict[str, Any]:
    decoded = dict(raw)
    for name in JSON_ARGUMENTS & decoded.keys():
        value = decoded[name]
        if isinstance(value, str) and value.strip():
            try:
                decoded[name] = json.loads(value)
            except json.JSONDecodeError as exc:
                raise SlackError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {name}: invalid JSON"]}) from exc
        elif isinstance(value, str):
            decoded[name] = None
    return decoded


class Args:
    """One call's arguments. Missing and empty values read as None, like Slack treats them."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        return value if isinstance(value, str) else str(value)

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true", "yes")

    def number(self, name: str, default: int) -> int:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise SlackError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {name} must be a number"]}) from exc

    def structured(self, name: str) -> Any:
        return self.data.get(name) or None

    def csv(self, name: str) -> list[str]:
        value = self.data.get(name)
        if value is None:
            return []
        if isinstance(value, (list, tuple)):
            return [str(v).strip() for v in value if str(v).strip()]
        return [part.strip() for part in str(value).split(",") if part.strip()]

"""The files of a Slack export: a folder, or a ``.zip`` of one (see ``slack_export``)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

# Root files that list conversations, in the order a name is looked up.
CHANNEL_FILES = ("channels.json", "groups.json", "mpims.json", "dms.json")


class SlackExportError(Exception):
    """The export is missing a file or folder, or a file is not what Slack writes."""


class ExportFiles:
    """Files of an export folder or of a .zip of one (which may wrap everything in a top folder)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._prefix = ""
        if path.is_file() and zipfile.is_zipfile(path):
            self._zip = zipfile.ZipFile(path)
            names = self._zip.namelist()
            if not any(n in CHANNEL_FILES or n == "users.json" for n in names):
                tops = {n.split("/", 1)[0] for n in names if "/" in n}
                for top in sorted(tops):
                    if f"{top}/users.json" in names or f"{top}/channels.json" in names:
                        self._prefix = f"{top}/"
                        break

    def exists(self, relative: str) -> bool:
        if self._zip is not None:
            return (self._prefix + relative) in self._zip.namelist()
        return (self.path / relative).is_file()

    def is_dir(self, relative: str) -> bool:
        if self._zip is not None:
            prefix = f"{self._prefix}{relative.rstrip('/')}/"
            return any(n.startswith(prefix) for n in self._zip.namelist())
        return (self.path / relative).is_dir()

    def files_in(self, folder: str) -> list[str]:
        if self._zip is not None:
            prefix = f"{self._prefix}{folder.rstrip('/')}/"
            return sorted(n[len(prefix):] for n in self._zip.namelist()
                          if n.startswith(prefix) and "/" not in n[len(prefix):] and n != prefix)
        return sorted(p.name for p in (self.path / folder).iterdir() if p.is_file())

    def read_json(self, relative: str) -> Any:
        where = self.describe(relative)
        try:
            if self._zip is not None:
                data = self._zip.read(self._prefix + relative)
            else:
                data = (self.path / relative).read_bytes()
        except (OSError, KeyError) as exc:
            raise SlackExportError(f"{where}: cannot read it ({exc})") from exc
        try:
            return json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SlackExportError(f"{where}: not valid JSON ({exc})") from exc

    def describe(self, relative: str) -> str:
        return f"{self.path}/{relative}" if self._zip is None else f"{self.path}!{self._prefix}{relative}"

"""Printing a draft: Markdown through an overridable Jinja2 template, or one JSON object."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from incidentbot import templating
from incidentbot.drafting.document import SECTIONS, Draft

TEMPLATE = "postmortem.md.j2"
EMPTY_SECTION = "_Nothing recorded; fill in during the review._"
MILESTONE_LABELS = (
    ("started_at", "Impact started"),
    ("detected_at", "Detected"),
    ("declared_at", "Declared"),
    ("mitigated_at", "Mitigated"),
    ("resolved_at", "Resolved"),
)


def render_json(draft: Draft) -> str:
    """The draft as one JSON object (see ``Draft.to_json`` for the keys)."""
    return json.dumps(draft.to_json(), indent=2, ensure_ascii=False)


def render_markdown(draft: Draft, *, template_dir: Path | None = None, owner: str | None = None,
                    meeting: str | None = None, similar: Sequence[str] = ()) -> str:
    """The draft as Markdown; ``template_dir`` may hold an operator's own ``postmortem.md.j2``."""
    env = templating.environment(template_dir)
    env.filters.update(utc=_utc, cell=_cell, source=_source)
    # Every known section exists for the template (StrictUndefined), empty ones say so.
    sections = {**draft.sections, **{k: (draft.sections.get(k) or "").strip() or EMPTY_SECTION for k in SECTIONS}}
    return env.get_template(TEMPLATE).render(d=replace(draft, sections=sections), owner=owner, meeting=meeting,
                                             similar=list(similar), milestone_labels=MILESTONE_LABELS)


def _utc(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") if moment else ""


def _cell(text: object) -> str:
    # A table cell is one line, and a bare "|" would end the cell early.
    return re.sub(r"\s+", " ", str(text)).replace("|", "\\|").strip()


def _source(source: str) -> str:
    if source.startswith(("http://", "https://")):
        return f"[link]({source})"
    return f"`{_cell(source)}`"

"""Postmortem drafting: channel history → redaction → draft (model or offline) → blameless → render.

Below the Slack layer: nothing here imports Slack or the database. Callers build a
``History`` (``history.from_export`` for a Slack export, ``history.from_rows`` for stored
rows), call ``draft_postmortem`` and print the ``Draft`` with ``render_markdown`` or
``render_json``. See docs/drafting.md.
"""

from incidentbot.drafting.document import ActionItem, Draft, TimelineRow
from incidentbot.drafting.draft import draft_postmortem
from incidentbot.drafting.history import History, HistoryMessage, from_export, from_rows
from incidentbot.drafting.render import render_json, render_markdown

__all__ = [
    "ActionItem", "Draft", "History", "HistoryMessage", "TimelineRow", "draft_postmortem", "from_export",
    "from_rows", "render_json", "render_markdown",
]

"""The postmortem draft as data: what the drafters produce and the renderers print.

Kept apart from the pipeline (``draft.py``) so the offline and model drafters can build
these objects without importing the pipeline that calls them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

MILESTONES = ("started_at", "detected_at", "declared_at", "mitigated_at", "resolved_at")
# Section keys in document order, with the headings the Markdown template shows.
SECTIONS = {
    "impact": "Impact",
    "leadup": "Leadup",
    "trigger": "Trigger",
    "contributing_factors": "Contributing factors",
    "detection": "Detection",
    "response": "Response",
    "mitigation_and_resolution": "Mitigation and resolution",
    "what_went_well": "What went well",
    "what_went_wrong": "What went wrong",
    "where_we_got_lucky": "Where we got lucky",
}


@dataclass
class TimelineRow:
    """One timeline row. ``at`` and ``source`` always come from the cited message."""

    at: datetime
    text: str
    source: str
    author: str
    ts: str

    def to_json(self) -> dict[str, Any]:
        return {"at": iso(self.at), "text": self.text, "source": self.source, "author": self.author}


@dataclass
class ActionItem:
    """A proposed follow-up, verb first, with the message that proposed it."""

    text: str
    type: str
    source: str
    ts: str
    owner: str | None = None
    priority: str = "P2"
    confirmed: bool = False  # someone agreed in the channel (✅, "+1, I'll raise the ticket")

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "owner": self.owner, "type": self.type, "priority": self.priority,
                "source": self.source, "confirmed": self.confirmed}


@dataclass
class Draft:
    """A postmortem draft. Every time in it is a message's time; every row cites one."""

    title: str
    summary: str
    channel: str
    milestones: dict[str, datetime | None]
    timeline: list[TimelineRow]
    action_items: list[ActionItem]
    sections: dict[str, str]
    model: str = "offline"
    severity: str | None = None
    category: str | None = None
    lead: str | None = None
    responders: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    redactions: dict[str, int] = field(default_factory=dict)
    blameless_findings: list[dict[str, str]] = field(default_factory=list)
    milestone_sources: dict[str, str | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. why the model was not used
    status: str = "Draft"

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "summary": self.summary,
            "channel": self.channel,
            "status": self.status,
            "severity": self.severity,
            "category": self.category,
            "lead": self.lead,
            "responders": list(self.responders),
            "milestones": {k: iso(self.milestones.get(k)) for k in MILESTONES},
            "milestone_sources": {k: self.milestone_sources.get(k) for k in MILESTONES},
            "timeline": [row.to_json() for row in self.timeline],
            "action_items": [item.to_json() for item in self.action_items],
            "sections": {k: self.sections.get(k, "") for k in _section_keys(self.sections)},
            "links": list(self.links),
            "model": self.model,
            "redactions": dict(self.redactions),
            "blameless_findings": list(self.blameless_findings),
            "notes": list(self.notes),
        }


def _section_keys(sections: dict[str, str]) -> list[str]:
    return list(SECTIONS) + [k for k in sections if k not in SECTIONS]


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC with a ``Z`` (what the JSON output and the scorer use)."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")

"""The incident timeline as a document: Markdown, CSV or JSON (``incidentbot timeline``).

``timeline_rows`` reads the stored events (deleted ones left out) oldest first;
``render`` turns them into text. Times are exact UTC from the database; Markdown also
shows them in the organisation's timezone. The Markdown comes from the Jinja2 template
``timeline.md.j2`` (overridable, see ``incidentbot.templating``), with every table cell
escaped so a ``|`` or a newline in a message cannot break the table. Secrets in the
texts (a key pasted into a pinned message) become placeholders, as in a postmortem draft.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from incidentbot import templating
from incidentbot.core import timeline
from incidentbot.core.policy import Policy
from incidentbot.drafting.redact import Redactor
from incidentbot.models import Incident, TimelineEvent
from incidentbot.timeutil import ensure_utc

FORMATS = ("md", "csv", "json")
TEMPLATE = "timeline.md.j2"
MILESTONES = ("started_at", "detected_at", "declared_at", "acknowledged_at", "mitigated_at", "resolved_at", "closed_at")
MILESTONE_LABELS = {
    "started_at": "Started", "detected_at": "Detected", "declared_at": "Declared",
    "acknowledged_at": "Acknowledged", "mitigated_at": "Mitigated", "resolved_at": "Resolved", "closed_at": "Closed",
}
CSV_COLUMNS = ("occurred_at", "occurred_at_local", "kind", "actor", "actor_name", "text", "permalink", "source")


@dataclass(frozen=True)
class TimelineRow:
    occurred_at: datetime  # UTC, aware
    kind: str  # "declared", "mitigated", "message_captured", "note", ...
    actor: str | None  # who did or said it: a Slack user id
    text: str
    permalink: str | None  # the Slack message, when known
    source: str  # the Slack message ts it came from, or "incidentbot" for the bot's own records
    via: tuple[str, ...] = ()  # how a message was captured: "pin", "reaction", "shortcut", "note"
    actor_name: str | None = None  # the actor's name when it was recorded (imported incidents), else None


def timeline_rows(session: Session, incident: Incident) -> list[TimelineRow]:
    """The incident's timeline, oldest first, without deleted events."""
    return [_row(event) for event in timeline.events(session, incident)]


def _row(event: TimelineEvent) -> TimelineRow:
    data: dict[str, Any] = event.data or {}
    message_ts = event.message_ts or data.get("message_ts")
    via = data.get("via") or ()
    return TimelineRow(
        occurred_at=ensure_utc(event.occurred_at),
        kind=event.kind,
        actor=event.actor,
        text=event.text or "",
        permalink=event.permalink,
        source=str(message_ts) if message_ts else "incidentbot",
        via=tuple(str(v) for v in via) if isinstance(via, (list, tuple)) else (),
        actor_name=data.get("author_name") or None,
    )


def render(incident: Incident, rows: list[TimelineRow], fmt: str, policy: Policy, *,
           template_dir: Path | None = None) -> str:
    """The timeline as ``md``, ``csv`` or ``json`` text, its texts redacted."""
    rows = redacted(rows, policy)
    if fmt == "md":
        return _markdown(incident, rows, policy, template_dir)
    if fmt == "csv":
        return _csv(rows, policy)
    if fmt == "json":
        return _json(incident, rows, policy)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def redacted(rows: list[TimelineRow], policy: Policy) -> list[TimelineRow]:
    """``rows`` with secrets and e-mail addresses replaced by placeholders (``<SECRET_1>``).

    The channel's members saw what was pasted there; an exported file goes further (a
    ticket, a wiki, a postmortem folder). One redactor for the whole document keeps the
    numbering stable: the same key is the same placeholder in every row.
    """
    redactor = Redactor(policy.drafting.redact_patterns)
    return [replace(row, text=redactor.redact(row.text)) for row in rows]


# --- formats -----------------------------------------------------------------------------------


def iso_utc(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` (``2024-03-13T10:12:05.123456Z``); None stays None."""
    if moment is None:
        return None
    return ensure_utc(moment).isoformat().replace("+00:00", "Z")


def utc_text(moment: datetime) -> str:
    return ensure_utc(moment).strftime("%Y-%m-%d %H:%M:%S")


def local_text(moment: datetime, policy: Policy) -> str:
    local = ensure_utc(moment).astimezone(policy.tz)
    return local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or policy.timezone)


def md_cell(value: object) -> str:
    """Text safe inside a Markdown (GFM) table cell.

    ``|`` would end the cell and a newline the row; ``<`` ``>`` would start HTML (Slack's
    ``<@U123>`` would vanish) and ``&`` an entity. Backslashes are doubled first so an
    escape of ours cannot be undone by one in the text.
    """
    text = "" if value is None else str(value)
    text = text.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("|", "\\|")
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    return "<br>".join(line.strip() for line in text.split("\n"))


def md_text(value: object) -> str:
    """One line of text outside a table (a heading, a list item): newlines folded, HTML escaped."""
    text = "" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.split())


def _kind_label(row: TimelineRow) -> str:
    if row.kind == "message_captured" and row.via:
        return f"message ({', '.join(row.via)})"
    return row.kind.replace("_", " ")


def _markdown(incident: Incident, rows: list[TimelineRow], policy: Policy, template_dir: Path | None) -> str:
    env = templating.environment(template_dir)
    env.filters["md_cell"] = md_cell
    env.filters["md_text"] = md_text
    milestones = [
        {"name": name, "label": MILESTONE_LABELS[name], "utc": utc_text(value), "local": local_text(value, policy)}
        for name in MILESTONES
        if (value := getattr(incident, name, None)) is not None
    ]
    return env.get_template(TEMPLATE).render(
        incident=incident,
        reference=incident.reference,
        timezone=policy.timezone,
        detection=getattr(incident, "detection", None),
        milestones=milestones,
        rows=[
            {
                "utc": utc_text(row.occurred_at),
                "local": local_text(row.occurred_at, policy),
                "kind": _kind_label(row),
                "actor": row.actor_name or row.actor or "",
                "text": row.text,
                "permalink": row.permalink,
                "source": row.source,
            }
            for row in rows
        ],
    )


def _csv(rows: list[TimelineRow], policy: Policy) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([iso_utc(row.occurred_at), ensure_utc(row.occurred_at).astimezone(policy.tz).isoformat(),
                         row.kind, row.actor or "", row.actor_name or "", row.text, row.permalink or "", row.source])
    return out.getvalue()


def _json(incident: Incident, rows: list[TimelineRow], policy: Policy) -> str:
    document = {
        "incident": {
            "reference": incident.reference,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status,
            "category": incident.category,
            "services": list(incident.services or []),
            "detection": getattr(incident, "detection", None),
            "channel_id": incident.channel_id,
            "channel_name": incident.channel_name,
            "timezone": policy.timezone,
            "milestones": {name: iso_utc(getattr(incident, name, None)) for name in MILESTONES},
        },
        "timeline": [
            {
                "occurred_at": iso_utc(row.occurred_at),
                "kind": row.kind,
                "actor": row.actor,
                "actor_name": row.actor_name,
                "text": row.text,
                "permalink": row.permalink,
                "source": row.source,
                "via": list(row.via),
            }
            for row in rows
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"

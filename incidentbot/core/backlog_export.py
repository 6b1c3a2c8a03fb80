"""The ranked reliability backlog as a document: Markdown, CSV or JSON (``incidentbot backlog``).

``export`` turns ``core.backlog.ranked`` entries into plain records; ``render`` writes them.
Private incidents (and the action items that came from them) are listed only with
``include_private``; otherwise they are counted, so the numbers still add up. Times are
UTC (``2026-12-18T16:00:00Z``).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from incidentbot.core import action_items, backlog
from incidentbot.core.backlog import Ranked
from incidentbot.core.backlog_score import WEIGHT_NAMES
from incidentbot.core.exporting import iso_utc, md_cell, md_text
from incidentbot.timeutil import ensure_utc

FORMATS = ("md", "csv", "json")
CSV_COLUMNS = ("rank", "id", "title", "status", "score", *(f"{name}_points" for name in WEIGHT_NAMES),
               "incidents", "private_incidents", "open_action_items", "overdue_action_items", "action_items",
               "owner", "services", "effort")


def export(entries: list[Ranked], *, now: datetime, include_private: bool = False) -> list[dict[str, Any]]:
    """One record per backlog item, in rank order."""
    return [_record(entry, now, include_private) for entry in entries]


def _record(entry: Ranked, now: datetime, include_private: bool) -> dict[str, Any]:
    item = entry.item
    hidden = set() if include_private else {i.id for i in entry.incidents if i.private}
    open_items = [a for a in entry.action_items if a.status in action_items.OPEN]
    return {
        "id": backlog.label(item),
        "title": item.title,
        "status": item.status,
        "score": entry.score.total,
        "factors": [{"name": f.name, "value": f.value, "weight": f.weight, "points": f.points,
                     "explanation": f.explanation} for f in entry.score.factors],
        "incidents": [{"id": i.reference, "title": i.title, "severity": i.severity, "private": i.private}
                      for i in entry.incidents if i.id not in hidden],
        "private_incidents": len(hidden),  # linked private incidents left out of "incidents"
        "open_action_items": len(open_items),
        "overdue_action_items": sum(action_items.is_overdue(a, now) for a in open_items),
        "action_items": [_action_item(a, entry) for a in entry.action_items if a.incident_id not in hidden],
        "owner": item.owner,
        "services": list(item.services or []),
        "effort": item.effort,
        "reason": item.reason,
        "created_at": iso_utc(item.created_at),
    }


def _action_item(item, entry: Ranked) -> dict[str, Any]:
    incident = next((i.reference for i in entry.incidents if i.id == item.incident_id), None)
    return {"id": action_items.label(item), "title": item.title, "status": item.status, "owner": item.owner,
            "due_at": iso_utc(item.due_at), "external_url": item.external_url, "incident": incident}


def render(records: list[dict[str, Any]], fmt: str, *, now: datetime, scope: str = "all services") -> str:
    if fmt == "json":
        return json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        return _csv(records)
    if fmt == "md":
        return _markdown(records, now, scope)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _csv(records: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for rank, record in enumerate(records, start=1):
        points = {f["name"]: f["points"] for f in record["factors"]}
        writer.writerow([
            rank, record["id"], record["title"], record["status"], f"{record['score']:.1f}",
            *(f"{points.get(name, 0.0):.1f}" for name in WEIGHT_NAMES),
            " ".join(i["id"] for i in record["incidents"]), record["private_incidents"],
            record["open_action_items"], record["overdue_action_items"],
            " ".join(a["id"] for a in record["action_items"]), record["owner"] or "",
            " ".join(record["services"]), record["effort"] or "",
        ])
    return out.getvalue()


def _markdown(records: list[dict[str, Any]], now: datetime, scope: str) -> str:
    count = f"{len(records)} item{'s' if len(records) != 1 else ''}"
    lines = ["# Reliability backlog", "",
             f"{md_text(scope)} · {count} · highest score first · generated {ensure_utc(now):%Y-%m-%d %H:%M} UTC", ""]
    if not records:
        lines.append("Nothing in the backlog.")
    for rank, record in enumerate(records, start=1):
        lines += _markdown_item(rank, record)
    return "\n".join(lines).rstrip("\n") + "\n"


def _markdown_item(rank: int, record: dict[str, Any]) -> list[str]:
    incidents = [f"{i['id']} ({md_text(i['severity'])}{', private' if i['private'] else ''}): {md_text(i['title'])}"
                 for i in record["incidents"]]
    hidden = record["private_incidents"]
    if hidden:
        incidents.append(f"{hidden} private incident{'s' if hidden > 1 else ''}")
    owner, services = md_text(record["owner"] or "nobody"), md_text(", ".join(record["services"]) or "none")
    lines = [f"## {rank}. {record['id']}: {md_text(record['title'])} (score {record['score']:.1f})", "",
             f"- **Status:** {record['status']} · **Owner:** {owner} · **Services:** {services}",
             f"- **Incidents:** {'; '.join(incidents) or 'none'}",
             f"- **Action items:** {record['open_action_items']} open, {record['overdue_action_items']} overdue", "",
             "| Factor | Value | Weight | Points | How |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {f['name']} | {md_cell(f['value'])} | {f['weight']:g} | {f['points']:.1f} | {md_cell(f['explanation'])} |"
              for f in record["factors"]]
    if record["action_items"]:
        lines += ["", "| Action item | Title | Status | Owner | Due (UTC) | Tracker |", "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {a['id']} | {md_cell(a['title'])} | {a['status']} | {md_cell(a['owner'] or '')} | "
                  f"{md_cell(a['due_at'] or '')} | {md_cell(a['external_url'] or '')} |" for a in record["action_items"]]
    return [*lines, ""]

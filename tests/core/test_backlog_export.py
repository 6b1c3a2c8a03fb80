"""The ranked backlog as Markdown, CSV and JSON (``incidentbot backlog``)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timezone

import pytest

from incidentbot.core import action_items, backlog, backlog_export, incidents
from incidentbot.core.action_items import NewActionItem
from incidentbot.core.backlog_score import WEIGHT_NAMES
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy

POLICY = load_policy()
NOW = datetime(2026, 11, 19, 10, tzinfo=timezone.utc)
LATER = datetime(2026, 12, 30, 10, tzinfo=timezone.utc)  # the first item is overdue by then


def declare(session, title, severity="SEV2", services=("api",), private=False):
    incident, _ = incidents.declare(session, POLICY, Declaration(
        title=title, severity=severity, declared_by="U0ALICE", services=list(services), private=private))
    return incident


def add(session, incident, title, **fields):
    return action_items.create(session, POLICY, incident, NewActionItem(title=title, **fields),
                               actor="U0ALICE", now=NOW)


@pytest.fixture
def seeded(session):
    checkout = declare(session, "Checkout | down", "SEV1")
    secret = declare(session, "Leaked keys", "SEV3", private=True)
    first = add(session, checkout, "Add an alert on checkout errors", owner="U0BOB", due=date(2026, 12, 4))
    first.item.external_url = "https://tracker.example/OPS-4"
    add(session, secret, "Add an alert on checkout errors", owner="U0CAROL")
    add(session, declare(session, "Search slow", "SEV3", ("web",)), "Write the search runbook")
    add(session, declare(session, "Key leak", "SEV1", private=True), "Rotate every signing key")
    session.commit()
    return session


def records(session, **options):
    include_private = options.pop("include_private", False)
    entries = backlog.ranked(session, POLICY, now=LATER, include_private=include_private, **options)
    return backlog_export.export(entries, now=LATER, include_private=include_private)


def test_json_is_a_list_of_items_with_factors_incidents_and_action_items(seeded):
    data = json.loads(backlog_export.render(records(seeded), "json", now=LATER))
    assert [d["id"] for d in data] == ["BL-1", "BL-2"]  # the private-only item is left out
    first = data[0]
    assert (first["title"], first["status"], first["owner"]) == ("Add an alert on checkout errors", "open", None)
    assert [f["name"] for f in first["factors"]] == list(WEIGHT_NAMES)
    assert set(first["factors"][0]) == {"name", "value", "weight", "points", "explanation"}
    assert round(sum(f["points"] for f in first["factors"]), 1) == first["score"]
    assert first["incidents"] == [{"id": "INC-1", "title": "Checkout | down", "severity": "SEV1", "private": False}]
    assert first["private_incidents"] == 1
    assert (first["open_action_items"], first["overdue_action_items"]) == (2, 1)
    assert first["action_items"] == [{
        "id": "AI-1", "title": "Add an alert on checkout errors", "status": "open", "owner": "U0BOB",
        "due_at": "2026-12-04T17:00:00Z", "external_url": "https://tracker.example/OPS-4", "incident": "INC-1"}]
    assert "Leaked keys" not in json.dumps(data) and "Rotate every signing key" not in json.dumps(data)


def test_include_private_lists_everything(seeded):
    data = records(seeded, include_private=True)
    assert [d["id"] for d in data][:1] == ["BL-1"] and "BL-3" in [d["id"] for d in data]
    first = data[0]
    assert [i["id"] for i in first["incidents"]] == ["INC-2", "INC-1"] and first["private_incidents"] == 0
    assert [a["id"] for a in first["action_items"]] == ["AI-1", "AI-2"]


def test_filters_and_closed_items(seeded):
    assert [d["id"] for d in records(seeded, team="frontend")] == ["BL-2"]
    backlog.set_status(seeded, backlog.get(seeded, 2), "wont_do", now=NOW, reason="Search is being replaced")
    seeded.commit()
    assert [d["id"] for d in records(seeded)] == ["BL-1"]
    closed = records(seeded, statuses=("open", "done", "wont_do"))
    assert [(d["id"], d["status"], d["reason"]) for d in closed] == [
        ("BL-1", "open", None), ("BL-2", "wont_do", "Search is being replaced")]


def test_csv_has_one_row_per_item(seeded):
    rows = list(csv.DictReader(io.StringIO(backlog_export.render(records(seeded), "csv", now=LATER))))
    assert [r["id"] for r in rows] == ["BL-1", "BL-2"] and [r["rank"] for r in rows] == ["1", "2"]
    first = rows[0]
    assert (first["incidents"], first["private_incidents"], first["action_items"]) == ("INC-1", "1", "AI-1")
    assert first["severity_points"] == "6.0" and first["overdue_action_items"] == "1"
    assert list(rows[0]) == list(backlog_export.CSV_COLUMNS)


def test_markdown_explains_each_factor_and_escapes_tables(seeded):
    text = backlog_export.render(records(seeded), "md", now=LATER, scope="all services, open items")
    assert text.startswith("# Reliability backlog\n\nall services, open items · 2 items · highest score first")
    assert "## 1. BL-1: Add an alert on checkout errors (score " in text
    assert "- **Incidents:** INC-1 (SEV1): Checkout | down; 1 private incident" in text
    assert "| severity | SEV1 | 3 | 6.0 | SEV1 (most severe of 2) is rank 1 of 4: gravity 1.00 × 2 × weight 3 = 6.0. |" in text
    assert "| AI-1 | Add an alert on checkout errors | open | U0BOB | 2026-12-04T17:00:00Z |" in text
    assert "Leaked keys" not in text


def test_an_empty_backlog(session):
    assert backlog_export.render([], "md", now=LATER).endswith("Nothing in the backlog.\n")
    assert json.loads(backlog_export.render([], "json", now=LATER)) == []
    assert backlog_export.render([], "csv", now=LATER).strip() == ",".join(backlog_export.CSV_COLUMNS)
    with pytest.raises(ValueError, match="unknown format"):
        backlog_export.render([], "xml", now=LATER)

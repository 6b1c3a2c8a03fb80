"""``incidentbot backlog``, run as people run it: DATABASE_URL, the policy, the formats, the options."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

import pytest
from sqlmodel import Session

from incidentbot import db
from incidentbot.cli import main
from incidentbot.core import action_items, incidents
from incidentbot.core.action_items import NewActionItem
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy

NOW = datetime(2026, 11, 19, 10, tzinfo=timezone.utc)


@pytest.fixture
def migrated(database_url, monkeypatch):
    """DATABASE_URL points at a fresh database upgraded by `incidentbot migrate`."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("INCIDENTBOT_CONFIG", raising=False)
    assert main(["migrate"]) == 0
    return database_url


def seed(url: str) -> None:
    policy = load_policy()
    engine = db.make_engine(url)
    try:
        with Session(engine) as session:
            for title, services, private, work in (
                ("Checkout down", ["api"], False, "Add an alert on checkout errors"),
                ("Search slow", ["web"], False, "Write the search runbook"),
                ("Leaked keys", ["api"], True, "Rotate every signing key"),
            ):
                incident, _ = incidents.declare(session, policy, Declaration(
                    title, "SEV2", "U0ALICE", services=services, private=private))
                action_items.create(session, policy, incident, NewActionItem(title=work, owner="U0BOB"),
                                    actor="U0ALICE", now=NOW)
            session.commit()
    finally:
        engine.dispose()


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(["backlog", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_markdown_by_default(migrated, capsys):
    seed(migrated)
    code, out, _ = run(capsys)
    assert code == 0
    assert out.startswith("# Reliability backlog\n\nall services, open items · 2 items")
    assert "BL-1: Add an alert on checkout errors" in out and "| severity | SEV2 |" in out
    assert "Rotate every signing key" not in out and "Leaked keys" not in out


def test_json_and_include_private(migrated, capsys):
    seed(migrated)
    code, out, _ = run(capsys, "--format", "json")
    data = json.loads(out)
    assert code == 0 and [d["id"] for d in data] == ["BL-1", "BL-2"]
    assert data[0]["action_items"][0]["id"] == "AI-1" and data[0]["action_items"][0]["due_at"].endswith("Z")
    code, out, _ = run(capsys, "--format", "json", "--include-private")
    assert "Rotate every signing key" in out and len(json.loads(out)) == 3


def test_csv_filters_and_all(migrated, capsys):
    seed(migrated)
    code, out, _ = run(capsys, "--format", "csv", "--service", "web")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [(r["id"], r["title"]) for r in rows] == [("BL-2", "Write the search runbook")]
    code, out, _ = run(capsys, "--format", "csv", "--team", "platform", "--all")
    assert [r["id"] for r in csv.DictReader(io.StringIO(out))] == ["BL-1"]


def test_unknown_service_or_team_and_both_at_once(migrated, capsys):
    code, _, err = run(capsys, "--service", "nope")
    assert code == 2 and "there is no service 'nope'; the policy lists: api, web, payments, search" in err
    code, _, err = run(capsys, "--team", "nope")
    assert code == 2 and "discovery, frontend, payments, platform" in err
    with pytest.raises(SystemExit):
        main(["backlog", "--service", "api", "--team", "platform"])


def test_an_old_schema_is_refused(database_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("INCIDENTBOT_CONFIG", raising=False)
    code, _, err = run(capsys)
    assert code == 2 and "Run `incidentbot migrate` first." in err


def test_help_lists_it(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "backlog" in capsys.readouterr().out

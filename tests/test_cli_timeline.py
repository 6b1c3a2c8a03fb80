"""``incidentbot timeline`` and ``incidentbot import slack-export``, run as people run them."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlmodel import Session

from incidentbot import db
from incidentbot.cli import main
from incidentbot.core import incidents, timeline
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy
from incidentbot.slack_export import write_export

DFDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "incidents" / "dfds"
SAMPLE = DFDS / "PM2021-003"
SAMPLE_CHANNEL = "inc-2021-02-19-flux-unintended-version-update"
needs_samples = pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"the shared dfds samples are not at {DFDS}")


@pytest.fixture
def migrated(database_url, monkeypatch):
    """DATABASE_URL points at a fresh database upgraded by `incidentbot migrate`."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("INCIDENTBOT_CONFIG", raising=False)
    assert main(["migrate"]) == 0
    return database_url


def _declare(url: str, title: str = "Checkout | payments down") -> None:
    engine = db.make_engine(url)
    try:
        with Session(engine) as session:
            incident, _ = incidents.declare(session, load_policy(), Declaration(title, "SEV2", "U1"))
            timeline.record(session, incident, "note", "first line\nsecond | line", actor="U2",
                            occurred_at=datetime(2020, 3, 29, 0, 30, tzinfo=timezone.utc))
            session.commit()
    finally:
        engine.dispose()


def test_help_lists_the_new_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "timeline" in out and "import" in out
    with pytest.raises(SystemExit):
        main(["import", "slack-export", "--help"])
    assert "--update" in capsys.readouterr().out


def test_timeline_in_every_format(migrated, capsys):
    _declare(migrated)
    capsys.readouterr()
    assert main(["timeline", "INC-1"]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("# INC-1: Checkout | payments down")
    assert "| 2020-03-29 00:30:00 | 2020-03-29 00:30:00 UTC | note | U2 | first line<br>second \\| line |" in markdown

    assert main(["timeline", "inc-1", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["kind"] for r in rows] == ["note", "declared"]  # oldest first: the note is from 2020
    assert next(r for r in rows if r["kind"] == "note")["text"] == "first line\nsecond | line"

    assert main(["timeline", "1", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["incident"]["reference"] == "INC-1"
    note = next(r for r in document["timeline"] if r["kind"] == "note")
    assert note["occurred_at"] == "2020-03-29T00:30:00Z"


def test_unknown_incident_exits_1(migrated, capsys):
    assert main(["timeline", "INC-9"]) == 1
    captured = capsys.readouterr()
    assert "There is no incident INC-9" in captured.err and captured.out == ""


def test_timeline_refuses_an_unmigrated_database(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["timeline", "INC-1"]) == 2
    assert "Run `incidentbot migrate` first" in capsys.readouterr().err


@needs_samples
def test_import_a_sample_then_print_its_timeline(migrated, capsys):
    capsys.readouterr()
    assert main(["import", "slack-export", str(SAMPLE), "--channel", SAMPLE_CHANNEL]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Created INC-1 from #{SAMPLE_CHANNEL}: Flux unintended version update (SEV3, resolved)")
    assert "messages added: 164" in out and "resolved     2021-02-19 08:23 UTC (inferred: statement)" in out
    assert "not clear from the history (left empty): started" in out

    assert main(["import", "slack-export", str(SAMPLE), "--channel", SAMPLE_CHANNEL]) == 0
    assert "is already INC-1" in capsys.readouterr().out
    assert main(["import", "slack-export", str(SAMPLE), "--channel", f"#{SAMPLE_CHANNEL}", "--update"]) == 0
    assert "Updated INC-1" in (out := capsys.readouterr().out) and "messages added: 0, timeline events added: 0" in out

    assert main(["timeline", "INC-1", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    truth = json.loads((SAMPLE / "ground_truth.json").read_text())
    captured = {r["source"] for r in document["timeline"] if r["kind"] == "message_captured"}
    assert captured == set(truth["pinned_message_ts"]) | set(truth["pushpin_message_ts"])
    assert document["incident"]["milestones"]["resolved_at"].startswith("2021-02-19T08:23")
    assert document["incident"]["detection"] == "monitoring"


def test_import_errors_name_what_is_wrong(migrated, tmp_path, capsys):
    assert main(["import", "slack-export", str(tmp_path / "nowhere"), "--channel", "x"]) == 1
    assert "nowhere: no such folder" in capsys.readouterr().err

    write_export(tmp_path / "export", users=[], channels=[{"id": "C1", "name": "inc-a"}, {"id": "C2", "name": "inc-b"}],
                 messages={"inc-a": [{"ts": "1700000000.000000", "user": "U1", "text": "hi"}]})
    assert main(["import", "slack-export", str(tmp_path / "export"), "--channel", "inc-c"]) == 1
    assert "There is no channel 'inc-c'" in (err := capsys.readouterr().err) and "Channels: inc-a, inc-b" in err

    assert main(["import", "slack-export", str(tmp_path / "export"), "--channel", "inc-b"]) == 1
    assert "inc-b/: missing" in capsys.readouterr().err
    assert main(["import"]) == 2


def test_stdout_is_only_the_document(tmp_path):
    """As a process: logs stay off stdout, so `incidentbot timeline … > file.csv` is clean."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}", "LOG_LEVEL": "INFO"}
    env.pop("INCIDENTBOT_CONFIG", None)
    exe = [sys.executable, "-m", "incidentbot"]
    subprocess.run([*exe, "migrate"], env=env, check=True, capture_output=True)
    _declare(env["DATABASE_URL"])
    result = subprocess.run([*exe, "timeline", "INC-1", "--format", "csv"], env=env, check=True,
                            capture_output=True, text=True)
    assert result.stdout.splitlines()[0] == "occurred_at,occurred_at_local,kind,actor,actor_name,text,permalink,source"
    assert "alembic" not in result.stderr  # quiet: only warnings are logged

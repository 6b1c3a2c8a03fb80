"""``incidentbot digest``, run as people run it: DATABASE_URL, the policy, the week, the formats.

Most tests put a stand-in ``incidentbot.core.digest`` (returning a hand-built digest) in
``sys.modules``, so they check this command, not the builder. The end-to-end test at the
bottom runs the real builder on incidents declared in a temporary SQLite database.
"""

from __future__ import annotations

import json
import sys
import types
from datetime import datetime, timezone

import pytest
from sqlmodel import Session

import digest_samples as samples
from incidentbot import db
from incidentbot.cli import main
from incidentbot.core.digest_report import Week
from incidentbot.core.policy import load_policy

NOW = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)  # a Wednesday in 2026-W48


@pytest.fixture
def migrated(tmp_path, monkeypatch):
    """DATABASE_URL points at a fresh SQLite database upgraded by `incidentbot migrate`."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'bot.db'}")
    monkeypatch.delenv("INCIDENTBOT_CONFIG", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert main(["migrate"]) == 0
    return tmp_path


@pytest.fixture
def builder(monkeypatch):
    """A stand-in core.digest whose build() records its arguments and returns samples.busy()."""
    calls: list[dict] = []

    def build(session, policy, week, *, now):
        calls.append({"week": week, "now": now, "policy": policy, "session": session})
        return samples.busy()

    module = types.ModuleType("incidentbot.core.digest")
    module.build = build
    monkeypatch.setitem(sys.modules, "incidentbot.core.digest", module)
    monkeypatch.setattr("incidentbot.timeutil.utcnow", lambda: NOW)
    return calls


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(["digest", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_default_week_is_the_last_complete_one(migrated, builder, capsys):
    code, out, err = run(capsys)
    assert code == 0, err
    assert builder[0]["week"].label == "2026-W47" and builder[0]["now"] == NOW
    assert out.startswith("# Incident digest 2026-W47")  # Markdown is the default


def test_the_last_complete_week_is_the_org_timezones(migrated, builder, capsys, tmp_path, monkeypatch):
    policy = tmp_path / "policy.toml"
    policy.write_text('timezone = "Pacific/Auckland"\n')
    monkeypatch.setenv("INCIDENTBOT_CONFIG", str(policy))
    # Sunday 22 Nov 11:30 UTC is already Monday 23 Nov 00:30 in Auckland: W47 is complete there.
    monkeypatch.setattr("incidentbot.timeutil.utcnow", lambda: datetime(2026, 11, 22, 11, 30, tzinfo=timezone.utc))
    assert run(capsys)[0] == 0
    assert builder[0]["week"].label == "2026-W47"
    monkeypatch.setenv("INCIDENTBOT_CONFIG", str(tmp_path / "utc.toml"))
    (tmp_path / "utc.toml").write_text('timezone = "UTC"\n')
    assert run(capsys)[0] == 0
    assert builder[1]["week"].label == "2026-W46"


@pytest.mark.parametrize("fmt", ["md", "html", "slack", "json"])
def test_every_format(migrated, builder, capsys, fmt):
    code, out, err = run(capsys, "--week", "2026w47", "--format", fmt)
    assert code == 0, err
    assert builder[0]["week"] == Week.of(2026, 47, load_policy())
    assert out.endswith("\n") and "ACME-PRIVATE-CANARY" not in out
    if fmt == "slack":
        message = json.loads(out)
        assert message["text"].startswith("Incident digest 2026-W47")
        assert message["blocks"][0]["type"] == "header" and len(message["blocks"]) <= 50
    elif fmt == "json":
        assert json.loads(out)["week"]["label"] == "2026-W47"
    elif fmt == "html":
        assert out.startswith("<!DOCTYPE html>") and "&lt;script&gt;" in out and "<script>" not in out
    else:
        assert "## Error budgets" in out


@pytest.mark.parametrize("week", ["2026-W54", "last week", "2026-13", "W47"])
def test_a_bad_week_exits_2_with_a_message(migrated, builder, capsys, week):
    code, out, err = run(capsys, "--week", week)
    assert code == 2 and out == "" and "is not an ISO week; use e.g. `2026-W47`" in err
    assert builder == []


def test_a_week_that_has_not_started(migrated, builder, capsys):
    code, _, err = run(capsys, "--week", "2026-W49")
    assert code == 2 and "2026-W49 has not started yet" in err


def test_the_chart_and_a_template_dir(migrated, builder, capsys, tmp_path):
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "digest.md.j2").write_text("Digest {{ d.week.label }}: {{ d.total_week }}\n")
    code, out, _ = run(capsys, "--week", "2026-W47", "--chart", str(tmp_path / "c.png"),
                       "--template-dir", str(tmp_path / "tpl"))
    assert code == 0 and out == "Digest 2026-W47: 14\n"
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_narrative_without_a_model_is_left_out(migrated, builder, capsys):
    code, out, err = run(capsys, "--week", "2026-W47", "--narrative")
    assert code == 0 and "no narrative" in err and "Written by a model" not in out


def test_narrative_from_the_model(migrated, builder, capsys, monkeypatch):
    from drafting.fake_openai import FakeOpenAI, Reply

    with FakeOpenAI(lambda _r: Reply(content=json.dumps({"paragraph": "A busy week: 14 incidents."}))) as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        code, out, _ = run(capsys, "--week", "2026-W47", "--narrative", "--format", "json")
    assert code == 0 and json.loads(out)["narrative"] == "A busy week: 14 incidents."
    assert len(fake.requests) == 1


def test_without_a_builder_the_command_says_so(migrated, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "incidentbot.core.digest", None)  # import fails, as before it existed
    code, _, err = run(capsys, "--week", "2026-W47")
    assert code == 1 and "no digest builder" in err


# --- end to end, with the real builder -----------------------------------------------------------


def test_end_to_end_with_the_real_builder(migrated, capsys, monkeypatch):
    pytest.importorskip("incidentbot.core.digest")
    from drafting.fake_openai import FakeOpenAI, Reply

    from incidentbot.core import incidents, messages
    from incidentbot.core.incidents import Declaration
    from incidentbot.timeutil import utcnow

    canary = "CHANNEL-TEXT-CANARY the db password is hunter2"
    policy = load_policy()
    engine = db.make_engine(f"sqlite:///{migrated / 'bot.db'}")
    try:
        with Session(engine) as session:
            for i, (title, severity, private) in enumerate((
                ("Checkout <!channel> returning 502s", "SEV2", False),
                ("Search slow", "SEV3", False),
                ("Payroll export leaked to ACME-PRIVATE-CANARY", "SEV1", True),
            )):
                incident, _ = incidents.declare(session, policy, Declaration(title, severity, "U0ALICE",
                                                                             private=private))
                incidents.attach_channel(session, incident, f"C0E2E{i}", f"inc-e2e-{i}")
                messages.store(session, incident, f"C0E2E{i}", {"ts": f"{utcnow().timestamp():.6f}",
                                                                "user": "U0ALICE", "text": canary}, source="event")
            session.commit()
    finally:
        engine.dispose()
    week = Week.containing(utcnow(), policy).label  # the current week: started, not complete

    outputs = {}
    for fmt in ("md", "html", "slack", "json"):
        code, out, err = run(capsys, "--week", week, "--format", fmt)
        assert code == 0, err
        assert "ACME-PRIVATE-CANARY" not in out and "CHANNEL-TEXT-CANARY" not in out
        outputs[fmt] = out
    data = json.loads(outputs["json"])
    assert data["week"]["label"] == week and data["total_week"] == 3 and data["private_count"] == 1
    assert sorted(i["number"] for i in data["incidents"]) == [1, 2]
    assert "<!channel>" not in json.dumps(json.loads(outputs["slack"])["blocks"])
    assert "&lt;!channel&gt;" in outputs["html"] and "INC-1" in outputs["md"]

    with FakeOpenAI(lambda _r: Reply(content=json.dumps({"paragraph": "Three incidents, one private."}))) as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        code, out, _ = run(capsys, "--week", week, "--narrative", "--format", "md")
    assert code == 0 and "Three incidents, one private." in out
    sent = b"".join(fake.bodies).decode()
    assert "Search slow" in sent and "CHANNEL-TEXT-CANARY" not in sent and "hunter2" not in sent
    assert "ACME-PRIVATE-CANARY" not in sent

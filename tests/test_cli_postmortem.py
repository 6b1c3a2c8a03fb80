"""``incidentbot postmortem draft`` on a Slack export written by the test."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from incidentbot import cli_postmortem

CHANNEL = "inc-2024-03-13-checkout-errors"
CANARIES = ("AKIAZZCANARYZZ123456", "xoxb-999999999999-9999999999999-CanaryCanaryCanaryCanary",
            "Canary!Pa55word", "canary.person@example.org")
BASE = 1710324000


def _message(minute: int, text: str, user: str | None = "U1", **extra: object) -> dict[str, object]:
    message: dict[str, object] = {"type": "message", "ts": f"{BASE + minute * 60}.000100", "text": text, **extra}
    if user:
        message["user"] = user
    return message


def write_export(root: Path) -> Path:
    (root / CHANNEL).mkdir(parents=True)
    (root / "users.json").write_text(json.dumps([
        {"id": "U1", "name": "ana.lind", "real_name": "Ana Lind", "profile": {"display_name": "Ana"}},
        {"id": "U2", "name": "bo.berg", "real_name": "Bo Berg", "profile": {"display_name": "Bo"}},
        {"id": "UB", "name": "alertmanager", "is_bot": True, "profile": {"bot_id": "B1"}},
    ]))
    (root / "channels.json").write_text(json.dumps([{
        "id": "C1", "name": CHANNEL, "purpose": {"value": "Incident response: Checkout errors"},
        "pins": [{"id": f"{BASE + 5 * 60}.000100", "type": "C"}],
    }]))
    messages = [
        _message(0, "[FIRING:1] CheckoutErrors (prod critical)", None, subtype="bot_message", bot_id="B1",
                 username="Alertmanager"),
        _message(2, f"the pod env has AWS_ACCESS_KEY_ID={CANARIES[0]} — old key?", "U2"),
        _message(3, f"webhook uses {CANARIES[1]}; db postgres://app:{CANARIES[2]}@db:5432/x", "U2"),
        _message(5, "fyi <@U2> found that the serializer change drops the currency field", "U1"),
        _message(6, f"cc <mailto:{CANARIES[3]}|{CANARIES[3]}> for the customer side", "U1"),
        _message(20, "We're repaired: rollback finished, errors gone", "U1"),
        _message(30, "Resolving the incident.", "U1"),
        _message(35, "action: add a contract test for the checkout payload", "U2"),
    ]
    (root / CHANNEL / "2024-03-13.json").write_text(json.dumps(messages))
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli_postmortem.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_draft_from_a_slack_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = write_export(tmp_path / "export")
    code, out, _ = run(capsys, "postmortem", "draft", "--slack-export", str(export), "--channel", CHANNEL,
                       "--format", "json", "--offline")
    assert code == 0
    draft = json.loads(out)
    assert draft["title"] == "Checkout errors" and draft["model"] == "offline"
    assert draft["milestones"]["detected_at"] == "2024-03-13T10:00:00.000100Z"
    assert draft["milestones"]["resolved_at"] == "2024-03-13T10:30:00.000100Z"
    assert any("@Bo found that the serializer change" in row["text"] for row in draft["timeline"])
    assert all(row["source"] for row in draft["timeline"])
    assert draft["action_items"][0]["text"] == "Add a contract test for the checkout payload"
    assert draft["redactions"] == {"EMAIL": 1, "SECRET": 3}
    assert not [c for c in CANARIES if c in out]


def test_markdown_is_the_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = write_export(tmp_path / "export")
    code, out, _ = run(capsys, "draft", "--slack-export", str(export), "--channel", CHANNEL, "--offline")
    assert code == 0 and out.startswith("# Postmortem: Checkout errors")
    assert "## Timeline" in out and "| 2024-03-13 10:00 | Alert fired: CheckoutErrors" in out
    assert not [c for c in CANARIES if c in out]


def test_unknown_channel_names_the_ones_there_are(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = write_export(tmp_path / "export")
    code, out, err = run(capsys, "draft", "--slack-export", str(export), "--channel", "inc-nope", "--offline")
    assert code == 2 and out == "" and CHANNEL in err


def test_draft_from_the_database(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """What the bot stored (here: an imported channel) drafts like the export itself."""
    from incidentbot.cli import main as incidentbot

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'bot.db'}")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    export = write_export(tmp_path / "export")
    assert incidentbot(["migrate"]) == 0
    assert incidentbot(["import", "slack-export", str(export), "--channel", CHANNEL]) == 0
    capsys.readouterr()
    code, out, _ = run(capsys, "draft", "INC-1", "--format", "json", "--offline")
    draft = json.loads(out)
    assert code == 0 and draft["model"] == "offline"
    assert draft["milestones"]["resolved_at"].startswith("2024-03-13")
    assert any("contract test" in item["text"] for item in draft["action_items"])
    assert all(row["source"] for row in draft["timeline"])
    assert not any(canary in out for canary in CANARIES)


def test_unknown_incident_in_the_database(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from incidentbot.cli import main as incidentbot

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'bot.db'}")
    assert incidentbot(["migrate"]) == 0
    code, _, err = run(capsys, "draft", "INC-42")
    assert code == 1 and "INC-42" in err


def test_export_needs_a_channel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "draft", "--slack-export", str(tmp_path), "--offline")
    assert code == 2 and "--channel" in err


def test_model_from_the_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from drafting.fake_openai import FakeOpenAI, Reply

    export = write_export(tmp_path / "export")
    with FakeOpenAI(lambda _request: Reply(content="not json")) as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_MODEL", "local-model")
        code, out, _ = run(capsys, "draft", "--slack-export", str(export), "--channel", CHANNEL, "--format", "json")
    assert code == 0 and fake.requests  # the model was asked …
    assert json.loads(out)["model"].startswith("offline (fallback: model local-model failed")  # … and fell back
    assert not [c for c in CANARIES if c.encode() in b"".join(fake.bodies)]


def test_add_parser_wires_into_the_main_command() -> None:
    parser = argparse.ArgumentParser(prog="incidentbot")
    cli_postmortem.add_parser(parser.add_subparsers())
    args = parser.parse_args(["postmortem", "draft", "--slack-export", "x", "--channel", "c", "--format", "json"])
    assert args.func is cli_postmortem.run_draft and args.format == "json" and not args.offline


def test_runs_as_a_module(tmp_path: Path) -> None:
    export = write_export(tmp_path / "export")
    done = subprocess.run([sys.executable, "-m", "incidentbot.cli_postmortem", "draft", "--slack-export", str(export),
                           "--channel", CHANNEL, "--format", "json", "--offline"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["timeline"]


def test_the_policy_redaction_patterns_and_model_budget_apply(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from drafting.fake_openai import FakeOpenAI, Reply

    export = write_export(tmp_path / "export")
    messages_file = export / CHANNEL / "2024-03-13.json"
    messages = json.loads(messages_file.read_text())
    messages.append(_message(36, "customer account ACCT-99887766 was the one that failed", "U1"))
    messages_file.write_text(json.dumps(messages))
    policy = tmp_path / "policy.toml"
    policy.write_text('[drafting]\nmodel_timeout_seconds = 0.5\n'
                      '[drafting.redact_patterns]\nACCOUNT = "ACCT-\\\\d{8}"\n')
    monkeypatch.setenv("INCIDENTBOT_CONFIG", str(policy))
    code, out, _ = run(capsys, "draft", "--slack-export", str(export), "--channel", CHANNEL, "--format", "json",
                       "--offline")
    assert code == 0 and "ACCT-99887766" not in out and json.loads(out)["redactions"]["ACCOUNT"] == 1

    def slow(_request):
        import time
        time.sleep(3)
        return Reply(content="{}")

    with FakeOpenAI(slow) as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        code, out, _ = run(capsys, "draft", "--slack-export", str(export), "--channel", CHANNEL, "--format", "json")
    assert code == 0 and "within 0.5s" in json.loads(out)["model"]
    assert not any(b"ACCT-99887766" in body for body in fake.bodies)


def test_a_bad_policy_pattern_is_a_configuration_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[drafting.redact_patterns]\nACCOUNT = "ACCT-(\\\\d"\n')
    monkeypatch.setenv("INCIDENTBOT_CONFIG", str(policy))
    export = write_export(tmp_path / "export")
    code, _, err = run(capsys, "draft", "--slack-export", str(export), "--channel", CHANNEL, "--offline")
    assert code == 2 and "drafting.redact_patterns" in err and "not a valid regular expression" in err

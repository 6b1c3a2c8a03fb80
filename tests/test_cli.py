"""The ``incidentbot`` command, run as people run it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request

import pytest

from incidentbot.cli import main
from tests_support import ALICE, GENERAL, wait_for

EXE = [sys.executable, "-m", "incidentbot"]


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "serve", "run", "worker", "migrate", "check", "sandbox"):
        assert command in out


def test_check_names_the_bad_policy_key(tmp_path, monkeypatch, capsys):
    policy = tmp_path / "policy.toml"
    policy.write_text('timezone = "Mars/Olympus"\n')
    monkeypatch.setenv("INCIDENTBOT_CONFIG", str(policy))
    assert main(["check"]) == 2
    assert "timezone" in capsys.readouterr().err


def test_check_accepts_the_shipped_policy(monkeypatch, capsys):
    monkeypatch.delenv("INCIDENTBOT_CONFIG", raising=False)
    assert main(["check"]) == 0
    assert "policy (the shipped default): ok" in capsys.readouterr().out


def test_check_names_what_the_selected_tracker_still_needs(monkeypatch, capsys):
    monkeypatch.delenv("INCIDENTBOT_CONFIG", raising=False)
    for name in ("GITHUB_TOKEN", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INCIDENTBOT_TRACKER", "github")
    assert main(["check"]) == 2
    assert "INCIDENTBOT_TRACKER=github needs GITHUB_TOKEN, GITHUB_REPOSITORY" in capsys.readouterr().err
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_test")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/reliability")
    assert main(["check"]) == 0
    assert "action item export: github" in capsys.readouterr().out


def test_serve_refuses_missing_secrets(monkeypatch, capsys):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    assert main(["serve"]) == 2
    assert "SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET" in capsys.readouterr().err


def test_serve_refuses_an_unmigrated_database(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["serve"]) == 2
    assert "Run `incidentbot migrate` first" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sandbox_migrate_and_serve_as_processes(tmp_path):
    """The production path: gunicorn serving the bot, the sandbox as its own process."""
    from incidentbot.sandbox.client import SandboxClient
    from incidentbot.sandbox.driver import SlackDriver

    sandbox = subprocess.Popen([*EXE, "sandbox", "--port", "0"], stdout=subprocess.PIPE, text=True)
    bot = None
    try:
        api_url = sandbox.stdout.readline().strip()
        assert api_url.startswith("http://127.0.0.1:") and api_url.endswith("/api/")
        env = {**os.environ, "SLACK_API_URL": api_url, "SLACK_BOT_TOKEN": "xoxb-sandbox",
               "SLACK_SIGNING_SECRET": "cli-test-secret", "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
               "LOG_LEVEL": "WARNING"}
        env.pop("INCIDENTBOT_CONFIG", None)
        subprocess.run([*EXE, "migrate"], env=env, check=True, capture_output=True)
        port = _free_port()
        bot = subprocess.Popen([*EXE, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env)
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _healthy(base), "gunicorn to answer /healthz")

        slack = SandboxClient(api_url.removesuffix("api/"))
        driver = SlackDriver(f"{base}/slack/events", "cli-test-secret", slack)
        ack = driver.slash_command("Payments timing out sev1", user=ALICE, channel=GENERAL)
        assert ack.status == 200 and ack.json["text"].startswith("Declaring INC-1")
        channel = wait_for(lambda: next((c for c in slack.channels()
                                         if c["name"].endswith("-payments-timing-out") and c["pins"]), None),
                           "the incident channel with its pinned card")
        assert ALICE in channel["members"] and channel["pins"]
    finally:
        for process in (bot, sandbox):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_migrate_creates_the_schema(tmp_path, monkeypatch, capsys):
    database = tmp_path / "m.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    assert main(["migrate"]) == 0
    assert database.exists() and "head" in capsys.readouterr().out

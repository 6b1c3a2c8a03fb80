import pytest

from incidentbot.cli import main
from incidentbot.errors import ConfigError
from incidentbot.webserver import MAX_DEFAULT_WORKERS, default_workers, env_int


def test_workers_follow_web_concurrency(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert default_workers() == 3


def test_workers_default_to_one_per_core_up_to_four(monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert default_workers() == 2
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert default_workers() == MAX_DEFAULT_WORKERS
    monkeypatch.setattr("os.cpu_count", lambda: None)  # unknown: one
    assert default_workers() == 1


@pytest.mark.parametrize("raw", ["two", "0", "-1", "1.5"])
def test_a_bad_number_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv("WEB_CONCURRENCY", raw)
    with pytest.raises(ConfigError, match=f"WEB_CONCURRENCY must be a positive whole number \\(got '{raw}'\\)"):
        default_workers()


def test_unset_or_empty_gives_the_default(monkeypatch):
    monkeypatch.setenv("PORT", " ")
    assert env_int("PORT", 3000) == 3000
    monkeypatch.delenv("PORT")
    assert env_int("PORT", 3000) == 3000


def test_serve_refuses_a_bad_port_before_starting(monkeypatch, capsys):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("PORT", "http")
    assert main(["serve"]) == 2
    assert "PORT must be a positive whole number (got 'http')" in capsys.readouterr().err


def test_help_works_whatever_the_environment_says(monkeypatch, capsys):
    monkeypatch.setenv("PORT", "http")
    monkeypatch.setenv("WEB_CONCURRENCY", "many")
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--help"])
    assert exit_.value.code == 0 and "one per core up to 4" in capsys.readouterr().out

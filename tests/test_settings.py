"""Environment settings: parsing, normalisation, errors that name the variable, secrecy."""

from __future__ import annotations

import logging

import pytest

from incidentbot.errors import ConfigError
from incidentbot.settings import Settings, load_settings, redact_url, require

ENV_VARS = [name.upper() for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    # The developer's or CI's own environment must not leak into these tests.
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def test_defaults_without_environment():
    settings = load_settings()
    assert settings.slack_bot_token is None and settings.slack_app_token is None
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.database_url == "sqlite:///./incidentbot.db"
    assert settings.incidentbot_config is None
    assert settings.openai_model == "gpt-4o-mini"
    assert settings.log_level == "INFO" and settings.log_level_number == logging.INFO


def test_reads_every_variable_from_the_environment(monkeypatch, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text("", encoding="utf-8")
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1-abc",
        "SLACK_SIGNING_SECRET": "s3cret",
        "SLACK_APP_TOKEN": "xapp-1-abc",
        "SLACK_API_URL": "http://127.0.0.1:8123/api/",
        "DATABASE_URL": "sqlite:////var/lib/incidentbot.db",
        "INCIDENTBOT_CONFIG": str(policy),
        "OPENAI_API_KEY": "sk-abc",
        "OPENAI_BASE_URL": "http://127.0.0.1:9000/v1",
        "OPENAI_MODEL": "llama3",
        "LOG_LEVEL": "debug",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.slack_bot_token.get_secret_value() == "xoxb-1-abc"
    assert settings.slack_signing_secret.get_secret_value() == "s3cret"
    assert settings.slack_app_token.get_secret_value() == "xapp-1-abc"
    assert settings.slack_api_url == "http://127.0.0.1:8123/api/"
    assert settings.database_url == "sqlite:////var/lib/incidentbot.db"
    assert settings.incidentbot_config == policy
    assert settings.openai_api_key.get_secret_value() == "sk-abc"
    assert settings.openai_base_url == "http://127.0.0.1:9000/v1"
    assert settings.openai_model == "llama3"
    assert settings.log_level == "DEBUG"


def test_variable_names_are_case_insensitive(monkeypatch):
    monkeypatch.setenv("openai_model", "small")
    assert load_settings().openai_model == "small"


def test_overrides_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_MODEL", "from-env")
    assert load_settings(openai_model="from-override").openai_model == "from-override"


def test_empty_optional_variables_count_as_unset(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "")
    monkeypatch.setenv("OPENAI_BASE_URL", " ")
    settings = load_settings()
    assert settings.slack_bot_token is None and settings.openai_base_url is None


@pytest.mark.parametrize("given, expected", [
    ("https://slack.com/api", "https://slack.com/api/"),
    ("http://localhost:3000/api/", "http://localhost:3000/api/"),
    (" http://127.0.0.1:8080 ", "http://127.0.0.1:8080/"),
])
def test_slack_api_url_ends_with_a_slash(monkeypatch, given, expected):
    monkeypatch.setenv("SLACK_API_URL", given)
    assert load_settings().slack_api_url == expected


@pytest.mark.parametrize("given, expected", [
    ("postgres://bot:pw@db:5432/incidents", "postgresql+psycopg://bot:pw@db:5432/incidents"),
    ("postgresql://bot:pw@db/incidents", "postgresql+psycopg://bot:pw@db/incidents"),
    ("postgresql+psycopg2://db/incidents", "postgresql+psycopg://db/incidents"),
    ("postgresql+psycopg://db/incidents", "postgresql+psycopg://db/incidents"),
    ("sqlite:///./incidentbot.db", "sqlite:///./incidentbot.db"),
    ("sqlite://", "sqlite://"),
])
def test_database_url_is_normalised_to_psycopg3(monkeypatch, given, expected):
    monkeypatch.setenv("DATABASE_URL", given)
    assert load_settings().database_url == expected


@pytest.mark.parametrize("var, value, expected", [
    ("SLACK_API_URL", "ftp://x", "SLACK_API_URL: must be an http(s) URL, got 'ftp://x'"),
    ("SLACK_API_URL", "slack.com/api", "SLACK_API_URL: must be an http(s) URL, got 'slack.com/api'"),
    ("OPENAI_BASE_URL", "localhost:9000", "OPENAI_BASE_URL: must be an http(s) URL, got 'localhost:9000'"),
    ("DATABASE_URL", "mysql://u:hunter2@h/db",
     "DATABASE_URL: must be a sqlite:/// or postgresql:// URL, got 'mysql://u:***@h/db'"),
    ("LOG_LEVEL", "loud", "LOG_LEVEL: must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG, got 'loud'"),
    ("SLACK_BOT_TOKEN", "xoxp-user-token", "SLACK_BOT_TOKEN: must be a bot token starting with 'xoxb-'"),
    ("SLACK_APP_TOKEN", "xoxb-not-an-app-token", "SLACK_APP_TOKEN: must be an app-level token starting with 'xapp-'"),
])
def test_bad_values_name_the_variable(monkeypatch, var, value, expected):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert expected in str(caught.value)


def test_bad_token_values_are_never_echoed(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxp-TOPSECRET")
    monkeypatch.setenv("SLACK_APP_TOKEN", "TOPSECRET2")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "TOPSECRET" not in str(caught.value)
    assert "SLACK_BOT_TOKEN" in str(caught.value) and "SLACK_APP_TOKEN" in str(caught.value)
    # Even the raw pydantic error (Settings() used directly) hides the input.
    with pytest.raises(Exception) as raw:
        Settings()
    assert "TOPSECRET" not in str(raw.value)


def test_every_bad_variable_is_reported(monkeypatch):
    monkeypatch.setenv("SLACK_API_URL", "nope")
    monkeypatch.setenv("LOG_LEVEL", "nope")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    lines = str(caught.value).splitlines()
    assert [line.split(":")[0] for line in lines] == ["SLACK_API_URL", "LOG_LEVEL"]


def test_missing_policy_file_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("INCIDENTBOT_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match=r"^INCIDENTBOT_CONFIG: no such file: '.*missing\.toml'"):
        load_settings()


def test_secrets_do_not_appear_in_repr_or_str(monkeypatch):
    secrets = {
        "SLACK_BOT_TOKEN": "xoxb-SECRET-1",
        "SLACK_SIGNING_SECRET": "SECRET-2",
        "SLACK_APP_TOKEN": "xapp-SECRET-3",
        "OPENAI_API_KEY": "sk-SECRET-4",
        "DATABASE_URL": "postgres://bot:SECRET-5@db/incidents",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    for text in (repr(settings), str(settings), f"{settings!r}"):
        assert "SECRET" not in text
    assert "postgresql+psycopg://bot:***@db/incidents" in repr(settings)
    # The real value is still there for the code that needs it.
    assert "SECRET-5" in settings.database_url


def test_redact_url():
    assert redact_url("postgresql+psycopg://u:p%40ss@h:5432/db") == "postgresql+psycopg://u:***@h:5432/db"
    assert redact_url("postgresql://h:5432/db") == "postgresql://h:5432/db"
    assert redact_url("sqlite:///./x.db") == "sqlite:///./x.db"


def test_require_lists_the_missing_variables(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    settings = load_settings()
    require(settings, "slack_bot_token", for_what="incidentbot serve")
    with pytest.raises(ConfigError) as caught:
        require(settings, "slack_bot_token", "slack_signing_secret", "slack_app_token", for_what="incidentbot run")
    assert str(caught.value) == "incidentbot run needs SLACK_SIGNING_SECRET, SLACK_APP_TOKEN (not set)"


def test_require_matches_the_documented_example():
    with pytest.raises(ConfigError) as caught:
        require(load_settings(), "slack_bot_token", "slack_signing_secret", for_what="incidentbot serve")
    assert str(caught.value) == "incidentbot serve needs SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET (not set)"


def test_require_rejects_unknown_setting_names():
    with pytest.raises(ValueError, match="unknown setting 'slack_token'"):
        require(load_settings(), "slack_token", for_what="x")

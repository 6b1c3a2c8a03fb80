"""Secrets and endpoints, read from environment variables (12-factor).

Organisation rules (severities, services, schedules) are not here: they live in the
policy TOML (``incidentbot.core.policy``); ``INCIDENTBOT_CONFIG`` only says where it is.
Every error names the environment variable, and secret values are never echoed.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from incidentbot.errors import ConfigError

_SECRETS = ("slack_bot_token", "slack_signing_secret", "slack_app_token", "openai_api_key")
_OPTIONAL = (*_SECRETS, "incidentbot_config", "openai_base_url")
# Issue trackers that action items can be exported to (``incidentbot.trackers``).
TRACKERS = ("github", "jira")
_TRACKER_OPTIONAL = ("incidentbot_tracker", "github_token", "github_repository", "jira_url", "jira_user",
                     "jira_api_token", "jira_project")
_GITHUB_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_JIRA_PROJECT = re.compile(r"[A-Z][A-Z0-9_]{0,99}")
# Driver prefixes rewritten so SQLAlchemy uses psycopg 3 (the installed driver) instead of
# its default psycopg2; hosting platforms commonly hand out plain postgres:// URLs.
_POSTGRES_PREFIXES = ("postgres://", "postgresql://", "postgresql+psycopg2://")
_PASSWORD_IN_URL = re.compile(r"(://[^:/@]*:)[^@]*@")


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe to log)."""
    return _PASSWORD_IN_URL.sub(r"\1***@", url)


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) URL, got {redact_url(value)!r}")
    return value


class Settings(BaseSettings):
    """Environment configuration. Build it with ``load_settings()`` for readable errors."""

    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", env_file=None,
        # A ValidationError raised outside load_settings() must not print token values either.
        hide_input_in_errors=True,
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    # How long one Web API call may take after the ack (the calls made before the ack
    # have their own 2 s limit). A call that times out may still have happened.
    slack_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    database_url: str = "sqlite:///./incidentbot.db"
    incidentbot_config: Path | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    log_level: str = "INFO"
    # Export of action items to an issue tracker (docs/trackers.md); unset: no export.
    incidentbot_tracker: str | None = None
    github_token: SecretStr | None = None
    github_repository: str | None = None  # "owner/name"
    github_api_url: str = "https://api.github.com"
    jira_url: str | None = None
    jira_user: str | None = None  # the account's email address
    jira_api_token: SecretStr | None = None
    jira_project: str | None = None  # project key, e.g. "OPS"
    jira_issue_type: str = "Task"

    @field_validator(*_OPTIONAL, *_TRACKER_OPTIONAL, mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # docker-compose and .env templates often leave "FOO=" for unused settings.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with 'xoxb-' (value not shown)")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with 'xapp-' (value not shown)")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _slack_api_url(cls, value: str) -> str:
        # slack_sdk joins method names onto base_url, so it must end with "/".
        value = _check_http_url(value.strip())
        return value if value.endswith("/") else value + "/"

    @field_validator("openai_base_url")
    @classmethod
    def _openai_base_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_http_url(value.strip())

    @field_validator("incidentbot_tracker")
    @classmethod
    def _tracker(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = value.strip().lower()
        if name not in TRACKERS:
            raise ValueError(f"must be one of {', '.join(TRACKERS)} (or unset for no export), got {value!r}")
        return name

    @field_validator("github_repository")
    @classmethod
    def _github_repository(cls, value: str | None) -> str | None:
        if value is not None and not _GITHUB_REPOSITORY.fullmatch(value.strip()):
            raise ValueError(f"must be owner/name, e.g. 'acme/reliability', got {value!r}")
        return None if value is None else value.strip()

    @field_validator("github_api_url", "jira_url")
    @classmethod
    def _tracker_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_http_url(value.strip()).rstrip("/")

    @field_validator("jira_project")
    @classmethod
    def _jira_project(cls, value: str | None) -> str | None:
        if value is not None and not _JIRA_PROJECT.fullmatch(value.strip().upper()):
            raise ValueError(f"must be a Jira project key such as 'OPS', got {value!r}")
        return None if value is None else value.strip().upper()

    @field_validator("jira_issue_type")
    @classmethod
    def _jira_issue_type(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name an issue type of the project, e.g. 'Task'")
        return value.strip()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        value = value.strip()
        for prefix in _POSTGRES_PREFIXES:
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value.removeprefix(prefix)
        if value.startswith(("postgresql+psycopg://", "sqlite://")):
            return value
        raise ValueError(f"must be a sqlite:/// or postgresql:// URL, got {redact_url(value)!r}")

    @field_validator("incidentbot_config")
    @classmethod
    def _config_file(cls, value: Path | None) -> Path | None:
        # Checked here so the error names the variable rather than only the path.
        if value is not None and not value.expanduser().is_file():
            raise ValueError(f"no such file: {str(value)!r}")
        return None if value is None else value.expanduser()

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError(f"must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG, got {value!r}")
        return level

    @property
    def log_level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level]

    def __repr_args__(self) -> Any:
        # SecretStr hides the tokens; the database URL may carry a password too.
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "database_url" else value


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return field.upper()


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (``overrides`` win); raise ConfigError naming each bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(error) for error in exc.errors())) from None


def _describe(error: dict[str, Any]) -> str:
    field = str(error["loc"][0]) if error["loc"] else ""
    message = error["msg"].removeprefix("Value error, ")
    message = re.sub(r"^Input should ", "must ", message)
    # Our own messages already show the (redacted) value where that is safe; pydantic's
    # own messages never do, so secrets cannot leak through this path.
    return f"{env_name(field)}: {message}"


def require(settings: Settings, *names: str, for_what: str) -> None:
    """Raise ConfigError listing the env vars among ``names`` that are not set."""
    missing = []
    for name in names:
        if name not in Settings.model_fields:
            raise ValueError(f"unknown setting {name!r}")
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is None or value == "":
            missing.append(env_name(name))
    if missing:
        raise ConfigError(f"{for_what} needs {', '.join(missing)} (not set)")


def require_tracker(settings: Settings) -> str | None:
    """The tracker action items are exported to (None: no export); ConfigError naming
    every variable the selected tracker still needs."""
    needs = {"github": ("github_token", "github_repository"),
             "jira": ("jira_url", "jira_user", "jira_api_token", "jira_project")}
    name = settings.incidentbot_tracker
    if name is not None:
        require(settings, *needs[name], for_what=f"INCIDENTBOT_TRACKER={name}")
    return name

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

from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from incidentbot.errors import ConfigError

_SECRETS = ("slack_bot_token", "slack_signing_secret", "slack_app_token", "openai_api_key")
_OPTIONAL = (*_SECRETS, "incidentbot_config", "openai_base_url")
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
    database_url: str = "sqlite:///./incidentbot.db"
    incidentbot_config: Path | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    log_level: str = "INFO"

    @field_validator(*_OPTIONAL, mode="before")
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

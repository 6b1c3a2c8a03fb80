"""The bot running against the sandbox Slack on loopback, for the demo and benchmarks.

One place that starts the sandbox, migrates a database (a temporary SQLite file unless
one is given), serves the bot's real WSGI app on loopback and hands back a signing
driver; everything is stopped when the block ends.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from incidentbot.core.policy import Policy, load_policy
from incidentbot.db import make_engine, migrate
from incidentbot.sandbox.constants import TRIGGER_LIFETIME_SECONDS
from incidentbot.sandbox.client import SandboxClient
from incidentbot.sandbox.driver import SlackDriver
from incidentbot.sandbox.server import SandboxServer
from incidentbot.settings import Settings, load_settings
from incidentbot.web import LocalServer, create_wsgi_app


@dataclass
class SandboxedBot:
    settings: Settings
    policy: Policy
    engine: Engine
    slack: SandboxClient
    driver: SlackDriver


@contextmanager
def bot_on_sandbox(database_url: str | None = None, *, trigger_lifetime: float = TRIGGER_LIFETIME_SECONDS,
                   **settings: str) -> Iterator[SandboxedBot]:
    """``settings`` are extra Settings values (e.g. ``log_level="WARNING"``); ``trigger_lifetime``
    is how long the sandbox accepts a trigger_id (Slack: 3 s)."""
    with (tempfile.TemporaryDirectory(prefix="incidentbot-") as tmp,
          SandboxServer(trigger_lifetime=trigger_lifetime) as sandbox):
        url = database_url or f"sqlite:///{Path(tmp) / 'incidentbot.db'}"
        migrate(url)
        config = load_settings(slack_bot_token="xoxb-sandbox", slack_signing_secret=secrets.token_hex(16),
                               slack_api_url=sandbox.api_url, database_url=url, **settings)
        policy = load_policy(config.incidentbot_config)
        engine = make_engine(url)
        server = LocalServer(create_wsgi_app(config, policy=policy, engine=engine)).start()
        try:
            slack = SandboxClient(sandbox.url)
            driver = SlackDriver(f"{server.url}/slack/events", config.slack_signing_secret.get_secret_value(), slack)
            yield SandboxedBot(config, policy, engine, slack, driver)
        finally:
            server.stop()
            engine.dispose()

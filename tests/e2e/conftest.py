"""End to end: the driver signs Slack requests → the bot's real HTTP endpoint →
the sandbox Slack Web API; assertions read the sandbox's state and the database.
Runs on SQLite and PostgreSQL (the ``database_url`` fixture)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from incidentbot.core.policy import Policy, load_policy
from incidentbot.db import make_engine, migrate
from incidentbot.models import Incident
from incidentbot.sandbox.client import SandboxClient
from incidentbot.sandbox.driver import SlackDriver
from incidentbot.sandbox.server import SandboxServer
from incidentbot.settings import Settings, load_settings
from incidentbot.slack.app import build_deps
from incidentbot.slack.deps import Deps
from incidentbot.web import LocalServer, create_wsgi_app
from tests_support import E2E_TRIGGER_LIFETIME, wait_for

@dataclass
class Bot:
    url: str
    settings: Settings
    policy: Policy
    engine: Engine
    slack: SandboxClient
    driver: SlackDriver

    def incidents(self) -> list[Incident]:
        with Session(self.engine) as session:
            return list(session.exec(select(Incident).order_by(Incident.number)))

    def incident(self, number: int) -> Incident:
        with Session(self.engine) as session:
            return session.exec(select(Incident).where(Incident.number == number)).one()

    def wait_provisioned(self, number: int) -> Incident:
        def probe():
            found = [i for i in self.incidents() if i.number == number and i.provisioned_at]
            return found[0] if found else None
        return wait_for(probe, f"INC-{number} to be provisioned")

    def replies(self, user: str) -> list[dict]:
        """Everything sent to ``user`` privately: response_url replies, ephemerals, DMs."""
        return self.slack.private_replies(user)

    def deps(self) -> Deps:
        return build_deps(self.settings, policy=self.policy, engine=self.engine)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(trigger_lifetime=E2E_TRIGGER_LIFETIME) as server:
        yield server


@pytest.fixture
def make_bot(sandbox: SandboxServer, database_url: str) -> Iterator[Callable[..., Bot]]:
    """Start the bot (its WSGI app on loopback) against the sandbox and a migrated database."""
    migrate(database_url)
    started: list[tuple[LocalServer, Engine]] = []

    def start(policy: Policy | None = None) -> Bot:
        settings = load_settings(
            slack_bot_token="xoxb-sandbox",
            slack_signing_secret=secrets.token_hex(16),
            slack_api_url=sandbox.api_url,
            database_url=database_url,
        )
        policy = policy or load_policy()
        engine = make_engine(database_url)
        server = LocalServer(create_wsgi_app(settings, policy=policy, engine=engine)).start()
        started.append((server, engine))
        client = SandboxClient(sandbox.url)
        driver = SlackDriver(f"{server.url}/slack/events", settings.slack_signing_secret.get_secret_value(), client)
        return Bot(server.url, settings, policy, engine, client, driver)

    yield start
    for server, engine in started:
        server.stop()
        engine.dispose()


@pytest.fixture
def bot(make_bot) -> Bot:
    return make_bot()

"""A sandbox Slack for tests and `incidentbot demo`: a stateful fake Web API server on
loopback (`SandboxServer`), a client for its inspection endpoints (`SandboxClient`) and a
driver that sends signed Slack requests to the bot's HTTP endpoint (`SlackDriver`).
"""

from incidentbot.sandbox.client import SandboxClient, SandboxError
from incidentbot.sandbox.constants import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    DEFAULT_TOKEN,
    GENERAL_ID,
    INCIDENTS_ID,
    TEAM_DOMAIN,
    TEAM_ID,
)
from incidentbot.sandbox.driver import DriverResponse, SlackDriver
from incidentbot.sandbox.server import SandboxServer
from incidentbot.sandbox.state import SandboxState, SlackError

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "DEFAULT_TOKEN",
    "GENERAL_ID",
    "INCIDENTS_ID",
    "TEAM_DOMAIN",
    "TEAM_ID",
    "DriverResponse",
    "SandboxClient",
    "SandboxError",
    "SandboxServer",
    "SandboxState",
    "SlackDriver",
    "SlackError",
]

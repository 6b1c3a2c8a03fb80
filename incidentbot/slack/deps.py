"""What listeners need, handed to them through Bolt's request context.

``create_app`` puts one ``Deps`` into every request's ``context["deps"]``, so the
listener functions stay plain module-level functions with no globals.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from incidentbot.core.policy import Policy
from incidentbot.settings import Settings
from incidentbot.slack.gateway import SlackGateway


@dataclass
class Deps:
    settings: Settings
    policy: Policy
    engine: Engine
    gateway: SlackGateway

"""Building the Bolt app. Nothing is created at import time: call ``create_app``."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from sqlalchemy.engine import Engine

from incidentbot.core.policy import Policy, load_policy
from incidentbot.db import make_engine
from incidentbot.settings import Settings, require
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackGateway, make_client
from incidentbot.slack.listeners import action_items as action_item_listeners
from incidentbot.slack.listeners import fallbacks, register_all

log = logging.getLogger(__name__)

# Bolt runs every listener in this pool, the part before ack() included, and the work
# after ack() (channel setup, card updates, drafts) keeps its thread while it waits on
# Slack. Bolt's default of 5 threads let five slow follow-ups hold back every other
# command's ack past Slack's 3 s (benchmarks/ack_load.py, docs/performance.md). Idle
# threads cost little: the pool only starts them when needed.
LISTENER_THREADS = 64


def create_app(
    settings: Settings, *, policy: Policy | None = None, engine: Engine | None = None, deps: Deps | None = None
) -> App:
    """The Slack app with its client, database engine and listeners.

    ``policy``, ``engine`` or whole ``deps`` may be passed in (tests, the demo, the
    WSGI app that shares its engine with /healthz, ``run`` that shares them with the
    scheduler); otherwise they come from ``settings``.
    """
    require(settings, "slack_bot_token", "slack_signing_secret", for_what="the Slack app")
    deps = deps or build_deps(settings, policy=policy, engine=engine)
    app = App(
        client=deps.gateway.client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        # Listeners call ack() first and then keep working; Bolt answers Slack as
        # soon as ack() is called (DESIGN.md: the 3-second rule).
        process_before_response=False,
        # Only events we have listeners for are subscribed in app-manifest.yml.
        raise_error_for_unhandled_request=False,
        # The bot's own posts (card, updates, change lines) are part of the incident's
        # record, so its own message events are captured like everyone else's.
        ignoring_self_events_enabled=False,
        listener_executor=ThreadPoolExecutor(LISTENER_THREADS, thread_name_prefix="incidentbot-listener"),
    )

    def inject_deps(context, next):  # noqa: A002  (Bolt's middleware signature)
        context["deps"] = deps
        next()

    app.use(inject_deps)
    register_all(app)
    action_item_listeners.register(app)  # /incident action(s), the form, shortcut, backlog and proposal buttons
    fallbacks.register(app)  # last: Bolt gives a request to the first listener that matches
    return app


def build_deps(settings: Settings, *, policy: Policy | None = None, engine: Engine | None = None) -> Deps:
    require(settings, "slack_bot_token", for_what="talking to Slack")
    token = settings.slack_bot_token.get_secret_value()
    client = make_client(token, settings.slack_api_url, timeout=settings.slack_timeout_seconds)
    fast = make_client(token, settings.slack_api_url, timeout=2, retries=False)
    return Deps(
        settings=settings,
        policy=policy or load_policy(settings.incidentbot_config),
        engine=engine or make_engine(settings.database_url),
        gateway=SlackGateway(client, fast),
    )

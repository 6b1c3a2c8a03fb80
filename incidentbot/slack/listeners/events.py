"""Events API listeners. Bolt acknowledges events itself, before the listener runs."""

from __future__ import annotations

import logging

from slack_bolt import App

from incidentbot.core import deliveries
from incidentbot.db import session_scope
from incidentbot.slack import capture, home
from incidentbot.slack.deps import Deps

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.event("app_home_opened")(refresh_home)
    # Every subtype (edits, deletions, joins, bot posts) comes through "message".
    app.event("message")(record_message)
    app.event("pin_added")(capture_pinned_message)
    app.event("reaction_added")(capture_reacted_message)


def record_message(body: dict, event: dict, context: dict) -> None:
    """Store a message posted (edited, deleted) in an incident channel."""
    capture.on_message(context["deps"], body, event)


def capture_pinned_message(body: dict, event: dict, context: dict) -> None:
    """A pinned message in an incident channel goes on the timeline."""
    capture.on_pin(context["deps"], body, event)


def capture_reacted_message(body: dict, event: dict, context: dict) -> None:
    """A message reacted to with the policy's capture emoji goes on the timeline."""
    capture.on_reaction(context["deps"], body, event)


def refresh_home(body: dict, event: dict, context: dict) -> None:
    """Publish a fresh App Home when someone opens its Home tab (not its Messages tab)."""
    if event.get("tab") != "home":
        return
    deps: Deps = context["deps"]
    # Slack delivers at least once (retries after ~3 s, 1 min, 5 min); publishing once
    # per delivery keeps views.publish (a rate-limited method) from being spent on retries.
    event_id = body.get("event_id")
    if event_id:
        with session_scope(deps.engine) as session:
            if not deliveries.claim(session, f"event:{event_id}", "app_home_opened"):
                log.debug("app_home_opened %s already handled", event_id)
                return
    home.publish_home(deps, event["user"])

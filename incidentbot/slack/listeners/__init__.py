"""Bolt listeners, grouped by the kind of Slack request they answer."""

from __future__ import annotations

from slack_bolt import App

from incidentbot.slack.listeners import actions, commands, errors, events, postmortems, shortcuts, views
from incidentbot.slack.listeners import backlog as backlog_listeners  # App Home action items, /incident backlog


def register_all(app: App) -> None:
    commands.register(app)
    actions.register(app)
    views.register(app)
    shortcuts.register(app)
    postmortems.register(app)
    backlog_listeners.register(app)
    events.register(app)
    errors.register(app)

"""Bolt listeners, grouped by the kind of Slack request they answer."""

from __future__ import annotations

from slack_bolt import App

from incidentbot.slack.listeners import commands, errors, views


def register_all(app: App) -> None:
    commands.register(app)
    views.register(app)
    errors.register(app)

"""Identifiers of the sandbox workspace, shared by the server, the driver and tests."""

TEAM_ID = "T0SANDBOX"
TEAM_DOMAIN = "sandbox"
TEAM_NAME = "Sandbox"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
BOT_NAME = "incidentbot"
APP_ID = "A0INCIDENTBOT"
GENERAL_ID = "C0GENERAL"
INCIDENTS_ID = "C0INCIDENTS"
DIGEST_ID = "C0DIGEST"
DEFAULT_TOKEN = "xoxb-sandbox"

# Slack lets a trigger_id be exchanged once, within three seconds of the interaction.
TRIGGER_LIFETIME_SECONDS = 3.0

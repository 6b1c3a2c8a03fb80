"""Import a channel of a Slack export as an incident (``incidentbot import slack-export``).

Teams backfill past incidents from a standard Slack workspace export. ``inference``
reads the history (no database, no Slack); ``store`` writes it as an incident.
"""

from incidentbot.importing.inference import (
    INFERRED, Evidence, ImportFailed, ImportResult, Inference, infer, request_key,
)
from incidentbot.importing.store import import_channel

__all__ = ["INFERRED", "Evidence", "ImportFailed", "ImportResult", "Inference", "import_channel", "infer", "request_key"]

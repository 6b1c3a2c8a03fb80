"""The one place unexpected errors end up: logged, and answered politely."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_bolt.response import BoltResponse

from incidentbot.core.errors import DomainError

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.error(report_error)


def report_error(error: Exception, body: dict, respond=None) -> BoltResponse | None:
    if isinstance(error, DomainError):
        message = str(error)
    else:
        log.error("unhandled error in a Slack listener", exc_info=error)
        message = "Something went wrong on my side and I could not finish that. It is logged; please try again."
    if respond is not None and (body or {}).get("response_url"):
        try:
            respond(text=message, response_type="ephemeral", replace_original=False)
        except Exception:  # the reply is best effort; the error is already logged
            log.warning("could not tell the user about an error", exc_info=True)
    return None

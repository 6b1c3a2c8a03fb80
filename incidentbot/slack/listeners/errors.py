"""The one place unexpected errors end up: logged, and answered politely.

Nothing here answers Slack with a 500: Slack would show the person a bare failure
(and count it against the app). A request not acknowledged yet is answered in the
acknowledgement itself; after the acknowledgement, through its ``response_url``.

A database that cannot be reached (down, restarting, failing over) is not a bug and
gets its own answer. Events are held back while it lasts: Slack delivers them again
later (docs/operations.md, "Database outage").
"""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_bolt.response import BoltResponse

from incidentbot import db
from incidentbot.core.errors import DomainError
from incidentbot.slack.blocks import DATABASE_DOWN, DATABASE_LOST

log = logging.getLogger(__name__)

SOMETHING_WENT_WRONG = "Something went wrong on my side and I could not finish that. It is logged; please try again."


def register(app: App) -> None:
    app.use(hold_events_while_database_down)
    app.error(report_error)


def hold_events_while_database_down(body: dict, context: dict, next) -> BoltResponse | None:  # noqa: A002
    """Answer an event 503 when the database does not answer, so that Slack delivers it
    again (at once, after a minute, after five) instead of it being acknowledged and lost.

    Bolt acknowledges events before their listener runs, so this is the last moment
    an event can still be refused. Deliveries are claimed by event id, so a retry of
    one that was stored after all changes nothing.
    """
    if (body or {}).get("type") == "event_callback" and not db.answers(context["deps"].engine):
        log.warning("event %s (%s) refused with 503: the database is unavailable; Slack will retry",
                    body.get("event_id"), (body.get("event") or {}).get("type"))
        return BoltResponse(status=503, body={"ok": False, "error": "database_unavailable"})
    return next()


def report_error(error: Exception, body: dict, respond=None, response: BoltResponse | None = None) -> BoltResponse | None:
    """Bolt's error handler. ``response`` is None once the listener has acknowledged."""
    body = body or {}
    if body.get("type") == "event_callback":
        _log(error, "an event listener")  # acknowledged before the listener ran: nobody to answer
        return None
    acknowledged = response is None
    message = _message(error, acknowledged)
    if acknowledged:
        tell(respond, body, message)
        return None
    return _answer_in_ack(body, message, respond)


def tell(respond, body: dict, message: str) -> None:
    """Say ``message`` privately through the request's response_url, when it has one."""
    if respond is None or not (body or {}).get("response_url"):
        return
    try:
        respond(text=message, response_type="ephemeral", replace_original=False)
    except Exception:  # the reply is best effort; the error is already logged
        log.warning("could not tell the user about an error", exc_info=True)


def _message(error: Exception, acknowledged: bool) -> str:
    if isinstance(error, DomainError):
        return str(error)
    _log(error, "a Slack listener")
    if db.unavailable(error):
        return DATABASE_LOST if acknowledged else DATABASE_DOWN
    return SOMETHING_WENT_WRONG


def _log(error: Exception, where: str) -> None:
    if db.unavailable(error):
        log.warning("%s stopped: the database is unavailable (%s)", where, db.describe(error))
    elif not isinstance(error, DomainError):
        log.error("unhandled error in %s", where, exc_info=error)


def _answer_in_ack(body: dict, message: str, respond) -> BoltResponse:
    """The acknowledgement Slack shows: the text for a slash command, the message under a
    field of a form (which stays open with what was typed), else an empty one plus a
    private reply."""
    if body.get("command"):
        return BoltResponse(status=200, body={"response_type": "ephemeral", "text": message})
    if body.get("type") == "view_submission":
        field = _first_field((body.get("view") or {}).get("blocks") or [])
        if field:
            return BoltResponse(status=200, body={"response_action": "errors", "errors": {field: message}})
        return BoltResponse(status=200, body="")
    tell(respond, body, message)
    return BoltResponse(status=200, body="")


def _first_field(blocks: list[dict]) -> str | None:
    """The block id of the form's first text field (what people type), else its first input."""
    inputs = [b for b in blocks if b.get("type") == "input" and b.get("block_id")]
    typed = [b for b in inputs if (b.get("element") or {}).get("type") == "plain_text_input"]
    return (typed or inputs or [{}])[0].get("block_id")

"""Requests no other listener takes: events the bot does not use, and buttons, shortcuts
and forms that an older version of the app put in front of people.

Bolt answers those 404. Slack counts a non-2xx answer to an event as a failed delivery:
it delivers the event three more times, and turns event delivery off for an app that
fails more than a few percent of them for an hour. Some requests come without being
subscribed to (``app_rate_limited``), and an admin may subscribe the app to more events
than the manifest does. A 404 to a click shows the person a warning sign and nothing
else. So these are registered last and answer 200; a person who clicked or submitted is
told what to do.
"""

from __future__ import annotations

import logging
import re

from slack_bolt import Ack, App, Respond
from slack_bolt.response import BoltResponse

from incidentbot.slack import ids
from incidentbot.slack.blocks import plain, section

log = logging.getLogger(__name__)

ANY = re.compile(".*")
STALE = ("That button or shortcut is from an older version of incidentbot and does nothing now. "
         "Type `/incident help` to see what you can do.")
STALE_FORM = ("This form is from an older version of incidentbot and can't be submitted any more. "
              "Close it and open it again; `/incident help` lists the commands.")


def register(app: App) -> None:
    """Call after every other listener: Bolt gives a request to the first that matches."""
    app.use(note_rate_limit)
    app.event(ANY)(ignore_event)
    app.action(ANY, matchers=[not_ours])(stale_click)
    app.shortcut(ANY, matchers=[not_ours])(stale_click)
    app.view(ANY, matchers=[not_ours])(stale_form)


# Every action, shortcut and form id the current listeners take (they all come from ids).
_OURS = frozenset(value for name, value in vars(ids).items() if name.isupper() and isinstance(value, str))


def not_ours(body: dict) -> bool:
    """Whether no current listener takes the request. Without this a click whose own
    listener acked after Slack's 3 s would come here too: Bolt then tries the next
    listener that matches, and the person would be told the button is stale."""
    return _what(body) not in _OURS


def note_rate_limit(body: dict, next) -> BoltResponse | None:  # noqa: A002  (Bolt's middleware signature)
    """``app_rate_limited`` is a request of its own, not an event with a type: the workspace
    sent the app more than 30,000 events in an hour, and Slack drops some for a while."""
    if (body or {}).get("type") != "app_rate_limited":
        return next()
    log.warning("Slack is dropping events for this app since %s (app_rate_limited); channel messages "
                "missing from incident timelines are fetched by the backfill", body.get("minute_rate_limited"))
    return BoltResponse(status=200, body="")


def ignore_event(event: dict) -> None:
    """Bolt has answered 200 already."""
    log.info("ignored a %s event: nothing in incidentbot uses it (app-manifest.yml does not subscribe to it)",
             event.get("type"))


def stale_click(ack: Ack, body: dict, respond: Respond) -> None:
    ack()
    log.info("a %s for %s that no listener takes: from an older version of the app", body.get("type"),
             _what(body))
    if body.get("response_url"):
        respond(text=STALE, response_type="ephemeral", replace_original=False)


def stale_form(ack: Ack, body: dict) -> None:
    log.info("a submitted form %s that no listener takes: from an older version of the app", _what(body))
    ack(response_action="update", view={
        "type": "modal",
        "title": plain("incidentbot"),
        "close": plain("Close"),
        "blocks": [section(STALE_FORM)],
    })


def _what(body: dict) -> str:
    """The id a listener would be registered for: action, shortcut or form."""
    actions = body.get("actions") or [{}]
    return str(actions[0].get("action_id") or body.get("callback_id")
               or (body.get("view") or {}).get("callback_id") or "?")

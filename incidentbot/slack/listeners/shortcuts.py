"""Message shortcuts."""

from __future__ import annotations

from slack_bolt import Ack, App, Respond

from incidentbot.slack import capture, ids, modals
from incidentbot.slack.deps import Deps
from incidentbot.slack.parsing import unescape


def register(app: App) -> None:
    app.shortcut(ids.DECLARE_FROM_MESSAGE)(declare_from_message)
    app.shortcut(ids.ADD_TO_TIMELINE)(add_to_timeline)


def declare_from_message(ack: Ack, shortcut: dict, context: dict) -> None:
    """"Declare incident from this message": the form, with the message as the summary."""
    ack()
    deps: Deps = context["deps"]
    message = shortcut.get("message") or {}
    channel = (shortcut.get("channel") or {}).get("id", "")
    link = _permalink(deps, channel, message.get("ts"))
    summary = unescape(message.get("text") or "") + (f"\n\nFrom this message: {link}" if link else "")
    deps.gateway.open_view(shortcut["trigger_id"], modals.declare_modal(deps.policy, channel=channel, summary=summary))


def add_to_timeline(ack: Ack, shortcut: dict, respond: Respond, context: dict) -> None:
    """"Add to incident timeline": the message goes on the timeline of this channel's incident."""
    ack()
    capture.add_from_shortcut(context["deps"], shortcut,
                              lambda text: respond(text=text, response_type="ephemeral", replace_original=False))


def _permalink(deps: Deps, channel: str, ts: str | None) -> str | None:
    if not (channel and ts):
        return None
    return deps.gateway.permalink(channel, ts)

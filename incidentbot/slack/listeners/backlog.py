"""Buttons and forms of App Home's "My action items" (also on the owner's reminder DMs)
and of ``/incident backlog``. Thin: read the click, change in ``slack.my_action_items`` /
``slack.backlog_view``, show the result.

App Home has no response_url: its answer is the Home published again, a line on top
saying what happened (or why nothing did). On a reminder DM the message is replaced by
the result, or a refusal is answered privately. ``/incident backlog`` answers every
click by replacing its (ephemeral) list with a fresh one.
"""

from __future__ import annotations

import json
import logging

from slack_bolt import Ack, App, Respond
from slack_bolt.context.respond import Respond as ResponseUrl

from incidentbot.core.errors import InvalidInput
from incidentbot.slack import backlog_view, home, ids, my_action_items
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError
from incidentbot.timeutil import utcnow

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.action(ids.HOME_AI_DONE)(action_item_done_clicked)
    app.action(ids.HOME_AI_SNOOZE)(action_item_snooze_clicked)
    app.action(ids.HOME_AI_REASSIGN)(open_reassign_form)
    app.view(ids.HOME_AI_REASSIGN_VIEW)(reassign_submitted)
    app.action(ids.BACKLOG_ASSIGN_ME)(backlog_assign_me_clicked)
    app.action(ids.BACKLOG_DONE)(backlog_done_clicked)
    app.action(ids.BACKLOG_WONT_DO)(open_wont_do_form)
    app.view(ids.BACKLOG_WONT_DO_VIEW)(wont_do_submitted)


# --- My action items ----------------------------------------------------------------------


def _item_clicked(body: dict) -> tuple[int, str]:
    item_id, _, _revision = body["actions"][0]["value"].partition(":")
    return int(item_id), body["user"]["id"]


def _from_message(body: dict) -> bool:
    return (body.get("container") or {}).get("type") == "message" and bool(body.get("response_url"))


def _show(deps: Deps, body: dict, respond: Respond, actor: str, outcome) -> None:
    if _from_message(body):
        if outcome.changed:
            respond(text=outcome.notice, replace_original=True)
        else:
            respond(text=outcome.notice, response_type="ephemeral", replace_original=False)
    home.publish_home(deps, actor, notice=outcome.notice)


def action_item_done_clicked(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    ack()
    deps: Deps = context["deps"]
    item_id, actor = _item_clicked(body)
    _show(deps, body, respond, actor, my_action_items.mark_done(deps, item_id, actor, utcnow()))


def action_item_snooze_clicked(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    ack()
    deps: Deps = context["deps"]
    item_id, actor = _item_clicked(body)
    zone = deps.gateway.user_timezone(actor)
    _show(deps, body, respond, actor, my_action_items.snooze(deps, item_id, actor, utcnow(), zone))


def open_reassign_form(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    ack()
    deps: Deps = context["deps"]
    item_id, actor = _item_clicked(body)
    item, reference = my_action_items.current(deps, item_id)
    refusal = my_action_items.not_reassignable(item, actor)
    if refusal:
        _show(deps, body, respond, actor, my_action_items.Outcome(refusal, changed=False))
        return
    deps.gateway.open_view(body["trigger_id"], my_action_items.reassign_form(item, reference))


def reassign_submitted(ack: Ack, body: dict, view: dict, context: dict) -> None:
    deps: Deps = context["deps"]
    actor = body["user"]["id"]
    item_id = int(view["private_metadata"])
    field = (view["state"]["values"].get(ids.HOME_AI_OWNER) or {}).get(ids.HOME_AI_OWNER) or {}
    owner = field.get("selected_user")
    if not owner:
        ack(response_action="errors", errors={ids.HOME_AI_OWNER: "Pick the new owner."})
        return
    now = utcnow()
    outcome = my_action_items.reassign(deps, item_id, actor, owner, now, once_key=f"view:{view['id']}")
    if outcome is None:  # this submission was handled before
        ack()
        return
    if not outcome.changed:
        ack(response_action="errors", errors={ids.HOME_AI_OWNER: outcome.refusal})
        home.publish_home(deps, actor)  # the Home behind the form was out of date
        return
    ack()
    home.publish_home(deps, actor, notice=outcome.notice)
    item, _reference = my_action_items.current(deps, item_id)
    my_action_items.tell_new_owner(deps, item, actor, now)


# --- /incident backlog --------------------------------------------------------------------


def _refresh_list(deps: Deps, respond, wanted: backlog_view.Filter, notice: str) -> None:
    text, message = backlog_view.backlog_message(deps, wanted, utcnow(), notice=notice)
    respond(text=text, blocks=message, response_type="ephemeral", replace_original=True)


def _backlog_clicked(ack: Ack, body: dict, respond: Respond, context: dict, action: str) -> None:
    ack()
    deps: Deps = context["deps"]
    item_id, revision, wanted = backlog_view.parse_value(body["actions"][0]["value"])
    outcome = backlog_view.apply(deps, item_id, revision, body["user"]["id"], action)
    _refresh_list(deps, respond, wanted, outcome.notice)


def backlog_assign_me_clicked(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    _backlog_clicked(ack, body, respond, context, "assign")


def backlog_done_clicked(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    _backlog_clicked(ack, body, respond, context, "done")


def open_wont_do_form(ack: Ack, body: dict, respond: Respond, context: dict) -> None:
    ack()
    deps: Deps = context["deps"]
    item_id, revision, wanted = backlog_view.parse_value(body["actions"][0]["value"])
    item = backlog_view.current(deps, item_id)
    if item.revision != revision:
        _refresh_list(deps, respond, wanted, backlog_view.stale_note(item))
        return
    form = backlog_view.wont_do_form(item, revision, wanted, body.get("response_url"))
    deps.gateway.open_view(body["trigger_id"], form)


def wont_do_submitted(ack: Ack, body: dict, view: dict, context: dict) -> None:
    deps: Deps = context["deps"]
    meta = json.loads(view.get("private_metadata") or "{}")
    field = (view["state"]["values"].get(ids.BACKLOG_REASON) or {}).get(ids.BACKLOG_REASON) or {}
    actor = body["user"]["id"]
    try:
        outcome = backlog_view.apply(deps, meta["item"], meta["revision"], actor, "wont_do",
                                     reason=field.get("value"), once_key=f"view:{view['id']}")
    except InvalidInput as error:
        ack(response_action="errors", errors={ids.BACKLOG_REASON: error.message})
        return
    ack()
    if outcome is None:  # this submission was handled before
        return
    wanted = backlog_view.Filter.decode(meta.get("filter") or "")
    try:
        _refresh_list(deps, ResponseUrl(response_url=meta["response_url"]), wanted, outcome.notice)
    except Exception as error:  # noqa: BLE001 - an expired response_url (30 min): tell the person directly
        log.info("backlog list not refreshed (%s); sending a DM", error)
        try:
            deps.gateway.post(actor, outcome.notice)
        except SlackError as dm_error:
            log.warning("could not tell %s about the won't-do (%s)", actor, dm_error.code)

"""views.* Web API methods and what Slack does to a modal after the app answers a submission."""

from __future__ import annotations

import secrets
from typing import Any

from incidentbot.sandbox.args import Args
from incidentbot.sandbox.blocks import view_errors, with_ids
from incidentbot.sandbox.constants import APP_ID, BOT_ID, TEAM_ID
from incidentbot.sandbox.state import SandboxState, SlackError

MODAL_STACK_MAX = 3
VIEW_FIELDS = ("type", "title", "submit", "close", "private_metadata", "callback_id", "external_id")


def _checked_view(args: Args) -> dict:
    view = args.structured("view")
    if errors := view_errors(view):
        raise SlackError("invalid_arguments", response_metadata={"messages": errors})
    return view


def _new_hash(state: SandboxState) -> str:
    return f"{int(state.now())}.{secrets.token_hex(4)}"


def _render(state: SandboxState, payload: dict, view_id: str, root: str, previous: str | None) -> dict:
    view: dict[str, Any] = {"id": view_id, "team_id": TEAM_ID}
    view.update({k: payload[k] for k in VIEW_FIELDS if k in payload})
    view.setdefault("private_metadata", "")
    view.setdefault("callback_id", "")
    view.setdefault("external_id", "")
    view["blocks"] = with_ids(payload.get("blocks", []))
    view.update(
        state={"values": {}}, hash=_new_hash(state),
        clear_on_close=bool(payload.get("clear_on_close", False)),
        notify_on_close=bool(payload.get("notify_on_close", False)),
        root_view_id=root, previous_view_id=previous,
        app_id=APP_ID, app_installed_team_id=TEAM_ID, bot_id=BOT_ID,
    )
    return view


def _check_external_id(state: SandboxState, payload: dict, view_id: str | None = None) -> None:
    external_id = payload.get("external_id")
    if external_id and any(
        v.get("external_id") == external_id and v["id"] != view_id for v in state.views.values()
    ):
        raise SlackError("duplicate_external_id")


def _store(state: SandboxState, view: dict, user: str, trigger_id: str | None) -> dict:
    state.views[view["id"]] = view
    state.view_meta[view["id"]] = {"user": user, "trigger_id": trigger_id, "closed": False, "errors": None}
    return view


def views_open(state: SandboxState, args: Args) -> dict:
    trigger = state.exchange_trigger(args.text("trigger_id"))
    payload = _checked_view(args)
    if payload["type"] != "modal":
        raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] views.open needs a modal"]})
    _check_external_id(state, payload)
    view_id = state.new_id("V")
    view = _store(state, _render(state, payload, view_id, view_id, None), trigger["user"], args.text("trigger_id"))
    for stale in state.modal_stacks.get(trigger["user"], []):
        state.view_meta[stale]["closed"] = True
    state.modal_stacks[trigger["user"]] = [view_id]
    return {"view": view}


def find_view(state: SandboxState, args: Args) -> dict:
    view_id, external_id = args.text("view_id"), args.text("external_id")
    if not view_id and not external_id:
        raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] view_id or external_id is required"]})
    view = state.views.get(view_id) if view_id else next(
        (v for v in state.views.values() if v.get("external_id") == external_id), None
    )
    if view is None or state.view_meta[view["id"]]["closed"]:
        raise SlackError("not_found")
    return view


def replace_view(state: SandboxState, view: dict, payload: dict) -> dict:
    """New content under the same id; Slack issues a fresh hash on every change."""
    _check_external_id(state, payload, view["id"])
    fresh = _render(state, payload, view["id"], view["root_view_id"], view["previous_view_id"])
    state.views[view["id"]] = fresh
    state.view_meta[view["id"]]["errors"] = None
    return fresh


def views_update(state: SandboxState, args: Args) -> dict:
    view = find_view(state, args)
    expected = args.text("hash")
    if expected and expected != view["hash"]:
        raise SlackError("hash_conflict")
    payload = _checked_view(args)
    if payload["type"] != view["type"]:
        raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] view type cannot change"]})
    return {"view": replace_view(state, view, payload)}


def push_view(state: SandboxState, user: str, payload: dict, trigger_id: str | None) -> dict:
    stack = state.modal_stacks.get(user) or []
    if not stack:
        raise SlackError("not_found")
    if len(stack) >= MODAL_STACK_MAX:
        raise SlackError("push_limit_reached")
    _check_external_id(state, payload)
    view_id = state.new_id("V")
    view = _store(state, _render(state, payload, view_id, stack[0], stack[-1]), user, trigger_id)
    stack.append(view_id)
    return view


def views_push(state: SandboxState, args: Args) -> dict:
    trigger = state.exchange_trigger(args.text("trigger_id"))
    payload = _checked_view(args)
    return {"view": push_view(state, trigger["user"], payload, args.text("trigger_id"))}


def views_publish(state: SandboxState, args: Args) -> dict:
    user = args.text("user_id")
    state.user(user)
    payload = _checked_view(args)
    if payload["type"] != "home":
        raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] views.publish needs a home view"]})
    current = state.views.get(state.home_views.get(user, ""))
    if current is None:
        view_id = state.new_id("V")
        view = _store(state, _render(state, payload, view_id, view_id, None), user, None)
        state.home_views[user] = view_id
        return {"view": view}
    expected = args.text("hash")
    if expected and expected != current["hash"]:
        raise SlackError("hash_conflict")
    return {"view": replace_view(state, current, payload)}


def close_view(state: SandboxState, view_id: str, *, clear: bool = False) -> None:
    """The user closed a modal (or the app said so): pop it, or the whole stack on `clear`."""
    user = state.view_meta[view_id]["user"]
    stack = state.modal_stacks.get(user, [])
    if view_id not in stack:
        doomed = [view_id]
    else:
        doomed = list(stack) if clear else stack[stack.index(view_id):]
    for closed in doomed:
        state.view_meta[closed]["closed"] = True
    state.modal_stacks[user] = [v for v in stack if v not in doomed]


def apply_response_action(state: SandboxState, view_id: str, response: dict | None) -> dict:
    """What Slack does with the app's answer to a view_submission (response_action)."""
    if view_id not in state.views:
        raise SlackError("not_found")
    response = response or {}
    action = response.get("response_action")
    user = state.view_meta[view_id]["user"]
    if action == "errors":
        state.view_meta[view_id]["errors"] = response.get("errors") or {}
        return state.views[view_id]
    if action == "update":
        return replace_view(state, state.views[view_id], _validated(response.get("view")))
    if action == "push":
        return push_view(state, user, _validated(response.get("view")), None)
    close_view(state, view_id, clear=action == "clear")
    return state.views[view_id]


def _validated(view: Any) -> dict:
    if errors := view_errors(view):
        raise SlackError("invalid_arguments", response_metadata={"messages": errors})
    return view


METHODS = {
    "views.open": views_open,
    "views.update": views_update,
    "views.push": views_push,
    "views.publish": views_publish,
}

"""Build a view's `state.values` the way Slack does on view_submission.

Callers give plain values per block_id/action_id; the element type in the stored view
decides the Slack shape. Elements the caller does not mention keep their initial value
(or the empty value), because Slack reports every stateful element of the view.
"""

from __future__ import annotations

from datetime import date, time
from typing import Any, Callable

from incidentbot.sandbox.blocks import STATEFUL_SKIP, elements_of


def _options(element: dict) -> list[dict]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def _option(element: dict, value: Any) -> dict:
    if isinstance(value, dict):
        value = value.get("value")
    for option in _options(element):
        if option.get("value") == value:
            return option
    if element.get("type") in ("external_select", "multi_external_select"):
        # External options are not in the view; Slack echoes the chosen option object.
        return {"text": {"type": "plain_text", "text": str(value)}, "value": str(value)}
    raise ValueError(f"{element.get('action_id')}: no option with value {value!r}")


def _many(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple, set)) else [value]


def _date(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _time(value: Any) -> str:
    return value.strftime("%H:%M") if isinstance(value, time) else str(value)


CONVERTERS: dict[str, Callable[[dict, Any], dict]] = {
    "plain_text_input": lambda e, v: {"value": None if v is None else str(v)},
    "email_text_input": lambda e, v: {"value": None if v is None else str(v)},
    "url_text_input": lambda e, v: {"value": None if v is None else str(v)},
    "number_input": lambda e, v: {"value": None if v is None else str(v)},
    "rich_text_input": lambda e, v: {"rich_text_value": v},
    "static_select": lambda e, v: {"selected_option": None if v is None else _option(e, v)},
    "external_select": lambda e, v: {"selected_option": None if v is None else _option(e, v)},
    "radio_buttons": lambda e, v: {"selected_option": None if v is None else _option(e, v)},
    "multi_static_select": lambda e, v: {"selected_options": [_option(e, x) for x in _many(v or [])]},
    "multi_external_select": lambda e, v: {"selected_options": [_option(e, x) for x in _many(v or [])]},
    "checkboxes": lambda e, v: {"selected_options": [_option(e, x) for x in _many(v or [])]},
    "users_select": lambda e, v: {"selected_user": v},
    "multi_users_select": lambda e, v: {"selected_users": _many(v or [])},
    "conversations_select": lambda e, v: {"selected_conversation": v},
    "multi_conversations_select": lambda e, v: {"selected_conversations": _many(v or [])},
    "channels_select": lambda e, v: {"selected_channel": v},
    "multi_channels_select": lambda e, v: {"selected_channels": _many(v or [])},
    "datepicker": lambda e, v: {"selected_date": None if v is None else _date(v)},
    "timepicker": lambda e, v: {"selected_time": None if v is None else _time(v)},
    "datetimepicker": lambda e, v: {"selected_date_time": None if v is None else int(v)},
}

# Which initial_* field pre-fills each element, and how Slack shows it in state.
INITIAL_FIELDS = (
    "initial_value", "initial_option", "initial_options", "initial_user", "initial_users",
    "initial_conversation", "initial_conversations", "initial_channel", "initial_channels",
    "initial_date", "initial_time", "initial_date_time",
)


def _initial(element: dict) -> Any:
    for name in INITIAL_FIELDS:
        if name in element:
            value = element[name]
            if name == "initial_option":
                return value.get("value")
            if name == "initial_options":
                return [o.get("value") for o in value]
            return value
    return None


def state_entry(element: dict, value: Any) -> dict:
    kind = element.get("type", "")
    converter = CONVERTERS.get(kind)
    if converter is None:
        raise ValueError(f"{element.get('action_id')}: element type {kind!r} has no state")
    return {"type": kind, **converter(element, value)}


def stateful_elements(view: dict) -> dict[tuple[str, str], dict]:
    found = {}
    for block in view.get("blocks", []):
        for element in elements_of(block):
            if element.get("type") not in STATEFUL_SKIP:
                found[(block.get("block_id", ""), element.get("action_id", ""))] = element
    return found


def build_state_values(view: dict, values: dict[str, dict[str, object]]) -> dict[str, dict[str, dict]]:
    """state.values for `view` with `values` applied; unknown ids are a bug in the test."""
    elements = stateful_elements(view)
    for block_id, actions in values.items():
        for action_id in actions:
            if (block_id, action_id) not in elements:
                raise ValueError(f"view {view.get('id')} has no input {block_id}/{action_id}")
    state: dict[str, dict[str, dict]] = {}
    for (block_id, action_id), element in elements.items():
        given = values.get(block_id, {})
        value = given[action_id] if action_id in given else _initial(element)
        state.setdefault(block_id, {})[action_id] = state_entry(element, value)
    return state

"""Block Kit checks the sandbox enforces, so limit bugs fail here as they would in Slack.

Only the documented limits the bot is likely to hit are checked (block counts, text
lengths, option counts, modal title and private_metadata sizes). Messages name the
JSON pointer of the offending field, as Slack's `response_metadata.messages` do.
"""

from __future__ import annotations

import secrets
from typing import Any, Iterator

MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
SECTION_TEXT_MAX = 3000
SECTION_FIELD_MAX = 2000
HEADER_TEXT_MAX = 150
OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
MODAL_TITLE_MAX = 24
PRIVATE_METADATA_MAX = 3000
CALLBACK_ID_MAX = 255
BLOCK_ID_MAX = 255

# Elements that carry a value in view.state (buttons and overflow menus do not).
STATEFUL_SKIP = frozenset({"button", "overflow", "workflow_button", "image"})


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return ""


def elements_of(block: dict) -> Iterator[dict]:
    """Interactive elements of one block: input element, actions elements, section accessory."""
    if block.get("type") == "input" and isinstance(block.get("element"), dict):
        yield block["element"]
    elif block.get("type") == "actions":
        yield from (e for e in block.get("elements", []) if isinstance(e, dict))
    elif isinstance(block.get("accessory"), dict):
        yield block["accessory"]


def _option_errors(element: dict, pointer: str) -> list[str]:
    errors = []
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    if len(options) > OPTIONS_MAX:
        errors.append(f"[ERROR] must provide no more than {OPTIONS_MAX} items [json-pointer:{pointer}/options]")
    for i, option in enumerate(options):
        if len(_text_of(option.get("text"))) > OPTION_TEXT_MAX:
            errors.append(f"[ERROR] must be less than {OPTION_TEXT_MAX + 1} characters [json-pointer:{pointer}/options/{i}/text/text]")
    return errors


def _block_errors(block: Any, pointer: str) -> list[str]:
    if not isinstance(block, dict) or not block.get("type"):
        return [f"[ERROR] missing required field: type [json-pointer:{pointer}]"]
    errors = []
    kind = block["type"]
    if kind == "section":
        if len(_text_of(block.get("text"))) > SECTION_TEXT_MAX:
            errors.append(f"[ERROR] must be less than {SECTION_TEXT_MAX + 1} characters [json-pointer:{pointer}/text/text]")
        for i, item in enumerate(block.get("fields") or []):
            if len(_text_of(item)) > SECTION_FIELD_MAX:
                errors.append(f"[ERROR] must be less than {SECTION_FIELD_MAX + 1} characters [json-pointer:{pointer}/fields/{i}/text]")
        if not block.get("text") and not block.get("fields"):
            errors.append(f"[ERROR] must provide text or fields [json-pointer:{pointer}]")
    elif kind == "header" and len(_text_of(block.get("text"))) > HEADER_TEXT_MAX:
        errors.append(f"[ERROR] must be less than {HEADER_TEXT_MAX + 1} characters [json-pointer:{pointer}/text/text]")
    elif kind == "input" and (not block.get("label") or not block.get("element")):
        errors.append(f"[ERROR] missing required field: label or element [json-pointer:{pointer}]")
    if len(str(block.get("block_id", ""))) > BLOCK_ID_MAX:
        errors.append(f"[ERROR] must be less than {BLOCK_ID_MAX + 1} characters [json-pointer:{pointer}/block_id]")
    for element in elements_of(block):
        errors.extend(_option_errors(element, f"{pointer}/element"))
    return errors


def blocks_errors(blocks: Any, *, maximum: int, pointer: str = "/blocks") -> list[str]:
    if not isinstance(blocks, list):
        return [f"[ERROR] must be an array [json-pointer:{pointer}]"]
    errors = []
    if len(blocks) > maximum:
        errors.append(f"[ERROR] no more than {maximum} items allowed [json-pointer:{pointer}]")
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        errors.extend(_block_errors(block, f"{pointer}/{i}"))
        block_id = block.get("block_id") if isinstance(block, dict) else None
        if block_id in seen:
            errors.append(f"[ERROR] duplicate block_id: {block_id} [json-pointer:{pointer}/{i}/block_id]")
        if block_id:
            seen.add(block_id)
    return errors


def view_errors(view: Any) -> list[str]:
    if not isinstance(view, dict):
        return ["[ERROR] view must be an object [json-pointer:/view]"]
    kind = view.get("type")
    if kind not in ("modal", "home"):
        return [f"[ERROR] unsupported view type: {kind} [json-pointer:/view/type]"]
    errors = blocks_errors(view.get("blocks", []), maximum=VIEW_BLOCKS_MAX, pointer="/view/blocks")
    if kind == "modal":
        title = _text_of(view.get("title"))
        if not title:
            errors.append("[ERROR] missing required field: title [json-pointer:/view/title]")
        if len(title) > MODAL_TITLE_MAX:
            errors.append(f"[ERROR] must be less than {MODAL_TITLE_MAX + 1} characters [json-pointer:/view/title/text]")
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks", []))
        if has_input and not view.get("submit"):
            errors.append("[ERROR] submit is required when input blocks are present [json-pointer:/view/submit]")
    if len(str(view.get("private_metadata", ""))) > PRIVATE_METADATA_MAX:
        errors.append(f"[ERROR] must be less than {PRIVATE_METADATA_MAX + 1} characters [json-pointer:/view/private_metadata]")
    if len(str(view.get("callback_id", ""))) > CALLBACK_ID_MAX:
        errors.append(f"[ERROR] must be less than {CALLBACK_ID_MAX + 1} characters [json-pointer:/view/callback_id]")
    return errors


def with_ids(blocks: list) -> list:
    """Copy of blocks with block_id/action_id filled in where missing, as Slack stores them."""
    filled = []
    for block in blocks:
        block = dict(block)
        block.setdefault("block_id", secrets.token_urlsafe(4))
        if block.get("type") == "input" and isinstance(block.get("element"), dict):
            block["element"] = _with_action_id(block["element"])
        elif block.get("type") == "actions":
            block["elements"] = [_with_action_id(e) for e in block.get("elements", [])]
        elif isinstance(block.get("accessory"), dict):
            block["accessory"] = _with_action_id(block["accessory"])
        filled.append(block)
    return filled


def _with_action_id(element: dict) -> dict:
    element = dict(element)
    element.setdefault("action_id", secrets.token_urlsafe(4))
    return element

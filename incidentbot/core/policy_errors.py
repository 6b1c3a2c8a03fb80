"""How policy problems are reported: ``<source>: <key.path[index]>: <what is wrong>``.

pydantic's messages ("Input should be greater than 0") and locations (a tuple) are
rewritten into the vocabulary of the TOML file the operator is editing.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from typing import Any, get_args

from pydantic import BaseModel

from incidentbot.errors import ConfigError

Problem = tuple[str, str]  # (dotted key path, what is wrong)


class PolicyError(ConfigError):
    """The policy file is unreadable or invalid; one line per problem."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {path}: {msg}" if path else f"{source}: {msg}" for path, msg in problems]
        super().__init__("\n".join(lines))


def syntax_problem(exc: tomllib.TOMLDecodeError) -> Problem:
    # Python 3.11's TOMLDecodeError has no lineno attribute; the position is in the message.
    message = str(exc)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if match:
        return f"line {match[1]}, column {match[2]}", f"invalid TOML: {message[: match.start()]}"
    return "", f"invalid TOML: {message}"


_PLAIN_MESSAGES = {
    "missing": "required key is missing",
    "list_type": "must be an array",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "dict_type": "must be a table",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_type": "must be a string",
}
_NO_ECHO = {"missing", "extra_forbidden"}


def describe(error: dict[str, Any], root: type[BaseModel]) -> Problem:
    loc = tuple(part for part in error["loc"] if part != "[key]")
    kind = error["type"]
    if kind == "extra_forbidden":
        return _format_loc(loc), _unknown_key_message(loc, root)
    message = _PLAIN_MESSAGES.get(kind) or _reword(error["msg"])
    if kind not in _NO_ECHO and _is_scalar(error.get("input")):
        message += f" (got {_show(error['input'])})"
    return _format_loc(loc), message


def _reword(message: str) -> str:
    message = message.removeprefix("Value error, ")
    return re.sub(r"^(Input|List|String|Value|Dictionary) should ", "must ", message)


def _format_loc(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _unknown_key_message(loc: tuple[Any, ...], root: type[BaseModel]) -> str:
    model = _model_at(loc[:-1], root)
    if model is None:
        return "unknown key"
    known = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    if close:
        return f"unknown key (did you mean {close[0]!r}?)"
    return f"unknown key; allowed keys here: {', '.join(known)}"


def _model_at(loc: tuple[Any, ...], root: type[BaseModel]) -> type[BaseModel] | None:
    """The model class whose table ``loc`` points at, following list items into their type."""
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int):
            continue  # a list index: the item model was already taken from the list's annotation
        field = model.model_fields.get(part) if model else None
        model = _inner_model(field.annotation) if field else None
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found:
            return found
    return None


def _is_scalar(value: Any) -> bool:
    return value is not None and not isinstance(value, (dict, list, tuple, set, BaseModel))


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)

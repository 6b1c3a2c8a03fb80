"""A short paragraph on the weekly digest, written by a model from the digest's numbers.

The model is sent the structured digest only (``digest_render.to_json``: counts,
distributions with their n, budgets, the pipeline, backlog lines, incident titles as
declared), never a channel message, and asked for one plain paragraph of at most 120
words that claims nothing the numbers do not show and says so when n is small. The
digest is complete without it: any failure (no model configured, timeout, HTTP error, an
answer that is not the JSON asked for, an empty paragraph) gives None and a log line.

The client is the real ``openai`` one, pointed at ``OPENAI_BASE_URL`` like the
postmortem drafter (``drafting/draft.py``); tests run it against a local fake server.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from incidentbot.core.digest_report import Digest

log = logging.getLogger(__name__)

MAX_WORDS = 120
DEFAULT_MODEL = "gpt-4o-mini"
SYSTEM = (
    "You write the summary paragraph of a weekly incident digest for an engineering manager. You are given the "
    "digest as JSON: counts for the week and for a rolling window, response-time distributions in minutes with "
    "their sample size n, error budgets, the postmortem pipeline, action items and backlog items. Write ONE plain "
    f"paragraph of at most {MAX_WORDS} words, no lists, no headings, no markdown. Use only facts and numbers that "
    "are in the JSON: do not guess causes, do not compute percentages or rates that are not given, do not "
    "recommend anything the data does not support. Where a trend's 'enough' is false or n is below min_sample, "
    "say the numbers are too few to show a trend instead of describing one. Refer to incidents as INC-<number>. "
    "Private incidents are only counted; never speculate about them. Answer with one JSON object only: "
    '{"paragraph": "<the paragraph>"}'
)


class Narrative(BaseModel):
    paragraph: str = Field(description=f"one plain paragraph, at most {MAX_WORDS} words")


class NarrativeError(Exception):
    """The model's answer cannot be used (the reason is safe to log)."""


def write_narrative(digest: Digest, settings: Any, *, client: Any = None, timeout: float = 30) -> str | None:
    """The paragraph, or None when no model is configured or anything goes wrong.

    ``settings`` is an ``incidentbot.settings.Settings`` (``openai_api_key``,
    ``openai_base_url``, ``openai_model``); ``client`` replaces the OpenAI client (tests);
    ``timeout`` bounds the one request, in seconds (no retries: the digest does not wait).
    """
    from incidentbot.drafting.draft import model_configured

    if client is None and not model_configured(settings):
        return None
    name = getattr(settings, "openai_model", None) or DEFAULT_MODEL
    try:
        client = client or _client(settings, timeout)
        answer = _ask(client, name, request_messages(digest), timeout)
        return _paragraph(answer)
    except Exception as exc:  # noqa: BLE001 - any failure: the digest goes out without a paragraph
        log.warning("digest narrative (%s) not written: %s", name, _reason(exc))
        return None


def request_payload(digest: Digest) -> dict[str, Any]:
    """What the model is sent: the digest as data, without an earlier paragraph or Slack channel ids."""
    from incidentbot.digest_render import to_json

    data = to_json(digest)
    data.pop("narrative", None)
    for row in data.get("incidents", []):
        row.pop("channel_id", None)
    return data


def request_messages(digest: Digest) -> list[dict[str, str]]:
    payload = json.dumps(request_payload(digest), ensure_ascii=False, separators=(",", ":"))
    user = ("The weekly incident digest (durations and budgets in minutes; a trend is only meaningful when "
            "'enough' is true):\n" + payload)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def _client(settings: Any, timeout: float) -> Any:
    from openai import OpenAI

    key = settings.openai_api_key
    return OpenAI(api_key=key.get_secret_value() if hasattr(key, "get_secret_value") else key,
                  base_url=getattr(settings, "openai_base_url", None), timeout=timeout, max_retries=0)


def _ask(client: Any, name: str, messages: list[dict[str, str]], timeout: float) -> Narrative:
    import openai

    structured = {"type": "json_schema", "json_schema": {"name": "Narrative", "schema": Narrative.model_json_schema()}}
    try:
        response = client.chat.completions.create(model=name, messages=messages, response_format=structured,
                                                  temperature=0.2, timeout=timeout)
    except openai.BadRequestError:
        # Many OpenAI-compatible servers know JSON mode but not JSON-schema structured output.
        response = client.chat.completions.create(model=name, messages=messages,
                                                  response_format={"type": "json_object"}, temperature=0.2,
                                                  timeout=timeout)
    try:
        content = response.choices[0].message.content or ""
    except (AttributeError, IndexError, TypeError):
        raise NarrativeError("the answer had no message") from None
    content = re.sub(r"^\s*```(?:json)?\s*|\s*```\s*$", "", content)
    try:
        return Narrative.model_validate_json(content)
    except ValidationError:
        raise NarrativeError("the answer was not the JSON asked for") from None


def _paragraph(answer: Narrative) -> str:
    """One paragraph of at most MAX_WORDS words; a longer one is cut after its last whole sentence that fits."""
    text = " ".join(answer.paragraph.split())
    if not text:
        raise NarrativeError("the paragraph was empty")
    words = text.split(" ")
    if len(words) <= MAX_WORDS:
        return text
    head = " ".join(words[:MAX_WORDS])
    if head[-1] in ".!?":
        return head
    end = max(head.rfind(". "), head.rfind("! "), head.rfind("? "))
    if end < 0:
        raise NarrativeError(f"the paragraph was longer than {MAX_WORDS} words")
    return head[:end + 1]


def _reason(exc: Exception) -> str:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "the model did not answer in time"
    if isinstance(exc, openai.APIConnectionError):
        return "the model server could not be reached"
    if isinstance(exc, openai.APIStatusError):
        return f"the model server answered HTTP {exc.status_code}"
    if isinstance(exc, NarrativeError):
        return str(exc)
    return f"{type(exc).__name__}"

"""The drafting pipeline: history → redact → draft (model or offline) → blameless → Draft.

``draft_postmortem`` is the one entry point for the CLI, the Slack command and the
worker. Redaction happens first and on everything, so neither the model request, nor
the output, nor a log line can carry a secret from the channel. The offline draft is
always made (it is cheap): it is the answer without a model, the fallback when the
model fails, and the evidence the model's answer is completed from.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

from incidentbot.drafting.blameless import BlamelessChecker
from incidentbot.drafting.document import ActionItem, Draft, TimelineRow
from incidentbot.drafting.history import History
from incidentbot.drafting.redact import Redactor, redact_history

log = logging.getLogger(__name__)

Mode = Literal["auto", "offline", "model"]
__all__ = ["ActionItem", "Draft", "Mode", "TimelineRow", "draft_postmortem", "model_configured", "policy_options"]


def draft_postmortem(history: History, *, title: str | None = None, mode: Mode = "auto", settings: Any = None,
                     client: Any = None, model_options: Any = None,
                     extra_patterns: Mapping[str, str] | None = None) -> Draft:
    """Draft the postmortem of ``history``.

    ``mode``: ``"offline"`` never calls a model; ``"model"`` requires one
    (``OPENAI_API_KEY``); ``"auto"`` uses a model when one is configured. ``settings``
    is an ``incidentbot.settings.Settings`` (read from the environment when None and a
    model may be used); ``client`` replaces the OpenAI client (tests); ``extra_patterns``
    are the policy's own redaction patterns (name → regex).
    """
    if mode not in ("auto", "offline", "model"):
        raise ValueError(f"mode must be auto, offline or model, not {mode!r}")
    redactor = Redactor(extra_patterns)
    safe = redact_history(history, redactor)
    from incidentbot.drafting.offline import draft_offline  # imported here: it builds on this module's types

    base = draft_offline(safe, title=redactor.redact(title) if title else None)
    draft = base
    if mode != "offline":
        settings = settings if settings is not None or client is not None else _load_settings()
        if mode == "model" or client is not None or model_configured(settings):
            draft = _model_draft(safe, base, settings, client, model_options, required=mode == "model")
    draft = _final_pass(draft, redactor, BlamelessChecker(history.people))
    log.info("drafted postmortem for #%s with %s: %d timeline rows, %d action items", draft.channel, draft.model,
             len(draft.timeline), len(draft.action_items))
    return draft


def policy_options(policy: Any) -> dict[str, Any]:
    """``draft_postmortem`` keyword arguments from the policy's ``[drafting]`` section."""
    from incidentbot.drafting.model import ModelOptions

    rules = policy.drafting
    return {"model_options": ModelOptions(timeout=rules.model_timeout_seconds, token_budget=rules.token_budget),
            "extra_patterns": dict(rules.redact_patterns)}


def model_configured(settings: Any) -> bool:
    key = getattr(settings, "openai_api_key", None)
    value = key.get_secret_value() if hasattr(key, "get_secret_value") else key
    return bool(value)


def _load_settings() -> Any:
    from incidentbot.settings import load_settings

    return load_settings()


def _model_draft(safe: History, base: Draft, settings: Any, client: Any, options: Any, *, required: bool) -> Draft:
    from incidentbot.drafting.model import ModelError, ModelOptions, draft_with_model

    if client is None and not model_configured(settings):
        if required:
            from incidentbot.errors import ConfigError

            raise ConfigError("the model drafter needs OPENAI_API_KEY (not set); use --offline to draft without one")
        return base
    name = getattr(settings, "openai_model", None) or "gpt-4o-mini"
    opts = options or ModelOptions()
    try:
        return draft_with_model(safe, base, client=client or _client(settings, opts), model_name=name, options=opts)
    except ModelError as exc:
        log.warning("model drafter (%s) failed, using the offline draft: %s", name, exc)
        return replace(base, model=f"offline (fallback: model {name} failed: {exc})",
                       notes=[*base.notes, f"The model ({name}) was not used: {exc}. This is the offline draft."])


def _client(settings: Any, options: Any) -> Any:
    from openai import OpenAI

    return OpenAI(api_key=settings.openai_api_key.get_secret_value(), base_url=settings.openai_base_url,
                  timeout=options.timeout, max_retries=options.max_retries)


def _final_pass(draft: Draft, redactor: Redactor, checker: BlamelessChecker) -> Draft:
    """Blameless rewrite of every text field, then one more redaction pass over the
    model's words (the model saw placeholders only, but its output is not trusted)."""
    findings: list[dict[str, str]] = []

    def fix(text: str, where: str) -> str:
        text, found = checker.rewrite(redactor.redact(text), where)
        findings.extend(f.to_json() for f in found)
        return text

    rows = [replace(row, text=fix(row.text, f"timeline {row.source}") or "(removed in the blameless check)")
            for row in draft.timeline]
    items = [replace(item, text=text) for item in draft.action_items
             for text in [fix(item.text, f"action item {item.source}")] if text]
    return replace(
        draft,
        title=fix(draft.title, "title") or "Untitled incident",
        summary=fix(draft.summary, "summary"),
        sections={k: fix(v, f"sections.{k}") for k, v in draft.sections.items()},
        timeline=rows,
        action_items=items,
        redactions=redactor.summary(),
        blameless_findings=findings,
    )

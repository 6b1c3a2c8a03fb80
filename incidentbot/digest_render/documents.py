"""The weekly digest as Markdown and HTML (Jinja2 templates an operator may override) and as JSON.

Templates get the digest as ``d`` (private postmortem titles already removed, see
``fmt.public``), the ``policy``, and filters that format without computing:
``duration`` (``3 h 5 min``), ``dist`` (a ``Distribution`` as ``median · p90 · min – max
(n = …)``), ``day`` / ``when`` (a UTC datetime in the digest's timezone), ``percent``,
``score``, ``severity`` / ``category`` / ``status`` / ``detection`` / ``metric`` /
``pm_status`` (names), ``md`` (user text safe inside Markdown, tables included).
Globals: ``span`` (the week's dates), ``ref(n)`` (``INC-n``), ``link(n)`` (a Slack link
to the incident's channel, or None), ``plural(n, word)``, ``pipeline_groups``,
``model_note`` and ``over_budget``. HTML is autoescaped whatever the operator's template does.
"""

from __future__ import annotations

import math
import re
from dataclasses import fields, is_dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from incidentbot import templating
from incidentbot.core.digest_report import Digest
from incidentbot.core.policy import Policy
from incidentbot.digest_render import fmt

MARKDOWN_TEMPLATE = "digest.md.j2"
HTML_TEMPLATE = "digest.html.j2"
SLACK_CHANNEL_URL = "https://slack.com/app_redirect?channel={}"

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


def markdown(digest: Digest, policy: Policy, *, template_dir: Path | None = None) -> str:
    """The digest as Markdown; ``template_dir`` may hold an operator's own ``digest.md.j2``."""
    return _render(MARKDOWN_TEMPLATE, digest, policy, template_dir, autoescape=False)


def html(digest: Digest, policy: Policy, *, template_dir: Path | None = None) -> str:
    """The digest as one HTML page for e-mail (inline CSS, tables); ``template_dir`` may hold ``digest.html.j2``."""
    return _render(HTML_TEMPLATE, digest, policy, template_dir, autoescape=True)


def to_json(digest: Digest) -> dict[str, Any]:
    """Everything in the data model, JSON-safe: datetimes as ISO-8601 UTC (``…Z``), the week with its label."""
    d = fmt.public(digest)
    data = _plain(d)
    data["week"] = {"label": d.week.label, "year": d.week.year, "number": d.week.number,
                    "start": _plain(d.week.start), "end": _plain(d.week.end)}
    return data


def md(text: object) -> str:
    """User text inside Markdown: one line, with every character Markdown or HTML would act on escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text or "").split()))


# --- rendering -----------------------------------------------------------------------------------


def _render(name: str, digest: Digest, policy: Policy, template_dir: Path | None, *, autoescape: bool) -> str:
    env = templating.environment(template_dir)
    env.autoescape = autoescape  # set before any template is loaded: the name (".html.j2") must not decide
    d = fmt.public(digest)
    tz = fmt.zone(d)
    links = fmt.channels(d)
    env.filters.update(
        duration=fmt.duration, dist=lambda dist: fmt.distribution(dist, d.min_sample),
        day=lambda moment: fmt.day(moment, tz), when=lambda moment: fmt.when(moment, tz),
        percent=fmt.percent, score=fmt.score, severity=lambda key: fmt.severity_name(policy, key),
        category=lambda key: fmt.category_name(policy, key), status=lambda key: fmt.status_name(policy, key),
        detection=fmt.detection_name, metric=fmt.metric_name, pm_status=fmt.postmortem_status, md=md,
    )
    env.globals.update(
        span=fmt.week_span(d), ref=fmt.incident_ref, plural=fmt.plural, pipeline_groups=fmt.PIPELINE_GROUPS,
        model_note=fmt.MODEL_NOTE, over_budget=fmt.OVER_BUDGET,
        link=lambda number: SLACK_CHANNEL_URL.format(quote(links[number], safe="")) if number in links else None,
    )
    return env.get_template(name).render(d=d, policy=policy)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

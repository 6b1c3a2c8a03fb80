"""Redaction: secrets and e-mail addresses out of the text before it goes anywhere.

Everything the drafter produces, and everything it sends to a model, is built from
redacted text only. Two detectors are combined:

- explicit patterns for what incident channels leak most (AWS key ids, Slack and GitHub
  tokens, private key blocks, JWTs, bearer tokens, ``scheme://user:pass@`` credentials,
  ``password=...`` style assignments, e-mail addresses) and any the policy adds;
- detect-secrets' plugins (its default set), run line by line, for the long tail of
  vendor tokens and high-entropy strings.

A value becomes a typed placeholder (``<SECRET_1>``, ``<EMAIL_2>``); the same value always
gets the same placeholder, so a draft can still say that two messages mention the same
key. Values are never logged: only counts per type are kept.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any

from incidentbot.drafting.history import History

log = logging.getLogger(__name__)

SECRET, EMAIL = "SECRET", "EMAIL"

# (type, pattern, group): group 0 is the whole match, otherwise only that group is replaced.
_EXPLICIT: tuple[tuple[str, re.Pattern[str], int], ...] = (
    (SECRET, re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----|.*)",
                        re.S), 0),
    # user:password in a URL; the user goes too, so no "user:<SECRET>@" shape is left.
    (SECRET, re.compile(r"(?<=://)[^\s:/@<>]+:[^\s@/<>]+(?=@)"), 0),
    (SECRET, re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[0-9A-Z]{16}\b"), 0),
    (SECRET, re.compile(r"\bxox[abprse]-[0-9A-Za-z-]{10,}"), 0),
    (SECRET, re.compile(r"\bxapp-[0-9A-Za-z-]{10,}"), 0),
    (SECRET, re.compile(r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]+"), 0),
    (SECRET, re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), 0),
    (SECRET, re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), 0),
    (SECRET, re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|\bsk-[A-Za-z0-9_-]{20,}"), 0),
    (SECRET, re.compile(r"(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{8,})"), 1),
    # password=..., token: "...": a quoted value up to its closing quote (spaces, commas and
    # all), an unquoted one up to the next space; a comma or semicolon may be in a password.
    (SECRET, re.compile(r"(?i)\b[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|"
                        r"signature|credentials?)[\w.-]*\s*[:=]\s*[\"']?"
                        r"((?<=[\"'])[^\"'\n]{1,256}(?=[\"'])|[^\s\"'<>]{4,})"), 1),
    (EMAIL, re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"), 0),
)
# Lines without a long token or a secret-ish word cannot hold what detect-secrets finds;
# skipping them keeps a 10,000-message channel fast.
_WORTH_SCANNING = re.compile(r"[A-Za-z0-9_+/=.~-]{16,}|(?i:pass|secret|token|key|pwd|auth|cred|private)")
_TOKEN_CHARS = "A-Za-z0-9_\\-+/.~"
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*[:=](.+)$")
_URL = re.compile(r"https?://\S+")
_MIN_ENTROPY_LENGTH = 20
# Public IPs are evidence in a postmortem (which address was hit), not credentials.
_SKIPPED_PLUGINS = frozenset({"IPPublicDetector"})


class Redactor:
    """Replaces secrets with placeholders; one instance per draft keeps numbering stable."""

    def __init__(self, extra_patterns: Mapping[str, str] | None = None) -> None:
        self._placeholders: dict[str, str] = {}
        self._next = 1
        self.counts: Counter[str] = Counter()
        self._extra = tuple(
            (name.upper(), re.compile(pattern), 0) for name, pattern in (extra_patterns or {}).items()
        )

    def redact(self, text: str) -> str:
        """``text`` with every detected secret replaced by its placeholder."""
        if not text:
            return text
        spans = _choose(self._explicit_spans(text) + _detect_secrets_spans(text))
        if not spans:
            return text
        out, last = [], 0
        for start, end, kind in spans:
            out.append(text[last:start])
            out.append(self._placeholder(text[start:end], kind))
            last = end
        out.append(text[last:])
        return "".join(out)

    def summary(self) -> dict[str, int]:
        """Replaced occurrences per type, e.g. ``{"SECRET": 3, "EMAIL": 1}``."""
        return dict(sorted(self.counts.items()))

    def _explicit_spans(self, text: str) -> list[tuple[int, int, str]]:
        spans = []
        for kind, pattern, group in self._extra + _EXPLICIT:
            for match in pattern.finditer(text):
                if match.group(group):
                    spans.append((match.start(group), match.end(group), kind))
        return spans

    def _placeholder(self, value: str, kind: str) -> str:
        self.counts[kind] += 1
        key = f"{kind}\0{value}"
        if key not in self._placeholders:
            self._placeholders[key] = f"<{kind}_{self._next}>"
            self._next += 1
        return self._placeholders[key]


def redact_history(history: History, redactor: Redactor) -> History:
    """A copy of ``history`` whose texts (and title) went through ``redactor``."""
    messages = [replace(m, text=redactor.redact(m.text)) for m in history.messages]
    title = redactor.redact(history.title) if history.title else history.title
    total = sum(redactor.counts.values())
    if total:
        log.info("redacted %d value(s) in #%s before drafting", total, history.channel)
    return History(channel=history.channel, messages=messages, title=title, people=history.people,
                   links=tuple(redactor.redact(link) for link in history.links))


def _choose(spans: Iterable[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Non-overlapping spans, in text order. Earlier entries win (explicit patterns come
    first, so ``AWS_ACCESS_KEY_ID=AKIA...`` keeps its name and loses only the key)."""
    taken: list[tuple[int, int, str]] = []
    for start, end, kind in spans:
        if end > start and all(end <= s or start >= e for s, e, _ in taken):
            taken.append((start, end, kind))
    return sorted(taken)


# --- detect-secrets ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _plugins() -> tuple[Any, ...]:
    # default_settings() switches detect-secrets' global settings to "all plugins" only
    # while it is entered; the plugin objects it yields keep working afterwards.
    from detect_secrets.settings import default_settings, get_plugins

    with default_settings():
        plugins = tuple(p for p in get_plugins() if type(p).__name__ not in _SKIPPED_PLUGINS)
    return plugins


def _detect_secrets_spans(text: str) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    offset = 0
    for line in text.split("\n"):
        if _WORTH_SCANNING.search(line):
            spans.extend((offset + s, offset + e, SECRET) for s, e in _scan_line(line))
        offset += len(line) + 1
    return spans


def _scan_line(line: str) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    urls = [m.span() for m in _URL.finditer(line)]
    for plugin in _plugins():
        entropy_limit = getattr(plugin, "entropy_limit", None)
        try:
            # A ".yaml" name makes the keyword plugin accept unquoted "password: x" lines,
            # which is how people paste config into chat.
            # Eager search (unquoted strings) exists only on the entropy plugins.
            extra = {"enable_eager_search": True} if entropy_limit is not None else {}
            secrets = plugin.analyze_line(filename="message.yaml", line=line, line_number=1, **extra)
        except Exception:  # noqa: BLE001 - one plugin's bug must not stop the redaction
            log.warning("detect-secrets plugin %s failed on a line; skipped", type(plugin).__name__)
            continue
        for secret in secrets or ():
            value = str(secret.secret_value or "")
            if entropy_limit is not None:
                value = _entropy_value(plugin, value, entropy_limit)
            if value:
                found.extend(span for span in _locate(line, value)
                             if entropy_limit is None or not _inside(span, urls))
    return found


def _entropy_value(plugin: Any, value: str, limit: float) -> str:
    # Eager search returns every word; keep only long, genuinely random-looking ones.
    match = _ASSIGNMENT.match(value)
    if match:
        value = match.group(1)
    if len(value) < _MIN_ENTROPY_LENGTH or plugin.calculate_shannon_entropy(value) <= limit:
        return ""
    return value


def _locate(line: str, value: str) -> list[tuple[int, int]]:
    """Where ``value`` occurs, widened to the whole token (some plugins report only a
    prefix, e.g. ``ghp`` for a GitHub token)."""
    spans = []
    for match in re.finditer(re.escape(value), line):
        start, end = match.span()
        while start > 0 and re.match(f"[{_TOKEN_CHARS}]", line[start - 1]):
            start -= 1
        while end < len(line) and re.match(f"[{_TOKEN_CHARS}=]", line[end]):
            end += 1
        spans.append((start, end))
    return spans


def _inside(span: tuple[int, int], urls: list[tuple[int, int]]) -> bool:
    # Long hashes in links (commit URLs, dashboards) are evidence; credentials in URLs are
    # caught by the explicit user:pass and key=value patterns.
    return any(s <= span[0] and span[1] <= e for s, e in urls)

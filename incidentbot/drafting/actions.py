"""Proposed action items, found in what people said after the incident was under control.

A line is a proposal when it says so explicitly ("action:", "TODO", "follow-up:", "AI for
the postmortem:") or, once the impact is mitigated, when it proposes work ("we should…",
"we need to…", "let's make sure we…", "can we get a ticket to…?"). During the response
the same words are tactics for the incident itself ("I think we should check kiam next"),
so soft proposals before mitigation are not action items.

Not action items: questions that ask rather than propose ("should we…?"), jokes (a
laughing emoji, "while we're at it"), proposals someone rejects in the thread ("not a
postmortem action"), remarks about the follow-up process itself ("let's make sure the
follow-ups have owners"), and reflections ("learning: we need…"), which feed the
what-went-wrong section instead.
"""

from __future__ import annotations

import re
from datetime import datetime

from incidentbot.core.action_items import classify
from incidentbot.drafting import signals
from incidentbot.drafting.document import ActionItem
from incidentbot.drafting.history import History, HistoryMessage

_EXPLICIT = re.compile(
    r"^\W*(?:adding to the follow-ups\s*[—–:-]|for the postmortem actions?\s*:|ai for the postmortem\s*:|"
    r"action(?: item)?s?\s*:|todo\b:?|follow[- ]?up(?: item)?\s*:|next steps?\s*:)\s*", re.I)
_SOFT = re.compile(
    r"^\W*(?:(?:ok|so),?\s*)?(?:i think\s+)?(?:we should|we need to|we must|we'?ll need to|let'?s make sure we|"
    r"can we get a ticket to|could we get a ticket to|we need)\b\s*", re.I)
# "we should check kiam next": a step of the response itself, not follow-up work.
_TACTICAL = re.compile(r"\b(?:next|now|right away|asap|in the meantime|for now|first)\s*[.!]?$", re.I)
_JOKE = re.compile(r"[😅😄😂🙃🤣😆🍕]|\bwhile we'?re at it\b|\bjust kidding\b|\bj/?k\b", re.I)
_REJECTED = re.compile(
    r"\bnot (?:a|an) (?:postmortem |real )?action\b|\bnot an action item\b|\bout of scope\b|\bwon'?t do\b|"
    r"\bno need\b|^\W*ha\b|\bnot doing that\b", re.I)
_VOLUNTEER = re.compile(r"\bI'?ll (?:raise|take|own|create|file|open|pick)\b|\bmine\b|\bassign(?:ed)? to me\b",
                        re.I)
_CONFIRM_REACTIONS = frozenset({"white_check_mark", "heavy_check_mark", "ballot_box_with_check", "+1", "thumbsup"})
# The body is about the follow-up process itself, not about the system.
_META = re.compile(r"\bthe (?:follow[- ]?ups|action items)\b|\binto the backlog\b|"
                   r"\bpost-?mortem (?:doc|review|meeting)\b|\b(?:in|for) the review\b|\btimeline section\b", re.I)
def extract(history: History, *, after: datetime | None) -> list[ActionItem]:
    """Action items proposed in ``history``; soft proposals only from ``after`` on."""
    replies = _replies_by_thread(history)
    items: list[ActionItem] = []
    for message in history.messages:
        body = proposal_body(message, soft_allowed=after is None or message.at >= after)
        if not body or _rejected(message, replies):
            continue
        item = _item(message, body, replies.get(message.ts, []))
        if not any(_same(item.text, other.text) for other in items):
            items.append(item)
    return items


def proposal_body(m: HistoryMessage, *, soft_allowed: bool) -> str | None:
    """The proposed work, verb first, or None when ``m`` does not propose any."""
    if m.is_bot or m.is_system or m.is_event or signals.is_status_update(m) or signals.is_reflection(m):
        return None
    text = " ".join(m.text.split())
    if _JOKE.search(text) or signals.is_off_topic(text):
        return None
    explicit = _EXPLICIT.match(text)
    if explicit:
        body = text[explicit.end():]
        soft = _SOFT.match(body)  # "TODO: we need to …"
        body = body[soft.end():] if soft else body
    else:
        soft = _SOFT.match(text)
        if not soft or not soft_allowed or _asks(text) or _TACTICAL.search(text):
            return None
        body = text[soft.end():]
    body = body.strip(" ?.;—–-")
    if len(body.split()) < 2 or _META.search(body):
        return None
    return _verb_first(body)


def _asks(text: str) -> bool:
    # "can we get a ticket to X?" proposes; "should we rewrite it?" only asks.
    return text.rstrip().endswith("?") and not re.search(r"\bticket\b", text, re.I)


def _verb_first(body: str) -> str:
    body = re.sub(r"^(?:a|an|some|more)\s+(?=\w)", lambda m: "Add " + m.group(0), body, flags=re.I)
    return body[:1].upper() + body[1:]


def _replies_by_thread(history: History) -> dict[str, list[HistoryMessage]]:
    replies: dict[str, list[HistoryMessage]] = {}
    for m in history.messages:
        if m.is_reply and m.thread_ts:
            replies.setdefault(m.thread_ts, []).append(m)
    return replies


def _rejected(m: HistoryMessage, replies: dict[str, list[HistoryMessage]]) -> bool:
    return any(_REJECTED.search(r.text) for r in replies.get(m.ts, []))


def _item(m: HistoryMessage, body: str, thread: list[HistoryMessage]) -> ActionItem:
    volunteer = next((r.author for r in thread if _VOLUNTEER.search(r.text)), None)
    confirmed = volunteer is not None or any(r in _CONFIRM_REACTIONS for r in m.reactions)
    kind = classify(body)
    return ActionItem(text=body, type=kind, source=m.source, ts=m.ts, owner=volunteer or m.author,
                      priority=_priority(kind, confirmed), confirmed=confirmed)


def _priority(kind: str, confirmed: bool) -> str:
    # Corrective work removes the cause that was hit; detection shortens the next one.
    base = {"corrective": 1, "detective": 2, "preventative": 2, "process": 3}[kind]
    return f"P{max(1, base - 1) if confirmed else base}"


def _same(a: str, b: str) -> bool:
    ta, tb = set(re.findall(r"[a-z0-9]+", a.lower())), set(re.findall(r"[a-z0-9]+", b.lower()))
    return bool(ta and tb) and len(ta & tb) / min(len(ta), len(tb)) >= 0.8

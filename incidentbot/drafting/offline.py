"""The offline drafter: a complete postmortem draft from the channel alone, no model.

It reads the conventions incident channels share — alert bots firing and resolving,
change-feed notices, "declaring an incident", "mitigated", "resolving the incident",
topic changes, status updates, pinned and emoji-marked messages, "fyi"/"update:" posts,
action proposals — and keeps what looks like an event. Chatter (acks, plans, routine
checks, ruled-out hypotheses, repeated phrases, questions, off-topic lines) is left out.

Every timeline row and milestone is a message of the history: its time and source are the
message's own, so the draft cites its evidence. The input must already be redacted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import timedelta

from incidentbot.drafting import actions, sections, signals
from incidentbot.drafting.document import Draft, TimelineRow
from incidentbot.drafting.history import History, HistoryMessage

# The timeline ends shortly after resolution: what follows is the retrospective
# conversation (learnings, action items), which has its own sections.
_AFTER_RESOLUTION = timedelta(minutes=10)
# Scores (see _score): one strong mark, or two weak ones, make a statement an event.
_EVENT_SCORE = 1.0
_LATE_EVENT_SCORE = 2.5
_MARK_REACTIONS = frozenset({
    "pushpin", "round_pushpin", "eyes", "raised_hands", "pray", "+1", "thumbsup", "white_check_mark",
    "heavy_check_mark", "rotating_light", "warning", "fire", "exclamation", "bangbang", "memo", "point_up",
    "star", "tada",
})
_HEADLINE = re.compile(r"^\W*(?:fyi|update|heads up|psst|note|quick note|important)\b\s*[:,]?|^\s*[📣📢🚨⚠️]",
                       re.I)
_REPORT = re.compile(r"\breports? of\b|\breported\b|\bcustomers?\b|\busers? (?:are|can'?t|cannot)\b|"
                     r"\bseeing (?:errors|failures)\b|\b(?:is|are) down\b|\boutage\b|\balert fired\b", re.I)
_TOKEN = re.compile(r"[a-z0-9]{3,}")
# Recorded events that are bookkeeping about the incident record, not about the incident.
_BOOKKEEPING_EVENTS = frozenset({"nudge_snoozed", "summary_changed", "milestones_edited"})
Milestones = dict[str, HistoryMessage | None]


def draft_offline(history: History, *, title: str | None = None) -> Draft:
    """The offline draft of a (redacted) history."""
    found = find_milestones(history)
    rows = [timeline_row(m) for m in select_timeline(history, found)]
    under_control = found["mitigated_at"] or found["resolved_at"]
    items = actions.extract(history, after=under_control.at if under_control else None)
    doc_title = title or history.title or _title_from_channel(history.channel)
    built = sections.build(history, found, rows, title=doc_title)
    return Draft(
        title=doc_title, summary=built.summary, channel=history.channel,
        milestones={k: (m.at if m else None) for k, m in found.items()},
        milestone_sources={k: (m.source if m else None) for k, m in found.items()},
        timeline=rows, action_items=items, sections=built.sections, model="offline",
        severity=built.severity, category=built.category, lead=built.lead,
        responders=built.responders, links=built.links,
    )


# --- milestones ----------------------------------------------------------------------------------


def find_milestones(history: History) -> Milestones:
    """The message that evidences each milestone (None when the channel does not say)."""
    msgs = history.messages
    detected = _first(msgs, lambda m: signals.alert_state(m) == "firing" or m.event_kind == "detected") \
        or _first(msgs, lambda m: signals.is_statement(m) and bool(_REPORT.search(m.text))) \
        or _first(msgs, lambda m: not (m.is_system or signals.is_notice(m)))
    after = [m for m in msgs if detected is None or m.at >= detected.at]
    started = _first(msgs, lambda m: m.event_kind == "started") or _first(
        msgs, lambda m: signals.is_notice(m) and (detected is None or m.at <= detected.at)) or detected
    declared = _tiered(msgs, (lambda m: m.event_kind == "declared", signals.declares,
                              lambda m: signals.topic_status(m) == "declared"))
    resolved = _tiered(after, (lambda m: m.event_kind == "resolved", signals.announces_resolution,
                               lambda m: signals.topic_status(m) == "resolved"))
    mitigated = _tiered(after, (lambda m: m.event_kind == "mitigated", signals.announces_mitigation,
                                lambda m: signals.topic_status(m) in ("mitigated", "monitoring"),
                                signals.announces_fix))
    if mitigated is None:
        mitigated = _last_recovery(after, resolved)
    if mitigated and resolved and mitigated.at > resolved.at:
        mitigated = resolved  # "resolved" implies the impact had been mitigated by then
    return {"started_at": started, "detected_at": detected, "declared_at": declared,
            "mitigated_at": mitigated, "resolved_at": resolved}


def _first(msgs: Iterable[HistoryMessage], test: Callable[[HistoryMessage], bool]) -> HistoryMessage | None:
    return next((m for m in msgs if test(m)), None)


def _tiered(msgs: list[HistoryMessage], tests: Iterable[Callable[[HistoryMessage], bool]]) -> HistoryMessage | None:
    # Stronger evidence first: a recorded event, then an explicit announcement, then a
    # topic change (which usually follows the announcement by a minute or two).
    for test in tests:
        hit = _first(msgs, test)
        if hit is not None:
            return hit
    return None


def _last_recovery(msgs: list[HistoryMessage], resolved: HistoryMessage | None) -> HistoryMessage | None:
    # No one said "mitigated": the alert recovering is the next best evidence.
    limit = resolved.at if resolved else None
    recovered = [m for m in msgs if signals.alert_state(m) == "resolved" and (limit is None or m.at <= limit)]
    return recovered[-1] if recovered else None


# --- timeline ------------------------------------------------------------------------------------


def select_timeline(history: History, found: Milestones) -> list[HistoryMessage]:
    """The messages that are events, oldest first."""
    resolved = found["resolved_at"]
    end = resolved.at + _AFTER_RESOLUTION if resolved else None
    milestone_ts = {m.ts for m in found.values() if m is not None}
    repeats = Counter(signals.normalised(m.text) for m in history.messages)
    restated = _restated_tokens(history)
    seen_alerts: set[tuple[str, str]] = set()
    chosen: list[HistoryMessage] = []
    for m in history.messages:
        if end is not None and m.at > end:
            # After resolution people reflect and plan; only a clearly marked event still counts.
            if _is_event_statement(m, repeats) and _score(m, restated) >= _LATE_EVENT_SCORE:
                chosen.append(m)
            continue
        if m.ts in milestone_ts or signals.is_notice(m) or m.is_event and m.event_kind not in _BOOKKEEPING_EVENTS:
            chosen.append(m)
        elif signals.alert_state(m):
            key = (signals.alert_state(m) or "", signals.alert_name(m))
            if key not in seen_alerts:
                seen_alerts.add(key)
                chosen.append(m)
        elif _is_event_statement(m, repeats) and _score(m, restated) >= _EVENT_SCORE:
            chosen.append(m)
    return chosen


def _is_event_statement(m: HistoryMessage, repeats: Counter[str]) -> bool:
    if not signals.is_statement(m) or signals.is_status_update(m) or signals.is_chatter(m):
        return False
    if signals.is_proposal_like(m) or signals.is_reflection(m) or signals.summary_text(m) is not None:
        return False
    # A phrase said more than once in the channel is routine talk, not an event.
    return repeats[signals.normalised(m.text)] == 1


def _score(m: HistoryMessage, restated: list[tuple[str, set[str]]]) -> float:
    """How clearly a statement is marked as an event: pinned or emoji-marked, written as an
    announcement ("fyi", "update:", 📣), long enough to say something, a completion or
    discovery verb, and repeated by a status update or a pinned post."""
    score = 0.0
    if m.pinned or any(r in _MARK_REACTIONS for r in m.reactions):
        score += 1.5
    if _HEADLINE.search(m.text):
        score += 1.0
    if len(m.text.split()) >= 6:
        score += 0.5
    if signals.has_event_verb(m.text):
        score += 0.5
    tokens = set(_TOKEN.findall(m.text.lower()))
    # A status update (or pinned post) that repeats most of its words confirms it mattered.
    if tokens and any(ts != m.ts and len(tokens & words) / len(tokens) >= 0.6 for ts, words in restated):
        score += 1.5
    return score


def _restated_tokens(history: History) -> list[tuple[str, set[str]]]:
    return [(m.ts, set(_TOKEN.findall(m.text.lower()))) for m in history.messages
            if signals.is_status_update(m) or m.pinned]


def timeline_row(m: HistoryMessage) -> TimelineRow:
    return TimelineRow(at=m.at, text=event_text(m), source=m.source, author=m.author, ts=m.ts)


def event_text(m: HistoryMessage) -> str:
    """The row text: alerts and notices named as such, people's words tidied."""
    state = signals.alert_state(m)
    if state:
        return f"Alert {'fired' if state == 'firing' else 'resolved'}: {signals.alert_name(m)}"
    if signals.is_notice(m):
        text = re.sub(r"^\s*\[[^\]]{1,40}\]\s*", "", m.text.split("\n", 1)[0])
        return f"{m.author}: {signals.clean_event_text(text)}"
    if m.subtype in ("channel_topic", "group_topic"):
        return f"Channel topic set: {m.text.split(':', 1)[-1].strip()}"
    return signals.clean_event_text(m.text)


def _title_from_channel(channel: str) -> str:
    # "inc-2021-03-31-adfs-outage" → "Adfs outage"
    words = re.sub(r"^(?:inc|incident)[-_]?(?:\d+[-_]?)*", "", channel).replace("_", "-").split("-")
    text = " ".join(w for w in words if w)
    return text[:1].upper() + text[1:] if text else channel

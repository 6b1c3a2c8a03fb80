"""The prose sections of the offline draft, each built from messages it cites.

A section is Markdown: short sentences computed from the milestones, then the channel's
own words as bullets ending in their source (``[source](ts-or-permalink)``). Where the
channel says nothing, the section says so and asks the review to fill it in, rather
than inventing content.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from incidentbot.drafting import signals
from incidentbot.drafting.document import TimelineRow
from incidentbot.drafting.history import History, HistoryMessage

_ASK_REVIEW = "_Nothing recorded in the channel; fill in during the review._"
_IMPACT = re.compile(r"\bImpact:\s*([^•\n]+?)(?:\s*(?:•|Next update|Latest:|$))", re.I)
_SEVERITY = re.compile(r"\bSEV\s?([0-5])\b", re.I)
_LEAD = re.compile(r"\blead:\s*@?([\w.-]+)|\bI'?m (?:IC|incident lead|the lead)\b|\bI'?ll lead\b|\btaking lead\b", re.I)
_FACTOR = re.compile(r"^\W*(?:contributing factor|for context|worth noting(?: for the postmortem)?|root cause|"
                     r"i think part of it was|one more thing that made it worse)\W*", re.I)
# The label people put in front of a retrospective remark; the bullet keeps only the remark.
_LABEL = re.compile(r"^\W*(?:contributing factor|for context|worth noting(?: for the postmortem)?|root cause|"
                    r"i think part of it was|one more thing that made it worse|lesson(?: for me)?|learning|takeaway|"
                    r"what went (?:well|wrong))\s*(?:[:—–-]\s*|\b)", re.I)
_WRONG = re.compile(r"^\W*(?:lesson(?: for me)?|learning|takeaway|what went wrong)\W*|\bmade it worse\b|"
                    r"\bcapture (?:that|this) in the (?:review|retro|postmortem)\b|"
                    r"\b(?:no|missing|lack of|insufficient) (?:monitoring|alerting|alerts|documentation)\b", re.I)
_WELL = re.compile(r"\bwent well\b|\bworked well\b|\bgood teamwork\b|\bgreat work\b|\bquick(?:ly)? (?:fix|response)\b|"
                   r"\bhelped\b|\brapidly improved\b", re.I)
_LUCKY = re.compile(r"\blucky\b|\bluckily\b|\bfortunately\b|\bnear[- ]miss\b|\bcould have been (?:much )?worse\b", re.I)
_TO_REVIEW = re.compile(r"\s*[—–-]+\s*let'?s capture (?:that|this) in the (?:review|retro|postmortem)\W*$", re.I)
_URL = re.compile(r"https?://[^\s)>|]+")
_CATEGORIES = (
    ("security", r"\bcve\b|vulnerab|log4|malicious|security|breach|supply chain"),
    ("time-certificates-expiry", r"certificat|\bcerts?\b|expir|\btls\b|\bssl\b"),
    ("capacity-load", r"capacity|\bscal(?:e|ing)\b|\bload\b|\bcpu\b|memory|quota|starvation|ip addresses|disk"),
    ("code-deploy", r"\bdeploy|release|rollout|roll-out|\bversion\b|upgrade|bump"),
    ("config-change", r"\bconfig|setting|manifest|helm values|\bflag\b|terraform|\bpolicy\b"),
    ("dependency-third-party", r"vendor|third[- ]party|upstream|provider|support ticket|saas"),
    ("infrastructure-hardware-network", r"\bnodes?\b|network|\bdns\b|subnet|load balancer|\balb\b|\bvpc\b|\bami\b"),
    ("data-pipeline-integrity", r"\bdata\b|ingestion|\blogs?\b|backup|replication"),
    ("performance-degradation", r"latency|\bslow|timeouts?\b|degrad"),
    ("automation-tooling", r"pipeline|automation|script|\bci\b|tooling|flux|gitops"),
)


@dataclass
class Built:
    summary: str
    sections: dict[str, str]
    severity: str | None = None
    category: str | None = None
    lead: str | None = None
    responders: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)


def build(history: History, found: dict[str, HistoryMessage | None], rows: list[TimelineRow], *,
          title: str) -> Built:
    people = [m for m in history.messages if not (m.is_bot or m.is_system or m.is_event)]
    impact = _impact(history)
    summary_msg = next((m for m in history.messages if signals.summary_text(m) and not m.is_reply), None)
    summary = _summary(title, impact, found, summary_msg)
    parts = {
        "impact": _impact_section(impact, found),
        "leadup": _leadup(rows, found),
        "trigger": _trigger(found),
        "contributing_factors": _bullets(m for m in people if _FACTOR.search(m.text)),
        "detection": _detection(found),
        "response": _response(history, found, people),
        "mitigation_and_resolution": _mitigation(found),
        "what_went_well": _bullets(m for m in people if _WELL.search(m.text) and not m.is_reply),
        "what_went_wrong": _bullets(m for m in people if _WRONG.search(m.text) and not _FACTOR.search(m.text)),
        "where_we_got_lucky": _bullets(m for m in people if _LUCKY.search(m.text)),
    }
    return Built(summary=summary, sections=parts, severity=_severity(history), lead=_lead(history),
                 category=_category(" ".join([title, impact or "", summary])),
                 responders=[n for n, _ in Counter(m.author for m in people).most_common()],
                 links=_links(history))


def _impact(history: History) -> str | None:
    # Status updates restate the impact each time; the wording used most is the settled one.
    found = Counter(match.group(1).strip(" .…") for m in history.messages if signals.is_status_update(m)
                    for match in [_IMPACT.search(m.text)] if match)
    return found.most_common(1)[0][0] if found else None


def _summary(title: str, impact: str | None, found: dict[str, HistoryMessage | None],
             posted: HistoryMessage | None) -> str:
    if posted is not None:  # someone already wrote the summary in the channel
        return " ".join((signals.summary_text(posted) or "").split())
    parts = [f"{title}."]
    if impact:
        parts.append(f"Impact: {impact}.")
    for key, verb in (("detected_at", "Detected"), ("mitigated_at", "Mitigated"), ("resolved_at", "Resolved")):
        m = found.get(key)
        if m is not None:
            parts.append(f"{verb} {_when(m.at)}.")
    return " ".join(parts)


def _impact_section(impact: str | None, found: dict[str, HistoryMessage | None]) -> str:
    lines = [impact[:1].upper() + impact[1:] + "." if impact else _ASK_REVIEW]
    start = found.get("started_at") or found.get("detected_at")
    end = found.get("mitigated_at") or found.get("resolved_at")
    if start and end and end.at >= start.at:
        lines.append(f"Impact window: {_when(start.at)} → {_when(end.at)} ({_duration(end.at - start.at)}).")
    return "\n\n".join(lines)


def _leadup(rows: list[TimelineRow], found: dict[str, HistoryMessage | None]) -> str:
    detected = found.get("detected_at")
    before = [r for r in rows if detected is None or r.at < detected.at]
    if not before:
        return "No change or event before detection is recorded in the channel."
    return "\n".join(f"- {_when(r.at)}: {r.text} ({_cite(r.source)})" for r in before)


def _trigger(found: dict[str, HistoryMessage | None]) -> str:
    started = found.get("started_at")
    if started is None or started is found.get("detected_at"):
        return "The channel does not show what triggered the incident. " + _ASK_REVIEW
    text = re.sub(r"^\s*\[[^\]]{1,40}\]\s*", "", started.text)  # "[change-feed] …"
    return f"The first recorded event: {signals.clean_event_text(text)} ({_cite(started.source)})."


def _detection(found: dict[str, HistoryMessage | None]) -> str:
    detected, started = found.get("detected_at"), found.get("started_at")
    if detected is None:
        return _ASK_REVIEW
    how = f"the alert “{signals.alert_name(detected)}”" if signals.alert_state(detected) else \
        f"a report from {detected.author}"
    text = f"Detected {_when(detected.at)} by {how} ({_cite(detected.source)})."
    if started and started.at < detected.at:
        text += f" Time to detect: {_duration(detected.at - started.at)} after the first recorded event."
    return text


def _response(history: History, found: dict[str, HistoryMessage | None], people: list[HistoryMessage]) -> str:
    names = Counter(m.author for m in people)
    lines = []
    lead = _lead(history)
    if lead:
        lines.append(f"Incident lead: {lead}.")
    if names:
        lines.append(f"Responders ({len(names)}): " + ", ".join(n for n, _ in names.most_common()) + ".")
    updates = [m for m in people if signals.is_status_update(m)]
    if updates:
        lines.append(f"{len(updates)} status update(s) posted, the first {_when(updates[0].at)}.")
    declared = found.get("declared_at")
    if declared:
        lines.append(f"Declared an incident {_when(declared.at)} ({_cite(declared.source)}).")
    return " ".join(lines) or _ASK_REVIEW


def _mitigation(found: dict[str, HistoryMessage | None]) -> str:
    lines = []
    for key, label in (("mitigated_at", "Mitigated"), ("resolved_at", "Resolved")):
        m = found.get(key)
        if m is not None and not (key == "resolved_at" and m is found.get("mitigated_at")):
            lines.append(f"- {label} {_when(m.at)}: {_event(m)} ({_cite(m.source)})")
    return "\n".join(lines) or _ASK_REVIEW


def _event(m: HistoryMessage) -> str:
    state = signals.alert_state(m)
    return f"alert “{signals.alert_name(m)}” resolved" if state else signals.clean_event_text(m.text)


def _bullets(msgs: Iterable[HistoryMessage]) -> str:
    seen: set[str] = set()
    lines = []
    for m in msgs:
        text = signals.clean_event_text(_TO_REVIEW.sub("", _LABEL.sub("", m.text)))
        if text.lower() not in seen:
            seen.add(text.lower())
            lines.append(f"- {text} ({_cite(m.source)})")
    return "\n".join(lines) or _ASK_REVIEW


def _severity(history: History) -> str | None:
    for m in history.messages:
        if m.subtype in ("channel_topic", "group_topic") or signals.declares(m):
            match = _SEVERITY.search(m.text)
            if match:
                return f"SEV{match.group(1)}"
    return None


def _lead(history: History) -> str | None:
    for m in history.messages:
        match = _LEAD.search(m.text) if (m.subtype in ("channel_topic", "group_topic") or signals.is_statement(m)) \
            else None
        if match:
            return match.group(1) or m.author
    return None


def _category(text: str) -> str:
    lowered = text.lower()
    scores = [(len(re.findall(pattern, lowered)), i, name) for i, (name, pattern) in enumerate(_CATEGORIES)]
    best = max(scores, key=lambda s: (s[0], -s[1]))
    return best[2] if best[0] else "unknown"


def _links(history: History) -> list[str]:
    links: list[str] = list(history.links)
    for m in history.messages:
        for url in _URL.findall(m.text):
            if url not in links:
                links.append(url)
    return links[:20]


def _cite(source: str) -> str:
    return f"[source]({source})" if source.startswith("http") else f"source: {source}"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return " ".join(p for p in (f"{days}d" if days else "", f"{hours}h" if hours else "", f"{mins}m") if p)

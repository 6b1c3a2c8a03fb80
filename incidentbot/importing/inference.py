"""What a Slack export channel's history says about its incident, without a database.

``infer`` reads a ``SlackExport`` and returns the title, severity, who declared it, and
the milestones the history makes **clear**, each with the message it came from; when a
rule finds nothing the milestone stays empty rather than guessed (docs/import-export.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


from incidentbot.core.errors import DomainError
from incidentbot.core.policy import Policy
from incidentbot.models import Incident
from incidentbot.slack_export import ExportMessage, SlackExport


# The milestones an import can set, in the product's order.
INFERRED = ("declared_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at")
LABELS = {
    "started_at": "started", "declared_at": "declared", "detected_at": "detected",
    "acknowledged_at": "acknowledged", "mitigated_at": "mitigated", "resolved_at": "resolved",
}
# Timeline event kinds for inferred milestones: the ones the live commands record.
_EVENT_KINDS = {"detected_at": "detected", "acknowledged_at": "acknowledged",
                "mitigated_at": "mitigated", "resolved_at": "resolved"}

# --- the rules ---------------------------------------------------------------------------------
# Every pattern is matched case-insensitively against one clause of a message written by a
# person (bots and system messages never count, except alert bots for detection and topic
# changes for status). A clause that asks, denies, or speaks of the future or a condition
# ("is it mitigated?", "not resolved yet", "once it is fixed", "we should mark it resolved")
# is not a statement and is skipped.

_NOT_A_STATEMENT = re.compile(
    r"\b(?:not|no|never|nothing|isn't|isnt|wasn't|aren't|haven't|hasn't|hadn't|don't|doesn't|didn't|won't|"
    r"can't|cannot|yet to|until|unless|once|if|whether|when|before|should|would|could|might|may|will|"
    r"going to|need to|needs to|try to|hope|hopefully|expect|expected|waiting|wait for|let's|lets|maybe|"
    r"almost|nearly|partially|partly|assuming|assume)\b|n't\b",
    re.IGNORECASE,
)
_CLAUSES = re.compile(r"(?<=[.!?;])\s+|\n+|\s+(?:but|however|although|though)\s+", re.IGNORECASE)

DECLARED = [
    re.compile(r"\bdeclar(?:e|ed|ing)\b[^.!?\n]{0,40}\bincident\b", re.IGNORECASE),
    re.compile(r"\bcalling it\b[^.!?\n]{0,40}\bincident\b", re.IGNORECASE),
    re.compile(r"\bthis is (?:now )?(?:an|a sev ?\d|a p\d) incident\b", re.IGNORECASE),
    re.compile(r"\b(?:opening|raising|raised|opened) (?:an|a sev ?\d) incident\b", re.IGNORECASE),
]
MITIGATED = [
    re.compile(r"\bmitigated\b", re.IGNORECASE),
    re.compile(r"\bmitigation (?:is |has been )?(?:in place|applied|deployed|worked|is working)\b", re.IGNORECASE),
    re.compile(r"\b(?:service|services|site|website|app|api|everything|traffic)(?:'s|’s| are| is)?(?: now)?"
               r" back(?! to square)(?: up| online| to normal)?\b", re.IGNORECASE),
    re.compile(r"\b(?:it|we)(?:'re|’re|'s|’s| are| is)(?: now)? back(?! to square)(?: up| online| to normal)?\b",
               re.IGNORECASE),
    re.compile(r"\b(?:service|services|site|website|app|api|everything|traffic)(?: is| are| has been| have been)?"
               r"(?: now)? (?:restored|recovered|healthy again|working again)\b", re.IGNORECASE),
    re.compile(r"\bimpact (?:has |is )?(?:stopped|ended|over|gone)\b", re.IGNORECASE),
    re.compile(r"\bback to normal\b", re.IGNORECASE),
    re.compile(r"\b(?:moving|moved|moves) (?:it |this |the incident )?to monitoring\b", re.IGNORECASE),
]
RESOLVED = [
    re.compile(r"\b(?:incident|issue|problem|outage)(?:'s|’s| is| has been)?(?: now)?(?: fully)? (?:resolved|fixed)\b",
               re.IGNORECASE),
    re.compile(r"\b(?:this|it|everything)(?:'s|’s| is| has been)(?: now)?(?: fully)? (?:resolved|fixed)\b", re.IGNORECASE),
    re.compile(r"\bresolving (?:the |this )?incident\b", re.IGNORECASE),
    re.compile(r"\bmark(?:ing|ed)? (?:this|it|the incident|incident)(?: as)?(?: mitigated and)? (?:resolved|closed)\b",
               re.IGNORECASE),
    re.compile(r"^\W*(?:resolved|fixed)\b(?!\s*\?)", re.IGNORECASE),
    re.compile(r"\b(?:resolved|fixed) for good\b", re.IGNORECASE),
    re.compile(r"\bclosing (?:the |this )?incident\b", re.IGNORECASE),
    re.compile(r"\bmitigated\s*(?:and|\+|&|/)\s*resolved\b", re.IGNORECASE),
]
# How it was detected. Alert bots are a separate, stronger signal (ALERT_BOT).
DETECTION = {
    "customer": [
        re.compile(r"\b(?:customer|client|end[- ]user|user)s? (?:are |have |has |were |just )?"
                   r"(?:report|complain|flag|contact|rais|tell|told|alert|mention|notic)\w*", re.IGNORECASE),
        re.compile(r"\b(?:customer|client|user) (?:report|complaint|ticket)s?\b", re.IGNORECASE),
        re.compile(r"\bsupport tickets?\b", re.IGNORECASE),
    ],
    "monitoring": [
        re.compile(r"\balerts? (?:has |have |just )?(?:fired|firing|went off|triggered|came in|is firing|are firing)\b",
                   re.IGNORECASE),
        re.compile(r"\b(?:got|were|was|been|get|getting) paged\b", re.IGNORECASE),
        re.compile(r"\bpager(?:duty)? (?:went off|fired|alerted|alert)\b", re.IGNORECASE),
        re.compile(r"\b(?:monitoring|alerting|alertmanager|grafana|datadog|cloudwatch|prometheus|pagerduty|"
                   r"nagios|opsgenie|sentry)(?: alert)? (?:flagged|flags|caught|picked up|detected|alerted)\b",
                   re.IGNORECASE),
        re.compile(r"\bautomated (?:warning|alert)\b", re.IGNORECASE),
    ],
    "staff": [
        re.compile(r"\b(?:i|we|someone|engineers?|colleagues?) (?:just )?(?:noticed|spotted)\b", re.IGNORECASE),
        re.compile(r"\b(?:problem|issue|error|errors|it) (?:was |were |has been |got )?(?:spotted|noticed)\b",
                   re.IGNORECASE),
        re.compile(r"\b(?:just )?(?:noticed|spotted) that\b", re.IGNORECASE),
    ],
}
# A bot message that is an alert firing (not recovering).
ALERT_FIRING = re.compile(r"\[FIRING\b|\[Alerting\]|\[ALERT\]|\bTriggered\b|\bTRIGGERED\b|\bALARM\b|"
                          r"^:rotating_light:|\bis (?:firing|triggered|down)\b|\bstatus: ?(?:firing|critical)\b")
ALERT_RECOVERED = re.compile(r"\[RESOLVED\]|\[OK\]|\bRESOLVED\b|\bResolved\b|\bRecovered\b|\bOK\b")
ACKNOWLEDGED = re.compile(
    r"^(?:ack|acked|ack'd|acking|acknowledged|on it|i'm on it|im on it|i am on it|on this|i'm on this|"
    r"i am on this|looking|looking now|looking into it|i'm looking|taking a look|i'll take it|i'll take this|"
    r"investigating)$",
    re.IGNORECASE,
)
SEVERITY = re.compile(r"\bsev(?:erity)?[ \-_:]?([0-9])\b", re.IGNORECASE)
_TOPIC_STATUS = {
    "declared_at": re.compile(r"\bdeclared\b", re.IGNORECASE),
    "mitigated_at": re.compile(r"\bmitigated\b|\bmonitoring\b", re.IGNORECASE),
    "resolved_at": re.compile(r"\bresolved\b|\bclosed\b", re.IGNORECASE),
}
_TITLE_PREFIX = re.compile(r"^\s*(?:incident(?: response)?|inc(?:-\d+)?|sev ?\d)\s*[:\-–—|]\s*", re.IGNORECASE)
_NAME_PREFIX = re.compile(r"^(?:inc(?:ident)?[-_])?(?:\d{4}-\d{2}-\d{2}[-_]|\d{8}[-_])?(?:\d+[-_])?", re.IGNORECASE)
_DETECTION_WINDOW = timedelta(minutes=2)  # signals this close to the first one are read together
_ACK_WINDOW = timedelta(minutes=60)
_EARLY_MESSAGES = 30  # "early on" for a severity mentioned in conversation


class ImportFailed(DomainError):
    """The export cannot be imported as asked (an empty channel, an incident number race)."""


@dataclass(frozen=True)
class Evidence:
    """Why a milestone (or severity, detection) was set: the message and the rule."""

    at: datetime
    rule: str  # "statement", "topic", "alert bot", "first message", "implied by resolved", ...
    ts: str | None = None
    author: str | None = None  # the Slack user id of the message's author (None for most bots)
    author_name: str | None = None  # the author's name as the export knows it
    text: str = ""  # the message, mentions resolved, shortened


@dataclass
class Inference:
    """What a channel's history says about the incident, with the evidence."""

    channel_id: str
    channel_name: str
    title: str
    declared_by: str
    severity: str | None = None  # a policy severity id, None when the history does not say
    severity_evidence: Evidence | None = None
    detection: str | None = None  # "monitoring" | "customer" | "staff"
    detection_evidence: Evidence | None = None
    milestones: dict[str, Evidence] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def times(self) -> dict[str, datetime | None]:
        return {name: (self.milestones[name].at if name in self.milestones else None)
                for name in ("started_at", *INFERRED)}


@dataclass
class ImportResult:
    incident: Incident
    created: bool
    messages_added: int
    events_added: int
    milestones: dict[str, datetime | None]  # the incident's milestones after the import
    milestones_set: list[str] = field(default_factory=list)  # set by this import
    captured: int = 0  # pinned / emoji-marked messages newly on the timeline
    exists: bool = False  # already imported, and no --update: nothing was added
    inference: Inference | None = None


def request_key(channel_id: str) -> str:
    return f"import:{channel_id}"


# --- inference (no database) -----------------------------------------------------------------


def infer(export: SlackExport, channel_name: str, policy: Policy | None = None) -> Inference:
    """Read the channel's history and say what it makes clear; see the module's rules."""
    channel = export.channel(channel_name)
    history = export.messages(channel_name)
    if not history:
        raise ImportFailed(f"#{channel.get('name') or channel.get('id')} has no messages in the export; nothing to import.")
    inference = Inference(
        channel_id=str(channel.get("id") or channel.get("name")),
        channel_name=str(channel.get("name") or channel.get("id")),
        title=_title(channel),
        declared_by=_declared_by(export, channel, history),
    )
    people = [m for m in history if _is_person(export, m)]

    # Resolution first: mitigation is looked for up to it, detection up to mitigation, so the
    # inferred milestones are in order by construction.
    resolved = _first_statement(export, history, RESOLVED, "resolved_at")
    mitigated = _first_statement(export, history, MITIGATED, "mitigated_at",
                                 until=resolved.at if resolved else None)
    if resolved and not mitigated:
        # As `/incident resolve` does: impact has ended by the time it is resolved at the latest.
        mitigated = Evidence(resolved.at, "implied by resolved", resolved.ts, resolved.author, resolved.author_name,
                             resolved.text)
    end = mitigated.at if mitigated else None
    detected, detection, detection_evidence = _detection(export, history, until=end)
    declared = _first_statement(export, history, DECLARED, "declared_at", until=end)
    if declared is None:
        first = history[0]
        declared = _evidence(export, first, "first message")
    acknowledged = _acknowledged(export, people, detected, declared, end)

    for name, evidence in (("declared_at", declared), ("detected_at", detected), ("acknowledged_at", acknowledged),
                           ("mitigated_at", mitigated), ("resolved_at", resolved)):
        if evidence is not None:
            inference.milestones[name] = evidence
    if detected is not None and detected.at > declared.at and declared.rule == "first message":
        inference.notes.append("the channel's first message is earlier than the first sign of detection; "
                               "declared is the channel's start, detected the first signal in it")
    inference.detection, inference.detection_evidence = detection, detection_evidence
    inference.severity, inference.severity_evidence = _severity(export, channel, history, people, policy, end)
    return inference


def _is_person(export: SlackExport, message: ExportMessage) -> bool:
    if export.is_bot(message):
        return False
    return message.subtype in (None, "thread_broadcast", "me_message", "file_share")


def _author(export: SlackExport, message: ExportMessage) -> str | None:
    return message.user_id  # a Slack user id; bots without a user are named in author_name


def _evidence(export: SlackExport, message: ExportMessage, rule: str, text: str | None = None) -> Evidence:
    return Evidence(message.posted_at, rule, message.ts, _author(export, message), export.author(message),
                    _short(export, message) if text is None else text)


def _short(export: SlackExport, message: ExportMessage, limit: int = 200) -> str:
    text = " ".join(export.plain_text(message).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _statement_in(text: str, patterns: list[re.Pattern[str]]) -> bool:
    """Whether one clause of ``text`` states what a pattern says (not a question, denial, plan)."""
    for clause in _CLAUSES.split(text or ""):
        clause = clause.strip()
        if not clause or clause.endswith("?"):
            continue
        for pattern in patterns:
            match = pattern.search(clause)
            if match and not _NOT_A_STATEMENT.search(clause[: match.end()]):
                return True
    return False


def _topic_value(message: ExportMessage) -> str | None:
    if message.subtype == "channel_topic":
        return str(message.raw.get("topic") or message.text.partition("set the channel topic:")[2]).strip()
    return None


def _first_statement(export: SlackExport, history: list[ExportMessage], patterns: list[re.Pattern[str]],
                     milestone: str, *, until: datetime | None = None) -> Evidence | None:
    """The first message by a person (or topic change) that states the milestone."""
    topic_pattern = _TOPIC_STATUS.get(milestone)
    for message in history:
        if until is not None and message.posted_at > until:
            return None
        topic = _topic_value(message)
        if topic is not None:
            if topic_pattern and topic_pattern.search(topic) and not export.is_bot(message):
                return _evidence(export, message, "topic", f"topic set to: {topic}")
            continue
        if not _is_person(export, message):
            continue
        text = export.resolve_mentions(message.text)
        if _statement_in(text, patterns):
            return _evidence(export, message, "statement")
    return None


def _detection(export: SlackExport, history: list[ExportMessage], *, until: datetime | None) -> tuple[Evidence | None, str | None, Evidence | None]:
    """First sign of detection (an alert bot firing, or a person saying how they found out)."""
    signals: list[tuple[datetime, str, Evidence]] = []
    for message in history:
        if until is not None and message.posted_at > until:
            break
        if export.is_bot(message):
            text = f"{message.text}\n{message.attachment_text}"
            first_line = (message.text or message.attachment_text).strip()
            if ALERT_FIRING.search(text) and not ALERT_RECOVERED.search(first_line[:40]):
                signals.append((message.posted_at, "monitoring", _evidence(export, message, "alert bot")))
            continue
        if not _is_person(export, message):
            continue
        text = export.resolve_mentions(message.text)
        for kind, patterns in DETECTION.items():
            if _statement_in(text, patterns):
                signals.append((message.posted_at, kind, _evidence(export, message, f"{kind} statement")))
                break
        if signals and message.posted_at > signals[0][0] + _DETECTION_WINDOW:
            break
    if not signals:
        return None, None, None
    first_at, _kind, first = signals[0]
    near = {kind: evidence for at, kind, evidence in reversed(signals) if at <= first_at + _DETECTION_WINDOW}
    if "customer" in near and "monitoring" in near:
        return first, None, None  # an alert and a customer report together: which came first is unclear
    for kind in ("customer", "monitoring", "staff"):
        # A person noticing next to an alert most likely noticed the alert.
        if kind in near:
            return first, kind, near[kind]
    return first, None, None  # pragma: no cover - every signal has one of the kinds


def _acknowledged(export: SlackExport, people: list[ExportMessage], detected: Evidence | None,
                  declared: Evidence, end: datetime | None) -> Evidence | None:
    """A person answering with "ack" / "on it" / "looking" within the hour after the detection,
    or after an explicit declaration that came later (the product acknowledges the declared
    incident: ``declared ≤ acknowledged``)."""
    if detected is None:
        return None
    start = max(detected.at, declared.at) if declared.rule != "first message" else detected.at
    for message in people:
        if message.posted_at < start:
            continue
        if message.posted_at > start + _ACK_WINDOW or (end is not None and message.posted_at > end):
            return None
        text = re.sub(r"[^\w' ]+", " ", export.resolve_mentions(message.text).replace("’", "'")).strip()
        if ACKNOWLEDGED.match(" ".join(text.split())):
            return _evidence(export, message, "acknowledgement")
    return None


def _severity_in(text: str, policy: Policy | None) -> str | None:
    for match in SEVERITY.finditer(text or ""):
        clause_start = max(text.rfind(sep, 0, match.start()) for sep in ".!?;\n")
        before = text[clause_start + 1: match.start()]
        if re.search(r"\b(?:not|no|isn't|wasn't|never)\b|n't\b", before, re.IGNORECASE):
            continue  # "this isn't a sev1"
        candidate = f"SEV{match.group(1)}"
        if policy is None:
            return candidate
        try:
            return policy.severity(candidate).id
        except KeyError:
            continue
    return None


def _severity(export: SlackExport, channel: dict[str, Any], history: list[ExportMessage],
              people: list[ExportMessage], policy: Policy | None,
              end: datetime | None) -> tuple[str | None, Evidence | None]:
    """The severity the channel topic says (its latest setting), else one named early on by a person."""
    topics = [m for m in history if _topic_value(m) is not None and not export.is_bot(m)]
    for message in reversed(topics):
        found = _severity_in(_topic_value(message) or "", policy)
        if found:
            return found, _evidence(export, message, "topic", f"topic set to: {_topic_value(message)}")
    for key in ("topic", "purpose"):
        value = (channel.get(key) or {}).get("value") if isinstance(channel.get(key), dict) else None
        found = _severity_in(value or "", policy)
        if found:
            return found, Evidence(history[0].posted_at, f"channel {key}", text=f"{key}: {value}")
    for message in people[:_EARLY_MESSAGES]:
        if end is not None and message.posted_at > end:
            break
        found = _severity_in(export.resolve_mentions(message.text), policy)
        if found:
            return found, _evidence(export, message, "statement")
    return None, None


def _title(channel: dict[str, Any]) -> str:
    """The channel's purpose, else its topic (if it is not a status line), else its name."""
    for key in ("purpose", "topic"):
        raw = channel.get(key)
        value = (raw.get("value") if isinstance(raw, dict) else raw) or ""
        value = " ".join(str(value).split())
        if not value:
            continue
        if key == "topic" and ("|" in value or SEVERITY.search(value)):
            continue  # "SEV2 | Investigating | lead: @x" describes the state, not the incident
        value = _TITLE_PREFIX.sub("", value).strip()
        if value:
            return value[0].upper() + value[1:]
    name = str(channel.get("name") or channel.get("id") or "imported incident")
    words = _NAME_PREFIX.sub("", name).replace("-", " ").replace("_", " ").strip() or name
    return words[0].upper() + words[1:]


def _declared_by(export: SlackExport, channel: dict[str, Any], history: list[ExportMessage]) -> str:
    if channel.get("creator"):
        return str(channel["creator"])
    for message in history:
        if _is_person(export, message) and message.user_id:
            return message.user_id
    return "unknown"

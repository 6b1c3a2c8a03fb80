"""What a message is, read from its shape and wording: the offline drafter's vocabulary.

Every rule here is a general convention of incident channels (alert bots, status
updates, "mitigated"/"resolved" announcements, action proposals, chatter), never a
rule about one particular incident. Functions take one ``HistoryMessage`` and answer
a yes/no question or return a cleaned-up phrase; the offline drafter combines them.
"""

from __future__ import annotations

import re

from incidentbot.drafting.history import HistoryMessage

# --- alerts and other bots ---------------------------------------------------------------------

_FIRING = re.compile(r"\[FIRING\b|\[Alerting\]|\bfiring\b|\btriggered\b|\bALARM\b|\[CRITICAL\]|\bis down\b", re.I)
_RECOVERED = re.compile(r"\[RESOLVED\]|\[OK\]|\brecovered\b|\bresolved\b|\bback to normal\b", re.I)


def alert_state(m: HistoryMessage) -> str | None:
    """``"firing"`` or ``"resolved"`` for an alerting bot's message, else None."""
    if not m.is_bot or m.is_system:
        return None
    head = m.text.split("\n", 1)[0]
    if _RECOVERED.search(head):
        return "resolved"
    if _FIRING.search(head):
        return "firing"
    return None


def is_notice(m: HistoryMessage) -> bool:
    """A bot post that is not an alert: deploy and change feeds, CI, status pages."""
    return m.is_bot and not m.is_system and not m.is_reply and alert_state(m) is None and bool(m.text.strip())


def alert_name(m: HistoryMessage) -> str:
    head = m.text.split("\n", 1)[0]
    head = re.sub(r"^\s*\[(?:FIRING(?::\d+)?|RESOLVED|OK|Alerting)\]\s*", "", head, flags=re.I)
    return head.strip() or m.author


# --- status updates and milestones ---------------------------------------------------------------

_STATUS_WORD = r"(?:investigating|identified|monitoring|mitigated|resolved)"
_STATUS_UPDATE = re.compile(
    r"^\W*(?:status update|stakeholder update|quick check-in|still monitoring|monitoring update)\b"
    rf"|^\W*update:\s*{_STATUS_WORD}\b|\bnext (?:update|one) in\b", re.I)
_DECLARED = re.compile(
    r"\bcalling it\b|\bdeclar(?:e|ing)\b[^.]{0,40}\bincident\b|\bthis is an incident\b|"
    r"\bincident declared\b(?! clear)", re.I)
_MITIGATED = re.compile(
    r"\bmitigated\b|\bwe'?re (?:repaired|back)\b|\bservice (?:is )?(?:back|restored)\b|\bimpact (?:is over|has stopped|"
    r"should have stopped)\b|\bback to normal\b", re.I)
# Weaker: a fix or rollback was done, which does not yet say the impact ended.
_FIXED = re.compile(r"\brolled back\b|\breverted\b|\bfix(?:ed)? (?:is )?(?:deployed|rolled out|in place)\b|\bfixed\b",
                    re.I)
_RESOLVED = re.compile(
    r"\bresolving the incident\b|\bincident (?:is )?resolved\b|\bmarking (?:this|it|the incident) (?:as )?resolved\b|"
    r"\b(?:mitigated|marking[^.]{0,30}mitigated) (?:\+|and|&) resolved\b|\bclosing (?:the|this) incident\b", re.I)
_TOPIC_STATUS = re.compile(rf"\|\s*({_STATUS_WORD}|declared)\b", re.I)
_NEGATED = re.compile(r"\b(?:not|isn't|aren't|no longer|nothing|if|until|once|before)\b", re.I)


def is_status_update(m: HistoryMessage) -> bool:
    """A periodic status/stakeholder post: it restates events, it is not one."""
    return not m.is_bot and not m.is_system and bool(_STATUS_UPDATE.search(m.text))


def is_statement(m: HistoryMessage) -> bool:
    """A top-level message by a person that asserts something (not a question)."""
    return not (m.is_bot or m.is_system or m.is_reply or m.is_event) and "?" not in m.text


def declares(m: HistoryMessage) -> bool:
    return m.event_kind == "declared" or (is_statement(m) and bool(_DECLARED.search(m.text)))


def announces_mitigation(m: HistoryMessage) -> bool:
    if m.event_kind == "mitigated":
        return True
    return _announces(m, _MITIGATED) or announces_resolution(m) and bool(re.search(r"mitigat", m.text, re.I))


def announces_fix(m: HistoryMessage) -> bool:
    return _announces(m, _FIXED)


def announces_resolution(m: HistoryMessage) -> bool:
    return m.event_kind == "resolved" or _announces(m, _RESOLVED)


def _announces(m: HistoryMessage, pattern: re.Pattern[str]) -> bool:
    if not is_statement(m) or is_status_update(m) or is_proposal_like(m):
        return False
    match = pattern.search(m.text)
    # "not mitigated yet", "until it's resolved": the word is there, the event is not.
    return bool(match) and not _NEGATED.search(m.text[max(0, match.start() - 25):match.start()])


def topic_status(m: HistoryMessage) -> str | None:
    """The status a channel-topic change sets ("SEV2 | Mitigated, monitoring" → mitigated)."""
    if m.subtype not in ("channel_topic", "group_topic"):
        return None
    match = _TOPIC_STATUS.search(m.text)
    return match.group(1).lower() if match else None


# --- proposals, reflections and chatter ------------------------------------------------------------

_PROPOSAL = re.compile(
    r"\b(?:action(?: item)?s?|todo|ai|follow[- ]?ups?(?: item)?|next steps?)\b\s*(?:for the postmortem)?\s*[:—–-]|"
    r"^\W*todo\b|\bwe should\b|\bwe need(?: to)?\b|\bwe must\b|\blet'?s make sure we\b|\bcan we get a ticket\b|"
    r"\bwe'?ll need to\b|\bi think we need\b", re.I)
_REFLECTION = re.compile(
    r"^\W*(?:contributing factor|for context|worth noting|takeaway|learning|lesson|one more thing that made it worse|"
    r"i think part of it was|root cause|what went (?:well|wrong)|we got lucky|luckily)\b", re.I)
_PLAN = re.compile(
    r"^\W*(?:i'?ll|i will|i'?m going to|let me|let'?s|going to|gonna|brb|will do|on it|shout if|happy to|"
    r"can someone|could someone|anyone|who)\b", re.I)
_ACTIVITY = re.compile(
    r"^\W*(?:checking|looking|trying|tailing|going through|pulling|diffing|sharing|scribing|catching up|"
    r"restarting nothing|opened a huddle|noting|joining|seen, jumping|reading|digging|investigating|"
    r"taking a look|having a look|still looking|grafana for|runbook|dashboard|link|copied|archiving|adding the)\b",
    re.I)
_RESULT_NEGATIVE = re.compile(
    r"\bnothing (?:obvious|jumps out|new)\b|\blooks? (?:healthy|fine|normal|ok|stable)\b|\bnot seeing\b|"
    r"\bstill seeing\b|\bdidn'?t help\b|\bdoesn'?t look like\b|\bno new\b|\bruling that out\b|\bnot (?:that|it)\b"
    r"|\ball quiet\b|\bsame (?:here|on my side)\b", re.I)
_OFF_TOPIC = re.compile(
    r"\b(?:lunch|coffee|cake|pizza|laptop|wifi|wrong channel|school run|weekend|birthday|out of office|"
    r"brb|unrelated|i'?m out|ooo|pto|vacation|holiday)\b", re.I)
_SUMMARY = re.compile(r"^\W*(?:summary|tl;?dr|recap)\b(?: for the post-?mortem)?\s*:", re.I)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
# Completion and discovery verbs: a statement that something began, finished or was found.
EVENT_VERB = re.compile(
    r"\b(?:began|begun|started|kicked off|done|finished|completed|found|spotted|uncovered|identified|revealed|"
    r"confirmed|reproduced|deployed|rolled (?:out|back|over)|reverted|deleted|killed|raised|set up|published|"
    r"pinged|reached|handed over|fixed|patched|applied|merged|upgraded|bumped|scaled|drained|removed|joined|"
    r"decided|agreed|escalated|notified|informed|announced|released|failed|stopped|crashed|expired|lapsed)\b",
    re.I)


def is_proposal_like(m: HistoryMessage) -> bool:
    return bool(_PROPOSAL.search(m.text))


def is_off_topic(text: str) -> bool:
    return bool(_OFF_TOPIC.search(text))


def is_reflection(m: HistoryMessage) -> bool:
    """A contributing factor, learning or other retrospective remark."""
    return bool(_REFLECTION.search(m.text))


def summary_text(m: HistoryMessage) -> str | None:
    """The text of a "Summary: …" / "TL;DR: …" post (the incident told in brief), else None."""
    match = _SUMMARY.search(m.text)
    return m.text[match.end():].strip() if match else None


def has_event_verb(text: str) -> bool:
    return bool(EVENT_VERB.search(text))


def is_chatter(m: HistoryMessage) -> bool:
    """Coordination talk, routine checks, negative results and off-topic lines."""
    text = m.text
    words = len(_WORD.findall(text))
    # "ack", "on it", "+1": too short to state an event, unless it says one ("change rolled back").
    if words < 2 or words < 4 and not has_event_verb(text):
        return True
    return bool(_PLAN.search(text) or _ACTIVITY.search(text) or _RESULT_NEGATIVE.search(text)
                or _OFF_TOPIC.search(text))


# --- text clean-up -------------------------------------------------------------------------------

_LEAD_IN = re.compile(
    r"^\s*(?:[📣📌🚨✅⚠️ℹ️\W]\s*)*"
    r"(?:(?:ok|okay|so|fyi|fyi:|update|heads up|psst|quick note|note|also|and)\b[:,]?\s*)+",
    re.I)


def clean_event_text(text: str, limit: int = 220) -> str:
    """One tidy line for a timeline row: lead-ins ("ok,", "fyi", "update:") dropped,
    first letter capitalised, long text cut at a sentence or word boundary."""
    line = " ".join(text.split())
    line = _LEAD_IN.sub("", line) or line
    line = line.strip(" -—–")
    if len(line) > limit:
        cut = line[:limit]
        end = max(cut.rfind(". "), cut.rfind("; "))
        line = cut[:end + 1] if end > limit // 2 else cut.rsplit(" ", 1)[0] + "…"
    return line[:1].upper() + line[1:]


def normalised(text: str) -> str:
    """Text with numbers, addresses and case folded: repeated phrasings compare equal."""
    text = re.sub(r"\b(?:ip-)?\d+(?:[.-]\d+)*\b", "#", text.lower())
    return " ".join(re.sub(r"[^\w#' ]+", " ", text).split())

"""Blameless check: find blameful phrasing in draft text, reword it or drop it.

An individual's action is never a root cause. The check flags words that judge people
("human error", "careless", "should have", "X's fault", "blame") and sentences in which a
person is the subject of a cause ("Kasper broke the deploy", "she caused the outage").
Each finding carries a suggested rewording; the text is rewritten (a person as subject
becomes "a change", judging adjectives go, "should have" becomes "could have"), and a
sentence that is still blameful after that is dropped from the draft.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# The phrases reviewers most often flag (a superset of the benchmark's list).
BLAME_WORDS = re.compile(
    r"\b(?:human error|careless(?:ly|ness)?|negligen\w*|should(?:n't| not)? have|should've|failed to notice|"
    r"fault of|(?:'s|s') fault|(?:his|her|their|my|your) fault|blame[sd]?|blaming|incompeten\w*|sloppy|"
    r"(?:his|her|their) mistake|stupid|idiot\w*|lazy|dumb)\b", re.I)
CAUSAL_VERBS = r"(?:broke|breaks|caused|causes|messed up|screwed up|forgot|missed|deleted|dropped|took down|" \
               r"brought down|killed|pushed a bad|fat-fingered)"
_PRONOUN_CAUSE = re.compile(rf"\b(?:he|she)\s+{CAUSAL_VERBS}\b", re.I)
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bhuman error\b", re.I), "a manual step without a safeguard"),
    (re.compile(r"\bshould(?:'ve| have)\b", re.I), "could have"),
    (re.compile(r"\bfailed to notice\b", re.I), "did not see"),
    (re.compile(r"\bnegligence\b", re.I), "a missing safeguard"),
    (re.compile(r"\b(?:his|her|their) mistake\b", re.I), "the step"),
    # "a careless change" → "a change"; "the review was careless" has nothing left to say
    # without the judgement, so it stays flagged and the sentence is removed.
    (re.compile(r"(?<!\bwas)(?<!\bwere)(?<!\bis)(?<!\bare)(?<!\bbeen)\s+(?:careless(?:ly)?|sloppy|incompetent|stupid|"
                r"lazy|dumb)\b", re.I), ""),
)
_SUGGESTIONS = {
    "human error": "Describe what in the system or process allowed the step to have this effect.",
    "should": "Ask what would have made the right action easier, not what someone should have done.",
    "fault": "Name the condition or gap, not a person.",
    "blame": "Describe what happened and why it made sense at the time.",
    "cause": "Make the change or system the subject: what allowed this change to cause harm?",
}
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_CITATION_ONLY = re.compile(r"^\s*(?:[-*]\s*)?(?:\((?:source: [^)]*|\[source\]\([^)]*\))\))?\s*$")


@dataclass(frozen=True)
class Finding:
    phrase: str
    sentence: str
    suggestion: str
    where: str
    action: str  # "reworded" | "removed"

    def to_json(self) -> dict[str, str]:
        return {"phrase": self.phrase, "sentence": self.sentence, "suggestion": self.suggestion,
                "where": self.where, "action": self.action}


class BlamelessChecker:
    """Checks and rewrites text; ``people`` are the names that may appear as subjects."""

    def __init__(self, people: Iterable[str] = ()) -> None:
        names = sorted({re.escape(p) for p in people if p and len(p) > 1}, key=len, reverse=True)
        self._person_cause = re.compile(
            rf"@?\b(?:{'|'.join(names)})\b(?:'s)?(?:\s+(?:change|deploy|commit|PR|script|mistake))?\s+{CAUSAL_VERBS}\b",
            re.I) if names else None

    def problems(self, text: str) -> list[str]:
        """The blameful phrases in ``text`` (empty when it is fine)."""
        found = [m.group(0) for m in BLAME_WORDS.finditer(text)]
        found += [m.group(0) for m in _PRONOUN_CAUSE.finditer(text)]
        if self._person_cause is not None:
            found += [m.group(0) for m in self._person_cause.finditer(text)]
        return found

    def rewrite(self, text: str, where: str) -> tuple[str, list[Finding]]:
        """``text`` made blameless, and what was changed."""
        if not text or not self.problems(text):
            return text, []
        findings: list[Finding] = []
        lines = []
        for line in text.split("\n"):
            fixed = self._rewrite_line(line, where, findings)
            if fixed is not None:
                lines.append(fixed)
        return "\n".join(lines), findings

    def _rewrite_line(self, line: str, where: str, findings: list[Finding]) -> str | None:
        if not self.problems(line):
            return line
        kept = []
        for sentence in _SENTENCE.split(line):
            phrases = self.problems(sentence)
            if not phrases:
                kept.append(sentence)
                continue
            fixed = self._reword(sentence)
            ok = not self.problems(fixed)
            findings.append(Finding(phrase=phrases[0], sentence=sentence.strip(), suggestion=_suggest(phrases[0]),
                                    where=where, action="reworded" if ok else "removed"))
            if ok:
                kept.append(fixed)
        result = " ".join(kept)
        # A bullet whose only sentence was removed would leave a bare citation behind.
        return None if _CITATION_ONLY.match(result) else result

    def _reword(self, sentence: str) -> str:
        for pattern, replacement in _REWRITES:
            sentence = pattern.sub(replacement, sentence)
        if self._person_cause is not None:
            sentence = self._person_cause.sub(lambda m: "a change " + _verb(m.group(0)), sentence)
        sentence = _PRONOUN_CAUSE.sub(lambda m: "a change " + _verb(m.group(0)), sentence)
        sentence = re.sub(r"(^|[.!?]\s+)a change", lambda m: m.group(1) + "A change", sentence)
        return re.sub(r"\s{2,}", " ", sentence)


def _verb(phrase: str) -> str:
    match = re.search(CAUSAL_VERBS, phrase, re.I)
    return match.group(0) if match else "caused"


def _suggest(phrase: str) -> str:
    lowered = phrase.lower()
    for key, text in _SUGGESTIONS.items():
        if key in lowered:
            return text
    return _SUGGESTIONS["cause"] if re.search(CAUSAL_VERBS, lowered) else \
        "Describe the conditions and decisions, not the person's qualities."

"""Blameless check: blameful phrasing is flagged, reworded or removed, never printed."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from incidentbot.drafting.blameless import BLAME_WORDS, BlamelessChecker
from incidentbot.drafting.draft import draft_postmortem
from incidentbot.drafting.history import History, HistoryMessage
from incidentbot.drafting.render import render_markdown

# The benchmark's list (score_drafts.py) — the draft must never contain these.
SCORER_BLAME = re.compile(r"\b(human error|careless(ly)?|negligen\w*|should have|failed to notice|fault of|"
                          r"blame[sd]?|incompeten\w*|sloppy|his mistake|her mistake|their mistake)\b", re.I)


@pytest.mark.parametrize("text", [
    "The outage was human error.",
    "Kasper was careless with the config.",
    "We should have caught this in review.",
    "Ops failed to notice the alert.",
    "It was the fault of the on-call.",
    "Nobody is to blame, but Ana blamed the vendor.",
    "That was sloppy.",
    "It was his mistake.",
    "Kasper broke the deploy.",
    "Kasper's change caused the outage.",
    "She caused the outage by deleting the table.",
    "It was Frederik's fault.",
])
def test_blameful_phrasing_is_found(text: str) -> None:
    assert BlamelessChecker(["Kasper", "Frederik", "Ana"]).problems(text)


@pytest.mark.parametrize("text", [
    "The deploy pipeline broke the config.",
    "A change to the ingress caused the outage.",
    "Kasper rolled back the deploy and the errors stopped.",
    "The alert was not routed to the on-call, so it was missed.",
    "We run a blameless review next week.",
])
def test_neutral_phrasing_is_not_flagged(text: str) -> None:
    assert BlamelessChecker(["Kasper"]).problems(text) == []


def test_person_as_cause_is_reworded_to_the_change() -> None:
    text, findings = BlamelessChecker(["Kasper"]).rewrite("Kasper broke the deploy at noon.", "summary")
    assert text == "A change broke the deploy at noon."
    assert findings[0].action == "reworded" and findings[0].where == "summary"
    assert "what allowed" in findings[0].suggestion


def test_judging_words_are_reworded() -> None:
    checker = BlamelessChecker()
    assert checker.rewrite("We should have seen it.", "x")[0] == "We could have seen it."
    assert checker.rewrite("A careless change went out.", "x")[0] == "A change went out."
    assert checker.rewrite("It recovered. The review was careless.", "x")[0] == "It recovered."
    assert checker.rewrite("Root cause: human error.", "x")[0] == "Root cause: a manual step without a safeguard."


def test_sentence_that_cannot_be_reworded_is_removed() -> None:
    text, findings = BlamelessChecker().rewrite("Alerts fired at noon. We blame the intern. It recovered.", "s")
    assert text == "Alerts fired at noon. It recovered."
    assert findings[0].action == "removed"


def test_bullet_left_with_only_its_citation_is_dropped() -> None:
    text, _ = BlamelessChecker().rewrite("- Totally his fault (source: 1.2)\n- Disk filled up (source: 1.3)", "s")
    assert text == "- Disk filled up (source: 1.3)"


def test_draft_never_contains_blame_even_when_the_channel_does() -> None:
    t0 = datetime(2024, 3, 13, 10, 0, tzinfo=timezone.utc)
    texts = [
        "[FIRING:1] ApiErrorRateHigh",
        "fyi Kasper broke the deploy, human error, he should have run the tests",
        "update: rollback started after a careless config push",
        "We're repaired: service is back after the rollback",
        "Resolving the incident.",
        "contributing factor: it was the fault of the on-call who failed to notice the alert",
        "learning: sloppy review, his mistake",
        "action: we should have a canary stage for config pushes",
    ]
    messages = [HistoryMessage(ts=f"{1710324000 + i * 60}.000100", at=t0 + timedelta(minutes=i),
                               author="Alertmanager" if i == 0 else "Ana", author_id="B1" if i == 0 else "U1",
                               is_bot=i == 0, text=t) for i, t in enumerate(texts)]
    draft = draft_postmortem(History(channel="inc-api-errors", messages=messages, people=("Kasper", "Ana")),
                             mode="offline")
    prose = " ".join([draft.summary, *draft.sections.values(), *(r.text for r in draft.timeline),
                      *(a.text for a in draft.action_items)])
    assert not SCORER_BLAME.findall(prose)
    assert not BLAME_WORDS.findall(render_markdown(draft).split("## Blameless check")[0])
    assert draft.blameless_findings and all(f["suggestion"] for f in draft.blameless_findings)

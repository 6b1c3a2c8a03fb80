"""Parsing the text after ``/incident`` into a command.

Pure text handling with no Slack calls, so it can be fuzzed. Every failure is a
``CommandError`` whose message says what to type instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from incidentbot.slack.mrkdwn import truncate

# Every subcommand with its syntax and what it does, as help and error messages show it.
# "channel" subcommands work inside an incident channel; "anywhere" ones work everywhere.
USAGE: dict[str, tuple[str, str]] = {
    "declare": ("/incident declare <title> [sev1..sev4]", "Declare an incident and open its channel."),
    "form": ("/incident", "Open the declare form (title, severity, category, services, summary, private)."),
    "list": ("/incident list", "Open incidents you can see, newest first."),
    "backlog": ("/incident backlog [service|team]", "The top of the reliability backlog, with each score explained."),
    "digest": ("/incident digest [2026-W47]", "Preview the weekly digest, only to you."),
    "help": ("/incident help", "Show this help."),
    "convert": ("/incident convert <title> [sev1..sev4]", "Make the current channel an incident channel (no new channel)."),
    "ack": ("/incident ack", "Acknowledge the incident."),
    "lead": ("/incident lead [@person]", "Make someone (or yourself) the incident lead."),
    "role": ("/incident role <role> @person", "Give someone a role (lead, comms, scribe…)."),
    "update": ("/incident update [text]", "Post a status update (no text opens the form)."),
    "status": ("/incident status <status>", "Change the status (investigating, identified, monitoring…)."),
    "sev": ("/incident sev <1-4> [reason]", "Change the severity; lowering it needs a reason."),
    "mitigate": ("/incident mitigate", "Mark the impact as mitigated."),
    "resolve": ("/incident resolve [summary]", "Resolve the incident (no summary opens the form)."),
    "close": ("/incident close", "Close a resolved incident."),
    "summary": ("/incident summary <text>", "Replace the incident summary."),
    "note": ("/incident note <text>", "Add a note to the incident timeline, at the time you type it."),
    "timeline": ("/incident timeline [page]", "Show the timeline privately, in your timezone; edit milestones from there."),
    "postmortem": ("/incident postmortem", "Draft the postmortem now (scheduling it if it is not yet)."),
    "action": ("/incident action <text> [@owner] [due <date>]",
               "Add an action item (owner: you unless you mention someone; due: e.g. `due friday`, `due in 3 weeks`)."),
    "actions": ("/incident actions", "List this incident's action items privately."),
}
IN_CHANNEL = frozenset({"ack", "lead", "role", "update", "status", "sev", "mitigate", "resolve", "close", "summary",
                        "note", "timeline", "postmortem", "action", "actions"})
QUICK_DECLARE = ("/incident <title> [sev1..sev4]", "Declare with the default severity, or the one given.")

# Words that are (or will be) subcommands. They are never read as the first word of
# a title, so a subcommand typed today cannot turn into an incident tomorrow.
RESERVED = frozenset(
    {
        "declare", "help", "status", "update", "sev", "severity", "lead", "role", "ack",
        "mitigate", "resolve", "note", "action", "actions", "timeline", "postmortem",
        "list", "backlog", "digest", "summary", "close", "convert",
    }
)
_HELP_WORDS = frozenset({"help", "?", "-h", "--help", "h"})
_SEVERITY = re.compile(r"^sev[-_ ]?(\d)$", re.IGNORECASE)


class CommandError(Exception):
    """The text is not a command we understand; the message (plain text) shows the right syntax."""


@dataclass(frozen=True)
class Command:
    name: str  # "declare", "convert", "form", "help", or another key of USAGE / RESERVED
    title: str = ""
    severity: str | None = None
    rest: str = ""  # as Slack sent it, mentions as <@U…|name> (for subcommands that read them)

    @property
    def text(self) -> str:
        """``rest`` as people read it: Slack's mention, channel and link markup made plain."""
        return readable(self.rest)


def parse(text: str | None) -> Command:
    words = (text or "").split()
    if not words:
        return Command("form")
    first = words[0].lower()
    if first in _HELP_WORDS:
        return Command("help")
    if first in ("declare", "convert"):
        title, severity = _title_and_severity(words[1:])
        if not title:
            raise CommandError(f"Give the incident a title: `{USAGE[first][0]}`.")
        return Command(first, title=readable(title), severity=severity)
    if first in RESERVED:
        return Command(first, rest=" ".join(words[1:]))
    suggestion = _near_subcommand(first, len(words))
    if suggestion:
        raise CommandError(
            f"I don't know `{_code_safe(words[0])}`. Did you mean `/incident {suggestion}`? "
            f"To declare an incident with this title, type `/incident declare {_code_safe(' '.join(words))}`."
        )
    title, severity = _title_and_severity(words)
    if not title:
        raise CommandError(f"Give the incident a title: `{QUICK_DECLARE[0]}`.")
    return Command("declare", title=readable(title), severity=severity)


def _title_and_severity(words: list[str]) -> tuple[str, str | None]:
    """Take a ``sevN`` word from the start or the end of the title."""
    severity = None
    if words and _SEVERITY.match(words[-1]):
        severity = "SEV" + _SEVERITY.match(words[-1]).group(1)
        words = words[:-1]
    elif words and _SEVERITY.match(words[0]):
        severity = "SEV" + _SEVERITY.match(words[0]).group(1)
        words = words[1:]
    return " ".join(words).strip(), severity


def _near_subcommand(word: str, n_words: int) -> str | None:
    """A subcommand one typo away from ``word`` (``stauts`` → ``status``).

    Only for short inputs: a long sentence that happens to start with such a word
    is far more likely to be a title.
    """
    if n_words > 3 or len(word) < 4:
        return None
    for candidate in sorted(RESERVED):
        if len(candidate) >= 4 and _distance(word, candidate) <= 1 + (len(candidate) >= 7):
            return candidate
    return None


def _distance(a: str, b: str) -> int:
    """Levenshtein distance with adjacent transpositions counted as one edit."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            value = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, prev2[j - 2] + 1)
            cur.append(value)
        prev2, prev = prev, cur
    return prev[-1]


def _code_safe(text: str) -> str:
    """User text quoted inside `code`: without backticks that would end it, and short.

    Messages are plain text; whoever puts them into mrkdwn escapes them.
    """
    return truncate(text.replace("`", "'"), 200)


_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def mentions(text: str) -> tuple[list[str], str]:
    """User ids mentioned as Slack sends them (``<@U123|alice>``) and the rest of the text, made plain."""
    ids = _MENTION.findall(text or "")
    rest = " ".join(_MENTION.sub(" ", text or "").split())
    return ids, readable(rest)


# Slack's markup in command text (the manifest's should_escape: true): <@U1|bob>, <#C1|ops>,
# <!subteam^S1|@oncall>, <!here>, <https://x|label>, <mailto:a@b|a@b>.
_MARKUP = re.compile(r"<([@#!])?([^<>|\s]+)(?:\|([^<>]*))?>")


def readable(text: str) -> str:
    """Slack markup as the person saw it: ``@bob``, ``#ops``, ``@here``, ``label (https://x)``.

    Titles, notes and updates are stored as people read them, so nothing the bot later
    posts from them carries a live mention or link markup.
    """
    def plain(match: re.Match[str]) -> str:
        sigil, target, label = match.group(1), match.group(2), match.group(3)
        if sigil == "@":
            return "@" + (label or target).lstrip("@")
        if sigil == "#":
            return "#" + (label or target)
        if sigil == "!":
            return "@" + (label or target.split("^")[0]).lstrip("@")
        if target.startswith("mailto:"):
            return label or target.removeprefix("mailto:")
        if not re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):
            return match.group(0)  # not markup: "<3", "a <b> c" typed by someone
        return target if not label or label == target else f"{label} ({target})"
    # Again until nothing changes: typed brackets around markup ("<<@U1>>", "<!<mailto:x|here>>")
    # must not come out as new markup. Each change removes a "<", so this ends.
    text, previous = text or "", None
    while text != previous:
        previous, text = text, _MARKUP.sub(plain, text)
    return text


def unescape(text: str) -> str:
    """Slack sends ``&``, ``<`` and ``>`` typed by people as entities; store them as typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# --- /incident action <text> [@owner] [due <date>] ----------------------------------------

# A due date is one to three words ("friday", "2026-12-18", "in 3 weeks"); more words
# after the last "due" mean "due" belongs to the title ("Document the due diligence steps").
_DUE_WORDS_MAX = 3


@dataclass(frozen=True)
class ActionRequest:
    title: str
    owner: str | None = None  # the first mentioned user id
    due: str | None = None  # the words after the last "due", for core.due_dates.parse_due


def action_request(text: str) -> ActionRequest:
    """Split ``/incident action`` text into title, owner (first @mention) and due words.

    Other mentions stay in the title as ``@name`` (what people saw when they typed it),
    so the title never carries Slack's ``<@U…>`` markup.
    """
    found = _MENTION.search(text or "")
    owner = found.group(1) if found else None
    rest = text[:found.start()] + " " + text[found.end():] if found else (text or "")
    words = readable(rest).split()
    cut = next((i for i in range(len(words) - 1, -1, -1) if words[i].lower() == "due"), None)
    if cut is not None and 1 <= len(words) - cut - 1 <= _DUE_WORDS_MAX:
        return ActionRequest(" ".join(words[:cut]), owner, " ".join(words[cut + 1:]))
    return ActionRequest(" ".join(words), owner)

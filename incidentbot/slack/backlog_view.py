"""``/incident backlog [service|team]``, its buttons, and App Home's "Top of the backlog".

The reliability backlog ranked by score (``core.backlog.ranked``), each item with its
score's breakdown, linked incidents, open and overdue action items and owner, and the
buttons Assign to me · Mark done · Won't do. The answer is ephemeral, yet lists no
private incident by number or title: they are counted, and items that only private
incidents link to are left out (``include_private=False``).

Button values are ``"<backlog item id>:<revision>:<filter>"``. A click on an item that
changed since the list was shown changes nothing and says what the item is now; every
click answers by replacing the list with a fresh one, a line on top saying what happened.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from incidentbot.core import action_items, backlog, deliveries
from incidentbot.core.backlog import Ranked
from incidentbot.core.backlog_score import Score
from incidentbot.core.errors import DomainError, InvalidInput
from incidentbot.core.policy import Policy
from incidentbot.db import session_scope
from incidentbot.models import BacklogItem
from incidentbot.slack import blocks, ids
from incidentbot.slack.deps import Deps
from incidentbot.slack.mrkdwn import escape, truncate, user
from incidentbot.timeutil import utcnow

log = logging.getLogger(__name__)

Block = dict[str, Any]

HOME_TOP = 5
TITLE_SHOWN_MAX = 150
ACTION_ITEMS_LISTED = 8  # per backlog item; the rest are counted
INCIDENTS_LISTED = 12


@dataclass(frozen=True)
class Filter:
    """Which part of the backlog: one service, one team, or all of it."""

    service: str | None = None
    team: str | None = None

    def encode(self) -> str:
        return f"service={self.service}" if self.service else f"team={self.team}" if self.team else ""

    @classmethod
    def decode(cls, text: str) -> Filter:
        kind, _, name = text.partition("=")
        return cls(service=name or None) if kind == "service" else cls(team=name or None) if kind == "team" else cls()

    def describe(self) -> str:
        return f"service *{escape(self.service)}*" if self.service else (
            f"team *{escape(self.team)}*" if self.team else "all services")


@dataclass(frozen=True)
class Outcome:
    notice: str  # mrkdwn for the clicker
    changed: bool


# --- /incident backlog ------------------------------------------------------------------------


def show_backlog(deps: Deps, command: dict, respond, rest: str) -> None:
    """Answer ``/incident backlog [service|team]`` privately (after the ack)."""
    try:
        wanted = parse_filter(deps.policy, rest)
    except InvalidInput as error:
        respond(response_type="ephemeral", text=escape(error.message))
        return
    text, message = backlog_message(deps, wanted, utcnow())
    respond(response_type="ephemeral", text=text, blocks=message)


def parse_filter(policy: Policy, rest: str) -> Filter:
    """``""`` → all; a service or team name (case-insensitive), optionally after ``service``
    or ``team``; a name that is both is the service. Anything else lists the valid names."""
    words = rest.strip().split()
    kind = words[0].lower() if len(words) > 1 and words[0].lower() in ("service", "team") else None
    name = " ".join(words[1:] if kind else words).strip().lower()
    if not name:
        return Filter()
    services = {s.name.lower(): s.name for s in policy.services}
    teams = {s.team.lower(): s.team for s in policy.services}
    if kind != "team" and name in services:
        return Filter(service=services[name])
    if kind != "service" and name in teams:
        return Filter(team=teams[name])
    raise InvalidInput("backlog", _unknown(rest.strip(), sorted(services.values()), sorted(set(teams.values()))))


def _unknown(given: str, services: list[str], teams: list[str]) -> str:
    if not services:
        return (f"There is no service or team `{given[:40]}`: the policy lists no services. "
                "Type `/incident backlog` for the whole backlog.")
    return (f"There is no service or team `{given[:40]}`. Services: {', '.join(services)}. "
            f"Teams: {', '.join(teams)}. Type `/incident backlog` alone for all of it.")


def backlog_message(deps: Deps, wanted: Filter, now: datetime, *, notice: str | None = None
                    ) -> tuple[str, list[Block]]:
    with session_scope(deps.engine) as session:
        entries = backlog.ranked(session, deps.policy, now=now, service=wanted.service, team=wanted.team,
                                 include_private=False)
    return message_blocks(entries[:deps.policy.backlog.top], len(entries), wanted, now, notice=notice)


def message_blocks(entries: list[Ranked], total: int, wanted: Filter, now: datetime, *,
                   notice: str | None = None) -> tuple[str, list[Block]]:
    """The ranked list (pure): at most 20 items × 2 blocks, within a message's 50."""
    top = [blocks.section(f":information_source: {notice}")] if notice else []
    if not entries:
        text = f"Nothing open in the reliability backlog for {wanted.describe()}. :white_check_mark:"
        return _plain(text), [*top, blocks.section(text)]
    shown = f"top {len(entries)} of {total}" if total > len(entries) else f"{total}"
    text = f"Reliability backlog for {wanted.describe()}: {shown} open, highest score first."
    body: list[Block] = []
    for entry in entries:
        body += [blocks.section(item_text(entry, now)), item_buttons(entry.item, wanted)]
    footer = _context("Score = the factors' points (each factor × its policy weight); see docs/backlog.md. "
                      "Private incidents are counted, never named.")
    return _plain(text), [*top, blocks.section(f"*{text}*"), *body, footer]


def item_text(entry: Ranked, now: datetime) -> str:
    item = entry.item
    lines = [
        f"*{backlog.label(item)}* {escape(truncate(item.title, TITLE_SHOWN_MAX))} · score *{entry.score.total:.1f}*",
        breakdown(entry.score),
        f"Incidents: {incidents_text(entry)}",
        f"Action items: {action_items_text(entry, now)}",
        f"Owner: {user(item.owner) if item.owner else '_nobody yet_'}",
    ]
    return "\n".join(lines)


def breakdown(score: Score) -> str:
    """``severity 4.5 (SEV2) + recurrence 4.0 (1 incident) …``; factors worth nothing are named once."""
    counted = [f"{f.name} {f.points:.1f} ({escape(f.value)})" for f in score.factors if f.points]
    nothing = [f.name for f in score.factors if not f.points]
    text = " + ".join(counted) or "no factor counts yet"
    return f"{text}" + (f" · 0 for {', '.join(nothing)}" if nothing else "")


def incidents_text(entry: Ranked) -> str:
    public = [i.reference for i in entry.incidents if not i.private]
    hidden = len(entry.incidents) - len(public)
    parts = [", ".join(public[:INCIDENTS_LISTED])] if public else []
    if len(public) > INCIDENTS_LISTED:
        parts[0] += f" and {len(public) - INCIDENTS_LISTED} more"
    if hidden:
        parts.append(f"{hidden} private incident" + ("s" if hidden > 1 else ""))
    return " + ".join(parts) or "none"


def action_items_text(entry: Ranked, now: datetime) -> str:
    """``3 open, 1 overdue: AI-7 (overdue), AI-8 + 1 from a private incident``."""
    private = {i.id for i in entry.incidents if i.private}
    open_items = [a for a in entry.action_items if a.status in action_items.OPEN]
    overdue = [a for a in open_items if action_items.is_overdue(a, now)]
    listed = [a for a in open_items if a.incident_id not in private]
    names = [f"{action_items.label(a)}{' (overdue)' if a in overdue else ''}" for a in listed[:ACTION_ITEMS_LISTED]]
    text = f"{len(open_items)} open, {len(overdue)} overdue" + (f": {', '.join(names)}" if names else "")
    if len(listed) > len(names):
        text += f" and {len(listed) - len(names)} more"
    hidden = len(open_items) - len(listed)
    if hidden:
        text += f" + {hidden} from private incidents" if hidden > 1 else " + 1 from a private incident"
    return text


def item_buttons(item: BacklogItem, wanted: Filter) -> Block:
    value = f"{item.id}:{item.revision}:{wanted.encode()}"
    return {"type": "actions", "block_id": f"backlog:{item.id}", "elements": [
        {"type": "button", "action_id": ids.BACKLOG_ASSIGN_ME, "value": value, "text": blocks.plain("Assign to me")},
        {"type": "button", "action_id": ids.BACKLOG_DONE, "value": value, "style": "primary",
         "text": blocks.plain("Mark done")},
        {"type": "button", "action_id": ids.BACKLOG_WONT_DO, "value": value, "text": blocks.plain("Won't do…")},
    ]}


# --- App Home ---------------------------------------------------------------------------------


def home_top_blocks(entries: list[Ranked]) -> list[Block]:
    """App Home's "Top of the backlog": one line per item with its score (pure)."""
    header = [{"type": "divider"},
              {"type": "header", "text": blocks.plain("Top of the reliability backlog", blocks.HEADER_MAX)}]
    if not entries:
        return [*header, _context("The reliability backlog is empty: no open follow-up work.")]
    lines = [blocks.section(f"*{backlog.label(e.item)}* {escape(truncate(e.item.title, TITLE_SHOWN_MAX))}\n"
                            f"score *{e.score.total:.1f}* · incidents: {incidents_text(e)} · "
                            f"owner {user(e.item.owner) if e.item.owner else '_nobody yet_'}") for e in entries]
    return [*header, *lines, _context("`/incident backlog` shows each score's breakdown and lets you act on it.")]


# --- the buttons ------------------------------------------------------------------------------


def parse_value(value: str) -> tuple[int, int, Filter]:
    item_id, _, rest = value.partition(":")
    revision, _, wanted = rest.partition(":")
    return int(item_id), int(revision or 0), Filter.decode(wanted)


def apply(deps: Deps, item_id: int, revision: int, actor: str, action: str, *, reason: str | None = None,
          once_key: str | None = None, now: datetime | None = None) -> Outcome | None:
    """``assign`` | ``done`` | ``wont_do`` on the item as it was shown (``revision``).

    ``None`` when ``once_key`` (a form's view id) was handled before. ``InvalidInput``
    (a blank reason) is raised for the form to show; other refusals are an ``Outcome``.
    """
    now = now or utcnow()
    try:
        with session_scope(deps.engine) as session:
            # A form's view id, claimed in the change's transaction: a refused form rolls it back.
            if once_key is not None and not deliveries.claim(session, once_key, "backlog_form"):
                return None
            item = backlog.get(session, item_id)
            session.refresh(item, with_for_update=True)  # two clicks at once: one after the other
            if item.revision != revision:
                return Outcome(stale_note(item), changed=False)
            notice = _change(session, deps.policy, item, actor, action, reason, now)
            return Outcome(notice, changed=True)
    except InvalidInput:
        raise
    except DomainError as error:
        return Outcome(escape(str(error)), changed=False)


def _change(session: Session, policy: Policy, item: BacklogItem, actor: str, action: str, reason: str | None,
            now: datetime) -> str:
    label = backlog.label(item)
    if action == "assign":
        backlog.assign(session, item, actor, now=now)
        return f":raising_hand: {user(actor)} owns *{label}* now."
    closed = backlog.set_status(session, item, action, now=now, reason=reason)
    with_items = f" Closed with it: {', '.join(action_items.label(a) for a in closed)}." if closed else ""
    if action == "done":
        return f":white_check_mark: *{label}* is done.{with_items}"
    return f":no_entry_sign: *{label}* won't be done: {escape(item.reason)}.{with_items}"


def stale_note(item: BacklogItem) -> str:
    """What a click on an out-of-date list is told: the item as it is now."""
    state = backlog.STATUS_LABELS.get(item.status, item.status).lower()
    if item.status == "merged":
        state += f" into BL-{item.merged_into_id}"
    owner = f", owner {user(item.owner)}" if item.owner else ", no owner"
    why = f" ({escape(item.reason)})" if item.reason else ""
    return (f"*{backlog.label(item)}* changed since this list was shown: it is {state}{why}{owner}. "
            "Nothing was changed; here is the backlog as it is now.")


def wont_do_form(item: BacklogItem, revision: int, wanted: Filter, response_url: str | None) -> dict[str, Any]:
    metadata = {"item": item.id, "revision": revision, "filter": wanted.encode(), "response_url": response_url}
    return {
        "type": "modal", "callback_id": ids.BACKLOG_WONT_DO_VIEW, "title": blocks.plain("Won't do"),
        "submit": blocks.plain("Record"), "close": blocks.plain("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": [
            blocks.section(f"*{backlog.label(item)}* {escape(truncate(item.title, TITLE_SHOWN_MAX))}\n"
                           "Why won't this risk be addressed? The reason is kept with the backlog item, and its "
                           "open action items are closed with it."),
            {"type": "input", "block_id": ids.BACKLOG_REASON, "label": blocks.plain("Reason"),
             "element": {"type": "plain_text_input", "action_id": ids.BACKLOG_REASON, "multiline": True,
                         "max_length": 1000}},
        ],
    }


def current(deps: Deps, item_id: int) -> BacklogItem:
    with session_scope(deps.engine) as session:
        return backlog.get(session, item_id)


def _plain(text: str) -> str:
    return text.replace("*", "")


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}

"""App Home's "My action items", and what its buttons do (Done · Snooze · Reassign).

The viewer's open items (``core.action_items.for_owner``), soonest due first, each with
its incident, due day in the viewer's timezone (the organisation's when Slack does not
say), *overdue* marked, status and tracker link. The owner's reminder DMs
(``slack.action_item_reminders``) carry the same Done and Snooze buttons.

Every change re-reads the item with a row lock and acts on it as it is now: a second
click, or a click on an out-of-date Home, finds it done, snoozed or someone else's and
says so instead of changing it twice (``Outcome.changed`` is False).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlmodel import Session, col, select

from incidentbot.core import action_items, backlog, deliveries
from incidentbot.core.action_items import OPEN, STATUS_LABELS
from incidentbot.core.errors import AlreadyDone, DomainError
from incidentbot.core.policy import Policy
from incidentbot.db import session_scope
from incidentbot.models import ActionItem, Incident
from incidentbot.slack import backlog_view, blocks, ids
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError
from incidentbot.slack.mrkdwn import escape, truncate, user
from incidentbot.timeutil import ensure_utc

log = logging.getLogger(__name__)

Block = dict[str, Any]

# Two blocks an item (the line and its buttons): 10 items keep App Home well inside its
# 100 blocks next to the incident lists.
HOME_MAX_ITEMS = 10
TITLE_SHOWN_MAX = 150
COUNT_LIMIT = 500  # "and N more" counts this far


@dataclass(frozen=True)
class Mine:
    """One of the viewer's open items, with what its line needs from the incident."""

    item: ActionItem
    incident_reference: str
    private: bool


@dataclass(frozen=True)
class Outcome:
    notice: str  # mrkdwn for the clicker
    changed: bool
    refusal: str = ""  # why nothing changed, as plain text (for a form field's error)


# --- App Home -------------------------------------------------------------------------------


def home_blocks(deps: Deps, user_id: str, now: datetime, *, notice: str | None = None) -> list[Block]:
    """The "My action items" and "Top of the backlog" sections of ``user_id``'s App Home."""
    with session_scope(deps.engine) as session:
        mine, total = owned(session, user_id)
        top = backlog.ranked(session, deps.policy, now=now, include_private=False)[:backlog_view.HOME_TOP]
    zone = deps.gateway.user_timezone(user_id)
    notice_blocks = [blocks.section(f":information_source: {notice}")] if notice else []
    return [*notice_blocks, *section_blocks(deps.policy, mine, total, now, zone),
            *backlog_view.home_top_blocks(top)]


def owned(session: Session, user_id: str) -> tuple[list[Mine], int]:
    """The first ``HOME_MAX_ITEMS`` of the user's open items, and how many there are."""
    items = action_items.for_owner(session, user_id, limit=COUNT_LIMIT)
    shown = items[:HOME_MAX_ITEMS]
    incidents = _incidents(session, [i.incident_id for i in shown])
    return [Mine(i, incidents[i.incident_id].reference, incidents[i.incident_id].private) for i in shown], len(items)


def section_blocks(policy: Policy, mine: list[Mine], total: int, now: datetime, zone: tzinfo) -> list[Block]:
    """The header, a line and buttons per item, and "and N more" (pure)."""
    header = [{"type": "divider"}, blocks_header(f"My action items ({total})" if total else "My action items")]
    if not mine:
        return [*header, _context("No open action items are yours. :tada:")]
    body: list[Block] = []
    for entry in mine:
        body += [blocks.section(item_line(entry, now, zone)), item_buttons(policy, entry.item)]
    if total > len(mine):
        more = f"{total - len(mine)}" if total < COUNT_LIMIT else f"{total - len(mine)}+"
        body.append(_context(f"…and {more} more, due later. Each is in its incident's channel."))
    return header + body


def item_line(entry: Mine, now: datetime, zone: tzinfo) -> str:
    """``*AI-7* title`` then incident · due day (overdue) · status · snooze · tracker."""
    item = entry.item
    lock = ":lock: " if entry.private else ""
    details = [f"{lock}{entry.incident_reference}", due_text(item, now, zone), STATUS_LABELS.get(item.status, item.status)]
    if item.snoozed_until and ensure_utc(item.snoozed_until) > ensure_utc(now):
        details.append(f"reminders snoozed until {day_text(item.snoozed_until, zone, now)}")
    link = tracker_link(item)
    if link:
        details.append(link)
    return f"*{action_items.label(item)}* {escape(truncate(item.title, TITLE_SHOWN_MAX))}\n{' · '.join(details)}"


def item_buttons(policy: Policy, item: ActionItem, *, reassign: bool = True) -> Block:
    value = f"{item.id}:{item.revision}"
    elements = [
        {"type": "button", "action_id": ids.HOME_AI_DONE, "value": value, "style": "primary",
         "text": blocks.plain("Done")},
        {"type": "button", "action_id": ids.HOME_AI_SNOOZE, "value": value,
         "text": blocks.plain(f"Snooze {_days(policy.action_items.snooze_days)}")},
    ]
    if reassign:
        elements.append({"type": "button", "action_id": ids.HOME_AI_REASSIGN, "value": value,
                         "text": blocks.plain("Reassign…")})
    return {"type": "actions", "block_id": f"home_ai:{item.id}", "elements": elements}


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def due_text(item: ActionItem, now: datetime, zone: tzinfo) -> str:
    if item.due_at is None:
        return "no due date"
    day = day_text(item.due_at, zone, now)
    return f":warning: *overdue* since {day}" if action_items.is_overdue(item, now) else f"due {day}"


def day_text(moment: datetime, zone: tzinfo, now: datetime) -> str:
    """``Fri 18 Dec`` in ``zone`` (with the year when it is not this year's)."""
    local = ensure_utc(moment).astimezone(zone)
    year = f" {local.year}" if local.year != ensure_utc(now).astimezone(zone).year else ""
    return f"{local:%a} {local.day} {local:%b}{year}"


def tracker_link(item: ActionItem) -> str | None:
    """A link to the item in the issue tracker; only well-formed http(s) URLs are linked."""
    url = item.external_url or ""
    if not url.startswith(("https://", "http://")) or any(c in url for c in "<>| \n"):
        return None
    return f"<{url}|{escape(item.external_key or 'tracker')}>"


# --- the buttons ----------------------------------------------------------------------------


def mark_done(deps: Deps, item_id: int, actor: str, now: datetime) -> Outcome:
    def change(session: Session, item: ActionItem) -> str:
        action_items.set_status(session, item, "done", actor=actor, now=now)
        return f":white_check_mark: *{action_items.label(item)}* {escape(item.title)} is done. Thank you!"

    return _on_mine(deps, item_id, actor, change)


def snooze(deps: Deps, item_id: int, actor: str, now: datetime, zone: tzinfo) -> Outcome:
    def change(session: Session, item: ActionItem) -> str:
        if item.snoozed_until and ensure_utc(item.snoozed_until) > ensure_utc(now):
            raise AlreadyDone(f"{action_items.label(item)} is already snoozed until "
                              f"{day_text(item.snoozed_until, zone, now)}.")
        until = action_items.snooze(session, deps.policy, item, now=now)
        return (f":zzz: No reminders about *{action_items.label(item)}* until {day_text(until, zone, now)} "
                f"({blocks.when(until, deps.policy)}).")

    return _on_mine(deps, item_id, actor, change)


def reassign(deps: Deps, item_id: int, actor: str, owner: str, now: datetime, *, once_key: str) -> Outcome | None:
    """The Reassign form's submission; ``None`` when this submission was handled before
    (``once_key``, the view id, is claimed in the same transaction as the change)."""
    def change(session: Session, item: ActionItem) -> str:
        action_items.reassign(session, item, owner, actor=actor, now=now)
        return f":handshake: *{action_items.label(item)}* is now {user(owner)}'s."

    return _on_mine(deps, item_id, actor, change, once_key=once_key)


def reassign_form(item: ActionItem, reference: str) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "users_select", "action_id": ids.HOME_AI_OWNER}
    if item.owner:
        element["initial_user"] = item.owner
    return {
        "type": "modal", "callback_id": ids.HOME_AI_REASSIGN_VIEW, "title": blocks.plain("Reassign action item"),
        "submit": blocks.plain("Reassign"), "close": blocks.plain("Cancel"),
        "private_metadata": str(item.id),
        "blocks": [
            blocks.section(f"*{action_items.label(item)}* {escape(truncate(item.title, TITLE_SHOWN_MAX))} "
                           f"({reference}). Who should own it?"),
            {"type": "input", "block_id": ids.HOME_AI_OWNER, "label": blocks.plain("New owner"), "element": element},
        ],
    }


def not_reassignable(item: ActionItem, actor: str) -> str | None:
    """Why the Reassign form should not open (mrkdwn), or ``None``."""
    try:
        _check_mine(item, actor)
    except DomainError as error:
        return escape(str(error))
    return None


def current(deps: Deps, item_id: int) -> tuple[ActionItem, str]:
    """The item and its incident's reference, as they are now."""
    with session_scope(deps.engine) as session:
        item = action_items.get(session, item_id)
        return item, session.get(Incident, item.incident_id).reference


def tell_new_owner(deps: Deps, item: ActionItem, actor: str, now: datetime) -> None:
    """A DM to the person who was given the item (best effort: the change is made)."""
    zone = deps.gateway.user_timezone(item.owner)
    with session_scope(deps.engine) as session:
        reference = session.get(Incident, item.incident_id).reference
    due = f", {due_text(item, now, zone)}" if item.due_at else ""
    text = (f":inbox_tray: {user(actor)} gave you *{action_items.label(item)}* {escape(item.title)} "
            f"({reference}{due}). It is in your App Home under *My action items*.")
    try:
        deps.gateway.post(item.owner, text)
    except SlackError as error:
        log.info("could not tell %s about %s (%s)", item.owner, action_items.label(item), error.code)


def _on_mine(deps: Deps, item_id: int, actor: str, change, *, once_key: str | None = None) -> Outcome | None:
    """Run ``change`` on the item if it is still open and the actor's; otherwise say why not.

    With ``once_key`` (a form's view id) the change is made once: ``None`` when it was made
    before. The key is claimed in the change's transaction, so a refusal rolls it back and
    a corrected form can be sent again.
    """
    try:
        with session_scope(deps.engine) as session:
            if once_key is not None and not deliveries.claim(session, once_key, "action_item_form"):
                return None
            item = action_items.get(session, item_id)
            session.refresh(item, with_for_update=True)  # two clicks at once: one after the other
            _check_mine(item, actor)
            notice = change(session, item)
            return Outcome(notice, changed=True)
    except DomainError as error:
        return Outcome(escape(str(error)), changed=False, refusal=str(error))


def _check_mine(item: ActionItem, actor: str) -> None:
    label = action_items.label(item)
    if item.status not in OPEN:
        raise AlreadyDone(f"{label} is already {STATUS_LABELS.get(item.status, item.status).lower()}.")
    if item.owner != actor:
        raise AlreadyDone(f"{label} is not yours any more: it was reassigned. Your list is up to date now.")


def _incidents(session: Session, incident_ids: list[int]) -> dict[int, Incident]:
    if not incident_ids:
        return {}
    return {i.id: i for i in session.exec(select(Incident).where(col(Incident.id).in_(incident_ids)))}


def blocks_header(text: str) -> Block:
    return {"type": "header", "text": blocks.plain(text, blocks.HEADER_MAX)}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}

"""Block Kit for action items: the channel record of a new item, the list, the form, the
postmortem's proposals. Pure functions of their arguments (no database, no Slack calls).

User text is escaped (``mrkdwn.escape``) wherever it lands in mrkdwn, so a title such as
``<!channel>`` shows as text and pings nobody; links are only built from http(s) URLs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from incidentbot.core import action_items
from incidentbot.core.action_items import DESCRIPTION_MAX, STATUS_LABELS, TITLE_MAX
from incidentbot.core.policy import Policy
from incidentbot.core.policy_sections import ACTION_ITEM_TYPES, PRIORITIES
from incidentbot.models import ActionItem, Incident
from incidentbot.slack import ids
from incidentbot.slack.blocks import Block, plain, section
from incidentbot.slack.modals import input_block, option
from incidentbot.slack.mrkdwn import escape, truncate, user
from incidentbot.timeutil import utcnow

BUTTON_TEXT_MAX = 75
LIST_MAX = 40  # items shown by /incident actions (a message holds at most 50 blocks)
PROPOSALS_SHOWN = 20
TYPE_HINTS = {
    "preventative": "Stops it from happening again",
    "detective": "Finds it sooner: alerts, dashboards, logs",
    "corrective": "Fixes what broke or made it worse",
    "process": "Runbooks, docs, how we work",
}
_SAFE_URL = re.compile(r"https?://[^\s<>|]+\Z")


@dataclass(frozen=True)
class BacklogRef:
    """A backlog item as one channel may see it."""

    id: int
    label: str  # "BL-3"
    title: str | None  # None: it only concerns private incidents this channel is not part of
    also: tuple[str, ...] = ()  # other (public) incidents it addresses, e.g. ("INC-12",)


@dataclass(frozen=True)
class Outcome:
    """What happened to the new item's backlog item: joined | started | merged | split."""

    kind: str
    backlog: BacklogRef
    suggestions: tuple[BacklogRef, ...] = ()  # "Merge into" candidates (started only)
    actor: str | None = None  # who merged or split
    merged_from: str | None = None  # the label of the backlog item merged away


def link(url: str | None, label: str) -> str:
    """``<url|label>`` for an http(s) URL; empty for anything else (never a spoofed link)."""
    if not url or not _SAFE_URL.match(url):
        return ""
    return f"<{url}|{escape(label)}>"


def due_label(policy: Policy, due_at: datetime | None, now: datetime | None = None) -> str:
    """``Fri 18 Dec`` in the organisation's timezone; the year only when it is not this one."""
    if due_at is None:
        return "no due date"
    day = due_at.astimezone(policy.tz).date()
    this_year = (now or utcnow()).astimezone(policy.tz).year
    return f"{day:%a} {day.day} {day:%b}" + (f" {day.year}" if day.year != this_year else "")


def details(policy: Policy, item: ActionItem, now: datetime | None = None) -> str:
    """owner @bob, due Fri 18 Dec, P2 detective"""
    return f"owner {user(item.owner)}, due {due_label(policy, item.due_at, now)}, {item.priority} {item.type}"


# --- the channel record of a new item --------------------------------------------------


def created_message(policy: Policy, item: ActionItem, outcome: Outcome,
                    now: datetime | None = None) -> tuple[str, list[Block]]:
    label = action_items.label(item)
    head = (f":clipboard: *{label}* added by {user(item.created_by)}: {escape(item.title)} — "
            f"{details(policy, item, now)}")
    source = link(item.source_link, "from this message")
    blocks: list[Block] = [section(head + (f" · {source}" if source else ""))]
    blocks += _outcome_blocks(item, outcome)
    return f"{label} added by {user(item.created_by)}: {escape(item.title)}", blocks


def _outcome_blocks(item: ActionItem, outcome: Outcome) -> list[Block]:
    ref = outcome.backlog
    named = f"*{ref.label}*" + (f" {escape(ref.title)}" if ref.title else "") + _also(ref)
    if outcome.kind == "joined":
        split = {"type": "button", "action_id": ids.AI_SPLIT, "value": str(item.id),
                 "text": plain("Split into its own backlog item")}
        return [section(f":link: Joined {named}"), {"type": "actions", "block_id": "ai_split", "elements": [split]}]
    if outcome.kind == "merged":
        return [_context(f":twisted_rightwards_arrows: {user(outcome.actor)} merged {outcome.merged_from} "
                         f"into {named}")]
    if outcome.kind == "split":
        return [_context(f":scissors: {user(outcome.actor)} split {action_items.label(item)} into its own "
                         f"backlog item *{ref.label}*")]
    blocks: list[Block] = [_context(f":seedling: Started backlog item *{ref.label}*")]
    for target in outcome.suggestions[:3]:
        blocks.append({
            "type": "section", "block_id": f"ai_merge:{target.id}",
            "text": {"type": "mrkdwn", "text": "Similar: *" + target.label + "*" + (
                f" {escape(target.title)}" if target.title else " (from a private incident)") + _also(target)},
            "accessory": {"type": "button", "action_id": ids.AI_MERGE, "value": f"{item.id}:{ref.id}:{target.id}",
                          "text": plain(truncate(f"Merge into {target.label}", BUTTON_TEXT_MAX))}})
    return blocks


def _also(ref: BacklogRef) -> str:
    return f" (also addresses {', '.join(ref.also)})" if ref.also else ""


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, 3000)}]}


# --- /incident actions -----------------------------------------------------------------


def item_list(policy: Policy, incident: Incident, items: list[ActionItem],
              now: datetime | None = None) -> tuple[str, list[Block]]:
    """Every item of the incident, for one reader (ephemeral)."""
    if not items:
        text = (f"{incident.reference} has no action items yet. Add one with "
                "`/incident action <text> [@owner] [due <date>]`, the card's *Add action item* button, "
                "or the *Create action item* shortcut on a message.")
        return text, [section(text)]
    now = now or utcnow()
    blocks = [section(f"*Action items of {incident.reference}* ({len(items)})")]
    blocks += [section(_list_line(policy, item, now)) for item in items[:LIST_MAX]]
    if len(items) > LIST_MAX:
        blocks.append(_context(f"{len(items) - LIST_MAX} more not shown."))
    return f"Action items of {incident.reference}: {len(items)}", blocks


def _list_line(policy: Policy, item: ActionItem, now: datetime) -> str:
    overdue = " (overdue)" if action_items.is_overdue(item, now) else ""
    parts = [STATUS_LABELS.get(item.status, item.status), f"owner {user(item.owner)}",
             f"due {due_label(policy, item.due_at, now)}{overdue}", f"{item.priority} {item.type}"]
    if item.backlog_item_id:
        parts.append(f"BL-{item.backlog_item_id}")
    parts += [x for x in (link(item.external_url, item.external_key or "tracker"),
                          link(item.source_link, "source")) if x]
    return f"*{action_items.label(item)}* {escape(item.title)}\n" + " · ".join(parts)


# --- the form --------------------------------------------------------------------------


def default_due_hint(policy: Policy) -> str:
    rules = policy.action_items
    tiers = sorted(set(rules.priority_due_weeks_by_tier.values()) | {rules.priority_due_weeks_default})
    p1 = f"{tiers[0]}" if len(tiers) == 1 else f"{tiers[0]}-{tiers[-1]}"
    others = ", ".join(f"{p} in {w} weeks" for p, w in sorted(rules.due_weeks_by_priority.items()))
    return f"Empty: the policy's default (P1 in {p1} weeks by service tier, {others})."


def form(policy: Policy, incident: Incident, *, opener: str, title: str = "", description: str = "",
         source: dict | None = None) -> dict[str, Any]:
    """Title, description, owner, due date, type, priority, service; prefilled from a message."""
    priorities = [option(p, p) for p in PRIORITIES]
    services = [option(s.name, s.name, f"Team: {s.team}") for s in policy.services][:100]
    only = (incident.services or [None])[0] if len(incident.services or []) == 1 else None
    blocks: list[Block] = [section(f"Follow-up work from *{incident.reference}*: {escape(incident.title)}"
                                   + (f" · {link(source.get('link'), 'source message')}" if source else ""))]
    blocks += [
        input_block(ids.AI_TITLE, "What needs doing", {"type": "plain_text_input", "max_length": TITLE_MAX,
               "placeholder": plain("Verb first, e.g. Add an alert on replica lag"),
               **({"initial_value": truncate(title, TITLE_MAX)} if title else {})}),
        input_block(ids.AI_DESCRIPTION, "Description", {"type": "plain_text_input", "multiline": True,
               "max_length": DESCRIPTION_MAX, **({"initial_value": truncate(description, DESCRIPTION_MAX)}
                                                 if description else {})}, optional=True),
        input_block(ids.AI_OWNER, "Owner", {"type": "users_select", "initial_user": opener}, optional=True,
               hint="Empty: you."),
        input_block(ids.AI_DUE, "Due date", {"type": "datepicker"}, optional=True, hint=default_due_hint(policy)),
        input_block(ids.AI_TYPE, "Type", {"type": "static_select", "placeholder": plain("Guess from the wording"),
               "options": [option(t, t.capitalize(), TYPE_HINTS.get(t)) for t in ACTION_ITEM_TYPES]},
               optional=True),
        input_block(ids.AI_PRIORITY, "Priority", {"type": "static_select", "options": priorities, "initial_option": next(
            o for o in priorities if o["value"] == policy.action_items.default_priority)}),
    ]
    if services:
        initial = next((o for o in services if o["value"] == only), None)
        blocks.append(input_block(ids.AI_SERVICE, "Service", {"type": "static_select", "options": services,
                             **({"initial_option": initial} if initial else {})}, optional=True))
    metadata = {"incident": incident.id, **({"source": source} if source else {})}
    return {"type": "modal", "callback_id": ids.AI_VIEW, "title": plain("Add action item"), "submit": plain("Add"),
            "close": plain("Cancel"), "private_metadata": json.dumps(metadata), "blocks": blocks}


@dataclass(frozen=True)
class FormValues:
    title: str
    description: str
    owner: str | None
    due: date | None
    type: str | None
    priority: str | None
    service: str | None


def form_values(values: dict) -> FormValues:
    def state(block_id: str) -> dict:
        return (values.get(block_id) or {}).get(block_id) or {}

    def chosen(block_id: str) -> str | None:
        return (state(block_id).get("selected_option") or {}).get("value")

    day = state(ids.AI_DUE).get("selected_date")
    return FormValues(title=state(ids.AI_TITLE).get("value") or "",
                      description=state(ids.AI_DESCRIPTION).get("value") or "",
                      owner=state(ids.AI_OWNER).get("selected_user") or None,
                      due=date.fromisoformat(day) if day else None, type=chosen(ids.AI_TYPE),
                      priority=chosen(ids.AI_PRIORITY), service=chosen(ids.AI_SERVICE))


# --- postmortem proposals --------------------------------------------------------------


def proposals_message(reference: str, postmortem_id: int, proposals: list[dict],
                      confirmed: dict[int, ActionItem]) -> tuple[str, list[Block]]:
    """The draft's proposed action items with Confirm buttons; confirmed ones show their item."""
    count = len(proposals)
    text = (f":clipboard: *Proposed action items for {reference}* ({count}). They become action items when "
            "someone confirms them; an item without a known owner goes to whoever confirms it.")
    blocks: list[Block] = [section(text)]
    for index, proposal in enumerate(proposals[:PROPOSALS_SHOWN]):
        blocks.append(_proposal_block(postmortem_id, index, proposal, confirmed.get(index)))
    if count > PROPOSALS_SHOWN:
        blocks.append(_context(f"{count - PROPOSALS_SHOWN} more in the draft file; *Confirm all* includes them."))
    left = count - len(confirmed)
    if left == 0:
        blocks.append(_context(":white_check_mark: Every proposal is confirmed."))
    elif count > 1:
        blocks.append({"type": "actions", "block_id": "ai_confirm_all", "elements": [{
            "type": "button", "action_id": ids.AI_CONFIRM_ALL, "value": str(postmortem_id), "style": "primary",
            "text": plain(f"Confirm all ({left} left)" if left < count else f"Confirm all {count}")}]})
    return f"Proposed action items for {reference}: {count}", blocks


def _proposal_block(postmortem_id: int, index: int, proposal: dict, item: ActionItem | None) -> Block:
    words = escape(str(proposal.get("text") or ""))
    source = link(str(proposal.get("source") or ""), "source")
    if item is not None:
        line = (f":white_check_mark: {index + 1}. {words}\n*{action_items.label(item)}* · owner {user(item.owner)} · "
                f"{item.priority} {item.type}")
        return section(line)
    owner = escape(str(proposal.get("owner") or "")) or "whoever confirms"
    kind, priority = escape(str(proposal.get("type") or "")), escape(str(proposal.get("priority") or ""))
    line = f"{index + 1}. {words}\n_{kind} · {priority} · proposed owner {owner}_" + (f" · {source}" if source else "")
    check = action_items.proposal_key(postmortem_id, str(proposal.get("text") or "")).rsplit(":", 1)[1]
    return {"type": "section", "block_id": f"ai_proposal:{index}",
            "text": {"type": "mrkdwn", "text": truncate(line, 3000)},
            "accessory": {"type": "button", "action_id": ids.AI_CONFIRM, "text": plain("Confirm"),
                          "value": f"{postmortem_id}:{index}:{check}"}}

"""App Home and the answer to ``/incident list``: open incidents, as one person may see them.

Both surfaces are personal (an ephemeral answer, a Home tab), so they may show
private incidents, but only to the people in the incident's private channel
(``core.visibility``). Membership comes from Slack and is looked up once per
channel per request.

The block builders (``list_blocks``, ``home_view``) are pure; the entry points
(``list_message``, ``publish_home``) read the database and Slack and call them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from incidentbot.core import incidents, postmortems, roles, visibility
from incidentbot.core.policy import Policy
from incidentbot.db import session_scope
from incidentbot.models import Incident
from incidentbot.slack import blocks as card_blocks
from incidentbot.slack import my_action_items
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError
from incidentbot.slack.mrkdwn import channel, escape, truncate, user
from incidentbot.timeutil import utcnow

log = logging.getLogger(__name__)

Block = dict[str, Any]

# Block Kit limits: 50 blocks in a message, 100 in a Home view, 3,000 characters
# of section text, 150 in a header.
MESSAGE_MAX_BLOCKS = 50
HOME_MAX_BLOCKS = 100
SECTION_MAX = 3000
# Titles are at most 150 characters by policy; escaping can make one five times
# longer, which still leaves room in a section for the rest of the line.
TITLE_SHOWN_MAX = 150
# "Your incidents" gets at most this many rows so "All open incidents" always shows.
MINE_MAX_ROWS = 20

EMPTY = "No open incidents right now. :white_check_mark:"
# Escaped: Slack reads a bare <title> as a link, even inside backticks.
HOW_TO = escape(
    "*Declare an incident*: type `/incident <title>` in any channel (add `sev1` … `sev4` "
    "for the severity), or `/incident` alone for the form.\n"
    "`/incident list` shows open incidents; `/incident help` shows every command."
)


@dataclass(frozen=True)
class Row:
    """One open incident as a viewer sees it."""

    incident: Incident
    lead: str | None = None
    # What the viewer is in this incident ("Incident lead", "declared it"); empty for others.
    parts: tuple[str, ...] = field(default_factory=tuple)


# --- entry points -------------------------------------------------------------------------


def list_message(deps: Deps, viewer_id: str) -> tuple[str, list[Block]]:
    """The ``/incident list`` answer for ``viewer_id``: (fallback text, blocks)."""
    rows, _ = _rows_for(deps, viewer_id, with_parts=False)
    return list_blocks(deps.policy, rows, utcnow())


def publish_home(deps: Deps, user_id: str, *, notice: str | None = None) -> None:
    """Build ``user_id``'s App Home from the database and publish it. ``notice`` (mrkdwn)
    answers a button clicked on the Home (it has no response_url)."""
    rows, mine = _rows_for(deps, user_id, with_parts=True)
    now = utcnow()
    # My postmortems, my action items and the top of the reliability backlog.
    extra = my_postmortems(deps, user_id) + my_action_items.home_blocks(deps, user_id, now, notice=notice)
    deps.gateway.publish_home(user_id, home_view(deps.policy, mine, rows, now, extra=extra))


def my_postmortems(deps: Deps, user_id: str) -> list[Block]:
    """The postmortems the viewer owns and has still to do, with their status and due date."""
    with session_scope(deps.engine) as session:
        owned = postmortems.active_for_owner(session, user_id)
    # A private incident's postmortem shows only to people in its channel, like the lists: its
    # owner may never have been let in (Slack refused the invite), or may have left.
    members_of = members_lookup(deps)
    owned = [(postmortem, incident) for postmortem, incident in owned
             if not incident.private or user_id in members_of(incident)]
    if not owned:
        return []
    rows: list[Block] = [_header("Your postmortems")]
    for postmortem, incident in owned:
        rows.append(_section(f"{_title(incident)} {_channel(incident)}"))
        rows.append(card_blocks.postmortem_context(deps.policy, postmortem))
    return rows


def members_lookup(deps: Deps) -> visibility.MembersOf:
    """``members_of`` for ``core.visibility``, caching each channel for one request.

    A private incident whose channel is not made yet is known to its declarer only.
    When Slack cannot tell us the members, nobody sees it: a missing line is
    better than a leaked one.
    """
    cache: dict[str, set[str]] = {}

    def members_of(incident: Incident) -> set[str]:
        if not incident.channel_id:
            return {incident.declared_by}
        if incident.channel_id not in cache:
            try:
                cache[incident.channel_id] = deps.gateway.members(incident.channel_id)
            except SlackError as error:
                log.warning("no members for %s (%s); hiding it", incident.reference, error.code)
                cache[incident.channel_id] = set()
        return cache[incident.channel_id]

    return members_of


def _rows_for(deps: Deps, viewer_id: str, *, with_parts: bool) -> tuple[list[Row], list[Row]]:
    """(all open incidents the viewer may see, the ones they are part of), newest first."""
    with session_scope(deps.engine) as session:
        open_incidents = incidents.open_incidents(session, deps.policy)
        leads = roles.leads(session, deps.policy, open_incidents)
        held = roles.roles_of(session, deps.policy, viewer_id) if with_parts else []
    # Slack is asked about membership after the transaction, so no lock is held meanwhile.
    shown = visibility.visible(open_incidents, viewer_id, members_lookup(deps))
    parts = _parts_by_incident(deps.policy, viewer_id, shown, held) if with_parts else {}
    rows = [Row(i, leads.get(i.id), parts.get(i.id, ())) for i in shown]
    return rows, [row for row in rows if row.parts]


def _parts_by_incident(policy: Policy, viewer_id: str, shown: list[Incident],
                       held: list[tuple[Incident, str]]) -> dict[int, tuple[str, ...]]:
    parts: dict[int, list[str]] = {}
    for incident, role_id in held:
        parts.setdefault(incident.id, []).append(_role_name(policy, role_id))
    for incident in shown:
        if incident.declared_by == viewer_id:
            parts.setdefault(incident.id, []).append("declared it")
    return {incident_id: tuple(names) for incident_id, names in parts.items()}


# --- block builders -------------------------------------------------------------------------


def list_blocks(policy: Policy, rows: list[Row], now: datetime) -> tuple[str, list[Block]]:
    """Open incidents, newest first, within one message's 50 blocks."""
    if not rows:
        return EMPTY, [_section(EMPTY)]
    count = _count(len(rows))
    blocks = [_section(f"*{count}*, newest first:")]
    blocks += _rows_within(
        [_section(incident_line(policy, row, now)) for row in rows],
        MESSAGE_MAX_BLOCKS - len(blocks),
        lambda hidden: f"…and {hidden} more. Open incidentbot's *Home* tab to see them all.",
    )
    return count, blocks


def home_view(policy: Policy, mine: list[Row], rows: list[Row], now: datetime, *,
              extra: list[Block] | None = None) -> dict[str, Any]:
    """The App Home tab: the viewer's incidents and roles, ``extra`` (their action items, the
    backlog's top), all open incidents (in the blocks left), how to declare."""
    top = [_header("Your open incidents and roles")]
    top += _rows_within(
        [_section(my_line(row, now)) for row in mine] or [_context("Nothing open that you declared or hold a role in.")],
        MINE_MAX_ROWS + 1,
        lambda hidden: f"…and {hidden} more of yours; they are all in the list below.",
    )
    top += extra or []
    bottom = [{"type": "divider"}, _section(HOW_TO), _updated(policy, now)]
    middle = [{"type": "divider"}, _header(f"All open incidents ({len(rows)})" if rows else "All open incidents")]
    middle += _rows_within(
        [_section(incident_line(policy, row, now)) for row in rows] or [_section(EMPTY)],
        HOME_MAX_BLOCKS - len(top) - len(middle) - len(bottom),
        lambda hidden: f"…and {hidden} older ones not shown. Each has its own channel.",
    )
    return {"type": "home", "blocks": top + middle + bottom}


def incident_line(policy: Policy, row: Row, now: datetime) -> str:
    """``INC-n title`` on one line; severity, status, lead, age and channel on the next."""
    incident = row.incident
    details = [
        f"*{escape(_severity_name(policy, incident.severity))}*",
        escape(_status_name(policy, incident.status)),
        f"lead {user(row.lead)}" if row.lead else "_no lead yet_",
        f"open {age(now - incident.declared_at)}",
        _channel(incident),
    ]
    return truncate(f"{_title(incident)}\n{' · '.join(details)}", SECTION_MAX)


def my_line(row: Row, now: datetime) -> str:
    incident = row.incident
    details = [
        f"You: {escape(', '.join(row.parts))}",
        f"*{escape(incident.severity)}*",
        f"open {age(now - incident.declared_at)}",
        _channel(incident),
    ]
    return truncate(f"{_title(incident)}\n{' · '.join(details)}", SECTION_MAX)


def age(elapsed: timedelta) -> str:
    """``2 h 05 min``: short enough for a list, exact enough to compare incidents."""
    minutes = max(0, int(elapsed.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min" if minutes else "under a minute"


# --- small pieces ---------------------------------------------------------------------------


def _rows_within(blocks: list[Block], budget: int, more: Callable[[int], str]) -> list[Block]:
    """As many blocks as fit in ``budget``, the last one saying how many were left out."""
    if len(blocks) <= budget:
        return blocks
    kept = blocks[: budget - 1]
    return [*kept, _context(more(len(blocks) - len(kept)))]


def _title(incident: Incident) -> str:
    # Someone who sees a private incident is told so, to keep it out of public threads.
    lock = ":lock: _private_ · " if incident.private else ""
    return f"{lock}*{incident.reference}* {escape(truncate(incident.title, TITLE_SHOWN_MAX))}"


def _channel(incident: Incident) -> str:
    return channel(incident.channel_id) if incident.channel_id else "_channel being set up_"


def _count(n: int) -> str:
    return f"{n} open incident" if n == 1 else f"{n} open incidents"


# An incident outlives policy edits: a severity, status or role removed from the
# policy still shows, by its id, instead of breaking the list.
def _severity_name(policy: Policy, severity_id: str) -> str:
    try:
        severity = policy.severity(severity_id)
    except KeyError:
        return severity_id
    return f"{severity.id} · {severity.name}"


def _status_name(policy: Policy, status_id: str) -> str:
    try:
        return policy.status(status_id).name
    except KeyError:
        return status_id


def _role_name(policy: Policy, role_id: str) -> str:
    try:
        return policy.role(role_id).name
    except KeyError:
        return role_id


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_MAX)}}


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _updated(policy: Policy, now: datetime) -> Block:
    # <!date> shows each reader's own timezone; the fallback is the organisation's.
    fallback = now.astimezone(policy.tz).strftime("%Y-%m-%d %H:%M %Z")
    return _context(f"Updated <!date^{int(now.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>")

"""``/incident timeline``: the incident's timeline, a page at a time, in the reader's timezone.

Block Kit allows 50 blocks per message and 3,000 characters per section. Pages are
filled up to a block budget; an entry longer than a section is split over several
sections (never cut), so every word on the timeline can be read.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from incidentbot.core import incidents, timeline
from incidentbot.core.policy import Policy
from incidentbot.db import session_scope
from incidentbot.models import Incident, TimelineEvent
from incidentbot.slack import blocks, ids
from incidentbot.slack.blocks import Block, section
from incidentbot.slack.deps import Deps
from incidentbot.slack.mrkdwn import BARE_USER_ID, escape, user

MAX_BLOCKS = 50
# Header, summary line, navigation and a closing context leave this many for entries.
ENTRY_BUDGET = MAX_BLOCKS - 4
SECTION_LIMIT = 3000
# Entries whose text people wrote; everything else was written by the bot.
PEOPLES_WORDS = frozenset({"message_captured", "note"})


def entry_sections(event: TimelineEvent, zone: ZoneInfo) -> list[str]:
    """The mrkdwn sections for one timeline entry (one, unless its text is very long)."""
    local = event.occurred_at.astimezone(zone)
    stamp = f"*{local:%Y-%m-%d %H:%M} {local.tzname()}* ({event.occurred_at:%H:%M} UTC)"
    who = f" · {user(event.actor)}" if event.actor else ""
    source = f" · <{event.permalink}|source>" if event.permalink else ""
    head = f"{stamp}{who}{source}\n"
    text = escape(event.text) or f"_{event.kind.replace('_', ' ')}_"
    if event.kind not in PEOPLES_WORDS:
        # Entries the bot wrote name people by user id; show them as names.
        text = BARE_USER_ID.sub(lambda m: user(m.group()), text)
    room = SECTION_LIMIT - len(head)
    chunks = [text[i:i + room] for i in range(0, len(text), room)] or [""]
    return [head + chunks[0], *(f"…{chunk}" for chunk in chunks[1:])]


def paginate(events: list[TimelineEvent], zone: ZoneInfo) -> list[list[str]]:
    """Entries grouped into pages that fit the block budget; an entry never straddles pages."""
    pages: list[list[str]] = [[]]
    for event in events:
        sections = entry_sections(event, zone)
        if pages[-1] and len(pages[-1]) + len(sections) > ENTRY_BUDGET:
            pages.append([])
        pages[-1].extend(sections)
    return pages


def timeline_message(policy: Policy, incident: Incident, events: list[TimelineEvent], zone: ZoneInfo,
                     page: int = 0) -> tuple[str, list[Block]]:
    pages = paginate(events, zone)
    page = max(0, min(page, len(pages) - 1))
    shown = pages[page]
    out: list[Block] = [
        {"type": "header", "text": blocks.plain(f"Timeline of {incident.reference}", blocks.HEADER_MAX)},
        section(f"{escape(incident.title)} · {len(events)} entries · page {page + 1} of {len(pages)} · "
                f"times in {escape(zone.key)}"),
        *(section(text) for text in shown),
    ]
    if not events:
        out.append(section("_Nothing on the timeline yet._ Pin a message, react with "
                           f":{escape(policy.timeline.capture_emoji)}:, or use `/incident note <text>`."))
    out.append(_navigation(incident, page, len(pages)))
    return f"Timeline of {incident.reference} (page {page + 1} of {len(pages)})", out


def _navigation(incident: Incident, page: int, pages: int) -> Block:
    elements = []
    if page > 0:
        elements.append(_button(ids.TIMELINE_PAGE, "◀ Earlier", f"{incident.id}:{page - 1}"))
    if page < pages - 1:
        elements.append(_button(ids.TIMELINE_PAGE, "Later ▶", f"{incident.id}:{page + 1}"))
    elements.append(_button(ids.OPEN_MILESTONES, "Edit milestones", f"{incident.id}:{incident.revision}"))
    return {"type": "actions", "block_id": "timeline_navigation", "elements": elements}


def _button(action_id: str, label: str, value: str) -> dict:
    return {"type": "button", "action_id": action_id, "text": blocks.plain(label), "value": value}


def for_viewer(deps: Deps, incident_id: int, user_id: str, page: int = 0) -> tuple[str, list[Block]]:
    """The timeline page as ``user_id`` should see it (their Slack timezone)."""
    zone = deps.gateway.user_timezone(user_id)
    with session_scope(deps.engine) as session:
        incident = incidents.get(session, incident_id)
        events = timeline.events(session, incident)
    return timeline_message(deps.policy, incident, events, zone, page)

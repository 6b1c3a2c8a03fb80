"""Action items: follow-up work from an incident, shown as ``AI-<id>``.

Every item belongs to a backlog item (``core.backlog``): creating one finds the open
backlog item it is most similar to, or starts a new one, in the same transaction.
Requests carry a ``request_key`` (the form's view id, the command's trigger id), so a
retried request or a double click creates the item once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from incidentbot.core import backlog, due_dates, timeline
from incidentbot.core.errors import AlreadyDone, InvalidInput, NotFound
from incidentbot.core.incidents import check_services
from incidentbot.core.policy import Policy
from incidentbot.core.policy_sections import ACTION_ITEM_TYPES, PRIORITIES
from incidentbot.core.similarity import Match
from incidentbot.models import ActionItem, BacklogItem, Incident, Postmortem
from incidentbot.timeutil import ensure_utc

STATUSES = ("open", "in_progress", "done", "wont_do")
OPEN = ("open", "in_progress")
STATUS_LABELS = {"open": "Open", "in_progress": "In progress", "done": "Done", "wont_do": "Won't do"}
ORIGINS = ("command", "form", "shortcut", "postmortem")
TITLE_MAX = 200
DESCRIPTION_MAX = 2900
_SPACES = re.compile(r"\s+")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
# A title must say something in words: ":fire: 🔥" alone names no work.
_EMOJI_CODE = re.compile(r":[a-z0-9_+'-]+:", re.I)
_WORD = re.compile(r"[^\W_]")
_URL = re.compile(r"https?://\S+\Z")

# First match wins: "alert on X" is detective even when it also says "add".
_TYPES = (
    ("detective", re.compile(r"\b(?:monitor\w*|alert\w*|alarm\w*|dashboard\w*|detect\w*|observab\w*|metric\w*|"
                             r"watch\w*|probe\w*|notif\w*|log(?:s|ging)?|exporter|visib\w*)\b", re.I)),
    ("process", re.compile(r"\b(?:document\w*|process\w*|runbook\w*|procedure\w*|train\w*|talk\w*|meeting|discuss\w*|"
                           r"communicat\w*|guideline\w*|wiki|learning path|contact|ask|reach out|plan\w*|"
                           r"responsib\w*|advis\w*)\b", re.I)),
    ("corrective", re.compile(r"\b(?:fix\w*|patch\w*|upgrad\w*|updat\w*|pin\w*|revert\w*|roll(?:ed)? back|"
                              r"replac\w*|swap\w*|remov\w*|drop\w*|rotat\w*|chang\w*|adjust\w*|tweak\w*|dig into|"
                              r"investigat\w*)\b", re.I)),
)


@dataclass
class NewActionItem:
    """What someone asked for; empty fields get the policy's defaults."""

    title: str
    description: str = ""
    owner: str | None = None
    due: date | None = None
    type: str | None = None
    priority: str | None = None
    service: str | None = None
    origin: str = "command"
    source_channel_id: str | None = None
    source_ts: str | None = None
    source_link: str | None = None
    request_key: str | None = None


@dataclass
class Created:
    item: ActionItem
    backlog_item: BacklogItem
    new: bool  # False: this request had already created the item
    match: Match | None = None  # the existing backlog item it joined (None: it started one)
    suggestions: list[Match] = field(default_factory=list)  # near misses, offered as "merge into"


def label(item: ActionItem) -> str:
    return f"AI-{item.id}"


def classify(text: str) -> str:
    """preventative | detective | corrective | process, from the work's wording."""
    for kind, pattern in _TYPES:
        if pattern.search(text):
            return kind
    return "preventative"


def create(session: Session, policy: Policy, incident: Incident, spec: NewActionItem, *, actor: str,
           now: datetime) -> Created:
    """Store the item, attach it to a backlog item, and put it on the incident's timeline."""
    now = ensure_utc(now)
    existing = _by_request_key(session, spec.request_key)
    if existing is not None:
        return Created(existing, backlog.get(session, existing.backlog_item_id), new=False)
    item = _build(policy, incident, spec, actor=actor, now=now)
    try:
        with session.begin_nested():
            session.add(item)
    except IntegrityError:
        existing = _by_request_key(session, spec.request_key)
        if existing is None:
            raise
        return Created(existing, backlog.get(session, existing.backlog_item_id), new=False)
    attachment = backlog.attach(session, policy, item, incident, actor=actor, now=now)
    timeline.record(session, incident, "action_item", f"Action item {label(item)} added: {item.title}",
                    actor=actor, occurred_at=now, source_key=f"action_item:{item.id}",
                    data={"action_item_id": item.id, "backlog_item_id": item.backlog_item_id})
    return Created(item, attachment.backlog_item, new=True, match=attachment.match,
                   suggestions=attachment.suggestions)


def _build(policy: Policy, incident: Incident, spec: NewActionItem, *, actor: str, now: datetime) -> ActionItem:
    title = clean_title(spec.title)
    description = _clean_description(spec.description)
    kind = _check_choice(spec.type, ACTION_ITEM_TYPES, "type") or classify(f"{title} {description}")
    priority = _check_choice(spec.priority, PRIORITIES, "priority") or policy.action_items.default_priority
    service = _check_service(policy, spec.service, incident)
    if spec.owner is not None and not _USER_ID.fullmatch(spec.owner):
        raise InvalidInput("owner", "Name the owner with an @mention, e.g. `@alice`.")
    if spec.origin not in ORIGINS:
        raise ValueError(f"unknown origin {spec.origin!r}")
    day = due_dates.check_due(spec.due, policy, now) if spec.due else due_dates.default_due(
        policy, priority=priority, tier=due_dates.service_tier(policy, service, incident), now=now)
    return ActionItem(
        incident_id=incident.id, title=title, description=description, owner=spec.owner,
        due_at=due_dates.due_moment(policy, day), type=kind, priority=priority, service=service,
        status="open", origin=spec.origin, source_channel_id=spec.source_channel_id, source_ts=spec.source_ts,
        source_link=spec.source_link, request_key=spec.request_key, created_by=actor, created_at=now,
        updated_at=now,
    )


def clean_title(raw: str | None) -> str:
    title = _SPACES.sub(" ", raw or "").strip()
    if not title:
        raise InvalidInput("title", "Say what needs doing, verb first, e.g. "
                                    "`/incident action Add an alert on replica lag @alice due friday`.")
    if len(title) > TITLE_MAX:
        raise InvalidInput("title", f"The title is {len(title):,} characters; keep it to {TITLE_MAX} "
                                    "and put the details in the description (the card's *Add action item* form).")
    if not _WORD.search(_EMOJI_CODE.sub("", title)):
        raise InvalidInput("title", "Say in words what needs doing (emoji alone don't), e.g. "
                                    "`/incident action Add an alert on replica lag`.")
    return title


def _clean_description(raw: str | None) -> str:
    text = (raw or "").strip()
    if len(text) > DESCRIPTION_MAX:
        raise InvalidInput("description", f"The description is {len(text):,} characters; "
                                          f"keep it to {DESCRIPTION_MAX:,}.")
    return text


def _check_choice(raw: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    value = value.upper() if name == "priority" else value.lower()
    if value not in allowed:
        raise InvalidInput(name, f"There is no {name} `{raw.strip()[:40]}`. Use one of: {', '.join(allowed)}.")
    return value


def _check_service(policy: Policy, raw: str | None, incident: Incident) -> str | None:
    if raw and raw.strip():
        return check_services(policy, [raw])[0]
    services = list(incident.services or [])
    return services[0] if len(services) == 1 else None


# --- postmortem proposals --------------------------------------------------------------


def proposal_key(postmortem_id: int, text: str) -> str:
    """The request key of confirming a proposal: the same work proposed again (a second
    click, Confirm all, a regenerated draft) is the same key, so it is created once."""
    normalised = _SPACES.sub(" ", text or "").strip().lower()
    return f"postmortem:{postmortem_id}:{hashlib.sha1(normalised.encode()).hexdigest()[:12]}"


def from_proposal(postmortem: Postmortem, index: int) -> NewActionItem:
    """The draft's proposal ``index`` (``Postmortem.draft_actions``) as a request to create it.

    The owner is the proposal's ``owner_id`` when the drafter knew who it was (None: the
    caller decides); a title too long for one keeps the full text as the description.
    """
    proposals = postmortem.draft_actions or []
    if not 0 <= index < len(proposals):
        raise NotFound("That proposal is no longer in the postmortem draft; use the latest proposals.")
    proposal = proposals[index]
    text = _SPACES.sub(" ", str(proposal.get("text") or "")).strip()
    title = text if len(text) <= TITLE_MAX else text[:TITLE_MAX - 1].rstrip() + "…"
    owner = proposal.get("owner_id")
    source = str(proposal.get("source") or "")
    return NewActionItem(
        title=title, description=text if title != text else "",
        owner=owner if isinstance(owner, str) and _USER_ID.fullmatch(owner) else None,
        type=_known(proposal.get("type"), ACTION_ITEM_TYPES), priority=_known(proposal.get("priority"), PRIORITIES),
        origin="postmortem", source_ts=str(proposal["ts"]) if proposal.get("ts") else None,
        source_link=source if _URL.match(source) else None, request_key=proposal_key(postmortem.id, text))


def confirmed_proposals(session: Session, postmortem: Postmortem) -> dict[int, ActionItem]:
    """Proposal index -> the item confirming it made; the same work proposed twice shares one."""
    indexes: dict[str, list[int]] = {}
    for index, proposal in enumerate(postmortem.draft_actions or []):
        indexes.setdefault(proposal_key(postmortem.id, str(proposal.get("text") or "")), []).append(index)
    found = session.exec(select(ActionItem).where(col(ActionItem.request_key).in_(list(indexes))))
    return {index: item for item in found for index in indexes[item.request_key]}


def _known(value: object, allowed: tuple[str, ...]) -> str | None:
    """A drafter's type/priority when it is one the policy knows; otherwise the defaults apply."""
    return value if isinstance(value, str) and value in allowed else None


# --- changes ---------------------------------------------------------------------------


def set_status(session: Session, item: ActionItem, status: str, *, actor: str, now: datetime,
               reason: str | None = None) -> ActionItem:
    """Move the item to ``status``; ``wont_do`` needs a reason. Settles its backlog item."""
    if status not in STATUSES:
        raise InvalidInput("status", f"There is no status `{status}`. Use one of: {', '.join(STATUSES)}.")
    if item.status == status:
        raise AlreadyDone(f"{label(item)} is already {STATUS_LABELS[status].lower()}.")
    if status == "wont_do" and not (reason or "").strip():
        raise InvalidInput("reason", "Say why it won't be done, so the backlog keeps the decision.")
    now = ensure_utc(now)
    item.status = status
    item.wont_do_reason = reason.strip() if status == "wont_do" and reason else None
    item.completed_at = now if status in ("done", "wont_do") else None
    _touch(session, item, now)
    incident = session.get(Incident, item.incident_id)
    text = f"Action item {label(item)} is now {STATUS_LABELS[status].lower()}: {item.title}"
    timeline.record(session, incident, "action_item_status", text + (f" ({item.wont_do_reason})"
                    if item.wont_do_reason else ""), actor=actor, occurred_at=now,
                    data={"action_item_id": item.id, "status": status})
    backlog.settle(session, item.backlog_item_id, now=now)
    return item


def reassign(session: Session, item: ActionItem, owner: str, *, actor: str, now: datetime) -> ActionItem:
    if not _USER_ID.fullmatch(owner or ""):
        raise InvalidInput("owner", "Pick the new owner, e.g. `@alice`.")
    if item.owner == owner:
        raise AlreadyDone(f"{label(item)} is already owned by that person.")
    item.owner = owner
    _touch(session, item, now)
    return item


def snooze(session: Session, policy: Policy, item: ActionItem, *, now: datetime) -> datetime:
    """Silence the item's reminders for the policy's snooze_days; returns until when."""
    until = ensure_utc(now) + timedelta(days=policy.action_items.snooze_days)
    item.snoozed_until = until
    _touch(session, item, now)
    return until


def _touch(session: Session, item: ActionItem, now: datetime) -> None:
    item.updated_at = ensure_utc(now)
    item.revision += 1
    session.add(item)
    session.flush()


# --- queries ---------------------------------------------------------------------------


def get(session: Session, item_id: int) -> ActionItem:
    item = session.get(ActionItem, item_id)
    if item is None:
        raise NotFound(f"There is no action item AI-{item_id}.")
    return item


def by_reference(session: Session, reference: str) -> ActionItem:
    """``AI-12``, ``ai-12`` or ``12``."""
    match = re.fullmatch(r"\s*(?:ai-?)?(\d{1,9})\s*", reference, re.I)
    if not match:
        raise InvalidInput("action_item", f"`{reference.strip()[:40]}` is not an action item; use e.g. `AI-12`.")
    return get(session, int(match[1]))


def for_incident(session: Session, incident_id: int) -> list[ActionItem]:
    query = select(ActionItem).where(ActionItem.incident_id == incident_id).order_by(col(ActionItem.id))
    return list(session.exec(query))


def for_owner(session: Session, owner: str, *, limit: int = 50) -> list[ActionItem]:
    """The owner's open items, soonest due first (items without a due date last)."""
    query = (select(ActionItem).where(ActionItem.owner == owner, col(ActionItem.status).in_(OPEN))
             .order_by(col(ActionItem.due_at).is_(None), col(ActionItem.due_at), col(ActionItem.id)).limit(limit))
    return list(session.exec(query))


def for_backlog_items(session: Session, backlog_item_ids: list[int]) -> list[ActionItem]:
    if not backlog_item_ids:
        return []
    query = (select(ActionItem).where(col(ActionItem.backlog_item_id).in_(backlog_item_ids))
             .order_by(col(ActionItem.id)))
    return list(session.exec(query))


def is_overdue(item: ActionItem, now: datetime) -> bool:
    return item.status in OPEN and item.due_at is not None and item.due_at <= ensure_utc(now)


def _by_request_key(session: Session, key: str | None) -> ActionItem | None:
    if key is None:
        return None
    return session.exec(select(ActionItem).where(ActionItem.request_key == key)).first()

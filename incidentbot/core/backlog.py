"""The reliability backlog: risks (``BL-<id>``) that action items from many incidents address.

A new action item joins the most similar open backlog item (``core.similarity``, offline)
or starts a new one; people merge and split with buttons. The priority score is computed
on read (``core.backlog_score``) from the incidents linked through the item's action
items, so it rises when a risk recurs without anyone recomputing anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from incidentbot.core import metrics, similarity
from incidentbot.core.backlog_score import LinkedIncident, Score, ScoreInput, score
from incidentbot.core.errors import AlreadyDone, InvalidInput, NotFound
from incidentbot.core.policy import Policy
from incidentbot.core.policy_sections import EFFORTS
from incidentbot.models import ActionItem, BacklogItem, Incident
from incidentbot.timeutil import ensure_utc

STATUSES = ("open", "done", "wont_do", "merged")
STATUS_LABELS = {"open": "Open", "done": "Done", "wont_do": "Won't do", "merged": "Merged"}
_OPEN_ITEMS = ("open", "in_progress")


@dataclass(frozen=True)
class IncidentBrief:
    """What the backlog reads of a linked incident: its score input and what views show."""

    id: int
    number: int
    title: str
    private: bool
    declared_at: datetime
    link: LinkedIncident

    @property
    def reference(self) -> str:
        return f"INC-{self.number}"

    @property
    def services(self) -> tuple[str, ...]:
        return self.link.services

    @property
    def severity(self) -> str:
        return self.link.severity_id


@dataclass(frozen=True)
class ActionItemBrief:
    """What the backlog reads of an action item: enough to count, date, name and export it."""

    id: int
    backlog_item_id: int
    incident_id: int
    status: str
    due_at: datetime | None
    title: str
    owner: str | None
    external_url: str | None


@dataclass
class Attachment:
    backlog_item: BacklogItem
    match: similarity.Match | None  # None: a new backlog item was started
    suggestions: list[similarity.Match] = field(default_factory=list)


@dataclass
class Ranked:
    """A backlog item with what its score is made of."""

    item: BacklogItem
    score: Score
    action_items: list[ActionItemBrief] | list[ActionItem]
    incidents: list[IncidentBrief] | list[Incident]  # linked incidents, most recent first

    @property
    def private_only(self) -> bool:
        """Nothing here may be shown publicly: its text came from a private incident, or
        private incidents are all it is linked to."""
        if self.item.private_incident_id is not None:
            return True
        return bool(self.incidents) and all(incident.private for incident in self.incidents)


def label(item: BacklogItem) -> str:
    return f"BL-{item.id}"


def get(session: Session, item_id: int | None) -> BacklogItem:
    item = session.get(BacklogItem, item_id) if item_id is not None else None
    if item is None:
        raise NotFound(f"There is no backlog item BL-{item_id}.")
    return item


def by_reference(session: Session, reference: str) -> BacklogItem:
    """``BL-4``, ``bl-4`` or ``4``."""
    match = re.fullmatch(r"\s*(?:bl-?)?(\d{1,9})\s*", reference, re.I)
    if not match:
        raise InvalidInput("backlog_item", f"`{reference.strip()[:40]}` is not a backlog item; use e.g. `BL-4`.")
    return get(session, int(match[1]))


def incidents_of(session: Session, item: BacklogItem) -> list[Incident]:
    """The incidents linked to ``item`` through its action items."""
    # A subquery, not DISTINCT over a join: PostgreSQL cannot compare the JSON columns.
    ids = select(ActionItem.incident_id).where(ActionItem.backlog_item_id == item.id)
    return list(session.exec(select(Incident).where(col(Incident.id).in_(ids))))


# --- attaching, merging, splitting -----------------------------------------------------


def attach(session: Session, policy: Policy, item: ActionItem, incident: Incident, *, actor: str,
           now: datetime) -> Attachment:
    """Put ``item`` in the most similar open backlog item, or in a new one."""
    services = [item.service] if item.service else list(incident.services or [])
    matches = similarity.best_matches(
        item.title, item.description, services=services, category=incident.category,
        candidates=_candidates(session), floor=policy.backlog.suggest_floor, limit=4)
    best = matches[0] if matches and matches[0].score >= policy.backlog.attach_threshold else None
    if best is not None:
        target = get(session, best.key)
        target.services = _union(target.services, services)
        _touch(session, target, now)
    else:
        target = BacklogItem(title=item.title, description=item.description, category=incident.category,
                             services=services, status="open", created_by=actor, created_at=now, updated_at=now,
                             private_incident_id=incident.id if incident.private else None)
        session.add(target)
        session.flush()
    item.backlog_item_id = target.id
    session.add(item)
    session.flush()
    suggestions = [m for m in matches if m is not best][:3]
    return Attachment(target, best, suggestions)


def merge(session: Session, source: BacklogItem, target: BacklogItem, *, now: datetime) -> BacklogItem:
    """Move every action item of ``source`` into ``target``; ``source`` becomes merged."""
    if source.id == target.id:
        raise InvalidInput("backlog_item", f"{label(source)} cannot be merged into itself.")
    if source.status == "merged":
        raise AlreadyDone(f"{label(source)} was already merged into BL-{source.merged_into_id}.")
    if target.status == "merged":
        raise InvalidInput("backlog_item", f"{label(target)} was merged into BL-{target.merged_into_id}; "
                                           f"merge into that one instead.")
    reopen = target.status != "open" and _has_open_items(session, source.id)
    for action_item in session.exec(select(ActionItem).where(ActionItem.backlog_item_id == source.id)):
        action_item.backlog_item_id = target.id
        session.add(action_item)
    target.services = _union(target.services, source.services)
    if reopen:
        target.status, target.closed_at, target.reason = "open", None, None
    source.status, source.merged_into_id, source.closed_at = "merged", target.id, ensure_utc(now)
    _touch(session, source, now)
    _touch(session, target, now)
    return target


def split(session: Session, item: ActionItem, *, actor: str, now: datetime) -> BacklogItem:
    """Take ``item`` out of its backlog item into a new one of its own."""
    old = get(session, item.backlog_item_id)
    others = [a for a in session.exec(select(ActionItem).where(ActionItem.backlog_item_id == old.id))
              if a.id != item.id]
    if not others:
        raise AlreadyDone(f"AI-{item.id} is the only action item of {label(old)}; it is already on its own.")
    incident = session.get(Incident, item.incident_id)
    new = BacklogItem(title=item.title, description=item.description, category=incident.category if incident else None,
                      services=[item.service] if item.service else list(incident.services if incident else []),
                      status="open", created_by=actor, created_at=now, updated_at=now,
                      private_incident_id=incident.id if incident and incident.private else None)
    session.add(new)
    session.flush()
    item.backlog_item_id = new.id
    session.add(item)
    _touch(session, old, now)
    settle(session, old.id, now=now)
    return new


# --- status ----------------------------------------------------------------------------


def set_status(session: Session, item: BacklogItem, status: str, *, now: datetime,
               reason: str | None = None) -> list[ActionItem]:
    """Close (``done`` / ``wont_do``) a backlog item with its open action items; returns those."""
    if status not in ("done", "wont_do"):
        raise InvalidInput("status", "A backlog item can be marked done or won't do.")
    if item.status == status:
        raise AlreadyDone(f"{label(item)} is already {STATUS_LABELS[status].lower()}.")
    if item.status == "merged":
        raise AlreadyDone(f"{label(item)} was merged into BL-{item.merged_into_id}.")
    if status == "wont_do" and not (reason or "").strip():
        raise InvalidInput("reason", "Say why this risk won't be addressed, so the decision is kept.")
    now = ensure_utc(now)
    closed = []
    for action_item in session.exec(select(ActionItem).where(ActionItem.backlog_item_id == item.id,
                                                             col(ActionItem.status).in_(_OPEN_ITEMS))):
        action_item.status, action_item.completed_at, action_item.updated_at = status, now, now
        action_item.wont_do_reason = reason.strip() if status == "wont_do" else None
        action_item.revision += 1
        session.add(action_item)
        closed.append(action_item)
    item.status, item.closed_at = status, now
    item.reason = reason.strip() if status == "wont_do" and reason else None
    _touch(session, item, now)
    return closed


def settle(session: Session, item_id: int | None, *, now: datetime) -> None:
    """Close a backlog item whose action items are all finished; reopen one with open work."""
    if item_id is None:
        return
    item = get(session, item_id)
    if item.status == "merged":
        return
    statuses = [a.status for a in session.exec(select(ActionItem).where(ActionItem.backlog_item_id == item_id))]
    if not statuses:
        return
    if any(s in _OPEN_ITEMS for s in statuses):
        if item.status != "open":
            item.status, item.closed_at, item.reason = "open", None, None
            _touch(session, item, now)
        return
    if item.status == "open":
        item.status = "done" if "done" in statuses else "wont_do"
        item.closed_at = ensure_utc(now)
        _touch(session, item, now)


def assign(session: Session, item: BacklogItem, owner: str, *, now: datetime) -> BacklogItem:
    if item.owner == owner:
        raise AlreadyDone(f"{label(item)} is already yours.")
    item.owner = owner
    _touch(session, item, now)
    return item


def set_effort(session: Session, item: BacklogItem, effort: str | None, *, now: datetime) -> BacklogItem:
    value = (effort or "").strip().upper() or None
    if value is not None and value not in EFFORTS:
        raise InvalidInput("effort", f"Effort is one of {', '.join(EFFORTS)}.")
    item.effort = value
    _touch(session, item, now)
    return item


# --- ranking ---------------------------------------------------------------------------


def ranked(session: Session, policy: Policy, *, now: datetime, service: str | None = None,
           team: str | None = None, statuses: tuple[str, ...] = ("open",),
           include_private: bool = False) -> list[Ranked]:
    """Backlog items by score, highest first; three queries whatever the number of items.

    ``include_private=False`` leaves out items whose only incidents are private (their
    titles describe those incidents); private incidents still count in other items' scores.
    """
    items = list(session.exec(select(BacklogItem).where(col(BacklogItem.status).in_(list(statuses)))))
    # Plain rows of only the columns read, not ORM objects: a large backlog links tens of
    # thousands of action items and incidents, and building those was most of the time.
    actions = _group((ActionItemBrief(*row) for row in session.exec(
        select(*_ACTION_ITEM_BRIEF).where(col(ActionItem.backlog_item_id).in_([i.id for i in items])))),
        "backlog_item_id")
    incident_ids = {a.incident_id for group in actions.values() for a in group}
    ranks: dict[str, int] = {}
    incidents = {row.id: _brief(policy, row, ranks) for row in session.exec(
        select(*_INCIDENT_BRIEF).where(col(Incident.id).in_(list(incident_ids))))}
    result = []
    for item in items:
        mine = actions.get(item.id, [])
        linked = sorted((incidents[i] for i in {a.incident_id for a in mine}), key=lambda i: i.number, reverse=True)
        entry = Ranked(item, _score(policy, item, mine, [i.link for i in linked], now), mine, linked)
        if (include_private or not entry.private_only) and _concerns(policy, entry, service, team):
            result.append(entry)
    return sorted(result, key=lambda r: (-r.score.total, r.item.id))


_ACTION_ITEM_BRIEF = (ActionItem.id, ActionItem.backlog_item_id, ActionItem.incident_id, ActionItem.status,
                      ActionItem.due_at, ActionItem.title, ActionItem.owner, ActionItem.external_url)
_INCIDENT_BRIEF = (Incident.id, Incident.number, Incident.title, Incident.severity, Incident.services,
                   Incident.private, Incident.declared_at, Incident.started_at, Incident.mitigated_at,
                   Incident.resolved_at)


def _brief(policy: Policy, row, ranks: dict[str, int]) -> IncidentBrief:
    if row.severity not in ranks:  # looked up once per severity: the policy's lookup normalises names
        ranks[row.severity] = _severity_rank(policy, row.severity)
    return IncidentBrief(id=row.id, number=row.number, title=row.title, private=row.private,
                         declared_at=row.declared_at, link=_linked(policy, row, ranks[row.severity]))


def score_of(policy: Policy, item: BacklogItem, action_items: list[ActionItem], incidents: list[Incident],
             now: datetime) -> Score:
    return _score(policy, item, action_items,
                  [_linked(policy, i, _severity_rank(policy, i.severity)) for i in incidents], now)


def _score(policy: Policy, item: BacklogItem, action_items: list, linked: list[LinkedIncident],
           now: datetime) -> Score:
    now = ensure_utc(now)
    open_items = [a for a in action_items if a.status in _OPEN_ITEMS]
    overdue = [a for a in open_items if a.due_at is not None and a.due_at <= now]
    return score(ScoreInput(
        incidents=tuple(linked), created_at=item.created_at,
        now=now, open_items=len(open_items), overdue_items=len(overdue), effort=item.effort),
        policy.backlog.weights)


def _severity_rank(policy: Policy, severity: str) -> int:
    try:
        return policy.severity_rank(severity)
    except KeyError:  # a severity removed from the policy since: count it as the mildest
        return len(policy.severities) - 1


def _linked(policy: Policy, incident, rank: int) -> LinkedIncident:
    """The score's view of an incident (an ``Incident`` or a row with the same columns)."""
    services = tuple(incident.services or ())
    teams = tuple(sorted({s.team for s in policy.services if s.name in services}))
    return LinkedIncident(number=incident.number, severity_rank=rank, severity_count=len(policy.severities),
                          severity_id=incident.severity, services=services, teams=teams,
                          impact_minutes=metrics.impact_minutes(incident))


def _concerns(policy: Policy, entry: Ranked, service: str | None, team: str | None) -> bool:
    if service is None and team is None:
        return True
    services = set(entry.item.services) | {s for i in entry.incidents for s in (i.services or [])}
    if service is not None and service not in services:
        return False
    if team is not None:
        return any(s.team == team and s.name in services for s in policy.services)
    return True


def _candidates(session: Session) -> list[similarity.Candidate]:
    items = session.exec(select(BacklogItem).where(BacklogItem.status == "open"))
    return [similarity.Candidate(key=i.id, title=i.title, description=i.description,
                                 services=tuple(i.services or ()), category=i.category) for i in items]


def _has_open_items(session: Session, item_id: int) -> bool:
    query = select(ActionItem.id).where(ActionItem.backlog_item_id == item_id,
                                        col(ActionItem.status).in_(_OPEN_ITEMS))
    return session.exec(query).first() is not None


def _group(rows, attr: str) -> dict:
    groups: dict = {}
    for row in rows:
        groups.setdefault(getattr(row, attr), []).append(row)
    return groups


def _union(a: list[str] | None, b: list[str] | None) -> list[str]:
    return list(dict.fromkeys([*(a or []), *(b or [])]))


def _touch(session: Session, item: BacklogItem, now: datetime) -> None:
    item.updated_at = ensure_utc(now)
    item.revision += 1
    session.add(item)
    session.flush()

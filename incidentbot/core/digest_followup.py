"""The digest's follow-up sections: error budgets, the postmortem pipeline, action items.

Split from ``core.digest`` (which calls these); each section runs a fixed number of
queries whatever the number of incidents. Private incidents are counted and never named:
their budget shares and postmortem lines carry no number, title or owner.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from sqlalchemy import distinct, exists, func, select, true
from sqlmodel import Session, col

from incidentbot.core import backlog, metrics
from incidentbot.core.action_items import OPEN as OPEN_ITEMS
from incidentbot.core.digest_report import (
    Actions,
    BacklogLine,
    Budget,
    BudgetShare,
    Pipeline,
    PostmortemLine,
    Week,
)
from incidentbot.core.policy import Policy
from incidentbot.core.postmortems import ACTIVE, PostmortemStatus
from incidentbot.models import ActionItem, Incident, Postmortem, TimelineEvent

TOP_BACKLOG = 5
CLOSED_ITEMS = ("done", "wont_do")
NOT_NEEDED_EVENT = "postmortem_not_needed"  # recorded by core.postmortems.not_needed, at that moment


# --- error budgets (three queries, four with services) ------------------------------------------


def budgets(session: Session, policy: Policy, week: Week, window_start: datetime,
            window_minutes: int) -> tuple[list[Budget], list[str]]:
    """Each policy service's error budget over the window; and notes on what was left out.

    budget = window minutes × (1 − SLO), computed in decimal so 0.999 is 0.999;
    consumed = customer-impact minutes clipped to the window / week (``impact_by_service``);
    an impact that has not ended is left out (its length is unknown) and counted in a note.
    """
    services = [s for s in policy.services if s.slo is not None]
    if not services:
        return [], []
    names = [s.name for s in services]
    window = metrics.impact_by_service(session, window_start, week.end)
    this_week = metrics.impact_by_service(session, week.start, week.end)
    shares: dict[str, list[BudgetShare]] = defaultdict(list)
    for row in metrics.impact_by_incident(session, week.start, week.end, services=names):
        shares[row.service].append(BudgetShare(None if row.private else row.number, row.minutes))
    result = []
    for service in services:
        budget = _round(Decimal(window_minutes) * (1 - Decimal(str(service.slo))))
        consumed = window.get(service.name, 0.0)
        left = _round(Decimal(str(budget)) - Decimal(str(consumed)))
        result.append(Budget(
            service=service.name, slo=service.slo, budget_minutes=budget,
            consumed_week_minutes=this_week.get(service.name, 0.0), consumed_window_minutes=consumed,
            left_minutes=left, shares=tuple(shares.get(service.name, ())), over=left < 0))
    ongoing = _ongoing(session, names, week.end)
    notes = []
    if ongoing:
        noun = "incident's customer impact has" if ongoing == 1 else "incidents' customer impact has"
        notes.append(f"{ongoing} {noun} not ended (no mitigated or resolved time); "
                     f"{'it is' if ongoing == 1 else 'they are'} not counted in the error budgets.")
    return result, notes


def _ongoing(session: Session, names: list[str], end: datetime) -> int:
    """Incidents on these services whose impact began before ``end`` and has not ended."""
    listed = metrics.listed_services(session)
    query = (
        select(func.count(distinct(Incident.id))).select_from(Incident).join(listed, true())
        .where(func.coalesce(Incident.mitigated_at, Incident.resolved_at).is_(None),
               func.coalesce(Incident.started_at, Incident.declared_at) < end,
               listed.c.value.in_(names))
    )
    return int(session.execute(query).scalar_one())


def _round(value: Decimal) -> float:
    return round(float(value), 6)


# --- the postmortem pipeline (four queries) -----------------------------------------------------


def pipeline(session: Session, week: Week, cutoff: datetime) -> Pipeline:
    """Due this week (still to do), overdue at ``cutoff``, published and marked not needed this week.

    A postmortem due this week and not done by ``cutoff`` is in both ``due_this_week`` and
    ``overdue``. "Marked not needed" is dated by its timeline event (the postmortem has no
    column for it; ``updated_at`` moves again when a draft is stored afterwards).
    """
    base = (select(Incident.number, Incident.title, Incident.private, Postmortem.owner, Postmortem.due_at,
                   Postmortem.status)
            .select_from(Postmortem).join(Incident, Incident.id == Postmortem.incident_id))
    active = col(Postmortem.status).in_(sorted(ACTIVE))
    in_week = (lambda column: (column >= week.start) & (column < week.end))
    marked = exists().where(TimelineEvent.incident_id == Postmortem.incident_id,
                            TimelineEvent.kind == NOT_NEEDED_EVENT, in_week(TimelineEvent.occurred_at))

    def lines(query) -> tuple[PostmortemLine, ...]:
        return tuple(_line(row) for row in session.execute(query))

    by_due = (Postmortem.due_at, Incident.number)
    return Pipeline(
        due_this_week=lines(base.where(active, in_week(Postmortem.due_at)).order_by(*by_due)),
        overdue=lines(base.where(active, Postmortem.due_at <= cutoff).order_by(*by_due)),
        published=lines(base.where(Postmortem.status == PostmortemStatus.PUBLISHED,
                                   in_week(Postmortem.published_at))
                        .order_by(Postmortem.published_at, Incident.number)),
        not_needed=lines(base.where(Postmortem.status == PostmortemStatus.NOT_NEEDED, marked)
                         .order_by(*by_due)),
    )


def _line(row) -> PostmortemLine:
    if row.private:  # counted, never named: no number, title or owner
        return PostmortemLine(None, None, None, row.due_at, str(row.status))
    return PostmortemLine(row.number, row.title, row.owner, row.due_at, str(row.status))


# --- action items and the backlog (one query, four for the ranking, two for recurrences) --------


def actions(session: Session, policy: Policy, week: Week, cutoff: datetime) -> Actions:
    """Opened, closed and overdue counts; the top of the backlog and the risks that recurred."""

    def count(*conditions):
        return select(func.count()).select_from(ActionItem).where(*conditions).scalar_subquery()

    opened, closed, overdue = session.execute(select(
        count(ActionItem.created_at >= week.start, ActionItem.created_at < week.end),
        count(col(ActionItem.status).in_(CLOSED_ITEMS), ActionItem.completed_at >= week.start,
              ActionItem.completed_at < week.end),
        count(col(ActionItem.status).in_(OPEN_ITEMS), ActionItem.due_at <= cutoff),
    )).one()
    entries = backlog.ranked(session, policy, now=cutoff, include_private=False)
    recurring = _recurred_ids(session, week)
    return Actions(
        opened=int(opened), closed=int(closed), overdue=int(overdue),
        top=tuple(_backlog_line(entry, week) for entry in entries[:TOP_BACKLOG]),
        recurred=tuple(_backlog_line(entry, week) for entry in entries if entry.item.id in recurring),
    )


def _recurred_ids(session: Session, week: Week) -> set[int]:
    """Backlog items linked to an incident declared this week and to one declared before it."""
    this_week = (select(ActionItem.backlog_item_id).join(Incident, Incident.id == ActionItem.incident_id)
                 .where(Incident.declared_at >= week.start, Incident.declared_at < week.end,
                        col(ActionItem.backlog_item_id).is_not(None)))
    earlier = (select(ActionItem.backlog_item_id).join(Incident, Incident.id == ActionItem.incident_id)
               .where(col(ActionItem.backlog_item_id).in_(this_week), Incident.declared_at < week.start)
               .distinct())
    return {int(item_id) for item_id in session.execute(earlier).scalars()}


def _backlog_line(entry: backlog.Ranked, week: Week) -> BacklogLine:
    new = [i for i in entry.incidents if week.start <= i.declared_at < week.end]
    if week.start <= entry.item.created_at < week.end:
        change = "new"
    elif new:
        named = [f"INC-{i.number}" for i in new if not i.private]
        hidden = len(new) - len(named)
        if hidden:
            named.append(f"{hidden} private" if named else "private")
        change = f"+{len(new)} incident{'s' if len(new) != 1 else ''} ({', '.join(named)})"
    else:
        change = "unchanged"
    return BacklogLine(label=backlog.label(entry.item), title=entry.item.title, score=entry.score.total,
                       change=change, incidents=tuple(i.number for i in entry.incidents if not i.private))

"""Action items: created once per request, validated, defaulted by policy, on the timeline."""

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import select

from incidentbot.core import action_items, backlog, incidents, timeline
from incidentbot.core.action_items import NewActionItem
from incidentbot.core.errors import AlreadyDone, InvalidInput, NotFound
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy
from incidentbot.models import ActionItem, BacklogItem

POLICY = load_policy()  # shipped policy: api is tier 1 (P1 due in 4 weeks), web tier 2
NOW = datetime(2026, 11, 19, 10, 0, tzinfo=timezone.utc)  # a Thursday
ALICE, BOB = "U0ALICE", "U0BOB"


def declare(session, title="Checkout failing", services=("api",), category="code-deploy", private=False):
    incident, _ = incidents.declare(session, POLICY, Declaration(
        title=title, severity="SEV2", declared_by=ALICE, services=services, category=category, private=private))
    session.commit()
    return incident


def create(session, incident, title="Add an alert on replica lag", **fields):
    created = action_items.create(session, POLICY, incident, NewActionItem(title=title, **fields), actor=ALICE,
                                  now=NOW)
    session.commit()
    return created


def test_create_stores_defaults_from_policy(session):
    incident = declare(session)
    created = create(session, incident, owner=BOB)
    item = session.exec(select(ActionItem)).one()
    assert created.new and action_items.label(item) == f"AI-{item.id}"
    # Detective from its wording, P2 by default (12 weeks), the incident's only service.
    assert (item.type, item.priority, item.service, item.status, item.owner) == ("detective", "P2", "api", "open", BOB)
    assert item.due_at == datetime(2027, 2, 11, 17, tzinfo=timezone.utc)  # shipped policy: UTC, 17:00
    assert item.backlog_item_id == created.backlog_item.id and created.match is None


def test_p1_on_a_tier_one_service_is_due_in_four_weeks(session):
    incident = declare(session, services=("api", "web"))
    item = create(session, incident, priority="p1").item
    assert item.priority == "P1" and item.service is None  # two services: none chosen for it
    assert item.due_at.date() == date(2026, 12, 17)


def test_given_fields_are_kept(session):
    incident = declare(session)
    item = create(session, incident, title="  Write   the failover runbook ", description="Steps for DB failover",
                  type="Process", priority="P3", service="web", due=date(2026, 12, 4), origin="form",
                  source_channel_id="C1", source_ts="1.2", source_link="https://x.slack.com/archives/C1/p12").item
    assert (item.title, item.type, item.priority, item.service, item.origin) == (
        "Write the failover runbook", "process", "P3", "web", "form")
    assert item.due_at == datetime(2026, 12, 4, 17, tzinfo=timezone.utc)
    assert (item.source_channel_id, item.source_ts) == ("C1", "1.2")


@pytest.mark.parametrize("fields, field, says", [
    ({"title": "   "}, "title", "Say what needs doing"),
    ({"title": "x" * 5000}, "title", "5,000 characters"),
    ({"type": "heroic"}, "type", "preventative, detective, corrective, process"),
    ({"priority": "urgent"}, "priority", "P1, P2, P3"),
    ({"service": "nope"}, "services", "no service `nope`"),
    ({"owner": "alice"}, "owner", "@mention"),
    ({"due": date(2026, 11, 1)}, "due", "in the past"),
    ({"description": "d" * 3000}, "description", "3,000 characters"),
])
def test_bad_input_is_refused_with_what_to_do(session, fields, field, says):
    incident = declare(session)
    with pytest.raises(InvalidInput) as error:
        create(session, incident, **{"title": "Add an alert", **fields})
    assert error.value.field == field and says in error.value.message
    session.rollback()
    assert session.exec(select(ActionItem)).all() == []


def test_emoji_title_is_kept(session):
    item = create(session, declare(session), title="Add 🚨 alerting for :fire: queue depth").item
    assert item.title == "Add 🚨 alerting for :fire: queue depth"


def test_same_request_creates_once(session):
    incident = declare(session)
    first = create(session, incident, request_key="view:V1")
    again = create(session, incident, request_key="view:V1")
    assert first.new and not again.new and again.item.id == first.item.id
    assert len(session.exec(select(ActionItem)).all()) == 1 and len(session.exec(select(BacklogItem)).all()) == 1


def test_creation_is_on_the_incident_timeline(session):
    incident = declare(session)
    item = create(session, incident).item
    event = [e for e in timeline.events(session, incident) if e.kind == "action_item"]
    assert [e.text for e in event] == [f"Action item AI-{item.id} added: Add an alert on replica lag"]


def test_status_changes_and_wont_do_needs_a_reason(session):
    incident = declare(session)
    item = create(session, incident).item
    action_items.set_status(session, item, "in_progress", actor=BOB, now=NOW)
    with pytest.raises(AlreadyDone):
        action_items.set_status(session, item, "in_progress", actor=BOB, now=NOW)
    with pytest.raises(InvalidInput) as error:
        action_items.set_status(session, item, "wont_do", actor=BOB, now=NOW)
    assert error.value.field == "reason"
    action_items.set_status(session, item, "wont_do", actor=BOB, now=NOW, reason="Replaced by BL-2")
    assert (item.status, item.wont_do_reason, item.completed_at) == ("wont_do", "Replaced by BL-2", NOW)
    texts = [e.text for e in timeline.events(session, incident) if e.kind == "action_item_status"]
    assert texts[-1].endswith("is now won't do: Add an alert on replica lag (Replaced by BL-2)")


def test_finishing_the_last_item_closes_its_backlog_item_and_reopening_reopens_it(session):
    incident = declare(session)
    item = create(session, incident).item
    action_items.set_status(session, item, "done", actor=BOB, now=NOW)
    risk = backlog.get(session, item.backlog_item_id)
    assert (risk.status, risk.closed_at) == ("done", NOW)
    action_items.set_status(session, item, "open", actor=BOB, now=NOW)
    assert (risk.status, risk.closed_at, item.completed_at) == ("open", None, None)


def test_reassign_and_snooze(session):
    incident = declare(session)
    item = create(session, incident, owner=ALICE).item
    action_items.reassign(session, item, BOB, actor=ALICE, now=NOW)
    assert item.owner == BOB
    with pytest.raises(AlreadyDone):
        action_items.reassign(session, item, BOB, actor=ALICE, now=NOW)
    with pytest.raises(InvalidInput):
        action_items.reassign(session, item, "bob", actor=ALICE, now=NOW)
    assert action_items.snooze(session, POLICY, item, now=NOW) == NOW + timedelta(days=7) == item.snoozed_until


def test_lookups(session):
    incident = declare(session)
    other = declare(session, title="Search slow")
    a = create(session, incident, owner=BOB, due=date(2026, 12, 20)).item
    b = create(session, incident, title="Document the rollback", owner=BOB, due=date(2026, 12, 1)).item
    c = create(session, other, title="Fix the cache key", owner=ALICE).item
    assert [i.id for i in action_items.for_incident(session, incident.id)] == [a.id, b.id]
    assert [i.id for i in action_items.for_owner(session, BOB)] == [b.id, a.id]
    assert action_items.by_reference(session, f"ai-{c.id}").id == c.id == action_items.by_reference(session, str(c.id)).id
    with pytest.raises(NotFound):
        action_items.by_reference(session, "AI-999")
    with pytest.raises(InvalidInput):
        action_items.by_reference(session, "fix it")
    assert action_items.is_overdue(b, datetime(2026, 12, 2, tzinfo=timezone.utc))
    assert not action_items.is_overdue(b, NOW)


@pytest.mark.parametrize("text, kind", [
    ("Add alerting on consumer lag", "detective"),
    ("Write a runbook for failover", "process"),
    ("Fix the retry loop in the importer", "corrective"),
    ("Add a circuit breaker to the payments client", "preventative"),
])
def test_classify(text, kind):
    assert action_items.classify(text) == kind

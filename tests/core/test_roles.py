"""Roles: one holder per role, handovers kept as history, what a person holds."""

from datetime import datetime, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from incidentbot.core import incidents, lifecycle, roles, timeline
from incidentbot.core.errors import AlreadyDone, InvalidInput
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy
from incidentbot.models import Incident, RoleAssignment

POLICY = load_policy()
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"


@freeze_time("2026-11-21 09:00:00")
def declare(session, title="Checkout failing"):
    incident, _ = incidents.declare(session, POLICY, Declaration(title=title, severity="SEV2", declared_by=ALICE))
    session.commit()
    return incident


def test_assign_stores_the_holder_and_records_it(session, engine):
    incident = declare(session)
    with freeze_time("2026-11-21 09:05:00"):
        change = roles.assign(session, POLICY, incident, "lead", BOB, ALICE)
        session.commit()
    with Session(engine) as other:
        [row] = other.exec(select(RoleAssignment)).all()
        assert (row.incident_id, row.role, row.user_id, row.assigned_by, row.ended_at) == (
            incident.id, "lead", BOB, ALICE, None)
        assert row.started_at == datetime(2026, 11, 21, 9, 5, tzinfo=timezone.utc)
        assert other.get(Incident, incident.id).revision == 1
    assert roles.holders(session, incident) == {"lead": BOB}
    assert roles.lead(session, POLICY, incident) == BOB
    assert (change.kind, change.actor, change.before, change.after, change.detail, change.announce) == (
        "role_assigned", ALICE, None, BOB, "lead", False)
    event = timeline.events(session, incident)[-1]
    assert (event.kind, event.actor, event.text) == ("role_assigned", ALICE, "Incident lead: U0BOB.")
    assert event.data == {"before": None, "after": BOB, "role": "lead"}


def test_handover_ends_the_previous_assignment_and_keeps_it(session):
    incident = declare(session)
    with freeze_time("2026-11-21 09:05:00"):
        roles.assign(session, POLICY, incident, "lead", BOB, ALICE)
    with freeze_time("2026-11-21 11:30:00"):
        change = roles.assign(session, POLICY, incident, "Lead", CAROL, BOB)
    session.commit()
    assert (change.before, change.after) == (BOB, CAROL)
    assert roles.holders(session, incident) == {"lead": CAROL}
    first, second = roles.history(session, incident)
    assert (first.user_id, first.ended_at) == (BOB, datetime(2026, 11, 21, 11, 30, tzinfo=timezone.utc))
    assert (second.user_id, second.ended_at, second.assigned_by) == (CAROL, None, BOB)
    assert timeline.events(session, incident)[-1].text == "Incident lead: U0CAROL, taking over from U0BOB."


def test_roles_are_independent(session):
    incident = declare(session)
    roles.assign(session, POLICY, incident, "lead", BOB, ALICE)
    roles.assign(session, POLICY, incident, "comms", BOB, ALICE)
    roles.assign(session, POLICY, incident, "scribe", CAROL, ALICE)
    assert roles.holders(session, incident) == {"lead": BOB, "comms": BOB, "scribe": CAROL}


def test_same_person_again_is_already_done(session):
    incident = declare(session)
    roles.assign(session, POLICY, incident, "lead", BOB, ALICE)
    with pytest.raises(AlreadyDone) as caught:
        roles.assign(session, POLICY, incident, "lead", BOB, CAROL)
    assert str(caught.value) == "That person is already the incident lead of INC-1."
    assert len(roles.history(session, incident)) == 1


@pytest.mark.parametrize("role, message", [
    ("captain", "There is no role `captain`. Use one of: lead, comms, scribe."),
    ("", "Name a role: lead, comms, scribe."),
])
def test_unknown_role_lists_the_policy_roles(session, role, message):
    incident = declare(session)
    with pytest.raises(InvalidInput) as caught:
        roles.assign(session, POLICY, incident, role, BOB, ALICE)
    assert (caught.value.field, caught.value.message) == ("role", message)


@pytest.mark.parametrize("user", ["", "bob", "@bob", "<@U0BOB>", "u0bob", "C0CHANNEL", "U1"])
def test_user_must_be_a_slack_user_id(session, user):
    incident = declare(session)
    with pytest.raises(InvalidInput) as caught:
        roles.assign(session, POLICY, incident, "comms", user, ALICE)
    assert (caught.value.field, caught.value.message) == ("user", "Mention the person: `/incident role comms @name`")


def test_enterprise_grid_user_ids_are_accepted(session):
    incident = declare(session)
    assert roles.assign(session, POLICY, incident, "scribe", "W0GRID", ALICE).after == "W0GRID"


def test_roles_of_lists_open_incidents_newest_first(session):
    one, two, three, four = (declare(session, f"t{i}") for i in range(4))
    roles.assign(session, POLICY, one, "lead", BOB, ALICE)
    roles.assign(session, POLICY, two, "comms", BOB, ALICE)
    roles.assign(session, POLICY, two, "lead", BOB, ALICE)
    roles.assign(session, POLICY, three, "lead", BOB, ALICE)
    roles.assign(session, POLICY, four, "lead", BOB, ALICE)
    roles.assign(session, POLICY, four, "lead", CAROL, ALICE)  # handed over: BOB no longer holds it
    lifecycle.resolve(session, POLICY, three, BOB, "fixed")  # resolved: not listed
    session.commit()
    held = roles.roles_of(session, POLICY, BOB)
    assert [(incident.number, role) for incident, role in held] == [(2, "lead"), (2, "comms"), (1, "lead")]
    assert roles.roles_of(session, POLICY, "U0NOBODY") == []


@pytest.mark.parametrize("chunk", [500, 2])  # 2: the ids span several IN (...) lists
def test_leads_gives_each_incidents_current_lead(session, monkeypatch, chunk):
    monkeypatch.setattr(roles, "_IN_CHUNK", chunk)
    one, two, three, four, five = (declare(session, f"t{i}") for i in range(5))
    roles.assign(session, POLICY, one, "lead", BOB, ALICE)
    roles.assign(session, POLICY, two, "comms", BOB, ALICE)  # a role, but not the lead
    roles.assign(session, POLICY, four, "lead", BOB, ALICE)
    roles.assign(session, POLICY, four, "lead", CAROL, ALICE)  # handed over: CAROL leads now
    roles.assign(session, POLICY, five, "lead", ALICE, ALICE)
    session.commit()

    found = roles.leads(session, POLICY, [one, two, three, four, five])

    assert found == {one.id: BOB, four.id: CAROL, five.id: ALICE}
    assert found == {i.id: roles.lead(session, POLICY, i) for i in (one, two, three, four, five)
                     if roles.lead(session, POLICY, i)}
    assert roles.leads(session, POLICY, [two, three]) == {}
    assert roles.leads(session, POLICY, []) == {}


def test_a_stale_second_assignment_becomes_a_handover(engine):
    """Two people taking the lead through two processes: one holder, both in the history."""
    with Session(engine) as one, Session(engine) as two:
        incident = declare(one)
        stale = two.get(Incident, incident.id)
        roles.assign(one, POLICY, incident, "lead", BOB, BOB)
        one.commit()
        change = roles.assign(two, POLICY, stale, "lead", CAROL, CAROL)
        two.commit()
        assert change.before == BOB
        assert roles.holders(one, incident) == {"lead": CAROL}
        assert [a.user_id for a in roles.history(one, incident)] == [BOB, CAROL]


def test_the_database_allows_one_current_holder_per_role(session):
    incident = declare(session)
    session.add(RoleAssignment(incident_id=incident.id, role="lead", user_id=BOB))
    session.commit()
    session.add(RoleAssignment(incident_id=incident.id, role="lead", user_id=CAROL))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    # Ended assignments do not count.
    ended = datetime.now(timezone.utc)
    session.add(RoleAssignment(incident_id=incident.id, role="lead", user_id=CAROL, ended_at=ended))
    session.commit()

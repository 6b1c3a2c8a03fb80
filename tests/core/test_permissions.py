"""Who may downgrade, resolve and close: the lead, privileged people, anyone while there is no lead."""

import pytest
from sqlmodel import Session

from incidentbot.core import incidents, lifecycle, permissions, roles
from incidentbot.core.errors import NotAllowed
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy, parse_policy
from incidentbot.models import Incident

POLICY = load_policy()
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
ACTIONS = ["downgrade", "resolve", "close"]


def declare(session, lead=None):
    incident, _ = incidents.declare(session, POLICY, Declaration(title="Checkout failing", severity="SEV1",
                                                                 declared_by=ALICE))
    if lead:
        roles.assign(session, POLICY, incident, "lead", lead, ALICE)
    session.commit()
    return incident


@pytest.mark.parametrize("action", ACTIONS)
def test_anyone_may_while_there_is_no_lead(session, action):
    incident = declare(session)
    assert permissions.check(session, POLICY, incident, CAROL, action) is None


@pytest.mark.parametrize("action, what", [
    ("downgrade", "lower the severity of INC-1"), ("resolve", "resolve INC-1"), ("close", "close INC-1"),
])
def test_only_the_lead_once_there_is_one(session, action, what):
    incident = declare(session, lead=BOB)
    permissions.check(session, POLICY, incident, BOB, action)
    with pytest.raises(NotAllowed) as caught:
        permissions.check(session, POLICY, incident, CAROL, action)
    assert str(caught.value) == f"Only the incident lead can {what}. Ask them."
    assert (caught.value.action, caught.value.lead) == (action, BOB)


@pytest.mark.parametrize("action", ACTIONS)
def test_privileged_people_may(session, action):
    incident = declare(session, lead=BOB)
    permissions.check(session, POLICY, incident, CAROL, action, privileged=True)  # in the user group
    listed = parse_policy('[permissions]\nprivileged_users = ["U0CAROL"]')
    permissions.check(session, listed, incident, CAROL, action)


def test_the_message_mentions_the_privileged_group_when_there_is_one(session):
    incident = declare(session, lead=BOB)
    policy = parse_policy('[permissions]\nprivileged_usergroup = "S0MANAGERS"')
    with pytest.raises(NotAllowed) as caught:
        permissions.check(session, policy, incident, CAROL, "resolve")
    assert str(caught.value) == (
        "Only the incident lead can resolve INC-1. Ask them, or a member of the privileged group."
    )


def test_actions_left_out_of_the_policy_are_open(session):
    incident = declare(session, lead=BOB)
    policy = parse_policy('[permissions]\nrestricted_actions = ["close"]')
    permissions.check(session, policy, incident, CAROL, "downgrade")
    permissions.check(session, policy, incident, CAROL, "resolve")
    with pytest.raises(NotAllowed):
        permissions.check(session, policy, incident, CAROL, "close")


def test_a_handover_moves_the_permission(session):
    incident = declare(session, lead=BOB)
    roles.assign(session, POLICY, incident, "lead", CAROL, BOB)
    permissions.check(session, POLICY, incident, CAROL, "resolve")
    with pytest.raises(NotAllowed):
        permissions.check(session, POLICY, incident, BOB, "resolve")


def test_unknown_actions_are_a_programming_error(session):
    incident = declare(session)
    with pytest.raises(ValueError, match="unknown action 'delete'"):
        permissions.check(session, POLICY, incident, CAROL, "delete")


def test_lifecycle_refuses_and_changes_nothing(session, engine):
    incident = declare(session, lead=BOB)
    with pytest.raises(NotAllowed, match="Only the incident lead can resolve INC-1"):
        lifecycle.resolve(session, POLICY, incident, CAROL, "fixed")
    with pytest.raises(NotAllowed, match="Only the incident lead can resolve INC-1"):
        lifecycle.set_status(session, POLICY, incident, "resolved", CAROL)
    session.rollback()
    lifecycle.resolve(session, POLICY, incident, BOB, "fixed")
    session.commit()
    with pytest.raises(NotAllowed, match="Only the incident lead can close INC-1"):
        lifecycle.close(session, POLICY, incident, CAROL)
    with pytest.raises(NotAllowed, match="Only the incident lead can close INC-1"):
        lifecycle.set_status(session, POLICY, incident, "closed", CAROL)
    session.rollback()
    with Session(engine) as other:
        row = other.get(Incident, incident.id)
        assert (row.status, row.closed_at) == ("resolved", None)
    assert lifecycle.close(session, POLICY, incident, CAROL, privileged=True).kind == "closed"

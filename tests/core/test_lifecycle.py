"""The incident lifecycle: acknowledge, status, severity, mitigate, resolve, close, summary."""

from datetime import datetime, timezone

import pytest
from freezegun import freeze_time
from sqlmodel import Session

from incidentbot.core import incidents, lifecycle, roles, timeline
from incidentbot.core.errors import AlreadyDone, Closed, DomainError, InvalidInput, NotAllowed
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy, parse_policy
from incidentbot.models import Incident

POLICY = load_policy()
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)


def declare(session, severity="SEV2", policy=POLICY, **kwargs):
    incident, _ = incidents.declare(
        session, policy, Declaration(title="Checkout failing", severity=severity, declared_by=ALICE, **kwargs)
    )
    session.commit()
    return incident


def stored(engine, incident) -> Incident:
    """The incident as another process would read it after the commit."""
    with Session(engine) as other:
        return other.get(Incident, incident.id)


def last_event(session, incident):
    """The event recorded last (by id: tests freeze the clock at different times)."""
    return max(timeline.events(session, incident), key=lambda event: event.id)


def resolve(session, incident, summary="Rolled back the deploy", actor=ALICE):
    change = lifecycle.resolve(session, POLICY, incident, actor, summary)
    session.commit()
    return change


# --- acknowledge ------------------------------------------------------------------------------


def test_acknowledge_sets_the_milestone_and_records_it(session, engine):
    with freeze_time(T0):
        incident = declare(session)
    with freeze_time("2026-11-21 09:04:00"):
        change = lifecycle.acknowledge(session, POLICY, incident, BOB)
        session.commit()
    row = stored(engine, incident)
    assert row.acknowledged_at == datetime(2026, 11, 21, 9, 4, tzinfo=timezone.utc)
    assert (row.revision, row.updated_at) == (1, row.acknowledged_at)
    assert (change.kind, change.actor, change.announce) == ("acknowledged", BOB, False)
    assert change.incident is incident
    event = last_event(session, incident)
    assert change.event.id == event.id
    assert (event.kind, event.actor, event.text, event.occurred_at) == ("acknowledged", BOB, "Acknowledged.",
                                                                      row.acknowledged_at)
    assert event.data == {"before": None, "after": "2026-11-21T09:04:00+00:00"}


def test_acknowledging_twice_says_it_is_done(session, engine):
    incident = declare(session)
    lifecycle.acknowledge(session, POLICY, incident, BOB)
    session.commit()
    with pytest.raises(AlreadyDone) as caught:
        lifecycle.acknowledge(session, POLICY, incident, CAROL)
    assert str(caught.value) == "INC-1 is already acknowledged."
    assert stored(engine, incident).revision == 1
    assert [e.kind for e in timeline.events(session, incident)] == ["declared", "acknowledged"]


def test_a_stale_session_sees_the_first_click(engine):
    """Two clicks handled by two processes: the second reads the incident afresh."""
    with Session(engine) as one, Session(engine) as two:
        incident = declare(one)
        stale = two.get(Incident, incident.id)
        lifecycle.acknowledge(one, POLICY, incident, BOB)
        one.commit()
        with pytest.raises(AlreadyDone, match="already acknowledged"):
            lifecycle.acknowledge(two, POLICY, stale, CAROL)


# --- status ---------------------------------------------------------------------------------


def test_set_status_moves_and_records_before_and_after(session, engine):
    incident = declare(session)
    change = lifecycle.set_status(session, POLICY, incident, "Identified", BOB)
    session.commit()
    assert stored(engine, incident).status == "identified"
    assert (change.kind, change.before, change.after, change.announce) == ("status_changed", "investigating",
                                                                          "identified", False)
    event = last_event(session, incident)
    assert event.text == "Status changed: Investigating → Identified."
    assert event.data == {"before": "investigating", "after": "identified"}


def test_same_status_is_already_done(session):
    incident = declare(session)
    with pytest.raises(AlreadyDone) as caught:
        lifecycle.set_status(session, POLICY, incident, "investigating", BOB)
    assert str(caught.value) == "INC-1 is already investigating."


def test_unknown_status_lists_the_valid_ones(session):
    incident = declare(session)
    with pytest.raises(InvalidInput) as caught:
        lifecycle.set_status(session, POLICY, incident, "fixed", BOB)
    assert caught.value.field == "status"
    assert caught.value.message == (
        "There is no status `fixed`. Use one of: investigating, identified, monitoring, resolved, closed."
    )


def test_status_resolved_asks_for_a_summary(session, engine):
    incident = declare(session)
    with pytest.raises(InvalidInput) as caught:
        lifecycle.set_status(session, POLICY, incident, "resolved", BOB)
    assert caught.value.field == "summary"
    assert caught.value.message == "Resolving needs a short resolution summary: `/incident resolve <summary>`"
    session.rollback()
    assert stored(engine, incident).status == "investigating"


def test_status_closed_follows_the_close_rules(session):
    incident = declare(session)
    with pytest.raises(DomainError) as caught:
        lifecycle.set_status(session, POLICY, incident, "closed", BOB)
    assert str(caught.value) == "Resolve INC-1 first: `/incident resolve <summary>`"
    resolve(session, incident)
    change = lifecycle.set_status(session, POLICY, incident, "closed", BOB)
    assert (change.kind, incident.status) == ("closed", "closed") and incident.closed_at is not None


def test_reopening_clears_the_resolution(session, engine):
    incident = declare(session)
    resolve(session, incident)
    change = lifecycle.set_status(session, POLICY, incident, "investigating", BOB)
    session.commit()
    row = stored(engine, incident)
    assert (row.status, row.resolved_at, row.resolution) == ("investigating", None, None)
    assert row.mitigated_at is not None  # the impact did stop once; that stays true
    assert change.before == "resolved" and last_event(session, incident).text == "Reopened: Resolved → Investigating."
    assert last_event(session, incident).data["resolution"] == "Rolled back the deploy"


# --- severity -------------------------------------------------------------------------------


def test_raising_the_severity_is_announced(session, engine):
    incident = declare(session, severity="SEV3")
    change = lifecycle.set_severity(session, POLICY, incident, "sev1", CAROL)
    session.commit()
    assert stored(engine, incident).severity == "SEV1"
    assert (change.kind, change.before, change.after, change.detail, change.announce) == (
        "severity_changed", "SEV3", "SEV1", None, True)
    event = last_event(session, incident)
    assert (event.text, event.actor) == ("Severity raised from SEV3 to SEV1.", CAROL)
    assert event.data == {"before": "SEV3", "after": "SEV1", "reason": None, "lowered": False}


@pytest.mark.parametrize("raw", ["SEV2", "sev2", "2", 2])
def test_same_severity_is_already_done(session, raw):
    incident = declare(session)
    with pytest.raises(AlreadyDone) as caught:
        lifecycle.set_severity(session, POLICY, incident, raw, BOB)
    assert str(caught.value) == "INC-1 is already SEV2."


@pytest.mark.parametrize("raw, message", [
    ("sev9", "There is no severity `sev9`. Use one of: sev1, sev2, sev3, sev4."),
    ("  ", "Give a severity. Use one of: sev1, sev2, sev3, sev4."),
])
def test_unknown_severity_lists_the_choices(session, raw, message):
    incident = declare(session)
    with pytest.raises(InvalidInput) as caught:
        lifecycle.set_severity(session, POLICY, incident, raw, BOB)
    assert (caught.value.field, caught.value.message) == ("severity", message)


def test_lowering_needs_a_reason(session, engine):
    incident = declare(session, severity="SEV1")
    for reason in (None, "   "):
        with pytest.raises(InvalidInput) as caught:
            lifecycle.set_severity(session, POLICY, incident, "3", BOB, reason=reason)
        assert caught.value.field == "reason"
        assert caught.value.message == "Lowering INC-1 from SEV1 to SEV3 needs a reason: `/incident sev 3 <reason>`"
    change = lifecycle.set_severity(session, POLICY, incident, "3", BOB, reason="Only internal tools affected")
    session.commit()
    assert stored(engine, incident).severity == "SEV3"
    assert (change.detail, change.announce) == ("Only internal tools affected", True)
    event = last_event(session, incident)
    assert event.text == "Severity lowered from SEV1 to SEV3: Only internal tools affected"
    assert event.data["reason"] == "Only internal tools affected" and event.data["lowered"] is True


def test_lowering_needs_the_permission(session, engine):
    incident = declare(session, severity="SEV1")
    roles.assign(session, POLICY, incident, "lead", BOB, ALICE)
    session.commit()
    with pytest.raises(NotAllowed) as caught:
        lifecycle.set_severity(session, POLICY, incident, "SEV2", CAROL, reason="smaller than feared")
    assert str(caught.value) == "Only the incident lead can lower the severity of INC-1. Ask them."
    session.rollback()
    assert stored(engine, incident).severity == "SEV1"
    # Raising is open to everyone: more attention is never blocked.
    assert lifecycle.set_severity(session, POLICY, incident, "SEV2", BOB, reason="smaller").after == "SEV2"
    assert lifecycle.set_severity(session, POLICY, incident, "SEV1", CAROL).after == "SEV1"


# --- mitigate -------------------------------------------------------------------------------


def test_mitigate_sets_the_milestone_and_moves_to_monitoring(session, engine):
    with freeze_time(T0):
        incident = declare(session)
    with freeze_time("2026-11-21 09:40:00"):
        change = lifecycle.mitigate(session, POLICY, incident, BOB)
        session.commit()
    row = stored(engine, incident)
    assert (row.status, row.mitigated_at) == ("monitoring", datetime(2026, 11, 21, 9, 40, tzinfo=timezone.utc))
    assert (change.kind, change.after, change.detail, change.announce) == (
        "mitigated", "2026-11-21T09:40:00+00:00", "monitoring", True)
    event = last_event(session, incident)
    assert event.text == "Mitigated: the impact has stopped. Status: Monitoring."
    assert event.data == {"before": None, "after": "2026-11-21T09:40:00+00:00",
                          "status_before": "investigating", "status_after": "monitoring"}
    with pytest.raises(AlreadyDone) as caught:
        lifecycle.mitigate(session, POLICY, incident, CAROL)
    assert str(caught.value) == "INC-1 is already mitigated."


def test_mitigate_keeps_a_status_at_or_past_monitoring(session):
    incident = declare(session)
    lifecycle.set_status(session, POLICY, incident, "monitoring", BOB)
    change = lifecycle.mitigate(session, POLICY, incident, BOB)
    assert (incident.status, change.detail) == ("monitoring", None)
    assert last_event(session, incident).text == "Mitigated: the impact has stopped."


def test_mitigate_without_a_monitoring_status_only_sets_the_milestone(session):
    policy = parse_policy('[[statuses]]\nid = "open"\nname = "Open"\ninitial = true\n'
                          '[[statuses]]\nid = "done"\nname = "Done"\nresolved = true\nfinal = true\n')
    incident = declare(session, policy=policy)
    change = lifecycle.mitigate(session, policy, incident, BOB)
    assert (incident.status, change.detail) == ("open", None) and incident.mitigated_at is not None


# --- resolve and close ----------------------------------------------------------------------


def test_resolve_sets_the_milestones_and_the_resolution(session, engine):
    with freeze_time(T0):
        incident = declare(session)
    with freeze_time("2026-11-21 10:15:00"):
        change = lifecycle.resolve(session, POLICY, incident, ALICE, "  Rolled back\nthe deploy  ")
        session.commit()
    row = stored(engine, incident)
    at = datetime(2026, 11, 21, 10, 15, tzinfo=timezone.utc)
    assert (row.status, row.resolved_at, row.mitigated_at, row.closed_at) == ("resolved", at, at, None)
    assert row.resolution == "Rolled back\nthe deploy"
    assert incidents.is_resolved(POLICY, row)
    assert (change.kind, change.before, change.after, change.detail, change.announce) == (
        "resolved", "investigating", "resolved", "Rolled back\nthe deploy", True)
    event = last_event(session, incident)
    assert (event.kind, event.text, event.occurred_at) == ("resolved", "Resolved: Rolled back\nthe deploy", at)


def test_resolve_keeps_an_earlier_mitigation(session, engine):
    incident = declare(session)
    with freeze_time("2026-11-21 09:40:00"):
        lifecycle.mitigate(session, POLICY, incident, BOB)
    with freeze_time("2026-11-21 11:00:00"):
        resolve(session, incident)
    row = stored(engine, incident)
    assert row.mitigated_at.hour == 9 and row.resolved_at.hour == 11


def test_resolve_needs_a_summary_within_the_limit(session):
    incident = declare(session)
    with pytest.raises(InvalidInput) as caught:
        lifecycle.resolve(session, POLICY, incident, ALICE, " \n ")
    assert (caught.value.field, caught.value.message) == (
        "summary", "Resolving needs a short resolution summary: `/incident resolve <summary>`")
    with pytest.raises(InvalidInput) as caught:
        lifecycle.resolve(session, POLICY, incident, ALICE, "x" * 3000)
    assert caught.value.message == "The summary is 3,000 characters; keep it to 2,900."
    assert incident.resolved_at is None


def test_resolving_twice_says_it_is_done(session):
    incident = declare(session)
    resolve(session, incident)
    with pytest.raises(AlreadyDone) as caught:
        lifecycle.resolve(session, POLICY, incident, BOB, "again")
    assert str(caught.value) == "INC-1 is already resolved."
    with pytest.raises(AlreadyDone, match="INC-1 is already resolved."):
        lifecycle.acknowledge(session, POLICY, incident, BOB)


def test_resolve_picks_the_first_resolved_status_that_is_not_final(session):
    policy = parse_policy(
        '[[statuses]]\nid = "open"\nname = "Open"\ninitial = true\n'
        '[[statuses]]\nid = "fixed"\nname = "Fixed"\nresolved = true\n'
        '[[statuses]]\nid = "archived"\nname = "Archived"\nresolved = true\nfinal = true\n'
    )
    incident = declare(session, policy=policy)
    assert lifecycle.resolve(session, policy, incident, ALICE, "done").after == "fixed"
    assert lifecycle.close(session, policy, incident, ALICE).after == "archived"


def test_close_needs_a_resolved_incident(session, engine):
    incident = declare(session)
    with pytest.raises(DomainError) as caught:
        lifecycle.close(session, POLICY, incident, ALICE)
    assert str(caught.value) == "Resolve INC-1 first: `/incident resolve <summary>`"
    resolve(session, incident)
    with freeze_time("2026-11-22 08:00:00"):
        change = lifecycle.close(session, POLICY, incident, ALICE)
        session.commit()
    row = stored(engine, incident)
    assert (row.status, row.closed_at) == ("closed", datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc))
    assert (change.kind, change.before, change.after) == ("closed", "resolved", "closed")
    assert last_event(session, incident).text == "Closed."
    with pytest.raises(AlreadyDone) as caught:
        lifecycle.close(session, POLICY, incident, ALICE)
    assert str(caught.value) == "INC-1 is already closed."


CHANGES_AFTER_CLOSE = {
    "acknowledge": lambda s, i: lifecycle.acknowledge(s, POLICY, i, BOB),
    "status": lambda s, i: lifecycle.set_status(s, POLICY, i, "investigating", BOB),
    "severity": lambda s, i: lifecycle.set_severity(s, POLICY, i, "SEV1", BOB),
    "mitigate": lambda s, i: lifecycle.mitigate(s, POLICY, i, BOB),
    "resolve": lambda s, i: lifecycle.resolve(s, POLICY, i, BOB, "again"),
    "summary": lambda s, i: lifecycle.set_summary(s, POLICY, i, BOB, "new"),
    "role": lambda s, i: roles.assign(s, POLICY, i, "comms", BOB, BOB),
}


@pytest.mark.parametrize("name", list(CHANGES_AFTER_CLOSE))
def test_a_closed_incident_cannot_change(session, name):
    incident = declare(session)
    resolve(session, incident)
    lifecycle.close(session, POLICY, incident, ALICE)
    session.commit()
    with pytest.raises(Closed) as caught:
        CHANGES_AFTER_CLOSE[name](session, incident)
    assert str(caught.value) == "INC-1 is closed; nothing can change it."


# --- summary --------------------------------------------------------------------------------


def test_set_summary(session, engine):
    incident = declare(session, summary="EU only")
    change = lifecycle.set_summary(session, POLICY, incident, BOB, "  EU and US\x00 customers ")
    session.commit()
    assert stored(engine, incident).summary == "EU and US  customers"
    assert (change.kind, change.before, change.after) == ("summary_changed", "EU only", "EU and US  customers")
    event = last_event(session, incident)
    assert (event.text, event.data) == ("Summary updated.", {"before": "EU only", "after": "EU and US  customers"})
    with pytest.raises(AlreadyDone) as caught:
        lifecycle.set_summary(session, POLICY, incident, BOB, "EU and US  customers")
    assert str(caught.value) == "INC-1 already has that summary."
    with pytest.raises(InvalidInput) as caught:
        lifecycle.set_summary(session, POLICY, incident, BOB, "")
    assert caught.value.field == "summary"
    assert caught.value.message == "Write the new summary: `/incident summary <text>`"


def test_every_change_bumps_the_revision(session, engine):
    incident = declare(session, severity="SEV1")
    assert incident.revision == 0
    lifecycle.acknowledge(session, POLICY, incident, ALICE)
    lifecycle.set_status(session, POLICY, incident, "identified", ALICE)
    lifecycle.set_severity(session, POLICY, incident, "SEV2", ALICE, reason="smaller")
    lifecycle.set_summary(session, POLICY, incident, ALICE, "text")
    lifecycle.mitigate(session, POLICY, incident, ALICE)
    lifecycle.resolve(session, POLICY, incident, ALICE, "done")
    lifecycle.close(session, POLICY, incident, ALICE)
    session.commit()
    assert stored(engine, incident).revision == 7
    assert [e.kind for e in timeline.events(session, incident)] == [
        "declared", "acknowledged", "status_changed", "severity_changed", "summary_changed", "mitigated",
        "resolved", "closed",
    ]


# --- private by category --------------------------------------------------------------------


def test_security_incidents_are_private_by_default(session):
    assert declare(session, category="security").private is True
    assert declare(session, category="code-deploy").private is False
    assert declare(session, category="code-deploy", private=True).private is True


def test_open_incidents_newest_first(session):
    first, second, third = (declare(session) for _ in range(3))
    resolve(session, second)
    assert [i.number for i in incidents.open_incidents(session, POLICY)] == [3, 1]
    renamed = parse_policy('[[statuses]]\nid = "open"\nname = "Open"\ninitial = true\n'
                           '[[statuses]]\nid = "done"\nname = "Done"\nresolved = true\nfinal = true\n')
    # Statuses the policy no longer has fall back to the milestones.
    assert [i.number for i in incidents.open_incidents(session, renamed)] == [3, 1]
    assert incidents.is_resolved(renamed, second) and not incidents.is_resolved(renamed, first)

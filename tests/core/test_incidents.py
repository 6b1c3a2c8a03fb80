import pytest
from freezegun import freeze_time
from sqlmodel import select

from incidentbot.core import incidents, timeline
from incidentbot.core.errors import InvalidInput, NotFound
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy, parse_policy
from incidentbot.models import Incident

POLICY = load_policy()


def declare(session, title="Checkout failing", **kwargs):
    incident, created = incidents.declare(
        session, POLICY, Declaration(title=title, severity=kwargs.pop("severity", "SEV2"), declared_by="U0ALICE", **kwargs)
    )
    session.commit()
    return incident, created


@freeze_time("2026-11-21 09:30:00")
def test_declare_stores_incident_and_declared_event(session):
    incident, created = declare(session, services=("api",), summary="EU only")
    assert created and incident.reference == "INC-1"
    stored = session.exec(select(Incident)).one()
    assert (stored.title, stored.severity, stored.status) == ("Checkout failing", "SEV2", "investigating")
    assert stored.services == ["api"] and stored.declared_at.isoformat() == "2026-11-21T09:30:00+00:00"
    [event] = timeline.events(session, stored)
    assert (event.kind, event.actor, event.occurred_at) == ("declared", "U0ALICE", stored.declared_at)


def test_numbers_increase(session):
    assert [declare(session, f"t{i}")[0].number for i in range(3)] == [1, 2, 3]


def test_many_declaring_at_once_all_get_a_number(engine):
    """A big outage: more people declare at the same moment than the unique index's
    retries could absorb (each round only one of them wins)."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from incidentbot.db import session_scope

    people = 10
    barrier = Barrier(people)

    def one(i: int) -> int:
        barrier.wait()
        with session_scope(engine) as session:
            incident, created = incidents.declare(session, POLICY, Declaration(
                title=f"Outage report {i}", severity="SEV1", declared_by="U0ALICE", request_key=f"command:T{i}"))
            assert created
            return incident.number

    with ThreadPoolExecutor(people) as pool:
        numbers = list(pool.map(one, range(people)))
    assert sorted(numbers) == list(range(1, people + 1))


def test_same_request_declares_once(session):
    first, created = declare(session, request_key="view:V1")
    again, created_again = declare(session, request_key="view:V1")
    assert created and not created_again and again.id == first.id
    assert len(session.exec(select(Incident)).all()) == 1


@pytest.mark.parametrize("raw, expected", [("  a\n\tb  ", "a b"), ("🔥 DB down", "🔥 DB down"), ("x\x00y", "x y")])
def test_clean_title(raw, expected):
    assert incidents.clean_title(POLICY, raw) == expected


def test_title_too_long_says_the_limit():
    with pytest.raises(InvalidInput) as caught:
        incidents.clean_title(POLICY, "x" * 5000)
    assert caught.value.field == "title"
    assert "5,000 characters" in caught.value.message and "120" in caught.value.message


def test_empty_title_shows_how():
    with pytest.raises(InvalidInput, match="/incident"):
        incidents.clean_title(POLICY, "   ")


@pytest.mark.parametrize("raw, expected", [(None, "SEV3"), ("sev1", "SEV1"), ("SEV2", "SEV2"), ("4", "SEV4")])
def test_check_severity(raw, expected):
    assert incidents.check_severity(POLICY, raw) == expected


def test_bad_severity_lists_choices():
    with pytest.raises(InvalidInput, match="sev1, sev2, sev3, sev4"):
        incidents.check_severity(POLICY, "sev9")


def test_unknown_category_and_service_are_refused():
    with pytest.raises(InvalidInput, match="category"):
        incidents.check_category(POLICY, "nope")
    with pytest.raises(InvalidInput, match="service"):
        incidents.check_services(POLICY, ["nope"])


def test_by_reference_forms(session):
    incident, _ = declare(session)
    for reference in ("INC-1", "inc1", "1"):
        assert incidents.by_reference(session, reference).id == incident.id
    with pytest.raises(NotFound, match="INC-42"):
        incidents.by_reference(session, "INC-9")


@freeze_time("2026-11-21 23:30:00")
def test_channel_name_uses_the_org_timezone_date(session):
    tokyo = parse_policy('timezone = "Asia/Tokyo"')
    incident, _ = declare(session, "API down")
    # 23:30 UTC is already the 22nd in Tokyo.
    assert incidents.channel_name_for(tokyo, incident) == "inc-20261122-api-down"
    assert incidents.channel_name_for(POLICY, incident) == "inc-20261121-api-down"


def test_private_incidents_use_the_private_pattern(session):
    incident, _ = declare(session, "Secret customer data exposed", private=True)
    assert "secret" not in incidents.channel_name_for(POLICY, incident)


def test_unprovisioned_lists_interrupted_ones(session):
    done, _ = declare(session, "a")
    stuck, _ = declare(session, "b")
    incidents.record_provisioning(session, done.id, finished_at=done.declared_at)
    session.commit()
    later = stuck.declared_at.replace(year=stuck.declared_at.year + 1)
    assert [i.number for i in incidents.unprovisioned(session, declared_before=later)] == [stuck.number]


@freeze_time("2026-11-21 09:30:00")
def test_record_provisioning_stores_each_step_and_the_end_gives_the_lease_back(session):
    from datetime import datetime, timedelta, timezone

    incident, _ = declare(session, "Queue backlog")
    now = datetime(2026, 11, 21, 9, 30, tzinfo=timezone.utc)
    assert incidents.lease_provisioning(session, incident.id, now=now, hold=timedelta(minutes=2))
    incidents.record_provisioning(session, incident.id, channel_id="C0042", channel_name="inc-1-queue-backlog")
    incidents.record_provisioning(session, incident.id, card_ts="1.0001")
    session.commit()
    session.refresh(incident)
    assert (incident.channel_id, incident.channel_name, incident.card_ts) == ("C0042", "inc-1-queue-backlog", "1.0001")
    assert incident.provisioned_at is None and incident.provisioning_until is not None
    # Nobody else can take over halfway.
    assert not incidents.lease_provisioning(session, incident.id, now=now, hold=timedelta(minutes=2))

    incidents.record_provisioning(session, incident.id, finished_at=now, announcement_channel_id="C0ANN",
                                  announcement_ts="2.0001")
    session.commit()
    session.refresh(incident)
    assert (incident.announcement_channel_id, incident.announcement_ts) == ("C0ANN", "2.0001")
    assert incident.provisioned_at == now and incident.provisioning_until is None


def test_record_provisioning_refuses_other_columns(session):
    incident, _ = declare(session, "Queue backlog")
    with pytest.raises(ValueError, match="severity"):
        incidents.record_provisioning(session, incident.id, severity="SEV1")

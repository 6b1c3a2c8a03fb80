from datetime import datetime, timedelta, timezone

import pytest

from incidentbot.core import incidents, timeline
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy


@pytest.fixture
def incident(session):
    created, _ = incidents.declare(session, load_policy(), Declaration("t", "SEV2", "U1"))
    session.commit()
    return created


def test_events_come_back_in_time_order(session, incident):
    base = datetime(2026, 3, 29, 0, 30, tzinfo=timezone.utc)
    timeline.record(session, incident, "note", "later", occurred_at=base + timedelta(hours=2))
    timeline.record(session, incident, "note", "earlier", occurred_at=base)
    session.commit()
    texts = [e.text for e in timeline.events(session, incident) if e.kind == "note"]
    assert texts == ["earlier", "later"]


def test_same_source_is_recorded_once(session, incident):
    first = timeline.record(session, incident, "pin", "a", source_key="C1:1.000100")
    again = timeline.record(session, incident, "reaction", "a", source_key="C1:1.000100")
    session.commit()
    assert first.id == again.id
    assert len([e for e in timeline.events(session, incident) if e.source_key]) == 1


def test_naive_times_are_refused(session, incident):
    with pytest.raises(ValueError, match="naive"):
        timeline.record(session, incident, "note", occurred_at=datetime(2026, 1, 1))


def test_other_timezones_are_stored_as_utc(session, incident):
    from zoneinfo import ZoneInfo

    # DST ends this night: 02:30 happens twice; fold=0 is the first, still CEST (UTC+2).
    local = datetime(2026, 10, 25, 2, 30, tzinfo=ZoneInfo("Europe/Copenhagen"))
    event = timeline.record(session, incident, "note", occurred_at=local)
    session.commit()
    session.expire_all()
    stored = [e for e in timeline.events(session, incident) if e.id == event.id][0]
    assert stored.occurred_at == datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc)
    assert stored.occurred_at.tzinfo == timezone.utc

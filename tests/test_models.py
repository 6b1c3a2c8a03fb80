"""Timestamps are UTC and timezone-aware after a round trip on both databases."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from incidentbot.models import Incident
from incidentbot.timeutil import from_slack_ts


def test_aware_timestamps_round_trip_as_utc(engine):
    new_york = datetime(2026, 3, 8, 1, 59, 59, 123456, tzinfo=ZoneInfo("America/New_York"))  # before DST starts
    with Session(engine) as session:
        incident = Incident(number=1, title="t", severity="SEV1", status="investigating", declared_by="U1",
                            started_at=new_york, mitigated_at=new_york + timedelta(minutes=1))
        session.add(incident)
        session.commit()
        incident_id = incident.id
    with Session(engine) as session:
        stored = session.get(Incident, incident_id)
        assert stored.started_at == datetime(2026, 3, 8, 6, 59, 59, 123456, tzinfo=timezone.utc)
        assert stored.started_at.tzinfo == timezone.utc
        # One wall-clock minute later is 03:00 EDT (the clocks jump); stored exactly.
        assert stored.mitigated_at - stored.started_at == timedelta(minutes=1)
        assert stored.declared_at.tzinfo == timezone.utc


def test_naive_timestamps_are_refused(engine):
    with Session(engine) as session:
        session.add(Incident(number=1, title="t", severity="SEV1", status="x", declared_by="U1",
                             started_at=datetime(2026, 1, 1)))
        with pytest.raises(Exception, match="naive"):
            session.commit()


def test_slack_ts_to_datetime():
    assert from_slack_ts("1732190000.000100") == datetime(2024, 11, 21, 11, 53, 20, 100, tzinfo=timezone.utc)

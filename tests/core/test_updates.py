"""Status updates: stored with their deadline, optionally changing the status first."""

from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from sqlmodel import Session, select

from incidentbot.core import incidents, lifecycle, timeline, updates
from incidentbot.core.errors import Closed, InvalidInput
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy
from incidentbot.models import Incident, StatusUpdate

POLICY = load_policy()
ALICE, BOB = "U0ALICE", "U0BOB"
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)


@freeze_time(T0)
def declare(session, severity="SEV2"):
    incident, _ = incidents.declare(session, POLICY, Declaration(title="Checkout failing", severity=severity,
                                                                 declared_by=ALICE))
    session.commit()
    return incident


def stored_updates(engine):
    with Session(engine) as other:
        return other.exec(select(StatusUpdate).order_by(StatusUpdate.id)).all()


@freeze_time("2026-11-21 09:20:00")
def test_post_update_stores_it_with_the_severity_cadence(session, engine):
    incident = declare(session, severity="SEV2")  # update every 60 minutes
    update, changes = updates.post_update(session, POLICY, incident, BOB, text=" Rolled back; errors dropping ",
                                          impact="EU checkout failed for 20 minutes")
    session.commit()
    now = datetime(2026, 11, 21, 9, 20, tzinfo=timezone.utc)
    [row] = stored_updates(engine)
    assert (row.incident_id, row.author, row.status, row.text, row.impact) == (
        incident.id, BOB, "investigating", "Rolled back; errors dropping", "EU checkout failed for 20 minutes")
    assert (row.posted_at, row.next_update_at) == (now, now + timedelta(minutes=60))
    assert (row.channel_ts, row.announcement_ts) == (None, None)
    with Session(engine) as other:
        saved = other.get(Incident, incident.id)
        assert (saved.last_update_at, saved.revision) == (now, 1)
    [change] = changes
    assert (change.kind, change.actor, change.after, change.announce) == (
        "update_posted", BOB, "Rolled back; errors dropping", False)
    event = timeline.events(session, incident)[-1]
    assert (event.kind, event.actor, event.text, event.occurred_at) == (
        "update_posted", BOB, "Status update: Rolled back; errors dropping", now)
    assert event.data == {"before": None, "after": "Rolled back; errors dropping", "update_id": update.id,
                          "status": "investigating", "impact": "EU checkout failed for 20 minutes",
                          "next_update_at": "2026-11-21T10:20:00+00:00"}


@freeze_time("2026-11-21 09:20:00")
def test_a_new_status_is_applied_first(session):
    incident = declare(session, severity="SEV1")
    update, changes = updates.post_update(session, POLICY, incident, BOB, text="Found it", status="identified",
                                          next_update_minutes=15)
    assert [c.kind for c in changes] == ["status_changed", "update_posted"]
    assert (changes[0].before, changes[0].after) == ("investigating", "identified")
    assert (update.status, incident.status) == ("identified", "identified")
    assert update.next_update_at == datetime(2026, 11, 21, 9, 35, tzinfo=timezone.utc)
    assert incident.revision == 2


def test_the_current_status_given_again_changes_nothing(session):
    incident = declare(session)
    _, changes = updates.post_update(session, POLICY, incident, BOB, text="Still looking", status="Investigating")
    assert [c.kind for c in changes] == ["update_posted"]


@pytest.mark.parametrize("kwargs, field, message", [
    ({"text": "  "}, "text",
     "Say what's happening, e.g. `/incident update Rolled back the deploy; errors are dropping`"),
    ({"text": "x" * 5000}, "text", "The update is 5,000 characters; keep it to 2,900."),
    ({"text": "ok", "impact": "y" * 2901}, "impact", "The customer impact is 2,901 characters; keep it to 2,900."),
    ({"text": "ok", "next_update_minutes": 4}, "next_update",
     "The next update must be between 5 minutes and 24 hours away (a number of minutes from 5 to 1,440)."),
    ({"text": "ok", "next_update_minutes": 1441}, "next_update",
     "The next update must be between 5 minutes and 24 hours away (a number of minutes from 5 to 1,440)."),
    ({"text": "ok", "status": "fixed"}, "status",
     "There is no status `fixed`. Use one of: investigating, identified, monitoring, resolved, closed."),
    ({"text": "ok", "status": "resolved"}, "summary",
     "Resolving needs a short resolution summary: `/incident resolve <summary>`"),
])
def test_bad_input_changes_nothing(session, engine, kwargs, field, message):
    incident = declare(session)
    with pytest.raises(InvalidInput) as caught:
        updates.post_update(session, POLICY, incident, BOB, **kwargs)
    assert (caught.value.field, caught.value.message) == (field, message)
    session.rollback()
    assert stored_updates(engine) == []
    with Session(engine) as other:
        assert other.get(Incident, incident.id).revision == 0


@pytest.mark.parametrize("minutes", [5, 1440])
def test_next_update_bounds_are_inclusive(session, minutes):
    incident = declare(session)
    update, _ = updates.post_update(session, POLICY, incident, BOB, text="ok", next_update_minutes=minutes)
    assert update.next_update_at - update.posted_at == timedelta(minutes=minutes)


def test_emoji_and_line_breaks_are_kept(session):
    incident = declare(session)
    update, _ = updates.post_update(session, POLICY, incident, BOB, text="🔥 DB failover\n✅ replica promoted")
    assert update.text == "🔥 DB failover\n✅ replica promoted"


def test_an_update_on_a_resolved_incident_sets_no_deadline(session):
    incident = declare(session)
    lifecycle.resolve(session, POLICY, incident, ALICE, "fixed")
    update, _ = updates.post_update(session, POLICY, incident, BOB, text="Postmortem on Tuesday")
    assert update.next_update_at is None and update.status == "resolved"


def test_closed_incidents_take_no_updates(session):
    incident = declare(session)
    lifecycle.resolve(session, POLICY, incident, ALICE, "fixed")
    lifecycle.close(session, POLICY, incident, ALICE)
    with pytest.raises(Closed, match="INC-1 is closed; nothing can change it."):
        updates.post_update(session, POLICY, incident, BOB, text="late")


def test_attach_messages_and_latest(session, engine):
    incident = declare(session)
    assert updates.latest(session, incident) is None
    with freeze_time("2026-11-21 09:10:00"):
        first, _ = updates.post_update(session, POLICY, incident, BOB, text="one")
    with freeze_time("2026-11-21 09:40:00"):
        second, _ = updates.post_update(session, POLICY, incident, BOB, text="two")
    updates.attach_messages(session, first, channel_ts="1.1")
    updates.attach_messages(session, first, announcement_ts="2.2")
    session.commit()
    assert updates.latest(session, incident).id == second.id
    rows = stored_updates(engine)
    assert [(r.text, r.channel_ts, r.announcement_ts) for r in rows] == [("one", "1.1", "2.2"), ("two", None, None)]

"""Editing milestones: order, timezones and DST in messages, clearing, detection, bookkeeping.

Europe/Copenhagen changes clocks on 2026-03-29 at 01:00 UTC (02:00 CET → 03:00 CEST)
and on 2026-10-25 at 01:00 UTC (03:00 CEST → 02:00 CET). Times are written in UTC
and the expected messages in Copenhagen time, converted by hand.
"""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlmodel import Session

from incidentbot.core import incidents, lifecycle, metrics, milestones, timeline
from incidentbot.core.errors import AlreadyDone, Closed, InvalidInput
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy, parse_policy
from incidentbot.models import Incident

UTC = timezone.utc
CPH = ZoneInfo("Europe/Copenhagen")
POLICY = load_policy()  # UTC
COPENHAGEN = parse_policy('timezone = "Europe/Copenhagen"')
ALICE, BOB = "U0ALICE", "U0BOB"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def declare(session, at: datetime, policy=POLICY) -> Incident:
    with freeze_time(at):
        incident, _ = incidents.declare(
            session, policy, Declaration(title="Checkout failing", severity="SEV2", declared_by=ALICE)
        )
        session.commit()
    return incident


def edit(session, incident, values, *, now, policy=POLICY, detection=None, actor=BOB):
    with freeze_time(now):
        change = milestones.set_milestones(session, policy, incident, actor, values, detection=detection)
        session.commit()
    return change


def refused(session, incident, values, *, now, policy=POLICY, detection=None, error=InvalidInput):
    """The error raised, after checking that the refusal changed nothing."""
    revision = incident.revision
    kinds = [event.kind for event in timeline.events(session, incident)]
    with freeze_time(now), pytest.raises(error) as caught:
        milestones.set_milestones(session, policy, incident, BOB, values, detection=detection)
    session.rollback()
    again = session.get(Incident, incident.id)
    assert again.revision == revision
    assert [event.kind for event in timeline.events(session, incident)] == kinds
    return caught.value


def stored(engine, incident) -> Incident:
    with Session(engine) as other:
        return other.get(Incident, incident.id)


# --- setting and recording --------------------------------------------------------------------

MARCH_DECLARED = utc(2026, 3, 29, 1, 40)  # 03:40 CEST, 40 minutes after the clocks went forward
MARCH_NOW = utc(2026, 3, 29, 4, 0)


def test_setting_milestones_records_one_event_in_the_policy_timezone(session, engine):
    incident = declare(session, MARCH_DECLARED, COPENHAGEN)
    change = edit(session, incident, {"started_at": utc(2026, 3, 29, 0, 40), "detected_at": utc(2026, 3, 29, 0, 55)},
                  now=MARCH_NOW, policy=COPENHAGEN)

    row = stored(engine, incident)
    assert (row.started_at, row.detected_at) == (utc(2026, 3, 29, 0, 40), utc(2026, 3, 29, 0, 55))
    assert (row.revision, row.updated_at) == (1, MARCH_NOW)
    # 01:40 and 01:55 are CET (before the change); the declaration at 03:40 is CEST.
    text = "Milestones edited: Started set to 2026-03-29 01:40 CET; Detected set to 2026-03-29 01:55 CET."
    assert (change.kind, change.actor, change.detail, change.announce) == ("milestones_edited", BOB, text, False)
    event = timeline.events(session, incident)[-1]
    assert change.event.id == event.id
    assert (event.kind, event.actor, event.text, event.occurred_at) == ("milestones_edited", BOB, text, MARCH_NOW)
    assert event.data == {
        "before": None, "after": None,
        "started_at": [None, "2026-03-29T00:40:00+00:00"],
        "detected_at": [None, "2026-03-29T00:55:00+00:00"],
    }
    # 15 real minutes, although the wall clock moved from 01:40 to 01:55 and then to 03:40.
    assert metrics.durations(row).time_to_detect == timedelta(minutes=15)
    assert metrics.durations(row).time_to_mitigate is None


def test_changing_and_clearing_are_described(session, engine):
    incident = declare(session, utc(2026, 11, 21, 9, 0))
    edit(session, incident, {"started_at": utc(2026, 11, 21, 8, 30), "detected_at": utc(2026, 11, 21, 8, 45)},
         now=utc(2026, 11, 21, 10, 0))
    change = edit(session, incident, {"started_at": utc(2026, 11, 21, 8, 20), "detected_at": None},
                  now=utc(2026, 11, 21, 10, 5))
    assert change.detail == ("Milestones edited: Started 2026-11-21 08:30 UTC → 2026-11-21 08:20 UTC; "
                             "Detected cleared (was 2026-11-21 08:45 UTC).")
    assert change.event.data["started_at"] == ["2026-11-21T08:30:00+00:00", "2026-11-21T08:20:00+00:00"]
    assert change.event.data["detected_at"] == ["2026-11-21T08:45:00+00:00", None]
    row = stored(engine, incident)
    assert (row.started_at, row.detected_at, row.revision) == (utc(2026, 11, 21, 8, 20), None, 2)


def test_every_optional_milestone_can_be_cleared(session, engine):
    incident = declare(session, utc(2026, 11, 21, 9, 0))
    values = {"started_at": utc(2026, 11, 21, 8, 0), "detected_at": utc(2026, 11, 21, 8, 30),
              "acknowledged_at": utc(2026, 11, 21, 9, 5), "mitigated_at": utc(2026, 11, 21, 9, 40)}
    edit(session, incident, values, now=utc(2026, 11, 21, 10, 0))
    edit(session, incident, dict.fromkeys(values), now=utc(2026, 11, 21, 10, 1))
    row = stored(engine, incident)
    assert (row.started_at, row.detected_at, row.acknowledged_at, row.mitigated_at) == (None, None, None, None)


def test_a_form_may_send_unchanged_values(session):
    """Only what differs is an edit: the modal sends every field."""
    incident = declare(session, utc(2026, 11, 21, 9, 0))
    with freeze_time(utc(2026, 11, 21, 9, 10)):
        lifecycle.acknowledge(session, POLICY, incident, BOB)
        session.commit()
    form = {"started_at": utc(2026, 11, 21, 8, 50), "acknowledged_at": utc(2026, 11, 21, 9, 10),
            "detected_at": None, "mitigated_at": None, "resolved_at": None}
    change = edit(session, incident, form, now=utc(2026, 11, 21, 9, 30))
    assert change.detail == "Milestones edited: Started set to 2026-11-21 08:50 UTC."
    assert set(change.event.data) == {"before", "after", "started_at"}


def test_times_in_another_zone_are_stored_in_utc(session, engine):
    incident = declare(session, utc(2026, 11, 21, 9, 0), COPENHAGEN)
    edit(session, incident, {"started_at": datetime(2026, 11, 21, 9, 30, tzinfo=CPH)},  # 08:30 UTC
         now=utc(2026, 11, 21, 10, 0), policy=COPENHAGEN)
    assert stored(engine, incident).started_at == utc(2026, 11, 21, 8, 30)


# --- order, across the DST changes ------------------------------------------------------------


def test_march_mitigated_before_declared_names_both_times_in_local_time(session):
    incident = declare(session, MARCH_DECLARED, COPENHAGEN)
    error = refused(session, incident, {"mitigated_at": utc(2026, 3, 29, 1, 30)}, now=MARCH_NOW, policy=COPENHAGEN)
    assert error.field == "mitigated_at"
    assert error.message == "Mitigated (2026-03-29 03:30 CEST) can't be before Declared (2026-03-29 03:40 CEST)."


def test_march_a_time_from_before_the_change_conflicts_with_one_after_it(session):
    incident = declare(session, MARCH_DECLARED, COPENHAGEN)
    error = refused(session, incident, {"acknowledged_at": utc(2026, 3, 29, 0, 59)}, now=MARCH_NOW, policy=COPENHAGEN)
    assert (error.field, error.message) == (
        "acknowledged_at", "Acknowledged (2026-03-29 01:59 CET) can't be before Declared (2026-03-29 03:40 CEST).")


def test_march_started_after_detected_counts_real_time_not_the_wall_clock(session):
    incident = declare(session, MARCH_DECLARED, COPENHAGEN)
    edit(session, incident, {"detected_at": utc(2026, 3, 29, 0, 55)}, now=MARCH_NOW, policy=COPENHAGEN)
    # 03:05 CEST is 10 real minutes after 01:55 CET: later, so Started can't be there.
    error = refused(session, incident, {"started_at": utc(2026, 3, 29, 1, 5)}, now=MARCH_NOW, policy=COPENHAGEN)
    assert (error.field, error.message) == (
        "started_at", "Started (2026-03-29 03:05 CEST) can't be after Detected (2026-03-29 01:55 CET).")


def test_march_a_picker_time_in_the_skipped_hour_is_shown_as_the_real_time(session):
    """02:30 did not exist that night; zoneinfo reads it with the CET offset (01:30 UTC)."""
    incident = declare(session, MARCH_DECLARED, COPENHAGEN)
    error = refused(session, incident, {"mitigated_at": datetime(2026, 3, 29, 2, 30, tzinfo=CPH)},
                    now=MARCH_NOW, policy=COPENHAGEN)
    assert error.message == "Mitigated (2026-03-29 03:30 CEST) can't be before Declared (2026-03-29 03:40 CEST)."


OCTOBER_DECLARED = utc(2026, 10, 25, 1, 20)  # 02:20 CET: the second 02:20 of the night
OCTOBER_NOW = utc(2026, 10, 25, 4, 0)


def test_october_a_wall_clock_later_time_that_was_earlier_is_accepted(session, engine):
    incident = declare(session, OCTOBER_DECLARED, COPENHAGEN)
    # 02:40 CEST (00:40 UTC) reads later than 02:20 CET but happened 40 minutes before it.
    change = edit(session, incident, {"started_at": datetime(2026, 10, 25, 2, 40, tzinfo=CPH, fold=0)},
                  now=OCTOBER_NOW, policy=COPENHAGEN)
    assert change.detail == "Milestones edited: Started set to 2026-10-25 02:40 CEST."
    row = stored(engine, incident)
    assert row.started_at == utc(2026, 10, 25, 0, 40)
    assert metrics.durations(row).time_to_detect == timedelta(minutes=40)  # → declared (no detected_at)


def test_october_the_repeated_hour_started_after_declared(session):
    incident = declare(session, OCTOBER_DECLARED, COPENHAGEN)
    error = refused(session, incident, {"started_at": datetime(2026, 10, 25, 2, 30, tzinfo=CPH, fold=1)},
                    now=OCTOBER_NOW, policy=COPENHAGEN)
    assert (error.field, error.message) == (
        "started_at", "Started (2026-10-25 02:30 CET) can't be after Declared (2026-10-25 02:20 CET).")


def test_october_mitigated_in_the_first_pass_is_before_declared_in_the_second(session):
    incident = declare(session, OCTOBER_DECLARED, COPENHAGEN)
    error = refused(session, incident, {"mitigated_at": utc(2026, 10, 25, 0, 50)}, now=OCTOBER_NOW, policy=COPENHAGEN)
    assert (error.field, error.message) == (
        "mitigated_at", "Mitigated (2026-10-25 02:50 CEST) can't be before Declared (2026-10-25 02:20 CET).")


def test_the_error_names_the_latest_earlier_milestone(session):
    """Mitigated before both Declared and Acknowledged: the bound to respect is Acknowledged."""
    incident = declare(session, utc(2026, 11, 21, 9, 0))
    edit(session, incident, {"acknowledged_at": utc(2026, 11, 21, 9, 20)}, now=utc(2026, 11, 21, 10, 0))
    error = refused(session, incident, {"mitigated_at": utc(2026, 11, 21, 8, 55)}, now=utc(2026, 11, 21, 10, 0))
    assert error.message == "Mitigated (2026-11-21 08:55 UTC) can't be before Acknowledged (2026-11-21 09:20 UTC)."


def test_two_edited_milestones_in_the_wrong_order_name_the_later(session):
    incident = declare(session, utc(2026, 11, 21, 9, 0))
    values = {"started_at": utc(2026, 11, 21, 8, 40), "detected_at": utc(2026, 11, 21, 8, 30)}
    error = refused(session, incident, values, now=utc(2026, 11, 21, 10, 0))
    assert (error.field, error.message) == (
        "detected_at", "Detected (2026-11-21 08:30 UTC) can't be before Started (2026-11-21 08:40 UTC).")


def test_equal_times_are_in_order(session, engine):
    incident = declare(session, utc(2026, 11, 21, 9, 0))
    edit(session, incident, {"started_at": utc(2026, 11, 21, 9, 0), "detected_at": utc(2026, 11, 21, 9, 0),
                             "acknowledged_at": utc(2026, 11, 21, 9, 0), "mitigated_at": utc(2026, 11, 21, 9, 0)},
         now=utc(2026, 11, 21, 9, 0))
    assert stored(engine, incident).mitigated_at == utc(2026, 11, 21, 9, 0)


def test_seconds_are_shown_when_the_minutes_look_equal(session):
    incident = declare(session, utc(2026, 11, 21, 9, 0, 37))
    error = refused(session, incident, {"mitigated_at": utc(2026, 11, 21, 9, 0)}, now=utc(2026, 11, 21, 10, 0))
    assert error.message == "Mitigated (2026-11-21 09:00:00 UTC) can't be before Declared (2026-11-21 09:00:37 UTC)."


def test_an_old_conflict_between_untouched_milestones_does_not_block_other_edits(session, engine):
    """E.g. an imported incident acknowledged 'before' it was declared."""
    incident = declare(session, utc(2026, 11, 21, 9, 0))
    incident.acknowledged_at = utc(2026, 11, 21, 8, 55)
    session.add(incident)
    session.commit()
    edit(session, incident, {"started_at": utc(2026, 11, 21, 8, 30)}, now=utc(2026, 11, 21, 10, 0))
    assert stored(engine, incident).started_at == utc(2026, 11, 21, 8, 30)


def test_a_milestone_in_the_future_is_refused(session):
    incident = declare(session, utc(2026, 11, 21, 9, 0))
    error = refused(session, incident, {"mitigated_at": utc(2026, 11, 21, 10, 1)}, now=utc(2026, 11, 21, 10, 0))
    assert (error.field, error.message) == ("mitigated_at", "Mitigated (2026-11-21 10:01 UTC) can't be in the future.")


# --- resolved, closed ---------------------------------------------------------------------------


def test_resolved_at_needs_a_resolved_incident(session):
    incident = declare(session, utc(2026, 11, 21, 9, 0))
    error = refused(session, incident, {"resolved_at": utc(2026, 11, 21, 9, 30)}, now=utc(2026, 11, 21, 10, 0))
    assert (error.field, error.message) == (
        "resolved_at",
        "INC-1 isn't resolved yet, so it has no resolved time to edit. Resolve it first: `/incident resolve <summary>`",
    )


def test_resolved_at_of_a_resolved_incident_can_be_corrected_but_not_cleared(session, engine):
    incident = declare(session, utc(2026, 11, 21, 9, 0))
    with freeze_time(utc(2026, 11, 21, 11, 0)):
        lifecycle.resolve(session, POLICY, incident, ALICE, "Rolled back")  # mitigated = resolved = 11:00
        session.commit()
    edit(session, incident, {"mitigated_at": utc(2026, 11, 21, 9, 45), "resolved_at": utc(2026, 11, 21, 10, 30)},
         now=utc(2026, 11, 21, 12, 0))
    row = stored(engine, incident)
    assert (row.mitigated_at, row.resolved_at) == (utc(2026, 11, 21, 9, 45), utc(2026, 11, 21, 10, 30))
    assert metrics.durations(row).time_to_resolve == timedelta(minutes=90)

    error = refused(session, incident, {"resolved_at": utc(2026, 11, 21, 9, 40)}, now=utc(2026, 11, 21, 12, 0))
    assert (error.field, error.message) == (
        "resolved_at", "Resolved (2026-11-21 09:40 UTC) can't be before Mitigated (2026-11-21 09:45 UTC).")
    error = refused(session, incident, {"resolved_at": None}, now=utc(2026, 11, 21, 12, 0))
    assert error.field == "resolved_at"
    assert error.message.startswith("Resolved can't be cleared; reopen the incident instead")


def test_a_closed_incident_cannot_be_edited(session):
    incident = declare(session, utc(2026, 11, 21, 9, 0))
    with freeze_time(utc(2026, 11, 21, 11, 0)):
        lifecycle.resolve(session, POLICY, incident, ALICE, "Rolled back")
        lifecycle.close(session, POLICY, incident, ALICE)
        session.commit()
    error = refused(session, incident, {"started_at": utc(2026, 11, 21, 8, 0)}, now=utc(2026, 11, 21, 12, 0),
                    error=Closed)
    assert str(error) == "INC-1 is closed; nothing can change it."


# --- refused input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"declared_at": utc(2026, 11, 21, 8, 0)}, "declared_at", "Declared is set by the bot and can't be edited."),
        ({"closed_at": utc(2026, 11, 21, 9, 30)}, "closed_at", "Closed is set by the bot and can't be edited."),
        ({"fixed_at": utc(2026, 11, 21, 9, 30)}, "fixed_at",
         "There is no milestone `fixed_at`. Editable: started_at, detected_at, acknowledged_at, mitigated_at, "
         "resolved_at."),
        ({"started_at": datetime(2026, 11, 21, 8, 0)}, "started_at",
         "Started (2026-11-21 08:00) has no timezone; give the time with its timezone."),
        ({"mitigated_at": "2026-11-21T09:30:00Z"}, "mitigated_at", "Mitigated must be a date and time."),
    ],
    ids=["declared", "closed", "unknown", "naive", "not-a-datetime"],
)
def test_bad_values_are_refused_by_name(session, values, field, message):
    incident = declare(session, utc(2026, 11, 21, 9, 0))
    error = refused(session, incident, values, now=utc(2026, 11, 21, 10, 0))
    assert (error.field, error.message) == (field, message)


def test_nothing_changed_is_already_done(session):
    incident = declare(session, utc(2026, 11, 21, 9, 0))
    edit(session, incident, {"started_at": utc(2026, 11, 21, 8, 0)}, detection="monitoring",
         now=utc(2026, 11, 21, 10, 0))
    for values, detection in [({}, None), ({"started_at": utc(2026, 11, 21, 8, 0), "detected_at": None}, None),
                              ({"started_at": datetime(2026, 11, 21, 9, 0, tzinfo=CPH)}, "monitoring")]:
        error = refused(session, incident, values, detection=detection, now=utc(2026, 11, 21, 10, 5), error=AlreadyDone)
        assert str(error) == "INC-1 already has those milestones."


# --- detection ----------------------------------------------------------------------------------


def test_detection_is_recorded(session, engine):
    incident = declare(session, utc(2026, 11, 21, 9, 0))
    change = edit(session, incident, {}, detection="Customer", now=utc(2026, 11, 21, 10, 0))
    assert stored(engine, incident).detection == "customer"
    assert change.detail == "Milestones edited: Detected by customer."
    assert change.event.data == {"before": None, "after": None, "detection": [None, "customer"]}

    change = edit(session, incident, {"detected_at": utc(2026, 11, 21, 8, 50)}, detection="monitoring",
                  now=utc(2026, 11, 21, 10, 5))
    assert change.detail == ("Milestones edited: Detected set to 2026-11-21 08:50 UTC; "
                             "Detected by monitoring (was customer).")
    assert change.event.data["detection"] == ["customer", "monitoring"]
    assert stored(engine, incident).detection == "monitoring"


def test_unknown_detection_is_refused(session):
    incident = declare(session, utc(2026, 11, 21, 9, 0))
    error = refused(session, incident, {}, detection="pager", now=utc(2026, 11, 21, 10, 0))
    assert (error.field, error.message) == ("detection", "There is no detection `pager`. Use one of: monitoring, "
                                                         "customer, staff.")


def test_the_declared_order_is_the_documented_one():
    assert milestones.MILESTONES == ("started_at", "detected_at", "declared_at", "acknowledged_at", "mitigated_at",
                                     "resolved_at", "closed_at")
    assert milestones.DETECTION == ("monitoring", "customer", "staff")

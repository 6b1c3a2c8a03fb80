"""Nudges: the database says what is due; each occurrence is claimed and sent once."""

import threading
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import event
from sqlmodel import Session, select

from incidentbot.core import incidents, lifecycle, nudges, roles, timeline, updates
from incidentbot.core.errors import Closed, InvalidInput
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy, parse_policy
from incidentbot.models import Notification, Snooze

POLICY = load_policy()  # nudges: no lead after 10 minutes, idle after 4 hours, snooze 60 minutes
ALICE, BOB = "U0ALICE", "U0BOB"
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)  # a Saturday: nudges do not wait for Monday


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def declare(session, severity="SEV1", when=T0, lead=None, policy=POLICY):
    with freeze_time(when):
        incident, _ = incidents.declare(session, policy, Declaration(title="Checkout failing", severity=severity,
                                                                     declared_by=ALICE))
        if lead:
            roles.assign(session, policy, incident, "lead", lead, ALICE)
    session.commit()
    return incident


def due(session, now, kind=None, policy=POLICY):
    found = nudges.due(session, policy, now)
    return [n for n in found if kind is None or n.kind == kind]


def key(kind, incident, anchor):
    return f"{kind}:{incident.id}:{anchor.isoformat()}"


def sweep(engine, now, policy=POLICY) -> list[str]:
    """What a worker does: claim and commit, "post", mark sent and commit."""
    sent = []
    with Session(engine) as session:
        for nudge in nudges.due(session, policy, now):
            claimed = nudges.claim(session, nudge, now)
            session.commit()
            if claimed is not None:
                nudges.mark_sent(session, claimed, channel_id="C0INC", message_ts=f"{len(sent)}.0", now=now)
                session.commit()
                sent.append(nudge.key)
    return sent


# --- what is due ------------------------------------------------------------------------------


def test_update_overdue_follows_each_severitys_cadence(session):
    sev1 = declare(session, "SEV1", lead=BOB)  # every 30 minutes
    sev4 = declare(session, "SEV4", lead=BOB)  # every 240 minutes
    assert due(session, at(29), "update_overdue") == []
    assert due(session, at(30), "update_overdue") == [
        nudges.DueNudge(sev1.id, "update_overdue", key("update_overdue", sev1, T0), at(30))
    ]
    assert [n.incident_id for n in due(session, at(240), "update_overdue")] == [sev1.id, sev4.id]


def test_a_severity_change_moves_the_deadline(session):
    incident = declare(session, "SEV4", lead=BOB)
    assert due(session, at(30), "update_overdue") == []
    lifecycle.set_severity(session, POLICY, incident, "SEV1", BOB)
    assert [n.due_at for n in due(session, at(30), "update_overdue")] == [at(30)]


def test_the_next_update_time_given_is_honoured(session):
    incident = declare(session, "SEV1", lead=BOB)
    with freeze_time(at(5)):
        updates.post_update(session, POLICY, incident, BOB, text="Looking", next_update_minutes=10)
    assert due(session, at(14), "update_overdue") == []
    [nudge] = due(session, at(15), "update_overdue")
    assert (nudge.due_at, nudge.key) == (at(15), key("update_overdue", incident, at(5)))
    with freeze_time(at(20)):
        updates.post_update(session, POLICY, incident, BOB, text="Still looking")  # SEV1 cadence: 30 minutes
    assert due(session, at(49), "update_overdue") == []
    assert [n.due_at for n in due(session, at(50), "update_overdue")] == [at(50)]


def test_posting_an_update_starts_a_new_deadline(engine):
    with Session(engine, expire_on_commit=False) as session:
        incident = declare(session, "SEV1", lead=BOB)
    assert sweep(engine, at(30)) == [key("update_overdue", incident, T0)]
    assert sweep(engine, at(45)) == []  # one nudge per missed deadline, not one per sweep
    with Session(engine) as session, freeze_time(at(50)):
        updates.post_update(session, POLICY, session.merge(incident), BOB, text="Rolled back")
        session.commit()
    assert sweep(engine, at(79)) == []
    assert sweep(engine, at(80)) == [key("update_overdue", incident, at(50))]


def test_no_lead_stops_once_a_lead_is_assigned(session):
    incident = declare(session, "SEV2")
    assert due(session, at(9), "no_lead") == []
    assert due(session, at(10), "no_lead") == [
        nudges.DueNudge(incident.id, "no_lead", key("no_lead", incident, T0), at(10))
    ]
    roles.assign(session, POLICY, incident, "comms", BOB, ALICE)  # another role is not a lead
    assert len(due(session, at(10), "no_lead")) == 1
    roles.assign(session, POLICY, incident, "lead", BOB, ALICE)
    assert due(session, at(10), "no_lead") == []
    roles.assign(session, POLICY, incident, "lead", ALICE, BOB)  # a handover keeps a lead
    assert due(session, at(60), "no_lead") == []


def test_idle_counts_from_the_last_thing_recorded(session):
    incident = declare(session, "SEV4", lead=BOB)
    # The lead was assigned at T0, so that is the last activity so far.
    assert [n.due_at for n in due(session, at(240), "idle")] == [at(240)]
    with freeze_time(at(120)):
        # Pinning an old message is activity now, when it is recorded.
        timeline.record(session, incident, "pinned", "DB failover", actor=BOB, occurred_at=at(-30))
    assert due(session, at(359), "idle") == []
    [nudge] = due(session, at(360), "idle")
    assert nudge.key == key("idle", incident, at(120))


def test_deleted_events_are_not_activity(session):
    incident = declare(session, "SEV4", lead=BOB)
    with freeze_time(at(120)):
        event = timeline.record(session, incident, "note", "typo", actor=BOB)
    event.deleted = True
    session.commit()
    assert [n.due_at for n in due(session, at(240), "idle")] == [at(240)]


def test_snoozed_nudges_wait_until_the_snooze_ends(session, engine):
    incident = declare(session, "SEV1")
    assert {n.kind for n in due(session, at(30))} == {"update_overdue", "no_lead"}
    with freeze_time(at(31)):
        until = nudges.snooze(session, POLICY, incident, "update_overdue", BOB, at(31))
    session.commit()
    assert until == at(91)
    assert {n.kind for n in due(session, at(60))} == {"no_lead"}
    assert {n.kind for n in due(session, at(91))} == {"update_overdue", "no_lead"}
    with Session(engine) as other:
        [row] = other.exec(select(Snooze)).all()
        assert (row.incident_id, row.kind, row.until, row.snoozed_by, row.created_at) == (
            incident.id, "update_overdue", at(91), BOB, at(31))
    snoozed = timeline.events(session, incident)[-1]
    assert (snoozed.kind, snoozed.actor, snoozed.text) == (
        "nudge_snoozed", BOB, "Snoozed the status update reminder for 60 minutes.")
    assert snoozed.data == {"kind": "update_overdue", "minutes": 60, "until": at(91).isoformat()}


def test_snooze_for_a_chosen_time_and_bad_input(session):
    incident = declare(session, "SEV1")
    with freeze_time(at(10)):
        assert nudges.snooze(session, POLICY, incident, "no_lead", BOB, at(10), minutes=15) == at(25)
    with pytest.raises(InvalidInput) as caught:
        nudges.snooze(session, POLICY, incident, "no_lead", BOB, at(10), minutes=0)
    assert (caught.value.field, caught.value.message) == ("minutes", "Snooze for 1 to 1,440 minutes (24 hours).")
    with pytest.raises(InvalidInput) as caught:
        nudges.snooze(session, POLICY, incident, "lunch", BOB, at(10))
    assert caught.value.message == "There is no reminder `lunch` to snooze. Use one of: update_overdue, no_lead, idle."


def test_resolved_and_closed_incidents_are_never_nudged(session):
    resolved = declare(session, "SEV1")
    closed = declare(session, "SEV1")
    lifecycle.resolve(session, POLICY, resolved, ALICE, "fixed")
    lifecycle.resolve(session, POLICY, closed, ALICE, "fixed")
    lifecycle.close(session, POLICY, closed, ALICE)
    session.commit()
    assert due(session, at(24 * 60)) == []
    with pytest.raises(Closed):
        nudges.snooze(session, POLICY, closed, "idle", BOB, at(1))


def test_a_reopened_incident_is_nudged_again(session):
    incident = declare(session, "SEV1", lead=BOB)
    lifecycle.resolve(session, POLICY, incident, BOB, "fixed")
    lifecycle.set_status(session, POLICY, incident, "investigating", BOB)
    assert [n.kind for n in due(session, at(30))] == ["update_overdue"]


def test_nudges_can_be_turned_off(session):
    declare(session, "SEV1")
    assert due(session, at(24 * 60), policy=parse_policy("[nudges]\nenabled = false")) == []


def test_deadlines_are_exact_across_a_dst_change(session):
    """Copenhagen leaves summer time at 01:00 UTC on Sunday 25 October 2026."""
    copenhagen = parse_policy('timezone = "Europe/Copenhagen"')
    declared = datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc)  # 02:30 CEST
    incident = declare(session, "SEV4", when=declared, lead=BOB, policy=copenhagen)
    four_hours = declared + timedelta(hours=4)  # 05:30 CET: the wall clock moved 5 hours
    assert due(session, four_hours - timedelta(seconds=1), "update_overdue", policy=copenhagen) == []
    [nudge] = due(session, four_hours, "update_overdue", policy=copenhagen)
    assert (nudge.incident_id, nudge.due_at) == (incident.id, four_hours)


def test_due_needs_the_same_few_queries_for_any_number_of_incidents(engine):
    def statements(n_incidents):
        with Session(engine) as session:
            for _ in range(n_incidents):
                incident = declare(session, "SEV1")
                with freeze_time(at(1)):
                    updates.post_update(session, POLICY, incident, BOB, text="x")
                session.commit()
            seen = []
            listener = lambda *args: seen.append(args[2])  # noqa: E731
            event.listen(engine, "before_cursor_execute", listener)
            try:
                assert len(nudges.due(session, POLICY, at(600))) >= n_incidents
            finally:
                event.remove(engine, "before_cursor_execute", listener)
            return len(seen)

    few = statements(1)
    assert few <= 7 and statements(6) == few


# --- claiming: exactly once -------------------------------------------------------------------


def test_claim_is_exactly_once_across_sessions(engine):
    with Session(engine) as session:
        declare(session, "SEV1", lead=BOB)
    with Session(engine) as one, Session(engine) as two:
        [nudge] = nudges.due(one, POLICY, at(30))
        [same] = nudges.due(two, POLICY, at(30))
        claimed = nudges.claim(one, nudge, at(30))
        one.commit()
        assert nudges.claim(two, same, at(30)) is None
        two.commit()
        nudges.mark_sent(one, claimed, channel_id="C0INC", message_ts="1.5", now=at(31))
        one.commit()
    with Session(engine) as session:
        [row] = session.exec(select(Notification)).all()
        assert (row.key, row.kind, row.due_at, row.claimed_at, row.sent_at, row.channel_id, row.message_ts) == (
            nudge.key, "update_overdue", at(30), at(30), at(31), "C0INC", "1.5")
        assert nudges.due(session, POLICY, at(45)) == []


def test_two_workers_racing_for_one_nudge(engine):
    with Session(engine) as session:
        declare(session, "SEV1", lead=BOB)
        [nudge] = nudges.due(session, POLICY, at(30))
    start = threading.Barrier(2)
    results: list[object] = []

    def worker():
        with Session(engine) as session:
            start.wait()
            claimed = nudges.claim(session, nudge, at(30))
            session.commit()
            results.append(claimed is not None)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False, True]
    with Session(engine) as session:
        assert len(session.exec(select(Notification)).all()) == 1


def test_release_makes_it_due_again(engine):
    with Session(engine) as session:
        declare(session, "SEV1", lead=BOB)
        [nudge] = nudges.due(session, POLICY, at(30))
        claimed = nudges.claim(session, nudge, at(30))
        session.commit()
        assert nudges.due(session, POLICY, at(31)) == []
        nudges.release(session, claimed)  # posting to Slack failed
        session.commit()
        assert nudges.due(session, POLICY, at(32)) == [nudge]
        again = nudges.claim(session, nudge, at(32))
        nudges.mark_sent(session, again, channel_id="C0INC", message_ts="2.0", now=at(32))
        with pytest.raises(ValueError, match="send it twice"):
            nudges.release(session, again)


def test_a_claim_abandoned_by_a_dead_worker_is_taken_over(engine):
    with Session(engine) as session:
        declare(session, "SEV1", lead=BOB)
        [nudge] = nudges.due(session, POLICY, at(30))
        nudges.claim(session, nudge, at(30))
        session.commit()  # ... and the worker dies before posting
    with Session(engine) as session:
        assert nudges.due(session, POLICY, at(39)) == []  # it may still be posting
        assert nudges.due(session, POLICY, at(40)) == [nudge]
        taken = nudges.claim(session, nudge, at(40))
        session.commit()
        assert taken is not None and taken.claimed_at == at(40)
        assert nudges.claim(session, nudge, at(40)) is None
        assert len(session.exec(select(Notification)).all()) == 1


def test_nudges_due_while_the_worker_was_down_are_sent_once(engine):
    with Session(engine, expire_on_commit=False) as session:
        incident = declare(session, "SEV1")
    # The worker is down from 09:00 to 12:00: three hours of missed minutes.
    assert sweep(engine, at(180)) == [key("no_lead", incident, T0), key("update_overdue", incident, T0)]
    sent = [k for minute in range(181, 300) for k in sweep(engine, at(minute))]
    assert sent == [key("idle", incident, T0)]  # at 13:00, and only once
    with Session(engine) as session:
        assert len(session.exec(select(Notification)).all()) == 3


def test_a_worker_sweeping_every_minute_sends_each_nudge_at_its_time(engine):
    with Session(engine, expire_on_commit=False) as session:
        incident = declare(session, "SEV1")
    sent = {}
    for minute in range(0, 300):
        for k in sweep(engine, at(minute)):
            sent[k] = minute
    assert sent == {key("no_lead", incident, T0): 10, key("update_overdue", incident, T0): 30,
                    key("idle", incident, T0): 240}

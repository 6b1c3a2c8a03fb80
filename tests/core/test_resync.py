"""What Slack may not show yet, read from the database (core/resync.py), and the
provisioning lease (core/incidents.py) that keeps two provisioners apart."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from freezegun import freeze_time

from incidentbot.core import incidents, lifecycle, resync, updates
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy
from incidentbot.models import Incident, Postmortem

POLICY = load_policy()
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)


def declared(session, title="Checkout failing", severity="SEV2") -> Incident:
    incident, _ = incidents.declare(session, POLICY, Declaration(title, severity, "U0ALICE"))
    incidents.attach_channel(session, incident, f"C{incident.number:04d}", f"inc-{incident.number}")
    incidents.record_provisioning(session, incident.id, finished_at=T0)
    session.commit()
    session.refresh(incident)
    return incident


@freeze_time(T0)
def test_a_card_behind_its_revision_is_stale_once_the_grace_is_over(session):
    shown, behind = declared(session), declared(session, "Search slow")
    lifecycle.acknowledge(session, POLICY, behind, "U0BOB")
    session.commit()
    assert (shown.shown_revision, behind.revision) == (0, 1)

    assert resync.stale_cards(session, changed_before=T0) == []  # the web process may be showing it now
    assert [i.id for i in resync.stale_cards(session, changed_before=T0 + timedelta(minutes=2))] == [behind.id]

    resync.mark_shown(session, behind.id, behind.revision)
    session.commit()
    assert resync.stale_cards(session, changed_before=T0 + timedelta(minutes=2)) == []


@freeze_time(T0)
def test_shown_revision_never_moves_backwards_and_a_failure_resets_it(session):
    incident = declared(session)
    lifecycle.acknowledge(session, POLICY, incident, "U0BOB")
    lifecycle.mitigate(session, POLICY, incident, "U0CAROL")
    session.commit()
    resync.mark_shown(session, incident.id, 2)
    resync.mark_shown(session, incident.id, 1)  # a slower refresh of an older state, finishing last
    session.commit()
    session.refresh(incident)
    assert incident.shown_revision == 2
    resync.mark_unshown(session, incident.id)
    session.commit()
    session.refresh(incident)
    assert incident.shown_revision == 0


@freeze_time(T0)
def test_status_updates_missing_from_the_channel_or_the_announcement_thread(session):
    incident = declared(session)
    incidents.record_provisioning(session, incident.id, announcement_channel_id="C0INCIDENTS", announcement_ts="1.0001")
    session.refresh(incident)
    posted, _ = updates.post_update(session, POLICY, incident, "U0BOB", text="Posted everywhere")
    updates.attach_messages(session, posted, channel_ts="2.0", announcement_ts="2.1")
    no_thread, _ = updates.post_update(session, POLICY, incident, "U0BOB", text="Not in the thread")
    updates.attach_messages(session, no_thread, channel_ts="3.0")
    nowhere, _ = updates.post_update(session, POLICY, incident, "U0BOB", text="Nowhere")
    session.commit()

    later = T0 + timedelta(minutes=5)
    found = resync.unposted_updates(session, now=later, posted_before=later)
    assert [u.id for u in found] == [no_thread.id, nowhere.id]
    assert resync.unposted_updates(session, now=T0 + timedelta(days=2), posted_before=later) == []  # too old now


@freeze_time(T0)
def test_private_incidents_have_no_announcement_thread_to_miss(session):
    incident, _ = incidents.declare(session, POLICY, Declaration("Payroll", "SEV2", "U0ALICE", private=True))
    incidents.attach_channel(session, incident, "G0001", "inc-payroll")
    update, _ = updates.post_update(session, POLICY, incident, "U0BOB", text="Still private")
    updates.attach_messages(session, update, channel_ts="5.0")
    session.commit()
    later = T0 + timedelta(minutes=5)
    assert resync.unposted_updates(session, now=later, posted_before=later) == []


@freeze_time(T0)
def test_recently_resolved_incidents_without_a_postmortem(session):
    without, with_one = declared(session, severity="SEV1"), declared(session, "Search slow", "SEV1")
    for incident in (without, with_one):
        lifecycle.resolve(session, POLICY, incident, "U0BOB", "Rolled back")
    session.add(Postmortem(incident_id=with_one.id, owner="U0BOB", status="scheduled", due_at=T0 + timedelta(days=3)))
    session.commit()

    later = T0 + timedelta(minutes=5)
    assert [i.id for i in resync.resolved_without_postmortem(session, now=later, resolved_before=later)] == [without.id]
    assert resync.resolved_without_postmortem(session, now=T0 + timedelta(days=3), resolved_before=later) == []


@freeze_time(T0)
def test_one_provisioner_at_a_time_until_the_lease_runs_out(session):
    incident, _ = incidents.declare(session, POLICY, Declaration("Queue backlog", "SEV2", "U0ALICE"))
    session.commit()
    hold = timedelta(minutes=2)
    assert incidents.lease_provisioning(session, incident.id, now=T0, hold=hold)
    assert not incidents.lease_provisioning(session, incident.id, now=T0 + timedelta(minutes=1), hold=hold)
    # A process that died holding it: the sweep takes over once the lease has run out.
    assert incidents.lease_provisioning(session, incident.id, now=T0 + timedelta(minutes=3), hold=hold)
    incidents.release_provisioning(session, incident.id)
    assert incidents.lease_provisioning(session, incident.id, now=T0 + timedelta(minutes=3), hold=hold)

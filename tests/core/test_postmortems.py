"""Postmortems: scheduled by policy on resolve, the review meeting, status, reminders once each."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import event, inspect, text
from sqlmodel import Session, select

from incidentbot import db
from incidentbot.core import incidents, lifecycle, postmortem_reminders, postmortems, roles, timeline
from incidentbot.core.errors import AlreadyDone, DomainError, InvalidInput
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import parse_policy
from incidentbot.core.postmortem_reminders import DueReminder
from incidentbot.core.postmortems import PostmortemStatus
from incidentbot.models import Notification, Postmortem

UTC = timezone.utc
CPH = ZoneInfo("Europe/Copenhagen")
NY = ZoneInfo("America/New_York")
# Danish Easter 2026: Maundy Thursday 2 April, Good Friday 3 April, Easter Monday 6 April.
POLICY_TOML = ('timezone = "Europe/Copenhagen"\n'
               '[business_hours]\nholidays = [2026-04-02, 2026-04-03, 2026-04-06]\n')
POLICY = parse_policy(POLICY_TOML)
ALICE, BOB, CAROL, DAVE, ERIN = "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0ERIN"


def cph(*args) -> datetime:
    return datetime(*args, tzinfo=CPH).astimezone(UTC)


FRIDAY_EVENING = cph(2026, 3, 13, 19, 45)  # Friday 13 March 2026, CET


def declare(session, severity="SEV2", when=FRIDAY_EVENING - timedelta(hours=2), lead=BOB, category=None,
            policy=POLICY, roles_=()):
    with freeze_time(when):
        incident, _ = incidents.declare(session, policy, Declaration(
            title="Checkout failing", severity=severity, declared_by=ALICE, category=category))
        if lead:
            roles.assign(session, policy, incident, "lead", lead, ALICE)
        for role, user in roles_:
            roles.assign(session, policy, incident, role, user, ALICE)
    session.commit()
    return incident


def resolve(session, incident, when=FRIDAY_EVENING, policy=POLICY):
    with freeze_time(when):
        lifecycle.resolve(session, policy, incident, BOB, "Rolled back", privileged=True)
        postmortem = postmortems.schedule(session, policy, incident, now=when)
    session.commit()
    return postmortem


# --- when one is needed ------------------------------------------------------------------------


def test_required_by_severity_or_by_category(session):
    by_category = parse_policy(POLICY_TOML + '[postmortems]\nrequired_categories = ["security"]\n')
    sev1, sev2, sev3, sev4 = (declare(session, s) for s in ("SEV1", "SEV2", "SEV3", "SEV4"))
    assert [postmortems.required(POLICY, i) for i in (sev1, sev2, sev3, sev4)] == [True, True, False, False]
    security = declare(session, "SEV4", category="security")
    assert postmortems.required(POLICY, security) is False
    assert postmortems.required(by_category, security) is True
    security.severity = "SEV9"  # a severity the policy no longer lists: the category still decides
    assert postmortems.required(by_category, security) is True
    assert postmortems.required(POLICY, security) is False


def test_not_required_schedules_nothing_unless_asked(session):
    incident = declare(session, "SEV3")
    assert resolve(session, incident) is None
    assert session.exec(select(Postmortem)).all() == []
    forced = postmortems.schedule(session, POLICY, incident, now=FRIDAY_EVENING, force=True)
    assert forced is not None and forced.due_at == cph(2026, 3, 27, 17, 0)  # SEV3: 10 business days


def test_sev3_in_a_required_category_gets_one(session):
    policy = parse_policy(POLICY_TOML + '[postmortems]\nrequired_categories = ["data-pipeline-integrity"]\n')
    incident = declare(session, "SEV3", category="data-pipeline-integrity", policy=policy)
    assert resolve(session, incident, policy=policy) is not None


# --- scheduling --------------------------------------------------------------------------------


def test_sev2_resolved_friday_evening(session):
    incident = declare(session, "SEV2")
    postmortem = resolve(session, incident)
    assert postmortem is not None
    assert (postmortem.incident_id, postmortem.owner, postmortem.status) == (incident.id, BOB, "scheduled")
    assert postmortem.status == PostmortemStatus.SCHEDULED
    assert postmortem.due_at == cph(2026, 3, 20, 17, 0)  # next Friday, end of business
    # At least 24 hours' notice: Saturday evening, so Monday 09:00.
    assert postmortem.meeting_at == cph(2026, 3, 16, 9, 0)
    assert postmortem.meeting_confirmed is False and postmortem.meeting_sequence == 0
    assert (postmortem.meeting_set_at, postmortem.created_at) == (FRIDAY_EVENING, FRIDAY_EVENING)
    assert postmortem.draft_markdown is None and postmortem.published_at is None
    scheduled = timeline.events(session, incident)[-1]
    assert scheduled.kind == "postmortem_scheduled" and scheduled.kind in postmortems.EVENT_KINDS
    assert scheduled.text == ("Postmortem scheduled: owner U0BOB, due Fri 20 Mar 2026 17:00 (Europe/Copenhagen); "
                              "review meeting proposed for Mon 16 Mar 2026 09:00 (Europe/Copenhagen).")
    assert scheduled.data == {"owner": BOB, "due_at": cph(2026, 3, 20, 17).isoformat(),
                              "meeting_at": cph(2026, 3, 16, 9).isoformat()}
    assert postmortems.get(session, incident).id == postmortem.id


def test_sev1_is_due_three_calendar_days_later(session):
    postmortem = resolve(session, declare(session, "SEV1"))
    assert postmortem.due_at == cph(2026, 3, 16, 17, 0)  # Monday, the weekend counted
    assert postmortem.meeting_at == cph(2026, 3, 16, 9, 0)


def test_holidays_are_skipped(session):
    # Resolved Tuesday 31 March: Wed 1, then Easter (Thu 2, Fri 3, Mon 6), Tue 7 ... Fri 10 April.
    postmortem = resolve(session, declare(session, "SEV2", when=cph(2026, 3, 31, 9)), when=cph(2026, 3, 31, 11))
    assert postmortem.due_at == cph(2026, 4, 10, 17, 0)
    assert postmortem.meeting_at == cph(2026, 4, 1, 11, 0)  # 24 hours' notice, on the half-hour grid


def test_owner_is_the_owner_role_holder_or_the_declarer(session):
    assert resolve(session, declare(session, "SEV2", lead=None)).owner == ALICE  # the declarer
    scribes = parse_policy(POLICY_TOML + '[postmortems]\nowner_role = "scribe"\n')
    incident = declare(session, "SEV2", policy=scribes, roles_=[("scribe", CAROL)])
    assert resolve(session, incident, policy=scribes).owner == CAROL


def test_a_short_deadline_falls_back_to_less_notice_and_then_to_no_proposal(session):
    # SEV1 resolved Thursday 16:30: due Sunday. 24 hours' notice (Friday 16:30) leaves no slot,
    # so the first free one: Friday 09:00.
    postmortem = resolve(session, declare(session, "SEV1", when=cph(2026, 3, 12, 10)), when=cph(2026, 3, 12, 16, 30))
    assert (postmortem.due_at, postmortem.meeting_at) == (cph(2026, 3, 15, 17), cph(2026, 3, 13, 9))
    # Due the next day, a Saturday: no business hours before it.
    next_day = parse_policy('default_severity = "SEV1"\n' + POLICY_TOML +
                            '[[severities]]\nid = "SEV1"\nname = "Critical"\npostmortem_required = true\n'
                            'postmortem_due_days = 1\npostmortem_due_business_days = false\n')
    incident = declare(session, "SEV1", policy=next_day)
    late = resolve(session, incident, policy=next_day)
    assert late.due_at == cph(2026, 3, 14, 17) and late.meeting_at is None and late.meeting_set_at is None
    assert timeline.events(session, incident)[-1].text.endswith(
        "no free slot for the review meeting before then; pick a time.")


def test_proposals_avoid_the_other_postmortems_meetings(session):
    first = resolve(session, declare(session, "SEV2"))
    second = resolve(session, declare(session, "SEV2"))
    third = resolve(session, declare(session, "SEV2"))
    assert [p.meeting_at for p in (first, second, third)] == [
        cph(2026, 3, 16, 9), cph(2026, 3, 16, 10), cph(2026, 3, 16, 11)]
    postmortems.not_needed(session, second, ALICE, "Duplicate of INC-1", now=FRIDAY_EVENING)
    session.commit()
    assert resolve(session, declare(session, "SEV2")).meeting_at == cph(2026, 3, 16, 10)  # freed


def test_schedule_is_idempotent(session):
    incident = declare(session, "SEV2")
    first = resolve(session, incident)
    assert postmortems.schedule(session, POLICY, incident, now=FRIDAY_EVENING + timedelta(minutes=1)) is None
    # Reopened and resolved again: the postmortem scheduled the first time stays.
    with freeze_time(FRIDAY_EVENING + timedelta(hours=1)):
        lifecycle.set_status(session, POLICY, incident, "investigating", BOB)
    assert resolve(session, incident, when=FRIDAY_EVENING + timedelta(days=3)) is None
    [only] = session.exec(select(Postmortem)).all()
    assert only.id == first.id and only.due_at == cph(2026, 3, 20, 17)
    assert [e.kind for e in timeline.events(session, incident)].count("postmortem_scheduled") == 1


def test_two_processes_scheduling_at_once_make_one(engine):
    with Session(engine, expire_on_commit=False) as session:
        incident = declare(session, "SEV2")
        with freeze_time(FRIDAY_EVENING):
            lifecycle.resolve(session, POLICY, incident, BOB, "Rolled back")
        session.commit()
    results: list[object] = []
    first_inserted = threading.Event()

    def second():
        with Session(engine) as other:
            mine = other.get(type(incident), incident.id)
            first_inserted.wait(10)
            # The first one has inserted but not committed: this insert waits for it, then
            # hits the unique incident_id and gives up quietly.
            results.append(postmortems.schedule(other, POLICY, mine, now=FRIDAY_EVENING))
            other.commit()

    with Session(engine) as one:
        made = postmortems.schedule(one, POLICY, one.get(type(incident), incident.id), now=FRIDAY_EVENING)
        thread = threading.Thread(target=second)
        thread.start()
        first_inserted.set()
        time.sleep(0.3)
        one.commit()
        thread.join(timeout=30)
    assert made is not None and results == [None]
    with Session(engine) as session:
        assert len(session.exec(select(Postmortem)).all()) == 1


def test_an_organisation_in_new_york(session):
    policy = parse_policy('timezone = "America/New_York"\n[business_hours]\nstart = "08:30"\nend = "17:30"\n')
    resolved = datetime(2026, 3, 6, 21, 0, tzinfo=NY).astimezone(UTC)  # Friday evening; Saturday in UTC
    postmortem = resolve(session, declare(session, "SEV2", when=resolved - timedelta(hours=1), policy=policy),
                         when=resolved, policy=policy)
    assert postmortem.due_at == datetime(2026, 3, 13, 17, 30, tzinfo=NY)  # EDT from Sunday 8 March
    assert postmortem.due_at == datetime(2026, 3, 13, 21, 30, tzinfo=UTC)
    assert postmortem.meeting_at == datetime(2026, 3, 9, 12, 30, tzinfo=UTC)  # Monday 08:30 EDT


# --- the meeting, the owner --------------------------------------------------------------------


def test_confirm_meeting(session):
    incident = declare(session, "SEV2")
    postmortem = resolve(session, incident)
    postmortems.confirm_meeting(session, postmortem, CAROL, now=cph(2026, 3, 14, 10))
    assert postmortem.meeting_confirmed is True and postmortem.updated_at == cph(2026, 3, 14, 10)
    confirmed = timeline.events(session, incident)[-1]
    assert (confirmed.kind, confirmed.actor, confirmed.text) == (
        "postmortem_meeting_confirmed", CAROL, "Postmortem review meeting confirmed.")
    with pytest.raises(AlreadyDone, match=r"^The review meeting of INC-1 is already confirmed\.$"):
        postmortems.confirm_meeting(session, postmortem, CAROL, now=cph(2026, 3, 14, 10))


def test_confirming_needs_a_future_proposal(session):
    postmortem = resolve(session, declare(session, "SEV2"))
    with pytest.raises(InvalidInput) as caught:
        postmortems.confirm_meeting(session, postmortem, CAROL, now=cph(2026, 3, 16, 9, 30))
    assert caught.value.message == ("The proposed time for the review of INC-1 has passed: "
                                    "pick a new time with Reschedule.")
    postmortem.meeting_at = None
    with pytest.raises(InvalidInput, match="No review meeting is proposed for INC-1: pick a time with Reschedule."):
        postmortems.confirm_meeting(session, postmortem, CAROL, now=cph(2026, 3, 14, 10))


@pytest.mark.parametrize("when, message", [
    (datetime(2026, 3, 14, 10, 0, tzinfo=CPH),
     "Saturday 14 March 2026 is not a working day (Mon-Fri). Pick a working day."),
    (datetime(2026, 4, 3, 10, 0, tzinfo=CPH), "Friday 3 April 2026 is a holiday. Pick a working day."),
    (datetime(2026, 3, 17, 8, 0, tzinfo=CPH),
     "08:00 is before business hours start: business hours are 09:00-17:00 (Europe/Copenhagen)."),
    (datetime(2026, 3, 17, 16, 30, tzinfo=CPH),
     "A 60-minute meeting at 16:30 would end at 17:30, after business hours end (17:00 Europe/Copenhagen). "
     "Start it by 16:00."),
    (datetime(2026, 3, 23, 10, 0, tzinfo=CPH),
     "The postmortem of INC-1 is due Fri 20 Mar 2026 17:00 (Europe/Copenhagen); a 60-minute review at "
     "Mon 23 Mar 2026 10:00 (Europe/Copenhagen) would end after that. "
     "Start it by Fri 20 Mar 2026 16:00 (Europe/Copenhagen)."),
    (datetime(2026, 3, 13, 10, 0, tzinfo=CPH), "Fri 13 Mar 2026 10:00 (Europe/Copenhagen) has passed. "
                                               "Pick a time in the future."),
    (datetime(2026, 3, 17, 10, 0), "Pick a date and a time for the review meeting."),  # naive: no zone
])
def test_reschedule_refuses_with_the_reason(session, when, message):
    postmortem = resolve(session, declare(session, "SEV2"))
    with pytest.raises(InvalidInput) as caught:
        postmortems.reschedule(session, POLICY, postmortem, CAROL, when, now=cph(2026, 3, 14, 9))
    assert (caught.value.field, caught.value.message) == ("when", message)
    assert postmortem.meeting_at == cph(2026, 3, 16, 9) and postmortem.meeting_sequence == 0


def test_reschedule(session):
    incident = declare(session, "SEV2")
    postmortem = resolve(session, incident)
    when = datetime(2026, 3, 20, 16, 0, tzinfo=CPH)  # ends exactly at the due moment
    postmortems.reschedule(session, POLICY, postmortem, CAROL, when, now=cph(2026, 3, 14, 10))
    assert (postmortem.meeting_at, postmortem.meeting_confirmed, postmortem.meeting_sequence,
            postmortem.meeting_set_at) == (cph(2026, 3, 20, 16), True, 1, cph(2026, 3, 14, 10))
    moved = timeline.events(session, incident)[-1]
    assert (moved.kind, moved.actor, moved.text) == ("postmortem_rescheduled", CAROL,
                                                     "Postmortem review meeting moved to Fri 20 Mar 2026 16:00 "
                                                     "(Europe/Copenhagen).")
    assert moved.data == {"before": cph(2026, 3, 16, 9).isoformat(), "after": cph(2026, 3, 20, 16).isoformat()}
    with pytest.raises(AlreadyDone, match="already at Fri 20 Mar 2026 16:00"):
        postmortems.reschedule(session, POLICY, postmortem, CAROL, when, now=cph(2026, 3, 14, 11))
    # Overdue: any future time in business hours is better than none.
    postmortems.reschedule(session, POLICY, postmortem, CAROL, datetime(2026, 3, 24, 9, 0, tzinfo=CPH),
                           now=cph(2026, 3, 23, 9))
    assert postmortem.meeting_at == cph(2026, 3, 24, 9) and postmortem.meeting_sequence == 2


def test_reschedule_may_overlap_another_postmortems_meeting(session):
    first = resolve(session, declare(session, "SEV2"))
    second = resolve(session, declare(session, "SEV2"))
    postmortems.reschedule(session, POLICY, second, CAROL, datetime(2026, 3, 16, 9, 0, tzinfo=CPH),
                           now=cph(2026, 3, 14, 10))  # people may choose to overlap
    assert second.meeting_at == first.meeting_at


def test_not_needed_needs_a_reason_and_ends_the_postmortem(session):
    incident = declare(session, "SEV2")
    postmortem = resolve(session, incident)
    for reason in ("", "   ", None):
        with pytest.raises(InvalidInput) as caught:
            postmortems.not_needed(session, postmortem, CAROL, reason)
        assert caught.value.field == "reason" and "Say why no postmortem is needed" in caught.value.message
    with pytest.raises(InvalidInput, match="keep it to 2,900"):
        postmortems.not_needed(session, postmortem, CAROL, "x" * 3000)
    postmortems.not_needed(session, postmortem, CAROL, "  Duplicate of INC-12\x00 ", now=cph(2026, 3, 14, 10))
    assert (postmortem.status, postmortem.not_needed_reason) == ("not_needed", "Duplicate of INC-12")
    recorded = timeline.events(session, incident)[-1]
    assert (recorded.kind, recorded.actor, recorded.text) == (
        "postmortem_not_needed", CAROL, "Postmortem not needed: Duplicate of INC-12")
    with pytest.raises(AlreadyDone, match="already marked not needed: Duplicate of INC-12"):
        postmortems.not_needed(session, postmortem, CAROL, "again")
    with pytest.raises(AlreadyDone) as caught:
        postmortems.confirm_meeting(session, postmortem, CAROL)
    assert str(caught.value) == ("The postmortem of INC-1 was marked not needed (Duplicate of INC-12), "
                                 "so the review meeting cannot change any more.")
    with pytest.raises(DomainError, match="was marked not needed; it cannot be marked in review"):
        postmortems.advance(session, postmortem, "in_review", CAROL)


def test_set_owner(session):
    incident = declare(session, "SEV2")
    postmortem = resolve(session, incident)
    with pytest.raises(InvalidInput, match="Mention the person who should own the postmortem"):
        postmortems.set_owner(session, postmortem, "@carol", ALICE)
    with pytest.raises(AlreadyDone, match="That person already owns the postmortem of INC-1."):
        postmortems.set_owner(session, postmortem, BOB, ALICE)
    postmortems.set_owner(session, postmortem, CAROL, ALICE, now=cph(2026, 3, 14, 10))
    assert postmortem.owner == CAROL
    handed = timeline.events(session, incident)[-1]
    assert (handed.kind, handed.actor, handed.text, handed.data) == (
        "postmortem_owner_changed", ALICE, "Postmortem owner: U0CAROL, taking over from U0BOB.",
        {"before": BOB, "after": CAROL})


# --- draft and status --------------------------------------------------------------------------


def test_status_flow_and_its_refusals(session):
    incident = declare(session, "SEV2")
    postmortem = resolve(session, incident)
    with pytest.raises(DomainError) as caught:
        postmortems.advance(session, postmortem, "in_review", BOB)
    assert str(caught.value) == ("The postmortem of INC-1 has no draft yet. Draft it first (`/incident postmortem`), "
                                 "then mark it in review.")
    with pytest.raises(InvalidInput, match="The draft is empty; nothing was stored."):
        postmortems.record_draft(session, postmortem, markdown="  ", model="offline")

    postmortems.record_draft(session, postmortem, markdown="# INC-1\n", model="offline", now=cph(2026, 3, 14, 10))
    assert (postmortem.status, postmortem.draft_markdown, postmortem.draft_model, postmortem.drafted_at) == (
        "drafted", "# INC-1\n", "offline", cph(2026, 3, 14, 10))
    assert timeline.events(session, incident)[-1].text == "Postmortem drafted (offline)."
    with pytest.raises(DomainError, match="Mark the postmortem of INC-1 in review first"):
        postmortems.advance(session, postmortem, "published", BOB)
    with pytest.raises(DomainError, match="cannot go back to scheduled"):
        postmortems.advance(session, postmortem, "scheduled", BOB)
    with pytest.raises(AlreadyDone, match="already drafted"):
        postmortems.advance(session, postmortem, "drafted", BOB)
    with pytest.raises(InvalidInput, match="There is no postmortem status `done`"):
        postmortems.advance(session, postmortem, "done", BOB)
    with pytest.raises(InvalidInput, match="Use Not needed, with a reason"):
        postmortems.advance(session, postmortem, "not_needed", BOB)

    postmortems.advance(session, postmortem, PostmortemStatus.IN_REVIEW, BOB, now=cph(2026, 3, 16, 10))
    assert postmortem.status == "in_review"
    with pytest.raises(DomainError, match="regenerate the draft instead"):
        postmortems.advance(session, postmortem, "drafted", BOB)
    # A regenerated draft under review stays under review.
    postmortems.record_draft(session, postmortem, markdown="# INC-1 v2\n", model="gpt-4o-mini",
                             now=cph(2026, 3, 16, 11))
    assert (postmortem.status, postmortem.draft_markdown, postmortem.draft_model) == (
        "in_review", "# INC-1 v2\n", "gpt-4o-mini")

    postmortems.advance(session, postmortem, "published", BOB, now=cph(2026, 3, 17, 15))
    assert (postmortem.status, postmortem.published_at) == ("published", cph(2026, 3, 17, 15))
    session.commit()
    kinds = [e.kind for e in timeline.events(session, incident) if e.kind.startswith("postmortem_")]
    assert kinds == ["postmortem_scheduled", "postmortem_drafted", "postmortem_in_review", "postmortem_published"]
    with pytest.raises(AlreadyDone, match="published; the published version is kept"):
        postmortems.record_draft(session, postmortem, markdown="# v3", model="offline")
    with pytest.raises(AlreadyDone, match="already published"):
        postmortems.advance(session, postmortem, "published", BOB)
    with pytest.raises(DomainError, match="already published; it cannot be marked in review"):
        postmortems.advance(session, postmortem, "in_review", BOB)
    with pytest.raises(AlreadyDone, match="already published, so the review meeting cannot change"):
        postmortems.reschedule(session, POLICY, postmortem, BOB, datetime(2026, 3, 18, 10, tzinfo=CPH))
    with pytest.raises(AlreadyDone, match="already published, so it cannot be marked not needed"):
        postmortems.not_needed(session, postmortem, BOB, "too late")


def test_a_not_needed_postmortem_keeps_a_draft_made_later(session):
    postmortem = resolve(session, declare(session, "SEV2"))
    postmortems.not_needed(session, postmortem, CAROL, "Covered by INC-12")
    postmortems.record_draft(session, postmortem, markdown="# draft", model="offline")
    assert (postmortem.status, postmortem.draft_markdown) == ("not_needed", "# draft")


def test_status_labels():
    assert [s.label for s in PostmortemStatus] == ["Scheduled", "Drafted", "In review", "Published", "Not needed"]


# --- participants ------------------------------------------------------------------------------


def test_participants_are_lead_owner_roles_then_the_most_active(session):
    incident = declare(session, "SEV2", lead=BOB, roles_=[("scribe", CAROL), ("comms", DAVE)])
    roles.assign(session, POLICY, incident, "comms", ERIN, ALICE)  # Dave hands comms over to Erin
    postmortem = resolve(session, incident)
    postmortems.set_owner(session, postmortem, ALICE, BOB)
    found = postmortems.participants(session, POLICY, incident, most_active=[CAROL, "U0FRANK", BOB, "U0GINA"])
    assert found == [BOB, ALICE, ERIN, CAROL, DAVE, "U0FRANK", "U0GINA"]
    assert postmortems.participants(session, POLICY, declare(session, "SEV3", lead=None), most_active=[]) == []


# --- reminders ---------------------------------------------------------------------------------


def sweep(engine, now, policy=POLICY) -> list[tuple[str, datetime]]:
    """What a worker does: claim and commit, "post", mark sent and commit."""
    sent = []
    with Session(engine) as session:
        for reminder in postmortem_reminders.due_reminders(session, policy, now):
            claimed = postmortem_reminders.claim_reminder(session, reminder, now)
            session.commit()
            if claimed is not None:
                postmortem_reminders.mark_reminder_sent(session, claimed, channel_id="C0INC", message_ts="1.0", now=now)
                session.commit()
                sent.append((reminder.kind, now))
    return sent


def run_worker(engine, start, end, step=timedelta(minutes=30), policy=POLICY):
    """Sweeps every ``step`` on the clock (:00, :30) from ``start`` to ``end``."""
    sent = []
    now = start + (datetime.min.replace(tzinfo=UTC) - start) % step
    while now <= end:
        sent += sweep(engine, now, policy)
        now += step
    return sent


def test_each_reminder_is_sent_once_at_its_time(engine):
    with Session(engine, expire_on_commit=False) as session:
        postmortem = resolve(session, declare(session, "SEV2"))
    sent = run_worker(engine, FRIDAY_EVENING, cph(2026, 3, 27, 17))
    assert sent == [
        ("meeting_24h", cph(2026, 3, 15, 9)),  # Sunday: meeting times are exact
        ("meeting_1h", cph(2026, 3, 16, 8)),
        ("draft_not_started", cph(2026, 3, 18, 9)),  # 2 business days before the due Friday
        ("overdue_owner", cph(2026, 3, 23, 9)),  # due Friday 17:00; the next business morning
        ("overdue_channel", cph(2026, 3, 24, 9)),  # a business day later
    ]
    with Session(engine) as session:
        rows = session.exec(select(Notification).order_by(Notification.id)).all()
        assert [(r.kind, r.incident_id, r.sent_at is not None) for r in rows] == [
            ("postmortem:meeting_24h", postmortem.incident_id, True),
            ("postmortem:meeting_1h", postmortem.incident_id, True),
            ("postmortem:draft_not_started", postmortem.incident_id, True),
            ("postmortem:overdue_owner", postmortem.incident_id, True),
            ("postmortem:overdue_channel", postmortem.incident_id, True),
        ]
        assert rows[0].key == f"postmortem:meeting_24h:{postmortem.id}:{cph(2026, 3, 16, 9).isoformat()}"
        assert rows[3].key == f"postmortem:overdue_owner:{postmortem.id}:{cph(2026, 3, 20, 17).isoformat()}"


def test_reminders_due_while_the_worker_was_down_are_sent_once(engine):
    with Session(engine, expire_on_commit=False) as session:
        resolve(session, declare(session, "SEV2"))
    # Down from Friday evening until Tuesday 24 March at noon: the draft reminder's window has
    # passed (the postmortem is overdue now); both overdue reminders go, once.
    back = cph(2026, 3, 24, 12)
    assert sweep(engine, back) == [("overdue_owner", back), ("overdue_channel", back)]
    assert run_worker(engine, back, cph(2026, 3, 31, 12)) == []


def test_a_draft_silences_the_draft_reminder_and_publishing_silences_everything(engine):
    with Session(engine, expire_on_commit=False) as session:
        postmortem = resolve(session, declare(session, "SEV2"))
        postmortems.record_draft(session, postmortem, markdown="# draft", model="offline", now=FRIDAY_EVENING)
        session.commit()
    assert [k for k, _ in run_worker(engine, FRIDAY_EVENING, cph(2026, 3, 18, 12))] == ["meeting_24h", "meeting_1h"]
    with Session(engine) as session:
        mine = session.get(Postmortem, postmortem.id)
        postmortems.advance(session, mine, "in_review", BOB)
        postmortems.advance(session, mine, "published", BOB)
        session.commit()
    assert run_worker(engine, cph(2026, 3, 18, 12), cph(2026, 3, 31, 12)) == []


def test_not_needed_and_reminders_off_send_nothing(engine):
    with Session(engine, expire_on_commit=False) as session:
        postmortem = resolve(session, declare(session, "SEV2"))
    off = parse_policy(POLICY_TOML + "[postmortems]\nreminders = false\n")
    assert run_worker(engine, FRIDAY_EVENING, cph(2026, 3, 31, 12), step=timedelta(hours=2), policy=off) == []
    with Session(engine) as session:
        postmortems.not_needed(session, session.get(Postmortem, postmortem.id), BOB, "Test incident")
        session.commit()
    assert run_worker(engine, FRIDAY_EVENING, cph(2026, 3, 31, 12), step=timedelta(hours=2)) == []


def test_a_rescheduled_meeting_gets_its_own_reminders(engine):
    with Session(engine, expire_on_commit=False) as session:
        postmortem = resolve(session, declare(session, "SEV2"))
    assert run_worker(engine, FRIDAY_EVENING, cph(2026, 3, 15, 12)) == [("meeting_24h", cph(2026, 3, 15, 9))]
    with Session(engine) as session:
        postmortems.reschedule(session, POLICY, session.get(Postmortem, postmortem.id), BOB,
                               datetime(2026, 3, 17, 14, 0, tzinfo=CPH), now=cph(2026, 3, 15, 12))
        session.commit()
    sent = run_worker(engine, cph(2026, 3, 15, 12), cph(2026, 3, 18, 8))
    assert sent == [("meeting_24h", cph(2026, 3, 16, 14)), ("meeting_1h", cph(2026, 3, 17, 13))]


def test_no_meeting_reminder_right_after_the_meeting_was_set(engine):
    # Resolved Wednesday 25 March 12:00: meeting Thursday 12:00 (24 hours' notice on the dot).
    # Its 24-hour reminder would fall at the very moment of the proposal: not sent.
    resolved = cph(2026, 3, 25, 12)
    with Session(engine, expire_on_commit=False) as session:
        postmortem = resolve(session, declare(session, "SEV2", when=resolved - timedelta(hours=1)), when=resolved)
    assert postmortem.meeting_at == cph(2026, 3, 26, 12)
    assert run_worker(engine, resolved, cph(2026, 3, 26, 12)) == [("meeting_1h", cph(2026, 3, 26, 11))]


def test_reminder_times_across_dst_and_holidays(engine):
    # SEV2 resolved Wednesday 25 March (CET): due Wednesday 1 April 17:00 CEST (15:00 UTC).
    resolved = cph(2026, 3, 25, 12)
    with Session(engine, expire_on_commit=False) as session:
        postmortem = resolve(session, declare(session, "SEV2", when=resolved - timedelta(hours=1)), when=resolved)
        assert postmortem.due_at == datetime(2026, 4, 1, 15, 0, tzinfo=UTC)
        times = postmortem_reminders.reminder_times(POLICY, postmortem)
    # The draft reminder on Monday 30 March 09:00 CEST: 07:00 UTC, an hour earlier than the week before.
    assert times["draft_not_started"] == (datetime(2026, 3, 30, 7, 0, tzinfo=UTC), postmortem.due_at)
    # Overdue: Thursday 2, Friday 3 and Monday 6 April are holidays: Tuesday 7 April 09:00 CEST.
    assert times["overdue_owner"] == (datetime(2026, 4, 7, 7, 0, tzinfo=UTC), None)
    assert times["overdue_channel"] == (datetime(2026, 4, 8, 7, 0, tzinfo=UTC), None)
    sent = run_worker(engine, resolved, cph(2026, 4, 9, 12))
    assert [(k, at.astimezone(CPH).strftime("%a %d %H:%M %Z")) for k, at in sent] == [
        ("meeting_1h", "Thu 26 11:00 CET"),
        ("draft_not_started", "Mon 30 09:00 CEST"),
        ("overdue_owner", "Tue 07 09:00 CEST"),
        ("overdue_channel", "Wed 08 09:00 CEST"),
    ]


def test_meeting_reminders_are_exact_hours_across_the_autumn_change(session):
    resolved = cph(2026, 10, 23, 12)  # Friday; clocks go back early on Sunday 25 October
    postmortem = resolve(session, declare(session, "SEV2", when=resolved - timedelta(hours=1)), when=resolved)
    assert postmortem.meeting_at == cph(2026, 10, 26, 9) == datetime(2026, 10, 26, 8, tzinfo=UTC)
    times = postmortem_reminders.reminder_times(POLICY, postmortem)
    # 24 real hours before Monday 09:00 CET is Sunday 09:00 CET (08:00 UTC).
    assert times["meeting_24h"][0] == datetime(2026, 10, 25, 8, tzinfo=UTC)
    assert times["meeting_1h"] == (datetime(2026, 10, 26, 7, tzinfo=UTC), postmortem.meeting_at)


def test_claim_is_exactly_once_across_sessions(engine):
    with Session(engine) as session:
        resolve(session, declare(session, "SEV2"))
    now = cph(2026, 3, 23, 9)
    with Session(engine) as one, Session(engine) as two:
        [owner_one] = [r for r in postmortem_reminders.due_reminders(one, POLICY, now) if r.kind == "overdue_owner"]
        [owner_two] = [r for r in postmortem_reminders.due_reminders(two, POLICY, now) if r.kind == "overdue_owner"]
        assert owner_one == owner_two and isinstance(owner_one, DueReminder)
        claimed = postmortem_reminders.claim_reminder(one, owner_one, now)
        one.commit()
        assert postmortem_reminders.claim_reminder(two, owner_two, now) is None
        two.commit()
        postmortem_reminders.mark_reminder_sent(one, claimed, channel_id="D0BOB", message_ts="7.1", now=now)
        one.commit()
    with Session(engine) as session:
        assert [r.kind for r in postmortem_reminders.due_reminders(session, POLICY, now)] == []
        [row] = session.exec(select(Notification).where(Notification.key == owner_one.key)).all()
        assert (row.kind, row.sent_at, row.channel_id, row.message_ts) == (
            "postmortem:overdue_owner", now, "D0BOB", "7.1")


def test_two_workers_racing_for_one_reminder(engine):
    with Session(engine) as session:
        resolve(session, declare(session, "SEV2"))
        [reminder] = [r for r in postmortem_reminders.due_reminders(session, POLICY, cph(2026, 3, 23, 9))
                      if r.kind == "overdue_owner"]
    start = threading.Barrier(2)
    results: list[bool] = []

    def worker():
        with Session(engine) as session:
            start.wait()
            claimed = postmortem_reminders.claim_reminder(session, reminder, cph(2026, 3, 23, 9))
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


def test_release_and_abandoned_claims(engine):
    now = cph(2026, 3, 23, 9)
    with Session(engine) as session:
        resolve(session, declare(session, "SEV2"))
        [reminder] = [r for r in postmortem_reminders.due_reminders(session, POLICY, now) if r.kind == "overdue_owner"]
        claimed = postmortem_reminders.claim_reminder(session, reminder, now)
        session.commit()
        assert reminder not in postmortem_reminders.due_reminders(session, POLICY, now + timedelta(minutes=1))
        postmortem_reminders.release_reminder(session, claimed)  # Slack refused: try again next sweep
        session.commit()
        assert reminder in postmortem_reminders.due_reminders(session, POLICY, now + timedelta(minutes=1))
        postmortem_reminders.claim_reminder(session, reminder, now + timedelta(minutes=1))
        session.commit()  # ... and this worker dies before posting
    with Session(engine) as session:
        assert reminder not in postmortem_reminders.due_reminders(session, POLICY, now + timedelta(minutes=10))
        assert reminder in postmortem_reminders.due_reminders(session, POLICY, now + timedelta(minutes=11))
        taken = postmortem_reminders.claim_reminder(session, reminder, now + timedelta(minutes=11))
        session.commit()
        assert taken is not None and taken.claimed_at == now + timedelta(minutes=11)
        postmortem_reminders.mark_reminder_sent(session, taken, channel_id="D0BOB", message_ts="1.0", now=now)
        with pytest.raises(ValueError, match="send it twice"):
            postmortem_reminders.release_reminder(session, taken)


def test_due_reminders_needs_the_same_queries_for_any_number(engine):
    def statements(n):
        with Session(engine) as session:
            for _ in range(n):
                resolve(session, declare(session, "SEV2"))
            seen = []
            listener = lambda *args: seen.append(args[2])  # noqa: E731
            event.listen(engine, "before_cursor_execute", listener)
            try:
                assert len(postmortem_reminders.due_reminders(session, POLICY, cph(2026, 3, 24, 9))) >= n
            finally:
                event.remove(engine, "before_cursor_execute", listener)
            return len(seen)

    assert statements(1) == statements(5) == 2


# --- overdue, for the digest -------------------------------------------------------------------


def test_overdue_lists_postmortems_past_due_most_overdue_first(session):
    sev1 = resolve(session, declare(session, "SEV1"))  # due Monday 16 March
    sev2 = resolve(session, declare(session, "SEV2"))  # due Friday 20 March
    done = resolve(session, declare(session, "SEV2"))
    skipped = resolve(session, declare(session, "SEV2"))
    postmortems.record_draft(session, done, markdown="#", model="offline")
    postmortems.advance(session, done, "in_review", BOB)
    postmortems.advance(session, done, "published", BOB)
    postmortems.not_needed(session, skipped, BOB, "Duplicate")
    session.commit()
    assert postmortem_reminders.overdue(session, POLICY, cph(2026, 3, 16, 16, 59)) == []
    assert postmortem_reminders.overdue(session, POLICY, cph(2026, 3, 16, 17)) == [sev1]
    assert postmortem_reminders.overdue(session, POLICY, cph(2026, 3, 23, 9)) == [sev1, sev2]


# --- the schema ------------------------------------------------------------------------------


def test_migrations_create_the_metrics_indexes_and_the_planner_uses_them(database_url):
    """The expression index on incident is created by the migration on both databases
    (SQLite cannot reflect it, so the drift test cannot see it there)."""
    db.migrate(database_url)
    engine = db.make_engine(database_url)
    query = text("SELECT id FROM incident WHERE coalesce(mitigated_at, resolved_at) >= :since")
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                names = {row[0] for row in connection.execute(
                    text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'incident'"))}
                plan = " ".join(str(row[-1]) for row in connection.execute(
                    text("EXPLAIN QUERY PLAN " + str(query)), {"since": "2026-01-01"}))
            else:
                names = {row[0] for row in connection.execute(
                    text("SELECT indexname FROM pg_indexes WHERE tablename = 'incident'"))}
                connection.execute(text("SET enable_seqscan = off"))
                plan = " ".join(row[0] for row in connection.execute(
                    text("EXPLAIN " + str(query)), {"since": datetime(2026, 1, 1, tzinfo=UTC)}))
            assert {"ix_incident_declared_at", "ix_incident_impact_end"} <= names
            assert "ix_incident_impact_end" in plan
        assert {"postmortem"} <= set(inspect(engine).get_table_names())
        unique = [u["column_names"] for u in inspect(engine).get_unique_constraints("postmortem")]
        assert ["incident_id"] in unique
    finally:
        engine.dispose()

"""The database side of tracker export: what is due, claims, backoff, status mapping."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import Session

from incidentbot.core import action_items, incidents, tracker_exports
from incidentbot.core.action_items import NewActionItem
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy
from incidentbot.core.tracker_exports import (
    BACKOFF_MAX, CLAIM_LEASE, SYNC_EVERY, RemoteStatus, backoff, github_status, jira_status, next_attempt_delay,
    sync_target,
)
from incidentbot.models import ActionItem

POLICY = load_policy()
T = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
M = timedelta(minutes=1)


def make_item(session, title="Add an alert on replica lag", *, private=False, **spec) -> ActionItem:
    incident, _ = incidents.declare(session, POLICY, Declaration(
        title="Checkout failing", severity="SEV2", declared_by="U0ALICE", private=private))
    created = action_items.create(session, POLICY, incident, NewActionItem(title=title, **spec), actor="U0ALICE",
                                  now=T - timedelta(hours=1))
    session.commit()
    return created.item


# --- pure ------------------------------------------------------------------------------


def test_backoff_doubles_from_a_minute_up_to_six_hours():
    assert [backoff(n) for n in range(1, 6)] == [M, 2 * M, 4 * M, 8 * M, 16 * M]
    assert backoff(9) == 256 * M and backoff(10) == BACKOFF_MAX and backoff(1000) == BACKOFF_MAX
    assert backoff(0) == M


def test_next_attempt_delay():
    assert next_attempt_delay(3, permanent=False) == 4 * M
    assert next_attempt_delay(1, permanent=True) == BACKOFF_MAX
    assert next_attempt_delay(1, permanent=False, retry_after=600) == 10 * M  # the tracker's wait wins …
    assert next_attempt_delay(5, permanent=False, retry_after=5) == 16 * M  # … unless ours is longer
    assert next_attempt_delay(1, permanent=False, retry_after=86400) == BACKOFF_MAX  # capped
    assert next_attempt_delay(1, permanent=False, syncing=True) == SYNC_EVERY


@pytest.mark.parametrize("state, reason, expected", [
    ("open", None, RemoteStatus("open", "open")),
    ("open", "reopened", RemoteStatus("open", "open")),
    ("closed", "completed", RemoteStatus("done", "closed (completed)")),
    ("closed", None, RemoteStatus("done", "closed (completed)")),
    ("closed", "not_planned", RemoteStatus("wont_do", "closed (not planned)", "closed as not planned in GitHub")),
    ("closed", "duplicate", RemoteStatus("wont_do", "closed (duplicate)", "closed as a duplicate in GitHub")),
])
def test_github_status(state, reason, expected):
    assert github_status(state, reason) == expected


@pytest.mark.parametrize("category, name, resolution, expected", [
    ("new", "To Do", None, RemoteStatus("open", "To Do")),
    ("indeterminate", "In Review", None, RemoteStatus("in_progress", "In Review")),
    ("done", "Done", "Done", RemoteStatus("done", "Done")),
    ("done", "Closed", "Fixed", RemoteStatus("done", "Closed (Fixed)")),
    ("done", "Done", "Won't Fix", RemoteStatus("wont_do", "Done (Won't Fix)", "resolved as Won't Fix in Jira")),
    ("done", "Done", "Won\u2019t Do",
     RemoteStatus("wont_do", "Done (Won\u2019t Do)", "resolved as Won\u2019t Do in Jira")),
    ("done", "Rejected", "Declined", RemoteStatus("wont_do", "Rejected (Declined)", "resolved as Declined in Jira")),
    ("done", "Done", None, RemoteStatus("done", "Done")),
])
def test_jira_status(category, name, resolution, expected):
    assert jira_status(category, name, resolution) == expected


@pytest.mark.parametrize("current, remote, expected", [
    ("open", "done", ("done", None)),
    ("in_progress", "wont_do", ("wont_do", "why")),
    ("open", "in_progress", ("in_progress", None)),
    ("in_progress", "open", None),  # never backwards
    ("open", "open", None),
    ("done", "open", None),  # finished here: not reopened
    ("wont_do", "done", None),
])
def test_sync_target_only_moves_forward(current, remote, expected):
    assert sync_target(current, RemoteStatus(remote, remote, "why" if remote == "wont_do" else None)) == expected


# --- the database ----------------------------------------------------------------------


def test_new_items_are_due_at_once_and_private_or_finished_ones_never(session):
    new = make_item(session)
    make_item(session, "Rotate the leaked key", private=True)
    finished = make_item(session, "Fix the retry storm")
    action_items.set_status(session, finished, "done", actor="U0BOB", now=T)
    session.commit()
    assert [i.id for i in tracker_exports.due_for_export(session, now=T)] == [new.id]


def test_a_claim_is_taken_once(engine):
    with Session(engine) as one, Session(engine) as two:
        make_item(one)
        [seen_by_one] = tracker_exports.due_for_export(one, now=T)
        [seen_by_two] = tracker_exports.due_for_export(two, now=T)
        claim = tracker_exports.claim_export(one, seen_by_one, now=T)
        one.commit()
        assert claim.attempt == 1 and claim.external_key is None
        assert tracker_exports.claim_export(two, seen_by_two, now=T) is None
        two.commit()
    with Session(engine) as session:
        stored = session.get(ActionItem, claim.item_id)
        assert stored.export_attempts == 1 and stored.export_next_at == T + CLAIM_LEASE
        assert tracker_exports.due_for_export(session, now=T + M) == []
        # The lease runs out (the worker died): due again, for attempt 2.
        [again] = tracker_exports.due_for_export(session, now=T + CLAIM_LEASE)
        assert tracker_exports.claim_export(session, again, now=T + CLAIM_LEASE).attempt == 2


def test_a_claim_waits_for_a_concurrent_one_and_then_loses(engine):
    with Session(engine) as setup:
        make_item(setup)
    with Session(engine) as one, Session(engine) as two:
        [seen_by_one] = tracker_exports.due_for_export(one, now=T)
        [seen_by_two] = tracker_exports.due_for_export(two, now=T)
        one.expunge_all(), two.expunge_all()
        claims = {}
        claims["one"] = tracker_exports.claim_export(one, seen_by_one, now=T)  # row locked, not committed
        worker = threading.Thread(target=lambda: claims.update(two=_claim_and_commit(two, seen_by_two)))
        worker.start()
        worker.join(0.3)  # PostgreSQL: blocked on the row lock; SQLite: waiting for the write lock
        one.commit()
        worker.join(60)
    assert claims["one"] is not None and claims["two"] is None


def _claim_and_commit(session, item):
    claim = tracker_exports.claim_export(session, item, now=T)
    session.commit()
    return claim


def test_failures_back_off_and_a_success_resets(session):
    item = make_item(session)
    for attempt, wait in ((1, M), (2, 2 * M), (3, 4 * M)):
        [due] = tracker_exports.due_for_export(session, now=item.export_next_at or T)
        now = due.export_next_at or T
        claim = tracker_exports.claim_export(session, due, now=now)
        assert claim.attempt == attempt
        tracker_exports.record_failure(session, claim, "GitHub answered 503", permanent=False, now=now)
        session.commit()
        assert (item.export_next_at, item.export_error) == (now + wait, "GitHub answered 503")
    now = item.export_next_at
    claim = tracker_exports.claim_export(session, item, now=now)
    linked = tracker_exports.record_exported(session, claim, system="github", key="a/b#1", url="https://x/1", now=now)
    session.commit()
    assert (linked.export_attempts, linked.export_error, linked.export_next_at) == (0, None, now + SYNC_EVERY)
    assert tracker_exports.due_for_export(session, now=now + timedelta(days=1)) == []
    assert [i.id for i in tracker_exports.due_for_sync(session, "github", now=now + SYNC_EVERY)] == [item.id]
    assert tracker_exports.due_for_sync(session, "jira", now=now + SYNC_EVERY) == []


def test_an_error_is_kept_short_for_people_to_read(session):
    item = make_item(session)
    claim = tracker_exports.claim_export(session, item, now=T)
    tracker_exports.record_failure(session, claim, "x\n" * 1000, permanent=True, now=T)
    assert len(item.export_error) == 500 and item.export_next_at == T + BACKOFF_MAX


def test_record_exported_never_overwrites_a_link(session):
    item = make_item(session)
    claim = tracker_exports.claim_export(session, item, now=T)
    tracker_exports.record_exported(session, claim, system="github", key="a/b#1", url="u1", now=T)
    assert tracker_exports.record_exported(session, claim, system="github", key="a/b#2", url="u2", now=T) is None
    assert item.external_key == "a/b#1"


def test_record_synced_finishes_the_item_through_set_status(session):
    item = make_item(session)
    claim = tracker_exports.claim_export(session, item, now=T)
    tracker_exports.record_exported(session, claim, system="jira", key="OPS-1", url="u", now=T)
    session.commit()
    later = T + SYNC_EVERY
    claim = tracker_exports.claim_sync(session, item, now=later)
    synced = tracker_exports.record_synced(session, claim, RemoteStatus("done", "Done"), now=later)
    session.commit()
    assert synced.changed_to == "done" and item.status == "done" and item.completed_at == later
    assert item.export_next_at is None and item.external_status == "Done"
    assert tracker_exports.due_for_sync(session, "jira", now=later + timedelta(days=1)) == []


def test_describe_has_everything_the_issue_says(session):
    item = make_item(session, description="Page on lag", owner="U0BOB", due=date(2026, 11, 27), priority="P1",
                     type="detective", source_link="https://acme.slack.com/archives/C1/p1")
    spec = tracker_exports.describe(session, POLICY, item.id)
    assert (spec.reference, spec.title, spec.description, spec.owner) == (
        f"AI-{item.id}", "Add an alert on replica lag", "Page on lag", "U0BOB")
    assert (spec.due, spec.priority, spec.type) == (date(2026, 11, 27), "P1", "detective")
    assert (spec.incident_reference, spec.incident_title) == ("INC-1", "Checkout failing")
    assert spec.backlog_reference == f"BL-{item.backlog_item_id}" and spec.backlog_title
    assert spec.source_link == "https://acme.slack.com/archives/C1/p1"



def test_describe_redacts_what_people_typed(session):
    # The issue leaves the workspace: a key pasted into a title or a description must not.
    key = "AKIAIOSFODNN7EXAMPLE"
    item = make_item(session, f"Rotate {key} and tell ops@acme.example", description=f"{key} was in the logs")
    spec = tracker_exports.describe(session, POLICY, item.id)
    assert spec.title == "Rotate <SECRET_1> and tell <EMAIL_2>"
    assert spec.description == "<SECRET_1> was in the logs"
    assert key not in (spec.backlog_title or "") and spec.incident_title == "Checkout failing"

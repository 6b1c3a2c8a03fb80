"""The tracker sweep on both databases, against the fake trackers: export once, retry with
backoff, never raise, read statuses back into our items."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlmodel import Session, select

from incidentbot import db, worker
from incidentbot.core import action_items, incidents
from incidentbot.core.action_items import NewActionItem
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy
from incidentbot.core.tracker_exports import BACKOFF_MAX, CLAIM_LEASE, SYNC_EVERY
from incidentbot.errors import ConfigError
from incidentbot.models import ActionItem, BacklogItem, TimelineEvent
from incidentbot.settings import load_settings
from incidentbot.slack.deps import Deps
from incidentbot.trackers import sync
from incidentbot.trackers.github import GitHubTracker

POLICY = load_policy()
T = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)  # a Monday


def make_items(engine, *titles: str, private: bool = False, number: int = 1) -> list[int]:
    with Session(engine) as session:
        incident, _ = incidents.declare(session, POLICY, Declaration(
            title=f"Checkout failing {number}", severity="SEV2", declared_by="U0ALICE", private=private))
        ids = []
        for title in titles:
            created = action_items.create(session, POLICY, incident, NewActionItem(title=title, owner="U0BOB"),
                                          actor="U0ALICE", now=T - timedelta(hours=1))
            ids.append(created.item.id)
        session.commit()
    return ids


def item(engine, item_id: int) -> ActionItem:
    with Session(engine) as session:
        return session.get(ActionItem, item_id)


def test_a_new_item_is_exported_at_once_and_linked(engine, github, github_client):
    [item_id] = make_items(engine, "Add an alert on replica lag")

    result = sync.export_pending(engine, POLICY, github_client, now=T)

    assert (result.exported, result.failed, result.stopped) == (1, 0, None)
    stored = item(engine, item_id)
    assert (stored.external_system, stored.external_key) == ("github", "acme/reliability#1")
    assert stored.external_url == github.issue(1)["html_url"] and stored.external_status == "open"
    assert (stored.export_attempts, stored.export_error) == (0, None)
    assert stored.synced_at == T and stored.export_next_at == T + SYNC_EVERY
    issue = github.issue(1)
    assert issue["title"] == "Add an alert on replica lag" and "INC-1" in issue["body"]
    assert f"AI-{item_id}" in issue["body"] and f"<!-- incidentbot-action-item-{item_id} -->" in issue["body"]
    # Exported once: the next sweeps only read its status when that is due.
    assert sync.export_pending(engine, POLICY, github_client, now=T + timedelta(minutes=1)).exported == 0
    assert len(github.calls_to("POST", "/issues$")) == 1


def test_two_concurrent_exporters_create_each_issue_exactly_once(engine, github, github_client):
    ids = make_items(engine, *(f"Fix thing number {n}" for n in range(5)))
    for _ in range(5):
        github.slow(0.1, method="POST")  # keep the first exporter busy while the others look
    start = threading.Barrier(4)
    results, errors = [], []

    def exporter():
        try:
            with GitHubTracker(token=github.token, repository=github.repository, api_url=github.url,
                               trust_env=False) as client:
                start.wait()
                results.append(sync.export_pending(engine, POLICY, client, now=T))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=exporter) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(r.exported for r in results) == 5 and sum(r.failed for r in results) == 0
    assert len(github.all_issues()) == 5 and len(github.calls_to("POST", "/issues$")) == 5
    keys = {item(engine, i).external_key for i in ids}
    assert keys == {f"acme/reliability#{n}" for n in range(1, 6)}


def test_the_sweep_holds_the_lock_so_a_second_worker_waits_its_turn(engine, github, github_client):
    make_items(engine, "Add an alert on replica lag")
    with db.sweep_lock(engine, "trackers") as mine:
        assert mine
        skipped = sync.sweep(engine, POLICY, github_client, now=T)
    expected = 0 if engine.dialect.name == "postgresql" else 1  # SQLite: one host, no lock
    assert skipped.exported == expected
    assert sync.sweep(engine, POLICY, github_client, now=T).exported == 1 - expected


def test_a_tracker_that_is_down_blocks_nothing_and_the_item_is_retried_with_backoff(engine, github, github_client):
    [item_id] = make_items(engine, "Add an alert on replica lag")
    github.go_down()

    result = sync.sweep(engine, POLICY, github_client, now=T)  # does not raise

    assert (result.exported, result.failed) == (0, 1) and result.stopped.startswith("cannot reach GitHub")
    stored = item(engine, item_id)
    assert stored.external_key is None and stored.export_attempts == 1
    assert stored.export_error.startswith("cannot reach GitHub") and stored.export_next_at == T + timedelta(minutes=1)
    # Not before the backoff is over …
    assert sync.sweep(engine, POLICY, github_client, now=T + timedelta(seconds=30)).failed == 0
    # … then again, waiting twice as long after a second failure.
    second = T + timedelta(minutes=1)
    assert sync.sweep(engine, POLICY, github_client, now=second).failed == 1
    assert item(engine, item_id).export_next_at == second + timedelta(minutes=2)

    github.come_back()
    result = sync.sweep(engine, POLICY, github_client, now=second + timedelta(minutes=2))

    assert result.exported == 1
    stored = item(engine, item_id)
    assert stored.external_key == "acme/reliability#1" and stored.export_error is None and stored.export_attempts == 0
    assert len(github.all_issues()) == 1


def test_a_failing_tracker_is_called_once_per_sweep_not_once_per_item(engine, github, github_client):
    first, second = make_items(engine, "Fix the retry storm", "Add an alert on replica lag")
    github.fail_next(503, method="POST")

    result = sync.sweep(engine, POLICY, github_client, now=T)

    assert (result.exported, result.failed) == (0, 1) and "503" in result.stopped
    assert len(github.calls) == 1
    assert item(engine, first).export_attempts == 1 and item(engine, second).export_attempts == 0
    # The next sweep goes on with the item that was not tried.
    assert sync.sweep(engine, POLICY, github_client, now=T + timedelta(seconds=30)).exported == 1
    assert item(engine, second).external_key == "acme/reliability#1"


def test_rate_limited_exports_wait_as_long_as_github_asked(engine, github, github_client):
    [item_id] = make_items(engine, "Add an alert on replica lag")
    github.rate_limit(retry_after=600)
    sync.sweep(engine, POLICY, github_client, now=T)
    assert item(engine, item_id).export_next_at == T + timedelta(minutes=10)
    # Nothing is sent to GitHub before then, not even for other items.
    make_items(engine, "Fix the retry storm", number=2)
    waiting = sync.sweep(engine, POLICY, github_client, now=T + timedelta(minutes=5))
    assert waiting.stopped.startswith("GitHub asked us to wait") and len(github.calls) == 1
    assert sync.sweep(engine, POLICY, github_client, now=T + timedelta(minutes=10)).exported == 2


def test_an_answer_lost_after_creating_does_not_make_a_second_issue(engine, github, github_client,
                                                                    impatient_github_client):
    [item_id] = make_items(engine, "Add an alert on replica lag")
    github.lose_next_create(2.0)
    lost = sync.sweep(engine, POLICY, impatient_github_client, now=T)
    assert lost.failed == 1 and "did not answer" in item(engine, item_id).export_error
    assert len(github.all_issues()) == 1  # created, but we never heard

    retried = sync.sweep(engine, POLICY, github_client, now=T + timedelta(minutes=1))

    assert retried.exported == 1
    assert item(engine, item_id).external_key == "acme/reliability#1"
    assert len(github.all_issues()) == 1 and len(github.calls_to("POST", "/issues$")) == 1


def test_a_worker_that_died_mid_export_leaves_a_claim_that_expires(engine, github, github_client):
    [item_id] = make_items(engine, "Add an alert on replica lag")

    class Dies:
        system = "github"

        def find(self, spec):
            return None

        def create(self, spec):
            github_client.create(spec)  # the issue is made …
            raise KeyboardInterrupt  # … and the worker is gone before recording it

    with pytest.raises(KeyboardInterrupt):
        sync.export_pending(engine, POLICY, Dies(), now=T)
    assert item(engine, item_id).export_next_at == T + CLAIM_LEASE
    assert sync.export_pending(engine, POLICY, github_client, now=T + timedelta(minutes=1)).exported == 0

    assert sync.export_pending(engine, POLICY, github_client, now=T + CLAIM_LEASE).exported == 1
    assert item(engine, item_id).external_key == "acme/reliability#1" and len(github.all_issues()) == 1


def test_bad_credentials_are_recorded_and_not_retried_hot(engine, github):
    [item_id] = make_items(engine, "Add an alert on replica lag")
    with GitHubTracker(token="ghp_wrong", repository=github.repository, api_url=github.url,
                       trust_env=False) as client:
        result = sync.sweep(engine, POLICY, client, now=T)
        assert result.failed == 1
        stored = item(engine, item_id)
        assert stored.export_error == "GitHub answered 401: Bad credentials" and "ghp_wrong" not in stored.export_error
        assert stored.export_next_at == T + BACKOFF_MAX
        assert sync.sweep(engine, POLICY, client, now=T + timedelta(hours=1)).failed == 0


def test_an_item_github_refuses_does_not_hold_up_the_others(engine, github, github_client):
    bad, good = make_items(engine, "Fix it", "Add an alert on replica lag")
    github.fail_next(422, method="POST")
    result = sync.sweep(engine, POLICY, github_client, now=T)
    assert (result.exported, result.failed, result.stopped) == (1, 1, None)
    assert item(engine, bad).export_next_at == T + BACKOFF_MAX and item(engine, good).external_key is not None


def test_an_unexpected_error_is_recorded_and_never_raised(engine, github_client):
    [item_id] = make_items(engine, "Add an alert on replica lag")

    class Broken:
        system = "github"

        def create(self, spec):
            raise RuntimeError("surprise")

    result = sync.sweep(engine, POLICY, Broken(), now=T)
    assert result.failed == 1 and item(engine, item_id).export_error == "RuntimeError: surprise"


def test_a_database_that_is_down_is_logged_not_raised(tmp_path, github_client, caplog):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    result = sync.sweep(engine, POLICY, github_client, now=T)
    assert result.exported == 0 and "OperationalError" in result.stopped
    assert "trackers: sweep failed" in caplog.text


def test_items_of_private_incidents_are_not_exported(engine, github, github_client):
    make_items(engine, "Rotate the leaked key", private=True)
    assert sync.sweep(engine, POLICY, github_client, now=T).exported == 0 and github.calls == []


def test_closing_the_issue_finishes_our_item(engine, github, github_client):
    [item_id] = make_items(engine, "Add an alert on replica lag")
    sync.export_pending(engine, POLICY, github_client, now=T)
    github.close_issue(1, "completed")

    early = sync.sync_statuses(engine, github_client, now=T + timedelta(minutes=10))
    assert early.synced == 0 and github.calls_to("GET", "/issues/1$") == []  # not due yet

    later = T + SYNC_EVERY
    result = sync.sync_statuses(engine, github_client, now=later)

    assert (result.synced, result.changed) == (1, 1)
    with Session(engine) as session:
        stored = session.get(ActionItem, item_id)
        assert stored.status == "done" and stored.completed_at == later
        assert stored.external_status == "closed (completed)" and stored.synced_at == later
        assert stored.export_next_at is None
        event = session.exec(select(TimelineEvent).where(TimelineEvent.kind == "action_item_status")).one()
        assert event.occurred_at == later and event.data == {"action_item_id": item_id, "status": "done"}
        assert session.get(BacklogItem, stored.backlog_item_id).status == "done"
    # Finished items are not read back any more.
    assert sync.sync_statuses(engine, github_client, now=later + timedelta(days=1)).synced == 0
    assert len(github.calls_to("GET", "/issues/1$")) == 1


def test_closed_as_not_planned_is_wont_do_with_the_reason(engine, github, github_client):
    [item_id] = make_items(engine, "Add an alert on replica lag")
    sync.export_pending(engine, POLICY, github_client, now=T)
    github.close_issue(1, "not_planned")
    sync.sweep(engine, POLICY, github_client, now=T + SYNC_EVERY)
    stored = item(engine, item_id)
    assert (stored.status, stored.wont_do_reason) == ("wont_do", "closed as not planned in GitHub")


def test_an_open_issue_is_read_again_after_the_sync_period(engine, github, github_client):
    [item_id] = make_items(engine, "Add an alert on replica lag")
    sync.export_pending(engine, POLICY, github_client, now=T)
    result = sync.sync_statuses(engine, github_client, now=T + SYNC_EVERY)
    assert (result.synced, result.changed) == (1, 0)
    stored = item(engine, item_id)
    assert stored.status == "open" and stored.export_next_at == T + 2 * SYNC_EVERY


def test_an_item_finished_here_is_not_synced(engine, github, github_client):
    [item_id] = make_items(engine, "Add an alert on replica lag")
    sync.export_pending(engine, POLICY, github_client, now=T)
    with Session(engine) as session:
        action_items.set_status(session, session.get(ActionItem, item_id), "done", actor="U0BOB", now=T)
        session.commit()
    assert sync.sync_statuses(engine, github_client, now=T + SYNC_EVERY).synced == 0
    assert github.calls_to("GET", "/issues/") == []


def test_a_sync_while_the_tracker_is_down_keeps_our_item_and_tries_later(engine, github, github_client):
    [item_id] = make_items(engine, "Add an alert on replica lag")
    sync.export_pending(engine, POLICY, github_client, now=T)
    github.go_down()
    when = T + SYNC_EVERY
    result = sync.sweep(engine, POLICY, github_client, now=when)
    assert result.failed == 1
    stored = item(engine, item_id)
    assert stored.status == "open" and stored.external_key == "acme/reliability#1"
    assert stored.export_error.startswith("cannot reach GitHub") and stored.export_next_at == when + SYNC_EVERY


def test_jira_progress_and_resolution_move_our_item(engine, jira, jira_client):
    [item_id] = make_items(engine, "Document the failover runbook")
    assert sync.export_pending(engine, POLICY, jira_client, now=T).exported == 1
    stored = item(engine, item_id)
    assert (stored.external_system, stored.external_key) == ("jira", "OPS-1")
    assert stored.external_url == f"{jira.url.rstrip('/')}/browse/OPS-1"
    assert jira.issue("OPS-1")["fields"]["duedate"] == stored.due_at.astimezone(POLICY.tz).date().isoformat()

    jira.transition("OPS-1", "In Progress")
    sync.sync_statuses(engine, jira_client, now=T + SYNC_EVERY)
    assert item(engine, item_id).status == "in_progress"

    jira.resolve("OPS-1", "Won't Do")
    sync.sync_statuses(engine, jira_client, now=T + 2 * SYNC_EVERY)
    stored = item(engine, item_id)
    assert (stored.status, stored.wont_do_reason) == ("wont_do", "resolved as Won't Do in Jira")
    assert stored.external_status == "Done (Won't Do)"


def test_items_exported_to_another_tracker_are_left_alone(engine, github, github_client, jira_client):
    make_items(engine, "Add an alert on replica lag")
    sync.export_pending(engine, POLICY, github_client, now=T)
    assert sync.sync_statuses(engine, jira_client, now=T + SYNC_EVERY).synced == 0


# --- the worker ------------------------------------------------------------------------


def deps_for(engine, **env) -> Deps:
    return Deps(settings=load_settings(**env), policy=POLICY, engine=engine, gateway=None)


def test_the_worker_runs_the_sweep_when_a_tracker_is_configured(engine, github, monkeypatch):
    for name in ("INCIDENTBOT_TRACKER", "GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL",
                 "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # the client built from settings trusts the environment
    assert "sync_trackers" not in {j.id for j in worker.schedule(BackgroundScheduler(), deps_for(engine)).get_jobs()}

    deps = deps_for(engine, incidentbot_tracker="github", github_token=github.token,
                    github_repository=github.repository, github_api_url=github.url)
    [job] = [j for j in worker.schedule(BackgroundScheduler(), deps).get_jobs() if j.id == "sync_trackers"]
    assert job.trigger.interval == timedelta(seconds=worker.TRACKER_EVERY_SECONDS)
    tracker = job.args[1]
    try:
        make_items(engine, "Add an alert on replica lag")
        github.go_down()
        assert worker.sync_trackers(deps, tracker) == 0  # down: nothing raised
    finally:
        tracker.close()


def test_the_worker_refuses_to_start_with_a_tracker_half_configured(engine, monkeypatch):
    for name in ("GITHUB_TOKEN", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match=r"INCIDENTBOT_TRACKER=github needs GITHUB_TOKEN, GITHUB_REPOSITORY"):
        worker.schedule(BackgroundScheduler(), deps_for(engine, incidentbot_tracker="github"))

"""The GitHub Issues client against the fake GitHub on loopback."""

from __future__ import annotations

import base64
from datetime import date

import httpx
import pytest

from incidentbot.core.tracker_exports import ExportSpec, RemoteStatus
from incidentbot.sandbox.trackers import FakeGitHub
from incidentbot.trackers.base import TrackerError, retry_after
from incidentbot.trackers.github import GitHubTracker, body, marker


def spec(item_id: int = 12, title: str = "Add an alert on replica lag", **changes) -> ExportSpec:
    values = dict(
        item_id=item_id, reference=f"AI-{item_id}", title=title,
        description="Page on lag > 30 s. Ask @bob; mail ops@example.com. <@U0CAROL> knows.",
        owner="U0ALICE", due=date(2026, 11, 27), priority="P2", type="detective", service="api",
        incident_reference="INC-3", incident_title="Checkout | failing", backlog_reference="BL-4",
        backlog_title="Replica lag goes unnoticed", source_link="https://acme.slack.com/archives/C1/p1",
    )
    values.update(changes)
    return ExportSpec(**values)


def test_create_posts_the_issue_and_returns_its_key_and_link(github, github_client):
    issue = github_client.create(spec())

    assert issue.key == "acme/reliability#1"
    assert issue.url == f"{github.url}acme/reliability/issues/1"
    [call] = github.calls_to("POST", "/issues$")
    assert call.path == "/repos/acme/reliability/issues"
    assert call.headers["authorization"] == "Bearer ***"
    assert call.headers["accept"] == "application/vnd.github+json"
    assert call.headers["x-github-api-version"] == "2022-11-28"
    assert call.body["title"] == "Add an alert on replica lag"
    assert call.body["labels"] == ["incident-action", "P2", "detective"]
    stored = github.issue(1)
    assert stored["state"] == "open" and [label["name"] for label in stored["labels"]] == call.body["labels"]


def test_body_has_the_facts_and_a_hidden_marker():
    text = body(spec())
    for fact in ("INC-3 · Checkout \\| failing", "AI-12", "Slack user `U0ALICE`", "2026-11-27", "P2", "detective",
                 "BL-4 · Replica lag goes unnoticed", "[Slack message](https://acme.slack.com/archives/C1/p1)"):
        assert fact in text
    assert text.endswith("<!-- incidentbot-action-item-12 -->")
    # Mentions would notify GitHub users of the same name; e-mail addresses stay intact.
    assert "@\u200bbob" in text and "ops@example.com" in text and "Slack user `U0CAROL`" in text


def test_status_maps_open_completed_and_not_planned(github, github_client):
    key = github_client.create(spec()).key
    assert github_client.status(key) == RemoteStatus("open", "open")
    github.close_issue(1, "completed")
    assert github_client.status(key) == RemoteStatus("done", "closed (completed)")
    github.reopen_issue(1)
    assert github_client.status(key).status == "open"
    github.close_issue(1, "not_planned")
    assert github_client.status(key) == RemoteStatus("wont_do", "closed (not planned)",
                                                     "closed as not planned in GitHub")


def test_a_wrong_token_is_a_permanent_error_that_does_not_show_the_token(github):
    with GitHubTracker(token="ghp_wrong_secret", repository=github.repository, api_url=github.url,
                       trust_env=False) as client:
        with pytest.raises(TrackerError) as caught:
            client.create(spec())
    error = caught.value
    assert (error.status, error.retryable, error.item_only) == (401, False, False)
    assert "Bad credentials" in error.message and "ghp_wrong_secret" not in error.message
    assert "ghp_wrong_secret" not in repr(client) and github.all_issues() == []


def test_an_unknown_repository_is_the_configurations_problem(github):
    with GitHubTracker(token=github.token, repository="acme/nope", api_url=github.url,
                       trust_env=False) as client:
        with pytest.raises(TrackerError) as caught:
            client.create(spec())
    assert (caught.value.status, caught.value.retryable, caught.value.item_only) == (404, False, False)


def test_a_validation_error_is_this_items_problem(github, github_client):
    with pytest.raises(TrackerError) as caught:
        github_client.create(spec(title="x" * 300))
    assert (caught.value.status, caught.value.retryable, caught.value.item_only) == (422, False, True)
    assert "title" in caught.value.message


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable_and_the_next_call_works(github, github_client, status):
    github.fail_next(status)
    with pytest.raises(TrackerError) as caught:
        github_client.create(spec())
    assert caught.value.retryable and caught.value.status == status
    assert github.all_issues() == []
    assert github_client.create(spec()).key == "acme/reliability#1"


def test_429_is_retryable_with_the_wait_github_asked_for(github, github_client):
    github.rate_limit(retry_after=42)
    with pytest.raises(TrackerError) as caught:
        github_client.create(spec())
    assert caught.value.retryable and caught.value.status == 429
    assert caught.value.retry_after == pytest.approx(42)


def test_githubs_403_rate_limit_is_retryable_not_a_permission_problem(github, github_client):
    github.rate_limit(retry_after=90, status=403)
    with pytest.raises(TrackerError) as caught:
        github_client.status("acme/reliability#1")
    assert caught.value.retryable and caught.value.retry_after == pytest.approx(90)


def test_retry_after_reads_seconds_dates_and_githubs_reset():
    assert retry_after(httpx.Headers({"Retry-After": "7"})) == 7
    assert retry_after(httpx.Headers({"Retry-After": "Thu, 01 Jan 2026 00:01:00 GMT"}), now=1767225600) == 60
    assert retry_after(httpx.Headers({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1000"}), now=900) == 100
    assert retry_after(httpx.Headers({"x-ratelimit-remaining": "12", "x-ratelimit-reset": "1000"}), now=900) is None
    assert retry_after(httpx.Headers({})) is None


def test_a_slow_answer_times_out_as_a_retryable_error(github, impatient_github_client):
    github.slow(impatient_github_client.timeout * 4)
    with pytest.raises(TrackerError) as caught:
        impatient_github_client.status("acme/reliability#1")
    assert caught.value.retryable and "did not answer within 0.5 s" in caught.value.message


def test_a_tracker_that_is_down_is_a_retryable_error(github, github_client):
    github.go_down()
    with pytest.raises(TrackerError) as caught:
        github_client.create(spec())
    assert caught.value.retryable and caught.value.message.startswith("cannot reach GitHub")
    github.come_back()
    assert github_client.create(spec()).key == "acme/reliability#1"


def test_an_answer_lost_after_creating_is_found_again_instead_of_created_twice(github, github_client,
                                                                              impatient_github_client):
    github.lose_next_create(impatient_github_client.timeout * 4)
    with pytest.raises(TrackerError) as caught:
        impatient_github_client.create(spec())
    assert caught.value.retryable
    assert len(github.all_issues()) == 1  # GitHub did create it

    found = github_client.find(spec())

    assert found is not None and found.key == "acme/reliability#1"
    assert len(github.all_issues()) == 1
    [search] = github.calls_to("GET", "^/search/issues$")
    assert search.query["q"] == 'repo:acme/reliability is:issue in:body "incidentbot-action-item-12"'


def test_find_falls_back_to_the_newest_labelled_issues_while_search_lags(github, github_client):
    github.search_lag = 60.0  # nothing created in the last minute is searchable yet
    github_client.create(spec())
    assert github_client.find(spec()).key == "acme/reliability#1"
    assert github.calls_to("GET", "^/repos/acme/reliability/issues$")[0].query["labels"] == "incident-action"


def test_find_matches_the_marker_exactly_and_the_title(github, github_client):
    github_client.create(spec(item_id=123))
    github_client.create(spec(item_id=12, title="Someone else's AI-12"))
    assert github_client.find(spec(item_id=12)) is None  # …-123 is not …-12; another title is not ours
    assert github_client.find(spec(item_id=123)).key == "acme/reliability#1"
    assert marker(12) == "incidentbot-action-item-12"


def test_a_deleted_issue_is_this_items_problem(github, github_client):
    key = github_client.create(spec()).key
    github.delete_issue(1)
    with pytest.raises(TrackerError) as caught:
        github_client.status(key)
    assert (caught.value.status, caught.value.retryable, caught.value.item_only) == (404, False, True)


def test_status_reads_the_repository_in_the_key(github):
    with FakeGitHub(repositories=("acme/old", "acme/new")) as server:
        with GitHubTracker(token=server.token, repository="acme/new", api_url=server.url,
                           trust_env=False) as client:
            with GitHubTracker(token=server.token, repository="acme/old", api_url=server.url,
                               trust_env=False) as old:
                key = old.create(spec()).key
            server.close_issue(1, repository="acme/old")
            assert key == "acme/old#1" and client.status(key).status == "done"
    with GitHubTracker(token="t", repository="a/b", api_url=github.url, trust_env=False) as client:
        with pytest.raises(TrackerError):
            client.status("not-a-key")
    assert github.calls == []


def test_the_fake_only_listens_on_loopback():
    with pytest.raises(ValueError, match="loopback"):
        FakeGitHub(host="0.0.0.0")


def test_the_fake_accepts_the_token_scheme_too(github):
    response = httpx.get(f"{github.url}repos/acme/reliability/issues",
                         headers={"Authorization": f"token {github.token}"}, trust_env=False)
    assert response.status_code == 200
    basic = base64.b64encode(f"x:{github.token}".encode()).decode()
    response = httpx.get(f"{github.url}repos/acme/reliability/issues", headers={"Authorization": f"Basic {basic}"},
                         trust_env=False)
    assert response.status_code == 401 and response.json()["message"] == "Bad credentials"

"""The Jira client against the fake Jira on loopback."""

from __future__ import annotations

from datetime import date

import pytest

from incidentbot.core.tracker_exports import ExportSpec, RemoteStatus
from incidentbot.sandbox.trackers import FakeJira
from incidentbot.trackers.base import TrackerError
from incidentbot.trackers.jira import JiraTracker, description


def spec(item_id: int = 7, title: str = "Document the failover runbook", **changes) -> ExportSpec:
    values = dict(
        item_id=item_id, reference=f"AI-{item_id}", title=title, description="See <https://wiki/x|the wiki>.",
        owner="U0ALICE", due=date(2026, 12, 4), priority="P1", type="process", service=None,
        incident_reference="INC-9", incident_title="Database failover took 40 minutes", backlog_reference="BL-2",
        backlog_title="Failover is manual", source_link=None,
    )
    values.update(changes)
    return ExportSpec(**values)


def client_for(server: FakeJira, **changes) -> JiraTracker:
    options = dict(url=server.url, user=server.user, api_token=server.api_token, project=server.project,
                   trust_env=False)
    options.update(changes)
    return JiraTracker(**options)


def test_create_sends_the_fields_and_links_to_browse(jira, jira_client):
    issue = jira_client.create(spec())

    assert issue.key == "OPS-1" and issue.url == f"{jira.url.rstrip('/')}/browse/OPS-1"
    [call] = jira.calls_to("POST", "/rest/api/2/issue$")
    assert call.headers["authorization"] == "Basic ***"
    fields = call.body["fields"]
    assert fields["project"] == {"key": "OPS"} and fields["issuetype"] == {"name": "Task"}
    assert fields["summary"] == "Document the failover runbook" and fields["duedate"] == "2026-12-04"
    assert fields["labels"] == ["incident-action", "P1", "process", "incidentbot-ai-7"]
    assert jira.issue("OPS-1")["fields"]["status"]["statusCategory"]["key"] == "new"


def test_description_is_wiki_markup():
    text = description(spec())
    assert text.startswith("See [the wiki|https://wiki/x].")
    assert "*Incident:* INC-9 · Database failover took 40 minutes" in text and "*Due:* 2026-12-04" in text
    assert "*Backlog item:* BL-2 · Failover is manual" in text


def test_a_due_date_the_create_screen_does_not_have_is_left_out(jira):
    jira.duedate_on_screen = False
    with client_for(jira) as client:
        assert client.create(spec()).key == "OPS-1"
    first, second = jira.calls_to("POST", "/rest/api/2/issue$")
    assert "duedate" in first.body["fields"] and "duedate" not in second.body["fields"]


@pytest.mark.parametrize("status, resolution, expected", [
    ("To Do", None, RemoteStatus("open", "To Do")),
    ("In Progress", None, RemoteStatus("in_progress", "In Progress")),
    ("Done", "Done", RemoteStatus("done", "Done")),
    ("Done", "Won't Do", RemoteStatus("wont_do", "Done (Won't Do)", "resolved as Won't Do in Jira")),
    ("Done", "Declined", RemoteStatus("wont_do", "Done (Declined)", "resolved as Declined in Jira")),
])
def test_status_reads_the_category_and_resolution(jira, jira_client, status, resolution, expected):
    key = jira_client.create(spec()).key
    if status != "To Do":
        jira.transition(key, status, resolution=resolution)
    assert jira_client.status(key) == expected
    [call] = jira.calls_to("GET", f"/rest/api/2/issue/{key}$")
    assert call.query["fields"] == "status,resolution"


def test_wrong_credentials_are_a_permanent_error_that_does_not_show_the_token(jira):
    with client_for(jira, api_token="wrong-secret-token") as client:
        with pytest.raises(TrackerError) as caught:
            client.create(spec())
    error = caught.value
    assert (error.status, error.retryable, error.item_only) == (401, False, False)
    assert "must be authenticated" in error.message and "wrong-secret-token" not in error.message


def test_a_wrong_project_is_the_configurations_problem_a_bad_summary_the_items(jira):
    with client_for(jira, project="NOPE") as client:
        with pytest.raises(TrackerError) as caught:
            client.create(spec())
    assert (caught.value.status, caught.value.item_only) == (400, False) and "project" in caught.value.message
    with client_for(jira) as client:
        with pytest.raises(TrackerError) as caught:
            client.create(spec(title="x" * 300))
    assert (caught.value.status, caught.value.retryable, caught.value.item_only) == (400, False, True)
    assert "summary: Summary must be less than 255 characters." in caught.value.message


def test_server_errors_and_rate_limits_are_retryable(jira, jira_client):
    jira.fail_next(503)
    with pytest.raises(TrackerError) as caught:
        jira_client.create(spec())
    assert caught.value.retryable and caught.value.status == 503
    jira.rate_limit(retry_after=20)
    with pytest.raises(TrackerError) as caught:
        jira_client.create(spec())
    assert caught.value.retryable and caught.value.retry_after == 20
    assert jira.all_issues() == []


def test_timeouts_and_refused_connections_are_retryable(jira, jira_client, impatient_jira_client):
    jira.slow(impatient_jira_client.timeout * 4)
    with pytest.raises(TrackerError) as caught:
        impatient_jira_client.status("OPS-1")
    assert caught.value.retryable
    jira.go_down()
    with pytest.raises(TrackerError) as caught:
        jira_client.status("OPS-1")
    assert caught.value.retryable and "cannot reach Jira" in caught.value.message


def test_an_answer_lost_after_creating_is_found_by_its_label(jira, jira_client, impatient_jira_client):
    jira.lose_next_create(impatient_jira_client.timeout * 4)
    with pytest.raises(TrackerError):
        impatient_jira_client.create(spec())
    assert len(jira.all_issues()) == 1

    found = jira_client.find(spec())

    assert found is not None and found.key == "OPS-1" and len(jira.all_issues()) == 1
    [search] = jira.calls_to("GET", "/search/jql$")
    assert search.query["jql"] == 'labels = "incidentbot-ai-7"'
    assert jira_client.find(spec(item_id=8)) is None


def test_find_uses_the_older_search_on_jira_data_center():
    with FakeJira(cloud=False) as server, client_for(server) as client:
        client.create(spec())
        assert client.find(spec()).key == "OPS-1"
        assert [c.path for c in server.calls if c.method == "GET"] == ["/rest/api/2/search/jql", "/rest/api/2/search"]


def test_the_fake_answers_the_removed_search_with_410(jira, jira_client):
    response = jira_client._client.get("/rest/api/2/search", params={"jql": "project = OPS"})
    assert response.status_code == 410 and "CHANGE-2046" in response.json()["errorMessages"][0]


def test_a_deleted_issue_is_this_items_problem(jira_client):
    with pytest.raises(TrackerError) as caught:
        jira_client.status("OPS-99")
    assert (caught.value.status, caught.value.item_only) == (404, True)

"""Tracker settings: read from the environment, validated, errors name the variables, secrets hidden."""

from __future__ import annotations

import re

import pytest

from incidentbot import trackers
from incidentbot.errors import ConfigError
from incidentbot.settings import Settings, load_settings, require_tracker
from incidentbot.trackers.github import GitHubTracker
from incidentbot.trackers.jira import JiraTracker

GITHUB = {"INCIDENTBOT_TRACKER": "github", "GITHUB_TOKEN": "ghp_secret_value", "GITHUB_REPOSITORY": "acme/reliability"}
JIRA = {"INCIDENTBOT_TRACKER": "Jira", "JIRA_URL": "https://acme.atlassian.net/", "JIRA_USER": "bot@acme.com",
        "JIRA_API_TOKEN": "jira_secret_value", "JIRA_PROJECT": "ops"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def environment(monkeypatch, values):
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_no_tracker_by_default():
    settings = load_settings()
    assert settings.incidentbot_tracker is None and require_tracker(settings) is None
    assert settings.github_api_url == "https://api.github.com" and settings.jira_issue_type == "Task"
    assert trackers.from_settings(settings) is None


def test_github_from_the_environment(monkeypatch):
    environment(monkeypatch, {**GITHUB, "GITHUB_API_URL": "https://ghe.acme.com/api/v3/"})
    settings = load_settings()
    assert settings.github_api_url == "https://ghe.acme.com/api/v3"
    assert "ghp_secret_value" not in repr(settings) and "ghp_secret_value" not in str(settings)
    with trackers.from_settings(settings) as client:
        assert isinstance(client, GitHubTracker) and client.repository == "acme/reliability"
        assert str(client._client.base_url) == "https://ghe.acme.com/api/v3/"
        assert "ghp_secret_value" not in repr(client)


def test_jira_from_the_environment(monkeypatch):
    environment(monkeypatch, {**JIRA, "JIRA_ISSUE_TYPE": " Bug "})
    settings = load_settings()
    assert (settings.incidentbot_tracker, settings.jira_url, settings.jira_project, settings.jira_issue_type) == (
        "jira", "https://acme.atlassian.net", "OPS", "Bug")
    assert "jira_secret_value" not in repr(settings)
    with trackers.from_settings(settings) as client:
        assert isinstance(client, JiraTracker) and (client.project, client.issue_type) == ("OPS", "Bug")


@pytest.mark.parametrize("tracker, values, missing", [
    ("github", {}, "GITHUB_TOKEN, GITHUB_REPOSITORY"),
    ("github", {"GITHUB_TOKEN": "x", "GITHUB_REPOSITORY": " "}, "GITHUB_REPOSITORY"),
    ("jira", {"JIRA_URL": "https://x.atlassian.net"}, "JIRA_USER, JIRA_API_TOKEN, JIRA_PROJECT"),
])
def test_a_selected_tracker_names_what_it_still_needs(monkeypatch, tracker, values, missing):
    environment(monkeypatch, {"INCIDENTBOT_TRACKER": tracker, **values})
    with pytest.raises(ConfigError) as caught:
        trackers.from_settings(load_settings())
    assert str(caught.value) == f"INCIDENTBOT_TRACKER={tracker} needs {missing} (not set)"


@pytest.mark.parametrize("name, value, message", [
    ("INCIDENTBOT_TRACKER", "gitlab", "INCIDENTBOT_TRACKER: must be one of github, jira"),
    ("GITHUB_REPOSITORY", "reliability", "GITHUB_REPOSITORY: must be owner/name"),
    ("GITHUB_API_URL", "api.github.com", "GITHUB_API_URL: must be an http(s) URL"),
    ("JIRA_URL", "ftp://acme", "JIRA_URL: must be an http(s) URL"),
    ("JIRA_PROJECT", "my project", "JIRA_PROJECT: must be a Jira project key"),
    ("JIRA_ISSUE_TYPE", " ", "JIRA_ISSUE_TYPE: must name an issue type"),
])
def test_bad_values_name_the_variable(monkeypatch, name, value, message):
    environment(monkeypatch, {name: value})
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings()


def test_an_empty_tracker_means_no_export(monkeypatch):
    environment(monkeypatch, {"INCIDENTBOT_TRACKER": "", "GITHUB_TOKEN": ""})
    settings = load_settings()
    assert settings.incidentbot_tracker is None and settings.github_token is None

"""Fake trackers on loopback and clients pointed at them (nothing leaves the machine)."""

from __future__ import annotations

import pytest

from incidentbot.sandbox.trackers import FakeGitHub, FakeJira
from incidentbot.trackers.github import GitHubTracker
from incidentbot.trackers.jira import JiraTracker

# Only the clients of tests that provoke a timeout are impatient, and the fakes then hold
# their answer four times as long. Every other client keeps the production default
# (10 s): a loaded CI machine can take more than half a second to answer on loopback.
SHORT_TIMEOUT = 0.5


@pytest.fixture
def github():
    with FakeGitHub() as server:
        yield server


@pytest.fixture
def jira():
    with FakeJira() as server:
        yield server


@pytest.fixture
def github_client(github):
    # trust_env=False: a developer's HTTP(S)_PROXY must not route loopback calls elsewhere.
    with GitHubTracker(token=github.token, repository=github.repository, api_url=github.url,
                       trust_env=False) as client:
        yield client


@pytest.fixture
def impatient_github_client(github):
    with GitHubTracker(token=github.token, repository=github.repository, api_url=github.url,
                       timeout=SHORT_TIMEOUT, trust_env=False) as client:
        yield client


@pytest.fixture
def jira_client(jira):
    with JiraTracker(url=jira.url, user=jira.user, api_token=jira.api_token, project=jira.project,
                     trust_env=False) as client:
        yield client


@pytest.fixture
def impatient_jira_client(jira):
    with JiraTracker(url=jira.url, user=jira.user, api_token=jira.api_token, project=jira.project,
                     timeout=SHORT_TIMEOUT, trust_env=False) as client:
        yield client

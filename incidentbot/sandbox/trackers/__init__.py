"""Fake GitHub and Jira servers on loopback, for tests and local runs of the tracker export.

Each is a real threaded HTTP server (port 0 by default) answering like the real REST
API for the endpoints ``incidentbot.trackers`` uses: the same paths, status codes, JSON
shapes and authentication checks (a wrong token gets the real 401 body). Issues live in
memory; tests close or resolve them, and can make the server fail:

- ``go_down()`` / ``come_back()``: stop listening (connection refused), then listen on
  the same port again
- ``fail_next(503)``, ``fail_next(500, times=3)``: answer with an error status
- ``rate_limit(retry_after=30)``: 429 with ``Retry-After``
- ``slow(2.0)``: wait that long before answering (past the client's timeout)
- ``lose_next_create(2.0)``: create the issue, then answer only after that long, as if
  the answer was lost on the way back

Every request is recorded in ``calls`` (credentials redacted).

    with FakeGitHub() as github:
        client = GitHubTracker(token=github.token, repository=github.repository, api_url=github.url)
"""

from incidentbot.sandbox.trackers.base import Call, FakeTracker, Fault
from incidentbot.sandbox.trackers.github import FakeGitHub
from incidentbot.sandbox.trackers.jira import FakeJira

__all__ = ["Call", "FakeGitHub", "FakeJira", "FakeTracker", "Fault"]

"""A fake GitHub Issues REST API."""

from __future__ import annotations

import shlex
import time
from typing import Any

from incidentbot.sandbox.trackers.base import FakeTracker, Fault, Response, now_iso

GITHUB_DOCS = "https://docs.github.com/rest"


class FakeGitHub(FakeTracker):
    """GitHub's REST API for issues: create, get, list by label, search; Bearer tokens."""

    server_version = "GitHub.com"
    _create_path = r"^/repos/[^/]+/[^/]+/issues$"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, token: str = "ghp_fake_token",
                 repositories: tuple[str, ...] = ("acme/reliability",), search_lag: float = 0.0) -> None:
        super().__init__(host, port)
        self.token = token
        self.repositories = {name.lower(): name for name in repositories}
        # Issues newer than this many seconds are not found by /search/issues yet (GitHub's index lags).
        self.search_lag = search_lag
        self.issues: dict[str, dict[int, dict]] = {name: {} for name in repositories}
        self._created: dict[tuple[str, int], float] = {}
        self._next_id = 1000

    @property
    def repository(self) -> str:
        return next(iter(self.repositories.values()))

    def rate_limit(self, retry_after: int = 30, *, times: int = 1, method: str | None = None,
                   status: int = 429) -> None:
        """429 (or GitHub's 403) with ``Retry-After`` and an exhausted ``x-ratelimit-remaining``."""
        reset = str(int(time.time()) + retry_after)
        body = {"message": "API rate limit exceeded for installation.", "documentation_url": GITHUB_DOCS,
                "status": str(status)}
        for _ in range(times):
            self._add(Fault(status=status, method=method, body=body, headers={
                "Retry-After": str(retry_after), "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}))

    # --- test helpers ----------------------------------------------------------------

    def all_issues(self, repository: str | None = None) -> list[dict]:
        with self.lock:
            return list(self.issues[self._repo(repository or self.repository)].values())

    def issue(self, number: int, repository: str | None = None) -> dict:
        with self.lock:
            return self.issues[self._repo(repository or self.repository)][number]

    def close_issue(self, number: int, reason: str = "completed", repository: str | None = None) -> None:
        """Close it as people do in GitHub: ``completed``, ``not_planned`` or ``duplicate``."""
        with self.lock:
            issue = self.issue(number, repository)
            issue.update(state="closed", state_reason=reason, closed_at=now_iso(), updated_at=now_iso())

    def reopen_issue(self, number: int, repository: str | None = None) -> None:
        with self.lock:
            issue = self.issue(number, repository)
            issue.update(state="open", state_reason="reopened", closed_at=None, updated_at=now_iso())

    def delete_issue(self, number: int, repository: str | None = None) -> None:
        with self.lock:
            del self.issues[self._repo(repository or self.repository)][number]

    # --- the API ---------------------------------------------------------------------

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        return scheme.lower() in ("bearer", "token") and value.strip() == self.token

    def _unauthorized(self) -> Response:
        return Response(401, {"message": "Bad credentials", "documentation_url": GITHUB_DOCS, "status": "401"})

    def error_body(self, status: int) -> Any:
        messages = {400: "Problems parsing JSON", 404: "Not Found", 422: "Validation Failed",
                    500: "Server Error", 502: "Server Error", 503: "Service Unavailable"}
        return {"message": messages.get(status, "Error"), "documentation_url": GITHUB_DOCS, "status": str(status)}

    def extra_headers(self) -> dict[str, str]:
        return {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4999",
                "x-ratelimit-reset": str(int(time.time()) + 3600), "x-github-api-version-selected": "2022-11-28"}

    def _repo(self, name: str) -> str | None:
        return self.repositories.get(name.lower())

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> Response:
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["repos"] and len(parts) >= 4 and parts[3] == "issues":
            repo = self._repo(f"{parts[1]}/{parts[2]}")
            if repo is None:
                return Response(404, self.error_body(404))
            if len(parts) == 4 and method == "POST":
                return self._create(repo, body)
            if len(parts) == 4 and method == "GET":
                return self._list(repo, query)
            if len(parts) == 5 and parts[4].isdecimal() and method == "GET":
                issue = self.issues[repo].get(int(parts[4]))
                return Response(200, issue) if issue else Response(404, self.error_body(404))
        if parts == ["search", "issues"] and method == "GET":
            return self._search(query)
        return Response(404, self.error_body(404))

    def _create(self, repo: str, body: Any) -> Response:
        if not isinstance(body, dict):
            return Response(400, self.error_body(400))
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            return Response(422, {"message": "Invalid request.\n\n\"title\" wasn't supplied.",
                                  "documentation_url": GITHUB_DOCS, "status": "422"})
        if len(title) > 256:
            return Response(422, {"message": "Validation Failed", "errors": [
                {"resource": "Issue", "code": "custom", "field": "title",
                 "message": "title is too long (maximum is 256 characters)"}],
                "documentation_url": GITHUB_DOCS, "status": "422"})
        number = max(self.issues[repo], default=0) + 1
        self._next_id += 1
        owner, name = repo.split("/")
        stamp = now_iso()
        issue = {
            "id": self._next_id, "node_id": f"I_fake{self._next_id}", "number": number,
            "url": f"{self.url}repos/{repo}/issues/{number}",
            "repository_url": f"{self.url}repos/{repo}",
            "html_url": f"{self.url}{repo}/issues/{number}",
            "title": title, "body": body.get("body") or None, "state": "open", "state_reason": None,
            "labels": [{"id": 100 + i, "name": str(label), "color": "ededed", "default": False}
                       for i, label in enumerate(body.get("labels") or [])],
            "user": {"login": "incidentbot[bot]", "type": "Bot"}, "assignees": [], "comments": 0,
            "created_at": stamp, "updated_at": stamp, "closed_at": None, "locked": False,
        }
        self.issues[repo][number] = issue
        self._created[(repo, number)] = time.monotonic()
        return Response(201, issue, {"Location": issue["url"]})

    def _list(self, repo: str, query: dict[str, str]) -> Response:
        state = query.get("state", "open")
        wanted = {label for label in query.get("labels", "").split(",") if label}
        issues = [i for i in self.issues[repo].values()
                  if (state == "all" or i["state"] == state) and wanted <= {label["name"] for label in i["labels"]}]
        issues.sort(key=lambda i: i["number"], reverse=query.get("direction", "desc") == "desc")
        per_page = min(int(query.get("per_page", 30)), 100)
        return Response(200, issues[:per_page])

    def _search(self, query: dict[str, str]) -> Response:
        q = query.get("q", "")
        try:
            terms = shlex.split(q)
        except ValueError:
            return Response(422, {"message": "Validation Failed", "errors": [
                {"message": "The search query is invalid.", "resource": "Search", "field": "q", "code": "invalid"}],
                "documentation_url": GITHUB_DOCS, "status": "422"})
        repos, phrases, where, states = [], [], ("title", "body"), set()
        for term in terms:
            name, sep, value = term.partition(":")
            if sep and name == "repo":
                repos.append(value.lower())
            elif sep and name in ("is", "type") and value in ("issue", "open", "closed"):
                if value != "issue":
                    states.add(value)
            elif sep and name == "in":
                where = tuple(value.split(","))
            elif sep and name == "state":
                states.add(value)
            else:
                phrases.append(term.lower())
        horizon = time.monotonic() - self.search_lag
        items = []
        for repo, issues in self.issues.items():
            if repos and repo.lower() not in repos:
                continue
            for number, issue in issues.items():
                if self._created.get((repo, number), 0) > horizon:
                    continue  # not indexed yet
                text = " ".join(str(issue.get(part) or "") for part in where).lower()
                if all(p in text for p in phrases) and (not states or issue["state"] in states):
                    items.append({**issue, "score": 1.0})
        per_page = min(int(query.get("per_page", 30)), 100)
        return Response(200, {"total_count": len(items), "incomplete_results": False, "items": items[:per_page]})


# --- Jira --------------------------------------------------------------------------------

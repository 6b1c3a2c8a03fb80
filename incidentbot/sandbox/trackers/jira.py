"""A fake Jira Cloud REST API (v2)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from incidentbot.sandbox.trackers.base import FakeTracker, Fault, Response, now_iso

JIRA_STATUSES = {  # status name → category key
    "To Do": "new", "In Progress": "indeterminate", "In Review": "indeterminate", "Done": "done",
}
_CATEGORY_NAMES = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
_CATEGORY_IDS = {"new": 2, "indeterminate": 4, "done": 3}
_STATUS_IDS = {"To Do": "10000", "In Progress": "3", "In Review": "10001", "Done": "10002"}
_JQL_CLAUSE = re.compile(r'\s*(\w+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s"]+)\s*', re.I)


class FakeJira(FakeTracker):
    """Jira Cloud's REST API v2 for issues: create, get, JQL search; basic auth (email + API token).

    ``cloud=False`` answers like Jira Data Center: no ``/search/jql``, the older
    ``/rest/api/2/search`` works (on Cloud it is gone: 410).
    """

    server_version = "AtlassianEdge"
    _create_path = r"^/rest/api/2/issue/?$"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, user: str = "bot@example.com",
                 api_token: str = "jira-fake-token", projects: tuple[str, ...] = ("OPS",),
                 issue_types: tuple[str, ...] = ("Task", "Bug", "Story"), duedate_on_screen: bool = True,
                 cloud: bool = True) -> None:
        super().__init__(host, port)
        self.user = user
        self.api_token = api_token
        self.projects = set(projects)
        self.issue_types = set(issue_types)
        self.duedate_on_screen = duedate_on_screen
        self.cloud = cloud
        self.issues: dict[str, dict] = {}  # key → {"id", "key", "fields": {...}}
        self._next_id = 10000
        self._numbers: dict[str, int] = {}

    @property
    def project(self) -> str:
        return sorted(self.projects)[0]

    def rate_limit(self, retry_after: int = 30, *, times: int = 1, method: str | None = None) -> None:
        for _ in range(times):
            self._add(Fault(status=429, method=method, headers={"Retry-After": str(retry_after)},
                            body={"errorMessages": ["Rate limit exceeded."], "errors": {}}))

    # --- test helpers ----------------------------------------------------------------

    def all_issues(self) -> list[dict]:
        with self.lock:
            return list(self.issues.values())

    def issue(self, key: str) -> dict:
        with self.lock:
            return self.issues[key]

    def transition(self, key: str, status: str, *, resolution: str | None = None) -> None:
        """Move the issue to ``status`` (To Do, In Progress, In Review, Done); a done status
        gets ``resolution`` (default "Done"), others clear it."""
        category = JIRA_STATUSES[status]
        with self.lock:
            fields = self.issues[key]["fields"]
            fields["status"] = _jira_status(status, category)
            fields["resolution"] = ({"id": "1", "name": resolution or "Done", "description": ""}
                                    if category == "done" else None)
            fields["updated"] = now_iso()

    def resolve(self, key: str, resolution: str = "Done") -> None:
        self.transition(key, "Done", resolution=resolution)

    # --- the API ---------------------------------------------------------------------

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, token = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == self.user and token == self.api_token

    def _unauthorized(self) -> Response:
        return Response(401, {"errorMessages": ["Client must be authenticated to access this resource."],
                              "errors": {}}, {"WWW-Authenticate": 'Basic realm="protected-area"'})

    def error_body(self, status: int) -> Any:
        messages = {404: "Issue does not exist or you do not have permission to see it.",
                    503: "Service Unavailable", 500: "Internal server error"}
        return {"errorMessages": [messages.get(status, f"HTTP {status}")], "errors": {}}

    def _bad_json(self) -> Response:
        return Response(400, {"errorMessages": ["Unexpected character: was expecting a JSON value"], "errors": {}})

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> Response:
        path = path.rstrip("/")
        if path == "/rest/api/2/issue" and method == "POST":
            return self._create(body)
        match = re.fullmatch(r"/rest/api/2/issue/([^/]+)", path)
        if match and method == "GET":
            return self._get(match[1], query)
        if path == "/rest/api/2/search/jql" and method == "GET" and self.cloud:
            return self._search(query, cloud=True)
        if path == "/rest/api/2/search" and method == "GET":
            if self.cloud:
                return Response(410, {"errorMessages": [
                    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
                    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"],
                    "errors": {}})
            return self._search(query, cloud=False)
        return Response(404, {"errorMessages": ["null for uri: " + path], "errors": {}} if self.cloud else None)

    def _create(self, body: Any) -> Response:
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            return Response(400, {"errorMessages": ["Issue must be created with fields"], "errors": {}})
        errors: dict[str, str] = {}
        project = (fields.get("project") or {}).get("key") if isinstance(fields.get("project"), dict) else None
        if project not in self.projects:
            errors["project"] = "Specify a valid project ID or key"
        issue_type = (fields.get("issuetype") or {}).get("name") if isinstance(fields.get("issuetype"), dict) else None
        if issue_type not in self.issue_types:
            errors["issuetype"] = "Specify a valid issue type"
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        labels = fields.get("labels") or []
        if any(not isinstance(label, str) or " " in label for label in labels):
            errors["labels"] = "The label '...' contains spaces which is invalid."
        due = fields.get("duedate")
        if due is not None:
            if not self.duedate_on_screen:
                errors["duedate"] = "Field 'duedate' cannot be set. It is not on the appropriate screen, or unknown."
            elif not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(due)):
                errors["duedate"] = f"Error parsing date string: {due}"
        if errors:
            return Response(400, {"errorMessages": [], "errors": errors})
        self._next_id += 1
        number = self._numbers[project] = self._numbers.get(project, 0) + 1
        key = f"{project}-{number}"
        issue_id = str(self._next_id)
        stamp = now_iso()
        self.issues[key] = {"id": issue_id, "key": key, "self": f"{self.url}rest/api/2/issue/{issue_id}", "fields": {
            "summary": summary, "description": fields.get("description"), "labels": list(labels),
            "duedate": due, "issuetype": {"name": issue_type}, "project": {"key": project},
            "status": _jira_status("To Do", "new"), "resolution": None, "created": stamp, "updated": stamp,
        }}
        return Response(201, {"id": issue_id, "key": key, "self": self.issues[key]["self"]})

    def _find(self, key_or_id: str) -> dict | None:
        if key_or_id in self.issues:
            return self.issues[key_or_id]
        return next((i for i in self.issues.values() if i["id"] == key_or_id), None)

    def _get(self, key: str, query: dict[str, str]) -> Response:
        issue = self._find(key)
        if issue is None:
            return Response(404, self.error_body(404))
        return Response(200, self._shape(issue, query.get("fields")))

    @staticmethod
    def _shape(issue: dict, wanted: str | None) -> dict:
        names = [n for n in (wanted or "*all").split(",") if n]
        fields = issue["fields"] if "*all" in names else {n: issue["fields"].get(n) for n in names}
        return {"id": issue["id"], "key": issue["key"], "self": issue["self"], "fields": fields}

    def _search(self, query: dict[str, str], *, cloud: bool) -> Response:
        try:
            clauses = _parse_jql(query.get("jql", ""))
        except ValueError as error:
            return Response(400, {"errorMessages": [str(error)], "errors": {}})
        found = [i for i in self.issues.values() if all(_jql_matches(i, name, value) for name, value in clauses)]
        found.sort(key=lambda i: int(i["id"]), reverse=True)
        limit = int(query.get("maxResults", 50))
        shaped = [self._shape(i, query.get("fields") or ("id" if cloud else "*all")) for i in found[:limit]]
        if cloud:
            return Response(200, {"issues": shaped, "isLast": len(found) <= limit})
        return Response(200, {"startAt": 0, "maxResults": limit, "total": len(found), "issues": shaped})


def _jira_status(name: str, category: str) -> dict:
    return {"name": name, "id": _STATUS_IDS[name],
            "statusCategory": {"id": _CATEGORY_IDS[category], "key": category, "name": _CATEGORY_NAMES[category]}}


def _parse_jql(jql: str) -> list[tuple[str, str]]:
    """``field = value`` clauses joined by AND (all the bot asks)."""
    clauses = []
    for part in re.split(r"\s+AND\s+", jql.strip(), flags=re.I):
        match = _JQL_CLAUSE.fullmatch(part)
        if not match:
            raise ValueError(f"Error in the JQL Query: unsupported clause {part!r}")
        name, value = match[1].lower(), match[2]
        if value.startswith('"'):
            value = json.loads(value)
        if name not in ("project", "labels", "key", "status"):
            raise ValueError(f"Field '{match[1]}' does not exist or you do not have permission to view it.")
        clauses.append((name, value))
    return clauses


def _jql_matches(issue: dict, name: str, value: str) -> bool:
    fields = issue["fields"]
    if name == "project":
        return fields["project"]["key"].lower() == value.lower()
    if name == "labels":
        return value in (fields.get("labels") or [])
    if name == "key":
        return issue["key"].lower() == value.lower()
    return fields["status"]["name"].lower() == value.lower()

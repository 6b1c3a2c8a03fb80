"""Jira (Cloud REST API v2; Data Center answers the same for what is used here).

- create: ``POST /rest/api/2/issue`` → ``{id, key, self}``; link ``{url}/browse/{key}``
- find: JQL ``labels = "incidentbot-ai-<id>"`` through ``GET /rest/api/2/search/jql``
  (Jira Cloud; the older ``/rest/api/2/search`` is gone there) or, where that does not
  exist (Data Center), ``GET /rest/api/2/search``
- status: ``GET /rest/api/2/issue/{key}?fields=status,resolution``
"""

from __future__ import annotations

import re

import httpx

from incidentbot.core.tracker_exports import ExportSpec, RemoteStatus, jira_status
from incidentbot.trackers.base import TIMEOUT_SECONDS, HttpTracker, Issue, TrackerError

LABEL = "incident-action"
_KEY = re.compile(r"[A-Z][A-Z0-9_]*-\d+")
_SLACK_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_SLACK_LINK = re.compile(r"<(https?://[^|>\s]+)\|([^>]+)>")
_SLACK_BARE_LINK = re.compile(r"<(https?://[^|>\s]+)>")
# Fields a project's create screen may not have; the issue is created without them.
_OPTIONAL_FIELDS = ("duedate",)


def marker(item_id: int) -> str:
    """The label only this item's issue carries."""
    return f"incidentbot-ai-{item_id}"


class JiraTracker(HttpTracker):
    system = "jira"
    display_name = "Jira"

    def __init__(self, *, url: str, user: str, api_token: str, project: str, issue_type: str = "Task",
                 timeout: float = TIMEOUT_SECONDS, trust_env: bool = True,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(url.rstrip("/"), headers={"Accept": "application/json"}, auth=(user, api_token),
                         timeout=timeout, trust_env=trust_env, transport=transport)
        self.url = url.rstrip("/")
        self.project = project
        self.issue_type = issue_type

    def create(self, spec: ExportSpec) -> Issue:
        fields = {
            "project": {"key": self.project}, "summary": spec.title, "description": description(spec),
            "issuetype": {"name": self.issue_type}, "labels": labels(spec),
        }
        if spec.due:
            fields["duedate"] = spec.due.isoformat()
        response = self._create(fields)
        if response.status_code == 400:
            # "Field 'duedate' cannot be set. It is not on the appropriate screen": leave it out.
            refused = self._refused_fields(response) & set(_OPTIONAL_FIELDS)
            if refused and refused & set(fields):
                response = self._create({name: value for name, value in fields.items() if name not in refused})
        if response.status_code != 201:
            # A bad project or issue type is the configuration's problem, not this item's.
            raise self._error(response, item_only=not self._refused_fields(response) & {"project", "issuetype"})
        return self._issue(response.json()["key"])

    def _refused_fields(self, response: httpx.Response) -> set[str]:
        data = self._json(response)
        errors = data.get("errors") if isinstance(data, dict) else None
        return set(errors) if isinstance(errors, dict) else set()

    def _create(self, fields: dict) -> httpx.Response:
        # 400 comes back as a response, to be looked at; anything else unexpected raises.
        return self._call("POST", "/rest/api/2/issue", json={"fields": fields}, expect=(201, 400))

    def find(self, spec: ExportSpec) -> Issue | None:
        params = {"jql": f'labels = "{marker(spec.item_id)}"', "fields": "summary,labels", "maxResults": 10}
        try:
            response = self._call("GET", "/rest/api/2/search/jql", params=params)
        except TrackerError as error:
            if error.status != 404:
                raise
            response = self._call("GET", "/rest/api/2/search", params=params)  # Jira Data Center
        for issue in (self._json(response) or {}).get("issues") or []:
            fields = issue.get("fields") or {}
            if marker(spec.item_id) in (fields.get("labels") or []) and \
                    " ".join(str(fields.get("summary") or "").split()) == " ".join(spec.title.split()):
                return self._issue(issue["key"])
        return None

    def status(self, key: str) -> RemoteStatus:
        if not _KEY.fullmatch(key):
            raise TrackerError(f"{key!r} is not a Jira issue key", retryable=False, item_only=True)
        response = self._call("GET", f"/rest/api/2/issue/{key}", params={"fields": "status,resolution"},
                              item_only=(404, 410))
        fields = (self._json(response) or {}).get("fields") or {}
        status = fields.get("status") or {}
        resolution = fields.get("resolution") or {}
        return jira_status((status.get("statusCategory") or {}).get("key"), status.get("name"),
                           resolution.get("name") if isinstance(resolution, dict) else None)

    def _issue(self, key: str) -> Issue:
        return Issue(key, f"{self.url}/browse/{key}")

    def _message(self, response: httpx.Response) -> str:
        data = self._json(response)
        if not isinstance(data, dict):
            return response.reason_phrase or ""
        messages = [str(m) for m in data.get("errorMessages") or []]
        messages += [f"{field}: {text}" for field, text in (data.get("errors") or {}).items()]
        return "; ".join(messages) or response.reason_phrase or ""


def labels(spec: ExportSpec) -> list[str]:
    # Jira labels cannot contain spaces.
    return [LABEL, spec.priority, spec.type.replace(" ", "-"), marker(spec.item_id)]


def description(spec: ExportSpec) -> str:
    """The issue's description in Jira wiki markup (what REST v2 expects)."""
    lines = [f"*Incident:* {spec.incident_reference} · {_text(spec.incident_title)}",
             f"*Action item:* {spec.reference}"]
    if spec.owner:
        lines.append(f"*Owner:* Slack user {spec.owner}")
    if spec.due:
        lines.append(f"*Due:* {spec.due.isoformat()}")
    lines.append(f"*Priority:* {spec.priority}")
    lines.append(f"*Type:* {spec.type}")
    if spec.service:
        lines.append(f"*Service:* {_text(spec.service)}")
    if spec.backlog_reference:
        lines.append(f"*Backlog item:* {spec.backlog_reference} · {_text(spec.backlog_title or '')}")
    if spec.source_link:
        lines.append(f"*Source:* [Slack message|{spec.source_link}]")
    parts = [_text(spec.description.strip())] if spec.description.strip() else []
    parts.append("\n".join(lines))
    parts.append(f"----\n_Exported by incidentbot from {spec.reference}. Resolving this issue closes the action item._")
    return "\n\n".join(parts)


def _text(text: str) -> str:
    text = _SLACK_USER.sub(r"Slack user \1", text)
    text = _SLACK_LINK.sub(r"[\2|\1]", text)
    return _SLACK_BARE_LINK.sub(r"\1", text)

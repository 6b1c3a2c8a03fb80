"""GitHub Issues (REST API, version 2022-11-28).

- create: ``POST /repos/{owner}/{repo}/issues`` → key ``owner/repo#<number>``, ``html_url``
- find: ``GET /search/issues`` for the item's marker in the body, then the newest issues
  with our label (the search index lags a little behind new issues)
- status: ``GET /repos/{owner}/{repo}/issues/<number>`` → ``state``, ``state_reason``
"""

from __future__ import annotations

import re

import httpx

from incidentbot.core.tracker_exports import ExportSpec, RemoteStatus, github_status
from incidentbot.trackers.base import TIMEOUT_SECONDS, HttpTracker, Issue, TrackerError

API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
LABEL = "incident-action"
# The newest issues with our label looked at when the search finds nothing.
RECENT = 50
_KEY = re.compile(r"(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)#(?P<number>\d+)")
_MENTION = re.compile(r"(?<![\w.])@(?=[A-Za-z0-9])")  # not in e-mail addresses
_SLACK_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_SLACK_LINK = re.compile(r"<(https?://[^|>\s]+)\|([^>]+)>")
_SLACK_BARE_LINK = re.compile(r"<(https?://[^|>\s]+)>")


def marker(item_id: int) -> str:
    """A string only this item's issue carries (in an HTML comment, so it is not shown)."""
    return f"incidentbot-action-item-{item_id}"


class GitHubTracker(HttpTracker):
    system = "github"
    display_name = "GitHub"

    def __init__(self, *, token: str, repository: str, api_url: str = API_URL, timeout: float = TIMEOUT_SECONDS,
                 trust_env: bool = True, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(
            api_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": API_VERSION},
            timeout=timeout, trust_env=trust_env, transport=transport,
        )
        self.repository = repository

    def create(self, spec: ExportSpec) -> Issue:
        payload = {"title": spec.title, "body": body(spec), "labels": labels(spec)}
        response = self._call("POST", f"/repos/{self.repository}/issues", json=payload, expect=(201,),
                              item_only=(400, 422))
        return self._issue(response.json())

    def find(self, spec: ExportSpec) -> Issue | None:
        mark = marker(spec.item_id)
        query = f'repo:{self.repository} is:issue in:body "{mark}"'
        found = self._call("GET", "/search/issues", params={"q": query, "per_page": 10})
        candidates = list((self._json(found) or {}).get("items") or [])
        if not any(_is_ours(issue, spec) for issue in candidates):
            recent = self._call("GET", f"/repos/{self.repository}/issues",
                                params={"labels": LABEL, "state": "all", "sort": "created", "direction": "desc",
                                        "per_page": RECENT})
            candidates = list(self._json(recent) or [])
        for issue in candidates:
            if _is_ours(issue, spec):
                return self._issue(issue)
        return None

    def status(self, key: str) -> RemoteStatus:
        match = _KEY.fullmatch(key)
        if not match:
            raise TrackerError(f"{key!r} is not a GitHub issue key (owner/name#number)", retryable=False,
                               item_only=True)
        response = self._call("GET", f"/repos/{match['repo']}/issues/{match['number']}", item_only=(404, 410))
        issue = response.json()
        return github_status(issue.get("state"), issue.get("state_reason"))

    def _issue(self, issue: dict) -> Issue:
        # The URL's repository, not ours: a transferred repository answers under its new name.
        repo = _repo_of(issue) or self.repository
        return Issue(f"{repo}#{issue['number']}", issue["html_url"])

    def _message(self, response: httpx.Response) -> str:
        data = self._json(response)
        if not isinstance(data, dict):
            return response.reason_phrase or ""
        message = str(data.get("message") or response.reason_phrase or "")
        problems = [f"{e.get('field')}: {e.get('code')}" if isinstance(e, dict) and e.get("field") else
                    (e.get("message") if isinstance(e, dict) else str(e)) for e in data.get("errors") or []]
        problems = [p for p in problems if p]
        return message + (f" ({'; '.join(problems)})" if problems else "")


def _is_ours(issue: dict, spec: ExportSpec) -> bool:
    """The marker exactly (``…-12`` is not ``…-123``), on an issue (not a pull request)
    with our title: another installation writing to the same repository has its own AI-12."""
    text = issue.get("body") or ""
    if "pull_request" in issue or not re.search(re.escape(marker(spec.item_id)) + r"(?!\d)", text):
        return False
    return " ".join(str(issue.get("title") or "").split()) == " ".join(spec.title.split())


def _repo_of(issue: dict) -> str | None:
    match = re.search(r"/repos/([^/]+/[^/]+)/issues/\d+$", issue.get("url") or "")
    return match[1] if match else None


def labels(spec: ExportSpec) -> list[str]:
    return [LABEL, spec.priority, spec.type]


def body(spec: ExportSpec) -> str:
    """The issue's Markdown: the description, then the facts, then the hidden marker."""
    rows = [("Incident", f"{spec.incident_reference} · {_cell(spec.incident_title)}"),
            ("Action item", spec.reference)]
    if spec.owner:
        rows.append(("Owner", f"Slack user `{spec.owner}`"))
    if spec.due:
        rows.append(("Due", spec.due.isoformat()))
    rows.append(("Priority", spec.priority))
    rows.append(("Type", spec.type))
    if spec.service:
        rows.append(("Service", _cell(spec.service)))
    if spec.backlog_reference:
        rows.append(("Backlog item", f"{spec.backlog_reference} · {_cell(spec.backlog_title or '')}"))
    if spec.source_link:
        rows.append(("Source", f"[Slack message]({spec.source_link})"))
    parts = []
    if spec.description.strip():
        parts.append(_markdown(spec.description.strip()))
    parts.append("| | |\n| --- | --- |\n" + "\n".join(f"| {name} | {value} |" for name, value in rows))
    parts.append(f"<sub>Exported by incidentbot from {spec.reference}. Closing this issue closes the "
                 f"action item.</sub>\n\n<!-- {marker(spec.item_id)} -->")
    return "\n\n".join(parts)


def _markdown(text: str) -> str:
    """Slack's mrkdwn links and mentions as Markdown; ``@name`` does not notify GitHub users."""
    text = _SLACK_USER.sub(r"Slack user `\1`", text)
    text = _SLACK_LINK.sub(r"[\2](\1)", text)
    text = _SLACK_BARE_LINK.sub(r"\1", text)
    return _MENTION.sub("@\u200b", text)


def _cell(text: str) -> str:
    return _markdown(" ".join(text.split())).replace("|", "\\|")

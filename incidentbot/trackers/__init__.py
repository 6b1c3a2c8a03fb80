"""Export of action items to an issue tracker (GitHub Issues or Jira), and status sync back.

``from_settings`` builds the client ``INCIDENTBOT_TRACKER`` selects; ``sync.sweep`` is
the worker's job. The database side (what is due, backoff, status mapping) is
``incidentbot.core.tracker_exports``. See docs/trackers.md.
"""

from __future__ import annotations

from incidentbot.settings import Settings, require_tracker
from incidentbot.trackers.base import Issue, Tracker, TrackerError

__all__ = ["Issue", "Tracker", "TrackerError", "from_settings"]


def from_settings(settings: Settings, **options) -> Tracker | None:
    """The configured tracker's client, or None when export is off.

    Raises ConfigError naming the variables a selected tracker still needs, so a
    process fails at start-up rather than at its first export. ``options`` go to the
    client (``timeout``, ``trust_env``).
    """
    name = require_tracker(settings)
    if name == "github":
        from incidentbot.trackers.github import GitHubTracker

        return GitHubTracker(token=settings.github_token.get_secret_value(), repository=settings.github_repository,
                             api_url=settings.github_api_url, **options)
    if name == "jira":
        from incidentbot.trackers.jira import JiraTracker

        return JiraTracker(url=settings.jira_url, user=settings.jira_user,
                           api_token=settings.jira_api_token.get_secret_value(), project=settings.jira_project,
                           issue_type=settings.jira_issue_type, **options)
    return None

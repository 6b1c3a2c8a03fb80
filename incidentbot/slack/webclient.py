"""The Web API client and what it retries: Slack's rate limits and 5xx, and a dropped
connection only for calls that are harmless to repeat.

``SlackError`` is the one error the rest of the bot sees from Slack (re-exported by
``incidentbot.slack.gateway``).
"""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

# Calls that create something each time they run. After a lost answer (a dropped
# connection, a timeout) Slack may have done it, so they are never resent blindly:
# keyed posts and channel creation look first (see ``post`` and ``create_channel``).
CREATING_METHODS = frozenset({
    "chat.postMessage", "chat.postEphemeral", "chat.scheduleMessage", "conversations.create",
    "files.upload", "files.getUploadURLExternal", "files.completeUploadExternal", "views.open", "views.push",
})
LOST_ANSWER = "connection_error"  # SlackError.code when the call may or may not have happened


class SlackError(Exception):
    """A Web API call failed; ``code`` is Slack's error string (e.g. ``not_in_channel``).

    ``uncertain`` means the answer was lost: the call may have been carried out.
    """

    def __init__(self, method: str, code: str, *, uncertain: bool = False) -> None:
        super().__init__(f"Slack {method} failed: {code}")
        self.method = method
        self.code = code
        self.uncertain = uncertain


class IdempotentConnectionRetry(ConnectionErrorRetryHandler):
    """Resend after a dropped connection only what is harmless to do twice."""

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        method = request.url.rstrip("/").rsplit("/", 1)[-1]
        return method not in CREATING_METHODS and super()._can_retry(
            state=state, request=request, response=response, error=error)


class ShortRateLimitRetry(RateLimitErrorRetryHandler):
    """Wait out a 429 in place only when Slack asks for a short pause.

    The wait happens inside the call (after ``ack()``, never before). A long
    Retry-After would hold a listener thread for minutes, so the error is raised
    instead and the work is resumed later from database state (the reconcile sweep).
    """

    def __init__(self, max_retry_count: int = 3, max_wait_seconds: int = 10) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_seconds = max_wait_seconds

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        retry_after = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), ["1"])
        try:
            return int(retry_after[0]) <= self.max_wait_seconds
        except (TypeError, ValueError):
            return True


def make_client(token: str, base_url: str, *, timeout: float = 10, retries: bool = True) -> WebClient:
    """A WebClient that retries short rate limits, 5xx and dropped connections.

    ``retries=False`` (with a short timeout) is for the few calls made before ``ack()``,
    where waiting out a rate limit would break Slack's 3-second window.
    """
    if not retries:
        return WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[])
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=[
            IdempotentConnectionRetry(max_retry_count=2),
            ShortRateLimitRetry(max_retry_count=3, max_wait_seconds=10),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )

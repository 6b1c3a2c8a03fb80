"""What every tracker client offers, and the HTTP plumbing they share.

A client turns each failure into a ``TrackerError`` that says whether trying again
later can help (``retryable``), how long the tracker asked us to wait
(``retry_after``), and whether the problem is this one item's (``item_only``: a
validation error, a deleted issue) rather than the tracker's (down, bad credentials),
so a sweep can stop calling a tracker that is down instead of waiting out a timeout
per item. Tokens are never part of a message.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from incidentbot.core.tracker_exports import ExportSpec, RemoteStatus

TIMEOUT_SECONDS = 10.0
USER_AGENT = "incidentbot (+https://github.com/incidentbot)"
MESSAGE_MAX = 300


class TrackerError(Exception):
    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None,
                 item_only: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.item_only = item_only
        self.status = status

    @property
    def permanent(self) -> bool:
        return not self.retryable


@dataclass(frozen=True)
class Issue:
    key: str  # "owner/name#12", "OPS-4"
    url: str  # where people open it


class Tracker(Protocol):
    system: str  # "github" | "jira": stored in ActionItem.external_system
    paused_until: datetime | None  # set by the sweep when the tracker asked us to wait

    def create(self, spec: ExportSpec) -> Issue:
        """Create the issue for one action item."""

    def find(self, spec: ExportSpec) -> Issue | None:
        """The issue an earlier attempt created for this item (its response was lost), if any."""

    def status(self, key: str) -> RemoteStatus:
        """The issue's state now."""

    def close(self) -> None: ...


class HttpTracker:
    """An httpx client with short timeouts, and error classification."""

    system = ""
    display_name = ""

    def __init__(self, base_url: str, *, headers: dict[str, str], auth: httpx.Auth | tuple[str, str] | None = None,
                 timeout: float = TIMEOUT_SECONDS, trust_env: bool = True,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.timeout = timeout
        self.paused_until: datetime | None = None
        self._client = httpx.Client(
            base_url=base_url, headers={"User-Agent": USER_AGENT, **headers}, auth=auth,
            timeout=httpx.Timeout(timeout), trust_env=trust_env, follow_redirects=True, transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:  # never the headers: they carry the token
        return f"<{type(self).__name__} {self._client.base_url}>"

    def _call(self, method: str, path: str, *, expect: tuple[int, ...] = (200,),
              item_only: tuple[int, ...] = (), **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise TrackerError(f"{self.display_name} did not answer within {self.timeout:g} s",
                               retryable=True) from None
        except httpx.TransportError as error:
            raise TrackerError(f"cannot reach {self.display_name}: {_first_line(error)}", retryable=True) from None
        if response.status_code in expect:
            return response
        raise self._error(response, item_only=response.status_code in item_only)

    def _error(self, response: httpx.Response, *, item_only: bool) -> TrackerError:
        status = response.status_code
        detail = _clip(self._message(response))
        wait = retry_after(response.headers)
        text = f"{self.display_name} answered {status}" + (f": {detail}" if detail else "")
        if status == 429 or status == 408 or status >= 500:
            return TrackerError(text, retryable=True, retry_after=wait, status=status)
        if status == 403 and (wait is not None or "rate limit" in detail.lower()):
            # GitHub's primary and secondary rate limits answer 403, not 429.
            return TrackerError(text, retryable=True, retry_after=wait if wait is not None else 60.0, status=status)
        return TrackerError(text, retryable=False, item_only=item_only, status=status)

    def _message(self, response: httpx.Response) -> str:
        """The tracker's own explanation from an error body (overridden per tracker)."""
        return response.reason_phrase or ""

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None


def retry_after(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date), or from GitHub's
    ``x-ratelimit-reset`` when ``x-ratelimit-remaining`` is 0. None when neither says."""
    now = time.time() if now is None else now
    value = (headers.get("retry-after") or "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None and when.tzinfo is not None:
                return max(0.0, when.timestamp() - now)
    if (headers.get("x-ratelimit-remaining") or "").strip() == "0":
        try:
            return max(0.0, float(headers.get("x-ratelimit-reset", "")) - now)
        except ValueError:
            return None
    return None


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:MESSAGE_MAX] if text and text[0] else type(error).__name__


def _clip(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MESSAGE_MAX else text[: MESSAGE_MAX - 1] + "…"

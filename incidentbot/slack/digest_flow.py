"""The weekly digest in Slack: the worker's sweep that posts it once, and the preview.

The sweep (``post_weekly_digest``, every minute under the ``digest`` sweep lock) asks
``core.digest_runs.due_week`` which week is due, claims it, builds the digest
(``core.digest.build``), adds the model's narrative when one is configured (best
effort), posts the Slack message to the policy's digest channel (a name or an id; the
bot joins a public channel it is not in), marks it posted and shares the chart under
it. A Slack failure, a missing channel or a failed build releases the claim, so the next
sweep tries again; the chart is shared after the message is recorded as posted, so a
failed upload never posts the digest twice.

``/incident digest [2026-W47]`` shows the same message to the person who asked only
(through the command's ``response_url``), by default for the last complete week.
Private incidents never appear in either: the renderers leave them out.
"""

from __future__ import annotations

import calendar
import logging
import re
from datetime import datetime
from typing import Any

from slack_bolt import Respond

from incidentbot.core import digest_runs
from incidentbot.core.digest_report import Digest, Week
from incidentbot.core.errors import DomainError, InvalidInput
from incidentbot.db import session_scope, sweep_lock
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError
from incidentbot.slack.mrkdwn import escape
from incidentbot.timeutil import ensure_utc, utcnow

log = logging.getLogger(__name__)

SYNTAX = "/incident digest [2026-W47]"
MESSAGE_BLOCKS_MAX = 50
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")


def chart_filename(week: Week) -> str:
    return f"digest-{week.label}.png"


# The worker's sweep -----------------------------------------------------------------------


def post_weekly_digest(deps: Deps, now: datetime | None = None) -> int:
    """Post the digest that is due at ``now``, once. Returns how many were posted (0 or 1)."""
    now = ensure_utc(now or utcnow())
    week = digest_runs.due_week(deps.policy, now)
    if week is None:
        return 0
    channel = deps.policy.digest.channel
    with sweep_lock(deps.engine, "digest") as mine:
        if not mine:
            return 0
        with session_scope(deps.engine) as session:
            run = digest_runs.claim(session, week.label, channel, now)
        if run is None:
            return 0  # posted already, or another worker is posting it
        try:
            channel_id = deps.gateway.resolve_channel(channel)
        except SlackError as error:
            _release(deps, run.id)
            if error.code == "channel_not_found":
                log.error("weekly digest %s not posted: the digest channel %r ([digest] channel in the policy) "
                          "does not exist or the bot cannot see it. Create it (or invite the bot to a private "
                          "channel); the worker tries again every minute.", week.label, channel)
            else:
                log.warning("weekly digest %s not posted: could not find #%s (%s); will retry",
                            week.label, channel, error.code)
            return 0
        try:
            digest = build_digest(deps, week, now)
            text, message = _message(digest, deps)
            ts = deps.gateway.post(channel_id, text, message)
        except SlackError as error:
            _release(deps, run.id)
            level = logging.ERROR if error.code in {"channel_not_found", "is_archived"} else logging.WARNING
            log.log(level, "weekly digest %s not posted to %s (%s); will retry", week.label, channel, error.code)
            return 0
        except Exception:
            _release(deps, run.id)
            log.exception("weekly digest %s could not be built; will retry", week.label)
            return 0
        with session_scope(deps.engine) as session:
            digest_runs.mark_posted(session, session.get(type(run), run.id), channel_id=channel_id,
                                    message_ts=ts, now=now)
        log.info("weekly digest %s posted to %s", week.label, channel)
        _share_chart(deps, digest, channel_id, ts)
        return 1


def build_digest(deps: Deps, week: Week, now: datetime) -> Digest:
    """The digest of ``week`` with its narrative when a model is configured (best effort)."""
    from incidentbot.core.digest import build

    with session_scope(deps.engine) as session:
        digest = build(session, deps.policy, week, now=now)
    try:
        from incidentbot.digest_narrative import write_narrative

        narrative = write_narrative(digest, deps.settings)
    except Exception:  # the numbers are the digest; the narrative is a nicety
        log.warning("weekly digest %s: no narrative", week.label, exc_info=True)
        narrative = None
    if narrative:
        digest.narrative = narrative
    return digest


def _message(digest: Digest, deps: Deps) -> tuple[str, list[dict[str, Any]]]:
    from incidentbot.digest_render import slack_message

    return slack_message(digest, deps.policy)


def _share_chart(deps: Deps, digest: Digest, channel_id: str, ts: str) -> None:
    """The chart in the digest's thread. Best effort: the digest is posted already."""
    try:
        from incidentbot.digest_chart import chart_png

        png = chart_png(digest)
        deps.gateway.upload(channel_id, chart_filename(digest.week), png,
                            title=f"Incidents per week, {digest.window_weeks} weeks to {digest.week.label}",
                            thread_ts=ts)
    except Exception as error:
        log.warning("weekly digest %s: the chart was not shared (%s)", digest.week.label,
                    getattr(error, "code", None) or error)


def _release(deps: Deps, run_id: int | None) -> None:
    with session_scope(deps.engine) as session:
        run = session.get(digest_runs.DigestRun, run_id)
        if run is not None and run.posted_at is None:
            digest_runs.release(session, run)


# /incident digest [week] --------------------------------------------------------------------


def preview_week(deps: Deps, text: str, now: datetime) -> Week:
    """The week ``/incident digest`` was asked for; ``InvalidInput`` with the syntax when wrong."""
    text = text.strip()
    if not text:
        return digest_runs.last_complete_week(deps.policy, now)
    try:
        week = Week.parse(text, deps.policy)
    except InvalidInput:
        raise InvalidInput("week", f"`{text[:20]}` is not an ISO week. Type `{SYNTAX}`, e.g. "
                                   f"`/incident digest {digest_runs.last_complete_week(deps.policy, now).label}`; "
                                   "without a week you get the last complete one.") from None
    if week.end > ensure_utc(now):
        last = digest_runs.last_complete_week(deps.policy, now).label
        raise InvalidInput("week", f"{week.label} is not over yet. The last complete week is {last}: "
                                   f"`/incident digest {last}`.")
    return week


def preview(deps: Deps, week: Week, respond: Respond, now: datetime | None = None) -> None:
    """Answer ``/incident digest`` privately with the digest of ``week`` (after the ack)."""
    try:
        text, message = preview_message(deps, week, now or utcnow())
    except DomainError as error:
        respond(text=escape(str(error)), response_type="ephemeral")
        return
    respond(text=text, blocks=message, response_type="ephemeral")


def preview_message(deps: Deps, week: Week, now: datetime) -> tuple[str, list[dict[str, Any]]]:
    digest = build_digest(deps, week, now)
    text, message = _message(digest, deps)
    if len(message) < MESSAGE_BLOCKS_MAX:
        message = [*message, {"type": "context", "elements": [{"type": "mrkdwn", "text": _preview_note(deps)}]}]
    return text, message


def _preview_note(deps: Deps) -> str:
    channel = deps.policy.digest.channel.lstrip("#")
    where = f"<#{channel}>" if _CHANNEL_ID.match(channel) else f"#{escape(channel)}"
    day = calendar.day_name[deps.policy.digest.weekday]
    return (f"Preview: only you can see it. The digest is posted in {where} every {day} at "
            f"{deps.policy.digest.time} ({escape(deps.policy.timezone)}), with a chart of incidents per week.")

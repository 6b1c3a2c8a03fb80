"""The demo's last step: the worker posts the week's digest in the digest channel.

The demo's incidents were declared just now, so their digest is the one due on the
policy's digest day and time of next week; the real delivery (``post_weekly_digest``)
runs with that moment as its clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import Session

from incidentbot.core import digest_runs
from incidentbot.core.digest_report import Week
from incidentbot.slack import digest_flow
from incidentbot.slack.app import build_deps
from incidentbot.timeutil import utcnow

if TYPE_CHECKING:
    from incidentbot.demo import Demo


def post_the_digest(demo: Demo) -> None:
    policy = demo.policy
    week = Week.containing(utcnow(), policy)
    due = digest_runs.due_at(week, policy)
    channel = demo.sandbox.channel_by_name(policy.digest.channel) or demo.sandbox.channel(policy.digest.channel)
    if channel is None:
        raise RuntimeError(f"the sandbox has no digest channel {policy.digest.channel!r}")
    before = demo.count(channel["id"])
    posted = digest_flow.post_weekly_digest(build_deps(demo.settings, policy=policy, engine=demo.engine), now=due)
    if posted != 1:
        raise RuntimeError(f"the digest of {week.label} was not posted (see the log)")
    new = demo.sandbox.messages(channel["id"])[before:]
    with Session(demo.engine) as session:
        run = digest_runs.find(session, week.label, policy.digest.channel)
    [message] = [m for m in new if m["ts"] == run.message_ts]  # as posted in the channel
    chart = digest_flow.chart_filename(week)
    shared = any(f.get("name") == chart for m in new for f in m.get("files", []))
    lines = demo.renderer().blocks(message.get("blocks") or []) or demo.renderer()._wrapped(message.get("text", ""))
    lines.append(f"(chart attached: {chart})" if shared else "(no chart: the upload failed, see the log)")
    local = due.astimezone(policy.tz)
    demo.step(f"{local:%A} {policy.digest.time}: the worker posts the weekly digest of {week.label}", [
        f"{local:%A %Y-%m-%d %H:%M} ({policy.timezone}): the worker's digest sweep finds {week.label} due "
        "and posts it, once; nobody types anything",
    ], [(f"#{channel['name']}:", lines)])

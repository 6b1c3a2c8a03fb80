"""The weekly digest as one Slack message: fallback text and Block Kit blocks.

Read top to bottom in two minutes: the counts, this week's incidents, response times
(with the sample size, and the builder's note instead of a trend when there are too
few), error budgets, postmortems, action items and the backlog, repeats, then the
model's paragraph if there is one. Every string a person typed (titles, service and
category names) goes through ``mrkdwn.escape``; private incidents appear only as
counts (and minutes, in an error budget). Long lists stop with "…and N more", and the
message never exceeds Slack's 50 blocks or 3,000 characters a section.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from incidentbot.core.digest_report import BacklogLine, Budget, Count, Digest, IncidentRow, PostmortemLine, Trend
from incidentbot.core.policy import Policy
from incidentbot.digest_render import fmt
from incidentbot.slack.blocks import HEADER_MAX, SECTION_MAX, Block, plain, section
from incidentbot.slack.mrkdwn import BARE_USER_ID, escape, truncate

MAX_BLOCKS = 50
INCIDENTS_LISTED = 15  # this week's incidents shown before "…and N more"
LINES_LISTED = 8  # lines of any other list (budgets, postmortems, backlog, repeats)
NUMBERS_LISTED = 8  # incident numbers on one line
TITLE_MAX = 120


def slack_message(digest: Digest, policy: Policy) -> tuple[str, list[Block]]:
    """``(fallback text, blocks)`` for ``chat.postMessage``."""
    d = fmt.public(digest)
    tz = fmt.zone(d)
    links = fmt.channels(d)
    blocks: list[Block] = [
        {"type": "header", "text": plain(f"Incident digest · {d.week.label}", HEADER_MAX)},
        _context(f"{fmt.week_span(d)} · times in {escape(d.timezone)} · "
                 f"counts are this week (last {fmt.plural(d.window_weeks, 'week')})"),
        section(_headline(d, policy)),
        *_incidents(d, policy, tz, links),
        {"type": "divider"},
        *_trends(d),
        *_budgets(d),
        {"type": "divider"},
        *_pipeline(d, tz, links),
        *_actions(d),
        *_repeats(d, policy),
        *_narrative(d),
        *_notes(d),
    ]
    return _fallback(d), _fit(blocks)


# --- parts ---------------------------------------------------------------------------------------


def _headline(d: Digest, policy: Policy) -> str:
    window = f"{d.total_window} in the last {fmt.plural(d.window_weeks, 'week')}"
    if d.total_week == 0:
        lines = [f"*No incidents this week.* {window}."]
    else:
        private = ""
        if d.private_count:
            private = (", all private (counted, not listed)" if d.private_count == d.total_week
                       else f", {d.private_count} of them private (counted, not listed)")
        lines = [f"*{fmt.plural(d.total_week, 'incident')}* this week{private} · {window}"]
    for label, counts, name in (("Severity", d.by_severity, lambda key: escape(key)),
                                ("Category", d.by_category, lambda key: escape(fmt.category_name(policy, key))),
                                ("Detected by", d.detection, lambda key: escape(fmt.detection_name(key)))):
        shown = _counts(counts, name)
        if shown:
            lines.append(f"*{label}*: {shown}")
    return "\n".join(lines)


def _counts(counts: list[Count], name) -> str:
    return " · ".join(f"{name(c.key)} *{c.week}* ({c.window})" for c in counts if c.week or c.window)


def _incidents(d: Digest, policy: Policy, tz: ZoneInfo, links: dict[int, str]) -> list[Block]:
    if d.total_week == 0:
        return []
    lines = [_incident_line(row, policy, tz, links) for row in d.incidents]
    rest = len(lines) - INCIDENTS_LISTED
    lines = lines[:INCIDENTS_LISTED]
    if rest > 0:
        lines.append(f"_…and {rest} more (see `incidentbot digest --week {d.week.label} --format md`)_")
    if d.private_count:
        lines.append(f"_{fmt.plural(d.private_count, 'private incident')}: counted, not listed._")
    return _pack("*This week's incidents*", lines)


def _incident_line(row: IncidentRow, policy: Policy, tz: ZoneInfo, links: dict[int, str]) -> str:
    parts = [escape(row.severity), escape(truncate(row.title, TITLE_MAX))]
    if row.services:
        parts.append(escape(", ".join(row.services)))
    state = escape(fmt.status_name(policy, row.status))
    if row.time_to_resolve is not None:
        state += f" in {fmt.duration(row.time_to_resolve)}"
    parts.append(state)
    if row.impact_minutes is not None:
        parts.append(f"impact {fmt.duration(row.impact_minutes)}")
    parts.append(f"declared {fmt.when(row.declared_at, tz)}")
    return f"• {_ref(row.number, links)} " + " · ".join(parts)


def _trends(d: Digest) -> list[Block]:
    if not d.trends:
        return []
    lines = [f"*Response times* · last {fmt.plural(d.window_weeks, 'week')}, then this week"]
    empty = [t for t in d.trends if t.window.n == 0 and t.week.n == 0]
    lines += [_trend_line(t, d.min_sample) for t in d.trends if t not in empty]
    if empty:
        lines.append(f"No data yet (n = 0): {', '.join(fmt.metric_name(t.metric).lower() for t in empty)}.")
    return _pack("", lines)


def _trend_line(trend: Trend, min_sample: int) -> str:
    line = (f"*{fmt.metric_name(trend.metric)}*: {fmt.distribution(trend.window, min_sample)}"
            f" · this week: {fmt.distribution(trend.week, min_sample)}")
    if trend.note:
        line += f"\n      _{escape(trend.note)}_"
    return line


def _budgets(d: Digest) -> list[Block]:
    if not d.budgets:
        return []
    lines = [_budget_line(b) for b in d.budgets]
    return _pack(f"*Error budgets* · last {fmt.plural(d.window_weeks, 'week')}", _limit(lines, LINES_LISTED))


def _budget_line(b: Budget) -> str:
    left = (f"{fmt.duration(-b.left_minutes)} over" if b.left_minutes < 0
            else f"{fmt.duration(b.left_minutes)} left")
    line = (f"• *{escape(b.service)}* (SLO {fmt.percent(b.slo)}): {fmt.duration(b.consumed_window_minutes)} "
            f"used of {fmt.duration(b.budget_minutes)}, {left} · this week {fmt.duration(b.consumed_week_minutes)}")
    shares = _shares(b)
    if shares:
        line += f" ({shares})"
    if b.over:
        line += f" :warning: {fmt.OVER_BUDGET}"
    return line


def _shares(b: Budget) -> str:
    named = [f"INC-{s.incident_number} {fmt.duration(s.minutes)}" for s in b.shares if s.incident_number is not None]
    private = [s.minutes for s in b.shares if s.incident_number is None]
    parts = _limit(named, NUMBERS_LISTED, short=True)
    if private:
        parts.append(f"{fmt.plural(len(private), 'private incident')} {fmt.duration(sum(private))}")
    return ", ".join(parts)


def _pipeline(d: Digest, tz: ZoneInfo, links: dict[int, str]) -> list[Block]:
    lines: list[str] = []
    for name, label in fmt.PIPELINE_GROUPS:
        group: tuple[PostmortemLine, ...] = getattr(d.pipeline, name)
        if not group:
            continue
        named = [pm for pm in group if pm.incident_number is not None]
        private = len(group) - len(named)
        lines.append(f"_{label}_ ({len(group)})")
        if name in ("overdue", "due_this_week"):
            lines += _limit([_postmortem_line(pm, tz, links) for pm in named], LINES_LISTED)
        elif named:
            lines.append(", ".join(_limit([_ref(pm.incident_number, links) for pm in named], NUMBERS_LISTED,
                                          short=True)))
        if private:
            lines.append(f"{fmt.plural(private, 'private incident')}: counted, not listed")
    if not lines:
        lines = ["Nothing due, overdue, published or set aside this week."]
    return _pack("*Postmortems*", lines)


def _postmortem_line(pm: PostmortemLine, tz: ZoneInfo, links: dict[int, str]) -> str:
    parts = [escape(truncate(pm.title, TITLE_MAX))] if pm.title else []
    parts.append(f"<@{pm.owner}>" if pm.owner and BARE_USER_ID.fullmatch(pm.owner) else escape(pm.owner or "no owner"))
    parts += [f"due {fmt.day(pm.due_at, tz)}", escape(fmt.postmortem_status(pm.status))]
    return f"• {_ref(pm.incident_number, links)} " + " · ".join(parts)


def _actions(d: Digest) -> list[Block]:
    a = d.actions
    lines = [f"*Action items* this week: {a.opened} opened · {a.closed} closed · {a.overdue} overdue"]
    blocks = _pack("", lines)
    if a.top:
        blocks += _pack("*Top of the backlog* · what changed this week",
                        [_backlog_line(b, changed=True) for b in a.top])
    if a.recurred:
        blocks += _pack("*Risks that came back* · backlog items hit again this week",
                        _limit([_backlog_line(b, changed=False) for b in a.recurred], LINES_LISTED))
    return blocks


def _backlog_line(b: BacklogLine, *, changed: bool) -> str:
    line = f"• *{escape(b.label)}* {escape(truncate(b.title, TITLE_MAX))} · score {fmt.score(b.score)}"
    if changed:
        return line + f" · _{escape(b.change)}_"
    return line + ": " + ", ".join(_limit([f"INC-{n}" for n in b.incidents], NUMBERS_LISTED, short=True))


def _repeats(d: Digest, policy: Policy) -> list[Block]:
    if not d.repeats:
        return []
    lines = []
    for r in d.repeats:
        name = fmt.category_name(policy, r.name) if r.kind == "category" else r.name
        numbers = ", ".join(_limit([f"INC-{n}" for n in r.incident_numbers], NUMBERS_LISTED, short=True))
        lines.append(f"• {escape(r.kind.capitalize())} *{escape(name)}*: {numbers}")
    return _pack(f"*Repeats* · the same service or category again within {fmt.plural(d.window_weeks, 'week')}",
                 _limit(lines, LINES_LISTED))


def _narrative(d: Digest) -> list[Block]:
    if not d.narrative or not d.narrative.strip():
        return []
    return [{"type": "divider"}, section(escape(d.narrative.strip())),
            _context(f":robot_face: _{fmt.MODEL_NOTE}_ Check it against them.")]


def _notes(d: Digest) -> list[Block]:
    if not d.notes:
        return []
    return [_context("\n".join(f"Note: {escape(note)}" for note in d.notes))]


def _fallback(d: Digest) -> str:
    text = f"Incident digest {d.week.label} ({fmt.week_span(d)}): {fmt.plural(d.total_week, 'incident')} this week"
    if d.private_count:
        text += f" ({d.private_count} private)"
    text += f", {d.total_window} in {fmt.plural(d.window_weeks, 'week')}"
    if d.pipeline.overdue:
        text += f" · {fmt.plural(len(d.pipeline.overdue), 'postmortem')} overdue"
    over = [b.service for b in d.budgets if b.over]
    if over:
        text += f" · over budget: {', '.join(over)}"
    return escape(truncate(text, 1000))


# --- helpers -------------------------------------------------------------------------------------


def _ref(number: int | None, links: dict[int, str]) -> str:
    """``*INC-57* (<#C057>)``: the number, and the channel when it is known."""
    if number is None:
        return "a private incident"
    channel = links.get(number)
    return f"*INC-{number}* (<#{channel}>)" if channel else f"*INC-{number}*"


def _limit(lines: list[str], limit: int, *, short: bool = False) -> list[str]:
    rest = len(lines) - limit
    if rest <= 0:
        return list(lines)
    return [*lines[:limit], f"+{rest} more" if short else f"_…and {rest} more_"]


def _pack(title: str, lines: list[str]) -> list[Block]:
    """Lines into as few sections as fit in 3,000 characters each (a line is never split)."""
    blocks: list[Block] = []
    current = title
    for line in lines:
        line = truncate(line, SECTION_MAX - 10)
        if current and len(current) + 1 + len(line) > SECTION_MAX:
            blocks.append(section(current))
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        blocks.append(section(current))
    return blocks


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, SECTION_MAX)}]}


def _fit(blocks: list[Block]) -> list[Block]:
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    cut = len(blocks) - (MAX_BLOCKS - 1)
    return [*blocks[:MAX_BLOCKS - 1],
            _context(f"_{fmt.plural(cut, 'more part')} left out to fit Slack; "
                     "`incidentbot digest --format md` prints everything._")]

"""Property-based fuzzing of everything that reads what people type or submit.

The command parser, the action-item splitter, ``readable``, ``parse_due`` and every
modal's value reader get arbitrary text (unicode, emoji, control characters, Slack
markup and entities, very long strings) and missing or empty form state. They must
either return a value or raise the one error type their callers handle, with a
message that says what to do. ~12,000 examples in total.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentbot.core import action_items as core_action_items
from incidentbot.core import changes, incidents
from incidentbot.core.due_dates import EXAMPLES, parse_due, today
from incidentbot.core.errors import InvalidInput
from incidentbot.core.policy import load_policy
from incidentbot.core.policy_sections import ACTION_ITEM_TYPES, PRIORITIES
from incidentbot.core.updates import _check_next_update
from incidentbot.models import Incident
from incidentbot.slack import action_item_blocks, ids, modals
from incidentbot.slack.listeners.views import _declaration_from
from incidentbot.slack.parsing import CommandError, action_request, mentions, parse, readable, unescape

POLICY = load_policy()
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
ZONES = [ZoneInfo(z) for z in ("UTC", "Europe/Copenhagen", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu")]
FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])

# --- what Slack sends --------------------------------------------------------------------

MARKUP = [
    "<@U0BOB>", "<@U0BOB|bob>", "<@W0ALICE|alice>", "<@U1|x>", "<!channel>", "<!here>", "<!everyone>",
    "<!subteam^S0ONCALL|@oncall>", "<!subteam^S0ONCALL>", "<!date^1392734382^{date}|Feb 18>",
    "<#C0OPS|ops>", "<#C0OPS>", "<https://a|b>", "<https://evil.example|ok>", "<https://x.example/p?q=1&amp;r=2>",
    "<mailto:a@b.c|a@b.c>", "<mailto:x|here>", "<mailto:x|channel>", "<mailto:U0BOB>",
    "&lt;", "&gt;", "&amp;", "&lt;!here&gt;", "&lt;@U0BOB&gt;", "&amp;lt;",
]
WORDS = ["sev1", "SEV-2", "sev_3", "sev 4", "sev9", "due", "friday", "in 3 weeks", "2026-12-18", "declare", "convert",
         "help", "?", "stauts", "lsit", "action", "note", "🔥", "👩‍💻", "\u202e", "\u200b", "\x00", "\x1b[31m", "\r\n",
         "\t", "`", "```", "*bold*", "_", "~", ">", "<", "<3", "a <b> c", "<>", "<|>", "<!>", "<@>", "<<", ">>", " "]
CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F)
piece = st.one_of(
    st.text(max_size=30),
    st.sampled_from(MARKUP),
    st.sampled_from(WORDS),
    st.text(alphabet=CONTROL, max_size=5),
    st.text(alphabet="<>@!#|^&;:/ltgampU0BOhere", max_size=12),
)
slack_text = st.lists(piece, max_size=25).map(lambda parts: " ".join(parts) if len(parts) % 2 else "".join(parts))
long_text = st.one_of(
    st.builds(lambda chunk, n: (chunk * n)[:5000], st.text(min_size=1, max_size=60), st.integers(100, 5000)),
    st.lists(st.sampled_from(MARKUP + WORDS), min_size=300, max_size=400).map(" ".join).map(lambda s: s[:5000]),
)
any_text = st.one_of(slack_text, st.text(max_size=200))

# What Slack renders as a live mention, broadcast or link.
LIVE = re.compile(r"<[@!][^<>|\s]+(?:\|[^<>]*)?>")


def as_slack_sends(text: str) -> str:
    """A person's literal text as Slack delivers it (should_escape: true)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- the command parser ------------------------------------------------------------------

def _check_parse(text):
    try:
        command = parse(text)
    except CommandError as error:
        message = str(error)
        assert message.strip()
        assert "/incident" in message or "`" in message, message
    else:
        assert command.name
        assert command.title == command.title.strip()
        if command.name in {"declare", "convert"}:
            assert command.title and not LIVE.search(command.title), command.title


@settings(max_examples=2000, **FUZZ)
@given(st.one_of(slack_text, slack_text.map(unescape), st.none()))
def test_parse_raises_only_command_errors_that_say_what_to_type(text):
    _check_parse(text)


@settings(max_examples=100, **FUZZ)
@given(long_text)
def test_parse_copes_with_five_thousand_characters(text):
    _check_parse(text)
    _check_parse(unescape(text))
    request = action_request(text)
    assert not LIVE.search(request.title), request.title


@settings(max_examples=1500, **FUZZ)
@given(st.one_of(slack_text, slack_text.map(unescape)))
def test_action_request_never_raises_nor_keeps_mention_markup(text):
    request = action_request(text)
    assert not LIVE.search(request.title), request.title
    assert request.title == request.title.strip()
    assert request.owner is None or re.fullmatch(r"[UW][A-Z0-9]+", request.owner)
    assert request.due is None or 1 <= len(request.due.split()) <= 3


@settings(max_examples=1500, **FUZZ)
@given(st.lists(st.one_of(st.text(max_size=20).map(as_slack_sends), st.sampled_from(MARKUP)), max_size=20).map("".join))
def test_readable_leaves_no_mention_or_broadcast_markup(text):
    """Text as Slack sends it (user's own <, > and & as entities, markup as markup)."""
    shown = readable(text)
    assert "<!" not in shown and "<@" not in shown
    assert "<!" not in mentions(text)[1] and "<@" not in mentions(text)[1]


@settings(max_examples=1500, **FUZZ)
@given(st.lists(st.one_of(st.text(max_size=20), st.sampled_from(MARKUP + WORDS)), max_size=20).map("".join))
def test_readable_after_unescape_leaves_nothing_live(text):
    """The command path unescapes before reading: typed brackets around markup must not
    combine into a new live mention (``<!`` + a link labelled ``here`` + ``>``)."""
    for shown in (readable(unescape(text)), readable(text), parse_title(text)):
        assert not LIVE.search(shown), (text, shown)


def parse_title(text: str) -> str:
    try:
        return parse("declare " + unescape(text) + " x").title
    except CommandError:
        return ""


# --- due dates ---------------------------------------------------------------------------

due_text = st.one_of(
    any_text,
    st.from_regex(r"\s*(in\s+)?\d{1,6}\s*(d|w|days?|weeks?|wk|months?)\s*", fullmatch=True),
    st.from_regex(r"\d{1,5}-\d{1,2}-\d{1,2}([T ]\d\d(:\d\d)?)?", fullmatch=True),
    st.dates().map(date.isoformat),
    st.sampled_from(["today", "tomorrow", "yesterday", "friday", "FRI", "thurs", "next week", "", "  ", "due"]),
)


@settings(max_examples=2000, **FUZZ)
@given(due_text, st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                              timezones=st.just(timezone.utc)))
def test_parse_due_returns_a_day_or_invalid_input_with_an_example(text, now):
    try:
        day = parse_due(text, POLICY, now)
    except InvalidInput as error:
        assert error.field == "due"
        assert EXAMPLES in error.message or "e.g." in error.message, error.message
    else:
        assert isinstance(day, date) and day >= today(POLICY, now)


# --- modal value readers -----------------------------------------------------------------

MISSING = object()


def block(element: str, key: str, value):
    """One input's state, as Slack sends it (or missing / empty, as a fuzzer can send it)."""
    return st.one_of(
        st.just(MISSING),                                  # the block is not in the state at all
        st.just({}),                                       # block without the action
        st.just({element: {}}),                            # action without a value key
        st.just({element: {"type": key, key: None}}),      # an empty optional field
        value.map(lambda v: {element: {"type": key, key: v}}),
    )


def state_values(fields: dict[str, tuple[str, st.SearchStrategy]]):
    """``view.state.values``: {block_id: {action_id: {...}}}, with block_id == action_id."""
    parts = {bid: block(bid, key, value) for bid, (key, value) in fields.items()}
    return st.fixed_dictionaries(parts).map(lambda d: {k: v for k, v in d.items() if v is not MISSING})


def options(values):
    return st.one_of(st.none(), st.just({}), st.sampled_from(list(values)).map(lambda v: {"value": v}),
                     any_text.map(lambda v: {"value": v}))


def plain_text(max_size=None):
    base = st.one_of(any_text, st.just(""), st.text(alphabet=CONTROL, max_size=5))
    return st.one_of(base, st.builds(lambda c, n: c * n, st.sampled_from(["x", "é", "🔥", " ", "<!here>"]),
                                      st.integers(2900, 6100))) if max_size else base


DAYS = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)).map(date.isoformat)
TIMES = st.tuples(st.integers(0, 23), st.integers(0, 59)).map(lambda t: f"{t[0]:02d}:{t[1]:02d}")
SEVERITIES = [s.id for s in POLICY.severities]
CATEGORIES = [c.id for c in POLICY.taxonomy.categories]
SERVICES = [s.name for s in POLICY.services]


def _messages_per_field(errors: modals.FieldErrors, allowed: set[str]) -> None:
    assert errors.by_field and set(errors.by_field) <= allowed, errors.by_field
    assert all(isinstance(m, str) and m.strip() for m in errors.by_field.values())


@settings(max_examples=700, **FUZZ)
@given(state_values({
    ids.DECLARE_TITLE: ("value", plain_text(max_size=True)),
    ids.DECLARE_SEVERITY: ("selected_option", options(SEVERITIES)),
    ids.DECLARE_CATEGORY: ("selected_option", options(CATEGORIES)),
    ids.DECLARE_SERVICES: ("selected_options", st.lists(st.sampled_from(SERVICES + ["nope"]).map(lambda v: {"value": v}))),
    ids.DECLARE_SUMMARY: ("value", plain_text(max_size=True)),
    ids.DECLARE_PRIVATE: ("selected_options", st.lists(st.just({"value": "private"}), max_size=1)),
}))
def test_declare_form_reader(values):
    try:
        declaration = _declaration_from(SimpleNamespace(policy=POLICY), values, "U0ALICE", "V1")
    except modals.FieldErrors as errors:
        _messages_per_field(errors, {ids.DECLARE_TITLE, ids.DECLARE_SEVERITY, ids.DECLARE_CATEGORY,
                                     ids.DECLARE_SERVICES, ids.DECLARE_SUMMARY})
    else:
        assert declaration.title and declaration.severity in SEVERITIES
        assert len(declaration.title) <= POLICY.limits.title_max_chars


def _read_or_invalid(read):
    try:
        return read()
    except InvalidInput as error:
        assert error.field and error.message.strip()
        return None


@settings(max_examples=500, **FUZZ)
@given(state_values({
    ids.UPDATE_STATUS: ("selected_option", options([s.id for s in POLICY.statuses])),
    ids.UPDATE_TEXT: ("value", plain_text(max_size=True)),
    ids.UPDATE_IMPACT: ("value", plain_text(max_size=True)),
    ids.UPDATE_NEXT: ("selected_option", options([str(m) for m in modals.NEXT_UPDATE_CHOICES])),
}))
def test_update_form_reader(values):
    # What update_submitted reads, checked the way core.updates checks it.
    status = modals.selected(values, ids.UPDATE_STATUS)
    assert status is None or isinstance(status, str)
    _read_or_invalid(lambda: changes.clean_text(POLICY, modals.text(values, ids.UPDATE_TEXT), "text", "update"))
    _read_or_invalid(lambda: changes.clean_text(POLICY, modals.text(values, ids.UPDATE_IMPACT), "impact", "impact"))
    chosen = modals.selected(values, ids.UPDATE_NEXT)
    if chosen in {str(m) for m in modals.NEXT_UPDATE_CHOICES} or chosen is None:
        _read_or_invalid(lambda: _check_next_update(int(chosen) if chosen else None))


@settings(max_examples=400, **FUZZ)
@given(state_values({
    ids.SEVERITY_VALUE: ("selected_option", options(SEVERITIES)),
    ids.SEVERITY_REASON: ("value", plain_text(max_size=True)),
}))
def test_severity_form_reader(values):
    _read_or_invalid(lambda: incidents.check_severity(POLICY, modals.selected(values, ids.SEVERITY_VALUE) or ""))
    _read_or_invalid(lambda: changes.clean_text(POLICY, modals.text(values, ids.SEVERITY_REASON), "reason", "reason"))


@settings(max_examples=400, **FUZZ)
@given(state_values({ids.RESOLVE_SUMMARY: ("value", plain_text(max_size=True))}))
def test_resolve_form_reader(values):
    _read_or_invalid(lambda: changes.clean_text(POLICY, modals.text(values, ids.RESOLVE_SUMMARY), "summary", "summary"))


def _incident(resolved: bool) -> Incident:
    return Incident(id=3, number=3, revision=1, title="t", severity="SEV2", status="investigating", declared_by="U1",
                    declared_at=datetime(2026, 3, 29, 2, 0, tzinfo=timezone.utc),
                    resolved_at=datetime(2026, 3, 29, 5, 0, tzinfo=timezone.utc) if resolved else None)


MILESTONE_FIELDS = {}
for _name in modals.MILESTONE_LABELS:
    MILESTONE_FIELDS[f"{_name}_date"] = ("selected_date", st.one_of(DAYS, st.sampled_from(["2026-03-29", "2026-10-25"])))
    MILESTONE_FIELDS[f"{_name}_time"] = ("selected_time", st.one_of(TIMES, st.sampled_from(["02:30", "02:00", "03:00"])))
MILESTONE_FIELDS[ids.MILESTONES_DETECTION] = ("selected_option", options(modals.DETECTION_LABELS))


@settings(max_examples=700, **FUZZ)
@given(state_values(MILESTONE_FIELDS), st.sampled_from(ZONES), st.booleans())
def test_milestones_form_reader(values, zone, resolved):
    incident = _incident(resolved)
    try:
        edits = modals.milestone_values(incident, values, zone)
    except modals.FieldErrors as errors:
        _messages_per_field(errors, {f"{n}_{part}" for n in modals.MILESTONE_LABELS for part in ("date", "time")})
    else:
        assert set(edits) <= set(modals.editable_milestones(incident))
        assert all(v is None or v.utcoffset().total_seconds() == 0 for v in edits.values())
    detection = modals.selected(values, ids.MILESTONES_DETECTION)
    assert detection is None or isinstance(detection, str)


@settings(max_examples=600, **FUZZ)
@given(state_values({
    ids.PM_WHEN_DATE: ("selected_date", st.one_of(DAYS, st.sampled_from(["2026-03-29", "2026-03-08"]))),
    ids.PM_WHEN_TIME: ("selected_time", st.one_of(TIMES, st.sampled_from(["02:30", "02:00"]))),
}), st.sampled_from(ZONES))
def test_reschedule_form_reader(values, zone):
    try:
        moment = modals.picked_moment(values, zone)
    except modals.FieldErrors as errors:
        _messages_per_field(errors, {ids.PM_WHEN_DATE, ids.PM_WHEN_TIME})
    else:
        assert moment.utcoffset().total_seconds() == 0


@settings(max_examples=600, **FUZZ)
@given(state_values({
    ids.AI_TITLE: ("value", plain_text(max_size=True)),
    ids.AI_DESCRIPTION: ("value", plain_text(max_size=True)),
    ids.AI_OWNER: ("selected_user", st.one_of(st.just("U0BOB"), st.just(""), any_text)),
    ids.AI_DUE: ("selected_date", DAYS),
    ids.AI_TYPE: ("selected_option", options(ACTION_ITEM_TYPES)),
    ids.AI_PRIORITY: ("selected_option", options(PRIORITIES)),
    ids.AI_SERVICE: ("selected_option", options(SERVICES)),
}))
def test_action_item_form_reader(values):
    read = action_item_blocks.form_values(values)
    assert isinstance(read.title, str) and isinstance(read.description, str)
    assert read.due is None or isinstance(read.due, date)
    # ...and the domain's checks of what was read (core.action_items.create runs them).
    _read_or_invalid(lambda: core_action_items.clean_title(read.title))
    _read_or_invalid(lambda: core_action_items._clean_description(read.description))
    _read_or_invalid(lambda: core_action_items._check_choice(read.type, ACTION_ITEM_TYPES, "type"))
    _read_or_invalid(lambda: core_action_items._check_choice(read.priority, PRIORITIES, "priority"))
    _read_or_invalid(lambda: incidents.check_services(POLICY, [read.service]) if read.service else ())


def wont_do_reason(values: dict) -> str | None:
    """The reader in listeners.backlog.wont_do_submitted (inline there), verbatim."""
    field = (values.get(ids.BACKLOG_REASON) or {}).get(ids.BACKLOG_REASON) or {}
    return field.get("value")


@settings(max_examples=300, **FUZZ)
@given(state_values({ids.BACKLOG_REASON: ("value", plain_text())}))
def test_wont_do_and_not_needed_reason_readers(values):
    reason = wont_do_reason(values)
    assert reason is None or isinstance(reason, str)
    assert modals.text(values, ids.PM_REASON) == reason  # the postmortem "not needed" reason: same block id

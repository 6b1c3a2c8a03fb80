"""The weekly digest's renderers on hand-built digests: Slack blocks, Markdown, HTML, JSON."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

import digest_samples as samples
from incidentbot.core.metrics import Distribution
from incidentbot.digest_render import html, markdown, slack_message, to_json
from incidentbot.digest_render import fmt
from incidentbot.digest_render.documents import md
from tests_support import mrkdwn_texts

POLICY = samples.policy()
SAMPLES = {"busy": samples.busy, "empty": samples.empty, "small": samples.small, "private_only": samples.private_only}


def every_format(digest) -> dict[str, str]:
    text, blocks = slack_message(digest, POLICY)
    return {"slack": text + json.dumps(blocks, ensure_ascii=False), "md": markdown(digest, POLICY),
            "html": html(digest, POLICY), "json": json.dumps(to_json(digest), ensure_ascii=False)}


def texts(blocks) -> str:
    return "\n".join(mrkdwn_texts(blocks))


# --- formatting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("minutes", "shown"), [
    (None, "—"), (0, "0 min"), (0.2, "< 1 min"), (42, "42 min"), (42.6, "43 min"), (60, "1 h"), (185, "3 h 5 min"),
    (47 * 60 + 59, "47 h 59 min"), (2 * 1440 + 240, "2 d 4 h"), (-79.04, "-1 h 19 min"),
])
def test_durations_in_minutes_and_hours(minutes, shown):
    assert fmt.duration(minutes) == shown


def test_distribution_shows_n_and_leaves_out_p90_below_min_sample():
    enough = Distribution(14, 42.0, 185.0, 5.0, 550.0)
    assert fmt.distribution(enough, 10) == "median 42 min · p90 3 h 5 min · 5 min – 9 h 10 min (n = 14)"
    assert fmt.distribution(Distribution(3, 42.0, 60.0, 5.0, 65.0), 10) == "median 42 min · 5 min – 1 h 5 min (n = 3)"
    assert fmt.distribution(Distribution(1, 30.0, 30.0, 30.0, 30.0), 10) == "30 min (n = 1)"
    assert fmt.distribution(Distribution(0, None, None, None, None), 10) == "no data (n = 0)"


def test_week_span_in_the_org_timezone():
    d = samples.busy()
    assert fmt.week_span(d) == "16–22 Nov 2026"
    assert fmt.week_span(replace(d, week=samples.Week.of(2026, 1, POLICY))) == "29 Dec 2025 – 4 Jan 2026"
    assert fmt.week_span(replace(d, week=samples.Week.of(2026, 49, POLICY))) == "30 Nov – 6 Dec 2026"


# --- Slack ---------------------------------------------------------------------------------------


def test_busy_week_in_slack():
    text, blocks = slack_message(samples.busy(), POLICY)
    body = texts(blocks)
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "Incident digest · 2026-W47",
                                                    "emoji": True}}
    assert text.startswith("Incident digest 2026-W47 (16–22 Nov 2026): 14 incidents this week (2 private)")
    assert "*14 incidents* this week, 2 of them private (counted, not listed) · 61 in the last 12 weeks" in body
    assert "SEV1 *1* (4)" in body and "Code deploy *13* (40)" in body and "Customers *2* (9)" in body
    # INC-n with its channel when known, without when not
    assert "• *INC-57* (<#C057>) SEV1 · " in body and "• *INC-59* SEV2 · Search latency #59" in body
    assert "Resolved in 3 h 5 min" in body and "declared Mon 16 Nov 10:00" in body  # 09:00 UTC in Copenhagen
    assert ("*Time to resolve*: median 42 min · p90 3 h 5 min · 5 min – 9 h 10 min (n = 14)" in body
            and "_median 42 min, down from 57 (n = 14 vs 12)_" in body)
    budget = next(line for line in body.splitlines() if line.startswith("• *api&lt;b&gt;*"))
    assert budget.endswith(":warning: over budget") and "1 h 19 min over" in budget
    assert "(INC-57 2 h 30 min, 1 private incident 35 min)" in budget
    assert "over budget" not in next(line for line in body.splitlines() if line.startswith("• *search*"))
    assert "• *INC-40* Payments timeout · <@U0BOB> · due Fri 13 Nov · scheduled" in body
    assert "1 private incident: counted, not listed" in body
    assert "*Action items* this week: 12 opened · 9 closed · 3 overdue" in body
    assert "• *BL-4* Add canary for checkout &lt;deploys&gt; · score 15.2 · _+1 incident (INC-57)_" in body
    assert "*Risks that came back*" in body and "score 15.2: INC-57, INC-40" in body
    assert "• Service *search*: INC-68, INC-67" in body and "+5 more" in body
    assert "• Category *Code deploy*: INC-57, INC-58, INC-40" in body
    assert "Written by a model" not in body  # no narrative, no label


def test_user_text_is_escaped_in_slack():
    text, blocks = slack_message(samples.busy(), POLICY)
    body = texts(blocks) + text
    assert "<!channel>" not in body and "<script>" not in body and "<b>" not in body
    assert "&lt;!channel&gt; checkout &amp; &lt;script&gt;alert(1)&lt;/script&gt;" in body
    # the only control sequences left are the ones we made: channels and users
    assert set(re.findall(r"<([#@!][^>|]*)", body)) <= {"#C057", "#C058", "#C060", "#C062", "#C064", "#C066",
                                                        "#C068", "#C069", "@U0BOB", "@U0ALICE"}


def test_small_week_says_so_instead_of_a_trend():
    _, blocks = slack_message(samples.small(), POLICY)
    body = texts(blocks)
    assert "*Time to resolve*: median 42 min · 5 min – 1 h 5 min (n = 3)" in body
    assert "p90" not in body
    assert body.count("_too few incidents to compare (n = 3 &lt; 10)_") == 4
    assert "down from" not in body and "up from" not in body


def test_empty_week():
    text, blocks = slack_message(samples.empty(), POLICY)
    body = texts(blocks)
    assert "*No incidents this week.* 0 in the last 12 weeks." in body
    assert "This week's incidents" not in body
    assert "No data yet (n = 0): time to detect, time to acknowledge, time to mitigate, time to resolve." in body
    assert "Nothing due, overdue, published or set aside this week." in body
    assert "0 incidents this week" in text


def test_private_only_week_in_slack():
    _, blocks = slack_message(samples.private_only(), POLICY)
    body = texts(blocks)
    assert "*2 incidents* this week, all private (counted, not listed)" in body
    assert "_2 private incidents: counted, not listed._" in body
    assert "(2 private incidents 2 h 30 min) :warning: over budget" in body
    assert "INC-" not in body


def test_narrative_is_marked_as_the_models():
    digest = replace(samples.busy(), narrative="Fourteen incidents <!here>; INC-57 used the api budget.")
    _, blocks = slack_message(digest, POLICY)
    at = next(i for i, b in enumerate(blocks) if "Fourteen incidents" in json.dumps(b))
    assert blocks[at]["text"]["text"] == "Fourteen incidents &lt;!here&gt;; INC-57 used the api budget."
    assert blocks[at + 1]["type"] == "context"
    assert "Written by a model from the numbers above" in blocks[at + 1]["elements"][0]["text"]
    for name, output in every_format(digest).items():
        assert "Written by a model from the numbers above" in output or name == "json", name


def test_slack_limits_with_300_incidents():
    digest = samples.many(300)
    text, blocks = slack_message(digest, POLICY)
    assert len(blocks) <= 50
    for block in blocks:
        for t in mrkdwn_texts(block):
            assert len(t) <= 3000
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        assert len(block.get("elements", [])) <= 10
    body = texts(blocks)
    assert "_…and 285 more (see `incidentbot digest --week 2026-W47 --format md`)_" in body
    assert body.count("• *INC-") <= 15 + 16  # 15 incidents, 8 + 8 postmortem lines
    assert "_…and 52 more_" in body  # overdue postmortems
    assert "+32 more" in body  # budget shares beyond 8
    assert len(text) <= 4000


def test_block_count_is_capped_however_long_the_lists():
    digest = samples.many(300)
    digest.notes = [f"note {i}" for i in range(200)]
    digest.repeats = [replace(r, name="s" * 2900) for r in digest.repeats]
    digest.budgets = [replace(b, service="b" * 2900) for b in digest.budgets]
    _, blocks = slack_message(digest, POLICY)
    assert len(blocks) <= 50
    assert all(len(t) <= 3000 for t in mrkdwn_texts(blocks))


# --- Markdown and HTML ----------------------------------------------------------------------------


def test_busy_week_in_markdown():
    out = markdown(samples.busy(), POLICY)
    assert out.startswith("# Incident digest 2026-W47\n\n16–22 Nov 2026 · times in Europe/Copenhagen")
    assert "| SEV1 · Critical | 1 | 4 |" in out
    assert "| [INC-57](https://slack.com/app_redirect?channel=C057) | SEV1 | \\<\\!channel\\>" not in out
    assert "| [INC-57](https://slack.com/app_redirect?channel=C057) | SEV1 | \\<!channel\\> checkout \\& " in out
    assert "| INC-59 | SEV2 | Search latency #59 |" in out
    assert "| Time to resolve | median 42 min · p90 3 h 5 min · 5 min – 9 h 10 min (n = 14) |" in out
    assert "| 1 h 19 min over |" in out and "⚠️ **over budget** |" in out
    assert "- INC-40 Payments timeout · owner U0BOB · due Fri 13 Nov · scheduled" in out
    assert "| BL-4 | Add canary for checkout \\<deploys\\> | 15.2 | +1 incident (INC-57) |" in out
    assert "- The policy's SLO for search changed" in out


def test_markdown_escapes_user_text():
    assert md("a | b\n*c* <script> [x](y) `z` & _u_") == "a \\| b \\*c\\* \\<script\\> \\[x\\](y) \\`z\\` \\& \\_u\\_"
    out = markdown(samples.busy(), POLICY)
    assert "<script>" not in out and "<!channel>" not in out and "api<b>" not in out


def test_html_is_autoescaped_with_inline_css():
    out = html(samples.busy(), POLICY)
    assert out.startswith("<!DOCTYPE html>") and "<style" not in out and "<script" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out and "&lt;!channel&gt;" in out
    assert "<strong>api&lt;b&gt;</strong>" in out
    assert 'style="' in out and "<table" in out
    assert '<a href="https://slack.com/app_redirect?channel=C057"' in out
    assert "⚠ over budget" in out


def test_html_override_is_autoescaped_too(tmp_path: Path):
    (tmp_path / "digest.html.j2").write_text("<p>{% for i in d.incidents %}{{ i.title }}{% endfor %}</p>")
    out = html(samples.busy(), POLICY, template_dir=tmp_path)
    assert out.startswith("<p>&lt;!channel&gt;") and "<script>" not in out


def test_markdown_template_can_be_overridden(tmp_path: Path):
    (tmp_path / "digest.md.j2").write_text("{{ d.week.label }}: {{ d.total_week }} ({{ span }})\n")
    assert markdown(samples.busy(), POLICY, template_dir=tmp_path) == "2026-W47: 14 (16–22 Nov 2026)\n"


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_renders_in_every_format(name):
    outputs = every_format(SAMPLES[name]())
    assert all(outputs.values())


def test_empty_and_small_weeks_in_markdown_and_html():
    empty_md = markdown(samples.empty(), POLICY)
    assert "**No incidents this week.** 0 in the last 12 weeks." in empty_md
    assert "## This week's incidents" not in empty_md
    small_md = markdown(samples.small(), POLICY)
    assert "too few incidents to compare (n = 3 \\< 10)" in small_md and "· p90 " not in small_md
    small_html = html(samples.small(), POLICY)
    assert "too few incidents to compare (n = 3 &lt; 10)" in small_html


# --- private incidents -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_a_private_incidents_title_never_appears(name):
    digest = SAMPLES[name]()
    if name != "private_only":  # put the private title where a careless builder might
        overdue = (*digest.pipeline.overdue, samples.PostmortemLine(None, samples.PRIVATE_TITLE, "U0X",
                                                                     digest.week.start, "scheduled"))
        digest = replace(digest, pipeline=replace(digest.pipeline, overdue=overdue))
    for fmt_name, output in every_format(digest).items():
        assert "ACME-PRIVATE-CANARY" not in output, fmt_name
        assert "Payroll export" not in output, fmt_name
        assert "U0X" not in output, fmt_name  # nor who owns its postmortem


def test_private_only_week_everywhere():
    outputs = every_format(samples.private_only())
    assert "all private (counted, not listed)" in outputs["md"]
    assert "all private (counted, not listed)" in outputs["html"]
    assert "INC-" not in outputs["md"] and "INC-" not in outputs["html"]
    data = json.loads(outputs["json"])
    assert data["incidents"] == [] and data["private_count"] == 2
    assert data["pipeline"]["due_this_week"][0] == {"incident_number": None, "title": None, "owner": None,
                                                    "due_at": "2026-11-22T23:00:00Z", "status": "scheduled"}


# --- JSON ----------------------------------------------------------------------------------------


def test_json_has_everything_json_safe():
    digest = replace(samples.busy(), narrative="A paragraph.")
    data = to_json(digest)
    assert json.loads(json.dumps(data)) == data
    assert data["week"] == {"label": "2026-W47", "year": 2026, "number": 47, "start": "2026-11-15T23:00:00Z",
                            "end": "2026-11-22T23:00:00Z"}
    assert data["generated_at"] == "2026-11-23T08:00:00Z" and data["timezone"] == "Europe/Copenhagen"
    first = data["incidents"][0]
    assert first["title"] == samples.EVIL_TITLE and first["services"] == ["api<b>"]
    assert first["declared_at"] == "2026-11-16T09:00:00Z" and first["channel_id"] == "C057"
    assert data["trends"][0]["window"] == {"n": 14, "median": 42.0, "p90": 185.0, "minimum": 5.0, "maximum": 550.0}
    assert data["budgets"][0]["shares"] == [{"incident_number": 57, "minutes": 150.0},
                                            {"incident_number": None, "minutes": 35.0}]
    assert data["weekly"][-1] == {"week": "2026-W47", "by_severity": {"SEV1": 1, "SEV2": 11, "SEV3": 2}}
    assert data["actions"]["top"][0]["incidents"] == [57, 40]
    assert data["narrative"] == "A paragraph." and data["notes"]
    expected = {"week", "timezone", "window_weeks", "min_sample", "generated_at", "incidents", "private_count",
                "total_week", "total_window", "by_severity", "by_category", "detection", "trends", "budgets",
                "pipeline", "actions", "repeats", "weekly", "narrative", "notes"}
    assert set(data) == expected


def test_json_replaces_non_finite_numbers():
    digest = samples.busy()
    digest.budgets = [replace(digest.budgets[0], left_minutes=float("-inf"))]
    assert to_json(digest)["budgets"][0]["left_minutes"] is None

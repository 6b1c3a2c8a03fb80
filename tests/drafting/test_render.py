"""Rendering: the Markdown template (overridable) and the JSON object the tools read."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from incidentbot.drafting.document import ActionItem, Draft, TimelineRow
from incidentbot.drafting.render import render_json, render_markdown

AT = datetime(2024, 3, 13, 10, 3, 15, tzinfo=timezone.utc)


def sample() -> Draft:
    return Draft(
        title="Checkout errors", summary="Checkout failed after a deploy.", channel="inc-checkout",
        milestones={"started_at": None, "detected_at": AT, "declared_at": None, "mitigated_at": AT,
                    "resolved_at": AT},
        milestone_sources={"detected_at": "1710324195.000100",
                           "mitigated_at": "https://example.slack.com/archives/C1/p1710324195000100"},
        timeline=[TimelineRow(at=AT, text="Alert fired | prod", source="1710324195.000100", author="Alertmanager",
                              ts="1710324195.000100"),
                  TimelineRow(at=AT, text="Rolled back\nthe deploy", author="Ana", ts="1710324196.000100",
                              source="https://example.slack.com/archives/C1/p1710324196000100")],
        action_items=[ActionItem(text="Add a contract test", type="preventative", source="1710324197.000100",
                                 ts="1710324197.000100", owner="Bo", priority="P1", confirmed=True)],
        sections={"impact": "Checkout failed for 30% of users.", "contributing_factors": "- No contract test",
                  "custom_notes": "kept"},
        severity="SEV2", category="code-deploy", lead="Ana", links=["https://grafana.example.org/d/1"],
        redactions={"SECRET": 3, "EMAIL": 1},
        blameless_findings=[{"phrase": "x", "sentence": "x", "suggestion": "Name the condition.", "where": "summary",
                             "action": "reworded"}],
    )


def test_markdown_has_every_section_of_the_practice() -> None:
    md = render_markdown(sample())
    for heading in ("# Postmortem: Checkout errors", "## Summary", "## Impact", "## Leadup",
                    "## Trigger and contributing factors", "## Detection", "## Response",
                    "## Mitigation and resolution", "## Timeline", "## What went well", "## What went wrong",
                    "## Where we got lucky", "## Action items (proposed)", "## Recurrence", "## Supporting links",
                    "## Blameless check"):
        assert heading in md, heading
    assert "| Severity | SEV2 |" in md and "| Redacted | 3 secret, 1 email |" in md


def test_timeline_table_has_utc_times_and_source_links() -> None:
    md = render_markdown(sample())
    assert "| 2024-03-13 10:03 | Alert fired \\| prod | Alertmanager | `1710324195.000100` |" in md
    assert "| Rolled back the deploy | Ana | [link](https://example.slack.com/archives/C1/p1710324196000100) |" in md
    assert "| Mitigated | 2024-03-13 10:03 ([link](https://example.slack.com" in md


def test_action_items_are_a_table_with_owner_type_priority() -> None:
    md = render_markdown(sample())
    assert "| Add a contract test ✅ | Bo | preventative | P1 | `1710324197.000100` |" in md


def test_operator_template_overrides_the_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "postmortem.md.j2").write_text("{{ d.title }} / {{ d.timeline[0].at|utc }} / {{ d.model }}\n")
    assert render_markdown(sample(), template_dir=tmp_path) == "Checkout errors / 2024-03-13 10:03 / offline\n"


def test_json_has_the_documented_keys() -> None:
    out = json.loads(render_json(sample()))
    assert {"title", "summary", "severity", "category", "milestones", "timeline", "action_items", "sections",
            "model", "redactions", "blameless_findings"} <= set(out)
    assert out["milestones"] == {"started_at": None, "detected_at": "2024-03-13T10:03:15Z", "declared_at": None,
                                 "mitigated_at": "2024-03-13T10:03:15Z", "resolved_at": "2024-03-13T10:03:15Z"}
    assert out["timeline"][0] == {"at": "2024-03-13T10:03:15Z", "text": "Alert fired | prod",
                                  "source": "1710324195.000100", "author": "Alertmanager"}
    assert out["action_items"][0]["type"] == "preventative" and out["action_items"][0]["owner"] == "Bo"
    assert list(out["sections"])[:2] == ["impact", "leadup"] and out["sections"]["custom_notes"] == "kept"
    assert out["redactions"] == {"SECRET": 3, "EMAIL": 1}

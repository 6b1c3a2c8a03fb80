"""Timeline export rows and their Markdown, CSV and JSON renderings (both databases)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from incidentbot.core import capture, exporting, incidents, messages, timeline
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import parse_policy

CPH = parse_policy('timezone = "Europe/Copenhagen"\n')
# Clocks go back in Copenhagen at 01:00 UTC on 2026-10-25: the rows straddle it.
BEFORE_DST_END = datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc)  # 02:30 CEST
AFTER_DST_END = datetime(2026, 10, 25, 1, 30, tzinfo=timezone.utc)  # 02:30 CET
PIN_TS = "1792891800.000000"  # AFTER_DST_END as a Slack ts


@pytest.fixture
def incident(session):
    created, _ = incidents.declare(session, CPH, Declaration("Checkout | payments down", "SEV2", "U1"))
    created.declared_at = BEFORE_DST_END - timedelta(minutes=10)
    created.mitigated_at = AFTER_DST_END
    created.channel_name = "inc-1-checkout"
    event = timeline.events(session, created)[0]
    event.occurred_at = created.declared_at
    timeline.record(session, created, "note", "cause: a|b split\nsecond line <@U2> & co", actor="U2",
                    occurred_at=BEFORE_DST_END)
    capture.capture(session, created, channel_id="C1", ts=PIN_TS,
                    author="U3", text="rolled back, \"quoted\", commas", via="pin", actor="U1",
                    permalink="https://acme.slack.com/archives/C1/p1792891800000000")
    gone = timeline.record(session, created, "note", "deleted one", occurred_at=BEFORE_DST_END + timedelta(minutes=1))
    gone.deleted = True
    session.commit()
    return created


def test_rows_are_oldest_first_utc_and_without_deleted(session, incident):
    assert messages.ts_to_datetime(PIN_TS) == AFTER_DST_END
    rows = exporting.timeline_rows(session, incident)
    assert [r.kind for r in rows] == ["declared", "note", "message_captured"]
    assert all(r.occurred_at.tzinfo == timezone.utc for r in rows)
    assert [r.occurred_at for r in rows] == sorted(r.occurred_at for r in rows)
    declared, note, pinned = rows
    assert declared.source == "incidentbot" and declared.actor == "U1"
    assert note.actor == "U2" and note.permalink is None
    assert pinned.actor == "U3" and pinned.via == ("pin",) and pinned.source == PIN_TS
    assert pinned.permalink.startswith("https://acme.slack.com/")
    assert "deleted one" not in [r.text for r in rows]


def test_markdown_escapes_table_cells_and_shows_both_clocks(session, incident):
    text = exporting.render(incident, exporting.timeline_rows(session, incident), "md", CPH)
    assert text.startswith("# INC-1: Checkout | payments down\n")  # a heading may hold a pipe
    assert "**Severity:** SEV2" in text
    table = [line for line in text.splitlines() if line.startswith("| 20")]
    milestone_rows = [line for line in text.splitlines() if line.startswith("| Declared") or line.startswith("| Mitigated")]
    assert len(table) == 3  # one line per row: the newline in the note did not break the table
    for line in table:
        # Every row has exactly the header's 6 cells: 7 unescaped pipes.
        assert line.replace("\\|", "").count("|") == 7, line
    note = table[1]
    assert "cause: a\\|b split<br>second line &lt;@U2&gt; &amp; co" in note
    # UTC and Copenhagen, either side of the end of DST: both 02:30 local, an hour apart.
    assert note.startswith("| 2026-10-25 00:30:00 | 2026-10-25 02:30:00 CEST |")
    assert table[2].startswith("| 2026-10-25 01:30:00 | 2026-10-25 02:30:00 CET |")
    assert f"[{PIN_TS}](https://acme.slack.com/archives/C1/p1792891800000000)" in table[2]
    assert "message (pin)" in table[2]
    assert milestone_rows == ["| Declared | 2026-10-25 00:20:00 | 2026-10-25 02:20:00 CEST |",
                              "| Mitigated | 2026-10-25 01:30:00 | 2026-10-25 02:30:00 CET |"]
    assert "| UTC | Europe/Copenhagen | Event | Who | What | Source |" in text


def test_md_cell_cannot_be_broken_out_of():
    assert exporting.md_cell("a|b") == "a\\|b"
    assert exporting.md_cell("a\\|b") == "a\\\\\\|b"  # a backslash in the text cannot unescape our pipe
    assert exporting.md_cell("x\r\ny\rz\n") == "x<br>y<br>z"
    assert exporting.md_cell("<script>") == "&lt;script&gt;"
    assert exporting.md_cell(None) == ""


def test_csv_has_a_header_and_round_trips(session, incident):
    text = exporting.render(incident, exporting.timeline_rows(session, incident), "csv", CPH)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(exporting.CSV_COLUMNS)
    assert [r["kind"] for r in rows] == ["declared", "note", "message_captured"]
    assert rows[1]["text"] == "cause: a|b split\nsecond line <@U2> & co"
    assert rows[2]["text"] == 'rolled back, "quoted", commas'
    assert rows[1]["occurred_at"] == "2026-10-25T00:30:00Z"
    assert rows[1]["occurred_at_local"] == "2026-10-25T02:30:00+02:00"
    assert rows[2]["occurred_at_local"] == "2026-10-25T02:30:00+01:00"
    assert rows[0]["source"] == "incidentbot" and rows[2]["permalink"].startswith("https://")


def test_json_is_iso_utc_with_nulls_for_missing_milestones(session, incident):
    document = json.loads(exporting.render(incident, exporting.timeline_rows(session, incident), "json", CPH))
    assert document["incident"]["reference"] == "INC-1"
    assert document["incident"]["timezone"] == "Europe/Copenhagen"
    milestones = document["incident"]["milestones"]
    assert milestones["declared_at"] == "2026-10-25T00:20:00Z"
    assert milestones["mitigated_at"] == "2026-10-25T01:30:00Z"
    assert milestones["resolved_at"] is None and milestones["started_at"] is None
    assert [row["occurred_at"] for row in document["timeline"]] == [
        "2026-10-25T00:20:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"]
    assert document["timeline"][2]["via"] == ["pin"]
    for row in document["timeline"]:
        assert datetime.fromisoformat(row["occurred_at"]).tzinfo is not None


def test_empty_timeline_and_unknown_format(session):
    empty, _ = incidents.declare(session, CPH, Declaration("quiet", "SEV4", "U1"))
    session.commit()
    assert "declared" in exporting.render(empty, exporting.timeline_rows(session, empty), "md", CPH)
    assert "Nothing on the timeline yet." in exporting.render(empty, [], "md", CPH)
    assert exporting.render(empty, [], "csv", CPH).strip() == ",".join(exporting.CSV_COLUMNS)
    with pytest.raises(ValueError, match="md, csv, json"):
        exporting.render(empty, [], "pdf", CPH)


def test_an_operator_template_overrides_the_shipped_one(session, incident, tmp_path):
    (tmp_path / "timeline.md.j2").write_text(
        "{{ reference }}{% for row in rows %}\n{{ row.utc }} {{ row.text | md_cell }}{% endfor %}\n")
    text = exporting.render(incident, exporting.timeline_rows(session, incident), "md", CPH, template_dir=tmp_path)
    assert text.splitlines()[0] == "INC-1" and "a\\|b" in text.splitlines()[2]


def test_secrets_in_the_texts_become_placeholders(session, incident):
    """A key pasted into a pinned message stays in the database (the channel shows it
    anyway) but not in an exported file: the same placeholders as a postmortem draft."""
    policy = parse_policy('timezone = "Europe/Copenhagen"\n[drafting.redact_patterns]\nCUSTOMER_ID = "CUST-\\\\d{6}"\n')
    key = "AKIAQ7EXPORT0AWS1KEY"
    timeline.record(session, incident, "note", f"old key {key} seen for CUST-123456", actor="U2",
                    occurred_at=AFTER_DST_END + timedelta(minutes=1))
    timeline.record(session, incident, "status_update", f"rotated {key}; ask ops.lead@example.org", actor="U2",
                    occurred_at=AFTER_DST_END + timedelta(minutes=2))
    session.commit()
    rows = exporting.timeline_rows(session, incident)
    assert rows[-1].text == f"rotated {key}; ask ops.lead@example.org"  # stored as Slack has it
    document = json.loads(exporting.render(incident, rows, "json", policy))
    assert [row["text"] for row in document["timeline"][-2:]] == [
        "old key <SECRET_1> seen for <CUSTOMER_ID_2>", "rotated <SECRET_1>; ask <EMAIL_3>"]
    for fmt in ("md", "csv"):
        text = exporting.render(incident, rows, fmt, policy)
        assert key not in text and "CUST-123456" not in text and "ops.lead@" not in text
        assert "rolled back" in text  # the rest is untouched
    assert "old key &lt;SECRET_1&gt; seen" in exporting.render(incident, rows, "md", policy)

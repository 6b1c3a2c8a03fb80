"""Reading Slack workspace exports: the shared dfds samples and hand-made exports."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from incidentbot.slack_export import (
    ExportUser,
    SlackExport,
    SlackExportError,
    UnknownChannel,
    ts_to_datetime,
    write_export,
)

DFDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "incidents" / "dfds"
SAMPLES = sorted(p for p in DFDS.glob("PM*") if p.is_dir()) if DFDS.is_dir() else []
needs_samples = pytest.mark.skipif(not SAMPLES, reason=f"the shared dfds samples are not at {DFDS}")


# --- the shared samples --------------------------------------------------------------------------


@needs_samples
def test_there_are_samples_to_read():
    manifest = json.loads((DFDS / "manifest.json").read_text())["incidents"]
    assert [p.name for p in SAMPLES] == sorted(entry["dir"] for entry in manifest) and len(SAMPLES) >= 37


@needs_samples
@pytest.mark.parametrize("folder", SAMPLES, ids=[p.name for p in SAMPLES])
def test_every_sample_opens_and_every_channel_parses(folder):
    export = SlackExport.open(folder)
    truth = json.loads((folder / "ground_truth.json").read_text())
    manifest = {entry["id"]: entry for entry in json.loads((DFDS / "manifest.json").read_text())["incidents"]}
    entry = manifest[folder.name]
    assert export.channel_names() == [truth["channel"]["name"]]
    assert export.users and all(isinstance(u, ExportUser) for u in export.users.values())

    for name in export.channel_names():
        history = export.messages(name)
        # Counts: the manifest's, and plausible for a channel rebuilt from a postmortem.
        assert len(history) == entry["messages"]
        assert 150 <= len(history) <= 1500
        assert history[0].ts == entry["first_ts"] and history[-1].ts == entry["last_ts"]
        # Oldest first, across day files; unique; times are aware UTC.
        stamps = [m.ts for m in history]
        assert stamps == sorted(stamps, key=lambda ts: ts_to_datetime(ts)) and len(set(stamps)) == len(stamps)
        assert all(m.posted_at.tzinfo is timezone.utc for m in history)
        assert len({m.posted_at.date() for m in history}) == entry["days"]
        # Threads: replies are there and point at a parent in the channel.
        by_ts = {m.ts: m for m in history}
        replies = [m for m in history if m.is_reply]
        assert replies and all(m.thread_ts in by_ts for m in replies)
        parents = [m for m in history if m.reply_count]
        assert sum(m.reply_count for m in parents) == len(replies)
        # Pins (channels.json) and the :pushpin: reactions are the ones the answer key lists.
        assert {m.ts for m in history if m.pinned} == set(truth["pinned_message_ts"])
        assert {m.ts for m in history if m.reacted_with("pushpin")} == set(truth["pushpin_message_ts"])
        # Bots, joins, topic changes and edits are kept, with what identifies them.
        bots = [m for m in history if m.subtype == "bot_message"]
        assert bots and all(m.bot_id and m.username and export.is_bot(m) for m in bots)
        assert all(export.author(m) == m.username for m in bots)
        joins = [m for m in history if m.subtype == "channel_join"]
        assert joins and all(m.user_id for m in joins)
        assert any(m.subtype == "channel_topic" for m in history)
        edited = [m for m in history if m.raw.get("edited")]
        assert all(m.edited_at and m.edited_at >= m.posted_at for m in edited)
        # Every person who posted is known, so mentions resolve to names.
        for message in history:
            if message.user_id and not message.is_bot:
                assert message.user_id in export.users
            assert "<@U" not in export.resolve_mentions(message.text)


@needs_samples
def test_a_sample_reads_as_people_would():
    folder = DFDS / "PM2021-003"
    export = SlackExport.open(folder)
    history = export.messages("inc-2021-02-19-flux-unintended-version-update")
    topic = next(m for m in history if m.subtype == "channel_topic")
    assert export.plain_text(topic) == "@Dorthe set the channel topic: SEV3 | Investigating | lead: @dorthe.skov"
    alert = next(m for m in history if m.username == "Alertmanager")
    assert alert.text.startswith("[FIRING:1]") and "*Summary:*" in alert.attachment_text
    assert alert.reactions == (("eyes", ("U0XNAS8CY35",)),)
    assert export.display_name("U06TE1WUNQQ") == "Dorthe"
    assert export.users["U06TE1WUNQQ"].real_name == "Dorthe Skov"


# --- hand-made exports --------------------------------------------------------------------------

PEOPLE = [
    {"id": "U1", "name": "ana", "real_name": "Ana Lima", "profile": {"display_name": "ana.l", "real_name": "Ana Lima"}},
    {"id": "U2", "name": "bo", "real_name": "Bo Berg", "profile": {"display_name": "", "real_name": "Bo Berg"}},
    {"id": "U3", "name": "cy", "profile": {}},
    {"id": "UBOT", "name": "pagerbot", "is_bot": True, "profile": {"bot_id": "B1", "real_name": "Pager Bot"}},
]
CHANNEL = {"id": "C1", "name": "inc-7-db", "created": 1700000000, "creator": "U1",
           "topic": {"value": "SEV2 | Investigating"}, "purpose": {"value": "Database is slow"},
           "pins": [{"id": "1700000300.000300", "type": "C"}]}


def _messages() -> list[dict]:
    return [
        # Out of order on purpose: the reader sorts by ts.
        {"type": "message", "ts": "1700000100.000100", "user": "U1", "text": "db latency up &amp; climbing"},
        {"type": "message", "subtype": "channel_join", "ts": "1700000000.000001", "user": "U1",
         "text": "<@U1> has joined the channel"},
        {"type": "message", "subtype": "bot_message", "ts": "1700000200.000200", "bot_id": "B1",
         "username": "PagerBot", "text": "Triggered: DB p99 &gt; 2s"},
        {"type": "message", "ts": "1700000300.000300", "user": "U2", "text": "cause: a bad index", "thread_ts":
         "1700000300.000300", "reply_count": 1, "reactions": [{"name": "pushpin", "users": ["U1"], "count": 1},
                                                               {"name": "+1::skin-tone-2", "users": ["U3"], "count": 1}]},
        {"type": "message", "ts": "1700000400.000400", "user": "U3", "text": "reverting it", "thread_ts":
         "1700000300.000300", "parent_user_id": "U2"},
        {"type": "message", "ts": "1700090000.000500", "user": "UGONE", "text": "next day, from someone who left",
         "edited": {"user": "UGONE", "ts": "1700090100.000000"}, "pinned_to": ["C1"],
         "files": [{"id": "F1", "name": "graph.png"}]},
        {"type": "message", "ts": "1700090200.000600", "bot_id": "B1", "text": "no username, a bot user",
         "bot_profile": {"id": "B1", "name": "pagerbot"}},
    ]


@pytest.fixture
def export_dir(tmp_path) -> Path:
    return write_export(tmp_path / "export", users=PEOPLE, channels=[CHANNEL], messages={"inc-7-db": _messages()})


def test_hand_made_export_reads_everything(export_dir):
    export = SlackExport.open(export_dir)
    history = export.messages("#inc-7-db")
    assert [m.ts for m in history] == sorted(m["ts"] for m in _messages())
    assert len(list(export_dir.joinpath("inc-7-db").glob("*.json"))) == 2  # two UTC days
    join, first, bot, parent, reply, late, bot_user = history
    assert join.subtype == "channel_join"
    assert first.text == "db latency up &amp; climbing" and export.resolve_mentions(first.text) == "db latency up & climbing"
    assert bot.is_bot and bot.username == "PagerBot" and export.author(bot) == "PagerBot"
    assert parent.pinned and parent.reply_count == 1 and not parent.is_reply
    assert parent.reacted_with("pushpin") == ("U1",) and parent.reacted_with(":+1:") == ("U3",)
    assert reply.is_reply and reply.thread_ts == parent.ts
    assert late.pinned and late.files == ("graph.png",)  # pinned_to on the message itself
    assert late.edited_at == datetime(2023, 11, 15, 23, 15, tzinfo=timezone.utc)
    assert export.author(late) == "UGONE" and export.display_name("UGONE") == "UGONE"  # unknown: the id
    assert bot_user.username == "pagerbot" and export.is_bot(bot_user)


def test_user_names_prefer_display_then_real_then_handle(export_dir):
    export = SlackExport.open(export_dir)
    assert [export.display_name(u) for u in ("U1", "U2", "U3", "UBOT")] == ["ana.l", "Bo Berg", "cy", "Pager Bot"]
    assert export.users["UBOT"].is_bot and export.users["UBOT"].bot_id == "B1"
    assert export.display_name(None) == "unknown"


def test_mentions_links_and_entities_resolve(export_dir):
    export = SlackExport.open(export_dir)
    text = ("<@U1> and <@U9|gone> see <#C1|inc-7-db> <#C1> <!here> <!subteam^S1|@oncall> "
            "<https://status.example.com|status page> <https://x.example.com> <mailto:a@b.org|a@b.org> "
            "a &lt; b &amp;&amp; c &gt; d <!date^1700000000^{date}|Nov 14>")
    assert export.resolve_mentions(text) == (
        "@ana.l and @gone see #inc-7-db #inc-7-db @here @oncall "
        "status page (https://status.example.com) https://x.example.com a@b.org "
        "a < b && c > d Nov 14"
    )
    # Unescaping happens after the links: an escaped bracket never becomes a mention.
    assert export.resolve_mentions("&lt;@U1&gt;") == "<@U1>"
    assert export.resolve_mentions("") == ""


def test_ts_is_exact_to_the_microsecond():
    assert ts_to_datetime("1613720137.301901") == datetime(2021, 2, 19, 7, 35, 37, 301901, tzinfo=timezone.utc)
    assert ts_to_datetime("1613720137") == datetime(2021, 2, 19, 7, 35, 37, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        ts_to_datetime("yesterday")


def test_unknown_channel_lists_the_channels(export_dir):
    export = SlackExport.open(export_dir)
    with pytest.raises(UnknownChannel) as raised:
        export.channel("inc-8-other")
    assert isinstance(raised.value, KeyError)
    assert "inc-8-other" in str(raised.value) and "Channels: inc-7-db" in str(raised.value)
    assert export.channel("C1")["name"] == "inc-7-db"  # by id too


@pytest.mark.parametrize("missing", ["users.json", "channels.json"])
def test_missing_root_files_are_named(export_dir, missing):
    (export_dir / missing).unlink()
    with pytest.raises(SlackExportError, match=missing):
        SlackExport.open(export_dir)


def test_missing_folder_and_channel_folder_are_named(export_dir, tmp_path):
    with pytest.raises(SlackExportError, match="no such folder"):
        SlackExport.open(tmp_path / "nowhere")
    shutil.rmtree(export_dir / "inc-7-db")
    export = SlackExport.open(export_dir)
    with pytest.raises(SlackExportError, match=r"inc-7-db/: missing"):
        export.messages("inc-7-db")


def test_broken_day_file_is_named(export_dir):
    (export_dir / "inc-7-db" / "2023-11-14.json").write_text("[{not json")
    export = SlackExport.open(export_dir)
    with pytest.raises(SlackExportError, match=r"2023-11-14\.json: not valid JSON"):
        export.messages("inc-7-db")


def test_duplicates_and_other_files_are_ignored(export_dir):
    folder = export_dir / "inc-7-db"
    day = json.loads((folder / "2023-11-14.json").read_text())
    # Some exports repeat a thread broadcast in two day files; the message is read once.
    (folder / "2023-11-16.json").write_text(json.dumps([day[1]]))
    (folder / "notes.txt").write_text("not a day file")
    (folder / "canvas.json").write_text("{}")
    assert len(SlackExport.open(export_dir).messages("inc-7-db")) == len(_messages())


def test_private_channels_dms_and_zips(tmp_path):
    private = write_export(tmp_path / "private", users=PEOPLE, channels=[{**CHANNEL, "name": "inc-secret"}],
                           messages={"inc-secret": _messages()[:2]}, private=True)
    assert [m.ts for m in SlackExport.open(private).messages("inc-secret")][0] == "1700000000.000001"

    dm_dir = tmp_path / "dm"
    write_export(dm_dir, users=PEOPLE, channels=[CHANNEL], messages={"inc-7-db": _messages()[:1], "D42": _messages()[:1]})
    (dm_dir / "dms.json").write_text(json.dumps([{"id": "D42", "members": ["U1", "U2"]}]))
    dm_export = SlackExport.open(dm_dir)
    assert "D42" in dm_export.channel_names() and len(dm_export.messages("D42")) == 1

    # A .zip as Slack hands it out, with the files wrapped in a top folder.
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for file in private.rglob("*"):
            if file.is_file():
                zipped.write(file, f"Acme Slack export/{file.relative_to(private)}")
    zipped_export = SlackExport.open(archive)
    assert len(zipped_export.messages("inc-secret")) == 2
    assert zipped_export.display_name("U1") == "ana.l"


def test_reader_needs_no_database_or_slack():
    import subprocess
    import sys

    code = ("import sys, incidentbot.slack_export\n"
            "bad = [m for m in ('sqlalchemy', 'sqlmodel', 'slack_sdk', 'slack_bolt', 'incidentbot.db') if m in sys.modules]\n"
            "print(bad)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

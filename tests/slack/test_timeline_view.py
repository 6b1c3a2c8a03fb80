from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from incidentbot.core.policy import load_policy
from incidentbot.models import Incident, TimelineEvent
from incidentbot.slack import timeline_view
from tests_support import mrkdwn_texts

POLICY = load_policy()
START = datetime(2026, 3, 29, 0, 30, tzinfo=timezone.utc)  # DST starts in Copenhagen at 01:00 UTC


def incident() -> Incident:
    return Incident(id=7, number=7, revision=2, title="Queue <stuck>", severity="SEV2", status="investigating",
                    declared_by="U1", declared_at=START)


def event(i: int, text: str = "note", **kwargs) -> TimelineEvent:
    return TimelineEvent(id=i, incident_id=7, kind="note", text=text, actor="U0BOB",
                         occurred_at=START + timedelta(minutes=20 * i), **kwargs)


def test_times_are_shown_in_the_readers_zone_across_dst():
    sections = [timeline_view.entry_sections(event(i), ZoneInfo("Europe/Copenhagen"))[0] for i in (0, 3)]
    assert sections[0].startswith("*2026-03-29 01:30 CET* (00:30 UTC)")
    assert sections[1].startswith("*2026-03-29 03:30 CEST* (01:30 UTC)")


def test_pages_respect_block_kit_limits_and_every_event_is_shown():
    events = [event(i, f"entry {i}") for i in range(120)]
    pages = timeline_view.paginate(events, ZoneInfo("UTC"))
    assert sum(len(p) for p in pages) == 120 and len(pages) == 3
    for page in range(len(pages)):
        _, message = timeline_view.timeline_message(POLICY, incident(), events, ZoneInfo("UTC"), page)
        assert len(message) <= 50
        assert all(len(t) <= 3000 for t in mrkdwn_texts(message))
    _, last = timeline_view.timeline_message(POLICY, incident(), events, ZoneInfo("UTC"), 2)
    labels = [e["text"]["text"] for e in last[-1]["elements"]]
    assert labels == ["◀ Earlier", "Edit milestones"]


def test_long_entries_are_split_not_cut():
    long_text = "x" * 7000
    sections = timeline_view.entry_sections(event(1, long_text), ZoneInfo("UTC"))
    assert len(sections) == 3 and all(len(s) <= 3000 for s in sections)
    assert sum(s.count("x") for s in sections) == 7000


def test_user_text_and_links_are_safe():
    _, message = timeline_view.timeline_message(
        POLICY, incident(), [event(1, "<!channel> see <https://evil|ok>", permalink="https://slack/p1")], ZoneInfo("UTC"))
    text = " ".join(mrkdwn_texts(message))
    assert "<!channel>" not in text and "&lt;https://evil|ok&gt;" in text and "<https://slack/p1|source>" in text
    assert "Queue &lt;stuck&gt;" in text


def test_empty_timeline_says_how_to_add_to_it():
    _, message = timeline_view.timeline_message(POLICY, incident(), [], ZoneInfo("UTC"))
    assert "/incident note" in " ".join(mrkdwn_texts(message))


def test_people_are_named_in_bot_entries_but_user_text_is_left_alone():
    bot_entry = timeline_view.entry_sections(
        TimelineEvent(id=1, incident_id=7, kind="role_assigned", text="Incident lead: U0BOB.", occurred_at=START),
        ZoneInfo("UTC"))[0]
    typed = timeline_view.entry_sections(
        TimelineEvent(id=2, incident_id=7, kind="note", text="ask U0BOB", occurred_at=START), ZoneInfo("UTC"))[0]
    assert "Incident lead: <@U0BOB>." in bot_entry and "ask U0BOB" in typed

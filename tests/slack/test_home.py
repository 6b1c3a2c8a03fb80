"""App Home and `/incident list` blocks: what the reader sees, within Block Kit's limits."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from incidentbot.core.policy import load_policy
from incidentbot.models import Incident
from incidentbot.slack import home
from incidentbot.slack.home import Row
from tests_support import mrkdwn_texts

POLICY = load_policy()
NOW = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)


def incident(number: int = 12, **kwargs) -> Incident:
    defaults = dict(id=number, number=number, title=f"Checkout errors {number}", severity="SEV2",
                    status="investigating", declared_by="U0ALICE", declared_at=NOW - timedelta(hours=2, minutes=5),
                    channel_id=f"C{number}", channel_name=f"inc-{number}")
    return Incident(**{**defaults, **kwargs})


def texts(blocks) -> str:
    return "\n".join(mrkdwn_texts(blocks))


def test_list_line_shows_reference_title_severity_status_lead_age_and_channel():
    text, blocks = home.list_blocks(POLICY, [Row(incident(12), lead="U0BOB")], NOW)
    assert text == "1 open incident"
    line = blocks[1]["text"]["text"]
    assert line == ("*INC-12* Checkout errors 12\n"
                    "*SEV2 · Major* · Investigating · lead <@U0BOB> · open 2 h 05 min · <#C12>")


def test_list_escapes_titles_so_they_cannot_ping_or_fake_links():
    hostile = incident(title="DB <!channel> see <https://evil.example|runbook> & <@U0BOB>")
    _, blocks = home.list_blocks(POLICY, [Row(hostile)], NOW)
    shown = texts(blocks)
    assert "<!channel>" not in shown and "<https://evil" not in shown and "<@U0BOB>" not in shown
    assert "DB &lt;!channel&gt; see &lt;https://evil.example|runbook&gt; &amp; &lt;@U0BOB&gt;" in shown


def test_list_without_lead_or_channel_says_so():
    _, blocks = home.list_blocks(POLICY, [Row(incident(channel_id=None))], NOW)
    assert "_no lead yet_" in texts(blocks) and "_channel being set up_" in texts(blocks)


def test_private_incidents_are_marked_with_a_lock():
    _, blocks = home.list_blocks(POLICY, [Row(incident(3, private=True)), Row(incident(2))], NOW)
    assert blocks[1]["text"]["text"].startswith(":lock: _private_ · *INC-3*")
    assert ":lock:" not in blocks[2]["text"]["text"]


def test_empty_list_says_nothing_is_open():
    text, blocks = home.list_blocks(POLICY, [], NOW)
    assert text == home.EMPTY and texts(blocks) == home.EMPTY


def test_long_list_stays_within_fifty_blocks_and_says_how_many_more():
    rows = [Row(incident(n, title="&" * POLICY.limits.title_max_chars)) for n in range(80, 0, -1)]
    text, blocks = home.list_blocks(POLICY, rows, NOW)
    assert text == "80 open incidents" and len(blocks) == 50
    shown = [b for b in blocks if b["type"] == "section" and "*INC-" in b["text"]["text"]]
    assert len(shown) == 48 and "*INC-80*" in shown[0]["text"]["text"]  # newest first
    assert blocks[-1]["type"] == "context"
    assert texts(blocks[-1]) == "…and 32 more. Open incidentbot's *Home* tab to see them all."
    assert all(len(t) <= 3000 for t in mrkdwn_texts(blocks))


def test_unknown_severity_and_status_still_show():
    # A policy edit removed them; old incidents must not break the list.
    _, blocks = home.list_blocks(POLICY, [Row(incident(severity="SEV9", status="triage"))], NOW)
    assert "*SEV9* · triage ·" in texts(blocks)


@pytest.mark.parametrize("elapsed, shown", [
    (timedelta(seconds=20), "under a minute"),
    (timedelta(minutes=7, seconds=59), "7 min"),
    (timedelta(hours=2, minutes=5), "2 h 05 min"),
    (timedelta(hours=23, minutes=59), "23 h 59 min"),
    (timedelta(days=3, hours=4, minutes=30), "3 d 4 h"),
    (timedelta(seconds=-30), "under a minute"),  # clocks disagree by a little
])
def test_age(elapsed, shown):
    assert home.age(elapsed) == shown


def test_ages_follow_the_clock():
    row = Row(incident(declared_at=datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)))
    with freeze_time("2026-03-02 09:42:00"):
        assert "open 42 min" in texts(home.list_blocks(POLICY, [row], home.utcnow())[1])
    with freeze_time("2026-03-02 11:07:00"):
        assert "open 2 h 07 min" in texts(home.list_blocks(POLICY, [row], home.utcnow())[1])


def test_home_has_my_incidents_all_incidents_and_how_to_declare():
    mine = Row(incident(2, private=True), lead="U0ALICE", parts=("Incident lead", "declared it"))
    other = Row(incident(1), lead=None)
    view = home.home_view(POLICY, [mine], [mine, other], NOW)
    assert view["type"] == "home"
    headers = [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]
    assert headers == ["Your open incidents and roles", "All open incidents (2)"]
    shown = texts(view["blocks"])
    assert ":lock: _private_ · *INC-2* Checkout errors 2\nYou: Incident lead, declared it · *SEV2* · open 2 h 05 min · <#C2>" in shown
    assert "*INC-1* Checkout errors 1\n*SEV2 · Major* · Investigating · _no lead yet_ · open 2 h 05 min · <#C1>" in shown
    # Slack shows &lt;title&gt; as <title>; unescaped it would be read as a link.
    assert "`/incident &lt;title&gt;`" in shown and "Updated <!date^" in shown


def test_home_for_someone_with_nothing_open():
    view = home.home_view(POLICY, [], [], NOW)
    shown = texts(view["blocks"])
    assert "Nothing open that you declared or hold a role in." in shown and home.EMPTY in shown
    assert [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"][1] == "All open incidents"


def test_home_stays_within_a_hundred_blocks():
    rows = [Row(incident(n), parts=("Scribe",)) for n in range(150, 0, -1)]
    view = home.home_view(POLICY, rows, rows, NOW)
    blocks = view["blocks"]
    assert len(blocks) == 100
    assert "…and 130 more of yours; they are all in the list below." in texts(blocks)
    listed = [b for b in blocks if b["type"] == "section" and b["text"]["text"].startswith("*INC-")]
    assert len(listed) == 20 + 72
    assert texts(blocks[-4]) == "…and 78 older ones not shown. Each has its own channel."
    assert len(json.dumps(view)) < 250_000

"""Rendering of ``/incident backlog``, App Home's "My action items" and "Top of the backlog",
and the owner reminder DM: pure builders, Block Kit limits, escaping, private incidents."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from tests_support import mrkdwn_texts

from incidentbot.core import backlog
from incidentbot.core.action_item_reminders import DueReminder
from incidentbot.core.backlog import Ranked
from incidentbot.core.errors import InvalidInput
from incidentbot.core.policy import load_policy
from incidentbot.models import ActionItem, BacklogItem, Incident
from incidentbot.slack import backlog_view, ids, my_action_items
from incidentbot.slack.action_item_reminders import reminder_message
from incidentbot.slack.backlog_view import Filter
from incidentbot.slack.my_action_items import Mine

POLICY = load_policy()  # services api (platform), web (frontend), payments (payments), search (discovery)
NOW = datetime(2026, 12, 14, 10, tzinfo=timezone.utc)  # a Monday
UTC = ZoneInfo("UTC")
NASTY = "<!channel> & <https://evil.example|click> *bold*"


def incident(number, severity="SEV2", private=False, services=("api",), title=None):
    return Incident(id=number, number=number, title=title or f"Incident {number}", severity=severity,
                    status="investigating", declared_by="U0ALICE", services=list(services), private=private,
                    declared_at=NOW - timedelta(days=number))


def action_item(item_id, incident_, *, status="open", due=NOW + timedelta(days=4), owner="U0BOB", **fields):
    return ActionItem(id=item_id, incident_id=incident_.id, backlog_item_id=1, title=fields.pop("title", f"Work {item_id}"),
                      owner=owner, due_at=due, type="detective", priority="P2", status=status, origin="command",
                      created_by="U0ALICE", created_at=NOW - timedelta(days=10), **fields)


def ranked(item_id=1, title="Add an alert on replica lag", incidents=(), items=(), owner=None, revision=3):
    item = BacklogItem(id=item_id, title=title, services=["api"], status="open", owner=owner, revision=revision,
                       created_at=NOW - timedelta(days=12))
    return Ranked(item, backlog.score_of(POLICY, item, list(items), list(incidents), NOW), list(items), list(incidents))


def test_an_item_shows_its_score_breakdown_incidents_action_items_and_owner():
    public, secret = incident(3, "SEV1"), incident(4, "SEV3", private=True, title="Leaked keys")
    items = [action_item(7, public, due=NOW - timedelta(days=1)), action_item(8, public),
             action_item(9, secret, title="Rotate the leaked keys"), action_item(10, public, status="done")]
    entry = ranked(incidents=[secret, public], items=items, owner="U0CAROL")
    lines = backlog_view.item_text(entry, NOW).split("\n")
    assert lines[0] == f"*BL-1* Add an alert on replica lag · score *{entry.score.total:.1f}*"
    assert lines[1] == ("severity 6.0 (SEV1) + recurrence 6.3 (2 incidents) + breadth 1.6 (1 service, 1 team) "
                        "+ age 0.2 (12 days) + overdue 2.0 (1 overdue) · 0 for impact, effort")
    assert lines[2] == "Incidents: INC-3 + 1 private incident"
    assert lines[3] == "Action items: 3 open, 1 overdue: AI-7 (overdue), AI-8 + 1 from a private incident"
    assert lines[4] == "Owner: <@U0CAROL>"
    text = json.dumps(backlog_view.item_text(entry, NOW))
    assert "INC-4" not in text and "Leaked" not in text and "AI-9" not in text


def test_the_breakdown_adds_up_to_the_total():
    entry = ranked(incidents=[incident(1, "SEV2"), incident(2, "SEV4")], items=[])
    shown = backlog_view.breakdown(entry.score)
    points = [float(part.split(" ")[1]) for part in shown.split(" · ")[0].split(" + ")]
    assert round(sum(points), 1) == entry.score.total


def test_user_text_is_escaped_and_buttons_carry_id_revision_and_filter():
    entry = ranked(title=NASTY, incidents=[incident(1)])
    text, message = backlog_view.message_blocks([entry], 1, Filter(service="api"), NOW)
    for chunk in mrkdwn_texts(message):
        assert "<!channel>" not in chunk and "<https://evil" not in chunk
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in json.dumps(message)
    [actions] = [b for b in message if b["type"] == "actions"]
    assert actions["block_id"] == "backlog:1"
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        (ids.BACKLOG_ASSIGN_ME, "1:3:service=api"), (ids.BACKLOG_DONE, "1:3:service=api"),
        (ids.BACKLOG_WONT_DO, "1:3:service=api")]
    assert backlog_view.parse_value("1:3:service=api") == (1, 3, Filter(service="api"))
    assert backlog_view.parse_value("12:0:") == (12, 0, Filter())
    assert text == "Reliability backlog for service api: 1 open, highest score first."


def test_twenty_long_items_fit_a_message():
    many = [incident(n, private=n % 3 == 0) for n in range(1, 60)]
    entries = [ranked(item_id=i, title="x" * 200, incidents=many,
                      items=[action_item(100 * i + n, many[n]) for n in range(30)]) for i in range(1, 21)]
    _text, message = backlog_view.message_blocks(entries, 45, Filter(), NOW, notice="Something happened")
    assert len(message) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in message if b["type"] == "section")
    first = backlog_view.item_text(entries[0], NOW)
    assert "and 28 more" in first and "19 private incidents" in first  # incidents listed up to 12
    assert "top 20 of 45 open" in json.dumps(message)


def test_nothing_to_show():
    text, message = backlog_view.message_blocks([], 0, Filter(team="payments"), NOW)
    assert text == "Nothing open in the reliability backlog for team payments. :white_check_mark:"
    assert len(message) == 1


@pytest.mark.parametrize("rest, wanted", [
    ("", Filter()), ("   ", Filter()), ("api", Filter(service="api")), ("API", Filter(service="api")),
    ("platform", Filter(team="platform")), ("team Frontend", Filter(team="frontend")),
    ("service search", Filter(service="search")),
    # "payments" is a service and a team: the service (one service is the narrower answer).
    ("payments", Filter(service="payments")), ("team payments", Filter(team="payments")),
])
def test_filters(rest, wanted):
    assert backlog_view.parse_filter(POLICY, rest) == wanted
    assert Filter.decode(wanted.encode()) == wanted


@pytest.mark.parametrize("rest", ["nope", "service platform", "team api", "<!here>"])
def test_an_unknown_filter_lists_the_valid_names(rest):
    with pytest.raises(InvalidInput) as error:
        backlog_view.parse_filter(POLICY, rest)
    assert "Services: api, payments, search, web. Teams: discovery, frontend, payments, platform." in error.value.message


def test_home_top_lists_scores_without_private_incidents():
    entries = [ranked(item_id=n, incidents=[incident(n), incident(50 + n, private=True)]) for n in range(1, 6)]
    blocks = backlog_view.home_top_blocks(entries)
    lines = [t for t in mrkdwn_texts(blocks) if t.startswith("*BL-")]
    assert len(lines) == 5 and "score *" in lines[0] and "incidents: INC-1 + 1 private incident" in lines[0]
    assert "INC-51" not in json.dumps(blocks)
    assert "empty" in json.dumps(backlog_view.home_top_blocks([]))


def mine(item_id, **fields):
    inc = incident(12, private=fields.pop("private", False))
    return Mine(action_item(item_id, inc, owner="U0ALICE", **fields), inc.reference, inc.private)


def test_my_action_item_line_in_the_viewers_timezone():
    tokyo = ZoneInfo("Asia/Tokyo")
    due = datetime(2026, 12, 18, 17, tzinfo=timezone.utc)  # Friday 17:00 UTC is Saturday 02:00 in Tokyo
    entry = mine(7, due=due, title=NASTY, external_url="https://tracker.example/OPS-4", external_key="OPS-4")
    line = my_action_items.item_line(entry, NOW, UTC)
    assert line == ("*AI-7* &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt; *bold*\n"
                    "INC-12 · due Fri 18 Dec · Open · <https://tracker.example/OPS-4|OPS-4>")
    assert "due Sat 19 Dec" in my_action_items.item_line(entry, NOW, tokyo)
    late = my_action_items.item_line(mine(8, due=NOW - timedelta(days=3), private=True), NOW, UTC)
    assert ":lock: INC-12 · :warning: *overdue* since Fri 11 Dec" in late
    next_year = my_action_items.item_line(mine(9, due=datetime(2027, 1, 8, 17, tzinfo=timezone.utc)), NOW, UTC)
    assert "due Fri 8 Jan 2027" in next_year
    snoozed = my_action_items.item_line(mine(10, snoozed_until=NOW + timedelta(days=7)), NOW, UTC)
    assert "reminders snoozed until Mon 21 Dec" in snoozed


@pytest.mark.parametrize("url", ["javascript:alert(1)", "https://x.example/a|b", "https://x.example/<@U1>", None])
def test_only_plain_http_links_to_the_tracker(url):
    assert my_action_items.tracker_link(mine(7, external_url=url).item) is None


def test_my_action_items_buttons_and_the_cap():
    entries = [mine(n) for n in range(1, 11)]
    blocks = my_action_items.section_blocks(POLICY, entries, 14, NOW, UTC)
    actions = [b for b in blocks if b["type"] == "actions"]
    assert len(actions) == 10 and actions[0]["block_id"] == "home_ai:1"
    assert [(e["action_id"], e["value"], e["text"]["text"]) for e in actions[0]["elements"]] == [
        (ids.HOME_AI_DONE, "1:0", "Done"), (ids.HOME_AI_SNOOZE, "1:0", "Snooze 7 days"),
        (ids.HOME_AI_REASSIGN, "1:0", "Reassign…")]
    assert "…and 4 more, due later." in mrkdwn_texts(blocks)[-1]
    assert "My action items (14)" in json.dumps(blocks)
    assert "No open action items" in json.dumps(my_action_items.section_blocks(POLICY, [], 0, NOW, UTC))


def test_reassign_form_starts_at_the_current_owner():
    form = my_action_items.reassign_form(mine(7, title=NASTY).item, "INC-12")
    assert form["callback_id"] == ids.HOME_AI_REASSIGN_VIEW and form["private_metadata"] == "7"
    assert form["blocks"][1]["element"] == {"type": "users_select", "action_id": ids.HOME_AI_OWNER,
                                            "initial_user": "U0ALICE"}
    assert "&lt;!channel&gt;" in form["blocks"][0]["text"]["text"] and len(form["title"]["text"]) <= 24


def test_reminder_dm_texts():
    item = mine(7, due=datetime(2026, 12, 18, 17, tzinfo=timezone.utc), title=NASTY).item
    soon = DueReminder(7, "due_soon", "k", NOW, 12, "U0ALICE")
    text, blocks = reminder_message(POLICY, item, "INC-12", soon, UTC, NOW)
    assert text == (":alarm_clock: *AI-7* &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt; *bold* "
                    "is due Fri 18 Dec (INC-12).")
    assert [e["action_id"] for e in blocks[-1]["elements"]] == [ids.HOME_AI_DONE, ids.HOME_AI_SNOOZE]
    late = DueReminder(7, "overdue", "k", NOW, 12, "U0ALICE", overdue_count=2)
    text, _ = reminder_message(POLICY, item, "INC-12", late, UTC, NOW + timedelta(days=10))
    assert text.endswith("is overdue since Fri 18 Dec (INC-12). Reminder 2: it is still open.")

"""Block Kit for action items: escaping, the backlog buttons, the list, the form, the proposals."""

import json
from datetime import datetime, timezone

from incidentbot.core.action_items import TITLE_MAX
from incidentbot.core.policy import load_policy, parse_policy
from incidentbot.models import ActionItem, Incident
from incidentbot.sandbox.blocks import blocks_errors, view_errors
from incidentbot.slack import action_item_blocks as ui
from incidentbot.slack import ids
from incidentbot.timeutil import utcnow
from tests_support import mrkdwn_texts

POLICY = load_policy()  # UTC; services api (tier 1), web, payments, search
NOW = datetime(2026, 11, 19, 10, tzinfo=timezone.utc)
DUE = datetime(2026, 12, 18, 17, tzinfo=timezone.utc)


def item(**kwargs) -> ActionItem:
    defaults = dict(id=7, incident_id=1, backlog_item_id=3, title="Stop <!channel> & <https://evil|ok>",
                    owner="U0BOB", due_at=DUE, type="detective", priority="P2", status="open", origin="command",
                    created_by="U0ALICE")
    return ActionItem(**{**defaults, **kwargs})


def incident(**kwargs) -> Incident:
    defaults = dict(id=1, number=12, title="Queue <!here> stuck", severity="SEV2", status="investigating",
                    declared_by="U0ALICE", declared_at=utcnow(), channel_id="C1", services=[])
    return Incident(**{**defaults, **kwargs})


def joined(title="Alert on <!everyone> lag", also=("INC-4",)):
    return ui.Outcome("joined", ui.BacklogRef(3, "BL-3", title, also))


def everything(text: str, blocks: list) -> str:
    return text + " " + " ".join(mrkdwn_texts(blocks))


def test_the_record_escapes_titles_and_says_who_owns_it_and_when():
    text, blocks = ui.created_message(POLICY, item(), joined(), now=NOW)
    shown = everything(text, blocks)
    assert "<!channel>" not in shown and "<!everyone>" not in shown and "<https://evil" not in shown
    assert ("*AI-7* added by <@U0ALICE>: Stop &lt;!channel&gt; &amp; &lt;https://evil|ok&gt; — owner <@U0BOB>, "
            "due Fri 18 Dec, P2 detective") in shown
    assert "Joined *BL-3* Alert on &lt;!everyone&gt; lag (also addresses INC-4)" in shown
    [split] = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert (split["action_id"], split["value"], split["text"]["text"]) == (
        ids.AI_SPLIT, "7", "Split into its own backlog item")
    assert not blocks_errors(blocks, maximum=50)


def test_a_new_backlog_item_offers_up_to_three_merges_and_hides_private_titles():
    suggestions = tuple(ui.BacklogRef(n, f"BL-{n}", f"Risk {n}" if n != 5 else None) for n in (4, 5, 6, 8))
    outcome = ui.Outcome("started", ui.BacklogRef(9, "BL-9", "Stop it"), suggestions)
    _, blocks = ui.created_message(POLICY, item(), outcome, now=NOW)
    merges = [b for b in blocks if b.get("accessory", {}).get("action_id") == ids.AI_MERGE]
    assert [b["accessory"]["value"] for b in merges] == ["7:9:4", "7:9:5", "7:9:6"]
    assert [b["accessory"]["text"]["text"] for b in merges] == ["Merge into BL-4", "Merge into BL-5", "Merge into BL-6"]
    assert [b["block_id"] for b in merges] == ["ai_merge:4", "ai_merge:5", "ai_merge:6"]
    assert "(from a private incident)" in merges[1]["text"]["text"] and "Started backlog item *BL-9*" in everything(
        "", blocks)


def test_after_merge_and_split_the_record_has_no_buttons():
    merged = ui.Outcome("merged", ui.BacklogRef(4, "BL-4", "Risk"), actor="U0CAROL", merged_from="BL-9")
    split = ui.Outcome("split", ui.BacklogRef(10, "BL-10", "Mine"), actor="U0CAROL")
    for outcome, says in ((merged, "<@U0CAROL> merged BL-9 into *BL-4* Risk"),
                          (split, "<@U0CAROL> split AI-7 into its own backlog item *BL-10*")):
        _, blocks = ui.created_message(POLICY, item(), outcome, now=NOW)
        assert says in everything("", blocks)
        assert not [b for b in blocks if b["type"] == "actions" or "accessory" in b]


def test_links_only_from_http_urls():
    assert ui.link("https://x.slack.com/archives/C1/p1", "this <message>") == \
        "<https://x.slack.com/archives/C1/p1|this &lt;message&gt;>"
    assert ui.link("javascript:alert(1)", "x") == "" and ui.link("https://a|b", "x") == "" and ui.link(None, "x") == ""
    _, blocks = ui.created_message(POLICY, item(source_link="https://x.slack.com/archives/C1/p1"), joined(), now=NOW)
    assert "<https://x.slack.com/archives/C1/p1|from this message>" in everything("", blocks)


def test_due_label_shows_the_year_only_when_it_is_another_one():
    assert ui.due_label(POLICY, DUE, NOW) == "Fri 18 Dec"
    assert ui.due_label(POLICY, DUE.replace(year=2027), NOW) == "Sat 18 Dec 2027"
    assert ui.due_label(POLICY, None, NOW) == "no due date"
    tokyo = parse_policy('timezone = "Asia/Tokyo"', "test")
    assert ui.due_label(tokyo, datetime(2026, 12, 18, 20, tzinfo=timezone.utc), NOW) == "Sat 19 Dec"


def test_the_list_shows_status_owner_due_backlog_tracker_and_source():
    done = item(id=8, status="done", title="Rotate keys", external_url="https://jira.example/OPS-4",
                external_key="OPS-4", source_link="https://x.slack.com/archives/C1/p2")
    late = item(id=9, due_at=datetime(2026, 11, 1, 17, tzinfo=timezone.utc), backlog_item_id=None)
    text, blocks = ui.item_list(POLICY, incident(), [item(), done, late], now=NOW)
    shown = everything(text, blocks)
    assert "*Action items of INC-12* (3)" in shown
    assert "*AI-7* Stop &lt;!channel&gt;" in shown
    assert "Open · owner <@U0BOB> · due Fri 18 Dec · P2 detective · BL-3" in shown
    assert "*AI-8* Rotate keys\nDone" in shown and "<https://jira.example/OPS-4|OPS-4>" in shown
    assert "<https://x.slack.com/archives/C1/p2|source>" in shown
    assert "due Sun 1 Nov (overdue)" in shown


def test_the_list_says_how_to_add_one_and_fits_a_message():
    text, blocks = ui.item_list(POLICY, incident(), [], now=NOW)
    assert "no action items yet" in text and "`/incident action <text> [@owner] [due <date>]`" in text
    _, blocks = ui.item_list(POLICY, incident(), [item(id=n) for n in range(60)], now=NOW)
    assert len(blocks) <= 50 and "20 more not shown." in everything("", blocks)
    assert not blocks_errors(blocks, maximum=50)


def test_the_form_has_every_field_and_defaults():
    view = ui.form(POLICY, incident(services=["api"]), opener="U0CAROL")
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert list(inputs) == [ids.AI_TITLE, ids.AI_DESCRIPTION, ids.AI_OWNER, ids.AI_DUE, ids.AI_TYPE,
                            ids.AI_PRIORITY, ids.AI_SERVICE]
    assert [n for n, b in inputs.items() if not b["optional"]] == [ids.AI_TITLE, ids.AI_PRIORITY]
    assert inputs[ids.AI_OWNER]["element"] == {"action_id": "owner", "type": "users_select", "initial_user": "U0CAROL"}
    assert inputs[ids.AI_PRIORITY]["element"]["initial_option"]["value"] == "P2"
    assert inputs[ids.AI_SERVICE]["element"]["initial_option"]["value"] == "api"
    assert "P1 in 4-8 weeks by service tier, P2 in 12 weeks, P3 in 26 weeks" in inputs[ids.AI_DUE]["hint"]["text"]
    assert json.loads(view["private_metadata"]) == {"incident": 1} and view["callback_id"] == ids.AI_VIEW
    assert "&lt;!here&gt;" in everything("", view["blocks"]) and not view_errors(view)


def test_the_form_prefilled_from_a_message_fits_its_inputs():
    source = {"channel": "C1", "ts": "1.2", "link": "https://x.slack.com/archives/C1/p12"}
    view = ui.form(POLICY, incident(), opener="U0BOB", title="t" * 500, description="d" * 5000, source=source)
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert len(inputs[ids.AI_TITLE]["initial_value"]) == TITLE_MAX
    assert len(inputs[ids.AI_DESCRIPTION]["initial_value"]) <= inputs[ids.AI_DESCRIPTION]["max_length"]
    assert json.loads(view["private_metadata"])["source"] == source
    assert "<https://x.slack.com/archives/C1/p12|source message>" in everything("", view["blocks"])
    assert ids.AI_SERVICE not in inputs or "initial_option" not in inputs[ids.AI_SERVICE]
    bare = ui.form(parse_policy("", "test"), incident(), opener="U0BOB")  # no services in the policy
    assert ids.AI_SERVICE not in {b.get("block_id") for b in bare["blocks"]}


def test_form_values_reads_every_input():
    values = {"title": {"title": {"value": "Fix it"}}, "owner": {"owner": {"selected_user": "U0BOB"}},
              "due": {"due": {"selected_date": "2026-12-18"}},
              "type": {"type": {"selected_option": {"value": "process"}}},
              "priority": {"priority": {"selected_option": {"value": "P1"}}}, "service": {"service": {}},
              "description": {"description": {"value": None}}}
    read = ui.form_values(values)
    assert (read.title, read.description, read.owner, read.due.isoformat(), read.type, read.priority, read.service) == (
        "Fix it", "", "U0BOB", "2026-12-18", "process", "P1", None)


def proposal(n: int, **kwargs) -> dict:
    return {"text": f"Add alert <!here> {n}", "type": "detective", "priority": "P2", "owner": "bob <b>",
            "owner_id": None, "source": f"https://x.slack.com/archives/C1/p{n}", "ts": f"{n}.0", **kwargs}


def test_proposals_show_twenty_with_confirm_buttons_and_say_how_many_more():
    proposals = [proposal(n) for n in range(25)]
    text, blocks = ui.proposals_message("INC-12", 5, proposals, {1: item(id=31, owner="U0CAROL")})
    confirms = [b["accessory"] for b in blocks if b.get("accessory", {}).get("action_id") == ids.AI_CONFIRM]
    assert len(confirms) == 19 and confirms[0]["value"].startswith("5:0:") and len(confirms[0]["value"]) == 16
    assert confirms[1]["value"].startswith("5:2:")
    shown = everything(text, blocks)
    assert "<!here>" not in shown and "proposed owner bob &lt;b&gt;" in shown
    assert ":white_check_mark: 2. Add alert &lt;!here&gt; 1\n*AI-31* · owner <@U0CAROL>" in shown
    assert "5 more in the draft file; *Confirm all* includes them." in shown
    [confirm_all] = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert (confirm_all["action_id"], confirm_all["value"], confirm_all["text"]["text"]) == (
        ids.AI_CONFIRM_ALL, "5", "Confirm all (24 left)")
    assert not blocks_errors(blocks, maximum=50)


def test_all_proposals_confirmed_leaves_no_buttons():
    _, blocks = ui.proposals_message("INC-12", 5, [proposal(0), proposal(1)], {0: item(id=1), 1: item(id=2)})
    assert not [b for b in blocks if b["type"] == "actions" or "accessory" in b]
    assert "Every proposal is confirmed" in everything("", blocks)
    _, single = ui.proposals_message("INC-12", 5, [proposal(0)], {})
    assert not [b for b in single if b["type"] == "actions"]  # its own Confirm is enough

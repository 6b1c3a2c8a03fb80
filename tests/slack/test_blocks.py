import json

from incidentbot.core.policy import load_policy
from incidentbot.models import Incident
from incidentbot.slack import blocks, modals
from incidentbot.timeutil import utcnow
from tests_support import mrkdwn_texts

POLICY = load_policy()


def incident(**kwargs) -> Incident:
    defaults = dict(id=1, number=12, revision=3, title="API <!channel> down & out", severity="SEV1", status="investigating",
                    declared_by="U0ALICE", declared_at=utcnow(), channel_id="C123", channel_name="inc-x")
    return Incident(**{**defaults, **kwargs})


def test_card_escapes_user_text_and_shows_the_essentials():
    text, card = blocks.incident_card(POLICY, incident(summary="<@U0BOB> did it", services=["api"], category="code-deploy"))
    parsed_by_slack = " ".join(mrkdwn_texts(card))
    assert "<!channel>" not in parsed_by_slack and "<@U0BOB>" not in parsed_by_slack
    assert "&lt;@U0BOB&gt; did it" in parsed_by_slack
    assert card[0]["type"] == "header" and card[0]["text"]["text"].startswith("INC-12: ")
    assert "SEV1 · Critical" in parsed_by_slack and "Investigating" in parsed_by_slack
    assert "<@U0ALICE>" in parsed_by_slack  # ids from Slack itself still mention people
    assert "<!channel>" not in text


def test_card_header_fits_slack_limit_for_the_longest_title():
    _, card = blocks.incident_card(POLICY, incident(title="x" * POLICY.limits.title_max_chars, number=99999))
    assert len(card[0]["text"]["text"]) <= 150


def test_announcement_links_the_channel():
    text, post = blocks.announcement(POLICY, incident())
    assert "<#C123>" in json.dumps(post) and "INC-12" in text
    assert "<!channel>" not in " ".join(mrkdwn_texts(post)) + text


def test_declare_modal_respects_block_kit_limits():
    view = modals.declare_modal(POLICY, channel="C1")
    assert json.loads(view["private_metadata"]) == {"channel": "C1"}
    assert len(view["title"]["text"]) <= 24 and len(view["blocks"]) <= 100
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        for option in block["element"].get("options", []):
            assert len(option["text"]["text"]) <= 75
            assert len(option.get("description", {}).get("text", "")) <= 75
    severity = next(b for b in view["blocks"] if b["block_id"] == "severity")
    assert severity["element"]["initial_option"]["value"] == POLICY.default_severity


def test_help_lists_the_syntax():
    assert "/incident declare &lt;title&gt; [sev1..sev4]" in json.dumps(blocks.help_blocks())  # escaped mrkdwn


def test_card_buttons_carry_id_and_revision_and_only_follow_ups_after_resolve():
    _, card = blocks.incident_card(POLICY, incident())
    buttons = card[-1]["elements"]
    assert [b["text"]["text"] for b in buttons] == [
        "Acknowledge", "I'm the lead", "Post update", "Change severity", "Mitigated", "Add action item", "Resolve"]
    assert {b["value"] for b in buttons} == {"1:3"}
    _, resolved = blocks.incident_card(POLICY, incident(resolved_at=utcnow(), resolution="Rolled back"))
    [actions] = [b for b in resolved if b["type"] == "actions"]
    assert [b["text"]["text"] for b in actions["elements"]] == ["Add action item"]
    assert "Rolled back" in " ".join(mrkdwn_texts(resolved))
    _, closed = blocks.incident_card(POLICY, incident(resolved_at=utcnow(), closed_at=utcnow()))
    assert all(b["type"] != "actions" for b in closed)


def test_card_shows_role_holders():
    _, card = blocks.incident_card(POLICY, incident(), {"lead": "U0BOB", "comms": "U0CAROL"})
    text = " ".join(mrkdwn_texts(card))
    assert "*Incident lead*\n<@U0BOB>" in text and "*Communications*\n<@U0CAROL>" in text


def test_private_declare_option_and_prefilled_summary():
    view = modals.declare_modal(POLICY, summary="From a message")
    private = next(b for b in view["blocks"] if b["block_id"] == "private")
    assert private["element"]["type"] == "checkboxes" and "Security" in private["hint"]["text"]
    summary = next(b for b in view["blocks"] if b["block_id"] == "summary")
    assert summary["element"]["initial_value"] == "From a message"


def test_card_shows_the_postmortem_status():
    from datetime import timedelta

    from incidentbot.models import Postmortem

    due = utcnow() + timedelta(days=3)
    open_one = Postmortem(incident_id=1, owner="U0BOB", status="in_review", due_at=due, meeting_at=due)
    _, card = blocks.incident_card(POLICY, incident(resolved_at=utcnow()), postmortem=open_one)
    line = mrkdwn_texts(card)[-1]
    assert "Postmortem *in review*" in line and "owner <@U0BOB>" in line and "review <!date^" in line
    done = Postmortem(incident_id=1, owner="U0BOB", status="published", due_at=due)
    _, card = blocks.incident_card(POLICY, incident(resolved_at=utcnow()), postmortem=done)
    assert mrkdwn_texts(card)[-1] == ":spiral_note_pad: Postmortem *published*"

"""Exactly-once for buttons and forms (issue 8, "Faults").

A click's payload can arrive more than once (the same action_ts, trigger_id and
response_url), one person double-clicks, two people click the same button at once, a
form's submission is delivered again. Each change must happen once: one row, one
timeline event, one line in the channel, the card showing it once; the other clicks
are told why, privately. Events: tests/e2e/test_event_retries.py.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from delivery_support import SOAK, Request, failures, quiet, recorder, send_all
from sqlmodel import Session, select
from tests_support import ALICE, BOB, CAROL, GENERAL, INCIDENTS, mrkdwn_texts, wait_for

from incidentbot.core import timeline
from incidentbot.models import ActionItem, StatusUpdate
from incidentbot.sandbox.driver import DriverResponse
from incidentbot.slack import ids

# -- buttons and forms ---------------------------------------------------------------------------

def open_form(bot, user: str, callback_id: str) -> dict:
    return wait_for(lambda: [v for v in bot.slack.views(user=user) if v["callback_id"] == callback_id
                             and not v.get("closed")], f"the {callback_id} form")[-1]


def buttons(message: dict, action_id: str, block_id: str | None = None) -> dict:
    return next(e for b in message.get("blocks", []) if block_id in (None, b.get("block_id"))
                for e in ([b["accessory"]] if b.get("accessory") else b.get("elements", []))
                if e.get("action_id") == action_id)


def message_with(bot, channel: str, action_id: str) -> dict:
    def found():
        for message in reversed(bot.slack.messages(channel)):
            try:
                buttons(message, action_id)
                return message
            except StopIteration:
                continue
        return None
    return wait_for(found, f"a message with {action_id}")


def clicks(bot, channel: str, message: dict, action_id: str, users: list[str],
           block_id: str | None = None) -> list[Request]:
    """The first user's click delivered 4 times (the same payload: action_ts, trigger_id,
    response_url, which Slack lets answer 5 times), then one click from each further user
    (double clicks: ``users`` names someone twice)."""
    value = buttons(message, action_id, block_id)["value"]
    made = [recorder(bot).block_action(user=user, action_id=action_id, value=value, block_id=block_id,
                                       channel=channel, message_ts=message["ts"]) for user in users]
    return [(made[0], {})] * 4 + [(click, {}) for click in made[1:]]


def lines(bot, channel: str, fragment: str) -> list[dict]:
    return [m for m in bot.slack.messages(channel) if m.get("bot_id") and fragment in m.get("text", "")]


def said_privately(bot, fragment: str) -> list[dict]:
    """Answers through response_urls containing ``fragment``; each must be ephemeral."""
    found = [r for r in bot.slack.responses() if fragment in (r.get("text") or "")]
    assert {r["response_type"] for r in found} <= {"ephemeral"} and not [r for r in found if r["replace_original"]]
    return found


def kinds(bot, incident) -> Counter:
    with Session(bot.engine) as session:
        return Counter(e.kind for e in timeline.events(session, incident))


def card_text(bot, incident) -> str:
    return " ".join(mrkdwn_texts(bot.slack.message(incident.channel_id, incident.card_ts)["blocks"]))


def submit(bot, user: str, callback_id: str, values: dict) -> DriverResponse:
    return recorder(bot).submit_view(open_form(bot, user, callback_id)["id"], user=user, values=values)


def declare_by_form_four_times(bot):
    bot.driver.slash_command("", user=BOB, channel=GENERAL)
    submitted = submit(bot, BOB, ids.DECLARE_VIEW, {"title": {"title": "Orders stuck in queue"},
                                                     "severity": {"severity": "SEV2"}})
    answers = send_all(bot, [(submitted, {})] * (4 * SOAK), at_once=True, late_acks=True)
    answered = [a.body for a in answers if a.status == 200]
    assert answered == [""] * len(answered)  # the form closes, every time it is answered
    incident = bot.wait_provisioned(1)

    def declared():  # everything the asserts below count, each at least once
        return ([r for r in bot.replies(BOB) if "is declared" in r.get("text", "")]
                and lines(bot, incident.channel_id, "INC-1: Orders stuck in queue")
                and lines(bot, INCIDENTS, "INC-1 declared"))
    quiet(bot, declared, "the card, the announcement and the declarer's answer")
    assert len(bot.incidents()) == 1 and len(bot.slack.calls("conversations.create")) == 1
    assert len(lines(bot, incident.channel_id, "INC-1: Orders stuck in queue")) == 1  # one card
    assert len(lines(bot, INCIDENTS, "INC-1 declared")) == 1
    assert len([r for r in bot.replies(BOB) if "is declared" in r.get("text", "")]) == 1
    return incident


def card_button_clicked_by_everyone(bot, incident, action_id: str, line: str, kind: str, milestone: str) -> None:
    """One payload four times, the clicker's second click and another person's double click."""
    channel = incident.channel_id
    card = bot.slack.message(channel, incident.card_ts)
    requests = clicks(bot, channel, card, action_id, [ALICE] + [ALICE, BOB, BOB] * SOAK)
    send_all(bot, requests, at_once=True, late_acks=True)
    # The other clicks answer once the winner's change is committed: wait for each of them.
    quiet(bot, lambda: lines(bot, channel, line)
          and len(said_privately(bot, f"INC-1 is already {kind}.")) >= len(requests) - 1,
          f"the {kind} line and a notice for every other click")
    assert len(lines(bot, channel, line)) == 1
    assert kinds(bot, incident)[kind] == 1
    stale = said_privately(bot, f"INC-1 is already {kind}.")
    assert len(stale) == len(requests) - 1 and all("INC-1 is now" in r["text"] for r in stale)
    assert card_text(bot, incident).count(milestone) == 1
    with pytest.raises(StopIteration):  # the card no longer offers it
        buttons(bot.slack.message(channel, incident.card_ts), action_id)


def update_form_four_times(bot, incident) -> None:
    channel = incident.channel_id
    bot.driver.block_action(user=BOB, action_id=ids.OPEN_UPDATE, channel=channel, message_ts=incident.card_ts)
    submitted = submit(bot, BOB, ids.UPDATE_VIEW, {
        "status": {"status": "identified"}, "text": {"text": "A poison message; restarting consumers"},
        "next_update": {"next_update": "30"}})
    send_all(bot, [(submitted, {})] * (4 * SOAK), at_once=True, late_acks=True)
    quiet(bot, lambda: lines(bot, channel, "Update on INC-1") and lines(bot, INCIDENTS, "Update on INC-1")
          and lines(bot, channel, "set the status to *Identified*"), "the update and its lines")
    with Session(bot.engine) as session:
        assert len(session.exec(select(StatusUpdate)).all()) == 1
    assert len(lines(bot, channel, "Update on INC-1")) == 1 and len(lines(bot, INCIDENTS, "Update on INC-1")) == 1
    assert len(lines(bot, channel, "set the status to *Identified*")) == 1
    assert (kinds(bot, incident)["update_posted"], kinds(bot, incident)["status_changed"]) == (1, 1)


def resolve_submitted_by_two(bot, incident) -> None:
    """Two people open the Resolve form and submit it; one submission arrives four times."""
    channel = incident.channel_id
    forms = {}
    for user, summary in ((ALICE, "Poison message removed"), (CAROL, "Consumers restarted")):
        bot.driver.block_action(user=user, action_id=ids.OPEN_RESOLVE, channel=channel, message_ts=incident.card_ts)
        forms[user] = submit(bot, user, ids.RESOLVE_VIEW, {"summary": {"summary": summary}})
    requests = [(forms[ALICE], {})] * (4 * SOAK) + [(forms[CAROL], {})] * 2
    answers = send_all(bot, requests, at_once=True, late_acks=True)
    quiet(bot, lambda: lines(bot, channel, "resolved the incident"), "the resolution")
    assert len(lines(bot, channel, "resolved the incident")) == 1 and kinds(bot, incident)["resolved"] == 1
    winner = ALICE if bot.incident(1).resolution == "Poison message removed" else CAROL
    by_user = {ALICE: answers[:4 * SOAK], CAROL: answers[4 * SOAK:]}
    closed = [a.body for a in by_user[winner] if a.status == 200]
    assert closed == [""] * len(closed)  # its copies close quietly
    for refused in [a for a in by_user[CAROL if winner == ALICE else ALICE] if a.status == 200]:
        # the other form says why, under its field (a copy Bolt gave up on has no answer to read)
        assert "INC-1 is already resolved" in refused.json["errors"][ids.RESOLVE_SUMMARY]
    assert card_text(bot, incident).count("*Resolution*") == 1


def meeting_confirmed_by_two(bot, incident) -> None:
    channel = incident.channel_id
    plan = message_with(bot, channel, ids.PM_CONFIRM)
    requests = clicks(bot, channel, plan, ids.PM_CONFIRM, [CAROL] + [CAROL, ALICE, ALICE] * SOAK)
    send_all(bot, requests, at_once=True, late_acks=True)
    already = "review meeting of INC-1 is already confirmed"
    quiet(bot, lambda: lines(bot, channel, "confirmed the postmortem review")
          and len(said_privately(bot, already)) >= len(requests) - 1,
          "the confirmation and a notice for every other click")
    assert len(lines(bot, channel, "confirmed the postmortem review")) == 1
    assert kinds(bot, incident)["postmortem_meeting_confirmed"] == 1
    assert len(said_privately(bot, already)) == len(requests) - 1


def proposal_confirmed_by_two(bot, incident) -> ActionItem:
    channel = incident.channel_id
    proposals = wait_for(lambda: [m for m in bot.slack.messages(channel)
                                  if "Proposed action items" in m.get("text", "")], "the proposals")[-1]
    requests = clicks(bot, channel, proposals, ids.AI_CONFIRM, [ALICE] + [ALICE, CAROL, CAROL] * SOAK,
                      block_id="ai_proposal:0")
    send_all(bot, requests, at_once=True, late_acks=True)

    def confirmed():  # the item's line, and a notice for every other click
        with Session(bot.engine) as session:
            items = session.exec(select(ActionItem)).all()
        return items and lines(bot, channel, "added by") and len(said_privately(
            bot, f"AI-{items[0].id} is already confirmed from this proposal")) >= len(requests) - 1
    quiet(bot, confirmed, "the action item and a notice for every other click")
    with Session(bot.engine) as session:
        [item] = session.exec(select(ActionItem)).all()
    assert len(lines(bot, channel, "added by")) == 1 and kinds(bot, incident)["action_item"] == 1
    shown = " ".join(mrkdwn_texts(bot.slack.message(channel, proposals["ts"])["blocks"]))
    assert shown.count(f"*AI-{item.id}*") == 1
    assert len(said_privately(bot, f"AI-{item.id} is already confirmed from this proposal")) == len(requests) - 1
    return item


def done_on_home_clicked_again_and_again(bot, incident, item: ActionItem) -> None:
    owner = item.owner
    bot.driver.app_home_opened(owner)
    home = wait_for(lambda: [v for v in bot.slack.views(user=owner) if v["type"] == "home"
                             and f"home_ai:{item.id}" in json.dumps(v)], "the owner's Home")[0]
    made = [recorder(bot).block_action(user=owner, action_id=ids.HOME_AI_DONE, block_id=f"home_ai:{item.id}",
                                       view_id=home["id"]) for _ in range(1 + 2 * SOAK)]
    send_all(bot, [(made[0], {})] * 4 + [(click, {}) for click in made[1:]], at_once=True, late_acks=True)

    def notices(fragment: str) -> list[dict]:  # the Home, published again with a line on top
        return [c for c in bot.slack.calls("views.publish") if fragment in json.dumps(c["args"])]
    quiet(bot, lambda: notices("is done. Thank you")
          and len(notices(f"AI-{item.id} is already done.")) >= 4 + 2 * SOAK - 1,
          "the Done notice and an already-done notice for every other click")
    with Session(bot.engine) as session:
        assert session.get(ActionItem, item.id).status == "done"
    assert kinds(bot, incident)["action_item_status"] == 1
    assert len(notices("is done. Thank you")) == 1
    assert len(notices(f"AI-{item.id} is already done.")) == 4 + 2 * SOAK - 1


def test_buttons_and_forms_change_things_once_however_often_and_by_whomever(bot, caplog):
    """The declare, status update and resolve forms; Acknowledge, Mitigated, the postmortem's Confirm,
    a proposal's Confirm and an action item's Done. Each change happens once: one row,
    one timeline event, one line in the channel; the others are told why, privately."""
    incident = declare_by_form_four_times(bot)
    for user, text in ((BOB, "action: add a dead-letter queue for the orders consumer"),
                       (CAROL, "action: alert on orders consumer lag above 5 minutes")):
        bot.driver.user_posts(incident.channel_id, user, text)
    card_button_clicked_by_everyone(bot, incident, ids.ACK, "acknowledged the incident", "acknowledged",
                                    "Acknowledged")
    card_button_clicked_by_everyone(bot, incident, ids.MITIGATE, "marked the impact as mitigated", "mitigated",
                                    "Mitigated")
    update_form_four_times(bot, incident)
    resolve_submitted_by_two(bot, incident)
    meeting_confirmed_by_two(bot, incident)
    item = proposal_confirmed_by_two(bot, incident)
    done_on_home_clicked_again_and_again(bot, incident, item)
    assert failures(caplog) == []

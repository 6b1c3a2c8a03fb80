"""Postmortems through Slack: scheduled on resolve, drafted, reviewed, published, reminded."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from incidentbot.core.policy import parse_policy
from incidentbot.models import Postmortem
from incidentbot.slack import postmortem_flow
from incidentbot.timeutil import utcnow
from tests_support import ALICE, BOB, GENERAL, INCIDENTS, mrkdwn_texts, wait_for


def resolved_incident(bot, severity="sev2", user=ALICE):
    bot.driver.slash_command(f"Orders stuck in queue {severity}", user=user, channel=GENERAL)
    incident = bot.wait_provisioned(len(bot.incidents()))
    bot.driver.slash_command("lead <@U0BOB>", user=user, channel=incident.channel_id)
    bot.driver.user_posts(incident.channel_id, BOB, "Consumers stuck on a poison message; restarting them")
    bot.driver.user_posts(incident.channel_id, BOB, "action: add a dead-letter queue for the orders consumer")
    bot.driver.slash_command("resolve Poison message removed", user=BOB, channel=incident.channel_id)
    return incident


def postmortem(bot, incident) -> Postmortem | None:
    with Session(bot.engine) as session:
        return session.exec(select(Postmortem).where(Postmortem.incident_id == incident.id)).first()


def card(bot, incident):
    return bot.slack.message(incident.channel_id, incident.card_ts)


def message_with(bot, channel, action_id):
    return wait_for(lambda: [m for m in bot.slack.messages(channel) for b in m.get("blocks", [])
                             if b["type"] == "actions" for e in b["elements"] if e["action_id"] == action_id],
                    f"a message with {action_id}")[-1]


def press(bot, channel, action_id, user):
    message = message_with(bot, channel, action_id)
    button = next(e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == action_id)
    return bot.driver.block_action(user=user, action_id=action_id, value=button["value"], channel=channel,
                                   message_ts=message["ts"])


def test_resolving_a_sev2_schedules_invites_and_drafts(bot):
    incident = resolved_incident(bot)
    plan = message_with(bot, incident.channel_id, "postmortem_confirm_meeting")
    assert "Postmortem for INC-1" in plan["text"] and "<@U0BOB>" in plan["text"]  # the lead owns it
    review = message_with(bot, incident.channel_id, "postmortem_publish")
    assert "Postmortem draft for INC-1" in review["text"] and "offline" in review["text"]
    files = {f["name"]: f for f in wait_for(lambda: bot.slack.files() if len(bot.slack.files()) >= 2 else None,
                                            "the invite and the draft")}
    invite = files["INC-1-postmortem-review.ics"]["content"]
    assert "BEGIN:VCALENDAR" in invite and "\r\n" in invite
    draft = files["INC-1-postmortem.md"]["content"]
    assert "dead-letter queue" in draft
    stored = postmortem(bot, incident)
    assert stored.status == "drafted" and stored.owner == BOB and stored.draft_model == "offline"
    assert stored.meeting_at is not None and stored.meeting_at < stored.due_at
    dm = wait_for(lambda: [r for r in bot.replies(BOB) if "invited to the postmortem review" in r.get("text", "")],
                  "the invitation DM")
    assert dm
    wait_for(lambda: "Postmortem *drafted*" in " ".join(mrkdwn_texts(card(bot, incident)["blocks"])),
             "the card to show the postmortem")


def test_no_postmortem_for_a_sev3_unless_asked(bot):
    incident = resolved_incident(bot, severity="sev3")
    wait_for(lambda: bot.incident(1).resolved_at, "the resolution")
    assert postmortem(bot, incident) is None
    answer = bot.driver.slash_command("postmortem", user=ALICE, channel=incident.channel_id)
    assert "Drafting the postmortem of INC-1" in answer.json["text"]
    wait_for(lambda: postmortem(bot, incident) and postmortem(bot, incident).status == "drafted", "the draft")


def test_meeting_confirmed_once(bot):
    incident = resolved_incident(bot)
    press(bot, incident.channel_id, "postmortem_confirm_meeting", BOB)
    wait_for(lambda: [m for m in bot.slack.messages(incident.channel_id) if "confirmed the postmortem review"
                      in m.get("text", "")], "the confirmation")
    press(bot, incident.channel_id, "postmortem_confirm_meeting", ALICE)
    wait_for(lambda: [r for r in bot.slack.responses() if "already confirmed" in (r.get("text") or "")],
             "already confirmed")
    assert postmortem(bot, incident).meeting_confirmed


def test_reschedule_is_checked_in_the_users_timezone(bot):
    incident = resolved_incident(bot)
    wait_for(lambda: postmortem(bot, incident), "the postmortem")
    press(bot, incident.channel_id, "postmortem_reschedule", BOB)
    form = wait_for(lambda: [v for v in bot.slack.views(user=BOB) if v["callback_id"] == "postmortem_reschedule"],
                    "the reschedule form")[-1]
    # The tests run on real time, any day of the week. The next weekend day is refused for
    # not being a working day (checked before the due date); the first working day from
    # tomorrow is always before a SEV2's due date (5 business days on).
    tomorrow = utcnow() + timedelta(days=1)
    weekend = next(tomorrow + timedelta(days=n) for n in range(7) if (tomorrow + timedelta(days=n)).weekday() >= 5)
    refused = bot.driver.submit_view(form["id"], user=BOB, values={
        "when_date": {"when_date": weekend.date().isoformat()}, "when_time": {"when_time": "10:00"}})
    assert refused.json["response_action"] == "errors"
    assert "is not a working day" in refused.json["errors"]["when_date"]
    day = next(tomorrow + timedelta(days=n) for n in range(7) if (tomorrow + timedelta(days=n)).weekday() < 5)
    # 10:00 in Bob's zone (New York) is 15:00 UTC: inside the policy's business hours (UTC).
    accepted = bot.driver.submit_view(form["id"], user=BOB, values={
        "when_date": {"when_date": day.date().isoformat()}, "when_time": {"when_time": "10:00"}})
    assert accepted.status == 200 and not accepted.body
    moved = wait_for(lambda: postmortem(bot, incident).meeting_at.date() == day.date(), "the new time")
    assert moved


def test_not_needed_requires_a_reason(bot):
    incident = resolved_incident(bot)
    press(bot, incident.channel_id, "postmortem_not_needed", ALICE)
    form = wait_for(lambda: [v for v in bot.slack.views(user=ALICE) if v["callback_id"] == "postmortem_not_needed"],
                    "the form")[-1]
    refused = bot.driver.submit_view(form["id"], user=ALICE, values={"reason": {"reason": "  "}})
    assert "reason" in refused.json["errors"]["reason"].lower()
    bot.driver.submit_view(form["id"], user=ALICE, values={"reason": {"reason": "Duplicate of INC-7"}})
    wait_for(lambda: postmortem(bot, incident).status == "not_needed", "not needed")
    assert postmortem(bot, incident).not_needed_reason == "Duplicate of INC-7"


def test_review_and_publish_closes_when_the_policy_says_so(make_bot):
    bot = make_bot(parse_policy("[postmortems]\nclose_on_publish = true"))
    incident = resolved_incident(bot)
    message_with(bot, incident.channel_id, "postmortem_publish")
    press(bot, incident.channel_id, "postmortem_mark_in_review", BOB)
    wait_for(lambda: postmortem(bot, incident).status == "in_review", "in review")
    press(bot, incident.channel_id, "postmortem_publish", BOB)
    wait_for(lambda: postmortem(bot, incident).status == "published", "published")
    thread = wait_for(lambda: [m for m in bot.slack.messages(INCIDENTS) if "is published" in m.get("text", "")],
                      "the announcement reply")
    assert thread[-1]["thread_ts"] == incident.announcement_ts
    wait_for(lambda: bot.incident(1).closed_at, "the incident to close")
    wait_for(lambda: "Postmortem *published*" in " ".join(mrkdwn_texts(card(bot, incident)["blocks"])),
             "the card to show it published")
    assert "final" in " ".join(f["name"] for f in bot.slack.files())


def test_overdue_reminders_go_to_the_owner_once(bot):
    incident = resolved_incident(bot)
    stored = wait_for(lambda: postmortem(bot, incident), "the postmortem")
    deps = bot.deps()
    # Four days on (a weekend may come first): the owner and then the channel have been due.
    late = stored.due_at + timedelta(days=4)
    assert postmortem_flow.send_reminders(deps, now=late) == 2
    to_owner = [r for r in bot.replies(BOB) if "was due" in r.get("text", "")]
    in_channel = [m for m in bot.slack.messages(incident.channel_id) if "is overdue" in m.get("text", "")]
    assert len(to_owner) == 1 and "INC-1" in to_owner[0]["text"] and len(in_channel) == 1
    assert postmortem_flow.send_reminders(deps, now=late + timedelta(minutes=5)) == 0

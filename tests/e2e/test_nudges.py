"""Nudges posted by the worker, from database state, exactly once."""

from __future__ import annotations

import threading
from datetime import timedelta

from incidentbot.core.policy import parse_policy
from incidentbot.slack import nudging
from incidentbot.timeutil import utcnow
from tests_support import ALICE, BOB, GENERAL, wait_for


def declare(bot, severity="sev2"):
    bot.driver.slash_command(f"Replication lag {severity}", user=ALICE, channel=GENERAL)
    return bot.wait_provisioned(len(bot.incidents()))


def nudges_in(bot, incident):
    return [m for m in bot.slack.messages(incident.channel_id)
            if any(e.get("action_id") == "nudge_snooze" for b in m.get("blocks", []) if b["type"] == "actions"
                   for e in b["elements"])]


def test_a_worker_that_was_down_sends_each_due_nudge_once(bot):
    incident = declare(bot)  # SEV2: an update every 60 min; no lead after 10 min; idle after 4 h
    deps = bot.deps()
    assert nudging.send_due(deps, now=incident.declared_at + timedelta(minutes=5)) == 0
    # Back after three hours of downtime: one nudge per situation, not one per missed minute.
    assert nudging.send_due(deps, now=incident.declared_at + timedelta(hours=3)) == 2
    texts = [m["text"] for m in nudges_in(bot, incident)]
    assert any("Time for a status update" in t for t in texts) and any("has no lead yet" in t for t in texts)
    assert nudging.send_due(deps, now=incident.declared_at + timedelta(hours=3, minutes=1)) == 0
    assert nudging.send_due(deps, now=incident.declared_at + timedelta(hours=4, minutes=1)) == 1  # idle
    assert len(nudges_in(bot, incident)) == 3


def test_an_update_resets_the_cadence_and_a_lead_stops_the_lead_nudge(bot):
    incident = declare(bot)
    bot.driver.slash_command("lead", user=BOB, channel=incident.channel_id)
    bot.driver.slash_command("update Looking into it", user=BOB, channel=incident.channel_id)
    wait_for(lambda: bot.incident(1).last_update_at, "the update to be stored")
    updated = bot.incident(1).last_update_at
    deps = bot.deps()
    assert nudging.send_due(deps, now=updated + timedelta(minutes=59)) == 0
    assert nudging.send_due(deps, now=updated + timedelta(minutes=61)) == 1
    assert "Time for a status update" in nudges_in(bot, incident)[-1]["text"]


def test_snooze_silences_that_kind_of_nudge_until_it_ends(make_bot):
    bot = make_bot(parse_policy("[nudges]\nsnooze_minutes = 240"))
    incident = declare(bot)
    bot.driver.slash_command("lead", user=BOB, channel=incident.channel_id)
    deps = bot.deps()
    assert nudging.send_due(deps, now=incident.declared_at + timedelta(minutes=61)) == 1  # update overdue
    nudge = nudges_in(bot, incident)[-1]
    button = nudge["blocks"][-1]["elements"][0]
    clicked = utcnow()
    bot.driver.block_action(user=BOB, action_id="nudge_snooze", value=button["value"],
                            channel=incident.channel_id, message_ts=nudge["ts"])
    wait_for(lambda: [r for r in bot.slack.responses() if "Snoozed by" in (r.get("text") or "")], "the snooze answer")
    # A new deadline (an update was posted, then missed again) falls inside the snooze: silent.
    bot.driver.slash_command("update Still digging", user=BOB, channel=incident.channel_id)
    updated = wait_for(lambda: bot.incident(1).last_update_at, "the update")
    assert nudging.send_due(deps, now=updated + timedelta(minutes=61)) == 0
    # …and it is sent once the snooze is over (with the 4-hour idle nudge, now due too).
    before = len(nudges_in(bot, incident))
    assert nudging.send_due(deps, now=clicked + timedelta(minutes=241)) == 2
    texts = [m["text"] for m in nudges_in(bot, incident)[before:]]
    assert any("Time for a status update" in t for t in texts) and any("Nothing has been recorded" in t for t in texts)


def test_resolved_incidents_are_not_nudged(bot):
    incident = declare(bot)
    bot.driver.slash_command("resolve Fixed by failover", user=ALICE, channel=incident.channel_id)
    wait_for(lambda: bot.incident(1).resolved_at, "the resolution")
    assert nudging.send_due(bot.deps(), now=incident.declared_at + timedelta(hours=6)) == 0


def test_two_workers_never_send_the_same_nudge(bot):
    incident = declare(bot)
    when = incident.declared_at + timedelta(hours=2)
    sent: list[int] = []
    barrier = threading.Barrier(2)

    def worker():
        deps = bot.deps()
        barrier.wait()
        sent.append(nudging.send_due(deps, now=when))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(sent) == 2 and len(nudges_in(bot, incident)) == 2  # update overdue + no lead, once each

"""Work after ack() never holds back another command's ack.

Bolt runs each listener in a thread pool, the part before ack() included, and channel
setup after a declaration keeps its thread while Slack is slow. With Bolt's default
pool of 5 threads, five declarations waiting on a slow ``conversations.create`` left
every later command unanswered until Bolt gave up on its ack (after 3 s) and Slack
showed the person an error. benchmarks/ack_load.py measures the same under load.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests_support import ALICE, BOB, GENERAL, wait_for

# Longer than Bolt's 3 s wait for ack(), so a command queued behind the held threads
# would get no answer at all rather than a late one.
HOLD_SECONDS = 4.0
DECLARATIONS = 6  # more than Bolt's default pool of 5


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the pool, not the database, is under test
def test_help_is_answered_while_declarations_wait_on_slow_slack(make_bot):
    bot = make_bot()
    bot.slack.add_fault("conversations.create", "slow", seconds=HOLD_SECONDS, times=DECLARATIONS)
    with ThreadPoolExecutor(DECLARATIONS) as senders:
        acks = list(senders.map(
            lambda i: bot.driver.slash_command(f"Queue backlog {i} sev2", user=ALICE, channel=GENERAL),
            range(DECLARATIONS)))
    assert [a.status for a in acks] == [200] * DECLARATIONS
    assert all("Declaring INC-" in a.body for a in acks), [a.body for a in acks]
    # Every declaration is now waiting on its channel (at least Bolt's old pool size of them).
    wait_for(lambda: len(bot.slack.calls("conversations.create")) >= 5, "channel creation to be under way")

    answer = bot.driver.slash_command("help", user=BOB, channel=GENERAL)

    assert answer.status == 200, answer.body
    assert "incidentbot commands" in answer.body
    for number in range(1, DECLARATIONS + 1):
        assert bot.wait_provisioned(number).channel_id

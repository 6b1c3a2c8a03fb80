"""App Home end to end: app_home_opened over HTTP → the bot → views.publish in the sandbox."""

from __future__ import annotations

import json

from sqlmodel import select

from incidentbot.core import incidents
from incidentbot.core.incidents import Declaration
from incidentbot.db import session_scope
from incidentbot.models import Incident, Postmortem
from incidentbot.slack import home
from incidentbot.slack.provisioning import provision
from delivery_support import quiet
from tests_support import ALICE, BOB, CAROL, GENERAL, mrkdwn_texts, wait_for

SECRET_TITLE = "Signing keys leaked in build logs"


def home_of(bot, user: str) -> dict | None:
    return next((v for v in bot.slack.views(user=user) if v["type"] == "home"), None)


def publishes_for(bot, user: str) -> list[dict]:
    return [c for c in bot.slack.calls("views.publish") if c["args"].get("user_id") == user]


def open_home(bot, user: str) -> dict:
    """Open the Home tab and wait for the view the bot publishes in answer."""
    before = len(publishes_for(bot, user))
    response = bot.driver.app_home_opened(user)
    assert response.status == 200
    wait_for(lambda: len(publishes_for(bot, user)) > before, f"{user}'s Home to be published")
    return home_of(bot, user)


def declare_private(bot, title: str, *, declared_by: str) -> Incident:
    """A private incident with its private channel (the form's Private option is another flow)."""
    with session_scope(bot.engine) as session:
        incident, _ = incidents.declare(session, bot.policy, Declaration(
            title=title, severity="SEV1", declared_by=declared_by, category="security", private=True))
    return provision(bot.deps(), incident.id).incident


def test_home_shows_open_incidents_and_private_ones_only_to_members(bot):
    bot.driver.slash_command("Checkout API returning 502s sev2", user=ALICE, channel=GENERAL)
    public = bot.wait_provisioned(1)
    secret = declare_private(bot, SECRET_TITLE, declared_by=BOB)
    assert bot.slack.channel(secret.channel_id)["is_private"]

    bobs = open_home(bot, BOB)
    bob_sees = "\n".join(mrkdwn_texts(bobs["blocks"]))
    assert f":lock: _private_ · *INC-2* {SECRET_TITLE}\nYou: declared it" in bob_sees
    assert "*INC-1* Checkout API returning 502s\n*SEV2 · Major* · Investigating" in bob_sees
    assert f"<#{secret.channel_id}>" in bob_sees and f"<#{public.channel_id}>" in bob_sees
    assert bob_sees.index("*INC-2*") < bob_sees.rindex("*INC-1*")  # newest first

    alices = json.dumps(open_home(bot, ALICE))
    assert "*INC-1* Checkout API returning 502s\\nYou: declared it" in alices
    for leak in ("INC-2", SECRET_TITLE, secret.channel_id, secret.channel_name, ":lock:"):
        assert leak not in alices
    assert "All open incidents (1)" in alices


def test_someone_invited_to_the_private_channel_sees_it(bot):
    secret = declare_private(bot, SECRET_TITLE, declared_by=BOB)
    assert SECRET_TITLE not in json.dumps(open_home(bot, CAROL))
    bot.deps().gateway.invite(secret.channel_id, [CAROL])
    assert SECRET_TITLE in json.dumps(open_home(bot, CAROL))


def test_list_answer_follows_the_same_rules(bot):
    bot.driver.slash_command("Search is slow sev3", user=ALICE, channel=GENERAL)
    bot.wait_provisioned(1)
    secret = declare_private(bot, SECRET_TITLE, declared_by=BOB)

    text, blocks = home.list_message(bot.deps(), BOB)
    assert text == "2 open incidents"
    assert [line.split("\n")[0] for line in mrkdwn_texts(blocks)[1:]] == [
        f":lock: _private_ · *INC-2* {SECRET_TITLE}", "*INC-1* Search is slow"]

    text, blocks = home.list_message(bot.deps(), CAROL)
    assert text == "1 open incident"
    shown = json.dumps(blocks)
    assert SECRET_TITLE not in shown and secret.channel_id not in shown and "INC-2" not in shown


def test_resolved_incidents_leave_the_home(bot):
    bot.driver.slash_command("Queue backlog growing", user=ALICE, channel=GENERAL)
    bot.wait_provisioned(1)
    assert "*INC-1* Queue backlog growing" in json.dumps(open_home(bot, ALICE))
    with session_scope(bot.engine) as session:
        incident = incidents.by_reference(session, "INC-1")
        incident.status = next(s.id for s in bot.policy.statuses if s.resolved)
        session.add(incident)
    alices = "\n".join(mrkdwn_texts(open_home(bot, ALICE)["blocks"]))
    assert "INC-1" not in alices and home.EMPTY in alices


def test_a_retried_delivery_publishes_once(bot):
    event = {"type": "app_home_opened", "user": CAROL, "channel": "D0CAROL", "tab": "home"}
    # Slack's first delivery and its three retries (X-Slack-Retry-Num 1-3), same event_id.
    for retry_num in (None, 1, 2, 3):
        assert bot.driver.event(event, event_id="Ev0HOMEOPEN1", retry_num=retry_num).status == 200
    # Another event id is another opening, not a retry: it publishes too.
    bot.driver.event({**event, "user": ALICE, "channel": "D0ALICE"}, event_id="Ev0HOMEOPEN2")
    # Events are acked first and handled in a thread pool, in any order: wait for both
    # Homes, then for the bot to settle, so a second publish for Carol would be seen.
    quiet(bot, lambda: publishes_for(bot, CAROL) and publishes_for(bot, ALICE), "Carol's and Alice's Homes")
    assert len(publishes_for(bot, CAROL)) == 1 and len(publishes_for(bot, ALICE)) == 1
    assert home_of(bot, CAROL)["blocks"]


def test_messages_tab_is_left_alone(bot):
    event = {"type": "app_home_opened", "user": CAROL, "channel": "D0CAROL", "tab": "messages"}
    assert bot.driver.event(event).status == 200
    open_home(bot, ALICE)  # Homes do get published (the check below is not vacuous)
    quiet(bot)  # events are handled in any order, Alice's may go first: let Carol's have its chance
    assert home_of(bot, CAROL) is None


def test_home_lists_the_postmortems_the_viewer_owns(bot):
    bot.driver.slash_command("Orders stuck in the queue sev2", user=ALICE, channel=GENERAL)
    incident = bot.wait_provisioned(1)
    bot.driver.slash_command("lead", user=BOB, channel=incident.channel_id)
    bot.driver.slash_command("resolve Poison message removed", user=BOB, channel=incident.channel_id)
    with session_scope(bot.engine) as session:
        wait_for(lambda: session.exec(select(Postmortem)).first(), "the postmortem to be scheduled")
    home = open_home(bot, BOB)
    texts = " ".join(mrkdwn_texts(home["blocks"]))
    assert "Your postmortems" in json.dumps(home) and "*INC-1* Orders stuck in the queue" in texts
    assert "Postmortem *" in texts and "owner <@U0BOB>" in texts and "due " in texts
    assert "Your postmortems" not in json.dumps(open_home(bot, CAROL))

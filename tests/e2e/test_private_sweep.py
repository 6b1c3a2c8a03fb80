"""Private incidents stay in their channel: every surface someone outside it can see is swept.

Issue 8. A private incident (the declare form's Private option) goes through its whole life
with a canary in every field people fill in: title, summary, chat, thread reply, note,
status update and customer impact, severity reason, action items (command and form, title
and description), a postmortem proposal, the resolution; another (the security category,
private by default) stays open. Public twins carry the same kinds of canary (``PUBCANARY…``)
through the same steps. Then everything the bot showed anyone is collected with its audience
(``private_sweep_support``): the announcement, general and digest channels and the public
incident channels (every post, thread reply and edit), files, DMs, ephemerals and
``response_url`` answers, App Home and ``/incident list``/``backlog``/``digest`` of members and
non-members, the worker's digest and nudges, and ``incidentbot digest|backlog|timeline|
postmortem draft`` (without ``--include-private``). No private canary, ``INC-<n>`` of a
private incident or private channel id or name may reach anyone outside its channel; each
surface is also shown to carry the public kind, and private incidents to be counted where
counts are shown, so the sweep can fail.

More tests below: ``/incident convert`` in a private channel, a private channel imported
from a Slack export, a lead outside the private channel and its postmortem.
``INCIDENTBOT_SOAK=1`` runs five rounds of the four incidents instead of one
(``INCIDENTBOT_SOAK=<n>``, n > 1: n rounds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from private_sweep_support import Secret, Seen, cli_outputs, collect, leaks, shown_to
from sqlmodel import Session, select

from incidentbot.cli import main
from incidentbot.core import digest_runs
from incidentbot.core.digest_report import Week
from incidentbot.core.policy import parse_policy
from incidentbot.db import session_scope
from incidentbot.models import Incident, Postmortem
from incidentbot.sandbox.constants import DIGEST_ID
from incidentbot.slack import digest_flow, ids, nudging, postmortem_flow
from incidentbot.slack_export import write_export
from incidentbot.timeutil import utcnow
from tests_support import ALICE, BOB, CAROL, GENERAL, INCIDENTS, wait_for, soak

DAVE, ERIN = "U0DAVE", "U0ERIN"
ROUNDS = soak()
# Similar on purpose (core.similarity): the private incident's item joins the public one's
# backlog item (counted there, never named); KEYS starts a backlog item of its own.
LAG = "Add replica lag alerting on the orders database"
KEYS = "Rotate every signing key in the vault"


@dataclass
class Case:
    incident: Incident
    tag: str  # the canary prefix: every field's canary is f"{tag}-<field>"


# --- driving the bot ------------------------------------------------------------------------------


def new_view(bot, user, callback_id, known):
    return wait_for(lambda: next((v for v in bot.slack.views(user=user) if v["callback_id"] == callback_id
                                  and v["id"] not in known and not v["closed"]), None), f"the {callback_id} form")


def known_views(bot, user):
    return {v["id"] for v in bot.slack.views(user=user)}


def declare(bot, user, tag, *, private=False, category=None):
    known = known_views(bot, user)
    assert bot.driver.slash_command("", user=user, channel=GENERAL).status == 200
    form = new_view(bot, user, ids.DECLARE_VIEW, known)
    values = {"title": {"title": f"{tag}-title checkout errors"}, "severity": {"severity": "SEV2"},
              "summary": {"summary": f"{tag}-summary since the deploy"}}
    if bot.policy.services:
        values["services"] = {"services": ["api"]}
    if private:
        values["private"] = {"private": ["private"]}
    if category:
        values["category"] = {"category": category}
    assert bot.driver.submit_view(form["id"], user=user, values=values).status == 200
    incident = bot.wait_provisioned(len(bot.incidents()))
    assert incident.private == (private or category == "security")
    return Case(incident, tag)


def run(bot, case, text, user):
    answer = bot.driver.slash_command(text, user=user, channel=case.incident.channel_id)
    assert answer.status == 200, (text, answer.body)
    assert ":warning:" not in answer.body, (text, answer.body)  # refused: the test is wrong
    return answer


def post_update(bot, case, user):
    known = known_views(bot, user)
    run(bot, case, "update", user)
    form = new_view(bot, user, ids.UPDATE_VIEW, known)
    values = {"status": {"status": "identified"}, "text": {"text": f"{case.tag}-update bad consumer found"},
              "impact": {"impact": f"{case.tag}-impact some checkouts fail"}}
    assert bot.driver.submit_view(form["id"], user=user, values=values).status == 200


def add_item_by_form(bot, case, user, owner):
    known = known_views(bot, user)
    card = case.incident.card_ts
    bot.driver.block_action(user=user, action_id=ids.AI_OPEN_FORM, channel=case.incident.channel_id, message_ts=card)
    form = new_view(bot, user, ids.AI_VIEW, known)
    values = {"title": {"title": f"{case.tag}-aiform Write the key rotation runbook"},
              "description": {"description": f"{case.tag}-aidesc with the vault steps"}, "owner": {"owner": owner}}
    assert bot.driver.submit_view(form["id"], user=user, values=values).status == 200


def button(bot, channel, action_id):
    """(message ts, value) of the newest message in ``channel`` with that button."""
    def find():
        for message in reversed(bot.slack.messages(channel)):
            for block in message.get("blocks") or []:
                for element in [*block.get("elements", []), block.get("accessory") or {}]:
                    if isinstance(element, dict) and element.get("action_id") == action_id:
                        return message["ts"], element["value"], block.get("block_id")
        return None
    return wait_for(find, f"a {action_id} button in {channel}")


def press(bot, case, action_id, user):
    ts, value, block_id = button(bot, case.incident.channel_id, action_id)
    bot.driver.block_action(user=user, action_id=action_id, value=value, block_id=block_id,
                            channel=case.incident.channel_id, message_ts=ts)


def live_through(bot, case, declarer, lead, items, midway):
    """Declared → ack, lead, chat, note, update, severity up and down, summary, action items,
    mitigated, resolved, postmortem drafted, a proposal confirmed, in review, published, closed."""
    channel = case.incident.channel_id
    run(bot, case, "ack", declarer)
    run(bot, case, f"lead <@{lead}>", declarer)
    wait_for(lambda: lead in bot.slack.channel(channel)["members"], "the lead to be invited")
    chat, _ = bot.driver.user_posts(channel, declarer, f"{case.tag}-chat the consumer is stuck")
    bot.driver.user_posts(channel, lead, f"{case.tag}-thread restarting it", thread_ts=chat["ts"])
    bot.driver.user_posts(channel, lead, f"action: {case.tag}-proposal audit the build logs for leaked secrets")
    run(bot, case, f"note {case.tag}-note deploy 42 went out at 14:05", declarer)
    post_update(bot, case, declarer)
    run(bot, case, "sev 1", declarer)
    run(bot, case, f"sev 2 {case.tag}-sevreason only one region", lead)
    run(bot, case, f"summary {case.tag}-summary2 consumers stuck on a poison message", lead)
    for title in items:
        run(bot, case, f"action {title} {case.tag}-action <@{lead}>", lead)
    add_item_by_form(bot, case, lead, lead)
    midway()
    run(bot, case, "mitigate", lead)
    run(bot, case, f"resolve {case.tag}-resolution poison message removed", lead)
    press(bot, case, ids.AI_CONFIRM, lead)  # the draft's proposal (after the draft is posted)
    press(bot, case, ids.PM_REVIEW, lead)
    wait_for(lambda: [m for m in bot.slack.messages(channel) if "as *in review*" in m.get("text", "")], "in review")
    press(bot, case, ids.PM_PUBLISH, lead)
    wait_for(lambda: [f for f in bot.slack.files() if f["name"].endswith("-postmortem-final.md")
                      and channel in f["channels"]], "the published postmortem")
    run(bot, case, "close", lead)
    wait_for(lambda: bot.incident(case.incident.number).closed_at, "the close")


def open_home(bot, user):
    before = len([c for c in bot.slack.calls("views.publish") if c["args"].get("user_id") == user])
    assert bot.driver.app_home_opened(user).status == 200
    wait_for(lambda: len([c for c in bot.slack.calls("views.publish") if c["args"].get("user_id") == user]) > before,
             f"{user}'s Home")


def ask(bot, acks, user, text, channel=GENERAL):
    """A slash command whose answer is kept (with its reader) for the sweep; waits for a late answer."""
    def answers():
        return len([r for r in bot.slack.responses() if r["user"] == user and r.get("blocks")])
    before = answers()
    answer = bot.driver.slash_command(text, user=user, channel=channel)
    assert answer.status == 200, answer.body
    acks.append((f"answer to /incident {text} by {user}", user, answer.body))
    if not answer.body or "Building" in answer.body:  # answered after the ack, through the response_url
        wait_for(lambda: answers() > before, f"the answer to /incident {text}")


def look_around(bot, acks):
    """Everyone opens App Home and lists incidents; people outside every private incident
    also ask for the backlog and channel-only subcommands outside a channel."""
    for user in (ALICE, BOB, CAROL, DAVE, ERIN):
        open_home(bot, user)
        ask(bot, acks, user, "list")
    for text in ("backlog", "backlog api", "timeline", "actions", "help"):
        ask(bot, acks, CAROL, text)


# --- the sweep ------------------------------------------------------------------------------------


def cli_runs(week, public):
    """Every format of the digest and the backlog (no --include-private), the public incidents' exports."""
    runs = [["digest", "--week", week.label, "--format", f] for f in ("md", "html", "slack", "json")]
    runs += [["backlog", "--format", f] for f in ("md", "csv", "json")]
    runs += [["timeline", f"INC-{c.incident.number}", "--format", f] for c in public for f in ("md", "csv", "json")]
    return runs + [["postmortem", "draft", f"INC-{c.incident.number}", "--offline"] for c in public]


def secrets_of(bot, cases):
    result = []
    for case in cases:
        incident = bot.incident(case.incident.number)
        members = frozenset(bot.slack.channel(incident.channel_id)["members"])
        result.append(Secret(case.tag, members, case.tag, incident.number, incident.channel_id, incident.channel_name))
    return result


def move_to_last_week(bot):
    """Declared a week earlier, so ``/incident digest`` (the last complete week) shows them."""
    with session_scope(bot.engine) as session:
        for incident in session.exec(select(Incident)):
            incident.declared_at -= timedelta(days=7)
            session.add(incident)


def test_no_private_incident_data_reaches_anyone_outside_it(bot, monkeypatch, capsys):
    acks: list[tuple[str, str, str]] = []
    public, private, open_private, open_public = [], [], [], []
    for k in range(1, ROUNDS + 1):
        public.append(declare(bot, CAROL, f"PUBCANARY{k}F"))
        private.append(declare(bot, BOB, f"PRIVCANARY{k}P", private=True))
        open_private.append(declare(bot, ALICE, f"PRIVCANARY{k}S", category="security"))
        open_public.append(declare(bot, DAVE, f"PUBCANARY{k}O"))
    for case in open_private + open_public:  # left open: in lists, Homes and nudges
        owner = case.incident.declared_by
        post_update(bot, case, owner)
        # The same words: the public incident's item joins the backlog item the private one's started.
        run(bot, case, f"action Document the on-call handover for payments {case.tag}-action", owner)
    for case in open_public:
        wait_for(lambda: [m for m in bot.slack.messages(case.incident.channel_id) if "Joined *BL-" in str(m)],
                 "the public item to join the private incident's backlog item")
    for pub, priv in zip(public, private):
        live_through(bot, pub, CAROL, DAVE, [LAG], midway=lambda: None)
        live_through(bot, priv, BOB, ERIN, [LAG, KEYS], midway=lambda: look_around(bot, acks))
    look_around(bot, acks)
    for case in public[:1]:  # a non-member of every private incident, in a public incident's channel
        ask(bot, acks, CAROL, "timeline", case.incident.channel_id)
        ask(bot, acks, CAROL, "actions", case.incident.channel_id)

    deps = bot.deps()
    week = Week.containing(bot.incident(1).declared_at, bot.policy)
    assert digest_flow.post_weekly_digest(deps, now=digest_runs.due_at(week, bot.policy)) == 1
    assert nudging.send_due(deps, now=utcnow() + timedelta(hours=6)) > 0
    outputs = cli_outputs(bot, monkeypatch, capsys, cli_runs(week, public))
    move_to_last_week(bot)
    ask(bot, acks, CAROL, "digest")

    seen = collect(bot.slack)
    seen += [Seen(where, frozenset({user}), body) for where, user, body in acks]
    everyone = frozenset({ALICE, BOB, CAROL, DAVE, ERIN})
    seen += [Seen(where, everyone, text) for where, text in outputs.items()]
    secrets = secrets_of(bot, private + open_private)
    assert leaks(seen, secrets) == []

    check_members_see_their_own(seen, private, open_private)
    check_public_kind_is_shown(seen, outputs, public, open_public)
    check_private_incidents_are_counted(seen, outputs)


# --- what must show ------------------------------------------------------------------------------


def check_members_see_their_own(seen, private, open_private):
    """The same surfaces do show a private incident to its channel's members."""
    for case, member in ((private[0], ERIN), (open_private[0], ALICE)):
        title = f"{case.tag}-title"
        assert title in shown_to(seen, member, f"views.publish {member}"), f"{member}'s Home lacks {case.tag}"
        assert title in shown_to(seen, member, f"response_url reply to {member}"), f"{member}'s list lacks {case.tag}"


def check_public_kind_is_shown(seen, outputs, public, open_public):
    """Every surface swept carries the public twin's canaries: a sweep that looked nowhere fails."""
    f, o = public[0].tag, open_public[0].tag
    number = public[0].incident.number
    announced = shown_to(seen, CAROL, INCIDENTS)
    for field in ("title", "summary", "summary2", "update", "impact", "sevreason", "resolution"):
        assert f"{f}-{field}" in announced, f"the announcement lacks {f}-{field}"
    assert f"The postmortem of *INC-{number}* is published" in announced
    in_channel = shown_to(seen, CAROL, public[0].incident.channel_id)
    for field in ("chat", "thread", "note", "action", "aiform", "proposal"):
        assert f"{f}-{field}" in in_channel, f"{public[0].incident.channel_name} lacks {f}-{field}"
    files = shown_to(seen, CAROL, "file ")
    assert f"{f}-title" in files and f"{f}-proposal" in files and f"{f}-resolution" in files  # invite, drafts
    assert f"{f}-title" in shown_to(seen, DAVE, f"chat.postMessage {DAVE}")  # the lead's DM
    home, replies = shown_to(seen, CAROL, f"views.publish {CAROL}"), shown_to(seen, CAROL, f"reply to {CAROL}")
    assert f"{o}-title" in home and f"{o}-title" in replies  # App Home, /incident list
    assert f"{f}-action" in replies and f"{f}-update" in replies and f"{f}-resolution" in replies  # backlog, timeline
    digest = shown_to(seen, CAROL, DIGEST_ID)
    assert f"{f}-title" in digest and f"{o}-title" in digest
    for command, text in outputs.items():
        kind = command.split()[1]
        if kind in ("timeline", "postmortem") and f"INC-{number}" not in command.split():
            continue  # another round's public incident
        field = {"digest": "title", "backlog": "action", "timeline": "resolution", "postmortem": "proposal"}[kind]
        assert f"{f}-{field}" in text, f"{command} lacks {f}-{field}"


def check_private_incidents_are_counted(seen, outputs):
    """Where counts are shown, private incidents count (docs: counted, never named)."""
    digest = shown_to(seen, CAROL, f"chat.postMessage {DIGEST_ID}")
    assert f"{2 * ROUNDS} of them private (counted, not listed)" in digest
    published = f"{ROUNDS} private incident{'s' if ROUNDS > 1 else ''}: counted, not listed"
    assert published in digest  # the private postmortems published this week
    backlog = shown_to(seen, CAROL, f"reply to {CAROL}")  # "Incidents: INC-1 + 1 private incident", its items
    assert re.search(r"\+ \d+ private incidents?", backlog)
    assert re.search(r"\+ (1 from a private incident|\d+ from private incidents)", backlog)
    week_json = next(text for command, text in outputs.items() if command.startswith("incidentbot digest") and
                     command.endswith("json"))
    assert f'"private_count": {2 * ROUNDS}' in week_json
    backlog_json = next(text for command, text in outputs.items() if command == "incidentbot backlog --format json")
    assert f'"private_incidents": {ROUNDS}' in backlog_json  # the LAG item: one private incident a round


# --- a private channel made an incident channel ----------------------------------------------------


def test_converting_a_private_channel_makes_a_private_incident(bot):
    """``/incident convert`` in a private channel (the bot invited) must not announce it publicly."""
    gateway = bot.deps().gateway
    channel_id, name = gateway.create_channel("sec-triage", private=True)
    gateway.invite(channel_id, [BOB])
    answer = bot.driver.slash_command("convert PRIVCANARY9C-title keys in a gist sev2", user=BOB, channel=channel_id)
    assert answer.status == 200 and "Turning this channel" in answer.body
    incident = bot.wait_provisioned(1)
    assert incident.channel_id == channel_id and incident.private
    assert incident.announcement_ts is None
    acks: list[tuple[str, str, str]] = []
    look_around(bot, acks)
    seen = collect(bot.slack) + [Seen(where, frozenset({user}), body) for where, user, body in acks]
    secret = Secret("converted", frozenset(bot.slack.channel(channel_id)["members"]), "PRIVCANARY9C", 1, channel_id,
                    name)
    assert leaks(seen, [secret]) == []
    assert "PRIVCANARY9C-title" in shown_to(seen, BOB, f"views.publish {BOB}")  # its member sees it


# --- a private channel imported from a Slack export ------------------------------------------------


def test_a_private_channel_imported_from_an_export_stays_private(bot, tmp_path, monkeypatch, capsys):
    """``incidentbot import slack-export`` of a channel in groups.json (private) makes a private
    incident: counted in the digest, never named there, in lists or in App Home."""
    start = int((utcnow() - timedelta(hours=3)).timestamp())
    history = [{"type": "message", "ts": f"{start + minute * 60}.000000", "user": "U9ANA", "text": text}
               for minute, text in ((0, "PRIVCANARY9I-chat signing keys are in a public gist"),
                                    (5, "rotating the keys now"), (30, "keys rotated, resolved"))]
    channel = {"id": "G9LEAK", "name": "sec-leak", "created": start, "creator": "U9ANA",
               "purpose": {"value": "PRIVCANARY9I-title signing keys in a public gist"}}
    write_export(tmp_path / "export", users=[{"id": "U9ANA", "name": "ana"}], channels=[channel],
                 messages={"sec-leak": history}, private=True)
    monkeypatch.setenv("DATABASE_URL", bot.settings.database_url)
    monkeypatch.delenv("INCIDENTBOT_CONFIG", raising=False)
    assert main(["import", "slack-export", str(tmp_path / "export"), "--channel", "sec-leak"]) == 0
    [incident] = bot.incidents()
    assert incident.private and "PRIVCANARY9I-title" in incident.title
    week = Week.containing(incident.declared_at, bot.policy)
    runs = [["digest", "--week", week.label, "--format", f] for f in ("md", "json")]
    outputs = cli_outputs(bot, monkeypatch, capsys, runs)
    assert '"private_count": 1' in outputs[f"incidentbot digest --week {week.label} --format json"]
    acks: list[tuple[str, str, str]] = []
    look_around(bot, acks)
    everyone = frozenset({ALICE, BOB, CAROL, DAVE, ERIN})
    seen = collect(bot.slack) + [Seen(where, frozenset({user}), body) for where, user, body in acks]
    seen += [Seen(where, everyone, text) for where, text in outputs.items()]
    assert leaks(seen, [Secret("imported", frozenset(), "PRIVCANARY9I", 1, "G9LEAK", "sec-leak")]) == []


# --- a lead outside the private channel -----------------------------------------------------------


def test_a_lead_outside_the_private_channel_is_not_told_about_its_postmortem(make_bot):
    """A lead Slack refused to invite into the private channel (e.g. a guest account) owns its
    postmortem, but is not invited to the review, does not see it in App Home, and the
    overdue reminder goes to the channel instead. (Anyone may resolve under this policy.)"""
    bot = make_bot(parse_policy("[permissions]\nrestricted_actions = []"))
    case = declare(bot, BOB, "PRIVCANARY8P", private=True)
    channel = case.incident.channel_id
    bot.slack.add_fault("conversations.invite", "error", error="user_is_restricted", times=1)
    run(bot, case, f"lead <@{CAROL}>", BOB)
    wait_for(lambda: [m for m in bot.slack.messages(channel) if "*Incident lead*" in m.get("text", "")], "the lead")
    assert CAROL not in bot.slack.channel(channel)["members"]
    bot.driver.user_posts(channel, BOB, "PRIVCANARY8P-chat rotating the keys")  # Bob: the most active
    run(bot, case, "resolve PRIVCANARY8P-resolution keys rotated", BOB)
    button(bot, channel, ids.PM_PUBLISH)  # the draft is posted: the invitations went out before it
    with Session(bot.engine) as session:
        postmortem = session.exec(select(Postmortem)).one()
    assert postmortem.owner == CAROL
    assert postmortem_flow.send_reminders(bot.deps(), now=postmortem.due_at + timedelta(days=4)) >= 1
    open_home(bot, CAROL)
    seen = collect(bot.slack)
    secret = Secret("lead", frozenset(bot.slack.channel(channel)["members"]), "PRIVCANARY8P", 1, channel,
                    case.incident.channel_name)
    assert leaks(seen, [secret]) == []  # not even the role's welcome DM: Carol was never let in
    assert "postmortem review of *INC-1*" in shown_to(seen, BOB, f"chat.postMessage {BOB}")  # its member is invited
    assert "The postmortem of *INC-1* was due" in shown_to(seen, BOB, f"chat.postMessage {channel}")

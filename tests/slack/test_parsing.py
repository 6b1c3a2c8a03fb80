import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incidentbot.slack import parsing
from incidentbot.slack.parsing import Command, CommandError, parse


@pytest.mark.parametrize("text, expected", [
    ("", Command("form")),
    ("   ", Command("form")),
    ("help", Command("help")),
    ("HELP", Command("help")),
    ("Checkout is failing", Command("declare", title="Checkout is failing")),
    ("Checkout is failing sev1", Command("declare", title="Checkout is failing", severity="SEV1")),
    ("SEV2 Checkout is failing", Command("declare", title="Checkout is failing", severity="SEV2")),
    ("declare DB down sev-3", Command("declare", title="DB down", severity="SEV3")),
    ("declare help me", Command("declare", title="help me")),
    ("🔥 everything 🔥", Command("declare", title="🔥 everything 🔥")),
    ("status resolved", Command("status", rest="resolved")),
])
def test_parse(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("typo, meant", [("stauts", "status"), ("halp", "help"), ("postmortm", "postmortem"), ("lsit", "list")])
def test_typos_suggest_the_subcommand_and_how_to_declare(typo, meant):
    with pytest.raises(CommandError) as caught:
        parse(typo)
    assert f"`/incident {meant}`" in str(caught.value)
    assert f"/incident declare {typo}" in str(caught.value)


def test_declare_without_title_shows_syntax():
    with pytest.raises(CommandError, match=r"/incident declare <title>"):
        parse("declare sev1")




@settings(max_examples=2000)
@given(st.text(max_size=400))
def test_never_raises_anything_but_command_error(text):
    try:
        command = parse(text)
    except CommandError as error:
        assert str(error).strip()
    else:
        assert command.name in {"form", "help", "declare"} or command.rest is not None


def test_typo_message_is_escaped_when_shown():
    from incidentbot.slack.blocks import error_blocks
    from tests_support import mrkdwn_texts

    with pytest.raises(CommandError) as caught:
        parse("stauts <!here>")
    shown = " ".join(mrkdwn_texts(error_blocks(str(caught.value))))
    assert "<!here>" not in shown and "&lt;!here&gt;" in shown


# --- /incident action ---------------------------------------------------------------------

import re  # noqa: E402

from incidentbot.slack.parsing import IN_CHANNEL, USAGE, ActionRequest, action_request  # noqa: E402


def test_action_subcommands_are_in_channel_and_backlog_anywhere():
    assert parse("action Add an alert") == Command("action", rest="Add an alert")
    assert parse("ACTIONS") == Command("actions")
    assert parse("backlog payments") == Command("backlog", rest="payments")
    assert {"action", "actions"} <= IN_CHANNEL and "backlog" not in IN_CHANNEL
    assert USAGE["backlog"] == ("/incident backlog [service|team]",
                                "The top of the reliability backlog, with each score explained.")
    assert USAGE["action"][0] == "/incident action <text> [@owner] [due <date>]"


@pytest.mark.parametrize("text, expected", [
    ("Add an alert on lag <@U0BOB|bob> due friday", ActionRequest("Add an alert on lag", "U0BOB", "friday")),
    ("<@U0BOB> Add an alert due 2026-12-18", ActionRequest("Add an alert", "U0BOB", "2026-12-18")),
    ("Add an alert due in 3 weeks", ActionRequest("Add an alert", None, "in 3 weeks")),
    ("Fix the due date parser due tomorrow", ActionRequest("Fix the due date parser", None, "tomorrow")),
    # Four or more words after the last "due": it is part of the title.
    ("Document the due diligence steps for vendors", ActionRequest("Document the due diligence steps for vendors")),
    ("Fix it due", ActionRequest("Fix it due")),
    ("Ask <@U0CAROL|carol> and <@U0DAVE|dave> to rotate keys",
     ActionRequest("Ask and @dave to rotate keys", "U0CAROL")),
    ("Page <@U0ALICE> then <@U0BOB>", ActionRequest("Page then @U0BOB", "U0ALICE")),
    ("due friday", ActionRequest("", None, "friday")),
    ("  🔥 Add   alerting 🔥 ", ActionRequest("🔥 Add alerting 🔥")),
    ("", ActionRequest("")),
])
def test_action_request(text, expected):
    assert action_request(text) == expected


@settings(max_examples=1000)
@given(st.text(max_size=300))
def test_action_request_never_raises_and_owner_is_the_first_mention(text):
    request = action_request(text)
    first = re.search(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>", text)
    assert request.owner == (first.group(1) if first else None)
    assert request.due is None or 1 <= len(request.due.split()) <= 3
    assert request.title == request.title.strip()


@pytest.mark.parametrize("raw, plain", [
    ("ask <@U0BOB|bob> about it", "ask @bob about it"),
    ("ask <@U0BOB> about it", "ask @U0BOB about it"),
    ("see <#C0OPS|ops> and <!subteam^S0ONCALL|@oncall>", "see #ops and @oncall"),
    ("<!channel> and <!here>", "@channel and @here"),
    ("runbook <https://wiki.example/rb>", "runbook https://wiki.example/rb"),
    ("<https://evil.example|the runbook>", "the runbook (https://evil.example)"),
    ("mail <mailto:ops@example.com|ops@example.com>", "mail ops@example.com"),
    ("I <3 this, a <b> c", "I <3 this, a <b> c"),
])
def test_readable_makes_slack_markup_plain(raw, plain):
    assert parsing.readable(raw) == plain


def test_titles_and_free_text_are_stored_readable():
    declared = parsing.parse("declare Webhooks failing for <@U0BOB|bob> <!channel> sev2")
    assert (declared.title, declared.severity) == ("Webhooks failing for @bob @channel", "SEV2")
    note = parsing.parse("note <@U0BOB|bob> found <https://x.example/pr/1|the PR>")
    assert note.rest.startswith("<@U0BOB|bob>") and note.text == "@bob found the PR (https://x.example/pr/1)"
    assert parsing.mentions("lead <@U0BOB|bob> see <#C1|ops>") == (["U0BOB"], "lead see #ops")

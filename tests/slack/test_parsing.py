import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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

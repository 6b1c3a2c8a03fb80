"""app-manifest.yml asks for what the code uses, and the code uses what it lists."""

import re
from pathlib import Path

from incidentbot.slack import ids

MANIFEST = (Path(__file__).resolve().parents[1] / "app-manifest.yml").read_text()


def _listed(section: str) -> set[str]:
    block = MANIFEST.split(f"{section}:", 1)[1]
    return set(re.findall(r"^\s+- ([a-z:.]+)", block.split("settings:", 1)[0], re.MULTILINE))


def test_the_command_the_bot_listens_to_is_the_one_in_the_manifest():
    assert set(re.findall(r"- command: (/\S+)", MANIFEST)) == {ids.COMMAND}
    assert "interactivity:\n    is_enabled: true" in MANIFEST  # buttons and modals post here


def test_shortcut_and_events_match_the_listeners():
    assert f"callback_id: {ids.DECLARE_FROM_MESSAGE}" in MANIFEST
    events = set(re.findall(r"^\s+- ([a-z_]+)\s", MANIFEST.split("bot_events:", 1)[1], re.MULTILINE))
    assert events == {"app_home_opened"}


def test_scopes_cover_the_web_api_methods_the_gateway_calls():
    gateway = (Path(__file__).resolve().parents[1] / "incidentbot" / "slack" / "gateway.py").read_text()
    methods = set(re.findall(r'"((?:conversations|chat|pins|views|users|usergroups)\.[a-zA-Z.]+)"', gateway))
    needs = {
        "conversations.create": {"channels:manage", "groups:write"},
        "conversations.invite": {"channels:manage", "groups:write"},
        "conversations.join": {"channels:join"},
        "conversations.list": {"channels:read", "groups:read"},
        "chat.postMessage": {"chat:write"},
        "chat.postEphemeral": {"chat:write"},
        "chat.update": {"chat:write"},
        "pins.add": {"pins:write"},
        "chat.getPermalink": set(),
        "conversations.members": {"channels:read", "groups:read"},
        "conversations.info": {"channels:read", "groups:read"},
        "usergroups.users.list": {"usergroups:read"},
        "views.open": set(),
        "views.publish": set(),
    }
    scopes = _listed("bot")
    assert methods <= set(needs), f"add the scopes for {methods - set(needs)} to this test and the manifest"
    assert set().union(*(needs[m] for m in methods)) | {"commands"} == scopes

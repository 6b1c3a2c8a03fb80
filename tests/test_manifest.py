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


LISTENERS = Path(__file__).resolve().parents[1] / "incidentbot" / "slack" / "listeners"
# Events API event → the bot_events to subscribe to ("message" comes per conversation type).
EVENT_SUBSCRIPTIONS = {
    "app_home_opened": {"app_home_opened"},
    "message": {"message.channels", "message.groups"},
    "pin_added": {"pin_added"},
    "reaction_added": {"reaction_added"},
}
# The scopes each subscription needs.
EVENT_SCOPES = {
    "app_home_opened": set(),
    "message.channels": {"channels:history"},
    "message.groups": {"groups:history"},
    "pin_added": {"pins:read"},
    "reaction_added": {"reactions:read"},
}


def _subscribed() -> set[str]:
    return set(re.findall(r"^\s+- ([a-z_.]+)\s", MANIFEST.split("bot_events:", 1)[1].split("interactivity:", 1)[0],
                          re.MULTILINE))


def test_shortcuts_match_the_listeners():
    # Shortcuts are registered in shortcuts.py and in feature modules (action_items.py).
    sources = "".join(path.read_text() for path in sorted(LISTENERS.glob("*.py")))
    registered = set(re.findall(r"app\.shortcut\(ids\.([A-Z_]+)\)", sources))
    assert set(re.findall(r"callback_id: (\S+)", MANIFEST)) == {getattr(ids, name) for name in registered}
    assert {ids.DECLARE_FROM_MESSAGE, ids.ADD_TO_TIMELINE, ids.AI_FROM_MESSAGE} <= {
        getattr(ids, name) for name in registered}


def test_events_match_the_listeners():
    # An event nobody listens to is only answered and dropped (listeners/fallbacks.py) but
    # still counts against Slack's events-per-hour limit: subscribe to exactly the events
    # that have listeners.
    registered = set(re.findall(r'app\.event\("([a-z_]+)"\)', (LISTENERS / "events.py").read_text()))
    assert registered <= set(EVENT_SUBSCRIPTIONS), f"map {registered - set(EVENT_SUBSCRIPTIONS)} in this test"
    assert _subscribed() == set().union(*(EVENT_SUBSCRIPTIONS[e] for e in registered))


def test_scopes_cover_the_web_api_methods_the_gateway_calls_and_the_events():
    gateway = (Path(__file__).resolve().parents[1] / "incidentbot" / "slack" / "gateway.py").read_text()
    methods = set(re.findall(r'"((?:conversations|chat|pins|views|users|usergroups|reactions)\.[a-zA-Z.]+)"', gateway))
    needs = {
        "conversations.create": {"channels:manage", "groups:write"},
        "conversations.invite": {"channels:manage", "groups:write"},
        "conversations.join": {"channels:join"},
        "conversations.list": {"channels:read", "groups:read"},
        "conversations.history": {"channels:history", "groups:history"},
        "conversations.replies": {"channels:history", "groups:history"},
        "chat.postMessage": {"chat:write"},
        "chat.postEphemeral": {"chat:write"},
        "chat.update": {"chat:write"},
        "pins.add": {"pins:write"},
        "chat.getPermalink": set(),
        "conversations.members": {"channels:read", "groups:read"},
        "conversations.info": {"channels:read", "groups:read"},
        "usergroups.users.list": {"usergroups:read"},
        "users.info": {"users:read"},
        "views.open": set(),
        "views.publish": set(),
    }
    scopes = _listed("bot")
    assert methods <= set(needs), f"add the scopes for {methods - set(needs)} to this test and the manifest"
    wanted = set().union(*(needs[m] for m in methods), *(EVENT_SCOPES[e] for e in _subscribed())) | {"commands"}
    assert wanted == scopes

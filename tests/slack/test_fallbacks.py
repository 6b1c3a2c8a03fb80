import re
from pathlib import Path

from incidentbot.slack import ids
from incidentbot.slack.listeners.fallbacks import not_ours

SLACK = Path(__file__).resolve().parents[2] / "incidentbot" / "slack"


def test_a_click_whose_own_listener_answers_late_is_not_called_stale():
    # Bolt hands a request whose listener did not ack within 3 s to the next listener
    # that matches; the fallbacks must not match any id a current listener takes.
    assert not not_ours({"type": "block_actions", "actions": [{"action_id": ids.ACK}]})
    assert not not_ours({"type": "view_submission", "view": {"callback_id": ids.DECLARE_VIEW}})
    assert not not_ours({"type": "message_action", "callback_id": ids.ADD_TO_TIMELINE})
    assert not_ours({"type": "block_actions", "actions": [{"action_id": "incident_escalate"}]})
    assert not_ours({"type": "view_submission", "view": {"callback_id": "incident_escalate_view"}})


def test_every_listener_is_registered_by_an_id_from_ids():
    # not_ours knows the current ids from the ids module; a listener registered with a
    # literal or a pattern would be invisible to it.
    sources = "".join(p.read_text() for p in sorted(SLACK.rglob("*.py")))
    registrations = re.findall(r"app\.(action|view|shortcut)\(([^)]*)\)", sources)
    assert len(registrations) > 30
    others = [(kind, arg) for kind, arg in registrations if not arg.startswith("ids.") and "matchers=[not_ours]" not in arg]
    assert others == []

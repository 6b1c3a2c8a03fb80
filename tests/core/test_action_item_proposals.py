"""A postmortem draft's proposals as requests to create action items (core.action_items.from_proposal)."""

import pytest

from incidentbot.core import action_items
from incidentbot.core.action_items import TITLE_MAX, from_proposal, proposal_key
from incidentbot.core.errors import InvalidInput, NotFound
from incidentbot.models import Postmortem


def postmortem(*proposals: dict) -> Postmortem:
    return Postmortem(id=4, incident_id=1, owner="U0BOB", status="drafted", draft_actions=list(proposals))


def test_a_proposal_becomes_a_request_keyed_by_its_text():
    spec = from_proposal(postmortem({"text": "Add a dead-letter queue", "type": "corrective", "priority": "P1",
                                     "owner": "bob", "owner_id": "U0BOB", "ts": "17.5",
                                     "source": "https://x.slack.com/archives/C1/p175"}), 0)
    assert (spec.title, spec.owner, spec.type, spec.priority, spec.origin) == (
        "Add a dead-letter queue", "U0BOB", "corrective", "P1", "postmortem")
    assert (spec.source_ts, spec.source_link, spec.description) == ("17.5", "https://x.slack.com/archives/C1/p175", "")
    assert spec.request_key == proposal_key(4, "add a  DEAD-LETTER queue ") and spec.request_key.startswith(
        "postmortem:4:") and len(spec.request_key.rsplit(":", 1)[1]) == 12


def test_what_the_drafter_could_not_say_falls_back_to_the_defaults():
    long = "Add " + "very " * 100 + "long alerting"
    spec = from_proposal(postmortem({"text": long, "type": "heroic", "priority": "urgent", "owner_id": "bob",
                                     "source": "1700000000.000100"}), 0)
    assert len(spec.title) <= TITLE_MAX and spec.title.endswith("…") and spec.description == long
    assert (spec.type, spec.priority, spec.owner, spec.source_link, spec.source_ts) == (None, None, None, None, None)


def test_a_proposal_no_longer_in_the_draft():
    with pytest.raises(NotFound, match="no longer in the postmortem draft"):
        from_proposal(postmortem({"text": "x"}), 1)
    with pytest.raises(NotFound):
        from_proposal(Postmortem(id=4, incident_id=1, owner="U0BOB", status="drafted"), 0)


@pytest.mark.parametrize("title", [":fire:", "🔥 🔥", ":rotating_light: 🚨 !!"])
def test_a_title_of_emoji_alone_is_refused(title):
    with pytest.raises(InvalidInput, match="Say in words what needs doing"):
        action_items.clean_title(title)
    assert action_items.clean_title(f"{title} Add an alert") == f"{title} Add an alert"

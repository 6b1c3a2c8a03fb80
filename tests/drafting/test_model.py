"""The model drafter against a local OpenAI-compatible server, with the real ``openai`` client.

The fake server answers from the numbers it finds in the prompt, the way a model would,
so the tests check what the code does with an answer: times and sources from the cited
messages, strict validation, fallback to the offline draft on any failure, chunking for
long channels, and that no secret ever reaches the server or the logs.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from openai import OpenAI

from drafting.fake_openai import FakeOpenAI, Reply
from incidentbot.drafting.draft import draft_postmortem
from incidentbot.drafting.history import History, HistoryMessage
from incidentbot.drafting.model import ModelOptions
from incidentbot.errors import ConfigError
from incidentbot.settings import load_settings

T0 = datetime(2024, 3, 13, 10, 0, tzinfo=timezone.utc)
CANARY_KEY = "AKIAZZCANARYZZ123456"
CANARY_TOKEN = "xoxb-999999999999-9999999999999-CanaryCanaryCanaryCanary"
CANARY_EMAIL = "canary.person@example.org"
CANARY_PASSWORD = "Canary!Pa55word"


def msg(minute: int, text: str, author: str = "Ana") -> HistoryMessage:
    return HistoryMessage(ts=f"{int((T0 + timedelta(minutes=minute)).timestamp())}.000100",
                          at=T0 + timedelta(minutes=minute), author=author, author_id=author,
                          is_bot=author == "Alertmanager", text=text)


def history() -> History:
    return History(channel="inc-checkout", title="Checkout errors", people=("Ana", "Bo"), messages=[
        msg(0, "[FIRING:1] CheckoutErrors (prod critical)", "Alertmanager"),
        msg(2, f"the pod env has AWS_ACCESS_KEY_ID={CANARY_KEY} is that the old one?", "Bo"),
        msg(3, f"webhook uses {CANARY_TOKEN} and db postgres://app:{CANARY_PASSWORD}@db:5432/x", "Bo"),
        msg(5, "fyi the serializer change drops the currency field", "Bo"),
        msg(6, f"cc {CANARY_EMAIL} for the customer side", "Ana"),
        msg(10, "update: rollback started", "Bo"),
        msg(20, "We're repaired: rollback finished, errors gone", "Ana"),
        msg(30, "Resolving the incident.", "Ana"),
        msg(35, "action: add a contract test for the checkout payload", "Bo"),
    ])


def number_of(prompt: str, words: str) -> int:
    """The message number the prompt gives to the line containing ``words``."""
    for line in prompt.splitlines():
        match = re.match(r"\[(\d+)\]", line)
        if match and words in line:
            return int(match.group(1))
    raise AssertionError(f"{words!r} not in the prompt")


def good_answer(request: dict[str, Any]) -> Reply:
    prompt = request["messages"][-1]["content"]
    alert, finding = number_of(prompt, "CheckoutErrors"), number_of(prompt, "serializer change")
    fixed, done = number_of(prompt, "We're repaired"), number_of(prompt, "Resolving")
    action = number_of(prompt, "contract test")
    return Reply(content=json.dumps({
        "title": "Checkout errors after a serializer change",
        "summary": "A serializer change dropped the currency field; checkout failed until the rollback.",
        "severity": "SEV2", "category": "code-deploy",
        "milestones": {"detected": alert, "mitigated": fixed, "resolved": done},
        "timeline": [
            {"id": alert, "text": "Checkout error alert fired at 09:99 (model-made time, must be ignored)"},
            {"id": finding, "text": "The serializer change was found to drop the currency field"},
            {"id": fixed, "text": "Rollback finished; errors stopped"},
        ],
        "action_items": [{"id": action, "text": "Add a contract test for the checkout payload", "owner": "Bo",
                          "type": "preventative", "priority": "P1"}],
        "sections": {"impact": "Checkout failed for some users.", "trigger": "A serializer change.",
                     "what_went_wrong": "Bo caused the outage. The review was careless."},
    }))


@pytest.fixture
def server():
    with FakeOpenAI(good_answer) as fake:
        yield fake


def client_for(fake: FakeOpenAI, **kw: Any) -> OpenAI:
    return OpenAI(api_key="test-key", base_url=fake.base_url, max_retries=0, **kw)


def test_model_draft_takes_times_and_sources_from_the_messages(server: FakeOpenAI) -> None:
    h = history()
    draft = draft_postmortem(h, mode="model", client=client_for(server), settings=load_settings(openai_model="fake-1"))
    assert draft.model == "fake-1"
    assert draft.title == "Checkout errors after a serializer change"
    by_text = {row.text: row for row in draft.timeline}
    alert_row = next(r for t, r in by_text.items() if t.startswith("Checkout error alert"))
    assert alert_row.at == h.messages[0].at and alert_row.source == h.messages[0].ts
    assert draft.milestones["mitigated_at"] == h.messages[6].at
    assert draft.milestones["resolved_at"] == h.messages[7].at
    assert draft.action_items[0].source == h.messages[8].ts and draft.action_items[0].priority == "P1"
    assert draft.sections["impact"] == "Checkout failed for some users."
    assert draft.sections["response"]  # left empty by the model: the offline text fills it


def test_structured_output_is_requested_and_secrets_never_leave(server: FakeOpenAI,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # even the openai client's debug logging must not see a secret
    draft_postmortem(history(), mode="model", client=client_for(server))
    request = server.requests[0]
    assert request["response_format"]["type"] == "json_schema"
    assert "milestones" in json.dumps(request["response_format"]["json_schema"]["schema"])
    sent = b"".join(server.bodies).decode()
    for canary in (CANARY_KEY, CANARY_TOKEN, CANARY_EMAIL, CANARY_PASSWORD):
        assert canary not in sent and canary not in caplog.text
    assert "<SECRET_" in sent and "<EMAIL_" in sent


def test_settings_point_the_real_client_at_the_server(server: FakeOpenAI) -> None:
    settings = load_settings(openai_api_key="sk-test", openai_base_url=server.base_url, openai_model="local-7b")
    draft = draft_postmortem(history(), settings=settings)  # mode "auto": a key is set
    assert draft.model == "local-7b" and server.requests[0]["model"] == "local-7b"


def test_auto_without_a_key_stays_offline(server: FakeOpenAI) -> None:
    draft = draft_postmortem(history(), settings=load_settings(openai_api_key=""))
    assert draft.model == "offline" and server.requests == []


def test_model_mode_without_a_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        draft_postmortem(history(), mode="model", settings=load_settings(openai_api_key=""))


@pytest.mark.parametrize("reply, reason", [
    (Reply(content="this is not JSON at all"), "did not match the schema"),
    (Reply(content='{"summary": 42, "timeline": "yes"}'), "did not match the schema"),
    (Reply(content='{"summary": "ok", "timeline": [{"id": 999, "text": "made up"}]}'), "not sent"),
    (Reply(raw=b"<html>502 Bad Gateway</html>", status=502), "HTTP 502"),
    (Reply(status=500), "HTTP 500"),
])
def test_bad_answers_fall_back_to_the_offline_draft(reply: Reply, reason: str) -> None:
    with FakeOpenAI(lambda _request: reply) as fake:
        draft = draft_postmortem(history(), mode="model", client=client_for(fake),
                                 settings=load_settings(openai_model="fake-1"))
    assert draft.model.startswith("offline (fallback: model fake-1 failed:") and reason in draft.model
    assert any(reason in note for note in draft.notes)
    assert draft.timeline and all(row.source for row in draft.timeline)  # a full offline draft


def test_timeout_falls_back_without_waiting_for_the_answer() -> None:
    with FakeOpenAI(lambda _request: Reply(content="{}", delay=10)) as fake:
        draft = draft_postmortem(history(), mode="model", client=client_for(fake),
                                 model_options=ModelOptions(timeout=0.5, max_retries=0))
    assert "did not answer within 0.5s" in draft.model
    assert len(fake.requests) == 1  # asked once, gave up at the timeout, no retry


def test_server_down_falls_back() -> None:
    fake = FakeOpenAI()
    url = fake.base_url
    fake._server.server_close()  # the port is now closed: nothing listens
    client = OpenAI(api_key="k", base_url=url, max_retries=0, timeout=2)
    draft = draft_postmortem(history(), mode="model", client=client)
    assert "could not be reached" in draft.model


def test_json_mode_is_used_when_structured_output_is_refused() -> None:
    def picky(request: dict[str, Any]) -> Reply:
        if request["response_format"]["type"] == "json_schema":
            return Reply(status=400)
        return good_answer(request)

    with FakeOpenAI(picky) as fake:
        draft = draft_postmortem(history(), mode="model", client=client_for(fake))
    assert [r["response_format"]["type"] for r in fake.requests] == ["json_schema", "json_object"]
    assert draft.title == "Checkout errors after a serializer change"


def test_long_channel_is_summarised_in_chunks_then_combined() -> None:
    chatter = [msg(40 + i, f"looking at shard {i} of the checkout database, nothing odd so far") for i in range(300)]
    long = history()
    long.messages = sorted([*long.messages, *chatter], key=lambda m: m.at)

    def mapper(request: dict[str, Any]) -> Reply:
        prompt = request["messages"][-1]["content"]
        if "Schema" in request["messages"][0]["content"] and "one part" in request["messages"][0]["content"]:
            keep = [int(n) for n in re.findall(r"^\[(\d+)\].*(?:CheckoutErrors|serializer|repaired|Resolving|contract)",
                                               prompt, re.M)]
            return Reply(content=json.dumps({"events": keep, "actions": [], "notes": "checkout down"}))
        return good_answer(request)

    with FakeOpenAI(mapper) as fake:
        draft = draft_postmortem(long, mode="model", client=client_for(fake),
                                 model_options=ModelOptions(token_budget=2500))
    assert len(fake.requests) >= 3  # at least two chunks, then the final draft
    final = fake.prompts()[-1]
    assert "shard" not in final and "checkout down" in final
    assert draft.model == "gpt-4o-mini" and len(draft.timeline) == 3


def test_model_text_is_checked_for_blame(server: FakeOpenAI) -> None:
    draft = draft_postmortem(history(), mode="model", client=client_for(server))
    assert draft.sections["what_went_wrong"] == "A change caused the outage."
    assert {f["where"] for f in draft.blameless_findings} == {"sections.what_went_wrong"}

"""The digest's model-written paragraph, with the real openai client against a local fake server."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from openai import OpenAI

import digest_samples as samples
from drafting.fake_openai import FakeOpenAI, Reply
from incidentbot.digest_narrative import MAX_WORDS, request_payload, write_narrative
from incidentbot.settings import load_settings

PARAGRAPH = ("Fourteen incidents this week, two of them private, against 61 in twelve weeks. Median time to "
             "resolve was 42 min (n = 14), down from 57. The api<b> service is over its error budget.")


def answer(text: str = PARAGRAPH) -> Reply:
    return Reply(content=json.dumps({"paragraph": text}))


def settings(fake: FakeOpenAI | None = None, **kw):
    values = {"openai_api_key": "sk-test", "openai_base_url": fake.base_url if fake else None,
              "openai_model": "digest-7b", **kw}
    return load_settings(**values)


def client_for(fake: FakeOpenAI) -> OpenAI:
    return OpenAI(api_key="test-key", base_url=fake.base_url, max_retries=0)


def test_the_model_gets_the_numbers_and_no_channel_text():
    with FakeOpenAI(lambda _request: answer()) as fake:
        digest = replace(samples.busy(), narrative="an earlier paragraph")
        assert write_narrative(digest, settings(fake)) == PARAGRAPH
    assert len(fake.requests) == 1
    request = fake.requests[0]
    assert request["model"] == "digest-7b"
    assert request["response_format"]["type"] == "json_schema"
    system, user = request["messages"]
    assert system["role"] == "system" and "at most 120 words" in system["content"]
    assert "too few" in system["content"]
    sent = json.loads(user["content"].split("\n", 1)[1])
    assert sent == request_payload(digest)
    assert sent["total_week"] == 14 and sent["total_window"] == 61 and sent["private_count"] == 2
    assert sent["week"]["label"] == "2026-W47" and sent["min_sample"] == 10
    assert sent["trends"][3]["window"] == {"n": 14, "median": 42.0, "p90": 185.0, "minimum": 5.0, "maximum": 550.0}
    assert sent["budgets"][0]["over"] is True
    assert sent["incidents"][0]["title"] == samples.EVIL_TITLE  # titles are typed by people, not channel text
    body = b"".join(fake.bodies).decode()
    assert "C057" not in body and "channel_id" not in body  # Slack channel ids are no use to the model
    assert "an earlier paragraph" not in body and "narrative" not in sent


def test_small_numbers_are_sent_with_their_n():
    with FakeOpenAI(lambda _request: answer("Three incidents; too few to show a trend (n = 3).")) as fake:
        assert write_narrative(samples.small(), settings(fake)).startswith("Three incidents")
    sent = json.loads(fake.prompts()[0].split("\n", 1)[1])
    assert all(t["enough"] is False and t["window"]["n"] == 3 for t in sent["trends"])
    assert sent["trends"][0]["note"] == "too few incidents to compare (n = 3 < 10)"


def test_private_titles_are_not_sent():
    with FakeOpenAI(lambda _request: answer()) as fake:
        write_narrative(samples.private_only(), settings(fake))
    assert "ACME-PRIVATE-CANARY" not in b"".join(fake.bodies).decode()


def test_no_model_configured_means_no_paragraph_and_no_request():
    with FakeOpenAI(lambda _request: answer()) as fake:
        assert write_narrative(samples.busy(), settings(fake, openai_api_key="")) is None
        assert write_narrative(samples.busy(), None) is None
    assert fake.requests == []


def test_a_timeout_gives_none_without_waiting_for_the_answer(caplog: pytest.LogCaptureFixture):
    with FakeOpenAI(lambda _request: Reply(content="{}", delay=10)) as fake:
        assert write_narrative(samples.busy(), settings(fake), timeout=0.5) is None
    assert len(fake.requests) == 1  # no retries: the digest does not wait
    assert "did not answer in time" in caplog.text


@pytest.mark.parametrize("reply", [
    Reply(content="Here is your paragraph: things went fine."),
    Reply(content='{"paragraph": 42}'),
    Reply(content='{"summary": "wrong key"}'),
    Reply(content='{"paragraph": "   "}'),
    Reply(content=""),
    Reply(raw=b"\x00 not json at all", status=200),
    Reply(raw=b"<html>502 Bad Gateway</html>", status=502),
    Reply(status=500),
])
def test_a_malformed_or_failed_answer_gives_none(reply: Reply):
    with FakeOpenAI(lambda _request: reply) as fake:
        assert write_narrative(samples.busy(), settings(), client=client_for(fake)) is None


def test_a_server_that_is_down_gives_none():
    fake = FakeOpenAI()
    url = fake.base_url
    fake._server.server_close()
    assert write_narrative(samples.busy(), settings(None, openai_base_url=url), timeout=2) is None


def test_json_mode_when_structured_output_is_refused():
    def picky(request):
        if request["response_format"]["type"] == "json_schema":
            return Reply(status=400)
        return Reply(content="```json\n" + json.dumps({"paragraph": "A quiet week."}) + "\n```")

    with FakeOpenAI(picky) as fake:
        assert write_narrative(samples.empty(), settings(fake)) == "A quiet week."
    assert [r["response_format"]["type"] for r in fake.requests] == ["json_schema", "json_object"]


def test_a_long_paragraph_is_cut_after_a_whole_sentence():
    sentence = "There were fourteen incidents this week and most of them were minor ones. "
    with FakeOpenAI(lambda _request: answer(sentence * 20)) as fake:
        text = write_narrative(samples.busy(), settings(fake))
    assert text is not None and text.endswith("minor ones.") and len(text.split()) <= MAX_WORDS
    with FakeOpenAI(lambda _request: answer("word " * 200)) as fake:
        assert write_narrative(samples.busy(), settings(fake)) is None

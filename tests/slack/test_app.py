"""What ``build_deps`` makes of the settings, against the sandbox Slack on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from incidentbot.core.policy import parse_policy
from incidentbot.db import make_engine
from incidentbot.sandbox import SandboxClient, SandboxServer
from incidentbot.settings import load_settings
from incidentbot.slack.app import build_deps
from incidentbot.slack.gateway import SlackError


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as running:
        yield running


def deps_for(server: SandboxServer, **settings):
    return build_deps(load_settings(slack_bot_token="xoxb-sandbox", slack_api_url=server.api_url, **settings),
                      policy=parse_policy(""), engine=make_engine("sqlite://"))


def test_slack_timeout_seconds_is_how_long_a_call_after_the_ack_may_take(server):
    deps = deps_for(server, slack_timeout_seconds=1.5)
    assert deps.gateway.client.timeout == 1.5
    SandboxClient(server.url).add_fault("chat.postMessage", "slow", seconds=6, times=1)
    with pytest.raises(SlackError) as caught:
        deps.gateway.post("C0GENERAL", "Checkout is failing")
    assert caught.value.uncertain and caught.value.method == "chat.postMessage"


def test_the_default_is_ten_seconds(server, monkeypatch):
    monkeypatch.delenv("SLACK_TIMEOUT_SECONDS", raising=False)
    assert deps_for(server).gateway.client.timeout == 10

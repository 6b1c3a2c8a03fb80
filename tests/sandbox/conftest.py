"""Fixtures: a real sandbox server on loopback, a real WebClient, an adjustable clock."""

from __future__ import annotations

from typing import Iterator

import pytest
from slack_sdk import WebClient

from incidentbot.sandbox import SandboxClient, SandboxServer
from incidentbot.sandbox.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[SandboxServer]:
    with SandboxServer(clock=clock) as running:
        yield running


@pytest.fixture
def slack(server: SandboxServer) -> WebClient:
    return WebClient(base_url=server.api_url, token="xoxb-sandbox")


@pytest.fixture
def inspect(server: SandboxServer) -> SandboxClient:
    return SandboxClient(server.url)

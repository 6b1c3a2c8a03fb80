"""Fault injection (/_sandbox/faults): the raw faults as the real WebClient sees them,
with its retry handlers off."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from http.client import RemoteDisconnected

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from incidentbot.sandbox import SandboxClient, SandboxError, SandboxServer


@pytest.fixture
def slack(server: SandboxServer) -> WebClient:
    return WebClient(base_url=server.api_url, token="xoxb-sandbox", retry_handlers=[])


def channel_names(inspect: SandboxClient) -> set[str]:
    return {c["name"] for c in inspect.channels()}


def faulted(inspect: SandboxClient, method: str | None = None) -> list[dict]:
    return [c for c in inspect.calls(method) if c.get("fault")]


def test_ratelimit_fault_answers_429_with_retry_after(slack: WebClient, inspect: SandboxClient) -> None:
    inspect.add_fault("conversations.create", "ratelimit", retry_after=4)
    with pytest.raises(SlackApiError) as caught:
        slack.conversations_create(name="inc-a")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "4"
    assert caught.value.response.data == {"ok": False, "error": "ratelimited"}
    assert "inc-a" not in channel_names(inspect)
    [call] = inspect.calls("conversations.create")
    assert call["fault"] == {"id": 1, "kind": "ratelimit", "applied": False}
    assert (call["status"], call["error"], call["args"]) == (429, "ratelimited", {"name": "inc-a"})


@pytest.mark.parametrize("status", [500, 502, 503])
def test_http_error_fault(slack: WebClient, inspect: SandboxClient, status: int) -> None:
    inspect.add_fault("chat.postMessage", "http_error", status=status)
    slack.conversations_join(channel="C0INCIDENTS")
    with pytest.raises(SlackApiError) as caught:
        slack.chat_postMessage(channel="C0INCIDENTS", text="hello")
    assert caught.value.response.status_code == status
    assert not [m for m in inspect.messages("C0INCIDENTS") if m.get("text") == "hello"]
    assert [c["status"] for c in faulted(inspect)] == [status]


def test_error_fault_is_ok_false_with_the_code(slack: WebClient, inspect: SandboxClient) -> None:
    inspect.add_fault("conversations.create", "error", error="fatal_error")
    with pytest.raises(SlackApiError) as caught:
        slack.conversations_create(name="inc-a")
    assert caught.value.response.status_code == 200
    assert caught.value.response.data == {"ok": False, "error": "fatal_error"}
    assert "inc-a" not in channel_names(inspect)
    [call] = faulted(inspect)
    assert call["fault"]["kind"] == "error" and call["error"] == "fatal_error"


def test_error_fault_defaults_to_internal_error(slack: WebClient, inspect: SandboxClient) -> None:
    inspect.add_fault("auth.test", "error")
    with pytest.raises(SlackApiError) as caught:
        slack.auth_test()
    assert caught.value.response["error"] == "internal_error"


def test_slow_fault_applies_the_write_then_outlives_the_timeout(server: SandboxServer, inspect: SandboxClient) -> None:
    client = WebClient(base_url=server.api_url, token="xoxb-sandbox", timeout=1, retry_handlers=[])
    inspect.add_fault("conversations.create", "slow", seconds=1.5)
    with pytest.raises(TimeoutError):
        client.conversations_create(name="inc-slow")
    assert "inc-slow" in channel_names(inspect)  # applied, although the client never heard so
    [call] = inspect.calls("conversations.create")
    assert call["ok"] and call["fault"] == {"id": 1, "kind": "slow", "applied": True}


def test_slow_fault_answers_normally_to_a_patient_client(slack: WebClient, inspect: SandboxClient) -> None:
    inspect.add_fault("auth.test", "slow", seconds=0.2)
    assert slack.auth_test()["ok"]


@pytest.mark.parametrize("applied", [True, False])
def test_drop_fault_closes_the_connection(slack: WebClient, inspect: SandboxClient, applied: bool) -> None:
    inspect.add_fault("conversations.create", "drop", applied=applied)
    with pytest.raises((RemoteDisconnected, ConnectionError, urllib.error.URLError)):
        slack.conversations_create(name="inc-dropped")
    assert ("inc-dropped" in channel_names(inspect)) is applied
    [call] = inspect.calls("conversations.create")
    assert call["fault"] == {"id": 1, "kind": "drop", "applied": applied}
    assert call["ok"] is applied


def test_rate_zero_never_and_rate_one_always(slack: WebClient, inspect: SandboxClient) -> None:
    inspect.add_fault("auth.test", "error", rate=0)
    for _ in range(10):
        assert slack.auth_test()["ok"]
    inspect.clear_faults()
    inspect.add_fault("auth.test", "error", rate=1)
    for _ in range(10):
        with pytest.raises(SlackApiError):
            slack.auth_test()
    assert inspect.faults()["injected"] == {"auth.test": {"error": 10}}


def _pattern(slack: WebClient, calls: int = 20) -> list[bool]:
    outcome = []
    for _ in range(calls):
        try:
            slack.auth_test()
            outcome.append(False)
        except SlackApiError:
            outcome.append(True)
    return outcome


def test_seeded_rate_gives_a_reproducible_pattern(slack: WebClient, inspect: SandboxClient) -> None:
    inspect.add_fault("auth.test", "error", rate=0.5, seed=42)
    first = _pattern(slack)
    inspect.clear_faults()
    inspect.add_fault("auth.test", "error", rate=0.5, seed=42)
    assert _pattern(slack) == first
    assert 0 < sum(first) < len(first)  # a mix, not all or nothing
    inspect.clear_faults()
    inspect.add_fault("auth.test", "error", rate=0.5, seed=7)
    assert _pattern(slack) != first


def test_times_limits_the_occurrences(slack: WebClient, inspect: SandboxClient) -> None:
    fault = inspect.add_fault("auth.test", "http_error", status=502, times=2)
    assert (fault["times"], fault["remaining"], fault["active"]) == (2, 2, True)
    assert _pattern(slack, 5) == [True, True, False, False, False]
    [listed] = inspect.faults()["faults"]
    assert (listed["injected"], listed["remaining"], listed["active"]) == (2, 0, False)
    assert len(faulted(inspect)) == 2


def test_skip_lets_the_first_calls_through_then_hits(slack: WebClient, inspect: SandboxClient) -> None:
    fault = inspect.add_fault("auth.test", "error", skip=2, times=1)
    assert (fault["skip"], fault["skipped"], fault["injected"]) == (2, 0, 0)
    assert _pattern(slack, 5) == [False, False, True, False, False]  # the third call, once
    [listed] = inspect.faults()["faults"]
    assert (listed["skipped"], listed["injected"], listed["active"]) == (2, 1, False)
    assert [c.get("fault") is not None for c in inspect.calls("auth.test")] == [False, False, True, False, False]


def test_permanent_fault_lasts_until_cleared(slack: WebClient, inspect: SandboxClient) -> None:
    inspect.add_fault("auth.test", "error")
    assert _pattern(slack, 5) == [True] * 5
    inspect.clear_faults()
    assert _pattern(slack, 2) == [False, False]
    assert inspect.faults() == {"faults": [], "injected": {}}


def test_method_fault_spares_other_methods_and_star_hits_all(slack: WebClient, inspect: SandboxClient) -> None:
    inspect.add_fault("conversations.create", "error")
    assert slack.auth_test()["ok"]
    with pytest.raises(SlackApiError):
        slack.conversations_create(name="inc-a")
    inspect.clear_faults()
    inspect.add_fault("*", "ratelimit")
    for call in (slack.auth_test, slack.users_list, lambda: slack.conversations_create(name="inc-b")):
        with pytest.raises(SlackApiError) as caught:
            call()
        assert caught.value.response.status_code == 429
    assert inspect.faults()["injected"] == {
        "auth.test": {"ratelimit": 1}, "users.list": {"ratelimit": 1}, "conversations.create": {"ratelimit": 1},
    }


def test_faults_are_counted_per_method_and_kind(slack: WebClient, inspect: SandboxClient) -> None:
    inspect.add_fault("auth.test", "error", times=1)
    inspect.add_fault("auth.test", "http_error", times=2)
    inspect.add_fault("users.list", "ratelimit", times=1)
    _pattern(slack, 4)
    with pytest.raises(SlackApiError):
        slack.users_list()
    assert inspect.faults()["injected"] == {"auth.test": {"error": 1, "http_error": 2}, "users.list": {"ratelimit": 1}}
    assert [c["fault"]["kind"] for c in faulted(inspect)] == ["error", "http_error", "http_error", "ratelimit"]


def test_inspection_endpoints_are_never_faulted(slack: WebClient, inspect: SandboxClient) -> None:
    inspect.add_fault("*", "drop")
    assert inspect.users() and inspect.calls() == [] and inspect.faults()["faults"]


def test_reset_clears_faults(slack: WebClient, inspect: SandboxClient) -> None:
    inspect.add_fault("*", "error")
    inspect.reset()
    assert inspect.faults() == {"faults": [], "injected": {}}
    assert slack.auth_test()["ok"]


def _post(server: SandboxServer, body: object) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{server.url}_sandbox/faults", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "error"}, "method"),
    ({"method": "", "kind": "error"}, "method"),
    ({"method": "auth.test"}, "kind"),
    ({"method": "auth.test", "kind": "explode"}, "kind"),
    ({"method": "auth.test", "kind": "error", "rate": 1.5}, "rate"),
    ({"method": "auth.test", "kind": "error", "rate": "half"}, "rate"),
    ({"method": "auth.test", "kind": "error", "times": 0}, "times"),
    ({"method": "auth.test", "kind": "error", "times": 1.5}, "times"),
    ({"method": "auth.test", "kind": "error", "skip": -1}, "skip"),
    ({"method": "auth.test", "kind": "error", "skip": "2"}, "skip"),
    ({"method": "auth.test", "kind": "ratelimit", "retry_after": -1}, "retry_after"),
    ({"method": "auth.test", "kind": "http_error", "status": 404}, "status"),
    ({"method": "auth.test", "kind": "slow", "seconds": 0}, "seconds"),
    ({"method": "auth.test", "kind": "error", "error": ""}, "error"),
    ({"method": "auth.test", "kind": "drop", "applied": "yes"}, "applied"),
    ({"method": "auth.test", "kind": "slow", "applied": False}, "applied"),
    ({"method": "auth.test", "kind": "error", "seed": "x"}, "seed"),
    ({"method": "auth.test", "kind": "error", "colour": "red"}, "colour"),
    (["auth.test"], "body"),
])
def test_bad_fault_specs_are_refused_naming_the_field(server: SandboxServer, inspect: SandboxClient,
                                                      body: object, field: str) -> None:
    status, answer = _post(server, body)
    assert status == 400 and answer["ok"] is False
    assert field in answer["error"]
    assert inspect.faults()["faults"] == []


def test_client_add_fault_surfaces_validation_errors(inspect: SandboxClient) -> None:
    with pytest.raises(SandboxError, match="rate"):
        inspect.add_fault("auth.test", "error", rate=2)


def test_full_spec_from_the_issue_is_accepted(server: SandboxServer) -> None:
    status, answer = _post(server, {
        "method": "chat.postMessage", "kind": "ratelimit", "rate": 0.2, "times": None, "retry_after": 1,
        "status": 503, "seconds": 3, "error": "internal_error", "applied": True, "seed": 42,
    })
    assert status == 200
    assert answer["fault"]["retry_after"] == 1 and answer["fault"]["times"] is None

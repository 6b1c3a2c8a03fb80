"""Redaction: planted canaries never survive, ordinary incident talk does."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from incidentbot.drafting.draft import draft_postmortem
from incidentbot.drafting.history import History, HistoryMessage
from incidentbot.drafting.redact import Redactor, redact_history
from incidentbot.drafting.render import render_json, render_markdown

T0 = datetime(2024, 3, 13, 10, 0, tzinfo=timezone.utc)

CANARIES = {
    "aws": "AKIAQWERTYUIOPASDFGH",
    "slack": "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "github": "ghp_Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0EdCbA",
    "github_pat": "github_pat_11ABCDEFG0abcdefghij_KLMNOPQRSTUVWXYZabcdefghij0123456789",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlLWNhbmFyeS12YWx1ZQ",
    "password": "Canary!Pa55word",
    "bearer": "canaryBearerToken0123456789",
    "email": "canary.person@example.org",
    "key_body": "MIIEcanaryPRIVATEkeyBODY0123456789",
    "entropy": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYCANARYKEY",
}
LINES = [
    f"the pod env has AWS_ACCESS_KEY_ID={CANARIES['aws']} — old IAM user?",
    f"webhook token is {CANARIES['slack']}",
    f"use {CANARIES['github']} for the api, or {CANARIES['github_pat']}",
    f"session cookie {CANARIES['jwt']}",
    f"DATABASE_URL=postgres://billing_app:{CANARIES['password']}@db.internal:5432/billing",
    f"curl -H 'Authorization: Bearer {CANARIES['bearer']}' https://api.internal/health",
    f"cc {CANARIES['email']} on the thread",
    f"-----BEGIN RSA PRIVATE KEY-----\n{CANARIES['key_body']}\n-----END RSA PRIVATE KEY-----",
    f"aws_secret_access_key {CANARIES['entropy']}",
]


@pytest.mark.parametrize("line", LINES)
def test_every_canary_is_replaced(line: str) -> None:
    out = Redactor().redact(line)
    assert not [name for name, value in CANARIES.items() if value in out]
    assert "<SECRET_" in out or "<EMAIL_" in out


def test_placeholders_are_typed_and_stable() -> None:
    r = Redactor()
    first = r.redact(f"mail {CANARIES['email']} and key {CANARIES['aws']}")
    again = r.redact(f"again {CANARIES['aws']} / {CANARIES['email']}")
    assert first == "mail <EMAIL_1> and key <SECRET_2>"
    assert again == "again <SECRET_2> / <EMAIL_1>"
    assert r.summary() == {"EMAIL": 2, "SECRET": 2}


def test_connection_string_keeps_host_but_loses_credentials() -> None:
    out = Redactor().redact(f"postgres://app:{CANARIES['password']}@db.internal:5432/x")
    assert out.startswith("postgres://<SECRET_1>@db.internal:5432/x")
    assert "app:" not in out


def test_variable_name_is_kept_and_key_goes() -> None:
    assert Redactor().redact(f"AWS_ACCESS_KEY_ID={CANARIES['aws']}") == "AWS_ACCESS_KEY_ID=<SECRET_1>"


def test_detect_secrets_finds_what_the_explicit_patterns_do_not() -> None:
    # An npm token, a Twilio key and a random blob: only detect-secrets' plugins know these.
    npm, twilio, blob = ("npm_abcdefghijklmnopqrstuvwxyz0123456789", "SK0123456789abcdef0123456789abcdef",
                         "q8Zr3Lw0XvT1bN7mK2pJ9sYdF6hG4cE5aQ")
    out = Redactor().redact(f"npm {npm}, twilio {twilio}, blob {blob}")
    assert npm not in out and twilio not in out and blob not in out
    assert out.count("<SECRET_") == 3


@pytest.mark.parametrize("text", [
    "kubectl get pods -n monitoring shows 11 restarts in the last hour",
    "ip-10-0-19-196.eu-west-1.compute.internal looks healthy from here",
    "runbook: https://runbooks.example.org/the-cluster",
    "see https://github.com/org/repo/commit/3f2a9c1d7e8b4a5f6c0d1e2f3a4b5c6d7e8f9a0b",
    "the token should live in the secret store, not in values",
    "Next update: ~22 min. Impact: 58% of requests failing",
    "error from 203.0.113.7 on the load balancer",
])
def test_ordinary_incident_talk_is_left_alone(text: str) -> None:
    r = Redactor()
    assert r.redact(text) == text
    assert r.summary() == {}


def test_policy_patterns_add_their_own_types() -> None:
    r = Redactor({"customer_id": r"\bCUST-\d{6}\b"})
    assert r.redact("refund CUST-123456 today") == "refund <CUSTOMER_ID_1> today"


def _history(*texts: str) -> History:
    messages = [HistoryMessage(ts=f"{1710324000 + i}.000100", at=T0 + timedelta(minutes=i), author="Ana",
                               author_id="U1", is_bot=False, text=t) for i, t in enumerate(texts)]
    return History(channel="inc-canary", messages=messages, title=f"Leak of {CANARIES['email']}")


def test_redact_history_covers_title_and_every_message() -> None:
    safe = redact_history(_history(*LINES), Redactor())
    blob = safe.title + "\n".join(m.text for m in safe.messages)
    assert not [v for v in CANARIES.values() if v in blob]


def test_no_canary_in_output_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts = ["[FIRING:1] ApiDown", *LINES, "We're repaired: service is back", "action: rotate the leaked keys"]
    draft = draft_postmortem(_history(*texts), mode="offline")
    outputs = render_json(draft) + render_markdown(draft) + caplog.text
    assert not [name for name, value in CANARIES.items() if value in outputs]
    assert draft.redactions["SECRET"] >= 8 and draft.redactions["EMAIL"] >= 1


@pytest.mark.parametrize("text, expected", [
    # A comma or semicolon may be part of a password: the whole value goes.
    ("password=hunter2,prod is set", "password=<SECRET_1> is set"),
    ("api_key=abc;def and more", "api_key=<SECRET_1> and more"),
    # A quoted value goes up to its closing quote, spaces and all.
    ('DB_PASSWORD="correct horse, battery" in the env', 'DB_PASSWORD="<SECRET_1>" in the env'),
    ("token: 'p;a,s s' was pasted", "token: '<SECRET_1>' was pasted"),
])
def test_assigned_values_go_whole(text: str, expected: str) -> None:
    assert Redactor().redact(text) == expected


def test_prose_about_passwords_is_left_alone() -> None:
    assert Redactor().redact("the password is set, token rotated") == "the password is set, token rotated"

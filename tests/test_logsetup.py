"""Logging setup: libraries that log HTTP bodies at DEBUG stay quieter, whatever LOG_LEVEL says."""

from __future__ import annotations

import logging

import pytest

from incidentbot import logsetup


# Loggers the tests write to; Bolt's App sets its own logger's level when an app is made
# (other tests make many), so each test starts them from NOTSET and puts them back.
OTHERS = ("slack_bolt.App", "incidentbot.slack.capture", "httpx")


@pytest.fixture(autouse=True)
def restore_levels():
    names = (*logsetup.BODY_LOGGERS, *OTHERS)
    saved = {name: logging.getLogger(name).level for name in names}
    for name in OTHERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def test_debug_shows_everything_but_http_bodies(caplog):
    caplog.set_level(logging.DEBUG)
    logsetup.configure("DEBUG")
    logging.getLogger("slack_sdk.web.base_client").debug("Received the following response - body: %s", "a message")
    logging.getLogger("openai._base_client").debug("Request options: %s", "a prompt")
    logging.getLogger("httpx").info("HTTP Request: POST https://api.example/ 200")
    logging.getLogger("slack_bolt.App").debug("Checking listener: incident_command")
    logging.getLogger("incidentbot.slack.capture").debug("an own debug line")
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("httpx", "HTTP Request: POST https://api.example/ 200"),
        ("slack_bolt.App", "Checking listener: incident_command"),
        ("incidentbot.slack.capture", "an own debug line")]


def test_a_quieter_level_is_not_made_louder(caplog):
    caplog.set_level(logging.DEBUG)
    logsetup.configure("warning")
    assert all(logging.getLogger(name).level == logging.WARNING for name in logsetup.BODY_LOGGERS)
    logging.getLogger("httpx").info("HTTP Request: POST https://api.example/ 200")
    assert caplog.records == []

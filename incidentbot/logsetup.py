"""Logging for every ``incidentbot`` command: one format, and no message bodies.

People paste credentials into incident channels. incidentbot's own log lines carry ids
and counts, never a message's text (the drafter logs how many values it redacted, not
which). Some libraries log whole HTTP bodies at DEBUG, though: slack_sdk every Web API
request and response (``conversations.history`` is the channel itself), openai every
prompt, httpx/httpcore the tracker clients' traffic. So those loggers stay at INFO or
quieter whatever ``LOG_LEVEL`` says; ``LOG_LEVEL=DEBUG`` still shows everything else
(Bolt's listener matching, incidentbot's own DEBUG lines, urllib3's connections).
"""

from __future__ import annotations

import logging
from typing import TextIO

# Loggers whose DEBUG lines are request or response bodies.
BODY_LOGGERS = ("slack_sdk", "openai", "httpx", "httpcore")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: str | int, *, fmt: str = FORMAT, stream: TextIO | None = None) -> None:
    """Log at ``level`` to ``stream`` (standard error by default), body loggers at INFO at most."""
    number = level if isinstance(level, int) else logging.getLevelNamesMapping()[level.upper()]
    logging.basicConfig(level=number, format=fmt, stream=stream)
    for name in BODY_LOGGERS:
        logging.getLogger(name).setLevel(max(number, logging.INFO))

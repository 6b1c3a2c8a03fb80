"""The HTTP face of the bot: ``/slack/events`` for Slack, ``/healthz`` for load balancers.

A plain WSGI callable, served by gunicorn in production (``incidentbot serve``)
and by a loopback wsgiref server in the demo and the end-to-end tests, so both
exercise the same code.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text
from sqlalchemy.engine import Engine

from incidentbot.core.policy import Policy
from incidentbot.db import make_engine
from incidentbot.settings import Settings
from incidentbot.slack.app import create_app

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def create_wsgi_app(settings: Settings, *, policy: Policy | None = None, engine: Engine | None = None) -> WSGIApp:
    engine = engine or make_engine(settings.database_url)
    slack = SlackRequestHandler(create_app(settings, policy=policy, engine=engine))
    verifier = SignatureVerifier(settings.slack_signing_secret.get_secret_value()) \
        if settings.slack_signing_secret else None

    def slack_events(environ: dict, start_response: Callable) -> Iterable[bytes]:
        # The signature is checked here, before Bolt parses the body: Bolt parses first,
        # so a tampered body that is no longer valid JSON would otherwise be a 500.
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        if verifier is not None and not _signed(verifier, body, environ):
            return _json(start_response, "401 Unauthorized", {"ok": False, "error": "invalid_signature"})
        return slack(environ, start_response)

    def healthz(start_response: Callable) -> Iterable[bytes]:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            status, body = "200 OK", {"ok": True, "database": "ok"}
        except Exception as error:  # report, don't crash: this is what monitors poll
            log.warning("health check: database unavailable: %s", type(error).__name__)
            status, body = "503 Service Unavailable", {"ok": False, "database": "unavailable"}
        return _json(start_response, status, body)

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/slack/events":
            return slack_events(environ, start_response)
        if path == "/healthz":
            return healthz(start_response)
        return _json(start_response, "404 Not Found", {"ok": False, "error": "not_found"})

    return application


def _signed(verifier: SignatureVerifier, body: bytes, environ: dict) -> bool:
    """Slack's signature over the raw body, with a timestamp at most 5 minutes old."""
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or ""
    signature = environ.get("HTTP_X_SLACK_SIGNATURE") or ""
    if not (timestamp.isascii() and timestamp.isdigit()) or not signature:
        return False
    return verifier.is_valid(body, timestamp, signature)


def _json(start_response: Callable, status: str, body: dict) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("local http: " + format, *args)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # The stdlib's listen backlog of 5 drops connections under a burst (Slack sends
    # events concurrently), costing a 1 s SYN retransmit; gunicorn's default is 2048.
    request_queue_size = 128


class LocalServer:
    """Serve a WSGI app on loopback in a background thread (demo and tests).

    Production uses gunicorn (``incidentbot serve``); this runs the very same
    application object without forking, so a test can reach its database.
    """

    def __init__(self, app: WSGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = make_server(host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="incidentbot-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

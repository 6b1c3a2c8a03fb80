"""The sandbox Slack: a real HTTP server on loopback that answers like Slack's Web API.

Point `slack_sdk.WebClient(base_url=server.api_url, token="xoxb-sandbox")` at it and
the bot's unchanged client code runs against a stateful fake workspace.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from incidentbot.sandbox.api import ApiResult, _readable, call_method
from incidentbot.sandbox.constants import DEFAULT_TOKEN, TRIGGER_LIFETIME_SECONDS
from incidentbot.sandbox.endpoints import handle_sandbox, permalink_target, receive_file
from incidentbot.sandbox.faults import Fault, FaultInjector, handle_faults
from incidentbot.sandbox.state import SandboxState

JSON_TYPE = "application/json; charset=utf-8"


def require_loopback(host: str) -> None:
    """The sandbox has no real security, so it must never listen beyond this machine."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the sandbox only listens on loopback addresses, not {host!r}")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Concurrency tests open many connections at once; the default backlog of 5 drops some.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: "SandboxServer") -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.sandbox = sandbox
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "SandboxSlack/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the call log at /_sandbox/calls is the record, stderr noise is not."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, verb: str) -> None:
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        sandbox = self.server.sandbox
        if len(parts) == 2 and parts[0] == "api" and verb in ("GET", "POST"):
            self._answer_api(parts[1], url.query, raw)
        elif parts and parts[0] == "_sandbox":
            try:
                body = json.loads(raw) if raw.strip() else None
            except json.JSONDecodeError:
                # Only the response_url target is reachable by the bot; Slack answers it this way.
                self._send(400, json.dumps({"ok": False, "error": "invalid_payload"}).encode())
                return
            if parts[1:] == ["faults"]:
                status, payload = handle_faults(sandbox.faults, verb, body)
            else:
                status, payload = handle_sandbox(sandbox.state, verb, parts[1:], dict(parse_qsl(url.query)), body)
                if parts[1:] == ["reset"] and verb == "POST" and status == 200:
                    sandbox.faults.clear()
            self._send(status, json.dumps(payload).encode())
        elif len(parts) == 3 and parts[:2] == ["upload", "v1"] and verb == "POST":
            status, text = receive_file(sandbox.state, parts[2], raw)
            self._send(status, text.encode(), content_type="text/plain; charset=utf-8")
        elif len(parts) == 3 and parts[0] == "archives" and verb == "GET":
            status, payload = permalink_target(sandbox.state, parts[1], parts[2])
            self._send(status, json.dumps(payload).encode())
        else:
            self._send(404, json.dumps({"ok": False, "error": "not_found"}).encode())

    def _answer_api(self, method: str, query: str, raw: bytes) -> None:
        args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if raw.strip():
            try:
                args.update(self._body_arguments(content_type, raw))
            except ValueError as exc:
                self._send_result(ApiResult(200, {"ok": False, "error": str(exc)}))
                return
        token = self._bearer() or args.get("token")
        sandbox = self.server.sandbox
        fault = sandbox.faults.pick(method)
        if fault is None:
            self._send_result(call_method(sandbox.state, method, args, token, sandbox.tokens))
        else:
            self._answer_with_fault(fault, method, args, token)

    def _answer_with_fault(self, fault: Fault, method: str, args: dict[str, Any], token: str | None) -> None:
        """Inject `fault` (see incidentbot/sandbox/faults.py); the call log marks it under `fault`."""
        sandbox = self.server.sandbox
        state = sandbox.state
        if fault.record()["applied"]:
            with state.lock:  # re-entrant: the record call_method appends is still the last one
                result = call_method(state, method, args, token, sandbox.tokens)
                state.calls[-1]["fault"] = fault.record()
        else:
            result = {
                "ratelimit": ApiResult(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)}),
                "http_error": ApiResult(fault.status, {"ok": False, "error": "fatal_error"}),
                "error": ApiResult(200, {"ok": False, "error": fault.error}),
                "drop": ApiResult(0, {"ok": False, "error": None}),
            }[fault.kind]
            with state.lock:
                state.calls.append({
                    "method": method, "args": _readable({k: v for k, v in args.items() if k != "token"}),
                    "ok": False, "error": result.body.get("error"), "status": result.status or None,
                    "fault": fault.record(),
                })
        if fault.kind == "drop":
            self._drop()
            return
        if fault.kind == "slow":
            time.sleep(fault.seconds)
        try:
            self._send_result(result)
        except OSError:
            pass  # the client gave up waiting (a slow fault past its timeout)

    def _drop(self) -> None:
        """Close the connection without a byte of response (the client sees it reset/closed)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    @staticmethod
    def _body_arguments(content_type: str, raw: bytes) -> dict[str, Any]:
        if content_type == "application/json":
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError("invalid_json") from exc
            if not isinstance(data, dict):
                raise ValueError("json_not_object")
            return data
        if content_type in ("application/x-www-form-urlencoded", ""):
            return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        raise ValueError("invalid_post_type")

    def _bearer(self) -> str | None:
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None

    def _send_result(self, result: ApiResult) -> None:
        self._send(result.status, json.dumps(result.body).encode(), headers=result.headers)

    def _send(self, status: int, body: bytes, *, headers: dict[str, str] | None = None, content_type: str = JSON_TYPE) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class SandboxServer:
    """A stateful fake Slack Web API on loopback. Bound on construction, so `url` is known early."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tokens: tuple[str, ...] = (DEFAULT_TOKEN,),
        seed: bool = True,
        clock: Callable[[], float] = time.time,
        trigger_lifetime: float = TRIGGER_LIFETIME_SECONDS,
    ) -> None:
        require_loopback(host)
        self.tokens = tuple(tokens)
        self.state = SandboxState(seed=seed, clock=clock, trigger_lifetime=trigger_lifetime)
        self.faults = FaultInjector()
        self._httpd = _HTTPServer((host, port), self)
        self.state.base_url = self.url
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}/"

    @property
    def api_url(self) -> str:
        return f"{self.url}api/"

    def start(self) -> "SandboxServer":
        """Serve from a daemon thread and return at once."""
        if not self._serving.is_set():
            self._serving.set()
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-sandbox", daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted or stopped (used by `incidentbot sandbox`)."""
        self._serving.set()
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._serving.clear()
            self._httpd.server_close()

    def stop(self) -> None:
        # shutdown() waits for a serve loop to finish, so only call it when one was started.
        if self._serving.is_set():
            self._httpd.shutdown()
            self._serving.clear()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

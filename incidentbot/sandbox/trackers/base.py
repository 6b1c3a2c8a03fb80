"""What the fake trackers share: the loopback HTTP server, faults, recorded calls."""

from __future__ import annotations

import json
import re
import socket
import threading
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from incidentbot.sandbox.server import require_loopback

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names; Authorization shows its scheme only
    body: Any  # parsed JSON, or None


@dataclass
class Fault:
    status: int | None = None  # answer with this instead
    delay: float = 0.0  # seconds before answering (before handling, unless after_handling)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    method: str | None = None  # only requests with this method
    path: str | None = None  # only paths matching this regular expression
    after_handling: bool = False  # do the work, then delay the answer (a lost response)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or re.search(self.path, path))


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: "FakeTracker") -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.fake = fake
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:
        """Quiet: a client that gave up (timeout) leaves a broken pipe behind."""


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: ``calls`` is the record."""

    def do_GET(self) -> None:
        self.server.fake._serve(self, "GET")

    def do_POST(self) -> None:
        self.server.fake._serve(self, "POST")

    def do_PATCH(self) -> None:
        self.server.fake._serve(self, "PATCH")

    def do_PUT(self) -> None:
        self.server.fake._serve(self, "PUT")

    def do_DELETE(self) -> None:
        self.server.fake._serve(self, "DELETE")


class FakeTracker(ABC):
    """The server, fault injection and call log shared by the fakes."""

    server_version = "FakeTracker/1.0"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        require_loopback(host)
        self.lock = threading.RLock()
        self.calls: list[Call] = []
        self._faults: deque[Fault] = deque()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = _HTTPServer((host, port), self)
        self._address = self._httpd.server_address[:2]
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL with a trailing slash."""
        host, port = self._address
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}/"

    def start(self):
        if self._httpd is None:
            self._httpd = _HTTPServer(self._address, self)
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=type(self).__name__, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a fault
        if self._httpd is not None:
            if self._thread is not None:
                self._httpd.shutdown()
                self._thread.join()
                self._thread = None
            self._httpd.server_close()
            self._httpd = None

    def go_down(self) -> None:
        """Stop listening: connections are refused until ``come_back()``."""
        self.stop()

    def come_back(self) -> None:
        """Listen again, on the same port."""
        self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- faults ----------------------------------------------------------------------

    def fail_next(self, status: int = 503, *, times: int = 1, method: str | None = None, path: str | None = None,
                  headers: dict[str, str] | None = None, body: Any = None) -> None:
        """Answer the next ``times`` matching requests with ``status`` (and do nothing)."""
        for _ in range(times):
            self._add(Fault(status=status, headers=dict(headers or {}), body=body, method=method, path=path))

    def slow(self, seconds: float, *, times: int = 1, method: str | None = None, path: str | None = None) -> None:
        """Wait ``seconds`` before handling the next ``times`` matching requests."""
        for _ in range(times):
            self._add(Fault(delay=seconds, method=method, path=path))

    def lose_next_create(self, seconds: float = 2.0) -> None:
        """Create the next issue, then hold the answer ``seconds`` (past the client's timeout)."""
        self._add(Fault(delay=seconds, method="POST", path=self._create_path, after_handling=True))

    _create_path = ""

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def _add(self, fault: Fault) -> None:
        with self.lock:
            self._faults.append(fault)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    self._faults.remove(fault)
                    return fault
        return None

    def calls_to(self, method: str, pattern: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method and re.search(pattern, c.path)]

    # --- serving ---------------------------------------------------------------------

    def _serve(self, handler: _Handler, method: str) -> None:
        url = urlsplit(handler.path)
        path = unquote(url.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in handler.headers.items()}
        if "authorization" in headers:
            headers["authorization"] = headers["authorization"].split(" ")[0] + " ***"
        try:
            body = json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        with self.lock:
            self.calls.append(Call(method, path, query, headers, body))
        fault = self._take_fault(method, path)
        if fault is not None and not fault.after_handling:
            if fault.delay and self._stopping.wait(fault.delay):
                return
            if fault.status is not None:
                self._send(handler, self._fault_response(fault))
                return
        if not self._authorized(handler.headers.get("Authorization") or ""):
            self._send(handler, self._unauthorized())
            return
        if isinstance(body, str):
            self._send(handler, self._bad_json())
            return
        with self.lock:
            response = self.route(method, path, query, body)
        if fault is not None and fault.after_handling and fault.delay and self._stopping.wait(fault.delay):
            return
        self._send(handler, response)

    def _send(self, handler: _Handler, response: Response) -> None:
        data = b"" if response.body is None else json.dumps(response.body).encode()
        try:
            handler.send_response(response.status)
            handler.send_header("Server", self.server_version)
            handler.send_header("Content-Type", JSON_TYPE)
            handler.send_header("Content-Length", str(len(data)))
            for name, value in {**self.extra_headers(), **response.headers}.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client gave up

    def _fault_response(self, fault: Fault) -> Response:
        body = fault.body if fault.body is not None else self.error_body(fault.status)
        return Response(fault.status, body, fault.headers)

    # What each fake answers: its API's routes, its authentication and its 401.
    @abstractmethod
    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> Response: ...

    @abstractmethod
    def _authorized(self, header: str) -> bool: ...

    @abstractmethod
    def _unauthorized(self) -> Response: ...

    def _bad_json(self) -> Response:
        return Response(400, self.error_body(400))

    def error_body(self, status: int) -> Any:
        return {"message": f"HTTP {status}"}

    def extra_headers(self) -> dict[str, str]:
        return {}


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --- GitHub ------------------------------------------------------------------------------

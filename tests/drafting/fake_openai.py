"""A small OpenAI-compatible server on loopback for the model drafter's tests.

It answers ``POST /v1/chat/completions`` like the real API (or fails like it, on request),
and records every request: the raw body bytes (to check that no secret leaves the
process) and the parsed JSON. The real ``openai`` client talks to it via ``base_url``.

    with FakeOpenAI(lambda request: Reply(content='{"summary": "..."}')) as server:
        client = OpenAI(api_key="test", base_url=server.base_url)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What the server does with one request."""

    content: str | None = None  # the assistant message (normally JSON text)
    status: int = 200
    delay: float = 0.0  # seconds to wait before answering (to provoke client timeouts)
    raw: bytes | None = None  # a body sent as is (e.g. not JSON at all)


Responder = Callable[[dict[str, Any]], Reply]


class FakeOpenAI:
    def __init__(self, responder: Responder | None = None) -> None:
        self.responder: Responder = responder or (lambda _request: Reply(content="{}"))
        self.bodies: list[bytes] = []
        self.requests: list[dict[str, Any]] = []
        self._stopped = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()  # wakes delayed replies so shutdown does not wait for them
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def prompts(self) -> list[str]:
        """The user message of every request, in order."""
        return [m["content"] for r in self.requests for m in r.get("messages", []) if m.get("role") == "user"]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.bodies.append(body)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
                    return
                request = json.loads(body)
                fake.requests.append(request)
                reply = fake.responder(request)
                if reply.delay and fake._stopped.wait(reply.delay):
                    return
                if reply.raw is not None:
                    self._send_bytes(reply.status, reply.raw)
                elif reply.status != 200:
                    self._send(reply.status, {"error": {"message": "fake failure", "type": "server_error",
                                                        "code": reply.status}})
                else:
                    self._send(200, _completion(request.get("model", "fake"), reply.content or ""))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                self._send_bytes(status, json.dumps(payload).encode())

            def _send_bytes(self, status: int, data: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

        return Handler


def _completion(model: str, content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }

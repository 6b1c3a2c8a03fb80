"""Fault injection for the sandbox Web API: 429s, 5xx, slow answers, dropped connections
and ``ok: false`` errors, per method (or ``"*"``), at a rate, with a seeded RNG.

Control (never faulted itself): ``POST /_sandbox/faults`` adds one fault, ``GET`` lists
them with counters, ``DELETE`` clears them; ``POST /_sandbox/reset`` clears them too.

What each kind does to the call's *effect* (whether the method ran):

=============  ================================================  =================
kind           answer                                            effect applied?
=============  ================================================  =================
``ratelimit``  HTTP 429, ``Retry-After: <retry_after>``          no
``http_error`` HTTP ``status`` (500..599)                        no
``error``      HTTP 200 ``{"ok": false, "error": <error>}``      no
``slow``       the normal answer, after ``seconds`` of sleep     yes, before sleeping
``drop``       the connection is closed without an answer        ``applied`` (default true)
=============  ================================================  =================

A slow write is applied before the sleep because that is what real Slack does: the
message exists even though the client timed out waiting for the answer.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = ("ratelimit", "http_error", "slow", "drop", "error")
FIELDS = {"method", "kind", "rate", "times", "skip", "retry_after", "status", "seconds", "error", "applied", "seed"}


class FaultSpecError(ValueError):
    """A bad POST /_sandbox/faults body; the message names the field."""


@dataclass
class Fault:
    id: int
    method: str
    kind: str
    rate: float = 1.0
    times: int | None = None
    retry_after: int = 1
    status: int = 503
    seconds: float = 3.0
    error: str = "internal_error"
    applied: bool = True
    seed: int | None = None
    # Matching calls let through untouched before the fault starts (to hit the Nth call).
    skip: int = 0
    skipped: int = 0
    injected: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.injected >= self.times

    def matches(self, method: str) -> bool:
        return not self.exhausted and self.method in ("*", method)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id, "method": self.method, "kind": self.kind, "rate": self.rate, "times": self.times,
            "seed": self.seed, "skip": self.skip, "skipped": self.skipped, "injected": self.injected,
            "remaining": None if self.times is None else max(0, self.times - self.injected),
            "active": not self.exhausted,
        }
        data.update({
            "ratelimit": {"retry_after": self.retry_after},
            "http_error": {"status": self.status},
            "slow": {"seconds": self.seconds, "applied": True},
            "drop": {"applied": self.applied},
            "error": {"error": self.error},
        }[self.kind])
        return data

    def record(self) -> dict[str, Any]:
        """What the call log keeps under ``fault`` for a call this fault hit."""
        return {"id": self.id, "kind": self.kind, "applied": self.kind == "slow" or (self.kind == "drop" and self.applied)}


def _number(body: dict, name: str, default: float, *, low: float, high: float | None = None,
            integer: bool = False, low_open: bool = False) -> Any:
    value = body.get(name, default)
    if value is None:
        value = default
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise FaultSpecError(f"{name} must be {'an integer' if integer else 'a number'}")
    if value < low or (low_open and value == low) or (high is not None and value > high):
        bounds = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
        raise FaultSpecError(f"{name} must be {bounds}")
    return value


def parse_fault(body: Any, fault_id: int) -> Fault:
    """Validate a POST body into a Fault; FaultSpecError names the first bad field."""
    if not isinstance(body, dict):
        raise FaultSpecError("body must be a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise FaultSpecError(f"unknown field: {unknown[0]}")
    method = body.get("method")
    if not isinstance(method, str) or not method.strip():
        raise FaultSpecError('method must be a Web API method name or "*"')
    kind = body.get("kind")
    if kind not in KINDS:
        raise FaultSpecError(f"kind must be one of {', '.join(KINDS)}")
    rate = float(_number(body, "rate", 1.0, low=0.0, high=1.0))
    times = body.get("times")
    if times is not None:
        times = _number(body, "times", 1, low=1, integer=True)
    skip = _number(body, "skip", 0, low=0, integer=True)
    retry_after = _number(body, "retry_after", 1, low=0, integer=True)
    status = _number(body, "status", 503, low=500, high=599, integer=True)
    seconds = float(_number(body, "seconds", 3.0, low=0.0, low_open=True))
    error = body.get("error", "internal_error")
    if error is None:
        error = "internal_error"
    if not isinstance(error, str) or not error.strip():
        raise FaultSpecError("error must be a non-empty string")
    applied = body.get("applied", True)
    if applied is None:
        applied = True
    if not isinstance(applied, bool):
        raise FaultSpecError("applied must be true or false")
    if not applied and kind != "drop":
        raise FaultSpecError("applied: only drop faults can skip the effect (slow always applies it)")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise FaultSpecError("seed must be an integer or null")
    return Fault(
        id=fault_id, method=method.strip(), kind=kind, rate=rate, times=times, skip=skip, retry_after=retry_after,
        status=status, seconds=seconds, error=error, applied=applied, seed=seed,
        rng=random.Random(seed) if seed is not None else random.Random(),
    )


class FaultInjector:
    """The server's list of faults; thread-safe, consulted once per Web API call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._counts: dict[str, dict[str, int]] = {}
        self._next_id = 1

    def add(self, body: Any) -> Fault:
        with self._lock:
            fault = parse_fault(body, self._next_id)
            self._next_id += 1
            self._faults.append(fault)
            return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._counts.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "faults": [f.to_json() for f in self._faults],
                "injected": {m: dict(kinds) for m, kinds in self._counts.items()},
            }

    def pick(self, method: str) -> Fault | None:
        """The fault to inject into this call, if any: faults are tried in the order they
        were added; each live one that matches (after its first ``skip`` matching calls,
        which it lets through) draws once from its own RNG."""
        with self._lock:
            for fault in self._faults:
                if not fault.matches(method):
                    continue
                if fault.skipped < fault.skip:
                    fault.skipped += 1
                    continue
                if fault.rng.random() < fault.rate:
                    fault.injected += 1
                    per_method = self._counts.setdefault(method, {})
                    per_method[fault.kind] = per_method.get(fault.kind, 0) + 1
                    return fault
            return None


def handle_faults(injector: FaultInjector, verb: str, body: Any) -> tuple[int, Any]:
    """The /_sandbox/faults route: POST adds, GET lists, DELETE clears."""
    if verb == "POST":
        try:
            fault = injector.add(body)
        except FaultSpecError as exc:
            return 400, {"ok": False, "error": str(exc)}
        return 200, {"ok": True, "fault": fault.to_json()}
    if verb == "GET":
        return 200, injector.snapshot()
    if verb == "DELETE":
        injector.clear()
        return 200, {"ok": True}
    return 404, {"ok": False, "error": "unknown sandbox route"}

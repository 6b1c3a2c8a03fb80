"""A settable clock for the sandbox, so time rules (trigger expiry, rate-limit windows,
response_url lifetime) can be tested without sleeping."""

from __future__ import annotations


class FakeClock:
    """Callable like time.time; only moves when told to."""

    def __init__(self, start: float = 1_732_190_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

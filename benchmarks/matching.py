"""Matching a new action item against the open backlog (``core.similarity.best_matches``).

Creating an action item (``/incident action``, before the ack) compares it with every
open backlog item. This builds ``--backlog`` open items from an ops vocabulary (titles of
6 words, descriptions of 15, fixed seed), then times matching new items against them:
the first match in a process (every backlog text parsed) and the following ones (parsed
texts kept), min/p50/max over ``--runs``.

    python3 -m uv run python benchmarks/matching.py [--backlog 4000] [--runs 20]
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from incidentbot.core import similarity

VOCABULARY = (
    "replica lag alert database postgres kafka consumer queue backlog timeout retry dns cert expiry disk full "
    "memory leak pod restart deploy rollback canary feature flag cache redis latency checkout payment api "
    "gateway rate limit quota throttling ingress nginx tls runbook oncall paging escalation dashboard grafana "
    "metric log retention index shard rebalance vault secret rotation backup restore failover region"
).split()
NEW_ITEMS = [
    ("Add an alert on replica lag for postgres", "Page the on-call when lag stays over 30 s"),
    ("Rotate the leaked vault token", "And move the orders secrets to the vault"),
    ("Raise the ingress rate limit for checkout", ""),
    ("Write a runbook for kafka consumer rebalances", "Steps to pause, drain and restart consumers"),
]


def backlog(size: int) -> list[similarity.Candidate]:
    rng = random.Random(7)
    return [similarity.Candidate(key=i, title=" ".join(rng.sample(VOCABULARY, 6)).capitalize(),
                                 description=" ".join(rng.sample(VOCABULARY, 15)), services=("api",))
            for i in range(1, size + 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=4000, help="open backlog items")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    candidates = backlog(args.backlog)
    times = []
    for run in range(args.runs + 1):
        title, description = NEW_ITEMS[run % len(NEW_ITEMS)]
        started = time.perf_counter()
        similarity.best_matches(title, description, services=["api"], candidates=candidates, limit=4)
        times.append((time.perf_counter() - started) * 1000)
    first, warm = times[0], sorted(times[1:])
    print(f"{args.backlog} open backlog items")
    print(f"  first match in a process: {first:7.1f} ms")
    print(f"  later matches:            min {warm[0]:.1f} ms  p50 {warm[len(warm) // 2]:.1f} ms  max {warm[-1]:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

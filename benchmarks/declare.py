"""Declaration benchmark: ack latency, time to channel ready, Slack calls per declaration.

Runs the bot's real WSGI app and the sandbox Slack on loopback (as the demo does),
declares N incidents one after another with signed slash commands, and prints:

- ack latency (slash command → HTTP response), p50/p90/p99/max
- time to channel ready (slash command → card pinned and announced), p50/p90/p99/max
- Slack Web API calls per declaration, by method

    python3 -m uv run python benchmarks/declare.py --count 200 [--database-url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter

from sqlmodel import Session, select

from incidentbot.models import Incident
from incidentbot.sandboxed import bot_on_sandbox


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def describe(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (f"{name:<24} n={len(ms):<5} p50={percentile(ms, 50):7.1f} ms  p90={percentile(ms, 90):7.1f} ms  "
            f"p99={percentile(ms, 99):7.1f} ms  max={max(ms):7.1f} ms  mean={statistics.fmean(ms):7.1f} ms")


def run(count: int, database_url: str | None) -> None:
    with bot_on_sandbox(database_url, log_level="WARNING") as bot:
        engine, client, driver = bot.engine, bot.slack, bot.driver
        client.clear_calls()
        with Session(engine) as session:
            first = (session.exec(select(Incident.number).order_by(Incident.number.desc())).first() or 0) + 1
        acks, ready = [], []
        for i in range(count):
            started = time.perf_counter()
            response = driver.slash_command(f"Benchmark incident {i} sev3", user="U0ALICE", channel="C0GENERAL")
            acks.append(time.perf_counter() - started)
            assert response.status == 200, response.body
            number = first + i
            while True:
                with Session(engine) as session:
                    done = session.exec(select(Incident.provisioned_at).where(Incident.number == number)).first()
                if done:
                    break
                time.sleep(0.002)
            ready.append(time.perf_counter() - started)
        calls = Counter(c["method"] for c in client.calls() if c["method"] != "auth.test")
    print(f"database: {engine.dialect.name}; {count} declarations, one at a time, sandbox Slack on loopback")
    print(describe("ack latency", acks))
    print(describe("time to channel ready", ready))
    per = sum(calls.values()) / count
    print(f"Slack API calls per declaration: {per:.2f} ("
          + ", ".join(f"{m} {n / count:.2f}" for m, n in sorted(calls.items())) + ")")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    run(args.count, args.database_url)
    sys.exit(0)

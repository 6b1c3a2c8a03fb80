"""Event ingest benchmark: Slack `message` events per second into an incident channel.

The bot's real WSGI app on loopback receives correctly signed Events API callbacks
(as Slack sends them, several at a time) for one incident channel; each is claimed
(exactly once) and stored in `channel_message`. Prints events/s, the HTTP answer
latency, and checks that every event was stored once.

    python3 -m uv run python benchmarks/ingest.py --events 2000 [--senders 8] [--database-url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, select

from incidentbot.models import ChannelMessage
from incidentbot.sandbox.waiting import wait_for
from incidentbot.sandboxed import bot_on_sandbox

sys.path.insert(0, str(Path(__file__).parent))
from declare import describe  # noqa: E402  (same figures, same format)


def run(events: int, senders: int, database_url: str | None) -> None:
    with bot_on_sandbox(database_url, log_level="WARNING") as bot:
        engine, client, driver = bot.engine, bot.slack, bot.driver
        driver.slash_command(f"Ingest benchmark {secrets.token_hex(3)} sev3", user="U0ALICE", channel="C0GENERAL")
        channel = wait_for(lambda: next((c["id"] for c in client.channels() if c["name"].startswith("inc-")
                                         and c["name"].find("ingest-benchmark") > 0 and c["pins"]), None),
                           "the incident channel")
        before = _stored(engine, channel)
        base = time.time()

        def send(i: int) -> float:
            event = {"type": "message", "channel": channel, "user": "U0BOB", "text": f"status line {i}",
                     "ts": f"{base + i / 1000:.6f}", "channel_type": "channel"}
            started = time.perf_counter()
            assert driver.event(event).status == 200
            return time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(senders) as pool:
            latencies = list(pool.map(send, range(events)))
        wait_for(lambda: _stored(engine, channel) - before >= events, "every event to be stored", timeout=600)
        elapsed = time.perf_counter() - started
        stored = _stored(engine, channel) - before
    print(f"database: {engine.dialect.name}; {events} message events from {senders} concurrent senders")
    print(f"ingested: {events / elapsed:,.0f} events/s ({elapsed:.1f} s); stored {stored} rows (expected {events})")
    print(describe("HTTP answer latency", latencies))


def _stored(engine, channel: str) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(ChannelMessage)
                            .where(ChannelMessage.channel_id == channel)).one()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    run(args.events, args.senders, args.database_url)

"""Drafting benchmark: an offline postmortem draft from a long incident channel.

Builds a synthetic Slack export with N messages (alerts, people talking, threads,
a few secrets to redact), then times `incidentbot postmortem draft --offline` on it
in-process, and prints the time, the peak memory and what the draft found.

    python3 -m uv run python benchmarks/draft.py --messages 10000
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import tracemalloc
from pathlib import Path

from incidentbot.drafting.draft import draft_postmortem
from incidentbot.drafting.history import from_export
from incidentbot.slack_export import SlackExport

CHANNEL = "inc-20261121-bench"
LINES = ["checking the dashboards", "error rate is still high on checkout", "restarting the consumer pods",
         "anyone else seeing 502s?", "rolled back the config change", "latency back to normal",
         "we should add an alert for queue depth", "token is xoxb-1234567890-abcdefghij for the webhook"]


def write_export(root: Path, count: int) -> None:
    rng = random.Random(7)
    (root / CHANNEL).mkdir(parents=True)
    (root / "users.json").write_text(json.dumps(
        [{"id": f"U{i}", "name": f"user{i}", "real_name": f"User {i}"} for i in range(12)]))
    (root / "channels.json").write_text(json.dumps([{"id": "C1", "name": CHANNEL, "purpose": {"value": "Bench"}}]))
    start = 1_795_000_000
    messages = [{"type": "message", "subtype": "bot_message", "bot_id": "B1", "username": "alertmanager",
                 "text": "[FIRING:1] CheckoutErrors", "ts": f"{start}.000100"}]
    for i in range(1, count):
        message = {"type": "message", "user": f"U{rng.randrange(12)}", "text": rng.choice(LINES),
                   "ts": f"{start + i * 2}.{i % 1_000_000:06d}"}
        if i % 50 == 0:
            message["thread_ts"] = messages[-1]["ts"]
        messages.append(message)
    messages.append({"type": "message", "user": "U1", "text": "Incident resolved.", "ts": f"{start + count * 2}.000100"})
    (root / CHANNEL / "2026-11-21.json").write_text(json.dumps(messages))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        write_export(Path(tmp), args.messages)
        tracemalloc.start()
        started = time.perf_counter()
        history = from_export(SlackExport.open(tmp), CHANNEL)
        draft = draft_postmortem(history, mode="offline")
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    print(f"{args.messages:,} messages drafted offline in {elapsed:.2f} s, peak memory {peak / 2**20:.1f} MiB")
    print(f"timeline rows {len(draft.timeline)}, action items {len(draft.action_items)}, "
          f"redactions {dict(draft.redactions)}")


if __name__ == "__main__":
    main()

"""The reconcile sweep's queries against a large incident table.

Every minute the worker's reconcile sweep asks the database which incidents need Slack
work again: cards showing an old revision, incidents never provisioned, status updates
never posted, resolved incidents without the postmortem the policy requires. They
filter on columns without an index of their own; this measures what that costs when
nearly all incidents are long finished, as in a workspace with years of history.

Fills the incident table up to ``--incidents`` rows (resolved, provisioned, shown),
then prints each query's mean time over ``--repeat`` runs.

    python3 -m uv run python benchmarks/sweeps.py [--incidents 100000] [--database-url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlmodel import Session

from incidentbot.core import incidents, resync
from incidentbot.db import make_engine, migrate
from incidentbot.models import Incident

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)
BATCH = 5_000


def fill(engine, count: int) -> int:
    """Add finished incidents until there are ``count``; returns how many there are."""
    with engine.begin() as connection:
        have = connection.execute(select(func.count()).select_from(Incident)).scalar_one()
        top = connection.execute(select(func.max(Incident.number))).scalar_one() or 0
        for start in range(top + 1, top + 1 + max(0, count - have), BATCH):
            stop = min(start + BATCH, top + 1 + count - have)
            connection.execute(insert(Incident), [_finished(n) for n in range(start, stop)])
    return max(have, count)


def _finished(number: int) -> dict:
    declared = NOW - timedelta(minutes=10 * number)
    return dict(number=number, title=f"Incident {number}", severity="SEV3", status="resolved", declared_by="U0ALICE",
                services=[], private=False, declared_at=declared, created_at=declared, updated_at=declared,
                resolved_at=declared + timedelta(hours=1), provisioned_at=declared, channel_id=f"C{number:07d}",
                revision=4, shown_revision=4)


def measure(engine, repeat: int) -> list[tuple[str, float]]:
    queries = {
        "stale_cards": lambda s: resync.stale_cards(s, changed_before=NOW),
        "unprovisioned": lambda s: incidents.unprovisioned(s, declared_before=NOW),
        "unposted_updates": lambda s: resync.unposted_updates(s, now=NOW, posted_before=NOW),
        "resolved_without_postmortem": lambda s: resync.resolved_without_postmortem(s, now=NOW, resolved_before=NOW),
    }
    results = []
    with Session(engine) as session:
        for name, query in queries.items():
            query(session)  # warm the caches, as a sweep running every minute does
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                query(session)
                times.append(time.perf_counter() - started)
            results.append((name, statistics.fmean(times) * 1000))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'sweeps.db'}"
        migrate(url)
        engine = make_engine(url)
        rows = fill(engine, args.incidents)
        print(f"database: {engine.dialect.name}; {rows} incidents")
        for name, ms in measure(engine, args.repeat):
            print(f"  {name:<28} {ms:8.1f} ms per run")
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Weekly digest benchmark: ``core.digest.build`` for one week over a large history.

Seeds a database with synthetic history in bulk (SQLite: ``executemany`` on the raw
connection; PostgreSQL: ``COPY``): by default 100,000 incidents over three years (about
640 a week), 1,000,000 timeline events, postmortems for SEV1/SEV2, action items and
backlog items. Then builds the digest of the newest week: once on a fresh engine (cold:
new connection, empty SQLite page cache / PostgreSQL backend caches; the OS file cache is
warm), then ``--repeat`` times more (warm), and prints the timings, the number of
statements and the slowest ones.

    python3 -m uv run python benchmarks/digest.py [--incidents 100000] [--events 1000000] \
        [--database sqlite|postgres|both] [--postgres-url postgresql+psycopg://…]

PostgreSQL comes from ``--postgres-url`` or INCIDENTBOT_BENCH_POSTGRES_URL (a fresh
database is created on that server and dropped afterwards, so its user needs CREATEDB),
else a throwaway server is started with the test harness (``tests/pgserver.py``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import event, text
from sqlmodel import Session

from incidentbot import db
from incidentbot.core import backlog, digest
from incidentbot.core.digest_report import Week
from incidentbot.core.policy import parse_policy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import pgserver  # noqa: E402  (the test harness's PostgreSQL helper)

ENV_URL = "INCIDENTBOT_BENCH_POSTGRES_URL"
SERVICES = [f"svc-{n:02d}" for n in range(20)]
POLICY = parse_policy('timezone = "Europe/Copenhagen"\n' + "".join(
    f'[[services]]\nname = "{name}"\nteam = "team-{n % 5}"\nslo = {0.999 if n % 2 else 0.9995}\n'
    for n, name in enumerate(SERVICES)))
CATEGORIES = [c.id for c in POLICY.taxonomy.categories]
SEVERITIES = (("SEV1", 0.05), ("SEV2", 0.20), ("SEV3", 0.45), ("SEV4", 0.30))
EVENT_KINDS = ("note", "status_changed", "update_posted", "role_assigned", "captured", "severity_changed")
WEEK = Week.of(2026, 47, POLICY)
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)  # Monday 09:00 in Copenhagen
YEARS = 3


# --- synthetic history -----------------------------------------------------------------------


def history(incidents: int, events: int, seed: int = 7):
    """Rows per table as dicts of Python values (aware datetimes, lists, bools)."""
    rnd = random.Random(seed)
    end = WEEK.end
    span = timedelta(weeks=52 * YEARS).total_seconds()
    rows: dict[str, list[dict]] = {"incident": [], "postmortem": [], "backlog_item": [], "action_item": [],
                                   "timeline_event": []}
    backlog_ids: list[int] = []
    for i in range(1, incidents + 1):
        declared = end - timedelta(seconds=rnd.random() * span)
        severity = rnd.choices([s for s, _ in SEVERITIES], [w for _, w in SEVERITIES])[0]
        started = declared - timedelta(minutes=rnd.expovariate(1 / 20)) if rnd.random() < 0.8 else None
        ack = declared + timedelta(minutes=rnd.expovariate(1 / 6)) if rnd.random() < 0.9 else None
        mitigated = declared + timedelta(minutes=rnd.lognormvariate(3.5, 1.0)) if rnd.random() < 0.95 else None
        resolved = (mitigated + timedelta(minutes=rnd.expovariate(1 / 90))) if mitigated and rnd.random() < 0.97 \
            else None
        closed = resolved + timedelta(days=rnd.uniform(1, 20)) if resolved and declared < end - timedelta(weeks=3) \
            else None
        status = "closed" if closed else "resolved" if resolved else "monitoring" if mitigated else "investigating"
        private = rnd.random() < 0.05
        rows["incident"].append(dict(
            id=i, number=i, title=f"Synthetic incident {i}", summary=None, severity=severity, status=status,
            category=rnd.choice(CATEGORIES) if rnd.random() < 0.9 else None,
            services=rnd.sample(SERVICES, rnd.choice((1, 1, 1, 2, 3))), private=private, declared_by="U0BENCH",
            request_key=None, channel_id=f"C{i:09d}", channel_name=f"inc-{i}", card_ts=None,
            announcement_channel_id=None, announcement_ts=None, provisioned_at=declared,
            started_at=started, detected_at=None, declared_at=declared, acknowledged_at=ack,
            mitigated_at=mitigated, resolved_at=resolved, closed_at=closed, created_at=declared,
            updated_at=closed or resolved or declared, revision=3, resolution=None, last_update_at=None,
            detection=rnd.choice(("monitoring", "customer", "staff", None))))
        if severity in ("SEV1", "SEV2") and resolved:
            due = resolved + timedelta(days=5)
            # Most are published around their due date; a few are not needed; a few are never done.
            published_at = due + timedelta(days=rnd.uniform(-4, 3))
            roll = rnd.random()
            status_pm = ("published" if published_at < NOW and roll < 0.93 else
                         "not_needed" if roll < 0.97 else rnd.choice(("scheduled", "drafted", "in_review")))
            rows["postmortem"].append(dict(
                id=len(rows["postmortem"]) + 1, incident_id=i, owner="U0OWNER", status=status_pm, due_at=due,
                meeting_at=None, meeting_confirmed=False, meeting_set_at=None, meeting_sequence=0,
                not_needed_reason="duplicate" if status_pm == "not_needed" else None, draft_markdown=None,
                draft_model=None, draft_actions=None, drafted_at=None,
                published_at=published_at if status_pm == "published" else None,
                created_at=resolved, updated_at=due))
            if status_pm == "not_needed":
                rows["timeline_event"].append(_event(len(rows["timeline_event"]) + 1, i, resolved + timedelta(days=1),
                                                     "postmortem_not_needed"))
            for _ in range(rnd.choice((1, 1, 2, 3))):
                if not backlog_ids or rnd.random() < 0.3:
                    backlog_ids.append(len(backlog_ids) + 1)
                    rows["backlog_item"].append(dict(
                        id=backlog_ids[-1], title=f"Risk {backlog_ids[-1]}", description="", category=None,
                        services=[], status="open", owner=None,
                        effort=rnd.choice(("S", "M", "L", None)), reason=None, merged_into_id=None,
                        created_by="U0BENCH", created_at=declared, updated_at=declared, closed_at=None, revision=0))
                created = resolved + timedelta(hours=rnd.uniform(1, 48))
                completed = created + timedelta(days=rnd.expovariate(1 / 30))
                done = completed < NOW and rnd.random() < 0.9
                rows["action_item"].append(dict(
                    id=len(rows["action_item"]) + 1, incident_id=i,
                    backlog_item_id=rnd.choice(backlog_ids[-50:]), title="Add an alert", description="",
                    owner="U0OWNER", due_at=created + timedelta(weeks=rnd.choice((4, 8, 12))), type="detective",
                    priority="P2", service=None, status="done" if done else rnd.choice(("open", "in_progress")),
                    wont_do_reason=None, origin="command", source_channel_id=None, source_ts=None,
                    source_link=None, request_key=None, created_by="U0BENCH", created_at=created,
                    updated_at=created, completed_at=completed if done else None,
                    snoozed_until=None, revision=0, external_system=None, external_key=None, external_url=None,
                    external_status=None, export_attempts=0, export_error=None, export_next_at=None, synced_at=None))
    # As core.backlog.settle keeps them: open while one of its action items is open, else done.
    open_items = {a["backlog_item_id"] for a in rows["action_item"] if a["status"] != "done"}
    for item in rows["backlog_item"]:
        if item["id"] not in open_items:
            item["status"], item["closed_at"] = "done", item["created_at"] + timedelta(days=30)
    return rows


def timeline(rows: dict[str, list[dict]], events: int, seed: int = 11):
    """The timeline events (generated while they are written): the postmortem ones, then
    ``events`` in all spread over the incidents."""
    rnd = random.Random(seed)
    yield from rows["timeline_event"]
    next_id = len(rows["timeline_event"]) + 1
    per_incident, extra = divmod(max(0, events - len(rows["timeline_event"])), len(rows["incident"]))
    for incident in rows["incident"]:
        for k in range(per_incident + (1 if incident["id"] <= extra else 0)):
            at = incident["declared_at"] + timedelta(minutes=k * rnd.uniform(1, 15))
            yield _event(next_id, incident["id"], at, rnd.choice(EVENT_KINDS))
            next_id += 1


def _event(id_: int, incident_id: int, at: datetime, kind: str) -> dict:
    return dict(id=id_, incident_id=incident_id, occurred_at=at, recorded_at=at, kind=kind, actor="U0BENCH",
                text="Synthetic timeline entry", source_key=None, message_ts=None, permalink=None, data={},
                deleted=False)


# --- bulk loading ----------------------------------------------------------------------------


def load(engine, rows: dict[str, list[dict]], events: int) -> None:
    tables = [(table, rows[table]) for table in ("incident", "backlog_item", "postmortem", "action_item")]
    tables.append(("timeline_event", timeline(rows, events)))
    raw = engine.raw_connection()
    try:
        for table, values in tables:
            values = iter(values)
            first = next(values, None)
            if first is None:
                continue
            columns, stream = list(first), itertools.chain([first], values)
            if engine.dialect.name == "postgresql":
                _copy(raw, table, columns, stream)
            else:
                cursor = raw.cursor()
                marks = ", ".join("?" for _ in columns)
                cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                                   (tuple(_sqlite(row[c]) for c in columns) for row in stream))
                cursor.close()
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))


def _sqlite(value):
    """As SQLAlchemy stores it on SQLite: naive UTC text, JSON text, 0/1."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _copy(raw, table: str, columns: list[str], rows) -> None:
    cursor = raw.cursor()
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(tuple(json.dumps(row[c]) if isinstance(row[c], (list, dict)) else row[c]
                                 for c in columns))
    cursor.close()


# --- timing ----------------------------------------------------------------------------------


def measure(url: str, repeat: int) -> dict:
    engine = db.make_engine(url)
    statements: list[tuple[float, str]] = []
    started: dict[int, float] = {}

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        started[id(cursor)] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        statements.append((time.perf_counter() - started.pop(id(cursor), time.perf_counter()), statement))

    # The backlog ranking (core.backlog.ranked) loads every open backlog item with its action
    # items and incidents and scores them in Python; timed on its own to show its share.
    ranking: list[float] = []
    original = backlog.ranked

    def timed_ranked(*args, **kwargs):
        begin = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            ranking.append(time.perf_counter() - begin)

    timings, result = [], None
    backlog.ranked = timed_ranked
    try:
        for _ in range(repeat + 1):
            statements.clear()
            with Session(engine) as session:
                begin = time.perf_counter()
                result = digest.build(session, POLICY, WEEK, now=NOW)
                timings.append(time.perf_counter() - begin)
        warm_statements = list(statements)
        with Session(engine) as session:
            open_items = session.execute(text("SELECT count(*) FROM backlog_item WHERE status = 'open'")).scalar_one()
    finally:
        backlog.ranked = original
        engine.dispose()
    return dict(cold=timings[0], warm=timings[1:], digest=result, warm_statements=warm_statements, ranking=ranking,
                open_items=open_items)


def report(name: str, seeded: dict, seconds: float, figures: dict) -> None:
    d = figures["digest"]
    warm = [t * 1000 for t in figures["warm"]]
    print(f"\n== {name}")
    print("seeded: " + ", ".join(f"{table} {count:,}" for table, count in seeded.items()) + f" in {seconds:.1f} s")
    print(f"digest {d.week.label}: {d.total_week} incidents this week ({d.private_count} private), "
          f"{d.total_window:,} in the {d.window_weeks}-week window; {len(d.budgets)} budgets; "
          f"pipeline {len(d.pipeline.due_this_week)} due / {len(d.pipeline.overdue)} overdue / "
          f"{len(d.pipeline.published)} published / {len(d.pipeline.not_needed)} not needed; "
          f"actions opened {d.actions.opened}, closed {d.actions.closed}, overdue {d.actions.overdue}; "
          f"{len(d.repeats)} repeats")
    print(f"statements per build: {len(figures['warm_statements'])}")
    print(f"build() cold: {figures['cold'] * 1000:.0f} ms")
    print(f"build() warm: median {statistics.median(warm):.0f} ms, min {min(warm):.0f} ms, max {max(warm):.0f} ms "
          f"(n = {len(warm)})")
    ranking = [t * 1000 for t in figures["ranking"][1:]]
    sql = sum(seconds_ for seconds_, _ in figures["warm_statements"]) * 1000
    print(f"  of which core.backlog.ranked ({figures['open_items']:,} open backlog items): cold "
          f"{figures['ranking'][0] * 1000:.0f} ms, warm median {statistics.median(ranking):.0f} ms")
    rest = [total - ranked for total, ranked in zip(warm, ranking)]
    print(f"  the rest of build(), warm median: {statistics.median(rest):.0f} ms")
    print(f"  all {len(figures['warm_statements'])} SQL statements of the last warm run (the ranking's included): "
          f"{sql:.0f} ms")
    total: Counter = Counter()
    for seconds_, statement in figures["warm_statements"]:
        total[" ".join(statement.split())[:110]] += seconds_
    print("slowest statements (last warm run):")
    for statement, spent in total.most_common(6):
        print(f"  {spent * 1000:7.1f} ms  {statement}")


def run_one(name: str, url: str, incidents: int, events: int, repeat: int) -> None:
    engine = db.make_engine(url)
    try:
        db.create_all(engine)
        begin = time.perf_counter()
        rows = history(incidents, events)
        load(engine, rows, events)
        seconds = time.perf_counter() - begin
    finally:
        engine.dispose()
    seeded = {table: len(values) for table, values in rows.items()}
    seeded["timeline_event"] = max(events, len(rows["timeline_event"]))
    del rows
    report(name, seeded, seconds, measure(url, repeat))


def postgres_url(given: str | None):
    """(url of a fresh database, cleanup)."""
    server = None
    base = given or os.environ.get(ENV_URL, "").strip() or None
    if base is None:
        server = pgserver.start_session_server()
        base = server.url
    base = pgserver.to_sqlalchemy_url(base)
    name = f"digest_bench_{uuid.uuid4().hex[:8]}"
    with pgserver.connect(base) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def cleanup() -> None:
        with pgserver.connect(base) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if server is not None:
            server.stop()

    return pgserver.with_database(base, name), cleanup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=10, help="warm runs after the cold one")
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=None, help=f"default: ${ENV_URL}, else a throwaway server")
    args = parser.parse_args()
    print(f"{args.incidents:,} incidents over {YEARS} years, {args.events:,} timeline events; "
          f"digest of {WEEK.label} ({POLICY.timezone}), {len(SERVICES)} services with SLOs")
    if args.database in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as directory:
            run_one("SQLite (file, WAL)", f"sqlite:///{directory}/digest-bench.db", args.incidents, args.events,
                    args.repeat)
    if args.database in ("postgres", "both"):
        url, cleanup = postgres_url(args.postgres_url)
        try:
            with pgserver.connect(url) as conn:
                version = conn.info.server_version
            run_one(f"PostgreSQL {version // 10000}", url, args.incidents, args.events, args.repeat)
        finally:
            cleanup()


if __name__ == "__main__":
    main()

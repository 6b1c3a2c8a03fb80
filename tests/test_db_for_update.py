"""``SELECT … FOR UPDATE`` serialises read-check-write on both backends (incidentbot/db.py).

PostgreSQL locks the row. SQLite has no row locks and Python's sqlite3 starts a
transaction only at the first write, so without help every thread would read the same
value and all but one increment would be lost: the engine takes SQLite's write lock
(``BEGIN IMMEDIATE``) before such a read.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import Column, Integer, MetaData, Table, select, update
from sqlmodel import Session

COUNTER = Table("for_update_counter", MetaData(), Column("id", Integer, primary_key=True), Column("n", Integer))
THREADS = 8


def test_concurrent_read_then_write_under_for_update_loses_nothing(engine):
    COUNTER.create(engine)
    with Session(engine) as session:
        session.execute(COUNTER.insert().values(id=1, n=0))
        session.commit()
    start = threading.Barrier(THREADS)

    def increment() -> None:
        start.wait()
        with Session(engine) as session:
            n = session.execute(select(COUNTER.c.n).where(COUNTER.c.id == 1).with_for_update()).scalar_one()
            time.sleep(0.02)  # widen the window in which another thread could read the same n
            session.execute(update(COUNTER).where(COUNTER.c.id == 1).values(n=n + 1))
            session.commit()

    threads = [threading.Thread(target=increment) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with Session(engine) as session:
        assert session.execute(select(COUNTER.c.n)).scalar_one() == THREADS


def test_a_plain_read_takes_no_write_lock(engine):
    """Only FOR UPDATE reads wait for writers: a reader is never blocked by a writer."""
    COUNTER.create(engine)
    with Session(engine) as writer, Session(engine) as reader:
        writer.execute(COUNTER.insert().values(id=1, n=0))  # holds the write lock, uncommitted
        assert reader.execute(select(COUNTER.c.n)).all() == []
        writer.commit()

"""Engine, sessions and migrations.

Nothing here runs at import time: callers build an engine from a URL when they
start (see ``create_app`` and the CLI), so tests and tools can point the bot at
any database without patching modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import zlib

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

from incidentbot import models  # noqa: F401  (registers the tables on SQLModel.metadata)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Build an engine for SQLite or PostgreSQL with settings fit for a Slack bot.

    SQLite is used from several threads (Bolt runs listeners in a pool), so the
    same-thread check is off and WAL mode lets readers work while one writer
    commits; a busy timeout makes concurrent writers wait instead of failing.
    PostgreSQL gets a short connect timeout so a database outage fails a request
    politely within Slack's 3-second window instead of hanging it.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 15}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _begin_before_savepoint)
        return engine
    return create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        connect_args={"connect_timeout": 2},
    )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_before_savepoint(connection, _name) -> None:
    """Open the transaction before a SAVEPOINT on SQLite.

    Python's sqlite3 starts a transaction only before INSERT/UPDATE/DELETE. A SAVEPOINT
    outside one starts its own, and releasing it *commits*: a claim made first in a
    request (``with session.begin_nested()``) would then survive the request's rollback,
    and a corrected form would be taken for one already handled.
    """
    dbapi_connection = connection.connection.dbapi_connection
    if not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN")


def create_all(engine: Engine) -> None:
    """Create every table from the models (tests; production uses migrations)."""
    SQLModel.metadata.create_all(engine)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def sweep_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Let one process at a time run a periodic sweep; yields False when taken.

    PostgreSQL: a session advisory lock, released when the block ends, so any
    number of workers can run and one of them sweeps. SQLite serves a single host,
    where the scheduler already runs one sweep at a time.
    """
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = zlib.crc32(name.encode())
    with engine.connect() as connection:
        got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        try:
            yield got
        finally:
            if got:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                connection.commit()


def schema_revision(engine: Engine) -> tuple[str | None, str]:
    """(the database's Alembic revision, the newest revision we ship)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current, head or ""


def migrations_dir() -> Path:
    """Where the Alembic scripts live: the source tree, or inside the wheel."""
    package = Path(__file__).resolve().parent
    for candidate in (package.parent / "migrations", package / "_migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("Alembic migrations not found next to the incidentbot package")


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # env.py reads the URL from here first, so `incidentbot migrate` and tests can
    # migrate any database; plain `alembic` falls back to DATABASE_URL.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database schema up to ``revision`` (``alembic upgrade``)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)

"""Engine, sessions and migrations.

Nothing here runs at import time: callers build an engine from a URL when they
start (see ``create_app`` and the CLI), so tests and tools can point the bot at
any database without patching modules.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import zlib

from sqlalchemy import event, exc, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, create_engine

from incidentbot import models  # noqa: F401  (registers the tables on SQLModel.metadata)

log = logging.getLogger(__name__)


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
        event.listen(engine, "before_execute", _write_lock_for_update)
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


def _write_lock_for_update(connection, clauseelement, _multiparams, _params, _options) -> None:
    """Give ``SELECT ... FOR UPDATE`` its meaning on SQLite: take the write lock first.

    SQLite has no row locks and leaves ``FOR UPDATE`` out, and Python's sqlite3 begins a
    transaction only at the first INSERT/UPDATE/DELETE, so two requests could both read
    "not acknowledged yet" and both acknowledge. ``BEGIN IMMEDIATE`` makes the second
    wait (busy timeout) until the first commits, and then read what it wrote, as the row
    lock does on PostgreSQL. Inside a transaction the write lock is already held.
    """
    if getattr(clauseelement, "_for_update_arg", None) is None:
        return
    dbapi_connection = connection.connection.dbapi_connection
    if not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN IMMEDIATE")


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

    A database that cannot be reached also yields False: the sweep is skipped with
    one warning and the next run tries again, instead of every job raising into the
    scheduler while the database restarts.
    """
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = zlib.crc32(name.encode())
    connection = _try_lock(engine, key, name)
    if connection is None:  # another worker sweeps, or there is no database
        yield False
        return
    with connection:
        try:
            yield True
        finally:
            _unlock(connection, key, name)


def _try_lock(engine: Engine, key: int, name: str) -> Connection | None:
    """A connection holding the sweep's advisory lock, or None when another worker
    holds it or the database cannot be reached (logged, not raised)."""
    try:
        connection = engine.connect()
    except Exception as error:
        _skip_when_unavailable(error, name)
        return None
    try:
        if connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            return connection
    except Exception as error:
        connection.close()
        _skip_when_unavailable(error, name)
        return None
    connection.close()
    return None


def _skip_when_unavailable(error: Exception, name: str) -> None:
    """Re-raise anything but an unreachable database, which is only logged."""
    if not unavailable(error):
        raise error
    log.warning("%s sweep skipped: the database is unavailable (%s)", name, describe(error))


def _unlock(connection: Connection, key: int, name: str) -> None:
    try:
        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        connection.commit()
    except Exception as error:
        # A lost connection took its session's advisory lock with it.
        if not unavailable(error):
            raise
        log.warning("%s sweep: the database went away before its lock was released (%s)", name, describe(error))


def unavailable(error: BaseException | None) -> bool:
    """Whether ``error`` says the database could not be reached or dropped the connection
    (down, restarting, failing over, no free connection), rather than a bug or a refused
    write. The transaction it interrupted was rolled back, so the work can be tried again.

    Follows ``raise … from`` causes, so a wrapped database error still counts.
    """
    for _ in range(5):
        if error is None:
            return False
        if isinstance(error, (exc.OperationalError, exc.InterfaceError, exc.TimeoutError)):
            return True
        if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
            return True
        error = error.__cause__
    return False


def describe(error: BaseException) -> str:
    """One line for the log: the driver's message without SQLAlchemy's SQL and links."""
    detail = getattr(error, "orig", None) or error
    first = str(detail).strip().splitlines()[0] if str(detail).strip() else ""
    return f"{type(detail).__name__}: {first}" if first else type(detail).__name__


def answers(engine: Engine) -> bool:
    """Whether the database takes a query right now (False when it cannot be reached)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        if not unavailable(error):
            raise
        return False
    return True


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

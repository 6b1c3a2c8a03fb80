"""Shared fixtures: databases on both backends.

``database_url`` runs a test twice, on SQLite and on a real PostgreSQL server, each time
with a fresh empty database. ``engine`` and ``session`` build on it with the schema
created. See docs/testing.md.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from hypothesis import settings as hypothesis_settings

# CI (.ci/run sets HYPOTHESIS_PROFILE=ci) tries the same examples every run, so whether a
# submission lands does not depend on the draw; local runs draw new ones each time. No
# per-example deadline: a stall on a loaded machine is not a bug in the parser.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
hypothesis_settings.register_profile("explore", derandomize=False, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "explore"))

try:  # tests/ is on sys.path when it is not a package (pytest's rootdir-relative import)
    import pgserver
except ModuleNotFoundError:  # pragma: no cover - if tests/ ever becomes a package
    from tests import pgserver


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that asks for the server itself is a PostgreSQL test: mark it, so that
    ``-m "not postgres"`` leaves it out (``database_url``'s postgres run is marked by
    its param)."""
    for item in items:
        if {"postgres_url", "own_postgres"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


def _no_binaries(exc: Exception):
    """Skip on a developer's machine, fail where PostgreSQL is required (CI)."""
    reason = "PostgreSQL binaries not found; install postgresql or set INCIDENTBOT_TEST_POSTGRES_URL"
    if pgserver.postgres_required():
        pytest.fail(f"{reason} (required here: {pgserver.ENV_REQUIRE}=1 or CI=true). {exc}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of the session's PostgreSQL test database (``incidentbot_test``).

    From INCIDENTBOT_TEST_POSTGRES_URL when set, else a throwaway server started here and
    stopped at the end of the session. No binaries: skip on a developer's machine, fail in
    CI. Binaries but no server: always fail.
    """
    given = os.environ.get(pgserver.ENV_URL, "").strip()
    if given:
        url = pgserver.to_sqlalchemy_url(given)
        try:
            pgserver.wait_until_ready(url, timeout=10)
        except pgserver.PostgresError as exc:
            pytest.fail(f"{pgserver.ENV_URL} is set but the server does not answer: {exc}", pytrace=False)
        yield url
        return

    try:
        server = pgserver.start_session_server()
    except pgserver.PostgresNotFound as exc:
        _no_binaries(exc)
    except pgserver.PostgresError as exc:
        pytest.fail(f"PostgreSQL binaries were found but the test server did not start: {exc}", pytrace=False)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _own_postgres_server() -> Iterator[pgserver.PostgresServer]:
    try:
        server = pgserver.start_session_server(settings=pgserver.CRASH_SAFE_SETTINGS)
    except pgserver.PostgresNotFound as exc:
        _no_binaries(exc)
    except pgserver.PostgresError as exc:
        pytest.fail(f"PostgreSQL binaries were found but the tests' own server did not start: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_postgres(_own_postgres_server: pgserver.PostgresServer) -> Iterator[pgserver.PostgresServer]:
    """A second PostgreSQL server, which a test may stop and start again (``shutdown``,
    ``start_again``) without disturbing the one every other test uses; it is running
    again after each test. Crash-safe commits (``CRASH_SAFE_SETTINGS``), so a server
    killed mid-test keeps what it confirmed. Started from the binaries even when
    INCIDENTBOT_TEST_POSTGRES_URL is set; without them: skipped on a developer's
    machine, an error in CI."""
    server = _own_postgres_server
    yield server
    if not server.running():
        server.start_again()


class _Admin:
    """Creates and drops the per-test databases on the test server.

    CREATE DATABASE copies template1 and takes 0.1-0.3 s, so the next database is made
    in a background thread (its own connection) while the current test runs; dropping
    (``WITH (FORCE)``, a few ms) happens at once on the main thread's connection.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-create-db")
        self._next: Future[str] | None = None
        self._create_conn = None  # used by the pool's thread only
        self._drop_conn = None  # used by the main thread only

    def _create(self) -> str:
        conn = self._create_conn
        if conn is None or conn.closed or conn.broken:
            conn = self._create_conn = pgserver.connect(self.url)
        # PostgreSQL 15's default (WAL_LOG) writes all of template1 to the WAL;
        # copying the files is quicker for a small throwaway database.
        strategy = " STRATEGY = FILE_COPY" if conn.info.server_version >= 150000 else ""
        name = f"t_{uuid.uuid4().hex}"
        conn.execute(f'CREATE DATABASE "{name}"{strategy}')
        return name

    def new_database(self) -> str:
        if self._next is None:
            self._next = self._pool.submit(self._create)
        try:
            name = self._next.result()
        finally:
            self._next = self._pool.submit(self._create)
        return name

    def drop(self, name: str) -> None:
        conn = self._drop_conn
        if conn is None or conn.closed or conn.broken:
            conn = self._drop_conn = pgserver.connect(self.url)
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        try:
            if self._next is not None:
                try:
                    leftover = self._next.result()
                except Exception:  # noqa: BLE001 - nothing was made, nothing to drop
                    leftover = None
                if leftover:
                    self.drop(leftover)
        finally:
            self._pool.shutdown(wait=True)
            for conn in (self._create_conn, self._drop_conn):
                if conn is not None:
                    conn.close()


@pytest.fixture(scope="session")
def _postgres_admin(postgres_url: str) -> Iterator[_Admin]:
    admin = _Admin(postgres_url)
    try:
        yield admin
    finally:
        admin.close()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """URL of a fresh, empty database for this test, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'incidentbot.db'}"
        return

    admin: _Admin = request.getfixturevalue("_postgres_admin")
    name = admin.new_database()
    try:
        yield pgserver.with_database(admin.url, name)
    finally:
        admin.drop(name)


@pytest.fixture
def engine(database_url: str):
    """``incidentbot.db.make_engine`` on the fresh database, with the schema created."""
    from incidentbot import db

    eng = db.make_engine(database_url)
    try:
        db.create_all(eng)
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def session(engine):
    """A ``sqlmodel.Session`` on ``engine``, closed afterwards."""
    from sqlmodel import Session

    with Session(engine) as s:
        yield s

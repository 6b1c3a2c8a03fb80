"""The test harness itself: the PostgreSQL server and the per-test databases."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, inspect, text

try:
    import pgserver
except ModuleNotFoundError:  # pragma: no cover - if tests/ ever becomes a package
    from tests import pgserver

TESTS_DIR = Path(__file__).resolve().parent


# --------------------------------------------------------------------------- the server


@pytest.mark.postgres
def test_server_answers(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://")
    with pgserver.connect(postgres_url) as conn:
        version = conn.execute("select version()").fetchone()[0]
        assert version.startswith("PostgreSQL ")
        if not os.environ.get(pgserver.ENV_URL):  # our own server, our own settings
            assert conn.execute("select current_database()").fetchone()[0] == pgserver.DB_NAME
            assert conn.execute("show max_connections").fetchone()[0] == "200"
            assert conn.execute("show fsync").fetchone()[0] == "off"


@pytest.mark.postgres
def test_sqlalchemy_reaches_the_server(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("select 1 + 1")).scalar_one() == 2
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_timestamptz_round_trips(database_url: str) -> None:
    berlin = datetime(2024, 3, 31, 1, 30, tzinfo=ZoneInfo("Europe/Berlin"))  # the night clocks go forward
    with pgserver.connect(database_url) as conn:
        conn.execute("create table stamps (id serial primary key, at timestamptz not null)")
        conn.execute("insert into stamps (at) values (%s), (%s)", [berlin, berlin + timedelta(hours=1)])
        rows = [r[0] for r in conn.execute("select at from stamps order by id")]
    assert rows[0] == berlin
    assert rows[0].tzinfo is not None
    assert rows[1] - rows[0] == timedelta(hours=1)
    assert rows[0].astimezone(timezone.utc) == datetime(2024, 3, 31, 0, 30, tzinfo=timezone.utc)


def test_own_server_stops_and_starts_again_keeping_what_it_confirmed(own_postgres: pgserver.PostgresServer) -> None:
    """``shutdown``/``start_again`` (tests/e2e/test_database_outage.py): same port, same data,
    and a commit confirmed just before ``immediate`` (a kill) survives it."""
    import psycopg

    url, port = own_postgres.url, own_postgres.port
    with pgserver.connect(url) as conn:
        assert conn.execute("show synchronous_commit").fetchone()[0] == "on"
        conn.execute("drop table if exists kept")  # the server outlives this test
        conn.execute("create table kept (id integer primary key)")
    for row, mode in enumerate(("fast", "immediate"), start=1):
        with pgserver.connect(url) as conn:
            conn.execute("insert into kept (id) values (%s)", [row])
        own_postgres.shutdown(mode)
        with pytest.raises(psycopg.OperationalError):
            pgserver.connect(url, timeout=2)
        own_postgres.start_again()
        assert own_postgres.port == port
        with pgserver.connect(url) as conn:
            assert [r[0] for r in conn.execute("select id from kept order by id")] == list(range(1, row + 1))
    with pytest.raises(ValueError, match="unknown shutdown mode"):
        own_postgres.shutdown("abrupt")
    own_postgres.shutdown("fast")
    assert not own_postgres.running()  # the fixture starts it again for the next test


# --------------------------------------------------------------------------- per-test databases

_seen_databases: list[str] = []


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_gets_a_fresh_empty_database(database_url: str, round_: int) -> None:
    """Run twice per backend: each round finds nothing of the other one's."""
    engine = create_engine(database_url)
    try:
        assert inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            conn.execute(text("create table leftover (id integer primary key)"))
            conn.execute(text("insert into leftover (id) values (1)"))
        if database_url.startswith("postgresql"):
            name = engine.url.database
            assert name != pgserver.DB_NAME and name.startswith("t_")
            with engine.connect() as conn:
                existing = set(conn.execute(text("select datname from pg_database")).scalars())
            assert name in existing
            assert not existing & set(_seen_databases), "an earlier test's database was not dropped"
            _seen_databases.append(name)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- finding binaries


def _fake_bindir(path: Path, names=pgserver.REQUIRED_BINARIES, script: str = "exit 0") -> Path:
    path.mkdir(parents=True)
    for name in names:
        exe = path / name
        exe.write_text(f"#!/bin/sh\n{script}\n")
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def test_no_binaries_found(tmp_path: Path) -> None:
    """What a machine without PostgreSQL looks like to the search."""
    env = {"PATH": str(tmp_path / "empty")}
    assert pgserver.find_bindir(env=env, lib_glob=str(tmp_path / "lib/*/bin")) is None


def test_client_only_directory_is_not_enough(tmp_path: Path) -> None:
    # Debian's postgresql-client puts psql etc. into /usr/lib/postgresql/N/bin too.
    _fake_bindir(tmp_path / "lib/16/bin", names=("psql", "pg_isready"))
    env = {"PATH": str(tmp_path / "empty")}
    assert pgserver.find_bindir(env=env, lib_glob=str(tmp_path / "lib/*/bin")) is None


def test_newest_versioned_directory_first(tmp_path: Path) -> None:
    for version in ("9.6", "15", "13"):
        _fake_bindir(tmp_path / f"lib/{version}/bin")
    env = {"PATH": str(tmp_path / "empty")}
    assert pgserver.find_bindir(env=env, lib_glob=str(tmp_path / "lib/*/bin")) == tmp_path / "lib/15/bin"


def test_path_is_searched_last(tmp_path: Path) -> None:
    bindir = _fake_bindir(tmp_path / "opt/pg/bin")
    env = {"PATH": f"{tmp_path / 'empty'}{os.pathsep}{bindir}"}
    assert pgserver.find_bindir(env=env, lib_glob=str(tmp_path / "lib/*/bin")) == bindir


def test_explicit_bindir_is_the_only_place_looked_at(tmp_path: Path) -> None:
    bindir = _fake_bindir(tmp_path / "custom/bin")
    _fake_bindir(tmp_path / "lib/15/bin")
    glob = str(tmp_path / "lib/*/bin")
    assert pgserver.find_bindir(env={pgserver.ENV_BINDIR: str(bindir)}, lib_glob=glob) == bindir
    assert pgserver.find_bindir(env={pgserver.ENV_BINDIR: str(tmp_path / "nope")}, lib_glob=glob) is None


@pytest.mark.parametrize(
    ("env", "required"),
    [
        ({}, False),
        ({"CI": "true"}, True),
        ({"CI": "false"}, False),
        ({"INCIDENTBOT_REQUIRE_POSTGRES": "1"}, True),
        ({"INCIDENTBOT_REQUIRE_POSTGRES": "0", "CI": ""}, False),
    ],
)
def test_postgres_required(env: dict[str, str], required: bool) -> None:
    assert pgserver.postgres_required(env) is required


def test_urls() -> None:
    assert pgserver.to_sqlalchemy_url("postgres://u@h:1/d") == "postgresql+psycopg://u@h:1/d"
    assert pgserver.to_sqlalchemy_url("postgresql://u:p@h/d") == "postgresql+psycopg://u:p@h/d"
    assert pgserver.to_libpq_url("postgresql+psycopg://u:p@h:5/d") == "postgresql://u:p@h:5/d"
    assert pgserver.with_database("postgresql+psycopg://u:p@h:5/d", "t_1") == "postgresql+psycopg://u:p@h:5/t_1"


# --------------------------------------------------------------------------- skip or fail

INNER_TEST = """
def test_both(database_url):
    assert database_url
"""


def _run_inner_session(tmp_path: Path, bindir: Path, **env_extra: str) -> subprocess.CompletedProcess:
    """A pytest session using this conftest, with the binaries hidden or broken."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("conftest.py", "pgserver.py"):
        (project / name).write_text((TESTS_DIR / name).read_text())
    (project / "test_inner.py").write_text(textwrap.dedent(INNER_TEST))
    (project / "pytest.ini").write_text("[pytest]\nmarkers =\n    postgres: pg\n")
    env = {k: v for k, v in os.environ.items() if k not in (pgserver.ENV_URL, pgserver.ENV_REQUIRE, "CI")}
    env[pgserver.ENV_BINDIR] = str(bindir)
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rsE", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_binaries_skip_on_a_developer_machine(tmp_path: Path) -> None:
    res = _run_inner_session(tmp_path, tmp_path / "missing")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 passed, 1 skipped" in res.stdout
    assert "PostgreSQL binaries not found; install postgresql or set INCIDENTBOT_TEST_POSTGRES_URL" in res.stdout


def test_missing_binaries_fail_in_ci(tmp_path: Path) -> None:
    # .ci/run sets this; CI=true does the same (test_postgres_required).
    res = _run_inner_session(tmp_path, tmp_path / "missing", INCIDENTBOT_REQUIRE_POSTGRES="1")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "1 passed, 1 error" in res.stdout
    assert "PostgreSQL binaries not found" in res.stdout


def test_server_that_does_not_start_fails_never_skips(tmp_path: Path) -> None:
    broken = _fake_bindir(tmp_path / "broken/bin", script="echo 'initdb: out of luck' >&2; exit 1")
    broken.parent.chmod(0o755)
    res = _run_inner_session(tmp_path, broken)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "1 passed, 1 error" in res.stdout
    assert "did not start" in res.stdout

"""A throwaway PostgreSQL server for the test session.

The database tests run on SQLite and on a real PostgreSQL server. Where that server
comes from, in order:

1. ``INCIDENTBOT_TEST_POSTGRES_URL`` names one (``.ci/run`` starts one server for the
   whole run and sets it; a developer may point it at any server where the user may
   ``CREATE DATABASE``). Nothing is started.
2. Otherwise the test session starts its own: PostgreSQL's ``initdb``, ``pg_ctl`` and
   ``postgres`` are looked up (``INCIDENTBOT_TEST_PG_BINDIR`` alone when it is set; else
   ``pg_config --bindir``, then ``/usr/lib/postgresql/*/bin`` newest first, then
   ``PATH``), a cluster is made in a fresh temporary directory, started on a free
   loopback port with durability turned off (it is thrown away), and stopped and
   removed at the end of the session, or by a watchdog process if this one dies first.

PostgreSQL refuses to run as root, so when this process is root the server runs as the
``postgres`` user (``runuser``), which owns the temporary directory.

This file is also a small command-line tool, used by ``.ci/run`` with the machine's
plain ``python3`` (so nothing but the standard library is imported at module level)::

    python3 tests/pgserver.py bindir              # print the bin directory, exit 1 if none
    python3 tests/pgserver.py start --dir D       # start a server in D, print its URL
    python3 tests/pgserver.py check URL           # connect, print the server version
    python3 tests/pgserver.py stop --dir D        # stop it (immediate) and remove D

``start`` and ``check`` need psycopg (run them with the project's virtualenv).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

ENV_URL = "INCIDENTBOT_TEST_POSTGRES_URL"
ENV_BINDIR = "INCIDENTBOT_TEST_PG_BINDIR"
ENV_REQUIRE = "INCIDENTBOT_REQUIRE_POSTGRES"
DB_NAME = "incidentbot_test"
SUPERUSER = "postgres"
# The OS user the server runs as when this process is root.
OS_USER = "postgres"
LIB_GLOB = "/usr/lib/postgresql/*/bin"
REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
STATE_FILE = "server.json"
START_TIMEOUT = 60.0

SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    # Thrown away after the run: durability buys nothing and costs time.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    # Its workers visit template1, and CREATE DATABASE then waits for them to leave.
    "autovacuum": "off",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] %q%u@%d '",
    "timezone": "'UTC'",
}

# For a server that is killed on purpose (pg_ctl stop -m immediate) while clients are
# told their writes are stored: a commit returns only once its WAL is written. fsync
# may stay off, since a killed process does not lose what it gave the OS.
CRASH_SAFE_SETTINGS = {"synchronous_commit": "on"}


class PostgresError(RuntimeError):
    """Base class for the errors below."""


class PostgresNotFound(PostgresError):
    """No PostgreSQL server binaries on this machine."""


class PostgresStartError(PostgresError):
    """The binaries are there but the server could not be made to run."""


# --------------------------------------------------------------------------- finding


def _has_server_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) and (bindir / name).is_file() for name in REQUIRED_BINARIES)


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin
    parts = re.findall(r"\d+", path.parent.name)
    return tuple(int(p) for p in parts) or (-1,)


def candidate_bindirs(
    *,
    env: dict[str, str] | None = None,
    pg_config: str = "pg_config",
    lib_glob: str = LIB_GLOB,
) -> Iterable[Path]:
    """Directories that may hold the server binaries, in the order they are tried."""
    env = os.environ if env is None else env
    override = env.get(ENV_BINDIR)
    if override:  # explicit: the only place looked at
        yield Path(override)
        return
    search_path = env.get("PATH", os.defpath)
    exe = shutil.which(pg_config, path=search_path)
    if exe:
        try:
            out = subprocess.run(
                [exe, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out:
            yield Path(out)
    base = Path(lib_glob)  # "<root>/*/bin": newest version first
    yield from sorted(Path(base.anchor).glob(str(base.relative_to(base.anchor))), key=_version_key, reverse=True)
    initdb = shutil.which("initdb", path=search_path)
    if initdb:
        yield Path(initdb).parent
        # /usr/local/bin/initdb may be a symlink into the real bin directory.
        yield Path(initdb).resolve().parent


def find_bindir(**kwargs) -> Path | None:
    """The first directory holding initdb, pg_ctl and postgres, or None."""
    for candidate in candidate_bindirs(**kwargs):
        if _has_server_binaries(candidate):
            return candidate
    return None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def postgres_required(env: dict[str, str] | None = None) -> bool:
    """In CI (or when .ci/run says so) a missing PostgreSQL is a failure, not a skip."""
    env = os.environ if env is None else env
    return _truthy(env.get(ENV_REQUIRE)) or _truthy(env.get("CI"))


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as_other_user() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _ensure_os_user() -> None:
    """As root: make sure the user the server runs as exists."""
    import pwd

    try:
        pwd.getpwnam(OS_USER)
        return
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    res = subprocess.run(
        [useradd, "--system", "--user-group", "--no-create-home", "--shell", "/bin/sh", OS_USER],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise PostgresStartError(
            f"running as root, and the {OS_USER!r} user (PostgreSQL refuses to run as root) "
            f"is missing and could not be created: {res.stderr.strip()}"
        )


def _as_server_user(cmd: Sequence[str]) -> list[str]:
    if not _run_as_other_user():
        return list(cmd)
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return [runuser, "-u", OS_USER, "--", *cmd]


def _chown_to_server_user(path: Path) -> None:
    if _run_as_other_user():
        import pwd

        entry = pwd.getpwnam(OS_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _server_user_can_write(path: Path) -> bool:
    if not _run_as_other_user():
        return os.access(path, os.W_OK | os.X_OK)
    res = subprocess.run(_as_server_user(["test", "-w", str(path), "-a", "-x", str(path)]), capture_output=True)
    return res.returncode == 0


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def to_sqlalchemy_url(url: str) -> str:
    """postgres://, postgresql:// → postgresql+psycopg:// (psycopg 3 is what we ship)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def to_libpq_url(url: str) -> str:
    """A SQLAlchemy URL → a libpq URI that psycopg.connect() accepts."""
    return re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgresql://", url)


def with_database(url: str, dbname: str) -> str:
    """The same server URL with another database name (SQLAlchemy or libpq form)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=dbname).render_as_string(hide_password=False)


def connect(url: str, *, autocommit: bool = True, timeout: int = 10):
    import psycopg

    return psycopg.connect(to_libpq_url(url), autocommit=autocommit, connect_timeout=timeout)


def wait_until_ready(url: str, timeout: float = START_TIMEOUT) -> None:
    """Connect until the server answers or the time runs out (setup, not a test)."""
    import psycopg

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with connect(url, timeout=5) as conn:
                conn.execute("select 1")
                return
        except psycopg.OperationalError as exc:
            last = exc
            time.sleep(0.1)
    raise PostgresStartError(f"PostgreSQL at {url} did not answer within {timeout:.0f}s: {last}")


# --------------------------------------------------------------------------- server


class PostgresServer:
    """One cluster in ``directory``: ``data/``, ``socket/``, ``postgres.log``, ``server.json``."""

    def __init__(self, directory: Path, bindir: Path, port: int | None = None, *,
                 settings: dict[str, str] | None = None) -> None:
        self.dir = Path(directory)
        self.bindir = Path(bindir)
        self.port = port or 0
        # postgresql.conf values over SERVER_SETTINGS (written by init).
        self.settings = {**SERVER_SETTINGS, **(settings or {})}
        self._watchdog_fd: int | None = None

    # paths
    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.dir / "socket"

    @property
    def log(self) -> Path:
        return self.dir / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{DB_NAME}"

    def _bin(self, name: str) -> str:
        return str(self.bindir / name)

    def _run(self, cmd: Sequence[str], *, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            _as_server_user(cmd),
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kwargs,
        )

    # lifecycle
    def init(self) -> None:
        if _run_as_other_user():
            _ensure_os_user()
            _chown_to_server_user(self.dir)
            if not _server_user_can_write(self.dir):
                raise PostgresStartError(
                    f"the {OS_USER!r} user cannot write {self.dir} (a parent directory is closed to it); "
                    "set TMPDIR to a directory it can reach, such as /tmp"
                )
        os.chmod(self.dir, 0o700)
        self.socket_dir.mkdir(exist_ok=True)
        _chown_to_server_user(self.socket_dir)
        res = self._run(
            [
                self._bin("initdb"),
                "-D", str(self.data),
                "-U", SUPERUSER,
                "-A", "trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )  # fmt: skip
        if res.returncode != 0:
            raise PostgresStartError(
                f"initdb failed (exit {res.returncode}) in {self.data}:\n{res.stdout[-3000:]}{res.stderr[-3000:]}"
            )
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n# incidentbot test server\n")
            for key, value in self.settings.items():
                conf.write(f"{key} = {value}\n")
            conf.write(f"unix_socket_directories = '{self.socket_dir}'\n")

    def _start_once(self, port: int) -> subprocess.CompletedProcess:
        self.port = port
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"port = {port}\n")  # the last one wins
        return self._pg_ctl_start()

    def _pg_ctl_start(self) -> subprocess.CompletedProcess:
        return self._run(
            [self._bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(int(START_TIMEOUT)), "start"],
            timeout=START_TIMEOUT + 30,
            # Out of the terminal's process group: Ctrl-C reaches pytest, which then
            # stops the server in its teardown, rather than the server directly.
            start_new_session=True,
        )

    def start(self) -> str:
        """initdb, start, create the test database; return its SQLAlchemy URL."""
        self.init()
        attempts = 3
        for attempt in range(1, attempts + 1):
            try:
                res = self._start_once(self.port or free_port())
            except subprocess.TimeoutExpired:
                self.stop(remove=False)
                raise PostgresStartError(f"pg_ctl start timed out; server log tail:\n{_tail(self.log)}") from None
            if res.returncode == 0:
                break
            log_tail = _tail(self.log)
            port_taken = "could not bind" in log_tail or "Address already in use" in log_tail
            self.stop(remove=False)
            if port_taken and attempt < attempts:
                self.port = 0  # someone took the port between choosing and binding it
                continue
            raise PostgresStartError(
                f"pg_ctl start failed (exit {res.returncode}).\n{res.stdout.strip()}\n{res.stderr.strip()}\n"
                f"server log tail ({self.log}):\n{log_tail}"
            )
        try:
            maintenance = with_database(self.url, "postgres")
            wait_until_ready(maintenance)
            with connect(maintenance) as conn:
                conn.execute(f'CREATE DATABASE "{DB_NAME}"')
        except Exception as exc:
            self.stop(remove=False)
            raise PostgresStartError(f"{exc}\nserver log tail ({self.log}):\n{_tail(self.log)}") from exc
        self._write_state()
        return self.url

    # An outage on purpose (tests/e2e/test_database_outage.py): stop, then start again
    # with the same data on the same port, so clients keep their URL.
    def shutdown(self, mode: str = "fast") -> None:
        """Stop the server and keep its data. ``mode`` is pg_ctl's: ``smart`` waits for
        clients to leave, ``fast`` disconnects them, ``immediate`` kills the processes
        (crash recovery runs at the next start)."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown shutdown mode {mode!r}")
        res = self._run([self._bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"], timeout=60)
        if res.returncode != 0:
            raise PostgresError(f"pg_ctl stop -m {mode} failed (exit {res.returncode}): {res.stderr.strip()}\n"
                                f"server log tail:\n{_tail(self.log)}")

    def running(self) -> bool:
        """Whether the postmaster is up (pg_ctl removes its pid file when it stops)."""
        return (self.data / "postmaster.pid").exists()

    def start_again(self) -> None:
        """Start a server stopped by ``shutdown`` and wait until it answers."""
        try:
            res = self._pg_ctl_start()
        except subprocess.TimeoutExpired:
            raise PostgresStartError(f"pg_ctl start timed out; server log tail:\n{_tail(self.log)}") from None
        if res.returncode != 0:
            raise PostgresStartError(f"pg_ctl start failed (exit {res.returncode}): {res.stderr.strip()}\n"
                                     f"server log tail:\n{_tail(self.log)}")
        wait_until_ready(self.url)
        self._write_state()  # the postmaster's pid changed

    def _write_state(self) -> None:
        state = {"bindir": str(self.bindir), "port": self.port, "url": self.url, "pid": self.pid()}
        (self.dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def stop(self, *, remove: bool = True) -> None:
        """Stop at once (the data is thrown away) and, by default, remove the directory."""
        if self.data.is_dir() and (self.data / "postmaster.pid").exists():
            pid = self.pid()
            try:
                res = self._run([self._bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"], timeout=60)
                ok = res.returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
            if not ok and pid:
                _kill_postmaster(pid)
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.close_watchdog()

    # A watchdog process that stops the server if this process dies without its
    # teardown (SIGKILL, SIGTERM, a crash): it waits for the end of a pipe whose write
    # end only this process holds.
    def start_watchdog(self) -> None:
        read_fd, write_fd = os.pipe()
        try:
            subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "watchdog", "--dir", str(self.dir)],
                stdin=read_fd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            os.close(read_fd)
        self._watchdog_fd = write_fd

    def close_watchdog(self) -> None:
        if self._watchdog_fd is not None:
            os.close(self._watchdog_fd)
            self._watchdog_fd = None


def _kill_postmaster(pid: int) -> None:
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def load(directory: Path) -> PostgresServer:
    """The server described by ``directory/server.json`` (written by start)."""
    directory = Path(directory)
    try:
        state = json.loads((directory / STATE_FILE).read_text())
        return PostgresServer(directory, Path(state["bindir"]), int(state["port"]))
    except (OSError, ValueError, KeyError):
        bindir = find_bindir() or Path("/nonexistent")
        return PostgresServer(directory, bindir)


def _new_temp_dir() -> Path:
    base = tempfile.gettempdir()
    path = Path(tempfile.mkdtemp(prefix="incidentbot-pg-", dir=base))
    if _run_as_other_user():
        _ensure_os_user()
        _chown_to_server_user(path)
        if not _server_user_can_write(path) and base != "/tmp":
            # e.g. TMPDIR under /root, which the postgres user cannot enter
            path.rmdir()
            path = Path(tempfile.mkdtemp(prefix="incidentbot-pg-", dir="/tmp"))
    return path


def start_session_server(settings: dict[str, str] | None = None) -> PostgresServer:
    """Start a server for this process; it is stopped at exit if not before.

    ``settings`` are postgresql.conf values over SERVER_SETTINGS. Raises
    PostgresNotFound when there are no binaries, PostgresStartError when they are there
    but the server does not run.
    """
    bindir = find_bindir()
    if bindir is None:
        raise PostgresNotFound(
            "PostgreSQL binaries not found (looked in $INCIDENTBOT_TEST_PG_BINDIR, `pg_config --bindir`, "
            f"{LIB_GLOB}, PATH); install postgresql or set {ENV_URL}"
        )
    server = PostgresServer(_new_temp_dir(), bindir, settings=settings)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    atexit.register(server.stop)
    server.start_watchdog()
    return server


# --------------------------------------------------------------------------- CLI


def _cli(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pgserver.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("bindir", help="print the directory holding initdb/pg_ctl/postgres; exit 1 if none")
    p_start = sub.add_parser("start", help="start a server in DIR (empty or missing) and print its URL")
    p_start.add_argument("--dir", required=True, type=Path)
    p_stop = sub.add_parser("stop", help="stop the server in DIR (immediate) and remove DIR")
    p_stop.add_argument("--dir", required=True, type=Path)
    p_stop.add_argument("--keep", action="store_true", help="do not remove DIR")
    p_check = sub.add_parser("check", help="connect to URL and print the server's version")
    p_check.add_argument("url")
    p_watch = sub.add_parser("watchdog", help=argparse.SUPPRESS)
    p_watch.add_argument("--dir", required=True, type=Path)
    args = parser.parse_args(argv)

    if args.cmd == "bindir":
        bindir = find_bindir()
        if bindir is None:
            print("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found", file=sys.stderr)
            return 1
        print(bindir)
        return 0

    if args.cmd == "start":
        bindir = find_bindir()
        if bindir is None:
            print("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found", file=sys.stderr)
            return 1
        directory = args.dir.absolute()
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.iterdir()):
            print(f"{directory} is not empty", file=sys.stderr)
            return 2
        server = PostgresServer(directory, bindir)
        try:
            url = server.start()
        except PostgresError as exc:
            print(f"could not start PostgreSQL: {exc}", file=sys.stderr)
            return 1
        (directory / "url").write_text(url + "\n")
        print(url)
        return 0

    if args.cmd == "stop":
        load(args.dir.absolute()).stop(remove=not args.keep)
        return 0

    if args.cmd == "check":
        try:
            with connect(args.url) as conn:
                print(conn.execute("select version()").fetchone()[0])
        except Exception as exc:  # noqa: BLE001 - a CLI: say why and fail
            print(f"cannot reach {args.url}: {exc}", file=sys.stderr)
            return 1
        return 0

    if args.cmd == "watchdog":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            sys.stdin.buffer.read()  # returns when every write end is closed
        except OSError:
            pass
        if args.dir.exists():
            load(args.dir).stop()
        return 0

    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(_cli())

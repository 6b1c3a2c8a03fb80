"""Running the WSGI app under gunicorn (``incidentbot serve``)."""

from __future__ import annotations

import os

from gunicorn.app.base import BaseApplication

from incidentbot.errors import ConfigError
from incidentbot.settings import Settings

# One Python process runs Python code on one core at a time (the GIL). A declaration
# costs 10-20 ms of CPU, so a burst of them needs more than one process to keep every
# ack inside Slack's 3 s (docs/performance.md). More than 4 mostly adds memory.
MAX_DEFAULT_WORKERS = 4


def default_workers() -> int:
    """``$WEB_CONCURRENCY`` (Heroku and others set it by machine size), else one per core
    up to ``MAX_DEFAULT_WORKERS``. Several workers are fine on SQLite too: everything
    they share goes through the database file (write locks, unique indexes, leases)."""
    if os.environ.get("WEB_CONCURRENCY"):
        return env_int("WEB_CONCURRENCY", 1)
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS))


def env_int(name: str, default: int) -> int:
    """A positive whole number from the environment; ConfigError naming it otherwise."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{name} must be a positive whole number (got {raw!r})")
    return value


class _Gunicorn(BaseApplication):
    def __init__(self, settings: Settings, options: dict) -> None:
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        # Built in each worker after the fork, so no database connection or HTTP
        # pool is shared between processes.
        from incidentbot.web import create_wsgi_app

        return create_wsgi_app(self._settings)


def serve(settings: Settings, *, host: str, port: int, workers: int, threads: int) -> None:
    _Gunicorn(
        settings,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            # Threads, because listeners keep working after ack() in Bolt's pool.
            "worker_class": "gthread",
            "threads": threads,
            "timeout": 60,
            "graceful_timeout": 20,
            "accesslog": None,
            "loglevel": settings.log_level.lower(),
        },
    ).run()

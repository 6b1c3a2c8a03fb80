"""Running the WSGI app under gunicorn (``incidentbot serve``)."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

from incidentbot.settings import Settings


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

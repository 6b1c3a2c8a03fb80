"""The ``incidentbot`` command.

Each subcommand imports what it needs when it runs, so ``incidentbot --help``
stays fast and no Slack client, engine or scheduler exists until asked for.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from incidentbot import __version__
from incidentbot.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as error:
        print(f"incidentbot: configuration error\n{error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="incidentbot", description="Incident management in Slack.")
    parser.add_argument("--version", action="version", version=f"incidentbot {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="<command>")

    demo = sub.add_parser("demo", help="run a scripted incident against the built-in sandbox Slack (no workspace needed)")
    demo.set_defaults(func=_demo)

    serve = sub.add_parser("serve", help="serve Slack's HTTP requests (/slack/events, /healthz) with gunicorn")
    serve.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    serve.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")),
                       help="gunicorn worker processes (default: $WEB_CONCURRENCY or 1)")
    serve.add_argument("--threads", type=int, default=8, help="threads per worker (default: 8)")
    serve.set_defaults(func=_serve)

    run = sub.add_parser("run", help="single process: Socket Mode (no public URL) plus the scheduler")
    run.set_defaults(func=_run)

    worker = sub.add_parser("worker", help="run the scheduler: nudges in incident channels, and the sweep that finishes interrupted Slack setup")
    worker.set_defaults(func=_worker)

    migrate = sub.add_parser("migrate", help="upgrade the database schema (alembic upgrade)")
    migrate.add_argument("--revision", default="head")
    migrate.set_defaults(func=_migrate)

    check = sub.add_parser("check", help="validate the environment and the policy file, then exit")
    check.set_defaults(func=_check)

    sandbox = sub.add_parser("sandbox", help="run the sandbox Slack Web API alone; prints its URL first")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=0, help="0 picks a free port")
    sandbox.set_defaults(func=_sandbox)
    return parser


def _setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _settings():
    from incidentbot.settings import load_settings

    settings = load_settings()
    _setup_logging(settings.log_level)
    return settings


def _require_current_schema(settings) -> None:
    from incidentbot.db import make_engine, schema_revision

    engine = make_engine(settings.database_url)
    try:
        current, head = schema_revision(engine)
    finally:
        engine.dispose()
    if current != head:
        raise ConfigError(
            f"DATABASE_URL: the database schema is at {current or 'nothing'}, this version needs {head}. "
            "Run `incidentbot migrate` first."
        )


def _demo(_args: argparse.Namespace) -> int:
    from incidentbot.demo import run_demo

    return run_demo(sys.stdout)


def _serve(args: argparse.Namespace) -> int:
    from incidentbot.core.policy import load_policy
    from incidentbot.settings import require
    from incidentbot.webserver import serve

    settings = _settings()
    require(settings, "slack_bot_token", "slack_signing_secret", for_what="incidentbot serve")
    load_policy(settings.incidentbot_config)  # fail now, with the key named, not in a worker
    _require_current_schema(settings)
    serve(settings, host=args.host, port=args.port, workers=args.workers, threads=args.threads)
    return 0


def _run(_args: argparse.Namespace) -> int:
    from apscheduler.schedulers.background import BackgroundScheduler
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from incidentbot import worker
    from incidentbot.settings import require
    from incidentbot.slack.app import build_deps, create_app

    settings = _settings()
    require(settings, "slack_bot_token", "slack_signing_secret", "slack_app_token", for_what="incidentbot run")
    _require_current_schema(settings)
    deps = build_deps(settings)
    app = create_app(settings, deps=deps)
    scheduler = worker.schedule(BackgroundScheduler(timezone="UTC"), deps)
    scheduler.start()
    try:
        SocketModeHandler(app, settings.slack_app_token.get_secret_value()).start()
    finally:
        scheduler.shutdown(wait=False)
    return 0


def _worker(_args: argparse.Namespace) -> int:
    from incidentbot import worker
    from incidentbot.slack.app import build_deps

    settings = _settings()
    _require_current_schema(settings)
    worker.run(build_deps(settings))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from incidentbot.db import migrate

    settings = _settings()
    migrate(settings.database_url, args.revision)
    print(f"database is at revision {args.revision}")
    return 0


def _check(_args: argparse.Namespace) -> int:
    from incidentbot.core.policy import load_policy

    settings = _settings()
    policy = load_policy(settings.incidentbot_config)
    source = settings.incidentbot_config or "the shipped default"
    print(f"settings: ok\npolicy ({source}): ok: {len(policy.severities)} severities, "
          f"{len(policy.services)} services, {len(policy.roles)} roles, timezone {policy.timezone}")
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    from incidentbot.sandbox.server import SandboxServer

    server = SandboxServer(args.host, args.port)
    # The first line is the Web API URL, so scripts can read it (DESIGN: sandbox).
    print(server.api_url, flush=True)
    print(f"sandbox Slack running; try: SLACK_API_URL={server.api_url} SLACK_BOT_TOKEN=xoxb-sandbox "
          "SLACK_SIGNING_SECRET=<any> incidentbot serve --port 3000", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

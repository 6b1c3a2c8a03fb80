"""The ``incidentbot`` command.

Each subcommand imports what it needs when it runs, so ``incidentbot --help``
stays fast and no Slack client, engine or scheduler exists until asked for.
"""

from __future__ import annotations

import argparse
import os
import sys

from incidentbot import __version__
from incidentbot.cli_backlog import add_parser as add_backlog
from incidentbot.cli_digest import add_parser as add_digest
from incidentbot.cli_postmortem import add_parser as add_postmortem
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
    serve.add_argument("--port", type=int, default=None, help="default: $PORT or 3000")
    serve.add_argument("--workers", type=int, default=None,
                       help="gunicorn worker processes (default: $WEB_CONCURRENCY, or one per core up to 4)")
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

    timeline = sub.add_parser("timeline", help="print an incident's timeline (Markdown, CSV or JSON)")
    timeline.add_argument("incident", metavar="INC-<n>", help="the incident, e.g. INC-42")
    timeline.add_argument("--format", choices=("md", "csv", "json"), default="md", help="output format (default: md)")
    timeline.set_defaults(func=_timeline)

    importer = sub.add_parser("import", help="import past incidents (from a Slack export)")
    import_sub = importer.add_subparsers(title="sources", metavar="<source>")
    slack_export = import_sub.add_parser(
        "slack-export", help="create (or --update) an incident from one channel of a Slack workspace export")
    slack_export.add_argument("export_dir", metavar="<export-dir>",
                              help="the unpacked export (users.json, channels.json, a folder per channel) or its .zip")
    slack_export.add_argument("--channel", required=True, metavar="<name>", help="the incident's channel in the export")
    slack_export.add_argument("--update", action="store_true",
                              help="the channel was imported before: add only what is new")
    slack_export.set_defaults(func=_import_slack_export)
    importer.set_defaults(func=lambda _args: (importer.print_help(), 2)[1])

    add_postmortem(sub)
    add_backlog(sub)
    add_digest(sub)
    return parser


def _setup_logging(level: str = "INFO") -> None:
    from incidentbot import logsetup

    logsetup.configure(level)


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
    from incidentbot.webserver import default_workers, env_int, serve

    settings = _settings()
    require(settings, "slack_bot_token", "slack_signing_secret", for_what="incidentbot serve")
    port = args.port if args.port is not None else env_int("PORT", 3000)
    workers = args.workers if args.workers is not None else default_workers()
    load_policy(settings.incidentbot_config)  # fail now, with the key named, not in a worker
    _require_current_schema(settings)
    serve(settings, host=args.host, port=port, workers=workers, threads=args.threads)
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
    from incidentbot.settings import require_tracker

    settings = _settings()
    policy = load_policy(settings.incidentbot_config)
    tracker = require_tracker(settings)
    source = settings.incidentbot_config or "the shipped default"
    print(f"settings: ok\npolicy ({source}): ok: {len(policy.severities)} severities, "
          f"{len(policy.services)} services, {len(policy.roles)} roles, timezone {policy.timezone}\n"
          f"action item export: {tracker or 'off'}")
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


def _quiet_settings():
    """Settings for commands whose output is the point: only warnings are logged (unless LOG_LEVEL=DEBUG)."""
    from incidentbot.settings import load_settings

    settings = load_settings()
    _setup_logging("DEBUG" if settings.log_level.upper() == "DEBUG" else "WARNING")
    return settings


def _timeline(args: argparse.Namespace) -> int:
    from incidentbot.core import exporting, incidents
    from incidentbot.core.errors import NotFound
    from incidentbot.core.policy import load_policy
    from incidentbot.db import make_engine, session_scope

    settings = _quiet_settings()
    policy = load_policy(settings.incidentbot_config)
    _require_current_schema(settings)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as session:
            try:
                incident = incidents.by_reference(session, args.incident)
            except NotFound:
                print(f"There is no incident {args.incident}. Incidents are numbered like INC-42.", file=sys.stderr)
                return 1
            output = exporting.render(incident, exporting.timeline_rows(session, incident), args.format, policy)
    finally:
        engine.dispose()
    sys.stdout.write(output)
    return 0


def _import_slack_export(args: argparse.Namespace) -> int:
    from incidentbot import importing
    from incidentbot.core.errors import DomainError
    from incidentbot.core.policy import load_policy
    from incidentbot.db import make_engine, session_scope
    from incidentbot.slack_export import SlackExport, SlackExportError

    settings = _quiet_settings()
    policy = load_policy(settings.incidentbot_config)
    _require_current_schema(settings)
    try:
        export = SlackExport.open(args.export_dir)
        export.channel(args.channel)  # an unknown channel fails here, listing the ones there are
    except SlackExportError as error:
        print(f"incidentbot import: {error}", file=sys.stderr)
        return 1
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as session:
            result = importing.import_channel(session, policy, export, args.channel, update=args.update)
            report = _import_report(result, policy)
    except (SlackExportError, DomainError) as error:
        print(f"incidentbot import: {error}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(report)
    return 0


def _import_report(result, policy) -> str:
    incident = result.incident
    channel = result.inference.channel_name if result.inference else incident.channel_name
    if result.exists:
        return (f"#{channel} is already {incident.reference} (imported before, or declared with the bot); "
                "nothing added. Run again with --update to add what is new.")
    verb = "Created" if result.created else "Updated"
    lines = [f"{verb} {incident.reference} from #{channel}: {incident.title} ({incident.severity}, {incident.status})",
             f"  messages added: {result.messages_added}, timeline events added: {result.events_added} "
             f"({result.captured} pinned or marked with :{policy.timeline.capture_emoji}:)"]
    inference = result.inference
    for name, value in result.milestones.items():
        if value is None:
            continue
        evidence = inference.milestones.get(name) if inference else None
        why = f" (inferred: {evidence.rule})" if evidence and name in result.milestones_set else ""
        lines.append(f"  {name.removesuffix('_at'):<12} {value.astimezone(policy.tz):%Y-%m-%d %H:%M %Z}{why}")
    missing = [name.removesuffix("_at") for name, value in result.milestones.items()
               if value is None and name != "closed_at"]
    if missing:
        lines.append(f"  not clear from the history (left empty): {', '.join(missing)}")
    if getattr(incident, "detection", None):
        lines.append(f"  detected by: {incident.detection}")
    for note in inference.notes if inference else ():
        lines.append(f"  note: {note}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())

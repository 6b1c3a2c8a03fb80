"""``incidentbot backlog``: print the ranked reliability backlog (Markdown, CSV or JSON).

Reads ``DATABASE_URL`` and the policy (``INCIDENTBOT_CONFIG``) like the other commands.
Each item comes with its score's breakdown, linked incidents and action items. Items that
only private incidents link to are left out, and private incidents are counted rather
than listed, unless ``--include-private``. ``cli.py`` wires this in with ``add_parser``.
"""

from __future__ import annotations

import argparse
import sys

FORMATS = ("md", "csv", "json")  # core.backlog_export.FORMATS, without importing the domain for --help


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``backlog`` to the ``incidentbot`` command's subcommands."""
    parser = subparsers.add_parser(
        "backlog", help="print the reliability backlog, ranked, with each score's breakdown",
        description="The reliability backlog, highest score first: each item's score factor by factor, "
                    "its linked incidents and its action items.")
    parser.add_argument("--format", choices=FORMATS, default="md", help="output format (default: md)")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--service", metavar="S", help="only items concerning this service")
    scope.add_argument("--team", metavar="T", help="only items concerning this team's services")
    parser.add_argument("--all", action="store_true", help="include items already done or won't do")
    parser.add_argument("--include-private", action="store_true",
                        help="list private incidents and the items only they link to")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from incidentbot.cli import _quiet_settings, _require_current_schema
    from incidentbot.core import backlog, backlog_export
    from incidentbot.core.policy import load_policy
    from incidentbot.db import make_engine, session_scope
    from incidentbot.timeutil import utcnow

    settings = _quiet_settings()
    policy = load_policy(settings.incidentbot_config)
    problem = _unknown_scope(policy, args.service, args.team)
    if problem:
        print(f"incidentbot backlog: {problem}", file=sys.stderr)
        return 2
    _require_current_schema(settings)
    now = utcnow()
    statuses = ("open", "done", "wont_do") if args.all else ("open",)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as session:
            entries = backlog.ranked(session, policy, now=now, service=args.service, team=args.team,
                                     statuses=statuses, include_private=args.include_private)
            records = backlog_export.export(entries, now=now, include_private=args.include_private)
    finally:
        engine.dispose()
    sys.stdout.write(backlog_export.render(records, args.format, now=now, scope=_scope(args)))
    return 0


def _unknown_scope(policy, service: str | None, team: str | None) -> str | None:
    services = [s.name for s in policy.services]
    teams = sorted({s.team for s in policy.services})
    if service is not None and service not in services:
        return f"there is no service {service!r}; the policy lists: {', '.join(services) or 'none'}"
    if team is not None and team not in teams:
        return f"there is no team {team!r}; the policy lists: {', '.join(teams) or 'none'}"
    return None


def _scope(args: argparse.Namespace) -> str:
    where = f"service {args.service}" if args.service else f"team {args.team}" if args.team else "all services"
    return where + (", open and closed items" if args.all else ", open items")

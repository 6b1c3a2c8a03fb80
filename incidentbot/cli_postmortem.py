"""``incidentbot postmortem draft``: draft a postmortem from the command line.

Two sources: an incident in the database (``INC-<n>``) or any Slack export
(``--slack-export DIR --channel NAME``), which needs no database and no Slack token. The
draft is printed as Markdown (default) or one JSON object (``--format json``). A model is
used when ``OPENAI_API_KEY`` is set, unless ``--offline``.

``cli.py`` wires this in with ``add_parser``; ``python -m incidentbot.cli_postmortem draft …``
runs it on its own.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from pathlib import Path

from incidentbot.errors import ConfigError

_INCIDENT = re.compile(r"^(?:INC-)?(\d+)$", re.I)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``postmortem`` (with ``draft``) to the ``incidentbot`` command's subcommands."""
    postmortem = subparsers.add_parser("postmortem", help="draft a postmortem (from the database or a Slack export)")
    commands = postmortem.add_subparsers(title="postmortem commands", metavar="<command>")
    draft = commands.add_parser(
        "draft", help="draft the postmortem of an incident and print it",
        description="Draft a blameless postmortem from an incident channel's history. Secrets and e-mail "
                    "addresses are redacted before anything is printed or sent to a model.")
    draft.add_argument("incident", nargs="?", help="INC-<n>: an incident in the database")
    draft.add_argument("--slack-export", metavar="DIR", type=Path, help="a Slack export folder (or its .zip)")
    draft.add_argument("--channel", metavar="NAME", help="the incident channel in the export")
    draft.add_argument("--format", choices=("md", "json"), default="md", help="output format (default: md)")
    draft.add_argument("--offline", action="store_true", help="never call a model, even if OPENAI_API_KEY is set")
    draft.add_argument("--title", help="the incident's title (default: from the channel purpose or name)")
    draft.add_argument("--template-dir", type=Path, metavar="DIR",
                       help="a folder with your own postmortem.md.j2 (Markdown output)")
    draft.set_defaults(func=run_draft)
    postmortem.set_defaults(func=lambda _args: (postmortem.print_help(), 2)[1])
    return postmortem


def run_draft(args: argparse.Namespace) -> int:
    _setup_logging()
    if args.slack_export is None:
        if args.incident and _INCIDENT.match(args.incident):
            return _draft_from_database(args)
        print("incidentbot: give INC-<n> or --slack-export DIR --channel NAME", file=sys.stderr)
        return 2
    if not args.channel:
        print("incidentbot: --slack-export needs --channel NAME", file=sys.stderr)
        return 2
    from incidentbot.slack_export import SlackExport, SlackExportError

    try:
        export = SlackExport.open(args.slack_export)
        from incidentbot.drafting.history import from_export

        history = from_export(export, args.channel)
    except SlackExportError as error:
        print(f"incidentbot: {error}", file=sys.stderr)
        return 2
    print(_draft_text(history, args), end="")
    return 0


def _draft_from_database(args: argparse.Namespace) -> int:
    """Draft from what the bot stored: the channel's captured messages and the timeline."""
    from incidentbot.core import incidents, messages, timeline
    from incidentbot.core.errors import NotFound
    from incidentbot.db import make_engine, session_scope
    from incidentbot.drafting.history import from_rows

    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as session:
            incident = incidents.by_reference(session, args.incident)
            rows = messages.for_incident(session, incident)
            events = timeline.events(session, incident)
            history = from_rows(rows, events, {}, channel=incident.channel_name or "", title=incident.title)
    except NotFound as error:
        print(f"incidentbot: {error}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if args.title is None:
        args.title = history.title
    print(_draft_text(history, args), end="")
    return 0


def _draft_text(history, args: argparse.Namespace) -> str:
    from incidentbot.drafting.draft import draft_postmortem
    from incidentbot.drafting.render import render_json, render_markdown

    from incidentbot.core.policy import load_policy
    from incidentbot.drafting.draft import policy_options

    mode = "offline" if args.offline else "auto"
    settings = _settings()
    # The policy's own redaction patterns apply offline too: the output may be shared.
    policy = load_policy(settings.incidentbot_config)
    draft = draft_postmortem(history, title=args.title, mode=mode, settings=None if args.offline else settings,
                             **policy_options(policy))
    if args.format == "json":
        return render_json(draft) + "\n"
    return render_markdown(draft, template_dir=args.template_dir)


def _settings():
    from incidentbot.settings import load_settings

    return load_settings()


def _setup_logging() -> None:
    # stdout is the draft (often piped into a file or jq); diagnostics go to stderr.
    from incidentbot import logsetup

    level = os.environ.get("LOG_LEVEL", "WARNING").upper()
    logsetup.configure(level if level in logging.getLevelNamesMapping() else "WARNING", stream=sys.stderr,
                       fmt="%(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> int:
    """``python -m incidentbot.cli_postmortem draft …`` (a leading ``postmortem`` is optional)."""
    parser = argparse.ArgumentParser(prog="incidentbot")
    add_parser(parser.add_subparsers())
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv if argv[:1] == ["postmortem"] else ["postmortem", *argv])
    try:
        return int(args.func(args) or 0)
    except ConfigError as error:
        print(f"incidentbot: configuration error\n{error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""``incidentbot digest``: print the weekly incident digest (Markdown, HTML, Slack blocks or JSON).

Reads ``DATABASE_URL`` and the policy (``INCIDENTBOT_CONFIG``) like the other commands,
builds the digest of one ISO week (``core.digest.build``; by default the last complete
week in the policy's timezone) and prints it. ``--narrative`` adds a paragraph written by
a model (``OPENAI_API_KEY``) from the digest's numbers; ``--chart FILE`` also writes the
PNG chart. ``cli.py`` wires this in with ``add_parser``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

FORMATS = ("md", "html", "slack", "json")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``digest`` to the ``incidentbot`` command's subcommands."""
    parser = subparsers.add_parser(
        "digest", help="print the weekly incident digest (Markdown, HTML, Slack blocks or JSON)",
        description="The weekly incident digest of one ISO week: counts, response times with their sample "
                    "sizes, error budgets, postmortems, action items and the backlog. Private incidents are "
                    "counted, never named.")
    parser.add_argument("--week", metavar="YYYY-Www",
                        help="the ISO week, e.g. 2026-W47 (default: the last complete week in the policy's timezone)")
    parser.add_argument("--format", choices=FORMATS, default="md",
                        help="md (default), html (for e-mail), slack (the message: text and Block Kit blocks, "
                             "as JSON) or json (the data)")
    parser.add_argument("--narrative", action="store_true",
                        help="add a paragraph written by a model from the numbers (needs OPENAI_API_KEY)")
    parser.add_argument("--chart", type=Path, metavar="FILE", help="also write the chart, as PNG, to FILE")
    parser.add_argument("--template-dir", type=Path, metavar="DIR",
                        help="a folder with your own digest.md.j2 / digest.html.j2")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from incidentbot.cli import _quiet_settings, _require_current_schema
    from incidentbot.core.digest_report import Week
    from incidentbot.core.errors import InvalidInput
    from incidentbot.core.policy import load_policy
    from incidentbot.timeutil import utcnow

    settings = _quiet_settings()
    policy = load_policy(settings.incidentbot_config)
    now = utcnow()
    try:
        week = Week.parse(args.week, policy) if args.week else Week.containing(now, policy).previous(policy)
    except InvalidInput as error:
        print(f"incidentbot digest: {error}", file=sys.stderr)
        return 2
    if week.start > now:
        print(f"incidentbot digest: {week.label} has not started yet; give a week up to the current one.",
              file=sys.stderr)
        return 2
    try:
        from incidentbot.core.digest import build
    except ImportError:
        print("incidentbot digest: this version has no digest builder (incidentbot.core.digest).", file=sys.stderr)
        return 1
    _require_current_schema(settings)

    from incidentbot.db import make_engine, session_scope

    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as session:
            digest = build(session, policy, week, now=now)
    finally:
        engine.dispose()
    if args.narrative:
        from incidentbot.digest_narrative import write_narrative

        paragraph = write_narrative(digest, settings)
        if paragraph is None:
            print("incidentbot digest: no narrative (no model configured, or the model failed; see the log)",
                  file=sys.stderr)
        digest = replace(digest, narrative=paragraph)
    if args.chart:
        from incidentbot.digest_chart import chart_png

        args.chart.write_bytes(chart_png(digest))
    sys.stdout.write(render(digest, policy, args.format, template_dir=args.template_dir))
    return 0


def render(digest, policy, output: str, *, template_dir: Path | None = None) -> str:
    """The digest in one of ``FORMATS``, ending with a newline."""
    from incidentbot import digest_render

    if output == "md":
        text = digest_render.markdown(digest, policy, template_dir=template_dir)
    elif output == "html":
        text = digest_render.html(digest, policy, template_dir=template_dir)
    elif output == "slack":
        fallback, blocks = digest_render.slack_message(digest, policy)
        text = json.dumps({"text": fallback, "blocks": blocks}, indent=2, ensure_ascii=False)
    elif output == "json":
        text = json.dumps(digest_render.to_json(digest), indent=2, ensure_ascii=False)
    else:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {output!r}")
    return text if text.endswith("\n") else text + "\n"

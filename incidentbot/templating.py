"""Jinja2 templates for long-form output (transcripts, and later postmortems and digests).

Templates live in the top-level ``templates/`` folder (shipped inside the wheel as
``incidentbot/_templates``). An operator can override any of them by putting a
file with the same name in a folder of their own and passing it as ``override_dir``.
HTML is autoescaped; Markdown and text are not (they are escaped where they are
built).
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape


def shipped_templates_dir() -> Path:
    package = Path(__file__).resolve().parent
    for candidate in (package.parent / "templates", package / "_templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("templates/ not found next to the incidentbot package")


def environment(override_dir: Path | None = None) -> Environment:
    loaders = [FileSystemLoader(str(override_dir))] if override_dir else []
    loaders.append(FileSystemLoader(str(shipped_templates_dir())))
    return Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(enabled_extensions=("html", "htm", "xml", "html.j2", "htm.j2", "xml.j2"),
                                      default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render(name: str, override_dir: Path | None = None, **context: object) -> str:
    return environment(override_dir).get_template(name).render(**context)

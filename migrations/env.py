"""Alembic environment: migrates the database named by the config or DATABASE_URL."""

from __future__ import annotations


from alembic import context
from sqlmodel import SQLModel

import incidentbot.models  # noqa: F401  (fills SQLModel.metadata)
from incidentbot.db import make_engine
from incidentbot.timeutil import UTCDateTime

config = context.config
target_metadata = SQLModel.metadata


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from incidentbot.settings import load_settings

    return load_settings().database_url


def _render_item(type_, obj, autogen_context):
    """Write our column types into revisions as plain SQLAlchemy types.

    Revisions must not import application code that may change later.
    """
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and obj.__class__.__module__.startswith("sqlmodel"):
        length = getattr(obj, "length", None)
        return f"sa.String(length={length})" if length else "sa.String()"
    return False


def _configure(**kwargs) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_item=_render_item,
        compare_type=True,
        render_as_batch=True,  # SQLite needs batch mode to alter tables
        **kwargs,
    )


def run_offline() -> None:
    _configure(url=_database_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(_database_url())
    with engine.connect() as connection:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()

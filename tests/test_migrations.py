"""The migrations build exactly the schema the models describe, on both databases."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from incidentbot import db


# SQLite can't reflect expression indexes, so Alembic skips comparing
# ix_incident_impact_end there (tests/core/test_postmortems.py checks it exists on both).
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_upgrade_from_empty_reaches_head_without_drift(database_url):
    db.migrate(database_url)
    engine = db.make_engine(database_url)
    try:
        current, head = db.schema_revision(engine)
        assert current == head
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, SQLModel.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        tables = set(inspect(engine).get_table_names())
        assert {"incident", "timeline_event", "role_assignment", "processed_event"} <= tables
    finally:
        engine.dispose()


def test_upgrade_is_repeatable(database_url):
    db.migrate(database_url)
    db.migrate(database_url)  # a second release must be a no-op, not an error


def test_downgrade_to_base_and_back(database_url):
    from alembic import command

    db.migrate(database_url)
    command.downgrade(db.alembic_config(database_url), "base")
    engine = db.make_engine(database_url)
    try:
        assert "incident" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    db.migrate(database_url)

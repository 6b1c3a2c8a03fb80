"""incidentbot.db when the database cannot be reached: which errors mean that, and the
sweep lock that skips a sweep instead of raising into the scheduler. The unreachable
server is a free loopback port with nothing listening (connection refused at once)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import exc, text

from incidentbot import db
from pgserver import free_port


def unreachable_url() -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing_here"


def raised_by(engine) -> Exception:
    with pytest.raises(Exception) as caught:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    return caught.value


def test_a_refused_connection_is_unavailable_and_a_refused_write_is_not(engine):
    down = db.make_engine(unreachable_url())
    try:
        assert db.unavailable(raised_by(down))
    finally:
        down.dispose()
    with pytest.raises(exc.IntegrityError) as caught, engine.begin() as connection:
        for _ in range(2):
            connection.execute(text("INSERT INTO processed_event (key, kind, received_at) "
                                    "VALUES ('event:Ev1', 'message', CURRENT_TIMESTAMP)"))
    assert not db.unavailable(caught.value)


def test_unavailable_follows_explicit_causes_only():
    lost = exc.OperationalError("SELECT 1", {}, OSError("server closed the connection unexpectedly"))
    try:
        raise RuntimeError("could not refresh the card") from lost
    except RuntimeError as wrapped:
        assert db.unavailable(wrapped)
    assert db.unavailable(exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached"))
    assert not db.unavailable(ValueError("a bug"))
    assert not db.unavailable(None)
    assert db.describe(lost) == "OSError: server closed the connection unexpectedly"


def test_answers(engine):
    assert db.answers(engine)
    down = db.make_engine(unreachable_url())
    try:
        assert not db.answers(down)
    finally:
        down.dispose()


def test_a_sweep_without_its_database_is_skipped_with_one_warning(caplog):
    caplog.set_level(logging.WARNING, logger="incidentbot.db")
    down = db.make_engine(unreachable_url())
    try:
        with db.sweep_lock(down, "nudges") as mine:
            assert mine is False
    finally:
        down.dispose()
    [record] = [r for r in caplog.records if r.name == "incidentbot.db"]
    assert record.getMessage().startswith("nudges sweep skipped: the database is unavailable (OperationalError: ")


def test_a_bug_in_a_sweep_still_raises_and_its_lock_is_released(engine):
    with pytest.raises(ZeroDivisionError):
        with db.sweep_lock(engine, "nudges") as mine:
            assert mine
            1 / 0  # noqa: B018 - a bug inside the sweep is not a database outage
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            held = connection.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")).scalar()
        assert held == 0

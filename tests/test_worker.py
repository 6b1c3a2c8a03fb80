"""The scheduler's wrapper around each sweep (incidentbot/worker.py): a database that
goes away halfway through a sweep is logged, not raised into APScheduler."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from incidentbot import db, worker
from pgserver import free_port


def database_gone() -> Exception:
    engine = db.make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing_here")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        return error
    finally:
        engine.dispose()
    raise AssertionError("a closed port answered")


def test_a_sweep_that_loses_the_database_logs_one_line_and_returns(caplog):
    error = database_gone()

    def send_nudges(deps):
        raise error

    wrapped = worker._quiet_when_database_down(send_nudges)
    with caplog.at_level(logging.WARNING, logger="incidentbot.worker"):
        assert wrapped(object()) == 0
    assert wrapped.__name__ == "send_nudges"
    [record] = caplog.records
    assert record.getMessage().startswith("send_nudges stopped: the database is unavailable (")


def test_a_bug_in_a_sweep_still_raises():
    def send_nudges(deps):
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        worker._quiet_when_database_down(send_nudges)(object())

"""Channel messages: stored once per (channel, ts), edits, deletions, exact times."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from incidentbot.core import incidents, messages
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy
from incidentbot.models import ChannelMessage

CHANNEL = "C0INC1"


@pytest.fixture
def incident(session):
    created, _ = incidents.declare(session, load_policy(), Declaration("Queue backlog", "SEV2", "U1"))
    incidents.attach_channel(session, created, CHANNEL, "inc-1")
    session.commit()
    return created


def slack_message(ts: str, text: str = "hello", **extra) -> dict:
    return {"type": "message", "ts": ts, "user": "U0ALICE", "text": text, "team": "T0", **extra}


def test_a_message_is_stored_with_its_fields(session, incident):
    row, created = messages.store(session, incident, CHANNEL, slack_message(
        "1732190000.000100", "db is down", thread_ts="1732180000.000200",
        reactions=[{"name": "eyes", "users": ["U0BOB"], "count": 1}],
        files=[{"id": "F1", "name": "graph.png"}], edited={"user": "U0ALICE", "ts": "1732190060.000000"},
        channel_type="channel", event_ts="1732190000.000100"), source="event")
    session.commit()
    assert created
    session.expire_all()
    stored = session.get(ChannelMessage, row.id)
    assert (stored.incident_id, stored.channel_id, stored.ts, stored.thread_ts) == (
        incident.id, CHANNEL, "1732190000.000100", "1732180000.000200")
    assert (stored.user_id, stored.bot_id, stored.subtype, stored.text, stored.source) == (
        "U0ALICE", None, None, "db is down", "event")
    assert stored.posted_at == datetime(2024, 11, 21, 11, 53, 20, 100, tzinfo=timezone.utc)
    assert stored.edited_at == datetime(2024, 11, 21, 11, 54, 20, tzinfo=timezone.utc)
    assert stored.data["reactions"][0]["name"] == "eyes" and stored.data["files"][0]["id"] == "F1"
    assert {"ts", "text", "user", "channel_type", "event_ts", "edited"}.isdisjoint(stored.data)
    assert stored.deleted is False


def test_bot_messages_and_subtypes_are_stored_too(session, incident):
    bot, _ = messages.store(session, incident, CHANNEL, {"type": "message", "subtype": "bot_message", "ts": "1.000001",
                                                       "bot_id": "B0ALERTS", "text": "p99 latency > 2s"}, source="event")
    join, _ = messages.store(session, incident, CHANNEL, slack_message("2.000001", "<@U0BOB> has joined",
                                                                       subtype="channel_join"), source="backfill")
    session.commit()
    assert (bot.bot_id, bot.user_id, bot.subtype) == ("B0ALERTS", None, "bot_message")
    assert (join.subtype, join.source) == ("channel_join", "backfill")


def test_the_same_message_twice_is_one_row(session, incident):
    first, created = messages.store(session, incident, CHANNEL, slack_message("1732190000.000100"), source="event")
    again, created_again = messages.store(session, incident, CHANNEL, slack_message("1732190000.000100", "other"),
                                          source="backfill")
    session.commit()
    assert created and not created_again and first.id == again.id
    assert again.text == "hello" and again.source == "event"
    # The same ts in another channel is another message.
    _other, created_elsewhere = messages.store(session, incident, "C0OTHER", slack_message("1732190000.000100"),
                                               source="event")
    assert created_elsewhere


def test_an_unknown_source_is_refused(session, incident):
    with pytest.raises(ValueError, match="source"):
        messages.store(session, incident, CHANNEL, slack_message("1.0"), source="guess")


def test_concurrent_stores_of_one_message_keep_one_row(engine, incident):
    """Two deliveries of one message at once (two web workers): one row, no error."""
    incident_id = incident.id

    def deliver(_):
        with Session(engine) as session:
            row, created = messages.store(session, incidents.get(session, incident_id), CHANNEL, slack_message("1732190000.000100"), source="event")
            session.commit()
            return created

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(deliver, range(8)))
    assert results.count(True) == 1
    with Session(engine) as session:
        assert messages.known_ts(session, CHANNEL) == {"1732190000.000100"}


def test_a_lost_race_keeps_the_callers_other_work(session, incident, engine, monkeypatch):
    """The savepoint: an IntegrityError on the message does not roll back the transaction."""
    with Session(engine) as other:
        messages.store(other, incident, CHANNEL, slack_message("5.000000"), source="event")
        other.commit()
    messages.store(session, incident, CHANNEL, slack_message("6.000000"), source="event")
    # The first lookup misses the row the other session stored (the race window).
    real_get, calls = messages.get, []

    def racy_get(s, channel, ts):
        calls.append(ts)
        return None if len(calls) == 1 else real_get(s, channel, ts)

    monkeypatch.setattr(messages, "get", racy_get)
    row, created = messages.store(session, incident, CHANNEL, slack_message("5.000000", "dupe"), source="event")
    session.commit()
    assert not created and row.text == "hello" and len(calls) == 2
    assert messages.known_ts(session, CHANNEL) == {"5.000000", "6.000000"}


def test_edits_apply_newest_first_whatever_the_order(session, incident):
    messages.store(session, incident, CHANNEL, slack_message("10.000000", "v1"), source="event")
    t2, t3 = (datetime(2026, 1, 1, 12, m, tzinfo=timezone.utc) for m in (2, 3))
    assert messages.edit(session, CHANNEL, "10.000000", "v3", t3).text == "v3"
    assert messages.edit(session, CHANNEL, "10.000000", "v2", t2).text == "v3"  # an older edit, late
    session.commit()
    session.expire_all()
    row = messages.get(session, CHANNEL, "10.000000")
    assert (row.text, row.edited_at) == ("v3", t3)
    assert messages.edit(session, CHANNEL, "99.000000", "x", t3) is None


def test_deleted_messages_are_kept_but_left_out(session, incident):
    for ts in ("1.000000", "2.000000"):
        messages.store(session, incident, CHANNEL, slack_message(ts, f"m{ts}"), source="event")
    assert messages.delete(session, CHANNEL, "1.000000").deleted
    assert messages.delete(session, CHANNEL, "1.000000").deleted  # twice: still fine
    assert messages.delete(session, CHANNEL, "3.000000") is None
    session.commit()
    assert [m.ts for m in messages.for_incident(session, incident)] == ["2.000000"]
    assert [m.ts for m in messages.for_incident(session, incident, include_deleted=True)] == ["1.000000", "2.000000"]
    assert messages.known_ts(session, CHANNEL) == {"1.000000", "2.000000"}


def test_for_incident_is_oldest_first_with_threads_in_place(session, incident):
    parent, reply, later, other_incident = "100.000001", "100.000500", "100.000200", "100.000300"
    for ts, extra in ((reply, {"thread_ts": parent}), (later, {}), (parent, {"thread_ts": parent})):
        messages.store(session, incident, CHANNEL, slack_message(ts, **extra), source="event")
    messages.store(session, None, "C0ELSE", slack_message(other_incident), source="import")
    session.commit()
    assert [m.ts for m in messages.for_incident(session, incident)] == [parent, later, reply]
    assert messages.thread_counts(session, CHANNEL) == {parent: 1}


@pytest.mark.parametrize(("ts", "expected"), [
    ("1732190000.000100", datetime(2024, 11, 21, 11, 53, 20, 100, tzinfo=timezone.utc)),
    ("1732190000.999999", datetime(2024, 11, 21, 11, 53, 20, 999999, tzinfo=timezone.utc)),
    ("1732190000", datetime(2024, 11, 21, 11, 53, 20, tzinfo=timezone.utc)),
    ("1732190000.5", datetime(2024, 11, 21, 11, 53, 20, 500000, tzinfo=timezone.utc)),
])
def test_ts_to_datetime_is_exact(ts, expected):
    assert messages.ts_to_datetime(ts) == expected
    assert messages.ts_to_datetime(messages.datetime_to_ts(expected)) == expected


def test_ts_to_datetime_refuses_garbage():
    for bad in ("", "abc", "1.2.3", "-1.0", "1.1234567"):
        with pytest.raises(ValueError):
            messages.ts_to_datetime(bad)


def test_messages_across_a_dst_change_keep_their_order_and_instant(session, incident):
    """Europe/Copenhagen falls back at 03:00 CEST on 2026-10-25: 02:30 happens twice. Two
    messages an hour apart, both at "02:30" local, are stored an hour apart in UTC."""
    zone = ZoneInfo("Europe/Copenhagen")
    first = datetime(2026, 10, 25, 2, 30, tzinfo=zone, fold=0)   # 00:30 UTC
    second = datetime(2026, 10, 25, 2, 30, tzinfo=zone, fold=1)  # 01:30 UTC
    for moment, text in ((second, "second"), (first, "first")):
        messages.store(session, incident, CHANNEL, slack_message(messages.datetime_to_ts(moment), text), source="event")
    session.commit()
    session.expire_all()
    stored = messages.for_incident(session, incident)
    assert [m.text for m in stored] == ["first", "second"]
    assert [m.posted_at for m in stored] == [datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc),
                                            datetime(2026, 10, 25, 1, 30, tzinfo=timezone.utc)]
    assert stored[1].posted_at - stored[0].posted_at == timedelta(hours=1)
    assert all(m.posted_at.tzinfo == timezone.utc for m in stored)


def test_incidents_to_backfill(session, incident):
    now = datetime.now(timezone.utc)
    assert messages.to_backfill(session, resolved_after=now) == []  # not provisioned yet
    incidents.record_provisioning(session, incident.id, finished_at=now)
    session.commit()
    session.refresh(incident)
    assert [i.id for i in messages.to_backfill(session, resolved_after=now)] == [incident.id]
    incident.resolved_at = now - timedelta(days=1)
    session.add(incident)
    session.commit()
    assert [i.id for i in messages.to_backfill(session, resolved_after=now - timedelta(days=7))] == [incident.id]
    assert messages.to_backfill(session, resolved_after=now) == []
    incident.closed_at = now
    session.add(incident)
    session.commit()
    assert messages.to_backfill(session, resolved_after=now - timedelta(days=7)) == []


def test_two_edits_at_once_the_newer_wins_even_when_the_older_commits_last(engine, incident):
    """Edit v3 holds its transaction open while edit v2 (older) is handled: v2 waits for
    v3 (row lock; SQLite's write lock) and then finds it newer, instead of overwriting it."""
    with Session(engine) as setup:
        messages.store(setup, incident, CHANNEL, slack_message("1732190000.000100", "v1"), source="event")
        setup.commit()
    newer, older = (datetime(2026, 1, 1, 0, 0, second, tzinfo=timezone.utc) for second in (10, 5))

    def edit_older() -> None:
        with Session(engine) as session:
            messages.edit(session, CHANNEL, "1732190000.000100", "v2", older)
            session.commit()
    with Session(engine) as first, ThreadPoolExecutor(max_workers=1) as pool:
        messages.edit(first, CHANNEL, "1732190000.000100", "v3", newer)
        second = pool.submit(edit_older)
        time.sleep(0.3)  # let the older edit reach its lock (if it got past, it reads v3 anyway)
        first.commit()
        second.result()
    with Session(engine) as check:
        row = messages.get(check, CHANNEL, "1732190000.000100")
        assert (row.text, row.edited_at) == ("v3", newer)

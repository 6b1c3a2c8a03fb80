"""Owner reminders about action items: when each is due (business hours, weekends, holidays,
DST in Copenhagen, snoozes, repeats, moved due dates) and that each is sent exactly once."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import event
from sqlmodel import Session, select

from incidentbot.core import action_item_reminders as reminders
from incidentbot.core import action_items, due_dates, incidents
from incidentbot.core.action_items import NewActionItem
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import parse_policy
from incidentbot.models import ActionItem, Notification

UTC = timezone.utc
CPH = ZoneInfo("Europe/Copenhagen")
# Danish Easter 2026: Maundy Thursday 2 April, Good Friday 3 April, Easter Monday 6 April.
POLICY_TOML = ('timezone = "Europe/Copenhagen"\n'
               '[business_hours]\nholidays = [2026-04-02, 2026-04-03, 2026-04-06]\n')
POLICY = parse_policy(POLICY_TOML)  # reminders 3 days before, then weekly while overdue
ALICE, BOB = "U0ALICE", "U0BOB"


def cph(*args) -> datetime:
    return datetime(*args, tzinfo=CPH).astimezone(UTC)


def add(engine, due: date, *, created: datetime, owner: str | None = BOB, policy=POLICY) -> ActionItem:
    with freeze_time(created), Session(engine, expire_on_commit=False) as session:
        incident, _ = incidents.declare(session, policy, Declaration(
            title="Checkout failing", severity="SEV2", declared_by=ALICE))
        item = action_items.create(session, policy, incident, NewActionItem(
            title="Add an alert on checkout errors", owner=owner, due=due), actor=ALICE, now=created).item
        session.commit()
    return item


def sweep(engine, now, policy=POLICY) -> list[tuple[str, int, datetime]]:
    """What a worker does: claim and commit, "post", mark sent and commit."""
    sent = []
    with Session(engine) as session:
        for reminder in reminders.due_reminders(session, policy, now):
            claimed = reminders.claim_reminder(session, reminder, now)
            session.commit()
            if claimed is not None:
                reminders.mark_reminder_sent(session, claimed, channel_id=reminder.owner, message_ts="1.0", now=now)
                session.commit()
                sent.append((reminder.kind, reminder.overdue_count, now))
    return sent


def run_worker(engine, start, end, step=timedelta(hours=1), policy=POLICY):
    """Sweeps every ``step`` on the clock (every hour on the hour) from ``start`` to ``end``."""
    sent = []
    now = start + (datetime.min.replace(tzinfo=UTC) - start) % step
    while now <= end:
        sent += sweep(engine, now, policy)
        now += step
    return sent


def local(sent) -> list[tuple[str, int, str]]:
    return [(kind, n, at.astimezone(CPH).strftime("%a %d %b %H:%M %Z")) for kind, n, at in sent]


def test_due_soon_then_overdue_then_weekly_while_open(engine):
    item = add(engine, date(2026, 11, 20), created=cph(2026, 11, 2, 10))  # due Friday 20 November, 17:00
    assert item.due_at == cph(2026, 11, 20, 17)
    sent = run_worker(engine, cph(2026, 11, 2, 10), cph(2026, 12, 8, 12))
    assert local(sent) == [
        ("due_soon", 0, "Tue 17 Nov 09:00 CET"),  # three days before the due day, in the morning
        ("overdue", 1, "Mon 23 Nov 09:00 CET"),  # due Friday 17:00: the next business morning
        ("overdue", 2, "Mon 30 Nov 09:00 CET"),  # a week after the due moment
        ("overdue", 3, "Mon 07 Dec 09:00 CET"),
    ]
    with Session(engine) as session:
        keys = [n.key for n in session.exec(select(Notification).order_by(Notification.id))]
    due = item.due_at.isoformat()
    assert keys == [f"action_item:due_soon:{item.id}:{due}", f"action_item:overdue:{item.id}:{due}:1",
                    f"action_item:overdue:{item.id}:{due}:2", f"action_item:overdue:{item.id}:{due}:3"]


@pytest.mark.parametrize("due, due_soon, overdue", [
    # A Monday deadline is announced on Friday (three days before is Friday), not on Monday.
    (date(2026, 11, 23), "Fri 20 Nov 09:00 CET", "Tue 24 Nov 09:00 CET"),
    # Three days before Tuesday is a Saturday: the business day before it.
    (date(2026, 11, 24), "Fri 20 Nov 09:00 CET", "Wed 25 Nov 09:00 CET"),
    # Due Thursday: Monday morning; overdue Friday morning.
    (date(2026, 11, 26), "Mon 23 Nov 09:00 CET", "Fri 27 Nov 09:00 CET"),
])
def test_weekends_move_reminders_into_business_days(engine, due, due_soon, overdue):
    add(engine, due, created=cph(2026, 11, 2, 10))
    sent = run_worker(engine, cph(2026, 11, 2, 10), cph(2026, 11, 30, 8))
    assert local(sent) == [("due_soon", 0, due_soon), ("overdue", 1, overdue)]


def test_clocks_going_back_do_not_move_the_weekly_reminder_into_friday_afternoon(engine):
    # Due Friday 23 October 17:00 CEST (15:00 UTC); the clocks go back on Sunday 25 October.
    # A week after the due moment is Friday 30 October 17:00 CET (16:00 UTC), after hours,
    # so the second reminder is on Monday, not at 16:00 on Friday.
    item = add(engine, date(2026, 10, 23), created=cph(2026, 10, 1, 10))
    assert item.due_at == datetime(2026, 10, 23, 15, tzinfo=UTC)
    sent = run_worker(engine, cph(2026, 10, 1, 10), cph(2026, 11, 3, 12))
    assert local(sent) == [
        ("due_soon", 0, "Tue 20 Oct 09:00 CEST"),
        ("overdue", 1, "Mon 26 Oct 09:00 CET"),
        ("overdue", 2, "Mon 02 Nov 09:00 CET"),
    ]
    assert sent[1][2] == datetime(2026, 10, 26, 8, tzinfo=UTC)  # 09:00 CET is an hour later in UTC


def test_spring_forward_and_easter_holidays(engine):
    # Due Friday 27 March 17:00 CET (16:00 UTC); summer time from Sunday 29 March.
    add(engine, date(2026, 3, 27), created=cph(2026, 3, 2, 10))
    sent = run_worker(engine, cph(2026, 3, 2, 10), cph(2026, 4, 8, 12))
    assert local(sent) == [
        ("due_soon", 0, "Tue 24 Mar 09:00 CET"),
        ("overdue", 1, "Mon 30 Mar 09:00 CEST"),
        # A week after the due moment is Good Friday; Easter Monday too is a holiday.
        ("overdue", 2, "Tue 07 Apr 09:00 CEST"),
    ]
    assert [at for _, _, at in sent][1] == datetime(2026, 3, 30, 7, tzinfo=UTC)


def test_snooze_holds_reminders_until_it_ends(engine):
    item = add(engine, date(2026, 11, 20), created=cph(2026, 11, 2, 10))
    assert [k for k, _, _ in run_worker(engine, cph(2026, 11, 2, 10), cph(2026, 11, 23, 9))] == ["due_soon", "overdue"]
    snoozed = cph(2026, 11, 23, 10)
    with Session(engine) as session:
        until = action_items.snooze(session, POLICY, session.get(ActionItem, item.id), now=snoozed)
        session.commit()
    assert until == cph(2026, 11, 30, 10)
    # The weekly reminder falls due Monday 09:00, inside the snooze: sent when it ends.
    sent = run_worker(engine, snoozed, cph(2026, 12, 7, 12))
    assert local(sent) == [("overdue", 2, "Mon 30 Nov 10:00 CET"), ("overdue", 3, "Mon 07 Dec 09:00 CET")]


def test_a_snooze_over_the_due_date_skips_the_due_soon_reminder(engine):
    item = add(engine, date(2026, 11, 20), created=cph(2026, 11, 2, 10))
    with Session(engine) as session:
        action_items.snooze(session, POLICY, session.get(ActionItem, item.id), now=cph(2026, 11, 16, 12))
        session.commit()
    sent = run_worker(engine, cph(2026, 11, 2, 10), cph(2026, 11, 24, 12))
    assert local(sent) == [("overdue", 1, "Mon 23 Nov 12:00 CET")]  # the snooze ended at 12:00


def test_once_when_overdue_repeat_days_is_zero(engine):
    policy = parse_policy(POLICY_TOML + "[action_items]\noverdue_repeat_days = 0\n")
    add(engine, date(2026, 11, 20), created=cph(2026, 11, 2, 10), policy=policy)
    sent = run_worker(engine, cph(2026, 11, 21, 10), cph(2026, 12, 20, 12), step=timedelta(hours=2), policy=policy)
    assert [(k, n) for k, n, _ in sent] == [("overdue", 1)]


def test_a_moved_due_date_gets_reminders_of_its_own(engine):
    item = add(engine, date(2026, 11, 20), created=cph(2026, 11, 2, 10))
    assert local(run_worker(engine, cph(2026, 11, 16, 8), cph(2026, 11, 18, 12))) == [
        ("due_soon", 0, "Tue 17 Nov 09:00 CET")]
    with Session(engine) as session:  # the owner asks for two more weeks
        moved = session.get(ActionItem, item.id)
        moved.due_at = due_dates.due_moment(POLICY, date(2026, 12, 4))
        session.add(moved)
        session.commit()
    sent = run_worker(engine, cph(2026, 11, 18, 12), cph(2026, 12, 7, 12))
    assert local(sent) == [("due_soon", 0, "Tue 01 Dec 09:00 CET"), ("overdue", 1, "Mon 07 Dec 09:00 CET")]


def test_no_reminders_for_finished_unowned_new_or_switched_off_items(engine):
    done = add(engine, date(2026, 11, 20), created=cph(2026, 11, 2, 10))
    with Session(engine) as session:
        action_items.set_status(session, session.get(ActionItem, done.id), "done", actor=BOB, now=cph(2026, 11, 3, 10))
        session.commit()
    add(engine, date(2026, 11, 20), created=cph(2026, 11, 2, 10), owner=None)
    assert run_worker(engine, cph(2026, 11, 2, 10), cph(2026, 11, 30, 12), step=timedelta(hours=2)) == []
    # Created on the day its due-soon reminder would go: the owner was just told; overdue still comes.
    add(engine, date(2026, 12, 18), created=cph(2026, 12, 15, 11))
    off = parse_policy(POLICY_TOML + "[action_items]\nreminders = false\n")
    assert run_worker(engine, cph(2026, 12, 15, 11), cph(2026, 12, 22, 12), step=timedelta(hours=2), policy=off) == []
    assert [k for k, _, _ in run_worker(engine, cph(2026, 12, 15, 11), cph(2026, 12, 22, 12))] == ["overdue"]


def test_a_worker_that_was_down_sends_only_the_current_reminder_once(engine):
    add(engine, date(2026, 11, 20), created=cph(2026, 11, 2, 10))
    back = cph(2026, 12, 2, 14)  # down for the due-soon reminder and two overdue ones
    assert local(sweep(engine, back)) == [("overdue", 2, "Wed 02 Dec 14:00 CET")]
    assert sweep(engine, back) == []  # a restart sweeps again: nothing
    assert sweep(engine, back + timedelta(minutes=1)) == []


def test_release_and_abandoned_claims(engine):
    add(engine, date(2026, 11, 20), created=cph(2026, 11, 2, 10))
    now = cph(2026, 11, 23, 9)
    with Session(engine) as session:
        [reminder] = reminders.due_reminders(session, POLICY, now)
        claimed = reminders.claim_reminder(session, reminder, now)
        session.commit()
        assert reminders.due_reminders(session, POLICY, now + timedelta(minutes=1)) == []
        reminders.release_reminder(session, claimed)  # Slack refused: try again next sweep
        session.commit()
        assert reminders.due_reminders(session, POLICY, now + timedelta(minutes=1)) == [reminder]
        assert reminders.claim_reminder(session, reminder, now + timedelta(minutes=1)) is not None
        session.commit()  # ... and this worker dies before posting
    with Session(engine) as session:
        assert reminders.due_reminders(session, POLICY, now + timedelta(minutes=10)) == []
        assert reminders.due_reminders(session, POLICY, now + timedelta(minutes=11)) == [reminder]
        taken = reminders.claim_reminder(session, reminder, now + timedelta(minutes=11))
        session.commit()
        assert taken is not None and reminders.claim_reminder(session, reminder, now + timedelta(minutes=12)) is None


def test_two_workers_racing_for_one_reminder(engine):
    """On PostgreSQL (the ``postgres`` run) two connections really race for the unique key."""
    add(engine, date(2026, 11, 20), created=cph(2026, 11, 2, 10))
    now = cph(2026, 11, 23, 9)
    with Session(engine) as session:
        [reminder] = reminders.due_reminders(session, POLICY, now)
    start = threading.Barrier(2)
    results: list[bool] = []

    def worker():
        with Session(engine) as session:
            start.wait()
            claimed = reminders.claim_reminder(session, reminder, now)
            session.commit()
            results.append(claimed is not None)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
    with Session(engine) as session:
        assert len(session.exec(select(Notification)).all()) == 1


def test_due_reminders_needs_the_same_queries_for_any_number(engine):
    def statements(n):
        for _ in range(n):
            add(engine, date(2026, 11, 20), created=cph(2026, 11, 2, 10))
        with Session(engine) as session:
            seen = []
            listener = lambda *args: seen.append(args[2])  # noqa: E731
            event.listen(engine, "before_cursor_execute", listener)
            try:
                assert len(reminders.due_reminders(session, POLICY, cph(2026, 11, 23, 9))) >= n
            finally:
                event.remove(engine, "before_cursor_execute", listener)
            return len(seen)

    assert statements(1) == statements(4) == 2

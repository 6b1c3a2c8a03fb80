"""Business days, due dates and meeting slots on the organisation's wall clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incidentbot.core import calendar
from incidentbot.core.policy import parse_policy

UTC = timezone.utc
CPH = ZoneInfo("Europe/Copenhagen")
NY = ZoneInfo("America/New_York")
# Danish Easter 2026: Maundy Thursday 2 April, Good Friday 3 April, Easter Monday 6 April.
COPENHAGEN = parse_policy('timezone = "Europe/Copenhagen"\n'
                          '[business_hours]\nholidays = [2026-04-02, 2026-04-03, 2026-04-06, 2026-12-25]\n')
NEW_YORK = parse_policy('timezone = "America/New_York"\n[business_hours]\nstart = "08:30"\nend = "17:30"\n'
                        'holidays = [2026-11-26]\n')  # Thanksgiving
PLAIN = parse_policy("")  # UTC, Mon-Fri 09:00-17:00


def cph(*args) -> datetime:
    return datetime(*args, tzinfo=CPH)


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NY)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- business days ---------------------------------------------------------------------------


@pytest.mark.parametrize("start, days, expected", [
    (cph(2026, 3, 20, 18, 30), 1, cph(2026, 3, 23, 18, 30)),  # Friday -> Monday
    (cph(2026, 3, 21, 11, 0), 1, cph(2026, 3, 23, 11, 0)),  # Saturday -> Monday
    (cph(2026, 3, 22, 11, 0), 0, cph(2026, 3, 22, 11, 0)),  # 0 keeps the day, even a Sunday
    (cph(2026, 3, 23, 9, 0), 5, cph(2026, 3, 30, 9, 0)),  # a week, into summer time
    (cph(2026, 4, 1, 9, 0), 1, cph(2026, 4, 7, 9, 0)),  # Easter: Thu, Fri, (weekend), Mon skipped
    (cph(2026, 4, 7, 9, 0), -1, cph(2026, 4, 1, 9, 0)),  # and backwards
    (cph(2026, 3, 23, 9, 0), -5, cph(2026, 3, 16, 9, 0)),
])
def test_add_business_days_skips_weekends_and_holidays(start, days, expected):
    assert calendar.add_business_days(start, days, COPENHAGEN) == expected


def test_add_business_days_keeps_the_local_wall_clock_across_dst():
    # Friday 27 March 10:00 CET is 09:00 UTC; Monday 30 March 10:00 CEST is 08:00 UTC.
    moved = calendar.add_business_days(utc(2026, 3, 27, 9, 0), 1, COPENHAGEN)
    assert moved.tzinfo == CPH
    assert moved.astimezone(UTC) == utc(2026, 3, 30, 8, 0)
    # And back in autumn: Friday 23 October 10:00 CEST (08:00 UTC) -> Monday 10:00 CET (09:00 UTC).
    assert calendar.add_business_days(utc(2026, 10, 23, 8, 0), 1, COPENHAGEN) == utc(2026, 10, 26, 9, 0)


def test_add_business_days_counts_the_local_date_not_the_utc_one():
    # Friday 21:00 in New York is already Saturday in UTC; one business day on is Monday.
    assert calendar.add_business_days(ny(2026, 3, 6, 21, 0), 1, NEW_YORK) == ny(2026, 3, 9, 21, 0)


def test_a_local_time_skipped_by_dst_moves_on_by_the_gap():
    # Clocks go 02:00 -> 03:00 on 29 March 2026 in Copenhagen; a Sunday working day here.
    weekend_workers = parse_policy('timezone = "Europe/Copenhagen"\n[business_hours]\n'
                                   'days = ["sat", "sun"]\n')
    moved = calendar.add_business_days(cph(2026, 3, 28, 2, 30), 1, weekend_workers)
    assert moved == cph(2026, 3, 29, 3, 30) and moved.astimezone(UTC) == utc(2026, 3, 29, 1, 30)


# --- due dates -------------------------------------------------------------------------------


def test_sev2_resolved_friday_evening_is_due_next_friday_end_of_business():
    resolved = cph(2026, 3, 13, 19, 45)  # Friday evening
    due = calendar.due_at(COPENHAGEN, "SEV2", resolved)
    assert due == cph(2026, 3, 20, 17, 0) and due.tzinfo == UTC


def test_sev1_counts_three_calendar_days_weekend_included():
    assert calendar.due_at(COPENHAGEN, "SEV1", cph(2026, 3, 13, 19, 45)) == cph(2026, 3, 16, 17, 0)  # Monday
    # Resolved on Thursday: due on Sunday, a calendar day like any other.
    assert calendar.due_at(COPENHAGEN, "sev1", cph(2026, 3, 12, 10, 0)) == cph(2026, 3, 15, 17, 0)


def test_business_days_skip_holidays():
    # Resolved Tuesday 31 March: Wed 1, (Thu 2, Fri 3 holidays, weekend, Mon 6 holiday), Tue 7, Wed 8, Thu 9, Fri 10.
    assert calendar.due_at(COPENHAGEN, "SEV2", cph(2026, 3, 31, 11, 0)) == cph(2026, 4, 10, 17, 0)
    # The same resolve without holidays configured.
    assert calendar.due_at(parse_policy('timezone = "Europe/Copenhagen"'), "SEV2",
                           cph(2026, 3, 31, 11, 0)) == cph(2026, 4, 7, 17, 0)


def test_due_dates_across_dst_are_end_of_business_local_time():
    # Spring: resolved Wednesday 25 March (CET), due Wednesday 1 April 17:00 CEST = 15:00 UTC.
    assert calendar.due_at(COPENHAGEN, "SEV2", cph(2026, 3, 25, 12, 0)) == utc(2026, 4, 1, 15, 0)
    # Autumn: resolved Thursday 22 October (CEST), due Thursday 29 October 17:00 CET = 16:00 UTC.
    assert calendar.due_at(COPENHAGEN, "SEV2", cph(2026, 10, 22, 12, 0)) == utc(2026, 10, 29, 16, 0)
    # SEV1 over the night the clocks change: Friday 23 October -> Monday 26 October 17:00 CET.
    assert calendar.due_at(COPENHAGEN, "SEV1", cph(2026, 10, 23, 22, 0)) == utc(2026, 10, 26, 16, 0)


def test_due_dates_in_new_york():
    # Friday 6 March 21:00 EST is Saturday 02:00 UTC; the local Friday counts.
    resolved = ny(2026, 3, 6, 21, 0)
    assert resolved.astimezone(UTC).date() == date(2026, 3, 7)
    assert calendar.due_at(NEW_YORK, "SEV2", resolved) == ny(2026, 3, 13, 17, 30)  # EDT since Sunday 8 March
    assert calendar.due_at(NEW_YORK, "SEV2", resolved) == utc(2026, 3, 13, 21, 30)
    assert calendar.due_at(NEW_YORK, "SEV1", resolved) == utc(2026, 3, 9, 21, 30)  # Monday 17:30 EDT
    # Thanksgiving (Thursday 26 November) is skipped: Wednesday 25 + 5 is Thursday 3 December, not Wednesday 2.
    assert calendar.due_at(NEW_YORK, "SEV2", ny(2026, 11, 25, 10, 0)) == ny(2026, 12, 3, 17, 30)


def test_due_date_follows_the_policy_of_the_severity():
    policy = parse_policy('default_severity = "P2"\n'
                          '[[severities]]\nid = "P1"\nname = "Page"\npostmortem_due_days = 2\n'
                          'postmortem_due_business_days = false\n'
                          '[[severities]]\nid = "P2"\nname = "Ticket"\npostmortem_due_days = 10\n')
    assert calendar.due_at(policy, "P1", utc(2026, 3, 13, 19, 0)) == utc(2026, 3, 15, 17, 0)
    assert calendar.due_at(policy, "2", utc(2026, 3, 13, 19, 0)) == utc(2026, 3, 27, 17, 0)
    with pytest.raises(KeyError):
        calendar.due_at(policy, "SEV9", utc(2026, 3, 13, 19, 0))


# --- slots -----------------------------------------------------------------------------------


def slot(after, before, minutes=60, busy=(), policy=COPENHAGEN):
    return calendar.first_free_slot(policy, after, before, minutes, list(busy))


def test_the_first_slot_is_on_the_half_hour_grid_in_business_hours():
    assert slot(cph(2026, 3, 10, 10, 7), cph(2026, 3, 20, 17)) == cph(2026, 3, 10, 10, 30)
    assert slot(cph(2026, 3, 10, 10, 30), cph(2026, 3, 20, 17)) == cph(2026, 3, 10, 10, 30)
    assert slot(cph(2026, 3, 10, 6, 0), cph(2026, 3, 20, 17)) == cph(2026, 3, 10, 9, 0)
    assert slot(cph(2026, 3, 10, 16, 1), cph(2026, 3, 20, 17)) == cph(2026, 3, 11, 9, 0)  # 16:30 + 1 h > 17:00
    assert slot(cph(2026, 3, 10, 16, 1), cph(2026, 3, 20, 17), minutes=30) == cph(2026, 3, 10, 16, 30)
    assert slot(cph(2026, 3, 10, 10, 7), cph(2026, 3, 20, 17)).tzinfo == UTC


def test_slots_skip_weekends_and_holidays():
    assert slot(cph(2026, 3, 13, 16, 30), cph(2026, 3, 20, 17)) == cph(2026, 3, 16, 9, 0)  # Fri late -> Mon
    assert slot(cph(2026, 4, 1, 16, 30), cph(2026, 4, 20, 17)) == cph(2026, 4, 7, 9, 0)  # Easter


def test_lunchtime_is_not_special():
    morning = [(cph(2026, 3, 10, 9, 0), cph(2026, 3, 10, 12, 0))]
    assert slot(cph(2026, 3, 10, 8, 0), cph(2026, 3, 20, 17), busy=morning) == cph(2026, 3, 10, 12, 0)


def test_busy_meetings_are_avoided():
    busy = [
        (cph(2026, 3, 10, 9, 0), cph(2026, 3, 10, 10, 0)),
        (cph(2026, 3, 10, 10, 15), cph(2026, 3, 10, 11, 15)),  # off the grid: next start 11:30
        (cph(2026, 3, 10, 11, 30), cph(2026, 3, 10, 12, 30)),  # back to back with the next is fine
    ]
    assert slot(cph(2026, 3, 10, 8, 0), cph(2026, 3, 20, 17), busy=busy) == cph(2026, 3, 10, 12, 30)
    assert slot(cph(2026, 3, 10, 8, 0), cph(2026, 3, 20, 17), minutes=15, busy=busy) == cph(2026, 3, 10, 10, 0)
    full_day = [(cph(2026, 3, 10, 9, 0), cph(2026, 3, 10, 17, 0))]
    assert slot(cph(2026, 3, 10, 8, 0), cph(2026, 3, 20, 17), busy=full_day) == cph(2026, 3, 11, 9, 0)


def test_no_slot_before_the_due_date_gives_none():
    assert slot(cph(2026, 3, 13, 16, 30), cph(2026, 3, 16, 9, 30)) is None  # Monday 09:00-10:00 ends too late
    assert slot(cph(2026, 3, 13, 16, 30), cph(2026, 3, 16, 10, 0)) == cph(2026, 3, 16, 9, 0)  # ends exactly then
    assert slot(cph(2026, 3, 14, 9, 0), cph(2026, 3, 15, 17, 0)) is None  # a weekend only
    day = [(cph(2026, 3, 16, 9, 0), cph(2026, 3, 16, 17, 0))]
    assert slot(cph(2026, 3, 13, 17, 0), cph(2026, 3, 16, 17, 0), busy=day) is None
    assert slot(cph(2026, 3, 10, 9, 0), cph(2026, 3, 9, 9, 0)) is None  # before is in the past


def test_slots_across_dst_are_local_business_hours():
    # The Monday after the spring change: 09:00 CEST is 07:00 UTC (08:00 UTC the Friday before).
    assert slot(cph(2026, 3, 27, 16, 30), cph(2026, 4, 1, 17)) == utc(2026, 3, 30, 7, 0)
    assert slot(cph(2026, 3, 27, 9, 0), cph(2026, 4, 1, 17)) == utc(2026, 3, 27, 8, 0)
    # And after the autumn change: Monday 26 October 09:00 CET is 08:00 UTC.
    assert slot(cph(2026, 10, 23, 16, 30), cph(2026, 10, 30, 17)) == utc(2026, 10, 26, 8, 0)
    # New York: 08:30 EDT on Monday 9 March is 12:30 UTC.
    assert slot(ny(2026, 3, 6, 17, 0), ny(2026, 3, 13, 17, 30), policy=NEW_YORK) == utc(2026, 3, 9, 12, 30)


def test_slot_arguments_must_be_sensible():
    with pytest.raises(ValueError):
        slot(cph(2026, 3, 10, 9), cph(2026, 3, 11, 9), minutes=0)
    with pytest.raises(ValueError, match="naive"):
        slot(datetime(2026, 3, 10, 9), cph(2026, 3, 11, 9))


GRID_DAYS = [date(2026, 3, 23) + timedelta(days=n) for n in range(14)]


@settings(max_examples=150, deadline=None)
@given(
    start_day=st.sampled_from(GRID_DAYS), start_minute=st.integers(0, 24 * 60 - 1),
    span_hours=st.integers(1, 240), minutes=st.sampled_from([15, 30, 45, 60, 90, 120]),
    busy=st.lists(st.tuples(st.sampled_from(GRID_DAYS), st.integers(7 * 60, 18 * 60), st.integers(5, 300)),
                  max_size=8),
)
def test_first_free_slot_matches_a_brute_force_search(start_day, start_minute, span_hours, minutes, busy):
    after = cph(start_day.year, start_day.month, start_day.day) + timedelta(minutes=start_minute)
    after = after.astimezone(UTC).astimezone(CPH)
    before = after + timedelta(hours=span_hours)
    intervals = [(cph(d.year, d.month, d.day) + timedelta(minutes=m),
                  cph(d.year, d.month, d.day) + timedelta(minutes=m + length)) for d, m, length in busy]
    found = calendar.first_free_slot(COPENHAGEN, after, before, minutes, intervals)

    def fits(candidate):
        local = candidate.astimezone(CPH)
        end = candidate + timedelta(minutes=minutes)
        return (COPENHAGEN.business_hours.is_working_day(local.date())
                and local.time() >= COPENHAGEN.business_hours.start_time
                and end <= calendar.business_end(local.date(), COPENHAGEN)
                and candidate >= after and end <= before
                and not any(s < end and e > candidate for s, e in intervals))

    day = after.astimezone(CPH).date()
    expected = None
    while expected is None and day <= before.astimezone(CPH).date():
        opens = calendar.business_start(day, COPENHAGEN)
        for k in range(0, 8 * 2 + 1):
            candidate = opens + timedelta(minutes=30 * k)
            if fits(candidate):
                expected = candidate
                break
        day += timedelta(days=1)
    assert found == expected


# --- business-hours checks -------------------------------------------------------------------


def test_meeting_problems_say_what_to_pick():
    assert calendar.meeting_problem(COPENHAGEN, cph(2026, 3, 10, 10, 0), 60) is None
    assert calendar.meeting_problem(COPENHAGEN, cph(2026, 3, 10, 16, 0), 60) is None
    assert calendar.meeting_problem(COPENHAGEN, cph(2026, 3, 14, 10, 0), 60) == (
        "Saturday 14 March 2026 is not a working day (Mon-Fri). Pick a working day.")
    assert calendar.meeting_problem(COPENHAGEN, cph(2026, 4, 3, 10, 0), 60) == (
        "Friday 3 April 2026 is a holiday. Pick a working day.")
    assert calendar.meeting_problem(COPENHAGEN, cph(2026, 3, 10, 8, 30), 60) == (
        "08:30 is before business hours start: business hours are 09:00-17:00 (Europe/Copenhagen).")
    assert calendar.meeting_problem(COPENHAGEN, cph(2026, 3, 10, 16, 30), 60) == (
        "A 60-minute meeting at 16:30 would end at 17:30, after business hours end (17:00 Europe/Copenhagen). "
        "Start it by 16:00.")
    odd_days = parse_policy('[business_hours]\ndays = ["mon", "wed", "fri"]')
    assert calendar.meeting_problem(odd_days, utc(2026, 3, 10, 10, 0), 60) == (
        "Tuesday 10 March 2026 is not a working day (Mon, Wed, Fri). Pick a working day.")


def test_next_business_time_and_morning():
    assert calendar.next_business_time(cph(2026, 3, 10, 10, 0), COPENHAGEN) == cph(2026, 3, 10, 10, 0)
    assert calendar.next_business_time(cph(2026, 3, 10, 7, 0), COPENHAGEN) == cph(2026, 3, 10, 9, 0)
    assert calendar.next_business_time(cph(2026, 3, 13, 17, 0), COPENHAGEN) == cph(2026, 3, 16, 9, 0)  # end excluded
    assert calendar.next_business_time(cph(2026, 4, 1, 18, 0), COPENHAGEN) == cph(2026, 4, 7, 9, 0)
    assert calendar.next_business_morning(cph(2026, 3, 10, 7, 0), COPENHAGEN) == cph(2026, 3, 11, 9, 0)
    assert calendar.next_business_morning(cph(2026, 3, 27, 12, 0), COPENHAGEN) == utc(2026, 3, 30, 7, 0)


def test_labels():
    assert calendar.moment_label(utc(2026, 3, 30, 15, 0), COPENHAGEN) == "Mon 30 Mar 2026 17:00 (Europe/Copenhagen)"
    assert calendar.moment_label(utc(2026, 3, 27, 16, 0), COPENHAGEN) == "Fri 27 Mar 2026 17:00 (Europe/Copenhagen)"
    assert calendar.day_label(date(2026, 12, 25)) == "Friday 25 December 2026"

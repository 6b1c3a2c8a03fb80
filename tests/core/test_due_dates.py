"""Due dates: the policy's defaults by priority and tier, and what people type."""

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from incidentbot.core import due_dates
from incidentbot.core.errors import InvalidInput
from incidentbot.core.policy import load_policy, parse_policy
from incidentbot.models import Incident

CPH = ZoneInfo("Europe/Copenhagen")
POLICY = parse_policy('timezone = "Europe/Copenhagen"\n'
                      '[business_hours]\nholidays = [2026-12-24, 2026-12-25]\n'
                      '[[services]]\nname = "api"\nteam = "platform"\nslo = 0.999\ntier = 1\n'
                      '[[services]]\nname = "web"\nteam = "frontend"\nslo = 0.99\ntier = 2\n')
# Saturday 21 November 2026, 23:30 UTC: already Sunday 00:30 in Copenhagen.
SATURDAY_LATE_UTC = datetime(2026, 11, 21, 23, 30, tzinfo=timezone.utc)
THURSDAY = datetime(2026, 11, 19, 10, 0, tzinfo=timezone.utc)


def incident(*services: str) -> Incident:
    return Incident(number=1, title="t", severity="SEV2", status="investigating", declared_by="U0ALICE",
                    services=list(services))


@pytest.mark.parametrize("text, expected", [
    ("2026-12-18", date(2026, 12, 18)),
    ("today", date(2026, 11, 19)),
    ("Tomorrow", date(2026, 11, 20)),
    ("friday", date(2026, 11, 20)),
    ("thu", date(2026, 11, 26)),  # today is Thursday: the next one
    ("in 3 weeks", date(2026, 12, 10)),
    ("in 10 days", date(2026, 11, 29)),
    ("2w", date(2026, 12, 3)),
])
def test_parse_due(text, expected):
    assert due_dates.parse_due(text, POLICY, THURSDAY) == expected


def test_today_is_the_org_timezone_day():
    # 23:30 UTC on Saturday is already Sunday in Copenhagen.
    assert due_dates.parse_due("today", POLICY, SATURDAY_LATE_UTC) == date(2026, 11, 22)
    assert due_dates.parse_due("today", load_policy(), SATURDAY_LATE_UTC) == date(2026, 11, 21)


@pytest.mark.parametrize("text, says", [
    ("someday", "not a due date I understand"),
    ("2026-11-01", "is in the past"),
    ("🎉", "not a due date I understand"),
])
def test_bad_due_dates_say_what_to_type(text, says):
    with pytest.raises(InvalidInput) as error:
        due_dates.parse_due(text, POLICY, THURSDAY)
    assert error.value.field == "due" and says in error.value.message and "in 3 weeks" in error.value.message


def test_default_due_follows_priority_and_tier():
    tier1 = due_dates.service_tier(POLICY, None, incident("api", "web"))
    assert tier1 == 1 and due_dates.service_tier(POLICY, "web", incident("api")) == 2
    assert due_dates.service_tier(POLICY, None, incident()) is None
    # P1 on a tier-1 service: 4 weeks; tier 2: 8 weeks; P2: 12 weeks whatever the tier.
    assert due_dates.default_due(POLICY, priority="P1", tier=1, now=THURSDAY) == date(2026, 12, 17)
    assert due_dates.default_due(POLICY, priority="P1", tier=2, now=THURSDAY) == date(2027, 1, 14)
    assert due_dates.default_due(POLICY, priority="P2", tier=1, now=THURSDAY) == date(2027, 2, 11)


def test_default_due_skips_weekends_and_holidays():
    # Four weeks after Thursday 26 November is Christmas Eve (a holiday), then Christmas Day.
    assert due_dates.default_due(POLICY, priority="P1", tier=1,
                                 now=datetime(2026, 11, 26, 9, tzinfo=timezone.utc)) == date(2026, 12, 28)
    # Four weeks after a Saturday is a Saturday: Monday.
    assert due_dates.default_due(POLICY, priority="P1", tier=1,
                                 now=datetime(2026, 11, 14, 9, tzinfo=timezone.utc)) == date(2026, 12, 14)


def test_due_moment_is_end_of_business_hours_local_across_dst():
    winter = due_dates.due_moment(POLICY, date(2026, 12, 18))
    summer = due_dates.due_moment(POLICY, date(2027, 6, 18))
    assert winter.astimezone(CPH).hour == summer.astimezone(CPH).hour == 17
    assert (winter.hour, summer.hour) == (16, 15)  # UTC+1 in winter, UTC+2 in summer

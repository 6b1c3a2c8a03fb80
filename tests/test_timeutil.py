from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from incidentbot.timeutil import NonexistentLocalTime, local_to_utc, utc_to_local_parts

CPH = ZoneInfo("Europe/Copenhagen")
NYC = ZoneInfo("America/New_York")


@pytest.mark.parametrize("day, clock, zone, expected", [
    ("2026-03-28", "12:00", CPH, datetime(2026, 3, 28, 11, 0, tzinfo=timezone.utc)),   # CET, UTC+1
    ("2026-03-29", "03:30", CPH, datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc)),   # just after the jump: CEST
    ("2026-10-25", "02:30", CPH, datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc)),  # happens twice: the first
    ("2026-11-01", "01:30", NYC, datetime(2026, 11, 1, 5, 30, tzinfo=timezone.utc)),   # NY fall back: first (EDT)
    ("2026-11-21", "23:59", ZoneInfo("Asia/Tokyo"), datetime(2026, 11, 21, 14, 59, tzinfo=timezone.utc)),
])
def test_local_to_utc(day, clock, zone, expected):
    assert local_to_utc(day, clock, zone) == expected


def test_a_time_skipped_by_the_clocks_is_refused():
    with pytest.raises(NonexistentLocalTime, match="does not exist in Europe/Copenhagen"):
        local_to_utc("2026-03-29", "02:30", CPH)


def test_round_trip_for_pickers():
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc)
    assert utc_to_local_parts(moment, CPH) == ("2026-03-29", "03:30")
    assert local_to_utc(*utc_to_local_parts(moment, CPH), CPH) == moment

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from incidentbot.core.policy import load_policy
from incidentbot.models import Incident
from incidentbot.slack import modals

POLICY = load_policy()
CPH = ZoneInfo("Europe/Copenhagen")


def incident(**kwargs) -> Incident:
    return Incident(id=3, number=3, revision=1, title="t", severity="SEV2", status="investigating", declared_by="U1",
                    declared_at=datetime(2026, 3, 29, 2, 0, tzinfo=timezone.utc), **kwargs)


def picked(**pairs) -> dict:
    values = {}
    for name, (day, clock) in pairs.items():
        values[f"{name}_date"] = {f"{name}_date": {"type": "datepicker", "selected_date": day}}
        values[f"{name}_time"] = {f"{name}_time": {"type": "timepicker", "selected_time": clock}}
    return values


def test_picked_times_are_read_in_the_users_zone():
    values = picked(started_at=("2026-03-29", "01:45"), mitigated_at=("2026-03-29", "05:10"))
    assert modals.milestone_values(incident(), values, CPH) == {
        "started_at": datetime(2026, 3, 29, 0, 45, tzinfo=timezone.utc),   # CET
        "mitigated_at": datetime(2026, 3, 29, 3, 10, tzinfo=timezone.utc),  # CEST
    }


def test_a_time_the_clocks_skipped_is_refused_on_the_time_picker():
    with pytest.raises(modals.FieldErrors) as caught:
        modals.milestone_values(incident(), picked(detected_at=("2026-03-29", "02:30")), CPH)
    assert "does not exist in Europe/Copenhagen" in caught.value.by_field["detected_at_time"]


def test_half_a_pair_is_refused():
    values = picked(started_at=("2026-03-29", "01:45"))
    values["started_at_time"]["started_at_time"]["selected_time"] = None
    with pytest.raises(modals.FieldErrors) as caught:
        modals.milestone_values(incident(), values, CPH)
    assert caught.value.by_field == {"started_at_date": "Give both a date and a time, or leave both empty."}


def test_unchanged_and_cleared_values():
    stored = incident(acknowledged_at=datetime(2026, 3, 29, 2, 5, 31, tzinfo=timezone.utc))
    same = picked(acknowledged_at=("2026-03-29", "04:05"))  # the stored value, as the picker shows it
    assert modals.milestone_values(stored, same, CPH) == {}
    cleared = picked(acknowledged_at=(None, None))
    assert modals.milestone_values(stored, cleared, CPH) == {"acknowledged_at": None}


def test_resolved_is_only_editable_once_resolved():
    form = modals.milestones_modal(POLICY, incident(), CPH)
    ids_ = [b.get("block_id") for b in form["blocks"]]
    assert "resolved_at_date" not in ids_ and "mitigated_at_time" in ids_
    resolved = modals.milestones_modal(POLICY, incident(resolved_at=datetime(2026, 3, 29, 6, 0, tzinfo=timezone.utc)), CPH)
    assert "resolved_at_date" in [b.get("block_id") for b in resolved["blocks"]]
    time_picker = next(b for b in resolved["blocks"] if b.get("block_id") == "resolved_at_time")
    assert time_picker["element"]["initial_time"] == "08:00" and time_picker["element"]["timezone"] == "Europe/Copenhagen"

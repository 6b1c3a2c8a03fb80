"""Editing an incident's milestones (the times metrics are computed from) and its detection.

Responders correct the milestones after the fact: when the impact really started, when
monitoring noticed, when it was mitigated. The order must stay
``started ≤ detected ≤ declared ≤ acknowledged ≤ mitigated ≤ resolved ≤ closed``; a
conflict names the milestone to fix and shows both times in the organisation's timezone.
Every accepted edit is one ``milestones_edited`` timeline event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from sqlmodel import Session

from incidentbot.core import changes, incidents
from incidentbot.core.changes import Change
from incidentbot.core.errors import AlreadyDone, InvalidInput
from incidentbot.core.policy import Policy
from incidentbot.models import Incident
from incidentbot.timeutil import ensure_utc, utcnow

# The required order: each set milestone is at or after every earlier set one.
MILESTONES = ("started_at", "detected_at", "declared_at", "acknowledged_at", "mitigated_at", "resolved_at", "closed_at")
EDITABLE = ("started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at")
# May be cleared (None). Resolved is cleared by reopening the incident, not here.
CLEARABLE = ("started_at", "detected_at", "acknowledged_at", "mitigated_at")
DETECTION = ("monitoring", "customer", "staff")

LABELS = {
    "started_at": "Started",
    "detected_at": "Detected",
    "declared_at": "Declared",
    "acknowledged_at": "Acknowledged",
    "mitigated_at": "Mitigated",
    "resolved_at": "Resolved",
    "closed_at": "Closed",
}


def set_milestones(
    session: Session,
    policy: Policy,
    incident: Incident,
    actor: str,
    values: Mapping[str, datetime | None],
    *,
    detection: str | None = None,
) -> Change:
    """Apply ``values`` (a subset of ``EDITABLE``) and ``detection``, validate, record.

    ``None`` clears an optional milestone; a ``detection`` of ``None`` leaves it as it
    is. Values equal to the stored ones are not changes, so a form may send every
    field. Raises ``InvalidInput`` naming the field to fix, ``AlreadyDone`` when nothing
    changes, ``Closed`` for a closed incident. Flushes; the caller commits.
    """
    changes.begin(session, policy, incident)
    wanted = _checked_values(values)
    detection = _checked_detection(detection)

    edited: dict[str, tuple[datetime | None, datetime | None]] = {}
    for name, new in wanted.items():
        old = getattr(incident, name)
        if new != old:
            edited[name] = (old, new)
    old_detection = incident.detection
    detection_changed = detection is not None and detection != old_detection
    if not edited and not detection_changed:
        raise AlreadyDone(f"{incident.reference} already has those milestones.")

    if "resolved_at" in edited:
        if edited["resolved_at"][1] is None:
            raise InvalidInput("resolved_at", "Resolved can't be cleared; reopen the incident instead "
                                              "(`/incident status investigating`).")
        if not incidents.is_resolved(policy, incident):
            raise InvalidInput("resolved_at", f"{incident.reference} isn't resolved yet, so it has no resolved "
                                              "time to edit. Resolve it first: `/incident resolve <summary>`")
    now = utcnow()
    for name, (_old, new) in edited.items():
        if new is not None and new > now:
            raise InvalidInput(name, f"{LABELS[name]} ({_show(policy, new)}) can't be in the future.")

    after = {name: getattr(incident, name) for name in MILESTONES}
    after.update({name: new for name, (_old, new) in edited.items()})
    _check_order(policy, after, set(edited))

    for name, (_old, new) in edited.items():
        setattr(incident, name, new)
    data: dict[str, list[str | None]] = {name: [_iso(old), _iso(new)] for name, (old, new) in edited.items()}
    parts = [_describe(policy, name, old, new) for name, (old, new) in _in_order(edited)]
    if detection_changed:
        incident.detection = detection
        data["detection"] = [old_detection, detection]
        parts.append(f"Detected by {detection}" + (f" (was {old_detection})" if old_detection else ""))
    text = "Milestones edited: " + "; ".join(parts) + "."
    return changes.record(session, incident, "milestones_edited", actor, text, detail=text, data=data)


def order_conflict(policy: Policy, milestones: Mapping[str, datetime | None], edited: set[str]) -> InvalidInput | None:
    """The first order conflict involving an ``edited`` milestone, as the error to raise.

    Conflicts between two milestones that were not edited are left alone (old or
    imported data), so they never block correcting something else.
    """
    present = [(name, milestones[name]) for name in MILESTONES if milestones.get(name) is not None]
    for index, (name, value) in enumerate(present):
        if name not in edited:
            continue
        # The latest earlier milestone after this one: "X can't be before <the bound>".
        earlier = [(other, when) for other, when in present[:index] if when > value]
        if earlier:
            other, when = max(earlier, key=lambda item: item[1])
            return _conflict(policy, name, value, "before", other, when)
        # An earlier milestone after a later one that was not edited: "X can't be after ...".
        # (A later edited one reports the conflict itself, as the later milestone.)
        later = [(other, when) for other, when in present[index + 1:] if when < value and other not in edited]
        if later:
            other, when = min(later, key=lambda item: item[1])
            return _conflict(policy, name, value, "after", other, when)
    return None


def _check_order(policy: Policy, milestones: Mapping[str, datetime | None], edited: set[str]) -> None:
    error = order_conflict(policy, milestones, edited)
    if error is not None:
        raise error


def _conflict(policy: Policy, name: str, value: datetime, relation: str, other: str, when: datetime) -> InvalidInput:
    shown, other_shown = _show_pair(policy, value, when)
    return InvalidInput(
        name, f"{LABELS[name]} ({shown}) can't be {relation} {LABELS[other]} ({other_shown})."
    )


def _checked_values(values: Mapping[str, datetime | None]) -> dict[str, datetime | None]:
    checked: dict[str, datetime | None] = {}
    for name, value in values.items():
        if name not in EDITABLE:
            if name in LABELS:
                raise InvalidInput(name, f"{LABELS[name]} is set by the bot and can't be edited.")
            raise InvalidInput(name, f"There is no milestone `{name}`. Editable: {', '.join(EDITABLE)}.")
        if value is None:
            checked[name] = None
            continue
        if not isinstance(value, datetime):
            raise InvalidInput(name, f"{LABELS[name]} must be a date and time.")
        try:
            checked[name] = ensure_utc(value)
        except ValueError:
            raise InvalidInput(name, f"{LABELS[name]} ({value.isoformat(' ', 'minutes')}) has no timezone; "
                                     "give the time with its timezone.") from None
    return checked


def _checked_detection(detection: str | None) -> str | None:
    if detection is None:
        return None
    value = detection.strip().lower()
    if value not in DETECTION:
        raise InvalidInput("detection", f"There is no detection `{detection.strip()}`. Use one of: "
                                        f"{', '.join(DETECTION)}.")
    return value


def _in_order(edited: Mapping[str, tuple[datetime | None, datetime | None]]):
    return [(name, edited[name]) for name in MILESTONES if name in edited]


def _describe(policy: Policy, name: str, old: datetime | None, new: datetime | None) -> str:
    label = LABELS[name]
    if new is None:
        return f"{label} cleared (was {_show(policy, old)})"
    if old is None:
        return f"{label} set to {_show(policy, new)}"
    before, after = _show_pair(policy, old, new)
    return f"{label} {before} → {after}"


def _show(policy: Policy, value: datetime | None, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    if value is None:
        return "not set"
    # tz.fromutc sets ``fold`` for the repeated hour in autumn (02:30 CEST vs 02:30 CET);
    # astimezone does too, but freezegun's datetime drops the fold, and tests run under it.
    tz = policy.tz
    local = tz.fromutc(value.astimezone(timezone.utc).replace(tzinfo=tz))
    return local.strftime(fmt)


def _show_pair(policy: Policy, one: datetime, two: datetime) -> tuple[str, str]:
    """Both times to the minute, or to the second when the minutes alone look equal."""
    first, second = _show(policy, one), _show(policy, two)
    if first == second and one != two:
        fmt = "%Y-%m-%d %H:%M:%S %Z"
        first, second = _show(policy, one, fmt), _show(policy, two, fmt)
    return first, second


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None

"""What a responder changed, and the bookkeeping every change shares.

Each change function (``lifecycle``, ``roles``, ``updates``) returns a ``Change``;
the Slack layer turns it into the card update, the line in the channel and, when
``announce`` is set, the reply in the announcement thread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from incidentbot.core import timeline
from incidentbot.core.errors import Closed, InvalidInput
from incidentbot.core.policy import Policy
from incidentbot.models import Incident, TimelineEvent
from incidentbot.timeutil import utcnow

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # keeps \t and \n


@dataclass
class Change:
    incident: Incident = field(repr=False)
    # "acknowledged" | "status_changed" | "severity_changed" | "role_assigned" | "mitigated"
    # | "resolved" | "closed" | "summary_changed" | "update_posted"
    kind: str
    actor: str  # Slack user id of who did it
    before: str | None = None
    after: str | None = None
    detail: str | None = None
    announce: bool = False  # also goes to the announcement thread
    event: TimelineEvent | None = field(default=None, repr=False)


def is_closed(policy: Policy, incident: Incident) -> bool:
    final = {status.id for status in policy.final_statuses}
    return incident.closed_at is not None or incident.status in final


def begin(session: Session, policy: Policy, incident: Incident) -> None:
    """Re-read the incident under a row lock and refuse a closed one.

    On PostgreSQL the lock (held until the caller commits) makes concurrent changes
    to one incident, such as two people clicking Resolve at once, happen one after
    the other, so the second sees the first and answers "already resolved" instead
    of resolving twice. On SQLite the engine takes the database's write lock before the
    read instead (``db._write_lock_for_update``), with the same effect.
    """
    session.flush()
    session.refresh(incident, with_for_update=True)
    if is_closed(policy, incident):
        raise Closed(f"{incident.reference} is closed; nothing can change it.")


def record(
    session: Session,
    incident: Incident,
    kind: str,
    actor: str,
    text: str,
    *,
    before: str | None = None,
    after: str | None = None,
    detail: str | None = None,
    announce: bool = False,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Change:
    """Bump the revision, record the timeline event and flush; the caller commits.

    ``at`` is when it happened: the milestone just set, so event and milestone agree.
    """
    now = at or utcnow()
    incident.updated_at = now
    incident.revision = (incident.revision or 0) + 1
    session.add(incident)
    event = timeline.record(
        session, incident, kind, text, actor=actor, occurred_at=now,
        data={"before": before, "after": after, **(data or {})},
    )
    session.flush()
    return Change(incident, kind, actor, before, after, detail, announce, event)


def clean_text(policy: Policy, raw: str | None, field: str, label: str) -> str | None:
    """Free text from a form or command: control characters out, within the length limit."""
    text = _CONTROL.sub(" ", raw or "").strip()
    if not text:
        return None
    limit = policy.limits.summary_max_chars
    if len(text) > limit:
        raise InvalidInput(field, f"The {label} is {len(text):,} characters; keep it to {limit:,}.")
    return text

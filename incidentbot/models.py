"""Database tables (SQLModel). Every timestamp is UTC and timezone-aware.

The domain (``incidentbot.core``) reads and writes these through sessions; the
Slack layer never touches them directly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from incidentbot.timeutil import UTCDateTime, utcnow


def _ts() -> Any:
    """An optional UTC timestamp (a milestone not reached yet)."""
    return Field(default=None, sa_type=UTCDateTime, nullable=True)


def _ts_now() -> Any:
    """A required UTC timestamp that defaults to now."""
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Incident(SQLModel, table=True):
    """One incident, shown to people as ``INC-<number>``."""

    __tablename__ = "incident"

    id: int | None = Field(default=None, primary_key=True)
    number: int = Field(unique=True, index=True)
    title: str
    summary: str | None = None
    severity: str
    status: str = Field(index=True)
    category: str | None = None
    services: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    private: bool = False
    declared_by: str
    # What made this declaration: "view:<id>" or "command:<trigger_id>". Unique, so a
    # retried or double-submitted request declares the incident once.
    request_key: str | None = Field(default=None, unique=True)

    # Slack resources; filled in by provisioning, step by step, so an interrupted
    # provisioning resumes where it stopped instead of creating things twice.
    channel_id: str | None = Field(default=None, unique=True)
    channel_name: str | None = None
    card_ts: str | None = None
    announcement_channel_id: str | None = None
    announcement_ts: str | None = None
    provisioned_at: datetime | None = _ts()

    # Milestones (DESIGN.md "Metrics"): raw timestamps; durations are derived.
    started_at: datetime | None = _ts()
    detected_at: datetime | None = _ts()
    declared_at: datetime = _ts_now()
    acknowledged_at: datetime | None = _ts()
    mitigated_at: datetime | None = _ts()
    resolved_at: datetime | None = _ts()
    closed_at: datetime | None = _ts()

    created_at: datetime = _ts_now()
    updated_at: datetime = _ts_now()

    @property
    def reference(self) -> str:
        return f"INC-{self.number}"


class TimelineEvent(SQLModel, table=True):
    """Something that happened during an incident, with who and when."""

    __tablename__ = "timeline_event"
    __table_args__ = (
        # The same Slack message captured twice (pin + reaction + shortcut) is one event.
        UniqueConstraint("incident_id", "source_key", name="uq_timeline_event_source"),
        Index("ix_timeline_event_incident_time", "incident_id", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", nullable=False)
    occurred_at: datetime = _ts_now()
    recorded_at: datetime = _ts_now()
    kind: str = Field(index=True)
    actor: str | None = None
    text: str = ""
    source_key: str | None = None
    message_ts: str | None = None
    permalink: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    deleted: bool = False


class RoleAssignment(SQLModel, table=True):
    """Who held a role in an incident, from when to when (handover keeps history)."""

    __tablename__ = "role_assignment"
    __table_args__ = (Index("ix_role_assignment_incident_role", "incident_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", nullable=False)
    role: str
    user_id: str = Field(index=True)
    assigned_by: str | None = None
    started_at: datetime = _ts_now()
    ended_at: datetime | None = _ts()


class ProcessedEvent(SQLModel, table=True):
    """A Slack delivery already handled; Slack retries and duplicates hit this row."""

    __tablename__ = "processed_event"

    key: str = Field(primary_key=True, max_length=255)
    kind: str
    received_at: datetime = _ts_now()

"""Database tables (SQLModel). Every timestamp is UTC and timezone-aware.

The domain (``incidentbot.core``) reads and writes these through sessions; the
Slack layer never touches them directly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
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
    __table_args__ = (
        # Metrics and the digest select incidents by when they were declared, and by when
        # their impact ended (mitigated, or resolved when never marked mitigated).
        Index("ix_incident_declared_at", "declared_at"),
        Index("ix_incident_impact_end", text("coalesce(mitigated_at, resolved_at)")),
    )

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
    # Whoever provisions (the web process, the reconcile sweep) holds this lease, so
    # the two never create the channel, card or announcement side by side.
    provisioning_until: datetime | None = _ts()

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

    # Incremented by every change a responder makes (status, severity, roles, ...), so
    # the Slack layer can tell that a card or button was rendered from an older state.
    revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # The revision the card and the announcement last showed in Slack; behind
    # ``revision`` when showing a change failed (or the process died first), which is
    # what the worker's reconcile sweep looks for.
    shown_revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    resolution: str | None = None  # the resolution summary given when resolving
    last_update_at: datetime | None = _ts()  # when the last status update was posted
    # How the incident was detected: "monitoring" | "customer" | "staff" (None: unknown).
    detection: str | None = None

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


class ChannelMessage(SQLModel, table=True):
    """A message posted in an incident channel, stored as it arrives (or backfilled).

    The channel's own record of the incident: drafting a postmortem reads this table
    instead of paging ``conversations.history`` under Slack's rate limits. ``(channel_id,
    ts)`` identifies a Slack message, so a retried or duplicated delivery stores nothing.
    """

    __tablename__ = "channel_message"
    __table_args__ = (
        UniqueConstraint("channel_id", "ts", name="uq_channel_message_ts"),
        Index("ix_channel_message_incident_time", "incident_id", "posted_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    channel_id: str
    ts: str  # Slack's message id ("1700000000.123456"); posted_at is derived from it
    thread_ts: str | None = None  # the thread's parent ts (equal to ts on the parent)
    user_id: str | None = None
    bot_id: str | None = None
    subtype: str | None = None  # "bot_message", "channel_join", ... (None: a plain message)
    text: str = ""
    posted_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    edited_at: datetime | None = _ts()
    deleted: bool = False
    # Reactions, files, pinned_to, ... as Slack sent them.
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    source: str  # "event" | "backfill" | "import"


class RoleAssignment(SQLModel, table=True):
    """Who held a role in an incident, from when to when (handover keeps history)."""

    __tablename__ = "role_assignment"
    __table_args__ = (
        Index("ix_role_assignment_incident_role", "incident_id", "role"),
        # One current holder per role: a handover ends the previous assignment first, and
        # two people taking the lead at the same moment cannot both succeed.
        Index("uq_role_assignment_current", "incident_id", "role", unique=True,
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", nullable=False)
    role: str
    user_id: str = Field(index=True)
    assigned_by: str | None = None
    started_at: datetime = _ts_now()
    ended_at: datetime | None = _ts()


class StatusUpdate(SQLModel, table=True):
    """A status update posted to the incident channel (and the announcement thread)."""

    __tablename__ = "status_update"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", nullable=False, index=True)
    author: str
    status: str  # the incident's status id when the update was posted
    text: str  # what's happening
    impact: str | None = None  # customer impact
    next_update_at: datetime | None = _ts()
    posted_at: datetime = _ts_now()
    channel_ts: str | None = None
    announcement_ts: str | None = None


class Notification(SQLModel, table=True):
    """A nudge claimed (and then sent) by a worker.

    ``key`` names one occurrence of a situation ("update overdue since 10:30"); being
    unique, it makes the nudge exactly-once across worker restarts and several workers.
    """

    __tablename__ = "notification"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", nullable=False, index=True)
    kind: str
    key: str = Field(unique=True, max_length=255)
    due_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    claimed_at: datetime = _ts_now()
    sent_at: datetime | None = _ts()
    channel_id: str | None = None
    message_ts: str | None = None


class Postmortem(SQLModel, table=True):
    """The postmortem of one incident: owner, due date, review meeting, draft, status.

    ``status``: scheduled -> drafted -> in_review -> published, or not_needed (see
    ``core.postmortems``). Its reminders are ``notification`` rows ("postmortem:<kind>").
    """

    __tablename__ = "postmortem"
    __table_args__ = (
        Index("ix_postmortem_status_due", "status", "due_at"),
        Index("ix_postmortem_published_at", "published_at"),  # the digest: published this week
    )

    id: int | None = Field(default=None, primary_key=True)
    # One postmortem per incident: scheduling twice (a retried resolve) finds this row.
    incident_id: int = Field(foreign_key="incident.id", nullable=False, unique=True)
    owner: str  # Slack user id
    status: str
    due_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # The review meeting: proposed by the bot, then confirmed or rescheduled by people.
    meeting_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True, index=True)
    meeting_confirmed: bool = False
    meeting_set_at: datetime | None = _ts()  # when meeting_at was last proposed or changed
    # Bumped whenever the meeting time changes: the SEQUENCE of the calendar invite, so
    # calendar apps replace the earlier invite instead of adding a second event.
    meeting_sequence: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    not_needed_reason: str | None = None
    draft_markdown: str | None = None
    draft_model: str | None = None  # "offline", or the model that wrote the draft
    # The draft's proposed action items ({text, owner, type, priority, source, ts}); they
    # become action items only when someone confirms them (``core.action_items``).
    draft_actions: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    drafted_at: datetime | None = _ts()
    published_at: datetime | None = _ts()
    created_at: datetime = _ts_now()
    updated_at: datetime = _ts_now()


class Snooze(SQLModel, table=True):
    """Someone silenced one kind of nudge for an incident until ``until``."""

    __tablename__ = "snooze"
    __table_args__ = (Index("ix_snooze_incident_kind", "incident_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", nullable=False)
    kind: str
    until: datetime = Field(sa_type=UTCDateTime, nullable=False)
    snoozed_by: str
    created_at: datetime = _ts_now()


class ProcessedEvent(SQLModel, table=True):
    """A Slack delivery already handled; Slack retries and duplicates hit this row."""

    __tablename__ = "processed_event"

    key: str = Field(primary_key=True, max_length=255)
    kind: str
    received_at: datetime = _ts_now()


class BacklogItem(SQLModel, table=True):
    """A reliability risk, shown as ``BL-<id>``: what one or more action items address.

    ``status``: open -> done | wont_do, or merged (its action items moved to
    ``merged_into_id``). The priority score is computed on read (``core.backlog``), so it
    always reflects the linked incidents as they are now.
    """

    __tablename__ = "backlog_item"

    id: int | None = Field(default=None, primary_key=True)
    title: str
    description: str = ""
    category: str | None = None
    services: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="open", index=True)
    owner: str | None = None  # Slack user id
    effort: str | None = None  # S | M | L | XL
    reason: str | None = None  # why it won't be done
    merged_into_id: int | None = Field(default=None, foreign_key="backlog_item.id")
    # Set when the title and description came from a private incident's action item: that
    # text then stays out of every public view (lists, App Home, the digest, other channels).
    private_incident_id: int | None = None
    created_by: str | None = None
    created_at: datetime = _ts_now()
    updated_at: datetime = _ts_now()
    closed_at: datetime | None = _ts()
    revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class ActionItem(SQLModel, table=True):
    """Follow-up work from an incident, shown as ``AI-<id>``; part of one backlog item.

    ``status``: open -> in_progress -> done, or wont_do (with a reason). Reminders to the
    owner are ``notification`` rows ("action_item:<kind>:<id>:<due>").
    """

    __tablename__ = "action_item"
    __table_args__ = (
        Index("ix_action_item_status_due", "status", "due_at"),
        Index("ix_action_item_owner_status", "owner", "status"),
        # The digest: action items opened and closed in a week.
        Index("ix_action_item_created_at", "created_at"),
        Index("ix_action_item_completed_at", "completed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", nullable=False, index=True)
    backlog_item_id: int | None = Field(default=None, foreign_key="backlog_item.id", index=True)
    title: str
    description: str = ""
    owner: str | None = None  # Slack user id
    # The end of business hours on the due day, in the organisation's timezone.
    due_at: datetime | None = _ts()
    type: str  # preventative | detective | corrective | process
    priority: str  # P1 | P2 | P3
    service: str | None = None
    status: str = Field(default="open", index=True)
    wont_do_reason: str | None = None
    # How it was made: command | form | shortcut | postmortem; and the message it came from.
    origin: str
    source_channel_id: str | None = None
    source_ts: str | None = None
    source_link: str | None = None
    # What made it ("view:<id>", "command:<trigger_id>", "postmortem:<id>:<n>"). Unique, so
    # a retried request or a double click creates the item once.
    request_key: str | None = Field(default=None, unique=True)
    created_by: str
    created_at: datetime = _ts_now()
    updated_at: datetime = _ts_now()
    completed_at: datetime | None = _ts()
    snoozed_until: datetime | None = _ts()  # reminders wait until then
    revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})

    # Export to an issue tracker (GitHub Issues, Jira), retried and synced by the worker.
    external_system: str | None = None
    external_key: str | None = None  # "owner/repo#12", "OPS-4"
    external_url: str | None = None
    external_status: str | None = None
    export_attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    export_error: str | None = None
    export_next_at: datetime | None = _ts()  # next export attempt or status sync
    synced_at: datetime | None = _ts()


class DigestRun(SQLModel, table=True):
    """The weekly digest of one ISO week posted to one channel: claimed, then posted, once.

    The unique (week, channel) row is the claim, so restarts and several workers post
    each week's digest once; a claim never marked posted within a lease is taken over.
    """

    __tablename__ = "digest_run"
    __table_args__ = (UniqueConstraint("week", "channel", name="uq_digest_run_week_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    week: str = Field(max_length=10)  # "2026-W47"
    channel: str  # the policy's digest channel (name or id) as configured
    claimed_at: datetime = _ts_now()
    posted_at: datetime | None = _ts()
    channel_id: str | None = None
    message_ts: str | None = None

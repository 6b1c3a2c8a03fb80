"""Writing an inferred export channel to the database (``incidentbot import slack-export``).

Every message is stored (``core.messages.store``, ``source="import"``), pinned messages
and messages with the policy's capture emoji become timeline events (``core.capture``),
and the inferred milestones fill only empty ones. The caller commits; nothing here talks
to Slack.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from incidentbot.core import capture, incidents, messages, timeline
from incidentbot.core.policy import Policy
from incidentbot.models import Incident, TimelineEvent
from incidentbot.slack_export import ExportMessage, SlackExport
from incidentbot.timeutil import utcnow

from incidentbot.importing.inference import (
    LABELS, _EVENT_KINDS, ImportFailed, ImportResult, Inference, infer, request_key,
)

def import_channel(session: Session, policy: Policy, export: SlackExport, channel_name: str, *,
                   update: bool = False, actor: str | None = None) -> ImportResult:
    """Create (or with ``update``, extend) the incident for a channel of the export.

    Re-importing finds the incident by its request key ``import:<channel id>`` (or by the
    channel, when the bot declared it live). Without ``update`` nothing is added then and
    ``exists`` is True; with it, only messages not stored yet are added, captures are
    added once, and only milestones still empty are filled in. Flushes; the caller commits.
    """
    inference = infer(export, channel_name, policy)
    key = request_key(inference.channel_id)
    incident = session.exec(select(Incident).where(Incident.request_key == key)).first()
    if incident is None:
        incident = incidents.by_channel(session, inference.channel_id)
    if incident is not None and not update:
        return ImportResult(incident=incident, created=False, messages_added=0, events_added=0,
                            milestones=_milestones(incident), exists=True, inference=inference)
    created = incident is None
    events_before = 0 if created else _event_count(session, incident)
    if created:
        incident = _create(session, policy, inference, key, private=_private(export, channel_name))
    milestones_set = _apply_milestones(session, policy, incident, inference, created=created)

    added = captured = skipped_closed = 0
    emoji = policy.timeline.capture_emoji
    for message in export.messages(channel_name):
        _row, new = messages.store(session, incident, inference.channel_id, dict(message.raw), source="import")
        added += int(new)
        vias = (["pin"] if message.pinned else []) + (["reaction"] if message.reacted_with(emoji) else [])
        for via in vias:
            if incident.closed_at is not None:
                skipped_closed += 1
                break
            _event, made = capture.capture(
                session, incident, channel_id=inference.channel_id, ts=message.ts,
                author=message.user_id, text=message.text,
                permalink=None, via=via, actor=_capturer(message, via, emoji, actor),
                data={"imported": True, "author_name": export.author(message),
                      **({"bot_id": message.bot_id} if message.bot_id else {}),
                      **({"thread_ts": message.thread_ts} if message.is_reply else {})},
            )
            captured += int(made)
    if skipped_closed:
        inference.notes.append(f"{incident.reference} is closed: {skipped_closed} pinned or marked message(s) "
                               "were stored but not added to its timeline")
    session.flush()
    events_added = _event_count(session, incident) - events_before
    return ImportResult(incident=incident, created=created, messages_added=added, events_added=events_added,
                        milestones=_milestones(incident), milestones_set=milestones_set, captured=captured,
                        inference=inference)


def _capturer(message: ExportMessage, via: str, emoji: str, actor: str | None) -> str | None:
    if via == "reaction":
        users = message.reacted_with(emoji)
        return users[0] if users else actor
    pinned_by = message.raw.get("pinned_by") or actor  # exports rarely say who pinned
    return pinned_by


def _private(export: SlackExport, channel_name: str) -> bool:
    """A channel the export lists outside channels.json (groups.json, DMs) was private, and so
    is its incident: otherwise its title would reach the digest and everyone's lists."""
    channel = export.channel(channel_name)
    return bool(channel.get("is_private")) or channel.get("_listed_in", "channels.json") != "channels.json"


def _create(session: Session, policy: Policy, inference: Inference, key: str, *, private: bool) -> Incident:
    title = inference.title
    limit = policy.limits.title_max_chars
    if len(title) > limit:
        title = title[: limit - 1].rstrip() + "…"
    declaration = incidents.Declaration(
        title=incidents.clean_title(policy, title),
        severity=inference.severity or policy.default_severity,
        declared_by=inference.declared_by,
        private=private,
        request_key=key,
    )
    incident, created = incidents.declare(session, policy, declaration)
    if not created:  # another import of the same channel won a race
        raise ImportFailed(f"#{inference.channel_name} was imported at the same time as {incident.reference}; "
                           "run the import again with --update.")
    declared = inference.milestones["declared_at"].at
    incident.declared_at = declared
    if incidents.by_channel(session, inference.channel_id) is None:
        incident.channel_id = inference.channel_id
        incident.channel_name = inference.channel_name
    # Nothing to provision in Slack: the channel exists (or existed); the worker's sweep
    # must not try to create one.
    incident.provisioned_at = utcnow()
    session.add(incident)
    declared_event = session.exec(
        select(TimelineEvent).where(TimelineEvent.incident_id == incident.id, TimelineEvent.kind == "declared")
    ).first()
    if declared_event is not None:
        declared_event.occurred_at = declared
        declared_event.text = f"Declared {incident.reference}: {incident.title} (imported from #{inference.channel_name})"
        declared_event.data = {**declared_event.data, "imported": True,
                               "rule": inference.milestones["declared_at"].rule,
                               "message_ts": inference.milestones["declared_at"].ts}
        session.add(declared_event)
    session.flush()
    return incident


def _apply_milestones(session: Session, policy: Policy, incident: Incident, inference: Inference, *,
                      created: bool) -> list[str]:
    """Fill in milestones the incident does not have yet; each one set is a timeline event."""
    made: list[str] = []
    for name, evidence in inference.milestones.items():
        if name == "declared_at":
            if created:
                made.append(name)
            continue
        if getattr(incident, name) is not None:
            continue  # set live or by hand (or by an earlier import): never overwritten
        if not created and _has_event(session, incident, f"import:{name}"):
            continue  # an earlier import set it and someone cleared it since: leave it cleared
        setattr(incident, name, evidence.at)
        made.append(name)
        timeline.record(
            session, incident, _EVENT_KINDS[name],
            f"{LABELS[name].capitalize()} (inferred from the channel history: {evidence.rule}): {evidence.text}",
            actor=evidence.author,
            occurred_at=evidence.at, source_key=f"import:{name}",
            data={"imported": True, "inferred": True, "rule": evidence.rule, "message_ts": evidence.ts,
                  **({"author_name": evidence.author_name} if evidence.author_name else {})},
        )
    if inference.detection and not incident.detection:
        incident.detection = inference.detection
    if "resolved_at" in made and not incidents.is_resolved(policy, incident):
        resolved = [status for status in policy.statuses if status.resolved]
        incident.status = next((s for s in resolved if not s.final), resolved[0]).id
        if not incident.resolution and inference.milestones["resolved_at"].text:
            incident.resolution = f"Imported: {inference.milestones['resolved_at'].text}"[:2900]
    elif "mitigated_at" in made and not incidents.is_resolved(policy, incident):
        ids = [status.id for status in policy.statuses]
        if "monitoring" in ids and incident.status in ids and ids.index(incident.status) < ids.index("monitoring"):
            incident.status = "monitoring"
    if made:
        incident.updated_at = utcnow()
        incident.revision = (incident.revision or 0) + 1
    session.add(incident)
    session.flush()
    return made


def _has_event(session: Session, incident: Incident, source_key: str) -> bool:
    return session.exec(
        select(TimelineEvent.id).where(TimelineEvent.incident_id == incident.id, TimelineEvent.source_key == source_key)
    ).first() is not None


def _event_count(session: Session, incident: Incident) -> int:
    return len(timeline.events(session, incident, include_deleted=True))


def _milestones(incident: Incident) -> dict[str, datetime | None]:
    return {name: getattr(incident, name) for name in
            ("started_at", "detected_at", "declared_at", "acknowledged_at", "mitigated_at", "resolved_at", "closed_at")}

"""Postmortems in Slack: scheduled on resolve, drafted from the channel, reviewed, published.

``core.postmortems`` decides (due dates, meeting slots, statuses); ``drafting`` writes the
draft; this module shows it all in the incident channel. Nothing here may make
resolving fail: every step after the resolution is best effort and logged.
"""

from __future__ import annotations

import logging
from collections import Counter

from incidentbot.core import incidents, lifecycle, messages, postmortem_reminders, postmortems, roles, timeline
from incidentbot.core.errors import DomainError
from incidentbot.core.ics import meeting_invite
from incidentbot.db import session_scope, sweep_lock
from incidentbot.drafting.draft import draft_postmortem, policy_options
from incidentbot.drafting.history import from_rows
from incidentbot.drafting.render import render_markdown
from incidentbot.models import Incident, Postmortem
from incidentbot.slack import action_item_proposals, backfill, blocks, effects, ids
from incidentbot.slack.deps import Deps
from incidentbot.slack.gateway import SlackError
from incidentbot.slack.mrkdwn import BARE_USER_ID, escape, user
from incidentbot.timeutil import utcnow

log = logging.getLogger(__name__)
MOST_ACTIVE = 3


def after_resolve(deps: Deps, incident_id: int) -> None:
    """On resolve: schedule by policy, announce the plan, and draft. Never raises."""
    try:
        with session_scope(deps.engine) as session:
            incident = incidents.get(session, incident_id)
            scheduled = postmortems.schedule(session, deps.policy, incident, now=utcnow())
        if scheduled is not None:
            announce_schedule(deps, incident, scheduled)
            draft_and_post(deps, incident_id)
    except Exception:
        log.exception("postmortem after resolving incident %s", incident_id)


def draft_now(deps: Deps, incident_id: int, actor: str) -> str:
    """``/incident postmortem`` and Regenerate: schedule if needed, draft, post. Returns a note for the actor."""
    with session_scope(deps.engine) as session:
        incident = incidents.get(session, incident_id)
        scheduled = postmortems.schedule(session, deps.policy, incident, now=utcnow(), force=True)
    if scheduled is not None:
        announce_schedule(deps, incident, scheduled)
    draft_and_post(deps, incident_id)
    return f"The postmortem draft of {incident.reference} is posted in {blocks.channel_link(incident)}."


def refresh_card(deps: Deps, incident_id: int) -> None:
    """The card shows the postmortem's status; bring it up to date."""
    incident, holders = effects.current(deps, incident_id)
    effects.refresh_card(deps, incident, holders)


def announce_schedule(deps: Deps, incident: Incident, postmortem: Postmortem) -> None:
    """The plan in the channel (with Confirm · Reschedule · Not needed), the invite as .ics, DMs."""
    text, message = schedule_message(deps, incident, postmortem)
    effects.best_effort("post the postmortem plan", deps.gateway.post, incident.channel_id, text, message)
    refresh_card(deps, incident.id)
    if postmortem.meeting_at is None:
        return
    people = participants(deps, incident)
    invite = meeting_invite(
        uid=f"postmortem-{postmortem.id}@incidentbot", title=f"Postmortem review: {incident.reference} {incident.title}",
        description=f"Blameless review of {incident.reference}. Draft and discussion in #{incident.channel_name}.",
        start=postmortem.meeting_at, minutes=deps.policy.postmortems.meeting_minutes, organizer_email=None,
        attendees=[deps.gateway.user_profile(p) for p in people], tz=deps.policy.tz, url=None)
    effects.best_effort("attach the invite", deps.gateway.upload, incident.channel_id, f"{incident.reference}-postmortem-review.ics",
         invite, title=f"Postmortem review of {incident.reference} (calendar invite)")
    note = (f"You're invited to the postmortem review of *{incident.reference}* on "
            f"{blocks.when(postmortem.meeting_at, deps.policy)}. The calendar invite is in "
            f"{blocks.channel_link(incident)}.")
    for person in people:
        effects.best_effort("invite a participant", deps.gateway.post, person, note)


def schedule_message(deps: Deps, incident: Incident, postmortem: Postmortem) -> tuple[str, list[dict]]:
    policy = deps.policy
    meeting = (f"Proposed review: {blocks.when(postmortem.meeting_at, policy)} "
               f"({policy.postmortems.meeting_minutes} min)" if postmortem.meeting_at
               else "No free slot in business hours before the due date: pick one with *Reschedule*.")
    text = (f":spiral_note_pad: *Postmortem for {incident.reference}*: owner {user(postmortem.owner)}, "
            f"due {blocks.when(postmortem.due_at, policy)}.\n{meeting}")
    value = str(postmortem.id)
    buttons = [(ids.PM_CONFIRM, "Confirm"), (ids.PM_RESCHEDULE, "Reschedule"), (ids.PM_NOT_NEEDED, "Not needed")]
    return text, [blocks.section(text), {"type": "actions", "block_id": "postmortem_schedule", "elements": [
        {"type": "button", "action_id": a, "text": blocks.plain(label), "value": value} for a, label in buttons]}]


def participants(deps: Deps, incident: Incident) -> list[str]:
    """Lead, role holders and the most active people in the channel (not bots)."""
    with session_scope(deps.engine) as session:
        stored = incidents.get(session, incident.id)
        authors = Counter(m.user_id for m in messages.for_incident(session, stored) if m.user_id and not m.bot_id)
        active = [u for u, _ in authors.most_common(MOST_ACTIVE)]
        people = postmortems.participants(session, deps.policy, stored, most_active=active)
    if not incident.private:
        return people
    # A private incident's review is only for the people in its channel: not a role holder
    # Slack refused to invite, nor someone who left.
    members = _channel_members(deps, incident)
    return [person for person in people if person in members]


def _channel_members(deps: Deps, incident: Incident) -> set[str]:
    """Who is in the incident's channel; nobody when Slack can't say (a private incident then
    tells no one outside its channel rather than risk someone who is not in it)."""
    try:
        return deps.gateway.members(incident.channel_id)
    except SlackError as error:
        log.warning("members of %s unknown (%s)", incident.reference, error.code)
        return set()


def draft_and_post(deps: Deps, incident_id: int) -> None:
    """Draft from what the bot stored, keep it, and post it as a Markdown file."""
    with session_scope(deps.engine) as session:
        incident = incidents.get(session, incident_id)
    try:
        backfill.backfill(deps, incident)  # messages missed while the bot was down
    except SlackError as error:
        log.warning("drafting %s without a backfill: %s", incident.reference, error.code)
    with session_scope(deps.engine) as session:
        incident = incidents.get(session, incident_id)
        rows = messages.for_incident(session, incident)
        # The postmortem's own bookkeeping (scheduled, drafted…) is not part of the incident.
        events = [e for e in timeline.events(session, incident) if e.kind not in postmortems.EVENT_KINDS]
        holders = roles.holders(session, incident)
    # The bot's own posts restate the timeline events, which the draft already has.
    bot_user, bot_id = _identity(deps)
    rows = [r for r in rows if r.user_id != bot_user and not (bot_id and r.bot_id == bot_id)]
    people = {r.user_id for r in rows if r.user_id} | {e.actor for e in events if e.actor}
    names = {uid: deps.gateway.user_profile(uid)[0] for uid in people}
    events = [e.model_copy(update={"text": _named(e.text, names)}) for e in events]
    history = from_rows(rows, events, names, channel=incident.channel_name or "", title=incident.title)
    mode = "auto" if deps.settings.openai_api_key or deps.settings.openai_base_url else "offline"
    draft = draft_postmortem(history, title=incident.title, mode=mode, settings=deps.settings,
                             **policy_options(deps.policy))
    with session_scope(deps.engine) as session:
        postmortem = postmortems.get(session, incidents.get(session, incident_id))
    _use_the_record(deps, draft, incident, names.get(holders.get(deps.policy.lead_role.id, ""), None))
    meeting = blocks.when(postmortem.meeting_at, deps.policy) if postmortem.meeting_at else None
    markdown = render_markdown(draft, owner=deps.gateway.user_profile(postmortem.owner)[0],
                               meeting=_plain_time(postmortem.meeting_at, deps) if meeting else None)
    with session_scope(deps.engine) as session:
        postmortem = postmortems.get(session, incidents.get(session, incident_id))
        # The proposals become action items only when someone confirms them (action_item_proposals).
        postmortems.record_draft(session, postmortem, markdown=markdown, model=draft.model,
                                 actions=action_item_proposals.from_draft(draft.action_items, names))
    summary = (f":memo: *Postmortem draft for {incident.reference}* ({escape(draft.model)}): "
               f"{len(draft.timeline)} timeline entries, {len(draft.action_items)} proposed action items. "
               "Review it, then *Mark in review* and *Publish*.")
    effects.best_effort("upload the draft", deps.gateway.upload, incident.channel_id, f"{incident.reference}-postmortem.md",
         markdown, title=f"Postmortem draft: {incident.reference}")
    effects.best_effort("post the review buttons", deps.gateway.post, incident.channel_id, summary,
         review_buttons(summary, postmortem.id))
    action_item_proposals.post(deps, incident_id, postmortem.id)  # Confirm buttons under the draft
    refresh_card(deps, incident_id)


def _identity(deps: Deps) -> tuple[str, str]:
    try:
        return deps.gateway.bot_identity()
    except SlackError:
        return "", ""




def _named(text: str, names: dict[str, str]) -> str:
    """Timeline entries the bot wrote name people by id; a document names them."""
    return BARE_USER_ID.sub(lambda m: names.get(m.group(), m.group()), text or "")


def _use_the_record(deps: Deps, draft, incident: Incident, lead: str | None) -> None:
    """What the incident record says for certain wins over what the drafter inferred."""
    draft.severity = incident.severity
    draft.category = incident.category or draft.category
    draft.lead = lead or draft.lead
    for name in ("started_at", "detected_at", "declared_at", "mitigated_at", "resolved_at"):
        recorded = getattr(incident, name)
        if recorded is not None:
            draft.milestones[name] = recorded
            draft.milestone_sources[name] = "incident record"


def _plain_time(moment, deps: Deps) -> str:
    return moment.astimezone(deps.policy.tz).strftime("%Y-%m-%d %H:%M %Z")


def review_buttons(summary: str, postmortem_id: int) -> list[dict]:
    buttons = [(ids.PM_REGENERATE, "Regenerate"), (ids.PM_REVIEW, "Mark in review"), (ids.PM_PUBLISH, "Publish")]
    return [blocks.section(summary), {"type": "actions", "block_id": "postmortem_review", "elements": [
        {"type": "button", "action_id": a, "text": blocks.plain(label), "value": str(postmortem_id)}
        for a, label in buttons]}]


def publish(deps: Deps, postmortem_id: int, actor: str) -> str:
    """Publish: store the final version, post it under the announcement, close if the policy says so."""
    with session_scope(deps.engine) as session:
        postmortem = session.get(Postmortem, postmortem_id)
        postmortems.advance(session, postmortem, "published", actor)
        incident = incidents.get(session, postmortem.incident_id)
        markdown = postmortem.draft_markdown or ""
    effects.best_effort("upload the published postmortem", deps.gateway.upload, incident.channel_id,
         f"{incident.reference}-postmortem-final.md", markdown, title=f"Postmortem: {incident.reference} (published)")
    if not incident.private and incident.announcement_ts:
        effects.best_effort("announce the postmortem", deps.gateway.post, incident.announcement_channel_id,
             f":books: The postmortem of *{incident.reference}* is published in {blocks.channel_link(incident)}.",
             thread_ts=incident.announcement_ts)
    if deps.policy.postmortems.close_on_publish:
        _close(deps, incident, actor)
    refresh_card(deps, incident.id)
    return f"The postmortem of {incident.reference} is published."


def _close(deps: Deps, incident: Incident, actor: str) -> None:
    """The policy closes incidents on publish: a change like any other (card, line, timeline)."""
    try:
        with session_scope(deps.engine) as session:
            change = lifecycle.close(session, deps.policy, incidents.get(session, incident.id), actor, privileged=True)
    except DomainError as error:
        log.info("not closing %s on publish: %s", incident.reference, error)
        return
    effects.publish(deps, [change])


# Reminders (the worker) ----------------------------------------------------------------

_REMINDERS = {
    "draft_not_started": ("owner", ":hourglass: The postmortem of *{ref}* is due {due} and has no draft yet. "
                                   "Type `/incident postmortem` in {channel} to draft it."),
    "meeting_24h": ("channel", ":calendar: The postmortem review of *{ref}* is tomorrow, {meeting}."),
    "meeting_1h": ("channel", ":calendar: The postmortem review of *{ref}* starts in an hour, {meeting}."),
    "overdue_owner": ("owner", ":warning: The postmortem of *{ref}* was due {due}. Draft or publish it in {channel}, "
                               "or record that it is not needed."),
    "overdue_channel": ("channel", ":warning: The postmortem of *{ref}* is overdue (due {due}); owner {owner}."),
}


def send_reminders(deps: Deps, now=None) -> int:
    """Send every postmortem reminder that is due: claimed first, so each goes out once."""
    now = now or utcnow()
    with sweep_lock(deps.engine, "postmortem-reminders") as mine:
        if not mine:
            return 0
        with session_scope(deps.engine) as session:
            due = postmortem_reminders.due_reminders(session, deps.policy, now)
        return sum(_remind(deps, reminder, now) for reminder in due)


def _remind(deps: Deps, reminder, now) -> int:
    with session_scope(deps.engine) as session:
        claim = postmortem_reminders.claim_reminder(session, reminder, now)
        postmortem = session.get(Postmortem, reminder.postmortem_id)
        incident = incidents.get(session, postmortem.incident_id)
    if claim is None:
        return 0
    audience, template = _REMINDERS[reminder.kind]
    text = template.format(ref=incident.reference, due=blocks.when(postmortem.due_at, deps.policy),
                           meeting=blocks.when(postmortem.meeting_at, deps.policy) if postmortem.meeting_at else "",
                           channel=blocks.channel_link(incident), owner=user(postmortem.owner))
    target = postmortem.owner if audience == "owner" else incident.channel_id
    if target == postmortem.owner and incident.private and target not in _channel_members(deps, incident):
        # An owner outside the private channel (never let in, or left) is not told about it:
        # the channel's members are, and can hand the postmortem over.
        target = incident.channel_id
    try:
        ts = deps.gateway.post(target, text)
    except SlackError as error:
        log.warning("postmortem reminder %s for %s not sent (%s); will retry", reminder.kind, incident.reference,
                    error.code)
        with session_scope(deps.engine) as session:
            postmortem_reminders.release_reminder(session, session.get(type(claim), claim.id))
        return 0
    with session_scope(deps.engine) as session:
        postmortem_reminders.mark_reminder_sent(session, session.get(type(claim), claim.id), channel_id=target,
                                       message_ts=ts, now=now)
    return 1

"""A postmortem draft's proposed action items: shown with Confirm buttons, created on confirm.

The drafter only proposes; nothing becomes an action item until a person confirms it.
Confirming is idempotent: the request key is the postmortem plus the proposal's
normalised text (``core.action_items.proposal_key``), so a second click, *Confirm all*
after *Confirm*, or confirming in a regenerated draft never creates an item twice.
Each confirmation updates the proposals message in place and posts the item's record
(with its backlog buttons) as a reply under it, so the channel keeps one tidy thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlmodel import Session

from incidentbot.core import action_items, incidents
from incidentbot.core.errors import DomainError, NotFound
from incidentbot.db import session_scope
from incidentbot.models import Incident, Postmortem
from incidentbot.slack import action_item_blocks as ui
from incidentbot.slack import action_items as flows
from incidentbot.slack import effects
from incidentbot.slack.deps import Deps

log = logging.getLogger(__name__)


def from_draft(draft_items: list, names: dict[str, str]) -> list[dict]:
    """The draft's proposals as stored on the postmortem (``Postmortem.draft_actions``).

    ``names`` maps user ids to the display names the drafter wrote; an owner name that
    belongs to exactly one person becomes their ``owner_id``.
    """
    ids_by_name: dict[str, list[str]] = {}
    for user_id, name in names.items():
        ids_by_name.setdefault(name, []).append(user_id)
    proposals = []
    for item in draft_items:
        owners = ids_by_name.get(item.owner or "", [])
        proposals.append({"text": item.text, "type": item.type, "priority": item.priority, "source": item.source,
                          "ts": item.ts, "owner": item.owner, "owner_id": owners[0] if len(owners) == 1 else None})
    return proposals


def post(deps: Deps, incident_id: int, postmortem_id: int) -> None:
    """Post the proposals under the draft (nothing when there are none). Never raises."""
    try:
        with session_scope(deps.engine) as session:
            postmortem = session.get(Postmortem, postmortem_id)
            incident = incidents.get(session, incident_id)
            if not postmortem or not postmortem.draft_actions or not incident.channel_id:
                return
            text, message = _render(session, postmortem, incident)
        effects.best_effort("post the proposed action items", deps.gateway.post, incident.channel_id, text, message)
    except Exception:
        log.exception("proposed action items of postmortem %s", postmortem_id)


@dataclass
class Confirmed:
    added: list[flows.Added] = field(default_factory=list)  # newly created
    message: tuple[str, list[dict]] | None = None  # the proposals message as it is now
    notes: list[str] = field(default_factory=list)  # for the person who clicked


def confirm(deps: Deps, postmortem_id: int, index: int, check: str, actor: str) -> Confirmed:
    """Confirm one proposal; when it already is, the note says so (and nothing is created)."""
    with session_scope(deps.engine) as session:
        postmortem = _postmortem(session, postmortem_id)
        index = _find(postmortem, index, check)
    added = _create(deps, postmortem_id, index, actor)
    result = Confirmed([added] if added.new else [], _message(deps, postmortem_id))
    if not added.new:
        result.notes.append(f"{action_items.label(added.item)} is already confirmed from this proposal.")
    return result


def confirm_all(deps: Deps, postmortem_id: int, actor: str) -> Confirmed:
    """Confirm every proposal not confirmed yet; one that fails is reported and skipped."""
    with session_scope(deps.engine) as session:
        count = len(_postmortem(session, postmortem_id).draft_actions or [])
    result = Confirmed()
    for index in range(count):
        try:
            added = _create(deps, postmortem_id, index, actor)
        except DomainError as error:
            result.notes.append(f"Proposal {index + 1} was not added: {error}")
            continue
        if added.new:
            result.added.append(added)
    result.message = _message(deps, postmortem_id)
    if not result.added and not result.notes:
        result.notes.append(f"All {count} proposals are already confirmed.")
    return result


def announce(deps: Deps, result: Confirmed, body: dict) -> None:
    """Bring the clicked proposals message up to date; each new item's record goes under it."""
    if result.message:
        flows.replace_clicked_message(deps, body, result.message)
    thread = (body.get("container") or {}).get("message_ts")
    for added in result.added:
        flows.announce(deps, added, thread_ts=thread)


# --- helpers ---------------------------------------------------------------------------


def _create(deps: Deps, postmortem_id: int, index: int, actor: str) -> flows.Added:
    """One proposal as an action item, in its own transaction (so Confirm all keeps the others)."""
    with session_scope(deps.engine) as session:
        postmortem = _postmortem(session, postmortem_id)
        spec = action_items.from_proposal(postmortem, index)
        spec.owner = spec.owner or actor  # nobody named in the channel: the person confirming
        spec.source_channel_id = incidents.get(session, postmortem.incident_id).channel_id
        incident_id = postmortem.incident_id
    return flows.create(deps, incident_id, spec, actor=actor)


def _find(postmortem: Postmortem, index: int, check: str) -> int:
    """The proposal a button means: at ``index`` unless the draft was regenerated since."""
    proposals = postmortem.draft_actions or []
    keys = [_check(postmortem.id, p) for p in proposals]
    if 0 <= index < len(keys) and (not check or keys[index] == check):
        return index
    if check in keys:
        return keys.index(check)
    raise NotFound("That proposal is not in the current postmortem draft any more; "
                   "confirm it from the latest proposals message.")


def _check(postmortem_id: int, proposal: dict) -> str:
    return action_items.proposal_key(postmortem_id, str(proposal.get("text") or "")).rsplit(":", 1)[1]


def _postmortem(session: Session, postmortem_id: int) -> Postmortem:
    postmortem = session.get(Postmortem, postmortem_id)
    if postmortem is None:
        raise NotFound("That postmortem no longer exists.")
    return postmortem


def _message(deps: Deps, postmortem_id: int) -> tuple[str, list[dict]]:
    with session_scope(deps.engine) as session:
        postmortem = _postmortem(session, postmortem_id)
        return _render(session, postmortem, incidents.get(session, postmortem.incident_id))


def _render(session: Session, postmortem: Postmortem, incident: Incident) -> tuple[str, list[dict]]:
    confirmed = action_items.confirmed_proposals(session, postmortem)
    return ui.proposals_message(incident.reference, postmortem.id, postmortem.draft_actions or [], confirmed)


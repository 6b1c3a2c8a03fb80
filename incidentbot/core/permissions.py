"""Who may downgrade the severity, resolve and close an incident (``[permissions]``)."""

from __future__ import annotations

from sqlmodel import Session

from incidentbot.core import roles
from incidentbot.core.errors import NotAllowed
from incidentbot.core.policy import Policy
from incidentbot.models import Incident

ACTIONS = ("downgrade", "resolve", "close")


def check(
    session: Session, policy: Policy, incident: Incident, actor: str, action: str, *, privileged: bool = False
) -> None:
    """Raise ``NotAllowed`` unless ``actor`` may do ``action`` on the incident.

    ``privileged`` is set by the Slack layer when the actor is in the policy's
    privileged user group (only Slack can tell group membership).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    rules = policy.permissions
    if action not in rules.restricted_actions or privileged or actor in rules.privileged_users:
        return
    current_lead = roles.lead(session, policy, incident)
    # With nobody in the lead, refusing would block the response; anyone may act.
    if current_lead is None or current_lead == actor:
        return
    others = ", or a member of the privileged group" if rules.privileged_users or rules.privileged_usergroup else ""
    raise NotAllowed(
        f"Only the incident lead can {_what(action, incident)}. Ask them{others}.",
        action=action,
        lead=current_lead,
    )


def _what(action: str, incident: Incident) -> str:
    if action == "downgrade":
        return f"lower the severity of {incident.reference}"
    return f"{action} {incident.reference}"

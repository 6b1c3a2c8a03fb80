"""Who may see which incident.

A private incident exists for the people in its private channel and nobody else:
its title, channel and even its severity stay out of public lists, announcements,
other people's App Home and digests. Membership is Slack's to know, so the caller
passes ``members_of`` (the Slack layer asks ``conversations.members``); this
module only applies the rule, which keeps it testable without Slack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from incidentbot.models import Incident

MembersOf = Callable[[Incident], set[str]]


def visible(incidents: Iterable[Incident], viewer_id: str, members_of: MembersOf) -> list[Incident]:
    """The incidents ``viewer_id`` may see, in the order given.

    ``members_of`` is only called for private incidents, so a list of public
    incidents costs no membership look-ups at all.
    """
    return [i for i in incidents if not i.private or viewer_id in members_of(i)]


def public_only(incidents: Iterable[Incident]) -> list[Incident]:
    """For surfaces anyone can read (announcement channel, digest): no private incidents."""
    return [i for i in incidents if not i.private]


def hidden_private(incidents: Iterable[Incident], shown: Iterable[Incident]) -> int:
    """How many private incidents of ``incidents`` are left out of ``shown`` (by id).

    Public surfaces may say "1 private incident" and no more; this is the number
    they may say.
    """
    shown_ids = {i.id for i in shown}
    return sum(1 for i in incidents if i.private and i.id not in shown_ids)

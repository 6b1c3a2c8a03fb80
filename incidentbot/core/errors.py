"""Errors the domain raises for people to read.

The Slack layer shows ``str(error)`` to the user as an ephemeral message (or on the
modal field named by ``field``), so messages say what to type instead.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses, with a message meant for the person who made it."""


class InvalidInput(DomainError):
    """A value is not acceptable; ``field`` names the input it came from."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class NotFound(DomainError):
    """The thing asked for does not exist (or the user may not see it)."""


class AlreadyDone(DomainError):
    """The incident is already in the state asked for (a double click, a stale card)."""


class NotAllowed(DomainError):
    """The policy reserves this action for others; the message says who may.

    ``action`` is what was refused ("resolve"), ``lead`` the user id of the current
    lead, so the Slack layer can mention them.
    """

    def __init__(self, message: str, *, action: str | None = None, lead: str | None = None) -> None:
        super().__init__(message)
        self.action = action
        self.lead = lead


class Closed(DomainError):
    """The incident is closed; it is archived and cannot change any more."""

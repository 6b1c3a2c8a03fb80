"""The seeded sandbox workspace and Slack-shaped user objects."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from incidentbot.sandbox.constants import BOT_ID, BOT_NAME, BOT_USER_ID, DIGEST_ID, GENERAL_ID, INCIDENTS_ID, TEAM_ID

if TYPE_CHECKING:
    from incidentbot.sandbox.state import SandboxState

# Humans in different time zones, so business-hours and digest code meets real offsets.
HUMANS = (
    ("U0ALICE", "alice", "Alice Andersen", "Europe/Copenhagen"),
    ("U0BOB", "bob", "Bob Brown", "America/New_York"),
    ("U0CAROL", "carol", "Carol Chen", "Asia/Singapore"),
    ("U0DAVE", "dave", "Dave Davies", "Europe/London"),
    ("U0ERIN", "erin", "Erin Evans", "America/Los_Angeles"),
)


def user_object(
    user_id: str,
    name: str,
    *,
    real_name: str | None,
    tz: str,
    email: str | None,
    display_name: str | None,
    is_bot: bool,
    bot_id: str | None,
    is_admin: bool,
    updated: int,
) -> dict:
    """A users.info-shaped user; tz_offset is computed from the zone, as Slack does."""
    real_name = real_name or name
    now = datetime.fromtimestamp(updated, timezone.utc).astimezone(ZoneInfo(tz))
    offset = now.utcoffset()
    profile = {
        "real_name": real_name,
        "real_name_normalized": real_name,
        "display_name": display_name if display_name is not None else name,
        "display_name_normalized": display_name if display_name is not None else name,
        "email": email if email is not None else (None if is_bot else f"{name}@sandbox.example"),
        "image_48": "",
        "team": TEAM_ID,
    }
    if is_bot:
        profile["bot_id"] = bot_id
        profile.pop("email")
    return {
        "id": user_id,
        "team_id": TEAM_ID,
        "name": name,
        "deleted": False,
        "real_name": real_name,
        "tz": tz,
        "tz_label": now.tzname(),
        "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
        "profile": profile,
        "is_admin": is_admin,
        "is_owner": False,
        "is_bot": is_bot,
        "is_app_user": False,
        "updated": updated,
    }


def seed_workspace(state: "SandboxState", *, humans: bool) -> None:
    """The bot always exists (auth.test needs it); humans and channels only when seeding."""
    state.add_user(BOT_USER_ID, BOT_NAME, real_name="Incident Bot", is_bot=True, bot_id=BOT_ID)
    if not humans:
        return
    for user_id, name, real_name, tz in HUMANS:
        state.add_user(user_id, name, real_name=real_name, tz=tz)
    members = tuple(h[0] for h in HUMANS)
    # The bot is deliberately not a member: like a fresh install, it has to join first.
    state.add_channel(
        "general", channel_id=GENERAL_ID, members=members, creator="U0ALICE",
        purpose="Company-wide announcements", is_general=True,
    )
    # A user group of people who may always downgrade, resolve and close.
    state.usergroups["S0COMMANDERS"] = {
        "id": "S0COMMANDERS", "team_id": "T0SANDBOX", "handle": "incident-commanders",
        "name": "Incident commanders", "users": ["U0CAROL"], "user_count": 1,
    }
    state.add_channel(
        "incidents", channel_id=INCIDENTS_ID, members=members, creator="U0ALICE",
        purpose="Incident announcements",
    )
    # The default policy's digest channel ([digest] channel): the bot joins it to post.
    state.add_channel(
        "incident-digest", channel_id=DIGEST_ID, members=members[:2], creator="U0ALICE",
        purpose="The weekly incident digest",
    )

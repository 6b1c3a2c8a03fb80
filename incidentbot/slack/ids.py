"""Every callback, block and action id the bot uses, in one place.

Views and messages carry these ids back to us in interactions, so they are part
of the app's contract with Slack: renaming one breaks buttons on old messages.
"""

COMMAND = "/incident"

# The declare modal and its inputs (block_id == action_id for simplicity).
DECLARE_VIEW = "declare_incident"
DECLARE_TITLE = "title"
DECLARE_SEVERITY = "severity"
DECLARE_CATEGORY = "category"
DECLARE_SERVICES = "services"
DECLARE_SUMMARY = "summary"

DECLARE_PRIVATE = "private"

# Buttons on the incident card. Their value is "<incident id>:<revision>", so a click
# on an old card can be recognised and answered with the current state.
ACK = "incident_ack"
TAKE_LEAD = "incident_take_lead"
OPEN_UPDATE = "incident_open_update"
OPEN_SEVERITY = "incident_open_severity"
MITIGATE = "incident_mitigate"
OPEN_RESOLVE = "incident_open_resolve"
SNOOZE = "nudge_snooze"

# Modals opened from the card or from subcommands; private_metadata carries the incident id.
UPDATE_VIEW = "incident_update"
UPDATE_STATUS = "status"
UPDATE_TEXT = "text"
UPDATE_IMPACT = "impact"
UPDATE_NEXT = "next_update"

SEVERITY_VIEW = "incident_severity"
SEVERITY_VALUE = "severity"
SEVERITY_REASON = "reason"

RESOLVE_VIEW = "incident_resolve"
RESOLVE_SUMMARY = "summary"

# Message shortcut: declare an incident from a message.
DECLARE_FROM_MESSAGE = "declare_incident_from_message"

# /incident timeline: paging, and the milestones form it opens.
TIMELINE_PAGE = "timeline_page"
OPEN_MILESTONES = "timeline_open_milestones"
MILESTONES_VIEW = "incident_milestones"
MILESTONES_DETECTION = "detection"

# Message shortcut: put a message on the incident timeline (in an incident channel).
ADD_TO_TIMELINE = "add_to_incident_timeline"

# Postmortems: the plan (Confirm · Reschedule · Not needed) and the draft (Regenerate ·
# Mark in review · Publish). Values are the postmortem id.
PM_CONFIRM = "postmortem_confirm_meeting"
PM_RESCHEDULE = "postmortem_reschedule"
PM_NOT_NEEDED = "postmortem_not_needed"
PM_REGENERATE = "postmortem_regenerate"
PM_REVIEW = "postmortem_mark_in_review"
PM_PUBLISH = "postmortem_publish"
PM_RESCHEDULE_VIEW = "postmortem_reschedule"
PM_NOT_NEEDED_VIEW = "postmortem_not_needed"
PM_WHEN_DATE = "when_date"
PM_WHEN_TIME = "when_time"
PM_REASON = "reason"

# --- Backlog and App Home action items (slack/my_action_items.py, slack/backlog_view.py) ---
# "My action items" buttons (App Home and the owner's reminder DMs). Values are
# "<action item id>:<revision>"; an actions block per item, block_id "home_ai:<id>".
HOME_AI_DONE = "home_action_item_done"
HOME_AI_SNOOZE = "home_action_item_snooze"
HOME_AI_REASSIGN = "home_action_item_reassign"
HOME_AI_REASSIGN_VIEW = "home_action_item_reassign"
HOME_AI_OWNER = "owner"
# /incident backlog buttons. Values are "<backlog item id>:<revision>:<filter>", so a
# stale click is answered with the item as it is now and the list is shown again.
BACKLOG_ASSIGN_ME = "backlog_assign_me"
BACKLOG_DONE = "backlog_mark_done"
BACKLOG_WONT_DO = "backlog_wont_do"
BACKLOG_WONT_DO_VIEW = "backlog_wont_do"
BACKLOG_REASON = "reason"

# --- Action items (slack/action_items.py, slack/action_item_blocks.py) ---------------------
# The card's "Add action item" button (value "<incident id>:<revision>", as every card
# button) and the message shortcut open one form; private_metadata carries the incident
# id and the source message. Inputs use block_id == action_id == the domain field name,
# so a domain error's ``field`` is the block that shows it.
AI_OPEN_FORM = "incident_add_action_item"
AI_FROM_MESSAGE = "create_action_item_from_message"
AI_VIEW = "action_item_create"
AI_TITLE = "title"
AI_DESCRIPTION = "description"
AI_OWNER = "owner"
AI_DUE = "due"
AI_TYPE = "type"
AI_PRIORITY = "priority"
AI_SERVICE = "service"
# On the channel message that records a new item: Split (value "<action item id>") and
# Merge into (value "<action item id>:<its backlog item id>:<target backlog item id>",
# one section per suggestion, block_id "ai_merge:<target>").
AI_SPLIT = "action_item_split"
AI_MERGE = "action_item_merge"
# A postmortem draft's proposals: Confirm (value "<postmortem id>:<index>:<text hash>";
# the hash finds the proposal again in a regenerated draft) and Confirm all ("<postmortem id>").
AI_CONFIRM = "action_item_confirm_proposal"
AI_CONFIRM_ALL = "action_item_confirm_all_proposals"


def post_key(incident, what: str) -> str:
    """The metadata key of one of the incident's posts ("card", "announcement",
    "update-7" …), so that a post whose answer was lost, or whose ts was never stored,
    is found instead of posted twice. Unique per incident and per database (the
    declaration time is in it), so a reset database never finds an old post."""
    return f"{incident.id}.{int(incident.declared_at.timestamp())}.{what}"

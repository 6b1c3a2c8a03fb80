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

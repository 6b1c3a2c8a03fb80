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


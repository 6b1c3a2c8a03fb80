"""Rendering the weekly digest (``core.digest_report.Digest``): Slack, Markdown, HTML, JSON.

The renderers only format: every number, trend and note comes computed in the digest.
User text is escaped for the format it lands in; private incidents appear as counts
only; times are shown in the digest's timezone (the organisation's).

    text, blocks = slack_message(digest, policy)   # chat.postMessage
    markdown(digest, policy)                       # templates/digest.md.j2 (overridable)
    html(digest, policy)                           # templates/digest.html.j2, for e-mail
    to_json(digest)                                # everything, JSON-safe
"""

from incidentbot.digest_render.documents import html, markdown, to_json
from incidentbot.digest_render.slack import slack_message

__all__ = ["html", "markdown", "slack_message", "to_json"]

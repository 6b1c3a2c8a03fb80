"""Slack markup typed by people never comes back out of the bot live.

Every text field is fed mentions, broadcasts, a disguised link, ``&`` and ``<script>``;
then everything the bot posted, updated, published or replied is swept.
"""

from __future__ import annotations

import json

from tests_support import ALICE, CAROL, GENERAL, wait_for

# As Slack sends it in command text (should_escape: true: markup as markup, typed < > & as entities).
INJECTED = "<!channel> <!here> <@U0BOB> <https://evil.example|ok> &amp; &lt;script&gt;alert(1)&lt;/script&gt;"
# ...and the same typed literally (entities), which unescape turns back into brackets.
TYPED = "&lt;!channel&gt; &lt;!here&gt; &lt;@U0BOB&gt; &lt;https://evil.example|ok&gt;"
FORBIDDEN = ("<!channel>", "<!here>", "<@U0BOB>", "<@U0BOB|", "<https://evil.example|")
SWEPT = ("chat.postMessage", "chat.update", "chat.postEphemeral", "views.publish", "views.open", "views.update",
         "views.push")


def test_injected_markup_is_never_posted_live(bot):
    text = f"Checkout down {INJECTED} {TYPED}"
    declared = bot.driver.slash_command("declare Checkout <!here> <@U0BOB> <https://evil.example|ok> &amp; &lt;script&gt; sev2",
                                        user=ALICE, channel=GENERAL)
    assert declared.status == 200, declared.body
    incident = bot.wait_provisioned(1)
    channel = incident.channel_id
    for command in (f"update {text}", f"note {text}", f"action Fix it <@{CAROL}> {text}", f"summary {text}", f"resolve {text}"):
        answer = bot.driver.slash_command(command, user=ALICE, channel=channel)
        assert answer.status == 200, (command, answer.body)
    wait_for(lambda: bot.incident(1).resolved_at, "the resolution")
    bot.driver.app_home_opened(ALICE)
    wait_for(lambda: bot.slack.calls("views.publish"), "the home tab")

    swept = [c for c in bot.slack.calls() if c["method"] in SWEPT]
    assert {"chat.postMessage", "chat.update"} <= {c["method"] for c in swept}
    everything = [json.dumps(c.get("args"), ensure_ascii=False) for c in swept]
    everything += [json.dumps(r, ensure_ascii=False) for r in bot.slack.responses()]
    everything += [json.dumps(r, ensure_ascii=False) for r in bot.replies(ALICE)]
    assert any("Checkout down" in t for t in everything)  # the user text did go out: the sweep sees it
    leaks = [(marker, t[:300]) for t in everything for marker in FORBIDDEN if marker in t]
    assert leaks == []

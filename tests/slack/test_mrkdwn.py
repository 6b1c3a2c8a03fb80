from incidentbot.slack import mrkdwn


def test_escape_neutralises_pings_and_links():
    assert mrkdwn.escape("<!channel> & <https://evil|ok> <@U1>") == "&lt;!channel&gt; &amp; &lt;https://evil|ok&gt; &lt;@U1&gt;"


def test_escape_none_and_empty():
    assert mrkdwn.escape(None) == "" and mrkdwn.escape("") == ""


def test_truncate_marks_the_cut():
    assert mrkdwn.truncate("abcdef", 4) == "abc…" and mrkdwn.truncate("abc", 4) == "abc"

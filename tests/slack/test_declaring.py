from incidentbot.slack import blocks, declaring


def test_sent_at_reads_slacks_signed_timestamp():
    assert declaring.sent_at({"x-slack-request-timestamp": ["1795251600"]}) == 1795251600.0
    assert declaring.sent_at({}) is None
    assert declaring.sent_at({"x-slack-request-timestamp": ["soon"]}) is None


def test_late_from_three_seconds_after_slack_sent_it():
    assert not declaring.answered_late(1000.0, now=1002.9)
    assert declaring.answered_late(1000.0, now=1003.0)
    assert not declaring.answered_late(None, now=5000.0)  # no timestamp (Socket Mode): never said


def test_noting_late_puts_the_note_first():
    said = []
    declaring.noting_late(said.append)("INC-4 is declared.")
    assert said == [blocks.ANSWERED_LATE + "\nINC-4 is declared."]

from sqlmodel import select

from incidentbot.core import deliveries
from incidentbot.models import ProcessedEvent


def test_only_the_first_claim_wins(session):
    assert deliveries.claim(session, "Ev1", "event") is True
    assert deliveries.claim(session, "Ev1", "event") is False
    assert deliveries.claim(session, "Ev2", "event") is True
    session.commit()
    assert {e.key for e in session.exec(select(ProcessedEvent)).all()} == {"Ev1", "Ev2"}


def test_claims_from_two_sessions(engine):
    from sqlmodel import Session

    with Session(engine) as one, Session(engine) as two:
        assert deliveries.claim(one, "Ev9", "event")
        one.commit()
        assert not deliveries.claim(two, "Ev9", "event")

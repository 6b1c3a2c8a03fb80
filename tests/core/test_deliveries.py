from sqlmodel import Session, select

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


def test_a_claim_is_undone_when_its_request_rolls_back(engine):
    # A form refused with a field error rolls back; its corrected resubmission (same view
    # id) must not be taken for one already handled. On SQLite this needs db.py's BEGIN
    # before the claim's SAVEPOINT.
    with Session(engine) as session:
        assert deliveries.claim(session, "view:V9", "view")
        session.rollback()
    with Session(engine) as session:
        assert deliveries.claim(session, "view:V9", "view")
        assert not deliveries.claim(session, "view:V9", "view")
        session.commit()
    with Session(engine) as session:
        assert not deliveries.claim(session, "view:V9", "view")

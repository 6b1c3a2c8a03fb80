from incidentbot.core import visibility
from incidentbot.models import Incident
from incidentbot.timeutil import utcnow

ALICE, BOB = "U0ALICE", "U0BOB"


def incident(number: int, *, private: bool = False, channel_id: str | None = None) -> Incident:
    return Incident(id=number, number=number, title=f"Incident {number}", severity="SEV2", status="investigating",
                    private=private, declared_by=ALICE, declared_at=utcnow(), channel_id=channel_id or f"C{number}")


class Members:
    """A members_of that records which incidents it was asked about."""

    def __init__(self, by_channel: dict[str, set[str]]) -> None:
        self.by_channel = by_channel
        self.asked: list[int] = []

    def __call__(self, incident: Incident) -> set[str]:
        self.asked.append(incident.number)
        return self.by_channel.get(incident.channel_id, set())


def test_members_see_private_incidents_and_others_do_not():
    public, secret = incident(1), incident(2, private=True, channel_id="G2")
    members = Members({"G2": {ALICE}})
    assert [i.number for i in visibility.visible([secret, public], ALICE, members)] == [2, 1]
    assert [i.number for i in visibility.visible([secret, public], BOB, members)] == [1]


def test_membership_is_only_looked_up_for_private_incidents():
    members = Members({})
    visibility.visible([incident(1), incident(2), incident(3, private=True)], BOB, members)
    assert members.asked == [3]


def test_public_only_drops_every_private_incident():
    incidents = [incident(1), incident(2, private=True), incident(3)]
    assert [i.number for i in visibility.public_only(incidents)] == [1, 3]


def test_hidden_private_counts_what_was_left_out():
    public, one, two = incident(1), incident(2, private=True), incident(3, private=True)
    everything = [public, one, two]
    assert visibility.hidden_private(everything, [public]) == 2
    assert visibility.hidden_private(everything, [public, two]) == 1
    assert visibility.hidden_private(everything, everything) == 0
    assert visibility.hidden_private([public], []) == 0  # a hidden public incident is not "private"

"""The reliability backlog: items join similar risks across incidents; merge, split, close, rank."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from incidentbot.core import action_items, backlog, incidents
from incidentbot.core.action_items import NewActionItem
from incidentbot.core.errors import AlreadyDone, InvalidInput
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy, parse_policy
from incidentbot.models import ActionItem, BacklogItem

POLICY = load_policy()
NOW = datetime(2026, 11, 19, 10, 0, tzinfo=timezone.utc)
ALICE, BOB = "U0ALICE", "U0BOB"


def declare(session, title, severity="SEV2", services=("api",), category="dependency-third-party", private=False,
            impact_minutes=None):
    incident, _ = incidents.declare(session, POLICY, Declaration(
        title=title, severity=severity, declared_by=ALICE, services=services, category=category, private=private))
    if impact_minutes is not None:
        incident.started_at = incident.declared_at
        incident.mitigated_at = incident.declared_at + timedelta(minutes=impact_minutes)
        session.add(incident)
    session.commit()
    return incident


def add(session, incident, title, description="", **fields):
    created = action_items.create(session, POLICY, incident, NewActionItem(title=title, description=description,
                                  **fields), actor=ALICE, now=NOW)
    session.commit()
    return created


def test_similar_items_from_two_incidents_join_one_backlog_item_and_its_score_rises(session):
    first = declare(session, "Orders stuck: RDS replica lag", impact_minutes=30)
    a = add(session, first, "Add alerting on RDS replica lag")
    risk = a.backlog_item
    before = backlog.ranked(session, POLICY, now=NOW)[0]
    second = declare(session, "Reports stale again", severity="SEV1", impact_minutes=45)
    b = add(session, second, "Alarm when the Postgres replica falls behind")
    assert b.backlog_item.id == risk.id and b.match is not None and b.match.key == risk.id
    after = backlog.ranked(session, POLICY, now=NOW)[0]
    assert after.item.id == risk.id and after.score.total > before.score.total
    assert [i.number for i in after.incidents] == [second.number, first.number]
    factors = {f.name: f for f in after.score.factors}
    assert factors["recurrence"].value == "2 incidents" and factors["severity"].value == "SEV1"


def test_unrelated_items_start_their_own_backlog_items_with_near_misses_suggested(session):
    incident = declare(session, "Checkout errors")
    add(session, incident, "Add alerting on RDS replica lag")
    other = add(session, incident, "Write a runbook for rotating the payment provider API key")
    assert other.match is None and len(session.exec(select(BacklogItem)).all()) == 2
    assert all(s.score < POLICY.backlog.attach_threshold for s in other.suggestions)


def test_merge_moves_items_and_marks_the_source(session):
    incident = declare(session, "Checkout errors")
    keep = add(session, incident, "Add alerting on RDS replica lag").backlog_item
    gone = add(session, incident, "Write a runbook for rotating API keys").backlog_item
    target = backlog.merge(session, gone, keep, now=NOW)
    session.commit()
    assert target.id == keep.id and (gone.status, gone.merged_into_id) == ("merged", keep.id)
    assert {i.backlog_item_id for i in session.exec(select(ActionItem))} == {keep.id}
    with pytest.raises(AlreadyDone):
        backlog.merge(session, gone, keep, now=NOW)
    with pytest.raises(InvalidInput):
        backlog.merge(session, keep, keep, now=NOW)
    with pytest.raises(InvalidInput):
        backlog.merge(session, keep, gone, now=NOW)


def test_merge_into_a_closed_item_reopens_it_when_work_is_open(session):
    incident = declare(session, "Checkout errors")
    done = add(session, incident, "Add alerting on RDS replica lag")
    action_items.set_status(session, done.item, "done", actor=BOB, now=NOW)
    assert done.backlog_item.status == "done"
    source = add(session, incident, "Write a runbook for rotating API keys").backlog_item
    backlog.merge(session, source, done.backlog_item, now=NOW)
    assert done.backlog_item.status == "open"


def test_split_takes_an_item_out_on_its_own(session):
    first = declare(session, "Orders stuck")
    a = add(session, first, "Add alerting on RDS replica lag")
    b = add(session, declare(session, "Reports stale"), "Alarm when the Postgres replica falls behind")
    assert a.backlog_item.id == b.backlog_item.id
    new = backlog.split(session, b.item, actor=BOB, now=NOW)
    session.commit()
    assert new.id != a.backlog_item.id and b.item.backlog_item_id == new.id and new.title == b.item.title
    with pytest.raises(AlreadyDone):
        backlog.split(session, b.item, actor=BOB, now=NOW)


def test_closing_a_backlog_item_closes_its_open_action_items(session):
    incident = declare(session, "Orders stuck")
    a = add(session, incident, "Add alerting on RDS replica lag")
    with pytest.raises(InvalidInput):
        backlog.set_status(session, a.backlog_item, "wont_do", now=NOW)
    closed = backlog.set_status(session, a.backlog_item, "wont_do", now=NOW, reason="Moving off RDS in Q1")
    assert [c.id for c in closed] == [a.item.id]
    assert (a.item.status, a.item.wont_do_reason) == ("wont_do", "Moving off RDS in Q1")
    assert (a.backlog_item.status, a.backlog_item.reason) == ("wont_do", "Moving off RDS in Q1")
    with pytest.raises(AlreadyDone):
        backlog.set_status(session, a.backlog_item, "wont_do", now=NOW, reason="again")


def test_ranked_filters_by_service_and_team_and_hides_private_only_items(session):
    api = declare(session, "API errors", services=("api",))
    web = declare(session, "Web slow", services=("web",))
    secret = declare(session, "Leaked credentials", services=("api",), category="security", private=True)
    add(session, api, "Add alerting on RDS replica lag")
    add(session, web, "Add a CDN cache for static assets")
    add(session, secret, "Rotate every credential in the old vault")
    titles = lambda **kw: sorted(r.item.title for r in backlog.ranked(session, POLICY, now=NOW, **kw))  # noqa: E731
    assert titles() == ["Add a CDN cache for static assets", "Add alerting on RDS replica lag"]
    assert len(titles(include_private=True)) == 3
    assert titles(service="web") == titles(team="frontend") == ["Add a CDN cache for static assets"]
    assert titles(team="platform") == ["Add alerting on RDS replica lag"]


def test_ranking_counts_overdue_work(session):
    incident = declare(session, "Orders stuck")
    late = add(session, incident, "Add alerting on RDS replica lag", due=NOW.date() + timedelta(days=1))
    on_time = add(session, incident, "Write a runbook for rotating API keys")
    later = NOW + timedelta(days=3)
    by_id = {r.item.id: r for r in backlog.ranked(session, POLICY, now=later)}
    overdue = {f.name: f for f in by_id[late.backlog_item.id].score.factors}["overdue"]
    assert overdue.value == "1 overdue" and overdue.points > 0
    assert {f.name: f for f in by_id[on_time.backlog_item.id].score.factors}["overdue"].points == 0


def test_weights_come_from_the_policy(session):
    policy = parse_policy("[backlog.weights]\nrecurrence = 0\nage = 0\n")
    assert policy.backlog.weights["recurrence"] == 0 and policy.backlog.weights["severity"] == 3
    incident = declare(session, "Orders stuck")
    add(session, incident, "Add alerting on RDS replica lag")
    ranked = backlog.ranked(session, policy, now=NOW)[0]
    assert {f.name: f.points for f in ranked.score.factors}["recurrence"] == 0


def test_unknown_weight_is_a_policy_error_naming_the_key():
    with pytest.raises(Exception) as error:
        parse_policy("[backlog.weights]\nsevrity = 2\n")
    assert "backlog.weights" in str(error.value) and "did you mean 'severity'" in str(error.value)


def test_a_title_from_a_private_incident_stays_out_of_public_views(session):
    secret = declare(session, "Leaked credentials", services=("api",), category="security", private=True)
    started = add(session, secret, "Rotate the leaked signing key for the payments API")
    assert started.backlog_item.private_incident_id == secret.id
    public = declare(session, "Payments errors", services=("api",))
    joined = add(session, public, "Rotate the payments API signing key on a schedule")
    assert joined.backlog_item.id == started.backlog_item.id  # the same risk, now also public
    assert backlog.ranked(session, POLICY, now=NOW) == []  # its text came from the private incident
    assert [r.item.id for r in backlog.ranked(session, POLICY, now=NOW, include_private=True)] == [
        started.backlog_item.id]
    own = add(session, public, "Add a CDN cache for static assets").backlog_item
    assert own.private_incident_id is None
    assert [r.item.id for r in backlog.ranked(session, POLICY, now=NOW)] == [own.id]

"""Importing a Slack export channel as an incident: the shared samples and hand-made histories."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlmodel import select

from incidentbot import importing
from incidentbot.core import incidents, messages, milestones, timeline
from incidentbot.core.incidents import Declaration
from incidentbot.core.policy import load_policy, parse_policy
from incidentbot.models import ChannelMessage, Incident
from incidentbot.slack_export import SlackExport, ts_to_datetime, write_export

DFDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "incidents" / "dfds"
SAMPLES = sorted(p for p in DFDS.glob("PM*") if p.is_dir()) if DFDS.is_dir() else []
needs_samples = pytest.mark.skipif(not SAMPLES, reason=f"the shared dfds samples are not at {DFDS}")
POLICY = load_policy()
ORDER = ("detected_at", "acknowledged_at", "mitigated_at", "resolved_at")


def _truth(folder: Path) -> dict:
    return json.loads((folder / "ground_truth.json").read_text())


def _iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


# --- the shared samples: inference (no database) ----------------------------------------------


@needs_samples
@pytest.mark.parametrize("folder", SAMPLES, ids=[p.name for p in SAMPLES])
def test_inferred_milestones_agree_with_the_answer_key(folder):
    truth = _truth(folder)
    inference = importing.infer(SlackExport.open(folder), truth["channel"]["name"], POLICY)
    times = inference.times()
    # In the product's order, whatever the sample.
    present = [times[name] for name in ORDER if times[name] is not None]
    assert present == sorted(present)
    if inference.milestones["declared_at"].rule != "first message" and times["acknowledged_at"]:
        assert times["declared_at"] <= times["acknowledged_at"]
    # Where the answer key and the import both have a milestone, they are the same event
    # (the key's times are the source's minutes; the message carrying it is within ±2 min).
    for name in ("detected_at", "declared_at", "mitigated_at", "resolved_at"):
        expected = _iso(truth["milestones"][name])
        if expected is not None and times[name] is not None:
            assert abs(times[name] - expected) <= timedelta(minutes=5), (name, times[name], expected)
    # Every inferred milestone points at a message of the channel.
    stamps = {m.ts for m in SlackExport.open(folder).messages(truth["channel"]["name"])}
    assert all(e.ts in stamps for e in inference.milestones.values())
    assert inference.severity in POLICY.severity_ids
    assert inference.declared_by == json.loads((folder / "channels.json").read_text())[0]["creator"]


@needs_samples
def test_inference_finds_most_of_what_the_answer_key_records():
    """Recall over all samples (no per-file tuning): what the key records, the import finds."""
    found: dict[str, list[bool]] = {name: [] for name in ("detected_at", "declared_at", "mitigated_at", "resolved_at")}
    severity = []
    for folder in SAMPLES:
        truth = _truth(folder)
        inference = importing.infer(SlackExport.open(folder), truth["channel"]["name"], POLICY)
        times = inference.times()
        for name in found:
            expected = _iso(truth["milestones"][name])
            if expected is not None:
                found[name].append(times[name] is not None and abs(times[name] - expected) <= timedelta(minutes=5))
        severity.append(inference.severity == truth["severity_guess"])
    for name, hits in found.items():
        assert sum(hits) >= 0.9 * len(hits), (name, sum(hits), len(hits))
    assert sum(severity) >= 0.9 * len(severity)


# --- the shared samples: into the database ------------------------------------------------------


@needs_samples
@pytest.mark.parametrize("sample", ["PM2021-003", "PM2023-001", "PM2019-009"])
def test_import_a_sample_and_import_it_again(session, sample):
    folder = DFDS / sample
    truth = _truth(folder)
    channel = truth["channel"]["name"]
    export = SlackExport.open(folder)
    result = importing.import_channel(session, POLICY, export, channel)
    session.commit()

    incident = result.incident
    assert result.created and not result.exists
    assert incident.title == truth["title"] and incident.severity == truth["severity_guess"]
    assert incident.request_key == f"import:{truth['channel']['id']}"
    assert incident.channel_id == truth["channel"]["id"] and incident.channel_name == channel
    assert incident.declared_by == json.loads((folder / "channels.json").read_text())[0]["creator"]
    assert incident.provisioned_at is not None  # the worker must not create a channel for it
    assert incidents.unprovisioned(session, declared_before=datetime.now(timezone.utc)) == []
    assert incident.status == "resolved" and incidents.is_resolved(POLICY, incident)

    stored = messages.for_incident(session, incident)
    assert result.messages_added == len(export.messages(channel)) == len(stored)
    assert {m.source for m in stored} == {"import"}
    assert stored[0].posted_at == ts_to_datetime(stored[0].ts)

    events = timeline.events(session, incident)
    captured = [e for e in events if e.kind == "message_captured"]
    assert {e.message_ts for e in captured} == set(truth["pinned_message_ts"]) | set(truth["pushpin_message_ts"])
    for event in captured:
        assert event.occurred_at == ts_to_datetime(event.message_ts)  # the message's time, not the import's
    both = set(truth["pinned_message_ts"]) & set(truth["pushpin_message_ts"])
    for event in captured:
        if event.message_ts in both:
            assert sorted(event.data["via"]) == ["pin", "reaction"]
    assert result.events_added == len(events)
    inferred = {name: getattr(incident, name) for name in importing.INFERRED}
    assert inferred == {name: result.inference.times()[name] for name in importing.INFERRED}
    declared_event = next(e for e in events if e.kind == "declared")
    assert declared_event.occurred_at == incident.declared_at

    # Again: found by its request key, nothing added; --update adds nothing new either.
    again = importing.import_channel(session, POLICY, SlackExport.open(folder), channel)
    assert again.exists and not again.created and again.incident.id == incident.id and again.messages_added == 0
    updated = importing.import_channel(session, POLICY, SlackExport.open(folder), channel, update=True)
    session.commit()
    assert not updated.exists and updated.messages_added == 0 and updated.events_added == 0
    assert len(session.exec(select(Incident)).all()) == 1
    assert len(messages.for_incident(session, incident)) == len(stored)


# --- hand-made histories -------------------------------------------------------------------------

T0 = 1_760_000_000  # 2025-10-09 08:53:20 UTC
PEOPLE = [
    {"id": "U1", "name": "ana", "profile": {"display_name": "Ana"}},
    {"id": "U2", "name": "bo", "profile": {"display_name": "Bo"}},
    {"id": "U3", "name": "cy", "profile": {"display_name": "Cy"}},
]


def _msg(minute: float, text: str, user: str = "U1", **extra) -> dict:
    """A person's message ``minute`` minutes after T0 (whole seconds: ``_at(minute)`` is its time)."""
    return {"type": "message", "ts": f"{T0 + int(minute * 60)}.000000", "user": user, "text": text, **extra}


def _bot(minute: float, text: str, name: str = "Alertmanager") -> dict:
    return {"type": "message", "subtype": "bot_message", "ts": f"{T0 + int(minute * 60)}.000000", "bot_id": "B9",
            "username": name, "text": text}


def _at(minute: float) -> datetime:
    return datetime.fromtimestamp(T0 + int(minute * 60), timezone.utc)


def _export(tmp_path: Path, history: list[dict], *, name: str = "inc-checkout", channel: dict | None = None,
            folder: str = "export") -> SlackExport:
    channel = {"id": "C42", "name": name, "created": T0, "creator": "U1", **(channel or {})}
    write_export(tmp_path / folder, users=PEOPLE, channels=[channel], messages={name: history})
    return SlackExport.open(tmp_path / folder)


def test_pins_and_the_capture_emoji_become_timeline_events(session, tmp_path):
    policy = parse_policy('[timeline]\ncapture_emoji = "memo"\n')
    history = [
        _msg(0, "checkout errors, investigating"),
        _msg(1, "root cause: expired cert", user="U2"),
        _msg(2, "decision: fail over to eu-west", user="U3",
             reactions=[{"name": "memo", "users": ["U1"], "count": 1}]),
        _msg(3, "pushpin is not our emoji here", reactions=[{"name": "pushpin", "users": ["U1"], "count": 1}]),
        _msg(4, "pinned and marked", user="U2", reactions=[{"name": "memo", "users": ["U3"], "count": 1}]),
        _msg(5, "a thread reply worth keeping", user="U3", thread_ts=_msg(1, "")["ts"], pinned_to=["C42"]),
    ]
    pins = [{"id": history[1]["ts"], "type": "C"}, {"id": history[4]["ts"], "type": "C"}]
    export = _export(tmp_path, history, channel={"pins": pins})
    result = importing.import_channel(session, policy, export, "inc-checkout")
    session.commit()

    captured = {e.message_ts: e for e in timeline.events(session, result.incident) if e.kind == "message_captured"}
    assert set(captured) == {history[i]["ts"] for i in (1, 2, 4, 5)}
    assert result.captured == 4
    cause = captured[history[1]["ts"]]
    assert cause.occurred_at == _at(1) and cause.actor == "U2" and cause.text == "root cause: expired cert"
    assert cause.data["via"] == ["pin"] and cause.data["author_name"] == "Bo"
    decision = captured[history[2]["ts"]]
    assert decision.data["via"] == ["reaction"] and decision.data["captured_by"] == ["U1"]
    assert captured[history[4]["ts"]].data["via"] == ["pin", "reaction"]  # one event per message
    assert captured[history[5]["ts"]].data["thread_ts"] == history[1]["ts"]


def test_reimport_is_idempotent_and_update_adds_only_what_is_new(session, tmp_path):
    first = [_msg(0, "payments failing for some users"), _msg(2, "looking", user="U2"),
             _msg(3, "cause: bad deploy", user="U3")]
    result = importing.import_channel(session, POLICY, _export(tmp_path, first), "inc-checkout")
    session.commit()
    incident = result.incident
    assert result.created and result.messages_added == 3
    assert incident.resolved_at is None and incident.status == "investigating"
    counts = (len(messages.for_incident(session, incident)), len(timeline.events(session, incident)))

    again = importing.import_channel(session, POLICY, _export(tmp_path, first, folder="again"), "inc-checkout")
    session.commit()
    assert again.exists and again.messages_added == 0 and again.events_added == 0
    assert (len(messages.for_incident(session, incident)), len(timeline.events(session, incident))) == counts

    # A later export of the same channel: two new messages, one of them pinned.
    later = [*first, _msg(30, "summary: rolled back the deploy", user="U2"), _msg(31, "Incident resolved.")]
    pins = [{"id": later[3]["ts"], "type": "C"}]
    export = _export(tmp_path, later, channel={"pins": pins}, folder="later")
    updated = importing.import_channel(session, POLICY, export, "inc-checkout", update=True)
    session.commit()
    assert not updated.created and updated.incident.id == incident.id
    assert updated.messages_added == 2 and updated.captured == 1
    assert updated.incident.resolved_at == _at(31) and updated.incident.status == "resolved"
    assert updated.milestones_set == ["mitigated_at", "resolved_at"]
    kinds = [e.kind for e in timeline.events(session, incident)]
    assert kinds.count("resolved") == 1 and kinds.count("message_captured") == 1
    assert len(session.exec(select(Incident)).all()) == 1
    rows = session.exec(select(ChannelMessage).where(ChannelMessage.channel_id == "C42")).all()
    assert len(rows) == 5 and all(r.incident_id == incident.id for r in rows)


def test_milestones_are_left_empty_when_the_history_is_unclear(tmp_path):
    history = [
        _msg(0, "something is off with checkout"),
        _msg(1, "is it mitigated?", user="U2"),
        _msg(2, "not resolved yet, still seeing errors", user="U3"),
        _msg(3, "once it's fixed we'll deploy the rest"),
        _msg(4, "we should mark it resolved after lunch", user="U2"),
        _msg(5, "rolled it back"),
        _bot(6, "[RESOLVED] CheckoutLatencyHigh"),
        _msg(7, "the alert fired? I don't see it", user="U3"),
        _msg(8, "no, this isn't a sev1", user="U2"),
        _msg(9, "Resolved?", user="U3"),
        _msg(10, "the doc said: if the service is back, mark the incident resolved"),
    ]
    inference = importing.infer(_export(tmp_path, history), "inc-checkout", POLICY)
    assert set(inference.milestones) == {"declared_at"}
    assert inference.milestones["declared_at"].at == _at(0) and inference.milestones["declared_at"].rule == "first message"
    assert inference.detection is None and inference.severity is None
    assert inference.title == "Checkout"  # no purpose or topic: from the channel name


def test_clear_statements_set_milestones_detection_and_severity(session, tmp_path):
    history = [
        {"type": "message", "subtype": "channel_join", "ts": f"{T0}.000001", "user": "U1", "text": "<@U1> has joined"},
        _msg(1, "customers are reporting failed payments", user="U2"),
        _msg(3, "on it", user="U3"),  # before the declaration: acknowledges the report, not the incident
        _msg(5, "Declaring a SEV1 incident for checkout. I'm IC."),
        _msg(6, "ack", user="U3"),
        _msg(40, "rolled back the deploy; error rate back to baseline", user="U3"),
        _msg(41, "Mitigated: impact has stopped, keeping an eye on it"),
        _msg(90, "all good for an hour, incident resolved"),
        _msg(95, "this was a sev2 at worst, in hindsight", user="U2"),
    ]
    export = _export(tmp_path, history, channel={"purpose": {"value": "Incident: Checkout payments failing"}})
    result = importing.import_channel(session, POLICY, export, "inc-checkout")
    session.commit()
    incident = result.incident
    assert incident.title == "Checkout payments failing"
    assert incident.severity == "SEV1"  # said early on; the later "sev2" is hindsight
    assert incident.detection == "customer"
    assert (incident.detected_at, incident.declared_at, incident.acknowledged_at) == (_at(1), _at(5), _at(6))
    assert (incident.mitigated_at, incident.resolved_at) == (_at(41), _at(90))
    assert incident.status == "resolved" and incident.resolution.startswith("Imported: ")
    events = {e.kind: e for e in timeline.events(session, incident)}
    assert events["mitigated"].occurred_at == _at(41) and events["mitigated"].actor == "U1"
    assert events["mitigated"].data["inferred"] and events["mitigated"].data["message_ts"] == history[6]["ts"]
    assert events["detected"].actor == "U2"


def test_detection_kinds(tmp_path):
    def detection(history):
        inference = importing.infer(_export(tmp_path, history, folder=f"e{len(list(tmp_path.iterdir()))}"),
                                    "inc-checkout", POLICY)
        return inference.detection, inference.times()["detected_at"]

    # An alert bot firing is monitoring; a person noticing the alert too does not change that.
    assert detection([_msg(0, "hi"), _bot(2, "[FIRING:1] CheckoutErrors"), _msg(2.5, "I noticed it too")]) == (
        "monitoring", _at(2))
    # A recovering alert is not a detection.
    assert detection([_msg(0, "hi"), _bot(2, "[RESOLVED] CheckoutErrors")]) == (None, None)
    # A person noticing, with no alert, is staff.
    assert detection([_msg(0, "hi"), _msg(3, "I just noticed checkout 500s", user="U2")]) == ("staff", _at(3))
    # An alert and a customer report within two minutes of each other: the time is clear, the kind is not.
    assert detection([_msg(0, "hi"), _bot(2, "[FIRING:1] CheckoutErrors"),
                      _msg(3, "support tickets are coming in too", user="U3")]) == (None, _at(2))
    # Detection after mitigation is not detection.
    assert detection([_msg(0, "service is back now"), _bot(2, "[FIRING:1] CheckoutErrors")]) == (None, None)


def test_update_never_overwrites_or_resets_milestones(session, tmp_path):
    history = [_msg(0, "checkout down"), _bot(1, "[FIRING:1] CheckoutDown"), _msg(20, "mitigated by failover"),
               _msg(60, "incident resolved")]
    export = _export(tmp_path, history)
    result = importing.import_channel(session, POLICY, export, "inc-checkout")
    session.commit()
    incident = result.incident
    assert incident.detected_at == _at(1) and incident.mitigated_at == _at(20)
    # A responder corrects one milestone and clears another.
    corrected = _at(15)
    milestones.set_milestones(session, POLICY, incident, "U2", {"mitigated_at": corrected, "detected_at": None})
    session.commit()
    updated = importing.import_channel(session, POLICY, _export(tmp_path, history, folder="again"), "inc-checkout",
                                       update=True)
    session.commit()
    assert updated.milestones_set == []
    assert incident.mitigated_at == corrected and incident.detected_at is None


def test_a_channel_the_bot_already_knows_is_extended_not_duplicated(session, tmp_path):
    live, _ = incidents.declare(session, POLICY, Declaration("Checkout down", "SEV2", "U1"))
    incidents.attach_channel(session, live, "C42", "inc-checkout")
    session.commit()
    declared_at = live.declared_at
    history = [_msg(0, "checkout down"), _msg(2, "mitigated with a restart")]
    export = _export(tmp_path, history)

    exists = importing.import_channel(session, POLICY, export, "inc-checkout")
    assert exists.exists and exists.incident.id == live.id and exists.messages_added == 0
    updated = importing.import_channel(session, POLICY, export, "inc-checkout", update=True)
    session.commit()
    assert updated.incident.id == live.id and updated.messages_added == 2
    assert live.declared_at == declared_at and live.request_key is None  # the live declaration stays as it was
    assert live.mitigated_at == _at(2)
    assert len(session.exec(select(Incident)).all()) == 1


def test_empty_channels_and_long_titles(session, tmp_path):
    write_export(tmp_path / "empty", users=PEOPLE, channels=[{"id": "C9", "name": "inc-empty"}],
                 messages={"inc-empty": []})
    (tmp_path / "empty" / "inc-empty").mkdir(exist_ok=True)
    with pytest.raises(importing.ImportFailed, match="no messages"):
        importing.import_channel(session, POLICY, SlackExport.open(tmp_path / "empty"), "inc-empty")

    long_title = "Checkout " + "very " * 60 + "slow"
    export = _export(tmp_path, [_msg(0, "slow")], channel={"purpose": {"value": long_title}})
    result = importing.import_channel(session, POLICY, export, "inc-checkout")
    assert len(result.incident.title) <= POLICY.limits.title_max_chars and result.incident.title.endswith("very…")
    assert result.incident.severity == POLICY.default_severity


@pytest.mark.parametrize("name, title", [
    ("inc-2024-03-13-two-nodes-down", "Two nodes down"),
    ("inc-42-db-failover", "Db failover"),
    ("incident-20240313-dns", "Dns"),
    ("payments_outage", "Payments outage"),
])
def test_titles_from_channel_names(tmp_path, name, title):
    inference = importing.infer(_export(tmp_path, [_msg(0, "x")], name=name), name)
    assert inference.title == title


def test_status_topics_are_not_titles_but_say_the_severity(tmp_path):
    history = [_msg(0, "x"), {"type": "message", "subtype": "channel_topic", "ts": f"{T0 + 60}.000000", "user": "U1",
                              "text": "<@U1> set the channel topic: SEV2 | Investigating", "topic": "SEV2 | Investigating"}]
    export = _export(tmp_path, history, channel={"topic": {"value": "SEV2 | Investigating"}})
    inference = importing.infer(export, "inc-checkout", POLICY)
    assert inference.title == "Checkout" and inference.severity == "SEV2"
    assert inference.severity_evidence.rule == "topic"


def test_importing_does_not_load_slack():
    import subprocess
    import sys

    code = ("import sys, incidentbot.importing, incidentbot.core.exporting\n"
            "print([m for m in ('slack_sdk', 'slack_bolt', 'openai') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

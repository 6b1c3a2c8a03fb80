"""The offline drafter on small hand-made channels, and on the sample incident dataset."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from incidentbot.drafting.draft import draft_postmortem
from incidentbot.drafting.history import History, HistoryMessage
from incidentbot.drafting.offline import draft_offline

T0 = datetime(2024, 3, 13, 10, 0, tzinfo=timezone.utc)
DATASET = Path(__file__).resolve().parents[3] / "shared" / "data" / "incidents" / "dfds"


def msg(minute: float, text: str, author: str = "Ana", **kw: object) -> HistoryMessage:
    ts = f"{int((T0 + timedelta(minutes=minute)).timestamp())}.{int(minute * 1000) % 1000000:06d}"
    bot = author in ("Alertmanager", "change-feed")
    return HistoryMessage(ts=ts, at=T0 + timedelta(minutes=minute), author=author, author_id=author,
                          is_bot=bot, text=text, **kw)  # type: ignore[arg-type]


def channel(*messages: HistoryMessage, title: str | None = "API errors") -> History:
    return History(channel="inc-api-errors", messages=list(messages), title=title, people=("Ana", "Bo", "Cy"))


def incident() -> History:
    return channel(
        msg(0, "[change-feed] api v2.4 deployed to production", "change-feed"),
        msg(4, "[FIRING:1] ApiErrorRateHigh (prod critical)", "Alertmanager"),
        msg(4.5, "looking", "Bo"),
        msg(5, "customers report 500s on checkout", "Cy"),
        msg(6, "anyone seen this error before?", "Bo"),
        msg(7, "checking the api logs now", "Bo"),
        msg(8, "🚨 Declaring an incident: API errors. Severity SEV2. I'm incident lead.", "Ana"),
        msg(9, "nothing obvious in the db logs yet", "Cy"),
        msg(12, "fyi the new serializer drops the currency field, that's the 500s", "Bo", reactions=("eyes",)),
        msg(13, "ruling out the db", "Cy", thread_ts="x"),
        msg(15, "update: rollback of api v2.4 started", "Bo"),
        msg(16, "*Status update* — Identified • Impact: checkout fails for 30% of users • Next update: ~20 min",
            "Ana"),
        msg(22, "[RESOLVED] ApiErrorRateHigh (prod critical)", "Alertmanager"),
        msg(22.5, "✅ Mitigated — rollback finished, error rate back to baseline.", "Ana"),
        msg(23, "I think we should check the cache next", "Cy"),
        msg(40, "Resolving the incident. Thanks everyone 🙏", "Ana"),
        msg(45, "contributing factor: the serializer change had no contract test", "Cy"),
        msg(46, "action: add a contract test for the checkout payload", "Bo", reactions=("white_check_mark",)),
        msg(47, "we should alert on checkout error rate per currency", "Cy"),
        msg(47.5, "+1, I'll raise the ticket", "Bo", thread_ts=msg(47, "").ts),
        msg(48, "TODO: buy the team pizza", "Bo"),
        msg(49, "should we rewrite the whole thing in Rust while we're at it?", "Cy"),
        msg(50, "let's make sure the follow-ups have owners", "Ana"),
        msg(51, "learning: deploys on Friday afternoon are riskier", "Ana"),
    )


def test_milestones_come_from_the_messages_that_say_so() -> None:
    h = incident()
    draft = draft_offline(h)
    at = {k: v and round((v - T0).total_seconds() / 60, 1) for k, v in draft.milestones.items()}
    assert at == {"started_at": 0.0, "detected_at": 4.0, "declared_at": 8.0, "mitigated_at": 22.5,
                  "resolved_at": 40.0}
    assert draft.milestone_sources["declared_at"] == h.messages[6].ts
    assert draft.severity == "SEV2" and draft.lead == "Ana"


def test_timeline_keeps_events_and_leaves_chatter_out() -> None:
    draft = draft_offline(incident())
    texts = [row.text for row in draft.timeline]
    assert any("api v2.4 deployed" in t.lower() for t in texts)
    assert "Alert fired: ApiErrorRateHigh (prod critical)" in texts
    assert any("serializer drops the currency" in t for t in texts)
    assert any("Rollback of api v2.4 started" in t for t in texts)
    joined = " ".join(texts).lower()
    for chatter in ("looking", "anyone seen", "checking the api", "nothing obvious", "ruling out", "status update",
                    "should check the cache", "contract test", "pizza"):
        assert chatter not in joined
    # Every row cites the message it came from, with that message's own time.
    by_ts = {m.ts: m for m in incident().messages}
    assert all(by_ts[row.source].at == row.at for row in draft.timeline)


def test_action_items_are_proposals_made_after_mitigation() -> None:
    items = draft_offline(incident()).action_items
    assert [i.text for i in items] == ["Add a contract test for the checkout payload",
                                       "Alert on checkout error rate per currency"]
    assert items[1].type == "detective"
    assert items[0].confirmed and items[0].owner == "Bo"  # ✅ on the proposal
    assert items[1].confirmed and items[1].owner == "Bo"  # volunteered in the thread
    assert all(i.source for i in items)


def test_rejected_proposal_is_not_an_action_item() -> None:
    h = channel(
        msg(0, "[FIRING:1] DiskFull", "Alertmanager"),
        msg(5, "We're repaired: disk cleaned up", "Ana"),
        msg(10, "we should move everything to a different cloud", "Bo"),
        msg(11, "not a postmortem action, but noted", "Ana", thread_ts=msg(10, "").ts),
        msg(12, "follow-up: alert at 80% disk usage", "Cy"),
    )
    assert [i.text for i in draft_offline(h).action_items] == ["Alert at 80% disk usage"]


def test_sections_cite_their_evidence() -> None:
    draft = draft_offline(incident())
    assert draft.sections["impact"].startswith("Checkout fails for 30% of users.")
    assert "no contract test" in draft.sections["contributing_factors"]
    assert "source:" in draft.sections["contributing_factors"]
    assert "ApiErrorRateHigh" in draft.sections["detection"]
    assert "Friday" in draft.sections["what_went_wrong"]
    assert "fill in during the review" in draft.sections["where_we_got_lucky"]
    assert draft.summary.startswith("API errors.")


def test_quiet_channel_gives_an_honest_draft() -> None:
    draft = draft_offline(channel(msg(0, "hello"), msg(1, "ok"), title=None))
    assert draft.title == "Api errors"
    assert draft.milestones["mitigated_at"] is None and draft.milestones["resolved_at"] is None
    assert draft.action_items == []
    assert "fill in during the review" in draft.sections["where_we_got_lucky"]


def test_topic_changes_and_recorded_events_are_milestone_evidence() -> None:
    h = channel(
        msg(0, "[FIRING:1] QueueBacklog", "Alertmanager"),
        msg(10, "set the channel topic: SEV3 | Mitigated, monitoring", "Ana", subtype="channel_topic"),
        msg(30, "Resolved: queue drained", "Ana", subtype="event:resolved"),
    )
    found = draft_offline(h).milestones
    assert found["mitigated_at"] == T0 + timedelta(minutes=10)
    assert found["resolved_at"] == T0 + timedelta(minutes=30)


# --- the sample dataset (../shared/data/incidents/dfds) ----------------------------------------

TOL = 300


def _tokens(text: str) -> set[str]:
    stop = set("a an the to of and or for on in at by with from into is are was be we our it this that as all any "
               "add ensure make sure review update new".split())
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in stop and len(w) > 2}


def _similar(a: str, b: str) -> bool:
    ta, tb = _tokens(a), _tokens(b)
    return bool(ta and tb) and len(ta & tb) / min(len(ta), len(tb)) >= 0.5


def _time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@pytest.mark.skipif(not DATASET.is_dir(), reason="sample dataset not present")
def test_offline_drafter_on_every_sample_incident() -> None:
    from incidentbot.drafting.history import from_export
    from incidentbot.slack_export import SlackExport

    totals = dict.fromkeys(("ms", "ms_ok", "tl", "tl_hit", "pred", "pred_hit", "ai", "ai_hit", "ai_pred", "ai_ok"), 0)
    for folder in sorted(p.parent for p in DATASET.glob("*/ground_truth.json")):
        truth = json.loads((folder / "ground_truth.json").read_text())
        name = json.loads((folder / "channels.json").read_text())[0]["name"]
        out = draft_postmortem(from_export(SlackExport.open(folder), name), mode="offline").to_json()
        for key, value in truth["milestones"].items():
            if value and key != "started_at":
                totals["ms"] += 1
                got = out["milestones"][key]
                totals["ms_ok"] += bool(got and abs(_time(got) - _time(value)) <= TOL)
        predicted = [_time(row["at"]) for row in out["timeline"]]
        expected = [_time(row["at"]) for row in truth["timeline"]]
        totals["tl"] += len(expected)
        totals["tl_hit"] += sum(any(abs(p - g) <= TOL for p in predicted) for g in expected)
        totals["pred"] += len(predicted)
        totals["pred_hit"] += sum(any(abs(p - g) <= TOL for g in expected) for p in predicted)
        assert all(row["source"] for row in out["timeline"]), folder.name
        actions = [a["text"] for a in out["action_items"]]
        totals["ai"] += len(truth["action_items"])
        totals["ai_hit"] += sum(any(_similar(g["text"], a) for a in actions) for g in truth["action_items"])
        totals["ai_pred"] += len(actions)
        totals["ai_ok"] += sum(any(_similar(g["text"], a) for g in truth["action_items"]) for a in actions)
        blob = json.dumps(out)
        assert not [s["kind"] for s in truth["planted_secrets"] if s["value"] in blob], folder.name
    assert totals["ms_ok"] / totals["ms"] >= 0.90
    assert totals["tl_hit"] / totals["tl"] >= 0.80
    assert totals["pred_hit"] / totals["pred"] >= 0.50
    assert totals["ai_hit"] / totals["ai"] >= 0.70
    assert totals["ai_ok"] / totals["ai_pred"] >= 0.60


# --- the database path and the layering -------------------------------------------------------


def test_from_rows_builds_the_same_history_from_stored_rows() -> None:
    from types import SimpleNamespace as Row

    from incidentbot.drafting.history import from_rows

    def stored(minute: int, text: str, user: str | None = "U1", **kw: object) -> Row:
        at = T0 + timedelta(minutes=minute)
        fields = {"ts": f"{int(at.timestamp())}.000100", "posted_at": at.replace(tzinfo=None), "user_id": user,
                  "bot_id": None, "subtype": None, "text": text, "thread_ts": None, "data": {}}
        return Row(**{**fields, **kw})

    rows = [
        stored(0, "[FIRING:1] CheckoutErrors", None, bot_id="B1", subtype="bot_message",
               data={"username": "Alertmanager"}),
        stored(5, "fyi <@U2> found the bad serializer change", data={"reactions": [{"name": "eyes", "count": 1}]}),
        stored(6, "<@U2> agreed", "U1"),
    ]
    events = [
        Row(occurred_at=T0 + timedelta(minutes=5), kind="message_captured", actor="U1", text="", id=1,
            message_ts=rows[1].ts, permalink="https://x.slack.com/archives/C1/p1", data={}, deleted=False),
        Row(occurred_at=T0 + timedelta(minutes=20), kind="mitigated", actor="U1", text="Mitigated.", id=2,
            message_ts=None, permalink=None, data={}, deleted=False),
        Row(occurred_at=T0 + timedelta(minutes=30), kind="resolved", actor="U1", text="Resolved: rolled back", id=3,
            message_ts=None, permalink=None, data={}, deleted=False),
    ]
    h = from_rows(rows, events, {"U1": "Ana", "U2": "Bo"}, channel="inc-checkout", title="Checkout errors")
    assert [m.author for m in h.messages] == ["Alertmanager", "Ana", "Ana", "Ana", "Ana"]
    captured = h.messages[1]
    assert captured.text == "fyi @Bo found the bad serializer change" and captured.pinned
    assert captured.source == "https://x.slack.com/archives/C1/p1" and captured.reactions == ("eyes",)
    assert captured.at.tzinfo is not None
    draft = draft_offline(h)
    assert draft.milestones["mitigated_at"] == T0 + timedelta(minutes=20)
    assert draft.milestone_sources["resolved_at"] == "timeline:3"
    assert any(row.source == "https://x.slack.com/archives/C1/p1" for row in draft.timeline)


def test_drafting_does_not_import_the_slack_layer() -> None:
    package = Path(__file__).resolve().parents[2] / "incidentbot" / "drafting"
    for source in package.glob("*.py"):
        text = source.read_text()
        assert not re.search(r"^\s*(?:from|import)\s+(?:slack_sdk|slack_bolt|incidentbot\.slack\b)", text, re.M), \
            source.name

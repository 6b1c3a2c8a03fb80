"""The model drafter: an OpenAI-compatible chat model writes the prose, the data keeps the facts.

The model is sent the *redacted* messages, numbered ``[1] 2024-03-13 10:03 UTC | Jakob: …``,
and answers JSON (a pydantic schema, requested as structured output) that refers to
messages by number only. The code then takes every time and source from the referenced
message: the model chooses what matters and words it, it never supplies a timestamp.
An answer that does not parse, breaks the schema or cites a number that was not sent
is rejected as a whole (``ModelError``), and the pipeline falls back to the offline draft.

Long channels are summarised in chunks first (map: each chunk returns the numbers of its
notable messages and a few notes) and the final draft is written from what the chunks
kept (reduce), so a request stays within ``ModelOptions.token_budget``.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from incidentbot.drafting.document import SECTIONS, ActionItem, Draft, TimelineRow
from incidentbot.drafting.history import History, HistoryMessage

log = logging.getLogger(__name__)

_SYSTEM = (
    "You draft blameless incident postmortems from a Slack incident channel. The messages are numbered. "
    "Refer to messages only by their number; never write times or dates yourself. Never name a person as the "
    "cause of anything and avoid judging words (human error, careless, should have, fault, blame): describe "
    "systems, changes and conditions. Secrets were replaced by placeholders like <SECRET_1>; keep them as they "
    "are. Answer with one JSON object only, matching this JSON schema:\n"
)
_MAP_SYSTEM = (
    "You read one part of a Slack incident channel. The messages are numbered. Answer with one JSON object only, "
    "matching this JSON schema: list the numbers of messages that record events (alerts, changes, findings, "
    "actions taken, mitigation, resolution), the numbers of messages that propose follow-up work, and short notes "
    "on impact and contributing factors. Schema:\n"
)


class ModelError(Exception):
    """The model could not be used for this draft (the reason is safe to show and log)."""


# --- the answer's schema --------------------------------------------------------------------------


class Ref(BaseModel):
    id: int = Field(description="number of the message this row is based on")
    text: str = Field(description="the event in one sentence")


class ProposedAction(BaseModel):
    id: int = Field(description="number of the message that proposes it")
    text: str = Field(description="the work, starting with a verb")
    owner: str | None = None
    type: Literal["preventative", "detective", "corrective", "process"] = "preventative"
    priority: Literal["P1", "P2", "P3"] = "P2"


class MilestoneRefs(BaseModel):
    started: int | None = None
    detected: int | None = None
    declared: int | None = None
    mitigated: int | None = None
    resolved: int | None = None


class Sections(BaseModel):
    impact: str = ""
    leadup: str = ""
    trigger: str = ""
    contributing_factors: str = ""
    detection: str = ""
    response: str = ""
    mitigation_and_resolution: str = ""
    what_went_well: str = ""
    what_went_wrong: str = ""
    where_we_got_lucky: str = ""


class ModelDraft(BaseModel):
    title: str | None = None
    summary: str
    severity: str | None = None
    category: str | None = None
    milestones: MilestoneRefs = Field(default_factory=MilestoneRefs)
    timeline: list[Ref] = Field(default_factory=list)
    action_items: list[ProposedAction] = Field(default_factory=list)
    sections: Sections = Field(default_factory=Sections)


class ChunkNotes(BaseModel):
    events: list[int] = Field(default_factory=list)
    actions: list[int] = Field(default_factory=list)
    notes: str = ""


@dataclass(frozen=True)
class ModelOptions:
    timeout: float = 60.0  # seconds per request
    max_retries: int = 1
    token_budget: int = 12_000  # estimated prompt tokens per request
    temperature: float = 0.1


# --- drafting -------------------------------------------------------------------------------------


def draft_with_model(history: History, base: Draft, *, client: Any, model_name: str,
                     options: ModelOptions = ModelOptions()) -> Draft:
    """A draft written by the model, on top of ``base`` (the offline draft of the same
    redacted history, which supplies what the model leaves out). Raises ModelError."""
    refs = [m for m in history.messages if _worth_sending(m)]
    if not refs:
        raise ModelError("the channel has no messages to send")
    lines = {i: _line(i, m) for i, m in enumerate(refs, start=1)}
    notes = ""
    if _tokens("\n".join(lines.values())) > options.token_budget:
        lines, notes = _map(client, model_name, options, lines)
    answer = _ask(client, model_name, options, _SYSTEM + _schema(ModelDraft), _user_prompt(base, lines, notes),
                  ModelDraft)
    _check_ids(answer, set(lines))
    return _to_draft(answer, base, refs, model_name)


def _worth_sending(m: HistoryMessage) -> bool:
    # Joins and one-word acks cost tokens and carry nothing; topic changes carry status.
    if m.is_system and m.subtype not in ("channel_topic", "group_topic"):
        return False
    return len(m.text.split()) >= 2 or m.is_bot


def _line(i: int, m: HistoryMessage) -> str:
    text = " ".join(m.text.split())
    marks = " (pinned)" if m.pinned else ""
    marks += f" (reactions: {', '.join(m.reactions)})" if m.reactions else ""
    reply = " ↳" if m.is_reply else ""
    return f"[{i}] {m.at:%Y-%m-%d %H:%M} UTC{reply} | {m.author}{' (bot)' if m.is_bot else ''}{marks}: {text[:1500]}"


def _tokens(text: str) -> int:
    return len(text) // 4 + 1  # a rough, model-independent estimate: ~4 characters per token


def _map(client: Any, model_name: str, options: ModelOptions, lines: dict[int, str]) -> tuple[dict[int, str], str]:
    """Chunk → notable message numbers and notes; returns the kept lines and all notes."""
    budget = max(1000, options.token_budget - 1500)
    kept: set[int] = set()
    notes: list[str] = []
    for chunk in _chunks(lines, budget):
        prompt = "Messages:\n" + "\n".join(chunk.values())
        part = _ask(client, model_name, options, _MAP_SYSTEM + _schema(ChunkNotes), prompt, ChunkNotes)
        unknown = [i for i in part.events + part.actions if i not in chunk]
        if unknown:
            raise ModelError(f"the model cited message numbers it was not sent ({unknown[:3]})")
        kept.update(part.events + part.actions)
        if part.notes.strip():
            notes.append(part.notes.strip())
    reduced = {i: lines[i] for i in sorted(kept)}
    while reduced and _tokens("\n".join(reduced.values())) > budget:
        reduced.pop(max(reduced))  # still too long: drop the latest (least likely to be the incident itself)
    log.info("model drafter: %d of %d messages kept after chunking", len(reduced), len(lines))
    return reduced, "\n".join(notes)


def _chunks(lines: dict[int, str], budget: int) -> list[dict[int, str]]:
    chunks: list[dict[int, str]] = [{}]
    size = 0
    for i, line in lines.items():
        cost = _tokens(line)
        if chunks[-1] and size + cost > budget:
            chunks.append({})
            size = 0
        chunks[-1][i] = line
        size += cost
    return chunks


def _user_prompt(base: Draft, lines: dict[int, str], notes: str) -> str:
    head = [f"Channel: #{base.channel}", f"Working title: {base.title}"]
    if base.severity:
        head.append(f"Severity: {base.severity}")
    if notes:
        head.append("Notes from earlier parts of the channel:\n" + notes)
    return "\n".join(head) + "\n\nMessages:\n" + "\n".join(lines.values())


def _schema(model: type[BaseModel]) -> str:
    return json.dumps(model.model_json_schema(), separators=(",", ":"))


def _ask(client: Any, model_name: str, options: ModelOptions, system: str, user: str, schema: type[BaseModel]) -> Any:
    import openai

    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    structured = {"type": "json_schema", "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema()}}
    try:
        try:
            response = client.chat.completions.create(model=model_name, messages=messages, response_format=structured,
                                                      temperature=options.temperature, timeout=options.timeout)
        except openai.BadRequestError:
            # Many OpenAI-compatible servers know JSON mode but not JSON-schema structured output.
            response = client.chat.completions.create(model=model_name, messages=messages,
                                                      response_format={"type": "json_object"},
                                                      temperature=options.temperature, timeout=options.timeout)
    except openai.APITimeoutError:
        raise ModelError(f"the model did not answer within {options.timeout:g}s") from None
    except openai.APIConnectionError:
        raise ModelError("the model server could not be reached") from None
    except openai.APIStatusError as exc:
        raise ModelError(f"the model server answered HTTP {exc.status_code}") from None
    return _parse(response, schema)


def _parse(response: Any, schema: type[BaseModel]) -> Any:
    try:
        content = response.choices[0].message.content or ""
    except (AttributeError, IndexError, TypeError):
        raise ModelError("the model's answer had no message") from None
    content = re.sub(r"^\s*```(?:json)?\s*|\s*```\s*$", "", content)  # some models fence their JSON
    try:
        return schema.model_validate_json(content)
    except ValidationError as exc:
        raise ModelError(f"the model's answer did not match the schema ({exc.error_count()} error(s))") from None


def _check_ids(answer: ModelDraft, sent: set[int]) -> None:
    cited = [r.id for r in answer.timeline] + [a.id for a in answer.action_items]
    cited += [v for v in answer.milestones.model_dump().values() if v is not None]
    unknown = sorted({i for i in cited if i not in sent})
    if unknown:
        raise ModelError(f"the model cited message numbers it was not sent ({unknown[:3]})")


def _to_draft(answer: ModelDraft, base: Draft, refs: list[HistoryMessage], model_name: str) -> Draft:
    def msg(i: int) -> HistoryMessage:
        return refs[i - 1]

    def row(ref: Ref) -> TimelineRow:  # the model's words; the message's time, source and author
        m = msg(ref.id)
        return TimelineRow(at=m.at, text=ref.text.strip(), source=m.source, author=m.author, ts=m.ts)

    timeline = sorted((row(r) for r in answer.timeline if r.text.strip()), key=lambda r: r.at)
    items = [ActionItem(text=a.text.strip(), type=a.type, priority=a.priority, owner=a.owner or msg(a.id).author,
                        source=msg(a.id).source, ts=msg(a.id).ts) for a in answer.action_items if a.text.strip()]
    chosen = answer.milestones.model_dump()
    milestones, sources = dict(base.milestones), dict(base.milestone_sources)
    for key, i in chosen.items():
        if i is not None:  # the model's pick wins; where it has none, the offline evidence stays
            milestones[f"{key}_at"], sources[f"{key}_at"] = msg(i).at, msg(i).source
    written = answer.sections.model_dump()
    sections = {k: (written.get(k) or "").strip() or base.sections.get(k, "") for k in SECTIONS}
    return Draft(
        title=(answer.title or "").strip() or base.title, summary=answer.summary.strip() or base.summary,
        channel=base.channel, milestones=milestones, milestone_sources=sources, timeline=timeline or base.timeline,
        action_items=items or base.action_items, sections=sections, model=model_name,
        severity=answer.severity or base.severity, category=answer.category or base.category, lead=base.lead,
        responders=base.responders, links=base.links,
    )

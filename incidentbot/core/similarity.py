"""Offline text similarity for matching action items to backlog items.

A new action item is compared with the open backlog items by a tf-idf cosine over
words and word pairs of title and description, plus a small bonus for a shared
service or category. Standard library only: no model, no network, deterministic,
so the same item always lands on the same backlog item and a person can see why
(``Match.reasons``).
"""

from __future__ import annotations

import functools
import html
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# Chosen on action items from real postmortems (the tables in tests/core/test_similarity.py),
# each scored against a backlog of one, with services: the same risk 0.50-1.0; related
# items a person should judge (same component, another angle) 0.27-0.39; different risks
# 0.07-0.32. Among 140 backlog items: 0.49-1.0, 0.27-0.39, 0.09-0.37. The weak spot is a
# shared name ("infrastructure-modules") with a shared service: 0.47 for different risks.
ATTACH_THRESHOLD = 0.45
# At least this but below ATTACH_THRESHOLD: offered to a person as "merge into".
SUGGEST_FLOOR = 0.2
SERVICE_BONUS = 0.15
CATEGORY_BONUS = 0.05
# Share of a text's vector that comes from its title: descriptions are longer and
# looser, the title says what the item is about.
TITLE_WEIGHT = 0.65
# A word pair counts half a word: it rewards the same phrase without letting pairs,
# which rarely repeat in short texts, swamp the shared words.
PAIR_WEIGHT = 0.5
# idf smoothing: as if the backlog also held this many texts, in COMMON_SHARE of which
# the _COMMON words appear. Keeps scores steady from one candidate to hundreds.
BACKGROUND = 10
COMMON_SHARE = 0.5
# Action items are a sentence or two; a pasted log must not make scoring slow.
MAX_CHARS = 20_000


@dataclass(frozen=True)
class Candidate:
    """An open backlog item to compare with; ``key`` is its id."""

    key: int
    title: str
    description: str = ""
    services: tuple[str, ...] = ()
    category: str | None = None


@dataclass(frozen=True)
class Match:
    """``score`` (0..1) is ``text_score`` plus the context bonus; ``reasons`` say why, for people."""

    key: int
    score: float
    text_score: float
    reasons: tuple[str, ...]


_LABELLED = re.compile(r"<([^<>|]*)\|([^<>]*)>")  # <url|label>, <#C1|name>, <@U1|name>
_BRACKETED = re.compile(r"<[^<>]*>")  # <@U123>, <!here>, <https://...>
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_EMOJI_CODE = re.compile(r":[a-z0-9_+'-]+:", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")

# Function words, plus the verbs and filler every action item uses ("add", "ensure",
# "look into", "put in place"): they say that something will be done, not what risk
# it addresses, and would make unrelated items look alike.
_STOPWORD_TEXT = """
a about above across after again against all already also always am an and any apparent are as at away be
because been before being below between both but by can case certain common could current currently did do
does doing done down during each either especially etc even exact extra few for forward from further general
had has have having he her here hers him his how i if in instead into is it its itself just let like many me
meeting might more most much must my near next no nor not now of off on once only or other our ours out over
own particular particularly per same she should since so some something straight such than that the their
them then there these they this those through to too toward towards under until up upon us used uses very via
was we well were what when where whether which while who whom why will with within would you your
able add allow ask assess attempt better build check clear consider configure create dig discuss discussion
ensure evaluate explore extend feasible feasibility figure find follow future get give go going help
implement improve incident introduce investigate issue keep look make maybe need new option place plan
possible problem properly put reach review see set settle specify sure take talk tbd team think try update use
using verify want way weigh work write
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# Words found in a large share of any team's action items: a backlog of one or two items
# cannot show that through idf, so _idf assumes a background where they are common.
_COMMON_TEXT = """alert monitor metric dashboard log test documentation process cluster node service
version pipeline kubernetes deploy config error change"""

# Ops vocabulary that people write in several ways. Keys are the canonical term.
_SYNONYMS = {
    "database": "db dbs database postgres postgresql psql rds mysql aurora", "kubernetes": "k8s kube kubernetes",
    "certificate": "cert certificate tls ssl x509", "dns": "dns coredns", "config": "config configuration",
    "deploy": "deploy deployment release rollout", "alert": "alert alarm pager pagerduty opsgenie",
    "monitor": "monitor monitoring observability watch", "cloudwatch": "cloudwatch cwl",
    "ratelimit": "ratelimit ratelimiting throttle throttling", "runbook": "runbook playbook",
    "loadbalancer": "lb loadbalancer alb elb nlb",
}
# Only in these exact forms: "page" alone is usually a wiki or status page.
_EXACT_SYNONYMS = {"paging": "alert", "paged": "alert"}
# Two words that mean one thing; matched on stems so "rate limiting" counts too.
_PHRASES = {
    "rate limit": "ratelimit", "load balancer": "loadbalancer", "roll out": "deploy", "roll over": "rollover",
    "time out": "timeout", "on call": "oncall", "health check": "healthcheck", "run book": "runbook",
}


def _stem(word: str) -> str:
    """A light suffix stripper: alerts/alerting/alerted -> alert, nodes -> nod.

    Stems are only compared with each other, so "nod" is fine; it never has to be a word.
    """
    if len(word) < 4 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # shipped -> ship, logging -> log
            break
    if word.endswith("e") and len(word) >= 4:
        word = word[:-1]  # scale/scaling/scaled all end as "scal"
    return word


_SYNONYM = {
    form: canonical
    for canonical, variants in _SYNONYMS.items()
    for variant in [canonical, *variants.split()]
    for form in (variant, _stem(variant))
}
_PHRASE = {tuple(_stem(w) for w in k.split()): v for k, v in _PHRASES.items()}
_STOP_STEMS = frozenset(_stem(w) for w in _STOPWORDS) | _STOPWORDS


def _clean(text: str) -> str:
    """Slack markup and links out, labels kept: they name the thing being linked."""
    text = text[:MAX_CHARS]
    text = _LABELLED.sub(lambda m: "" if m.group(1)[:1] in "@!" else f" {m.group(2)} ", text)
    text = _URL.sub(" ", _BRACKETED.sub(" ", text))
    return html.unescape(_EMOJI_CODE.sub(" ", text)).lower()


def _terms(text: str) -> list[tuple[str, str]]:
    """(term, word as written) pairs; the written word is what reasons show."""
    words = [w for w in _WORD.findall(_clean(text)) if len(w) > 1 and not w.isdigit()]
    stems = [_stem(w) for w in words]
    terms: list[tuple[str, str]] = []
    i = 0
    while i < len(words):
        phrase = _PHRASE.get(tuple(stems[i : i + 2]))
        if phrase:
            terms.append((phrase, phrase))
            i += 2
            continue
        word, stem = words[i], stems[i]
        synonym = _EXACT_SYNONYMS.get(word) or _SYNONYM.get(word) or _SYNONYM.get(stem)
        if synonym:
            terms.append((synonym, synonym))
        elif word not in _STOP_STEMS and stem not in _STOP_STEMS:
            terms.append((stem, word))
        i += 1
    return terms


def normalise(text: str) -> list[str]:
    """The terms of ``text``: lowercase stems, ops synonyms folded, filler words dropped."""
    return [term for term, _ in _terms(text)]


_COMMON = frozenset(normalise(_COMMON_TEXT))


def _features(terms: list[str]) -> dict[str, float]:
    """Words plus adjacent pairs, in either order: "replica lag" says more than "replica"
    and "lag" apart, and "lag of the replica" says the same."""
    features: dict[str, float] = dict(Counter(terms))
    for pair in {" ".join(sorted(p)) for p in itertools.pairwise(terms) if p[0] != p[1]}:
        features[pair] = PAIR_WEIGHT
    return features


def _unit(counts: Mapping[str, float], idf: Mapping[str, float] | None, unseen: float | None = None) -> dict[str, float]:
    """``unseen``: the weight of a term no document has (it is rare); the largest idf when
    not given. Callers weighing many texts against one idf pass it once."""
    if unseen is None:
        unseen = max(idf.values(), default=1.0) if idf else 1.0
    weights = {t: n * (idf.get(t, unseen) if idf is not None else 1.0) for t, n in counts.items()}
    norm = math.sqrt(sum(w * w for w in weights.values()))
    return {t: w / norm for t, w in weights.items()} if norm else {}


def _blend(title: dict[str, float], body: dict[str, float]) -> dict[str, float]:
    if not title or not body:
        return title or body
    mixed = {t: TITLE_WEIGHT * w for t, w in title.items()}
    for t, w in body.items():
        mixed[t] = mixed.get(t, 0.0) + (1 - TITLE_WEIGHT) * w
    return mixed


def _cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    if len(b) < len(a):
        a, b = b, a
    dot = sum(w * b.get(t, 0.0) for t, w in a.items())
    norms = math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values()))
    # Rounded so identical texts give exactly 1.0 and scores read well in reasons.
    return round(min(1.0, dot / norms), 4) if norms else 0.0


def similarity(a: str, b: str, *, idf: Mapping[str, float] | None = None) -> float:
    """Cosine of the two texts' word and word-pair vectors, 0 (nothing shared) to 1."""
    return _cosine(_unit(_features(normalise(a)), idf), _unit(_features(normalise(b)), idf))


@dataclass(frozen=True)
class _Text:
    title: dict[str, float]
    body: dict[str, float]
    written: dict[str, str]  # term -> the word as first written, for reasons

    @classmethod
    def of(cls, title: str, description: str) -> _Text:
        return _parsed(title, description)

    def terms(self) -> set[str]:
        return self.title.keys() | self.body.keys()

    def vector(self, idf: Mapping[str, float], unseen: float) -> dict[str, float]:
        return _blend(_unit(self.title, idf, unseen), _unit(self.body, idf, unseen))


# Parsing (cleaning, stemming, synonyms) is most of a match's cost, and every new action
# item is compared with the same open backlog items: a process keeps the parsed texts of
# the last few thousand. Texts are never changed after parsing.
@functools.lru_cache(maxsize=10_000)
def _parsed(title: str, description: str) -> _Text:
    head, body = _terms(title), _terms(description)
    written: dict[str, str] = {}
    for term, word in head + body:
        written.setdefault(term, word)
    return _Text(_features([t for t, _ in head]), _features([t for t, _ in body]), written)


def _idf(texts: Sequence[_Text]) -> dict[str, float]:
    """Smoothed idf: with one or two candidates a plain idf would weigh every shared
    word alike (or at zero); the background keeps a shared "alert" weaker than a shared
    "fluentd" however small the backlog."""
    df = Counter(t for text in texts for t in set(text.title) | set(text.body))
    total = 1 + len(texts) + BACKGROUND
    background = {t: BACKGROUND * COMMON_SHARE * (t in _COMMON) for t in df}
    return {t: math.log(total / (1 + n + background[t])) + 1 for t, n in df.items()}


def _shared_words(query: Mapping[str, float], other: Mapping[str, float], written: Mapping[str, str]) -> list[str]:
    """The single words that contribute most to the score, as the new item wrote them."""
    shared = [t for t in query if " " not in t and t in other]
    return [written[t] for t in sorted(shared, key=lambda t: (-query[t] * other[t], t))[:4]]


def best_matches(
    title: str,
    description: str,
    *,
    services: Sequence[str] = (),
    category: str | None = None,
    candidates: Iterable[Candidate],
    floor: float = SUGGEST_FLOOR,
    limit: int = 3,
) -> list[Match]:
    """The candidates most like this action item, best first (ties: lower key), at most
    ``limit``, each scoring at least ``floor``."""
    pool = list(candidates)
    query = _Text.of(title, description)
    texts = [_Text.of(c.title, c.description) for c in pool]
    idf = _idf([query, *texts])
    unseen = max(idf.values(), default=1.0)
    wanted, ours = query.vector(idf, unseen), query.terms()
    # No shared words, no match: a shared service or category alone says nothing. So
    # only candidates sharing a term are scored (most of a large backlog shares none).
    scored = [_score(query, wanted, c, t.vector(idf, unseen), services, category)
              for c, t in zip(pool, texts) if not ours.isdisjoint(t.terms())]
    kept = [m for m in scored if m.text_score > 0 and m.score >= floor]
    return sorted(kept, key=lambda m: (-m.score, m.key))[:limit]


def _score(query: _Text, wanted: Mapping[str, float], candidate: Candidate, theirs: Mapping[str, float],
           services: Sequence[str], category: str | None) -> Match:
    text_score = _cosine(wanted, theirs)
    score, reasons = text_score, []
    if words := _shared_words(wanted, theirs, query.written):
        reasons.append("shared words: " + ", ".join(words))
    if common := _same(services, candidate.services):
        score += SERVICE_BONUS
        reasons.append("same service: " + ", ".join(common))
    if category and candidate.category and _same([category], [candidate.category]):
        score += CATEGORY_BONUS
        reasons.append(f"same category: {candidate.category}")
    return Match(candidate.key, round(min(1.0, score), 4), text_score, tuple(reasons))


def _same(ours: Iterable[str], theirs: Iterable[str]) -> list[str]:
    """Names in both lists, compared the way people type them (case, stray spaces)."""
    return sorted({s.strip().lower() for s in ours} & {s.strip().lower() for s in theirs} - {""})

"""Second opinion for long or loose phrasings: words that only one intent's templates use.

Alignment scores a whole sentence against a whole template, so a question wrapped in many words
the templates never thought of ("why is the pelvis important for back pain") can fall under the
threshold although one word settles it. This scorer looks only at such telling words: a word is
telling for an intent when few intents' templates use it (one: full weight; two or three: a share),
and none of the skill's Fallback sentences do ("weather" or "song" tell against every intent). It is consulted
only when alignment rejected the words, and it must be clear-cut to overrule that.
"""

from __future__ import annotations

from dataclasses import dataclass

from .align import UNKNOWN_WORD
from .text import FILLER_WORDS
from .wordgraph import EPS, WILDCARD, WordGraph

MIN_CONFIDENCE = 0.85
"""Heard words the recogniser was less sure of than this don't count (noise turns into words)."""


@dataclass
class Evidence:
    """Which intent the telling words point to, and how strongly."""

    intent: str
    score: float
    runner_up: float
    words: list[str]
    against: float
    """Weight of heard words that belong to the not-for-me sentences only, or to no template (a
    word no template knows counts as much as a not-for-me word: at half, "how do you fix a
    sagging sofa back" was taken for posture advice on "sofa" alone; on a fresh set of 160
    out-of-domain requests spoken by 3 voices, clean and at 12 dB, 5 fewer were taken so, for 1
    fewer of 1134 questions)."""


class KeywordScorer:
    """Built once per word graph."""

    def __init__(self, graph: WordGraph, fallback: str, excluded: frozenset[str] = frozenset()) -> None:
        owners: dict[str, set[str]] = {}
        for block in graph.blocks:
            for state in range(block.start, block.end + 1):
                for arc in graph.arcs_from[state]:
                    if arc.word in (EPS, WILDCARD) or arc.word in FILLER_WORDS:
                        continue
                    owners.setdefault(arc.word, set()).add(block.intent)
        self.fallback = fallback
        self.telling: dict[str, dict[str, float]] = {}
        """word -> {intent: weight}; a word shared by k intents weighs 1/k for each."""
        self.against: set[str] = set()
        for word, intents in owners.items():
            if intents == {fallback}:
                self.against.add(word)
                continue
            if fallback in intents:  # everyday words ("time", "best"): no evidence either way
                continue
            intents = intents - excluded
            if intents and len(intents) <= 3:
                self.telling[word] = {intent: 1.0 / len(intents) for intent in intents}
        self.known = set(owners)

    def score(self, words: list[str], confidences: list[float] | None) -> Evidence | None:
        totals: dict[str, float] = {}
        hits: dict[str, list[str]] = {}
        against = unknown = 0.0
        content = 0
        for j, word in enumerate(words):
            conf = 1.0 if confidences is None else confidences[j]
            if word in FILLER_WORDS:
                continue
            content += 1
            if conf < MIN_CONFIDENCE:
                continue
            owners = self.telling.get(word)
            if owners is not None:
                for intent, weight in owners.items():
                    totals[intent] = totals.get(intent, 0.0) + weight
                    hits.setdefault(intent, []).append(word)
            elif word in self.against:
                against += 1.0
            elif word == UNKNOWN_WORD:
                unknown += 2.0  # the recogniser itself heard speech outside the templates
            elif word not in self.known:
                unknown += 1.0
        if not totals:
            return None
        ranked = sorted(totals.items(), key=lambda kv: -kv[1])
        intent, best = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        return Evidence(intent, best, second, hits[intent], against + unknown)

    def decisive(self, evidence: Evidence | None) -> bool:
        """Clear-cut: telling words for one intent only, and nothing that says 'not for me'."""
        return (evidence is not None and evidence.score >= 1.0
                and evidence.score >= 2.0 * evidence.runner_up and evidence.score > evidence.against)

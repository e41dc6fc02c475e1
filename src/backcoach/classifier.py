"""Second opinion learnt from example phrasings: naive Bayes over words and word pairs.

Templates say exactly which sentences an intent takes; real people find ways round them ("what's
the mechanism behind the pain", "i drive a rig all week, how should i be sitting"). A skill may list
example phrasings per intent (`examples:` in its intents folder, with `Fallback` examples of what is
not for it); together with sentences sampled from the templates they train this classifier. It is
asked only about words the alignment rejected, and its answer counts only when it is nearly sure.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field

from .text import FILLER_WORDS, words_of
from .wordgraph import WordGraph, random_sentence

SAMPLES_PER_BLOCK = 40
"""Template sentences sampled per template (so every intent is known even with few examples)."""
EXAMPLE_WEIGHT = 3
"""A phrasing a person said counts this many times a sampled template sentence."""
SMOOTHING = 0.1
IGNORED = frozenset({"[unk]", "unk", "<unk>"})


def features(words: list[str]) -> list[str]:
    """Content words, and every pair of neighbouring words (filler included: "what_is")."""
    words = [w for w in words if w not in IGNORED]
    return [w for w in words if w not in FILLER_WORDS] + [a + "_" + b for a, b in zip(words, words[1:])]


@dataclass
class Guess:
    intent: str
    probability: float
    known: float
    """The share of the words' features seen in training: garbled speech has few."""


@dataclass
class NaiveBayes:
    """Counts of features per intent; `guess` gives the likeliest intent and its posterior."""

    counts: dict[str, Counter] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    priors: Counter = field(default_factory=Counter)
    vocabulary: set[str] = field(default_factory=set)

    def add(self, intent: str, words: list[str], weight: int = 1) -> None:
        counter = self.counts.setdefault(intent, Counter())
        feats = features(words)
        for feat in feats:
            counter[feat] += weight
        self.vocabulary.update(feats)
        self.priors[intent] += weight
        self.totals[intent] = self.totals.get(intent, 0) + weight * len(feats)

    def guess(self, words: list[str]) -> Guess | None:
        every = features(words)
        feats = [f for f in every if f in self.vocabulary]
        if not feats or not self.counts:
            return None
        size = SMOOTHING * len(self.vocabulary)
        scores = {}
        for intent, counter in self.counts.items():
            denominator = math.log(self.totals[intent] + size)
            scores[intent] = math.log(self.priors[intent]) + sum(
                math.log(counter[f] + SMOOTHING) - denominator for f in feats)
        best = max(scores, key=scores.__getitem__)
        top = scores[best]
        total = sum(math.exp(s - top) for s in scores.values())
        return Guess(best, 1.0 / total, len(feats) / len(every))


def train(graph: WordGraph, examples: dict[str, list[str]], seed: int = 0) -> NaiveBayes | None:
    """A classifier from the skill's example phrasings and its templates (None without examples)."""
    if not examples:
        return None
    model = NaiveBayes()
    rng = random.Random(seed)
    for block in graph.blocks:
        for _ in range(SAMPLES_PER_BLOCK):
            model.add(block.intent, random_sentence(graph, block, rng)[0].split())
    for intent, phrasings in examples.items():
        for text in phrasings:
            model.add(intent, words_of(text), EXAMPLE_WEIGHT)
    return model

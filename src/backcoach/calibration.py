"""How sure the assistant is, as a probability: understanding scores turned into how often such a result is right.

The understanding step scores what it heard (nlu.py: how closely the words fit the nearest sentence,
times how sure the recogniser was of them) and keeps a result whose score clears its threshold.
Those scores decide well, but they are not probabilities: on the spoken tuning sets, requests
understood with a score of 0.3 to 0.6 were right about 9 times in 10, as often as those scored
0.99. So the confidence a result reports is a logistic model over what every result has: its
score, how sure the recogniser was of the words on average, and how many of the heard words are in
the sentence understood (for a Fallback: its score, the recogniser's certainty, how many words
there were, and whether some intent came close). Of results reported at 0.8, about 8 in 10 are
right. The decisions themselves are unchanged: only the number reported is.

Fitted on 12,308 spoken requests of the tuning sets (backcoach's tuning set 6 and red-flag tuning
set, the drink skill's kitchen-noise seeds 0-3; clean to 6 dB), and measured on requests fitted on
nothing (held-out set 4, drink-skill seeds 5 and 6): the expected calibration error (10 bins) of
understood requests went from 0.164 (the score as it was) to 0.030, of Fallbacks from 0.204 to 0.069.

`expected_calibration_error` and `reliability` measure it (`backcoach eval` reports both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from .intents import FALLBACK
from .nlu import IntentResult

UNDERSTOOD_WEIGHTS = (-5.252, 0.395, 8.596, 0.329)
"""Bias, then weights of: score, mean word confidence, share of heard words in the sentence
understood."""
FALLBACK_WEIGHTS = (6.015, 5.517, 2.846, -3.216, -4.223)
"""Bias, then weights of: score, mean word confidence, log(1 + words heard), whether an intent
came close."""
BINS = 10


@dataclass(frozen=True)
class Evidence:
    """What a result was understood from: the words heard and how sure the recogniser was of each."""

    words: Sequence[str]
    confidences: Sequence[float] | None = None


def probability(result: IntentResult, evidence: Evidence) -> float:
    """How likely `result` is right (intent and slots, or that the request was not for us)."""
    words = [w for w in evidence.words if w]
    confs = list(evidence.confidences) if evidence.confidences is not None and \
        len(evidence.confidences) == len(evidence.words) else [1.0] * len(evidence.words)
    mean = sum(confs) / len(confs) if confs else 1.0
    if result.intent == FALLBACK:
        weights = FALLBACK_WEIGHTS
        x = (result.confidence, mean, math.log1p(len(words)), 1.0 if result.guess else 0.0)
    else:
        weights = UNDERSTOOD_WEIGHTS
        sentence = set(result.sentence.split())
        x = (result.confidence, mean, sum(w in sentence for w in words) / max(1, len(words)))
    z = weights[0] + sum(w * v for w, v in zip(weights[1:], x))
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def calibrated(result: IntentResult, evidence: Evidence) -> IntentResult:
    """`result` with its confidence replaced by `probability` (rounded to 3 places)."""
    return replace(result, confidence=round(probability(result, evidence), 3))


def expected_calibration_error(pairs: Iterable[tuple[float, bool]], bins: int = BINS) -> float | None:
    """Mean gap between stated confidence and how often it was right, over equal-width bins,
    weighted by how many results fall in each (None when there are none)."""
    table = reliability(pairs, bins)
    total = sum(row["n"] for row in table)
    if not total:
        return None
    return sum(row["n"] * abs(row["confidence"] - row["accuracy"]) for row in table) / total


def reliability(pairs: Iterable[tuple[float, bool]], bins: int = BINS) -> list[dict]:
    """Per confidence bin that has results: its range, how many, their mean confidence and how
    often they were right."""
    sums = [[0, 0.0, 0] for _ in range(bins)]
    for confidence, right in pairs:
        k = min(bins - 1, max(0, int(confidence * bins)))
        sums[k][0] += 1
        sums[k][1] += confidence
        sums[k][2] += bool(right)
    return [{"low": k / bins, "high": (k + 1) / bins, "n": n, "confidence": round(c / n, 4),
             "accuracy": round(r / n, 4)} for k, (n, c, r) in enumerate(sums) if n]

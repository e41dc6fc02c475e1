"""Calibrated confidence: the number a result reports says how often such a result is right."""

from __future__ import annotations

import pytest

from backcoach.asr import Transcript
from backcoach.calibration import Evidence, expected_calibration_error, probability, reliability
from backcoach.nlu import Hypothesis, IntentResult


def test_calibration_error_is_the_gap_between_stated_and_actual():
    assert expected_calibration_error([(0.9, True)] * 9 + [(0.9, False)]) == pytest.approx(0.0)
    assert expected_calibration_error([(1.0, True), (1.0, False)]) == pytest.approx(0.5)
    mixed = [(0.15, False)] * 4 + [(0.95, True)] * 6
    assert expected_calibration_error(mixed) == pytest.approx(0.4 * 0.15 + 0.6 * 0.05)
    assert [row["n"] for row in reliability(mixed)] == [4, 6]
    assert expected_calibration_error([]) is None


def test_confidence_rises_with_how_sure_the_recogniser_was():
    result = IntentResult(text="what is the sciatic nerve", intent="SciaticNerve", confidence=0.9,
                          sentence="what is the sciatic nerve")
    words = result.text.split()
    sure = probability(result, Evidence(words, [1.0] * 5))
    unsure = probability(result, Evidence(words, [0.5] * 5))
    stray = probability(result, Evidence(words + ["pizza", "oven"], [1.0] * 7))
    assert 0.9 < sure < 1.0 and unsure < sure - 0.3 and stray < sure


def test_a_fallback_is_less_sure_when_an_intent_came_close():
    far = IntentResult(text="call my mother", intent="Fallback", confidence=0.9)
    near = IntentResult(text="call my mother", intent="Fallback", confidence=0.9, guess="SeeDoctor")
    words = far.text.split()
    assert probability(near, Evidence(words)) < probability(far, Evidence(words))


def test_spoken_results_carry_the_calibrated_confidence_and_the_same_decision(assistant):
    """The assistant decides on the understanding step's own score and reports the calibrated one:
    the same words heard surely or unsurely mean the same, with less confidence when unsure."""
    words = "what stretches help my hamstrings".split()
    sure = assistant.understand_transcript(Transcript(" ".join(words), [Hypothesis(words, [1.0] * 5)]))
    unsure = assistant.understand_transcript(Transcript(" ".join(words), [Hypothesis(words, [0.7] * 5)]))
    raw = assistant.understander.understand_hypotheses([Hypothesis(words, [1.0] * 5)])
    assert (sure.intent, sure.slots) == (raw.intent, raw.slots) == ("StretchTips", {"area": "hamstring"})
    assert unsure.intent == sure.intent and unsure.confidence < sure.confidence
    assert sure.confidence == round(probability(raw, Evidence(words, [1.0] * 5)), 3)

"""The wake phrase and the barge-in word: a second, tiny Vosk recogniser that hears only them.

The skill's grammar does not contain "hey coach" or a bare "stop", so a separate recogniser on the
same model listens for just those (everything else is `[unk]`). It is fed every block of input, so
its word times are positions in the input stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .audio import AudioChunk
from .text import words_of

SAMPLE_RATE = 16000
DEFAULT_WAKE = "hey coach"
STOP_WORD = "stop"


@dataclass
class Detection:
    """A wake phrase or stop word heard: which, and where it ended in the input stream (seconds)."""

    kind: str
    """"wake" or "stop"."""
    end: float
    text: str


class WakeListener:
    """Listens for the wake phrase and "stop" in a stream of 16 kHz mono pcm16 blocks."""

    def __init__(self, model, wake_phrase: str = DEFAULT_WAKE) -> None:
        import vosk

        self.wake_words = words_of(wake_phrase) or words_of(DEFAULT_WAKE)
        self.wake_phrase = " ".join(self.wake_words)
        phrases = [self.wake_phrase, STOP_WORD, "[unk]"]
        self._rec = vosk.KaldiRecognizer(model, SAMPLE_RATE, json.dumps(phrases))
        self._fed = 0
        self._reported = {"wake": 0, "stop": 0}
        """How many of each were already reported in the current utterance (never twice)."""

    @property
    def position(self) -> float:
        return self._fed / (2 * SAMPLE_RATE)

    def accept(self, pcm16: bytes) -> Detection | None:
        """Feed a block; a detection as soon as the partial result shows the phrase or the word.

        Partial results show a word about when it ends, so the detection's `end` is the stream
        position at that moment. (Vosk's partial word times lag far behind, so they are not used.)"""
        self._fed += len(pcm16)
        if self._rec.AcceptWaveform(pcm16):
            words = words_of(json.loads(self._rec.Result()).get("text", "").replace("[unk]", " "))
            found = self._new(words)
            self._reported = {"wake": 0, "stop": 0}
            return found
        return self._new(words_of(json.loads(self._rec.PartialResult()).get("partial", "")
                                  .replace("[unk]", " ")))

    def _new(self, words: list[str]) -> Detection | None:
        counts = {"wake": _count(words, self.wake_words), "stop": words.count(STOP_WORD)}
        for kind in ("wake", "stop"):
            if counts[kind] > self._reported[kind]:
                self._reported[kind] = counts[kind]
                return Detection(kind, self.position, self.wake_phrase if kind == "wake" else STOP_WORD)
        return None


def _count(words: list[str], phrase: list[str]) -> int:
    n = len(phrase)
    return sum(1 for i in range(len(words) - n + 1) if words[i:i + n] == phrase)


def listening_tone(seconds: float = 0.15, freq: float = 880.0, rate: int = SAMPLE_RATE,
                   level: float = 0.3) -> AudioChunk:
    """A short sine "I'm listening" beep with 10 ms fades (no clicks)."""
    n = int(rate * seconds)
    t = np.arange(n) / rate
    x = level * np.sin(2 * np.pi * freq * t)
    fade = min(n // 2, int(rate * 0.01))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    return AudioChunk.from_float(x.astype(np.float32), rate)

"""Vosk speech recognition limited to what the intents can say: streaming, endpoints, n-best."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from .errors import BackcoachError
from .grammar import Grammar
from .align import UNKNOWN_WORD
from .nlu import Hypothesis
from .text import words_of

SAMPLE_RATE = 16000


@dataclass
class Transcript:
    """What the recogniser heard in one stretch of speech."""

    text: str
    hypotheses: list[Hypothesis] = field(default_factory=list)
    start: float = 0.0
    """Seconds from the start of the stream to the first word (0 when nothing was heard)."""
    end: float = 0.0
    """Seconds from the start of the stream to the end of the last word."""
    durations: list[float] = field(default_factory=list)
    """How long each word of the best reading lasted (empty when Vosk gave no times)."""


DITHER_SEED = 20261126


def steady_dither(seed: int = DITHER_SEED) -> None:
    """Make the next stretch of audio decode the same way every time it is heard.

    Kaldi adds a little random noise (dither, about one sample step) to every frame before its
    features, drawn from the C library's `rand()`, so the same file could be heard as "make the
    alarm eight" once and "make me laugh" the next, and a file's words depended on what was heard
    before it in the process. Seeding `rand()` before each file keeps the dither (the model was
    trained with it) but makes it the same each time. Only for one thread at a time: recognisers
    in parallel threads draw from the same sequence. Does nothing where the C library cannot be
    reached."""
    global _LIBC
    if _LIBC is None:
        try:
            import ctypes

            _LIBC = ctypes.CDLL(None)
            _LIBC.srand  # noqa: B018 - fails here, not later, where there is no srand
        except (OSError, AttributeError, TypeError):
            _LIBC = False
    if _LIBC:
        _LIBC.srand(seed)


_LIBC = None


def load_model(model_dir: Path):  # -> vosk.Model
    """Load a Vosk model once (about half a second for the small one)."""
    try:
        import vosk
    except ImportError as exc:  # pragma: no cover - a broken install
        raise BackcoachError(f"the vosk package is not installed ({exc})", hint="run the README set-up") from None
    vosk.SetLogLevel(-1)
    try:
        return vosk.Model(str(model_dir))
    except Exception as exc:  # noqa: BLE001 - vosk raises a bare Exception
        raise BackcoachError(f"could not load the speech model at {model_dir} ({exc})",
                             hint="run: backcoach model fetch") from None


class Recognizer:
    """A Vosk recogniser for one stream of 16 kHz mono 16-bit audio; reusable after `reset`.

    By default it returns the single best reading with a confidence per word (Vosk gives either
    word confidences or an n-best list); `alternatives=N` asks for the n-best list instead.
    """

    def __init__(self, model, grammar: Grammar | None, alternatives: int = 0) -> None:
        import vosk

        self._vosk = vosk
        self.grammar = grammar
        self.alternatives = alternatives
        if grammar is not None:
            self._rec = vosk.KaldiRecognizer(model, SAMPLE_RATE, json.dumps(grammar.phrases))
        else:
            self._rec = vosk.KaldiRecognizer(model, SAMPLE_RATE)
        if alternatives > 1:
            self._rec.SetMaxAlternatives(alternatives)
        self._rec.SetWords(True)
        self._offset = 0.0
        self._fed = 0

    @property
    def seconds_fed(self) -> float:
        return self._fed / (2 * SAMPLE_RATE)

    def reset(self) -> None:
        """Forget the current utterance (keeps the model and grammar)."""
        self._rec.Reset()
        self._offset = self.seconds_fed

    def accept(self, pcm16: bytes) -> Transcript | None:
        """Feed audio; returns a transcript when Vosk detects the end of an utterance."""
        if not pcm16:
            return None
        self._fed += len(pcm16)
        if self._rec.AcceptWaveform(pcm16):
            transcript = self._parse(self._rec.Result())
            self._offset = self.seconds_fed
            return transcript
        return None

    def partial(self) -> str:
        """The words heard so far in the current utterance."""
        try:
            return json.loads(self._rec.PartialResult()).get("partial", "")
        except ValueError:
            return ""

    def finish(self) -> Transcript:
        """Force the end of the current utterance and return it."""
        transcript = self._parse(self._rec.FinalResult())
        self._offset = self.seconds_fed
        return transcript

    def _parse(self, raw: str) -> Transcript:
        data = json.loads(raw)
        alternatives = data.get("alternatives")
        if alternatives is None:
            alternatives = [{"text": data.get("text", ""), "result": data.get("result", [])}]
        hypotheses: list[Hypothesis] = []
        start = end = 0.0
        durations: list[float] = []
        for rank, alt in enumerate(alternatives):
            words = words_of(alt.get("text", ""))
            timed = alt.get("result") or []
            confs = [float(w.get("conf", 1.0)) for w in timed] if timed and "conf" in timed[0] else None
            if confs is not None and len(confs) != len(words):
                confs = None
            if all(w == UNKNOWN_WORD for w in words):
                continue  # noise or speech that is not for us, with no word of the skill in it
            hypotheses.append(Hypothesis(words=words, confidences=confs, rank=rank))
            if rank == 0 and timed:
                start = float(timed[0].get("start", 0.0))  # Vosk times count from creation
                end = float(timed[-1].get("end", 0.0))
                if len(timed) == len(words):
                    durations = [float(w.get("end", 0.0)) - float(w.get("start", 0.0)) for w in timed]
        text = " ".join(hypotheses[0].words) if hypotheses else ""
        return Transcript(text=text, hypotheses=hypotheses, start=start, end=end,
                          durations=durations if hypotheses and hypotheses[0].rank == 0 else [])


def transcribe(recognizer: Recognizer, chunks: Iterable[bytes]) -> Iterator[Transcript]:
    """Every utterance in a stream of 16 kHz mono pcm16 chunks (empty ones are skipped)."""
    recognizer.reset()
    for chunk in chunks:
        result = recognizer.accept(chunk)
        if result is not None and result.text:
            yield result
    last = recognizer.finish()
    if last.text:
        yield last


"""Running an evaluation: speak (or read) each item once, mix it per SNR, hear it, time it.

Clean audio is cached in memory per (voice, sentence) or per recording, so every SNR condition
reuses it. Mixed audio goes to a temporary WAV (the assistant hears files), or under --keep DIR.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

import numpy as np

from .audio import float_to_pcm16, read_wav, write_wav
from .errors import BackcoachError
from .evaluate import CLEAN, Outcome, TestItem, snr_label
from .noise import RATE, NoiseSource, mix, to_16k

BABBLE_SENTENCES = (
    "so we went down to the market on saturday morning", "i told her the meeting was moved to thursday",
    "did you see the game last night it was unbelievable", "the train was late again this morning",
    "we should paint the living room a lighter colour", "my brother is coming to visit next week",
    "i think the restaurant on the corner closed down", "can you believe how expensive everything is",
    "she said the report would be ready by friday", "the children loved the museum",
    "we are thinking about going to the coast in august", "the neighbours got a new dog",
    "i have to pick up the car from the garage", "he finally finished the book he was writing",
    "it was raining so hard we stayed inside all day", "the new manager seems quite friendly",
)


class Progress:
    """A single updating status line on stderr (`eval: 120/400 clean ...`)."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self._width = 0

    def step(self, label: str) -> None:
        self.done += 1
        tty = self.stream.isatty()
        if not tty and self.done % 100 and self.done != self.total:
            return  # in a log file: a line every hundred items, not a wall of carriage returns
        line = f"eval: {self.done}/{self.total} {label}"
        if not tty:
            self.stream.write(line + "\n")
            self.stream.flush()
            return
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def close(self) -> None:
        if self._width and self.stream.isatty():
            self.stream.write("\n")
            self.stream.flush()


@dataclass
class CleanAudio:
    """Clean 16 kHz float audio per item, synthesized or read once and kept in memory."""

    voice_specs: list[str]
    voices: dict[str, object] = field(default_factory=dict)
    cache: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)

    def load_voices(self, required: bool) -> list[str]:
        """Load every voice; a voice that fails is an error if `required`, else skipped (warned)."""
        from .tts import load_voice

        usable = []
        for spec in self.voice_specs:
            try:
                self.voices[spec] = load_voice(spec)
                usable.append(spec)
            except BackcoachError as exc:
                if required:
                    raise BackcoachError(f"voice '{spec}': {exc.one_line()}") from None
                print(f"backcoach: skipping voice '{spec}': {exc.one_line()}", file=sys.stderr)
        if not usable:
            raise BackcoachError("no voice could be loaded (install espeak-ng or piper-tts)")
        return usable

    def get(self, item: TestItem) -> np.ndarray:
        key = (item.voice, item.text) if not item.path else ("", item.path)
        if key not in self.cache:
            if item.path:
                self.cache[key] = to_16k(read_wav(item.path))
            else:
                self.cache[key] = self._speak(item)
        return self.cache[key]

    def _speak(self, item: TestItem, tries: int = 3) -> np.ndarray:
        """Synthesize, trying again when a voice fails now and then (pyttsx3 sometimes writes nothing)."""
        for attempt in range(tries):
            try:
                return to_16k(self.voices[item.voice].synthesize(item.text))  # type: ignore[attr-defined]
            except BackcoachError:
                if attempt == tries - 1:
                    raise
        raise AssertionError("unreachable")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def write_labels(folder: Path, files: list[tuple[str, TestItem]]) -> None:
    """labels.json beside kept WAVs, in the form labelled mode reads, so the very same audio can
    be heard again (`--audio DIR --labels DIR/labels.json --snr clean`): other sentences, voices
    or conditions speak and mix other audio, so only the same files compare two set-ups fairly."""
    labels = {name: {"intent": item.intent, "slots": dict(item.slots), "text": item.text, "voice": item.voice}
              for name, item in files}
    (folder / "labels.json").write_text(json.dumps(labels, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def run_conditions(make_assistant: Callable[[], object], items: list[TestItem], snrs: list[str | float],
                   clean: CleanAudio, noise: NoiseSource | None, seed: int = 0,
                   keep: str | None = None, workers: int = 1,
                   snr_measure: str = "active") -> tuple[list[Outcome], float]:
    """Every item in every condition; returns the outcomes and the recogniser set-up seconds.
    `snr_measure`: how SNR is measured when mixing (see noise.mix)."""
    rng = np.random.default_rng(seed + 1)
    progress = Progress(len(items) * (len(snrs) + 1))
    kept = []
    for item in items:  # synthesize first, so the recognition timings are not mixed with TTS
        try:
            clean.get(item)
            kept.append(item)
        except BackcoachError as exc:  # one bad utterance should not sink a long run
            print(f"\nbackcoach: skipping \"{item.text or item.path}\" [{item.voice}]: {exc.one_line()}",
                  file=sys.stderr)
        progress.step("speaking" if not item.path else "reading")
    items = kept
    progress.total = progress.done + len(items) * len(snrs)
    main = make_assistant()
    started = time.perf_counter()
    main.recognizer()  # type: ignore[attr-defined]
    setup = time.perf_counter() - started
    local = threading.local()

    def assistant():
        if workers <= 1:
            return main
        if not hasattr(local, "assistant"):
            local.assistant = make_assistant()
            local.assistant.recognizer()
        return local.assistant

    def hear(item: TestItem, snr: str | float, path: Path, seconds: float) -> Outcome:
        a = assistant()
        t0 = time.perf_counter()
        heard = a.hear_file(path)  # type: ignore[attr-defined]
        elapsed = time.perf_counter() - t0
        if not keep:
            path.unlink(missing_ok=True)
        return Outcome(item, snr, heard.transcript, heard.result.intent, dict(heard.result.slots),
                       elapsed, seconds, heard.result.confidence)

    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="backcoach-eval-") as tmp, \
            ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        root = Path(keep) if keep else Path(tmp)
        for snr in snrs:
            folder = root / _safe(snr_label(snr).replace(" ", ""))
            folder.mkdir(parents=True, exist_ok=True)
            if snr != CLEAN and noise is None:
                raise BackcoachError("noisy conditions need a noise source")
            jobs = []
            for i, item in enumerate(items):
                speech = clean.get(item)
                mixed = mix(speech, None if snr == CLEAN else noise.samples,  # type: ignore[union-attr]
                            None if snr == CLEAN else float(snr),
                            offset=0 if snr == CLEAN else noise.offset(rng),  # type: ignore[union-attr]
                            measure=snr_measure)
                path = folder / f"{i:04d}-{_safe(item.key)}.wav"
                write_wav(path, float_to_pcm16(mixed), RATE)
                if workers <= 1:
                    outcomes.append(hear(item, snr, path, len(mixed) / RATE))
                    progress.step(snr_label(snr))
                else:
                    jobs.append(pool.submit(hear, item, snr, path, len(mixed) / RATE))
            for job in jobs:
                outcomes.append(job.result())
                progress.step(snr_label(snr))
            if keep:
                write_labels(folder, [(f"{i:04d}-{_safe(item.key)}.wav", item) for i, item in enumerate(items)])
    progress.close()
    return outcomes, setup

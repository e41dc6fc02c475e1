"""Long-run check: many utterances through `hear` and the dialogue, watching memory and errors.

A handful of questions (and some noise and silence) are synthesized once, then heard over and over
in one process, as a speaker on a shelf would hear them for days. Memory is sampled from
/proc/self/statm after a warm-up, so the figure is growth, not the model's own size.
"""

from __future__ import annotations

import resource
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .audio import AudioChunk, write_wav

QUESTIONS = [
    "why does my lower back hurt when i bend my knee", "what is the sciatic nerve", "tell me more",
    "what stretches help my hamstrings", "how should i sit", "my groin has gone numb",
    "what's the weather like tomorrow", "speak slower", "when should i see a doctor", "go back",
]


@dataclass
class SoakResult:
    """What a soak run measured."""

    utterances: int
    errors: list[str] = field(default_factory=list)
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    peak_rss_mb: float = 0.0
    seconds: float = 0.0
    intents: dict[str, int] = field(default_factory=dict)

    @property
    def growth_mb(self) -> float:
        return self.rss_end_mb - self.rss_start_mb


def rss_mb() -> float:
    """Resident memory now, in MB (Linux); the peak so far elsewhere."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize() / 1e6
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def make_clips(voice, folder: Path) -> list[Path]:
    """The questions as WAVs, plus a noise clip and a silent one."""
    paths = []
    for k, text in enumerate(QUESTIONS):
        path = folder / f"q{k:02d}.wav"
        write_wav(path, voice.synthesize(text).to_pcm16_mono_16k(), 16000)
        paths.append(path)
    rng = np.random.default_rng(1)
    noise = AudioChunk.from_float((rng.normal(0, 0.1, 16000 * 2)).astype(np.float32), 16000)
    write_wav(folder / "noise.wav", noise.audio, 16000)
    write_wav(folder / "silence.wav", b"\x00\x00" * 16000, 16000)
    return paths + [folder / "noise.wav", folder / "silence.wav"]


def run_soak(assistant, voice, utterances: int = 2000, warmup: int = 50,
             progress: Callable[[int, int], None] | None = None) -> SoakResult:
    """Hear `utterances` clips in turn through one assistant and one conversation."""
    from .dialogue import Dialogue

    result = SoakResult(utterances=utterances)
    dialogue = Dialogue(assistant.skill)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="backcoach-soak-") as tmp:
        clips = make_clips(voice, Path(tmp))
        for k in range(utterances):
            if k == min(warmup, utterances - 1):
                result.rss_start_mb = rss_mb()
            try:
                heard = assistant.hear_file(clips[k % len(clips)])
                reply = dialogue.respond(heard.result)
                if reply.end_session:
                    dialogue = Dialogue(assistant.skill)
                result.intents[heard.result.intent] = result.intents.get(heard.result.intent, 0) + 1
            except Exception as exc:  # noqa: BLE001 - a soak counts every failure, it never stops
                result.errors.append(f"{clips[k % len(clips)].name}: {exc}")
            if progress is not None:
                progress(k + 1, utterances)
    result.rss_end_mb = rss_mb()
    result.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    result.seconds = time.perf_counter() - started
    return result

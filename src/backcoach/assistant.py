"""The pipeline wired once per process: skill, speech model, grammar, understanding, voice."""

from __future__ import annotations

import itertools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .asr import Recognizer, Transcript, load_model, steady_dither, transcribe
from .audio import (collect_wavs, frame_levels_dbfs, iter_pcm16_mono_16k, quiet_edge,
                    signal_level_dbfs, silence)
from .errors import BackcoachError
from .cache import cached, key_of
from .calibration import Evidence, calibrated
from .decodegraph import skill_model_dir, supports_own_graph
from .denoise import DenoiseConfig, NoiseSuppressor
from .grammar import Grammar, build_grammar, model_key, model_vocabulary
from .intents import FALLBACK, RED_FLAG, Skill, load_skill
from .model import resolve_model
from .nlu import Hypothesis, IntentResult, Understander
from .text import words_of

log = logging.getLogger("backcoach")

SILENCE_DBFS = -70.0
"""A recording whose loudest block (RMS, dB full scale; half a second at 16 kHz) is quieter than
this is not heard.
Speech far quieter than usual is still speech: at -55, which this was, a set of spoken questions
were every one turned down when made 42 dB quieter (peaks near -42 dBFS), though Vosk understood
147 of 150 of them, and 130 of 150 made 50 dB quieter. Hiss and pink noise at -50 to -75 dBFS gave
no request either way."""
DECODING_ENV = "BACKCOACH_DECODING"
"""Set to "phrases" to decode with a runtime phrase list instead of the skill's own graph."""
DENOISE_ENV = "BACKCOACH_DENOISE"
"""Set to "off" to feed the recogniser the audio as it is, without noise suppression."""
PAD_START = 0.3
PAD_END = 0.5
"""Seconds of quiet a recording needs before its first word and after its last (see `hear_file`)."""
QUIET_BELOW_DB = 15.0
"""A frame this far under the loudest counts as quiet when measuring a recording's own margins."""
LOOKAHEAD = 1.5
"""Seconds of a recording read before the first is fed: its loudest part so far judges the start."""


@dataclass
class Heard:
    """One audio file understood: what was heard and what it meant."""

    file: str
    transcript: str
    result: IntentResult
    duration: float = 0.0
    segments: list[Transcript] = field(default_factory=list)


class Assistant:
    """Loads the expensive parts once; `understand_text` needs no speech model at all."""

    def __init__(self, intents_dir: str | Path | None = None, model_dir: str | None = None) -> None:
        self.skill: Skill = load_skill(intents_dir)
        self.understander = Understander(self.skill)
        self._model_arg = model_dir
        self._model = None
        self.grammar: Grammar | None = None
        self._recognizer: Recognizer | None = None
        self._runtime_grammar: Grammar | None = None
        self.denoise: DenoiseConfig | None = (None if os.environ.get(DENOISE_ENV, "").lower() == "off"
                                              else DenoiseConfig())
        """Noise suppression before recognition (None: off)."""

    # -- text ------------------------------------------------------------------------------------
    def understand_text(self, text: str) -> IntentResult:
        """Typed words understood, with a calibrated confidence (calibration.py)."""
        return calibrated(self.understander.understand(text), Evidence(words_of(text)))

    # -- speech ----------------------------------------------------------------------------------
    @property
    def model_dir(self) -> Path:
        return resolve_model(self._model_arg)

    def recognizer(self) -> Recognizer:
        """The Vosk recogniser, limited to the skill's sentences (model loaded on first use).

        A lookahead model decodes with the skill's own graph (decodegraph.py); any other model,
        or BACKCOACH_DECODING=phrases, gets the phrase list as a runtime grammar instead.
        """
        if self._recognizer is None:
            model_dir = self.model_dir
            graph, alikes = self.understander.graph, self.skill.sound_alikes
            key = key_of([self.skill.key, model_key(model_dir), repr(sorted(alikes.items()))])
            want_own = os.environ.get(DECODING_ENV, "graph") != "phrases" and supports_own_graph(model_dir)

            def grammar(phrases: bool) -> Grammar:  # the phrase list only matters without our graph
                return cached("grammar" if phrases else "words", key, lambda: build_grammar(
                    graph, model_vocabulary(model_dir), alikes, phrases=phrases))

            self.grammar = grammar(phrases=not want_own)
            if self.grammar.silent_words:
                log.info("words the model cannot hear (skipping them costs little): %s",
                         ", ".join(sorted(self.grammar.silent_words)))
            own: Path | None = None
            if want_own:
                try:
                    own = skill_model_dir(model_dir, graph, self.grammar.spoken, key)
                except (OSError, ValueError, UnicodeDecodeError) as exc:
                    log.warning("could not build the skill's decoding graph (%s); using a phrase list", exc)
                    self.grammar = grammar(phrases=True)
            self._model = load_model(own or model_dir)
            self._runtime_grammar = None if own else self.grammar
            self.understander = Understander(self.skill, silent_words=self.grammar.silent_words,
                                             threshold=self.understander.threshold,
                                             graph=self.understander.graph)
            self._recognizer = Recognizer(self._model, self._runtime_grammar)
        return self._recognizer

    def suppressor(self) -> NoiseSuppressor | None:
        """A noise suppressor for one new audio stream, or None when suppression is off."""
        return NoiseSuppressor(self.denoise) if self.denoise is not None else None

    def new_recognizer(self) -> Recognizer:
        """Another recogniser on the same model and grammar (for a second stream)."""
        self.recognizer()
        return Recognizer(self._model, self._runtime_grammar)

    def understand_transcript(self, transcript: Transcript) -> IntentResult:
        """One utterance understood, with a calibrated confidence (calibration.py)."""
        return calibrated(self._understood(transcript), _evidence([transcript]))

    def _understood(self, transcript: Transcript) -> IntentResult:
        """One utterance understood, with the understanding step's own score as its confidence."""
        return self.understander.understand_hypotheses(transcript.hypotheses, text=transcript.text)

    def hear_file(self, path: Path) -> Heard:
        """Recognise and understand one WAV file, streamed (bounded memory for long files)."""
        recognizer = self.recognizer()
        suppressor = self.suppressor()
        level = [-120.0]
        seconds = [0.0]

        def chunks() -> Iterator[bytes]:
            # A recording cut right at the first or last word loses that word in Vosk; a
            # microphone stream always has quiet around speech, so give files what they lack of
            # it (after noise suppression, which must not take the silence for the noise level).
            # Quiet a file has already costs the decoder nothing more.
            blocks = iter_pcm16_mono_16k(path)
            ahead: list[bytes] = []
            wanted = 2 * 16000 * max(LOOKAHEAD, suppressor.config.memory_seconds if suppressor else 0.0)
            for pcm in blocks:
                ahead.append(pcm)
                if sum(map(len, ahead)) >= wanted:
                    break
            first = b"".join(ahead)
            loudest = float(frame_levels_dbfs(first).max(initial=-120.0))
            yield silence(PAD_START - quiet_edge(first, loudest, QUIET_BELOW_DB))
            if suppressor is not None:  # its noise level, from the first seconds of the file
                suppressor.warm_up(first)
            tail = b""
            for pcm in itertools.chain(ahead, blocks):
                seconds[0] += len(pcm) / 32000
                level[0] = max(level[0], signal_level_dbfs(pcm))
                loudest = max(loudest, float(frame_levels_dbfs(pcm).max(initial=-120.0)))
                tail = (tail + pcm)[-int(2 * 16000 * PAD_END):]
                yield suppressor.process(pcm) if suppressor is not None else pcm
            if suppressor is not None:
                yield suppressor.flush()  # the last 24 ms it held back
            yield silence(PAD_END - quiet_edge(tail, loudest, QUIET_BELOW_DB, at_end=True))

        steady_dither()  # the same words every time this file is heard, alone or in a batch
        segments = list(transcribe(recognizer, chunks()))
        transcript = " ".join(s.text for s in segments)
        if not segments or level[0] < SILENCE_DBFS:
            result = IntentResult(text=transcript, intent=FALLBACK, confidence=1.0)
            return Heard(str(path), transcript if segments else "", result, seconds[0], segments)
        result = self.understand_segments(segments)
        if len(segments) > 1:
            result.text = transcript
        return Heard(str(path), transcript, result, seconds[0], segments)

    def understand_segments(self, segments: list[Transcript], cut: bool = False) -> IntentResult:
        """One file's utterances, as one request: a red flag in any of them or in the whole, else
        the surest.

        A pause of half a second ends an utterance in Vosk, so "a large latte ... with oat milk"
        arrives in two; when the whole (all the words in order) means what the surest part means,
        the whole is taken, with every slot from both parts. `cut`: the parts are known to be one
        request cut at a pause to think ("how should i ... sit at my desk"), so whatever the whole
        means is taken. The confidence is calibrated on the words the answer came from."""
        results = [self._understood(s) for s in segments]
        result = _pick(results)
        if len(segments) > 1 and result.intent != RED_FLAG:
            whole = self._understood(_joined(segments))
            if whole.intent == RED_FLAG or (whole.intent == result.intent != FALLBACK) \
                    or (cut and whole.intent != FALLBACK):
                return calibrated(whole, _evidence(segments))
        return calibrated(result, _evidence([segments[results.index(result)]]))

    def hear_paths(self, paths: list[str]) -> Iterator[Heard | BackcoachError]:
        """Every WAV under the paths, in order; a bad file yields its error and the batch goes on."""
        found, errors = collect_wavs(paths)
        yield from errors
        for path in found:
            try:
                yield self.hear_file(path)
            except BackcoachError as exc:
                yield exc


def _joined(segments: list[Transcript]) -> Transcript:
    """Several utterances as one: each one's best reading, one after the other."""
    tops = [s.hypotheses[0] if s.hypotheses else Hypothesis(s.text.split()) for s in segments]
    words = [w for h in tops for w in h.words]
    confidences = None
    if all(h.confidences is not None for h in tops):
        confidences = [c for h in tops for c in h.confidences or []]
    return Transcript(" ".join(s.text for s in segments), [Hypothesis(words, confidences)],
                      segments[0].start, segments[-1].end)


def _evidence(segments: list[Transcript]) -> Evidence:
    """The best reading's words of each utterance, one after the other, with their confidences."""
    joined = _joined(segments).hypotheses[0]
    return Evidence(joined.words, joined.confidences)


def _pick(results: list[IntentResult]) -> IntentResult:
    """For a file with several utterances: a red flag in any of them, else the surest answer."""
    for result in results:
        if result.intent == RED_FLAG:
            return result
    understood = [r for r in results if r.intent != FALLBACK]
    if understood:
        return max(understood, key=lambda r: r.confidence)
    return results[-1]

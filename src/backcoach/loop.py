"""The hands-free live loop: wake phrase, listening, end of speech, replies, barge-in, timed holds.

One thread runs the loop, one block of input (40 ms) at a time, on a clock owned by the source
(see `liveaudio`). Speech out is synthesised one sentence at a time (on a worker thread when the
clock is real, inline when it is the file position, so file runs are deterministic) and handed
to a sink that plays without blocking, so the loop keeps listening while it talks.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from .asr import Recognizer, Transcript, transcribe
from .assistant import PAD_END, Assistant
from .audio import AudioChunk, signal_level_dbfs, silence
from .dialogue import Dialogue, Reply
from .endpoint import close_gaps, ends_open, rounded_off
from .errors import BackcoachError
from .events import Events
from .intents import FALLBACK
from .liveaudio import RATE, Sink, Source
from .nlu import Hypothesis, IntentResult
from .text import unfinished, words_of
from .wake import DEFAULT_WAKE, Detection, WakeListener, listening_tone

log = logging.getLogger("backcoach")

BUFFER_SECONDS = 3.0
LEAD_IN_BYTES = int(2.0 * RATE) * 2
"""Audio kept from before the first word shows, for hearing a request again (a word shows in the
partial result up to half a second after it began; at 0.5 s "what is the" was cut to "this")."""


@dataclass
class LoopOptions:
    """How the loop behaves; the defaults are the ones `backcoach run` uses."""

    wake_phrase: str = DEFAULT_WAKE
    wake: bool = True
    """False (--no-wake): always listening, no wake phrase needed."""
    follow_up: float = 6.0
    """Seconds after a reply during which a question needs no wake phrase."""
    listen_timeout: float = 8.0
    """Seconds after the wake phrase to start speaking before the loop goes back to sleep."""
    end_silence: float = 0.35
    """Our end of speech: the partial result unchanged this long, with quiet input..."""
    quiet: float = 0.25
    """...and the input below the speech level this long."""
    stale_partial: float = 1.2
    """Or the partial result unchanged this long whatever the level (a noisy room)."""
    hold_silence: float = 1.5
    """When the words stop where a request seldom ends ("how should i ..."), how long the loop
    waits for the rest (since the words last changed; in a noisy room `stale_partial` more): a
    pause to think is not the end."""
    max_utterance: float = 15.0
    speech_dbfs: float = -60.0
    """The input level that counts as speech (raised automatically to 12 dB over the room's floor).
    At -45, a quiet microphone's speech (a question 35 dB under full level, peaks near -40 dBFS)
    never counted as speech, so a request ended wherever its words paused for 0.35 s: 3 of 6
    spoken questions were cut short and turned down (2 of 6 in another voice), against 6 of 6 (5
    of 6) understood at -60; at full level the two understood and answered alike."""
    step_gap: float = 4.0
    """In a guided stretch, the pause after a step without a hold before the next step."""
    tone: bool = True
    echo_guard: bool = False
    """Ignore "stop" or the wake phrase while the sentence being spoken contains it (a microphone
    without echo cancellation hears the speaker)."""
    drain_limit: float = 300.0
    """At the end of a file, the most loop seconds to spend finishing what is being said."""
    print_replies: bool = False
    """Print "you> ..." and "coach> ..." lines on stdout."""


@dataclass
class _Say:
    texts: list[str]
    kind: str = "reply"


@dataclass
class _Hold:
    seconds: float


@dataclass
class _Speaking:
    """One utterance on its way out: its sentences being synthesised, then played."""

    id: int
    kind: str
    text: str
    futures: deque[Future] = field(default_factory=deque)
    first_audio: bool = False


@dataclass
class _HoldState:
    start: float
    seconds: float
    cues: deque[tuple[float, str]]
    ended: bool = False


@dataclass
class _Listen:
    """The main recogniser at work on one turn."""

    reason: str
    deadline: float | None
    started: bool = False
    partial: str = ""
    changed: float = 0.0
    """Stream time the partial result last changed."""
    last_voice: float = 0.0
    """Stream time of the end of the last block above the speech level."""
    speech_start: float = 0.0
    held: list[Transcript] = field(default_factory=list)
    """Utterances that stopped where a request seldom ends: the request's first part(s)."""
    audio: list[tuple[bytes, bool]] = field(default_factory=list)
    """What the recogniser was fed (and whether each block was voiced), to hear it again."""


class _Inline(Executor):
    """Runs the work at once (file clock: synthesis takes no loop time, results are repeatable)."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future


def split_sentences(text: str) -> list[str]:
    """Sentences to synthesise one by one (the first one plays while the next is made)."""
    parts = re.split(r"(?<=[.!?])\s+", text.strip())
    return [p for p in parts if p.strip()]


def _real_words(text: str) -> list[str]:
    return words_of(text.replace("[unk]", " "))


class Loop:
    """Listens, understands, answers, and keeps listening while it talks."""

    def __init__(self, assistant: Assistant, source: Source, sink: Sink, voice,
                 options: LoopOptions | None = None, events: Events | None = None,
                 dialogue: Dialogue | None = None) -> None:
        self.assistant = assistant
        self.source = source
        self.sink = sink
        self.voice = voice
        self.options = options or LoopOptions()
        self.events = events or Events()
        self.dialogue = dialogue or Dialogue(assistant.skill)
        self.rec = assistant.recognizer()
        self.suppressor = assistant.suppressor()
        self.wake = WakeListener(assistant._model, self.options.wake_phrase)
        self._executor: Executor = ThreadPoolExecutor(1, "backcoach-tts") if source.realtime else _Inline()
        self._rate: int | None = None
        self._tone = listening_tone()
        self.pos = 0.0
        """Input stream position (seconds of audio read)."""
        self.now = 0.0
        self.buffer: deque[tuple[float, bytes]] = deque()
        self.queue: deque[_Say | _Hold] = deque()
        self.speaking: _Speaking | None = None
        self.hold: _HoldState | None = None
        self.listen: _Listen | None = None
        self.advance_at: float | None = None
        self.reply: Reply | None = None
        """The reply being said (its routine flag decides what happens after it)."""
        self.last_was_hold = False
        self.noise_floor = -90.0
        self.draining = False
        self.done = False
        self.stop_reason = ""
        self._ids = 0
        self._second: Recognizer | None = None
        """A recogniser for hearing a request cut at a pause again (made when first needed)."""

    # -- the run --------------------------------------------------------------------------------
    def emit(self, event: str, **fields) -> None:
        self.events.emit(event, self.now, **fields)

    def run(self) -> str:
        """Run until the conversation ends (or the file and what it set off are over)."""
        self._rate = self.dialogue.rate  # the voice speaks at its own rate until asked to change
        self.source.start()
        self.now = self.source.now()
        self._idle() if self.options.wake else self._start_listening(None, "always", None)
        drain_started = 0.0
        try:
            while not self.done:
                block = self.source.read(pad=self.draining)
                if block is None:
                    self.draining = True
                    drain_started = self.now
                    self._end_of_input()
                    continue
                self.now = self.source.now()
                if block and self.suppressor is not None:
                    block = self.suppressor.process(block)  # 24 ms behind the microphone
                if block:
                    start = self.pos
                    self.pos += len(block) / (2 * RATE)
                    self.buffer.append((start, block))
                    while self.buffer and self.buffer[0][0] < self.pos - BUFFER_SECONDS:
                        self.buffer.popleft()
                    self._hear(block)
                self._pump()
                if self.draining and (self._quiet() or self.now - drain_started > self.options.drain_limit):
                    self.done, self.stop_reason = True, self.stop_reason or "end of input"
        except KeyboardInterrupt:
            self.stop_reason = "interrupted"
        finally:
            if self.speaking is not None:
                self._cut(reason="end")
            self.emit("end", reason=self.stop_reason)
            self.sink.close(self.now)
            self.source.close()
            self._executor.shutdown(wait=False, cancel_futures=True)
        return self.stop_reason

    def _quiet(self) -> bool:
        busy = self.speaking or self.queue or self.hold or self.sink.busy(self.now)
        return not busy and not (self.listen and self.listen.started)

    def _end_of_input(self) -> None:
        if self.listen is not None and self.listen.started:
            self._utterance(self.rec.finish())
        self.advance_at = None

    # -- hearing --------------------------------------------------------------------------------
    def _hear(self, block: bytes) -> None:
        level = signal_level_dbfs(block)
        if level < self.noise_floor:
            self.noise_floor = level
        else:
            self.noise_floor += 0.01
        voiced = level > max(self.options.speech_dbfs, self.noise_floor + 12.0)
        detection = self.wake.accept(block)
        if detection is not None and self._on_detection(detection):
            return  # listening restarted from the buffer, this block included
        if self.listen is not None:
            self._feed(block, voiced)

    def _on_detection(self, det: Detection) -> bool:
        """The wake phrase or "stop" was heard; True if listening restarted from the buffer."""
        talking = self.speaking is not None or bool(self.queue)
        if talking and self.options.echo_guard and self.speaking is not None \
                and set(words_of(det.text)) & set(words_of(self.speaking.text)):
            log.debug("ignoring '%s' heard while saying it", det.text)
            return False
        if det.kind == "wake":
            if not talking and self.listen is not None and self.listen.started:
                # Already hearing a question: a question's own words can sound like the phrase
                # ("how should i" to the tiny wake grammar), and starting over would lose them.
                log.debug("ignoring '%s' heard inside a question", det.text)
                return False
            if talking or self.hold is not None:
                self._barge_in(det)
            self.emit("wake", phrase=det.text, audio_end=round(det.end, 3))
            if self.options.tone:
                self.sink.play(self._tone, self.now)
            self._start_listening(det.end, "question", self.now + self.options.listen_timeout)
            return True
        # "stop"
        if talking:
            self._barge_in(det)
            if self.dialogue.routine is not None:
                self._respond(IntentResult(text="stop", intent="Stop", confidence=1.0), via="stop word")
            else:
                self._after_reply(det.end)
            return True
        # Not talking: a question may well contain "stop"; the main recogniser decides.
        return False

    def _barge_in(self, det: Detection) -> None:
        self.emit("barge_in", word=det.kind, audio_end=round(det.end, 3))
        self._clear_output()

    def _start_listening(self, from_pos: float | None, reason: str, deadline: float | None) -> None:
        self.rec.reset()
        self.listen = _Listen(reason, deadline, changed=self.pos, last_voice=self.pos)
        self.emit("listening", mode=reason)
        if from_pos is None:
            return
        for start, block in list(self.buffer):
            end = start + len(block) / (2 * RATE)
            if end <= from_pos:
                continue
            skip = max(0, int((from_pos - start) * RATE)) * 2
            piece = block[skip:]
            if piece:
                voiced = signal_level_dbfs(piece) > max(self.options.speech_dbfs, self.noise_floor + 12.0)
                self._feed(piece, voiced, end)
                if self.listen is None:
                    return

    def _feed(self, pcm: bytes, voiced: bool, end: float | None = None) -> None:
        listen = self.listen
        assert listen is not None
        end = self.pos if end is None else end
        if voiced:
            listen.last_voice = end
        listen.audio.append((pcm, voiced))
        if not listen.started:  # keep only the lead-in before the first word
            while len(listen.audio) > 1 and sum(len(b) for b, _ in listen.audio[1:]) >= LEAD_IN_BYTES:
                listen.audio.pop(0)
        o = self.options
        result = self.rec.accept(pcm)
        if result is not None:  # the recogniser's own end of an utterance (half a second of quiet)
            if _real_words(result.text):
                self._speech_started(listen, end)
                self._end_or_hold(listen, result)
            return
        partial = self.rec.partial()
        if partial != listen.partial:
            listen.partial, listen.changed = partial, end
        unchanged, silent = end - listen.changed, end - listen.last_voice
        if not _real_words(partial):
            if listen.held:  # the start of a request, and quiet since
                if (unchanged >= o.hold_silence and silent >= o.quiet) \
                        or unchanged >= o.stale_partial + o.hold_silence:
                    self._utterance(self.rec.finish())
            elif not listen.started and listen.deadline is not None and self.now >= listen.deadline:
                self.emit("timeout", mode=listen.reason)
                self._after_timeout()
            return
        self._speech_started(listen, end)
        if end - listen.speech_start >= o.max_utterance:
            self._utterance(self.rec.finish())
        elif (unchanged >= o.end_silence and silent >= o.quiet) or unchanged >= o.stale_partial:
            self._end_or_hold(listen, self.rec.finish())

    def _end_or_hold(self, listen: _Listen, result: Transcript) -> None:
        """The end of an utterance: the end of the request, unless its words stop where a request
        seldom ends ("how should i ..."): then it is kept, to be read with what comes after the
        pause (as the words stood, if ending the utterance rounded them off into a sentence).
        Only one such pause is waited out."""
        said = _real_words(listen.partial)
        rounded = unfinished(said) and rounded_off(said, result)
        if listen.held or not (rounded or ends_open(result)):  # one pause to think, not more:
            self._utterance(result)  # words after one, heard alone, often end in a stray "or"
            return
        listen.held.append(Transcript(" ".join(said), [Hypothesis(said)]) if rounded else result)
        listen.partial = ""

    def _speech_started(self, listen: _Listen, end: float) -> None:
        if not listen.started:
            listen.started, listen.speech_start = True, end
            self.emit("speech_start", mode=listen.reason)

    def _utterance(self, transcript: Transcript) -> None:
        listen = self.listen
        self.listen = None
        parts = [*(listen.held if listen else []), transcript]
        parts = [part for part in parts if _real_words(part.text)]
        text = " ".join(" ".join(_real_words(part.text)) for part in parts)
        self.emit("speech_end", text=text, audio_end=round(listen.last_voice, 3) if listen else None)
        if not text:
            self._resume_listening(listen)
            return
        if len(parts) > 1:
            result = self._rejoined(listen, parts)
        else:
            result = self.assistant.understand_transcript(parts[0])
        in_routine = self.dialogue.routine is not None
        if in_routine and result.intent == FALLBACK and not result.red_flag:
            # Someone holding a stretch grunts or talks to the room: keep counting.
            self.emit("intent", intent=result.intent, slots=result.slots,
                      confidence=round(result.confidence, 3), text=result.text, ignored=True)
            self._resume_listening(listen)
            return
        self._clear_output()
        self._respond(result)

    def _rejoined(self, listen: _Listen, parts: list[Transcript]) -> IntentResult:
        """A request cut at a pause to think, understood from its audio heard again with the
        pause shortened, as one utterance: the part after a pause, heard alone, is heard as a
        sentence of its own ("sciatic nerve" as "sorry what did you"). The parts as first heard
        count when that is not understood, and a red flag in them always does."""
        if self._second is None:
            self._second = self.assistant.new_recognizer()
        again = [t for t in transcribe(self._second, [close_gaps(listen.audio, RATE), silence(PAD_END)])
                 if _real_words(t.text)]
        first = self.assistant.understand_segments(parts, cut=True)
        result = self.assistant.understand_segments(again, cut=True) if again else first
        if first.red_flag and not result.red_flag or result.intent == FALLBACK:
            return first
        return result

    def _resume_listening(self, listen: _Listen | None) -> None:
        reason = listen.reason if listen else "follow_up"
        deadline = listen.deadline if listen else self.now + self.options.follow_up
        self._start_listening(None, reason, deadline)

    def _after_timeout(self) -> None:
        if self.options.wake:
            self._idle()
        else:
            self._start_listening(None, "always", None)

    def _idle(self) -> None:
        self.listen = None
        self.emit("listening", mode="wake")

    # -- answering ------------------------------------------------------------------------------
    def _respond(self, result: IntentResult, via: str | None = None) -> None:
        fields = {"via": via} if via else {}
        self.emit("intent", intent=result.intent, slots=result.slots,
                  confidence=round(result.confidence, 3), text=result.text, **fields)
        if self.options.print_replies:
            print(f"you> {result.text}  [{result.intent} {result.confidence:.2f}]", flush=True)
        reply = self.dialogue.respond(result)
        self.say_reply(reply)

    def say_reply(self, reply: Reply) -> None:
        """Queue a reply's words and holds; the loop says them and keeps listening for barge-in."""
        self.listen = None
        self.reply = reply
        self.advance_at = None
        if self.options.print_replies:
            print(f"coach> {reply.text}", flush=True)
        self.emit("reply", intent=reply.intent, text=reply.text, in_routine=reply.in_routine)
        if reply.rate != self._rate:
            self._rate = reply.rate
            self._executor.submit(self.voice.set_rate, reply.rate)
        texts: list[str] = []
        for segment in reply.segments:
            if segment.text.strip():
                texts.append(segment.text.strip())
            if segment.hold > 0:
                if texts:
                    self.queue.append(_Say(texts))
                    texts = []
                self.queue.append(_Hold(segment.hold))
        if texts:
            self.queue.append(_Say(texts))
        self.last_was_hold = False

    def _speak(self, say: _Say) -> None:
        self._ids += 1
        text = " ".join(say.texts)
        speaking = _Speaking(self._ids, say.kind, text)
        for sentence in split_sentences(text):
            speaking.futures.append(self._executor.submit(self.voice.synthesize, sentence))
        self.speaking = speaking
        self.emit("tts_start", id=speaking.id, kind=say.kind, text=text)

    def _pump(self) -> None:
        """Move speech out along: synthesised sentences to the sink, holds, cues, next steps."""
        now = self.now
        if self.speaking is not None:
            self._play_ready()
            if self.speaking is not None and not self.speaking.futures and not self.sink.busy(now):
                self.emit("tts_end", id=self.speaking.id, kind=self.speaking.kind, cut=False)
                self.speaking = None
        if self.hold is not None:
            self._tick_hold()
        if self.speaking is None and self.hold is None and self.queue:
            item = self.queue.popleft()
            if isinstance(item, _Hold):
                self._start_hold(item.seconds)
            else:
                self._speak(item)
                self._play_ready()
            return
        if self.speaking is None and self.hold is None and self.reply is not None:
            reply, self.reply = self.reply, None
            self._after_reply(None, reply)
        if self.advance_at is not None and now >= self.advance_at and self.speaking is None \
                and not (self.listen and self.listen.started):
            self.advance_at = None
            routine = self.dialogue.routine
            if routine is not None and not routine.paused:
                self.say_reply(self.dialogue.advance())

    def _play_ready(self) -> None:
        speaking = self.speaking
        assert speaking is not None
        while speaking.futures and speaking.futures[0].done():
            future = speaking.futures.popleft()
            try:
                chunk: AudioChunk = future.result()
            except Exception as exc:  # noqa: BLE001 - any TTS failure: show the words, carry on
                message = exc.one_line() if isinstance(exc, BackcoachError) else str(exc)
                log.warning("could not speak (%s)", message)
                self.emit("error", where="tts", message=message, text=speaking.text)
                if not self.options.print_replies:
                    print(f"coach> {speaking.text}", flush=True)
                for rest in speaking.futures:
                    rest.cancel()
                speaking.futures.clear()
                break
            start = self.sink.play(chunk, self.now)
            if not speaking.first_audio:
                speaking.first_audio = True
                self.events.emit("tts_first_audio", start, id=speaking.id, kind=speaking.kind)

    def _after_reply(self, from_pos: float | None, reply: Reply | None = None) -> None:
        """Speech out is over: end, keep the stretch going, or open the follow-up window."""
        if reply is not None and reply.end_session:
            self.done, self.stop_reason = True, "goodbye"
            return
        routine = self.dialogue.routine
        if routine is not None:
            if not routine.paused:
                self.advance_at = self.now + (1.0 if self.last_was_hold else self.options.step_gap)
            if self.listen is None or self.listen.reason != "routine":
                self._start_listening(from_pos, "routine", None)
        elif not self.options.wake:
            self._start_listening(from_pos, "always", None)
        elif self.options.follow_up > 0:
            self._start_listening(from_pos, "follow_up", self.now + self.options.follow_up)
        else:
            self._idle()

    # -- guided stretches -----------------------------------------------------------------------
    def _start_hold(self, seconds: float) -> None:
        cues = deque((self.now + t, text) for t, text in self.dialogue.hold_cues(seconds))
        self.hold = _HoldState(self.now, seconds, cues)
        self.emit("hold_start", seconds=seconds)
        if self.listen is None:
            self._start_listening(None, "routine", None)

    def _tick_hold(self) -> None:
        hold = self.hold
        assert hold is not None
        if not hold.ended and self.now >= hold.start + hold.seconds:
            hold.ended = True
            self.events.emit("hold_end", hold.start + hold.seconds, seconds=hold.seconds)
        if self.speaking is None and hold.cues and self.now >= hold.cues[0][0]:
            _, text = hold.cues.popleft()
            self._speak(_Say([text], kind="cue"))
            self._play_ready()
        if hold.ended and not hold.cues and self.speaking is None:
            self.hold = None
            self.last_was_hold = True

    # -- cutting --------------------------------------------------------------------------------
    def _cut(self, reason: str) -> None:
        self.sink.cut(self.now)
        if self.speaking is not None:
            for future in self.speaking.futures:
                future.cancel()
            self.emit("tts_end", id=self.speaking.id, kind=self.speaking.kind, cut=True, reason=reason)
            self.speaking = None

    def _clear_output(self) -> None:
        """Stop talking and forget what was still to be said (a new turn starts)."""
        if self.speaking is not None or self.sink.busy(self.now):
            self._cut(reason="barge_in")
        self.queue.clear()
        if self.hold is not None and not self.hold.ended:
            self.emit("hold_end", seconds=self.hold.seconds, cut=True)
        self.hold = None
        self.reply = None
        self.advance_at = None


def run_loop(assistant: Assistant, source: Source, sink: Sink, voice,
             options: LoopOptions | None = None,
             listeners: list[Callable[[dict], None]] | None = None) -> tuple[str, Events]:
    """Run one session; returns why it stopped and every event."""
    events = Events(list(listeners or []))
    loop = Loop(assistant, source, sink, voice, options, events)
    return loop.run(), events

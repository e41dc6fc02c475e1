"""Live audio for the loop: sources (microphone, WAV file) and sinks (speaker, WAV timeline).

Sources deliver 16 kHz mono pcm16 blocks and own the loop clock: a file read as fast as possible
ticks by audio position (deterministic), a file at real-time pace or a microphone ticks by the
wall clock. Sinks take whole `AudioChunk`s and play them without blocking the loop; `cut` stops
playback within one block (at most 50 ms).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np

from .audio import AudioChunk, Resampler, float_to_pcm16, iter_pcm16_mono_16k, write_wav
from .errors import BackcoachError

log = logging.getLogger("backcoach")

RATE = 16000
BLOCK_SECONDS = 0.04
BLOCK_BYTES = int(RATE * BLOCK_SECONDS) * 2
RETRY_SECONDS = 2.0


class Source(Protocol):
    realtime: bool

    def start(self) -> None: ...

    def now(self) -> float: ...

    def read(self, pad: bool = False) -> bytes | None: ...

    def close(self) -> None: ...


def _import_sounddevice():
    try:
        import sounddevice as sd
    except OSError as exc:  # the PortAudio library is missing
        raise BackcoachError(f"no audio devices: {exc}", hint="install libportaudio2") from None
    return sd


# -- sources ------------------------------------------------------------------------------------
class FileSource:
    """A WAV file as if it were a microphone: `realtime` paces it to the wall clock.

    `read()` returns the next block, or None at the end; `read(pad=True)` returns silence after
    the end (the loop drains its pending speech on a clock that keeps ticking)."""

    def __init__(self, path: str | Path, realtime: bool = False) -> None:
        self.path = Path(path)
        self.realtime = realtime
        self._blocks = self._reblock(iter_pcm16_mono_16k(self.path))
        self._fed = 0
        self._t0 = time.monotonic()
        self.ended_at: float | None = None

    @staticmethod
    def _reblock(chunks: Iterator[bytes]) -> Iterator[bytes]:
        pending = b""
        for chunk in chunks:
            pending += chunk
            while len(pending) >= BLOCK_BYTES:
                yield pending[:BLOCK_BYTES]
                pending = pending[BLOCK_BYTES:]
        if pending:
            yield pending

    @property
    def position(self) -> float:
        return self._fed / (2 * RATE)

    def start(self) -> None:
        """Start the clock (the loop calls this once everything is loaded)."""
        self._t0 = time.monotonic() - self.position

    def now(self) -> float:
        return time.monotonic() - self._t0 if self.realtime else self.position

    def read(self, pad: bool = False) -> bytes | None:
        block = next(self._blocks, None) if self.ended_at is None else None
        if block is None:
            if self.ended_at is None:
                self.ended_at = self.position
            if not pad:
                return None
            block = b"\0" * BLOCK_BYTES
        self._fed += len(block)
        if self.realtime:
            delay = self.position - self.now()
            if delay > 0:
                time.sleep(delay)
        return block

    def close(self) -> None:
        self._blocks.close()


class MicSource:
    """A microphone through sounddevice, at the device's own rate, converted to 16 kHz mono.

    Opening fails loudly (a wrong device is the user's to fix); a device lost mid-session is
    logged and reopened every 2 seconds while the loop keeps running."""

    realtime = True

    def __init__(self, device: int | str | None = None, on_error=None) -> None:
        self.device = device
        self.on_error = on_error
        self._sd = _import_sounddevice()
        self._queue: queue.Queue[np.ndarray] = queue.Queue()
        self._stream = None
        self._resampler: Resampler | None = None
        self._t0 = time.monotonic()
        self._next_retry = 0.0
        self._failed = threading.Event()
        self._open()

    def start(self) -> None:
        """Start the clock and drop what was heard while the models loaded."""
        self._t0 = time.monotonic()
        while not self._queue.empty():
            self._queue.get_nowait()

    def now(self) -> float:
        return time.monotonic() - self._t0

    def _open(self) -> None:
        sd = self._sd
        try:
            info = sd.query_devices(self.device, "input")
            rate = int(info["default_samplerate"])
            self._resampler = Resampler(rate)
            self._failed.clear()
            self._stream = sd.InputStream(samplerate=rate, channels=1, dtype="float32",
                                          blocksize=int(rate * BLOCK_SECONDS), device=self.device,
                                          callback=self._callback, finished_callback=self._finished)
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            self._stream = None
            raise BackcoachError(f"cannot open the microphone {self.device!r}: {exc}",
                                 hint="see: backcoach devices") from None

    def _callback(self, data, frames, when, status) -> None:  # runs on PortAudio's thread
        if status.input_overflow:
            log.debug("microphone overflow")
        self._queue.put(data[:, 0].copy())

    def _finished(self) -> None:
        self._failed.set()

    def read(self, pad: bool = False) -> bytes | None:
        if self._stream is None or (self._failed.is_set() and self._stream is not None
                                    and not self._stream.active):
            self._recover()
            time.sleep(BLOCK_SECONDS)
            return b"\0" * BLOCK_BYTES  # keep the clock and the recognisers going through silence
        try:
            x = self._queue.get(timeout=0.5)
        except queue.Empty:
            return b""
        assert self._resampler is not None
        return float_to_pcm16(self._resampler(x))

    def _recover(self) -> None:
        now = time.monotonic()
        if now < self._next_retry:
            return
        self._next_retry = now + RETRY_SECONDS
        if self._stream is not None:
            try:
                self._stream.close()
            except Exception:  # noqa: BLE001 - it is already broken
                pass
            self._stream = None
        try:
            self._open()
            log.warning("microphone reopened")
        except BackcoachError as exc:
            log.warning("microphone lost (%s); retrying every %.0f s", exc.one_line(), RETRY_SECONDS)
            if self.on_error:
                self.on_error("input", exc.one_line())

    def close(self) -> None:
        _close_quietly(self._stream)
        self._stream = None


# -- sinks --------------------------------------------------------------------------------------
class Sink(Protocol):
    def play(self, chunk: AudioChunk, now: float) -> float: ...

    def busy(self, now: float) -> bool: ...

    def cut(self, now: float) -> float: ...

    def close(self, now: float) -> None: ...


@dataclass
class _Placed:
    start: float
    samples: np.ndarray


@dataclass
class WavSink:
    """Lays every chunk on a 16 kHz timeline at the loop-clock time it was played (silence between)
    and writes the whole timeline as one WAV on `close`."""

    path: str | Path | None = None
    placed: list[_Placed] = field(default_factory=list)
    end: float = 0.0

    def play(self, chunk: AudioChunk, now: float) -> float:
        start = max(now, self.end)
        x = np.frombuffer(chunk.to_pcm16_mono_16k(), dtype="<i2")
        self.placed.append(_Placed(start, x))
        self.end = start + len(x) / RATE
        return start

    def busy(self, now: float) -> bool:
        return now < self.end - 1e-9

    def cut(self, now: float) -> float:
        for item in self.placed:
            item_end = item.start + len(item.samples) / RATE
            if item_end > now:
                keep = max(0, int(round((now - item.start) * RATE)))
                item.samples = item.samples[:keep]
        self.end = min(self.end, now)
        return now

    def timeline(self, until: float = 0.0) -> np.ndarray:
        """Everything played, as int16 samples from loop time 0."""
        total = max([until] + [p.start + len(p.samples) / RATE for p in self.placed])
        out = np.zeros(int(np.ceil(total * RATE)), dtype=np.int32)
        for p in self.placed:
            i = int(round(p.start * RATE))
            seg = p.samples[: max(0, len(out) - i)]
            out[i:i + len(seg)] += seg
        return np.clip(out, -32768, 32767).astype("<i2")

    def close(self, now: float) -> None:
        if self.path is not None:
            write_wav(self.path, self.timeline(now).tobytes(), RATE)


class SpeakerSink:
    """Plays chunks on an output device from a background thread, in blocks of at most 50 ms,
    so `cut` silences it quickly. A device error is reported once per retry period and the
    audio dropped; the next chunk tries to reopen the device (at most every 2 s)."""

    block_seconds = 0.05

    def __init__(self, device: int | str | None = None, on_error=None) -> None:
        self.device = device
        self.on_error = on_error
        self._sd = _import_sounddevice()
        self._queue: queue.Queue[AudioChunk | None] = queue.Queue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending = 0
        self._stream = None
        self._rate = 0
        self._next_retry = 0.0
        self._thread = threading.Thread(target=self._run, name="backcoach-speaker", daemon=True)
        self._thread.start()

    def play(self, chunk: AudioChunk, now: float) -> float:
        self._stop.clear()
        with self._lock:
            self._pending += 1
        self._queue.put(chunk)
        return now

    def busy(self, now: float) -> bool:
        return self._pending > 0

    def cut(self, now: float) -> float:
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
            with self._lock:
                self._pending -= 1
        deadline = time.monotonic() + 0.2
        while self._pending > 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        return now

    def _ensure_stream(self) -> bool:
        if self._stream is not None:
            return True
        if time.monotonic() < self._next_retry:
            return False
        sd = self._sd
        try:
            info = sd.query_devices(self.device, "output")
            self._rate = int(info["default_samplerate"])
            self._stream = sd.OutputStream(samplerate=self._rate, channels=1, dtype="float32",
                                           device=self.device, latency="low")
            self._stream.start()
            return True
        except (sd.PortAudioError, ValueError) as exc:
            self._stream = None
            self._next_retry = time.monotonic() + RETRY_SECONDS
            log.warning("cannot open the speaker %r (%s); retrying in %.0f s", self.device, exc,
                        RETRY_SECONDS)
            if self.on_error:
                self.on_error("output", f"cannot open the speaker: {exc}")
            return False

    def _run(self) -> None:
        while True:
            chunk = self._queue.get()
            if chunk is None:
                return
            try:
                self._write(chunk)
            except Exception as exc:  # noqa: BLE001 - a lost device must not end the session
                log.warning("speaker failed (%s)", exc)
                if self.on_error:
                    self.on_error("output", f"speaker failed: {exc}")
                self._drop_stream()
            with self._lock:
                self._pending = max(0, self._pending - 1)

    def _write(self, chunk: AudioChunk) -> None:
        if not self._ensure_stream():
            return
        x = chunk.to_float()
        if chunk.rate != self._rate:
            import soxr

            x = soxr.resample(x, chunk.rate, self._rate).astype(np.float32)
        block = max(1, int(self._rate * self.block_seconds))
        for start in range(0, len(x), block):
            if self._stop.is_set():
                self._stream.abort()  # drop what is buffered, then start again for the next chunk
                self._stream.start()
                return
            self._stream.write(x[start:start + block].reshape(-1, 1))

    def _drop_stream(self) -> None:
        _close_quietly(self._stream)
        self._stream = None
        self._next_retry = time.monotonic() + RETRY_SECONDS

    def close(self, now: float) -> None:
        self._queue.put(None)
        self._thread.join(timeout=2.0)
        self._drop_stream()


def _close_quietly(stream) -> None:
    """Close a PortAudio stream that may already be broken (a device unplugged)."""
    if stream is not None:
        try:
            stream.close()
        except Exception:  # noqa: BLE001 - the device may be gone; nothing more to do
            pass

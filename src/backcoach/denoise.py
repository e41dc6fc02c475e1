"""Steady background noise (a fan, a cooker hood, running water) turned down before recognition.

Spectral gating, as the audio streams: the sound is cut into 32 ms frames every 8 ms; for each
frequency band the noise level is tracked as the quietest that band has been over the last second
and a half (speech comes and goes, a fan does not), and each frame is turned down, by at most about
10 dB, in the bands where it is not clearly louder than that. Short sounds such as a clinking cup
are not steady, so they are left for the recogniser.

Clean speech is left alone: turning down its quietest bands would only change what the recogniser
hears. So sound more than 20 dB above its tracked noise is not touched (between 12 and 20 dB, only
in part); nothing is touched in the first quarter second of a stream, which may be a word; and a
recording can be heard ahead (`warm_up`) so that its first word is not taken for the noise.
Digital silence counts as no noise at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME = 512
"""Samples per analysis frame (32 ms at 16 kHz)."""
HOP = 128
"""Samples between frames (75% overlap)."""


@dataclass
class DenoiseConfig:
    """How hard the suppressor works."""

    floor: float = 0.3
    """The smallest gain a band gets (0.3: at most about 10 dB quieter)."""
    over: float = 1.5
    """Noise power is subtracted this many times over, so bands barely above it are turned down."""
    memory_seconds: float = 1.5
    """How far back the quietest level of each band is looked for."""
    smoothing: float = 0.7
    """How much of each band's power carries over from one frame to the next before the minimum
    is taken (so one quiet frame does not pass for the noise level)."""
    bias: float = 1.5
    """The smoothed minimum sits below the average noise level; this lifts it back."""
    settle_seconds: float = 0.25
    """Nothing is turned down before this much of the stream has been heard: a recording may
    start with a word, which is not the noise."""
    clean_snr_db: float = 20.0
    """Sound this far above its tracked noise is left alone (clean speech: turning down its
    quietest bands only changes what the recogniser hears)..."""
    full_snr_db: float = 12.0
    """...and below this, suppression works at full strength (in between, part strength)."""


class NoiseSuppressor:
    """One audio stream: `process` 16-bit mono PCM blocks in order, then `flush` once at the end.

    Output lags input by FRAME - HOP samples (24 ms); `flush` returns what is still held back, so
    the output has exactly as many samples as the input.
    """

    PARTS = 6
    """The memory is kept as the minima of this many stretches, so it can slide cheaply."""

    def __init__(self, config: DenoiseConfig | None = None, rate: int = 16000) -> None:
        self.config = config or DenoiseConfig()
        self._window = np.sqrt(np.hanning(FRAME + 1)[:FRAME])  # used twice: analysis and synthesis
        # Zeros in front, dropped from the output, so the first samples get every frame too.
        self._pending = np.zeros(FRAME - HOP)
        self._skip = FRAME - HOP
        self._overlap = np.zeros(FRAME - HOP)
        self._held = 0  # input samples not yet returned
        self._smoothed: np.ndarray | None = None
        self._part_frames = max(1, int(self.config.memory_seconds * rate / HOP) // self.PARTS)
        self._minima: list[np.ndarray] = []
        self._current: np.ndarray | None = None
        self._in_part = 0
        self._primed = (FRAME - HOP) // HOP  # frames that hold some of the zeros in front
        self._level: float | None = None  # average frame power over about the memory
        self._level_weight = 1.0 / max(1, self._part_frames * self.PARTS)
        self._seen = 0
        self._settled = int(self.config.settle_seconds * rate / HOP)
        """Frames to hear before the noise level is trusted (a stream may start with a word)."""

    def process(self, pcm16: bytes) -> bytes:
        """The cleaned audio for as much of the stream as is complete so far."""
        x = np.frombuffer(pcm16, dtype=np.int16).astype(np.float64)
        self._held += len(x)
        self._pending = np.concatenate([self._pending, x])
        if len(self._pending) < FRAME:
            return b""
        n = 1 + (len(self._pending) - FRAME) // HOP
        index = np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]
        spectra = np.fft.rfft(self._pending[index] * self._window, axis=1)
        spectra *= self._gains(spectra.real ** 2 + spectra.imag ** 2)
        frames = np.fft.irfft(spectra, n=FRAME, axis=1) * self._window
        out = np.zeros(HOP * n + FRAME - HOP)
        out[: FRAME - HOP] = self._overlap
        for i in range(n):
            out[i * HOP: i * HOP + FRAME] += frames[i]
        self._overlap = out[HOP * n:].copy()
        self._pending = self._pending[HOP * n:]
        ready = out[: HOP * n]
        if self._skip:
            dropped = min(self._skip, len(ready))
            ready, self._skip = ready[dropped:], self._skip - dropped
        self._held -= len(ready)
        # The window squared is a Hann window, whose copies every quarter frame add up to 2.
        return _to_pcm16(ready / 2.0)

    def warm_up(self, pcm16: bytes) -> None:
        """Learn the noise level from audio ahead, without output: the start of a recording.

        A live stream has been heard long before anyone speaks; a recording may start with a
        word, which would be taken for the noise until a pause came along."""
        x = np.frombuffer(pcm16, dtype=np.int16).astype(np.float64)
        if len(x) < FRAME:
            return
        n = 1 + (len(x) - FRAME) // HOP
        index = np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]
        spectra = np.fft.rfft(x[index] * self._window, axis=1)
        primed, self._primed = self._primed, 0
        self._gains(spectra.real ** 2 + spectra.imag ** 2)
        self._primed = primed

    def flush(self) -> bytes:
        """The rest of the stream (the samples still held back)."""
        held = self._held
        if held <= 0:
            return b""
        tail = self.process(b"\x00\x00" * FRAME)
        return tail[: 2 * held]

    def _gains(self, power: np.ndarray) -> np.ndarray:
        cfg = self.config
        gains = np.empty_like(power)
        for i, frame in enumerate(power):
            if self._primed:  # our own zeros in front are no sign of the noise level
                self._primed -= 1
                gains[i] = 1.0
                continue
            if self._smoothed is None:
                self._smoothed = frame.copy()
            else:
                self._smoothed = cfg.smoothing * self._smoothed + (1.0 - cfg.smoothing) * frame
            if self._current is None:
                self._current = self._smoothed.copy()
            else:
                np.minimum(self._current, self._smoothed, out=self._current)
            quietest = self._current
            for part in self._minima:
                quietest = np.minimum(quietest, part)
            self._in_part += 1
            if self._in_part >= self._part_frames:
                self._minima = (self._minima + [self._current])[-self.PARTS:]
                self._current, self._in_part = None, 0
            total = float(frame.sum())
            self._level = total if self._level is None else \
                self._level + self._level_weight * (total - self._level)
            self._seen += 1
            if self._seen < self._settled:
                gains[i] = 1.0
                continue
            noise = cfg.bias * quietest
            snr_db = 10.0 * np.log10(max(self._level, 1e-9) / max(float(noise.sum()), 1e-9))
            strength = min(1.0, max(0.0, (cfg.clean_snr_db - snr_db) / (cfg.clean_snr_db - cfg.full_snr_db)))
            if strength == 0.0:
                gains[i] = 1.0
                continue
            gain = np.sqrt(np.maximum(1.0 - cfg.over * noise / np.maximum(frame, 1e-9), 0.0))
            gains[i] = 1.0 - strength * (1.0 - np.maximum(gain, cfg.floor))
        return gains


def _to_pcm16(x: np.ndarray) -> bytes:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16).tobytes()

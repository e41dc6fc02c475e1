"""Steady background noise (a fan, a cooker hood, running water) turned down before recognition.

Spectral gating, as the audio streams: the sound is cut into 32 ms frames every 8 ms; for each
frequency band the noise level is tracked as the quietest that band has been over the last second
and a half (speech comes and goes, a fan does not), and each frame is turned down, by at most about
10 dB, in the bands where it is not clearly louder than that. Short sounds such as a clinking cup
are not steady, so they are left for the recogniser.

Clean speech is left alone: turning down its quietest bands would only change what the recogniser
hears. So a stream more than 20 dB above its tracked noise is not touched (between 12 and 20 dB, only
in part); nothing is touched in the first quarter second of a stream, which may be a word; and a
recording can be heard ahead (`warm_up`) so that its first word is not taken for the noise.
Digital silence counts as no noise at all.

How far above its noise a stream must be to be left alone was measured on the drink skill's
kitchen-noise orders (five seeds kept from `eval --keep`, decoded both ways): with the gate at 9 to
15 dB, 1,342 of 1,500 orders at 6 dB were understood; at 12 to 20 dB, 1,373 (four seeds of five
up), with 2,670 of 2,700 clean and at 12 to 24 dB instead of 2,671, and out-of-domain requests accepted
19 of 750 at 6 dB instead of 18. Harder still (15 to 25 dB, or a floor of 0.2) gained no more and
accepted more out-of-domain requests. In babble at 6 dB (a fresh seed) 143 -> 153 of 300 orders;
in pink noise no change. On backcoach's spoken tuning sets in babble at 12 dB, 5 more of 2,727 were
right (red flags caught: +3 of 1,230).
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
        # Overlap-add: each frame spans four hops, so add the frames' quarters shifted by 0..3 hops.
        out = np.zeros((n + FRAME // HOP - 1, HOP))
        out[: FRAME // HOP - 1] = self._overlap.reshape(-1, HOP)
        quarters = frames.reshape(n, FRAME // HOP, HOP)
        for k in range(FRAME // HOP):
            out[k:k + n] += quarters[:, k]
        out = out.reshape(-1)
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
        self._gains(spectra.real ** 2 + spectra.imag ** 2, learn_only=True)
        self._primed = primed

    def flush(self) -> bytes:
        """The rest of the stream (the samples still held back)."""
        held = self._held
        if held <= 0:
            return b""
        tail = self.process(b"\x00\x00" * FRAME)
        return tail[: 2 * held]

    def _gains(self, power: np.ndarray, learn_only: bool = False) -> np.ndarray:
        """Gains for consecutive frames' power spectra (frames x bands), updating the noise level
        (learn_only: only that).

        The whole block is worked on at once (the two running averages by `_recurrence`), which
        gives the same gains as going frame by frame."""
        cfg = self.config
        gains = np.ones_like(power)
        skip = min(self._primed, len(power))  # our own zeros in front are no sign of the noise
        self._primed -= skip
        power = power[skip:]
        n = len(power)
        if n == 0:
            return gains
        previous = power[0] if self._smoothed is None else self._smoothed
        smoothed = _recurrence(power, cfg.smoothing, previous)
        self._smoothed = smoothed[-1].copy()
        # The quietest each band has been: the running minimum of the part being filled, with
        # the finished parts' minima as they stood when each frame came.
        quietest = np.empty_like(power)
        t = 0
        while t < n:
            take = min(n - t, self._part_frames - self._in_part)
            running = np.minimum.accumulate(smoothed[t:t + take], axis=0)
            if self._current is not None:
                np.minimum(running, self._current, out=running)
            finished = np.min(self._minima, axis=0) if self._minima else None
            quietest[t:t + take] = running if finished is None else np.minimum(running, finished)
            self._current = running[-1].copy()
            self._in_part += take
            if self._in_part >= self._part_frames:
                self._minima = (self._minima + [self._current])[-self.PARTS:]
                self._current, self._in_part = None, 0
            t += take
        totals = power.sum(axis=1)
        start = totals[0] if self._level is None else self._level
        levels = _recurrence(totals, 1.0 - self._level_weight, np.float64(start))
        self._level = float(levels[-1])
        seen = self._seen + 1 + np.arange(n)
        self._seen += n
        if learn_only:
            return gains
        noise = cfg.bias * quietest
        snr_db = 10.0 * np.log10(np.maximum(levels, 1e-9) / np.maximum(noise.sum(axis=1), 1e-9))
        strength = np.clip((cfg.clean_snr_db - snr_db) / (cfg.clean_snr_db - cfg.full_snr_db), 0.0, 1.0)
        strength[seen < self._settled] = 0.0
        gain = np.sqrt(np.maximum(1.0 - cfg.over * noise / np.maximum(power, 1e-9), 0.0))
        gains[skip:] = 1.0 - strength[:, None] * (1.0 - np.maximum(gain, cfg.floor))
        return gains


def _recurrence(x: np.ndarray, keep: float, before: np.ndarray) -> np.ndarray:
    """y[t] = keep * y[t-1] + (1 - keep) * x[t] along the first axis, with y[-1] = before,
    in log2(len(x)) whole-array steps instead of one step per frame."""
    y = (1.0 - keep) * x
    factor, shift = keep, 1
    while shift < len(y):
        y[shift:] += factor * y[:-shift].copy()
        factor, shift = factor * factor, shift * 2
    decay = keep ** np.arange(1, len(y) + 1).reshape((-1,) + (1,) * (y.ndim - 1))
    return y + decay * before


def _to_pcm16(x: np.ndarray) -> bytes:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16).tobytes()

"""Background noise for evaluation: white, pink (1/f), babble, kitchen or a user's WAV, mixed at an SNR.

All signals are mono float32 at 16 kHz. `mix` pads the speech with silence on both sides (so the
recogniser hears noise before and after the words, as from a microphone) and scales the noise so
that its RMS sits `snr_db` below the RMS of the *active* speech (the frames that carry words, not
the pauses), which is how speech-in-noise tests usually define SNR. `measure="peak"` uses the
convention of Picovoice's speech-to-intent benchmark instead (the loudest 128 ms frame of speech
against the loudest of the noise), for numbers comparable with the ones Rhino reports: on the
synthetic kitchen noise that convention puts about 1 dB more speech over the noise than the
active-speech one (so a 6 dB peak mix is about a 7 dB active one), on babble about 2 dB, on pink
noise about 4 dB.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .errors import BackcoachError

RATE = 16000
PAD_SECONDS = 0.4
FRAME_SECONDS = 0.02
ACTIVE_RANGE_DB = 30.0
"""Frames within this many dB of the loudest frame count as active speech."""
LOOP_SECONDS = 30.0
NOISE_KINDS = ("white", "pink", "babble", "kitchen")
SNR_MEASURES = ("active", "peak")
PEAK_FRAME = 2048
"""Samples per frame for the "peak" measure (128 ms at 16 kHz, as Picovoice's benchmark mixer)."""


def rms(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float(np.sqrt(np.mean(x * x))) if len(x) else 0.0


def active_rms(speech: np.ndarray, rate: int = RATE, range_db: float = ACTIVE_RANGE_DB) -> float:
    """RMS over the frames of `speech` within `range_db` of its loudest 20 ms frame."""
    x = np.asarray(speech, dtype=np.float64)
    size = max(1, int(rate * FRAME_SECONDS))
    frames = len(x) // size
    if frames == 0:
        return rms(x)
    power = np.mean(x[: frames * size].reshape(frames, size) ** 2, axis=1)
    peak = float(power.max())
    if peak <= 0.0:
        return 0.0
    active = power[power >= peak * 10 ** (-range_db / 10)]
    return float(np.sqrt(active.mean()))


def pad(speech: np.ndarray, rate: int = RATE, seconds: float = PAD_SECONDS) -> np.ndarray:
    """Speech with `seconds` of silence before and after it."""
    silence = np.zeros(int(rate * seconds), dtype=np.float32)
    return np.concatenate([silence, np.asarray(speech, dtype=np.float32), silence])


def loop_to(noise: np.ndarray, length: int, offset: int = 0) -> np.ndarray:
    """`length` samples of `noise`, starting at `offset`, wrapping around as often as needed."""
    noise = np.asarray(noise, dtype=np.float32)
    if len(noise) == 0:
        raise BackcoachError("the noise signal is empty")
    index = (np.arange(length) + offset) % len(noise)
    return noise[index]


def peak_frame_rms(x: np.ndarray, frame: int = PEAK_FRAME) -> float:
    """RMS of the loudest whole `frame`-sample frame of `x` (of all of `x` if it is shorter)."""
    x = np.asarray(x, dtype=np.float64)
    frames = len(x) // frame
    if frames == 0:
        return rms(x)
    return float(np.sqrt(np.max(np.mean(x[: frames * frame].reshape(frames, frame) ** 2, axis=1))))


def mix(speech: np.ndarray, noise: np.ndarray | None, snr_db: float | None, *, rate: int = RATE,
        pad_seconds: float = PAD_SECONDS, offset: int = 0, measure: str = "active") -> np.ndarray:
    """Padded speech plus noise at `snr_db`; None = clean. `measure` "active": active-speech RMS
    over noise RMS; "peak": loudest 128 ms frame of speech over loudest 128 ms frame of noise.

    If the sum would clip, the whole mixture is scaled down (the SNR is unchanged)."""
    padded = pad(speech, rate, pad_seconds)
    if noise is None or snr_db is None:
        return padded
    if measure not in SNR_MEASURES:
        raise BackcoachError(f"unknown SNR measure '{measure}' (use {' or '.join(SNR_MEASURES)})")
    segment = loop_to(noise, len(padded), offset).astype(np.float64)
    level = rms(segment) if measure == "active" else peak_frame_rms(segment)
    if level <= 0.0:
        raise BackcoachError("the noise signal is silent")
    loud = active_rms(speech, rate) if measure == "active" else peak_frame_rms(padded)
    target = loud / (10 ** (snr_db / 20))
    out = padded + segment * (target / level)
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    if peak > 0.99:
        out *= 0.99 / peak
    return out.astype(np.float32)


# -- noise generators ----------------------------------------------------------------------------
def white(length: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white noise at RMS 0.1."""
    return (rng.standard_normal(length) * 0.1).astype(np.float32)


def pink(length: int, rng: np.random.Generator, rate: int = RATE) -> np.ndarray:
    """1/f noise: white noise shaped in the frequency domain (power falls 3 dB per octave)."""
    spectrum = rng.standard_normal(length // 2 + 1) + 1j * rng.standard_normal(length // 2 + 1)
    freqs = np.fft.rfftfreq(length, 1.0 / rate)
    shape = np.zeros_like(freqs)
    shape[1:] = 1.0 / np.sqrt(np.maximum(freqs[1:], 20.0))  # flat below 20 Hz: no DC wander
    x = np.fft.irfft(spectrum * shape, n=length)
    return (x * (0.1 / (rms(x) or 1.0))).astype(np.float32)


def babble(clips: Sequence[np.ndarray], length: int, rng: np.random.Generator,
           talkers: int | None = None) -> np.ndarray:
    """Several overlapping talkers: each a loop of clips (with short gaps) at equal level, summed."""
    clips = [np.asarray(c, dtype=np.float32) for c in clips if len(c)]
    if not clips:
        raise BackcoachError("babble noise needs at least one speech clip")
    talkers = talkers or int(rng.integers(4, 7))
    total = np.zeros(length, dtype=np.float64)
    for _ in range(talkers):
        parts, filled = [], 0
        while filled < length:
            clip = clips[int(rng.integers(len(clips)))]
            gap = np.zeros(int(rng.uniform(0.05, 0.3) * RATE), dtype=np.float32)
            parts += [clip / (active_rms(clip) or 1.0), gap]
            filled += len(clip) + len(gap)
        stream = np.concatenate(parts)
        total += np.roll(stream, -int(rng.integers(len(stream))))[:length]
    return (total * (0.1 / (rms(total) or 1.0))).astype(np.float32)


def kitchen(length: int, rng: np.random.Generator, talk: np.ndarray | None = None,
            rate: int = RATE) -> np.ndarray:
    """A synthetic kitchen: extractor-fan hum, bursts of running water, clinking dishes, far talk.

    Real kitchen recordings are the better test (pass one as a WAV); this stands in for them with
    the same ingredients: a steady low rumble with mains harmonics, water as band-limited noise that
    comes and goes, sharp ringing transients every second or so, and optionally speech in the room."""
    t = np.arange(length) / rate
    fan = pink(length, rng, rate).astype(np.float64)
    spectrum = np.fft.rfft(fan)
    freqs = np.fft.rfftfreq(length, 1.0 / rate)
    fan = np.fft.irfft(spectrum / (1.0 + (freqs / 400.0) ** 2), n=length)
    fan = fan / (rms(fan) or 1.0)
    for harmonic, level in ((50, 0.5), (100, 0.35), (150, 0.2)):
        fan += level * np.sin(2 * np.pi * harmonic * t + rng.uniform(0, 2 * np.pi))
    spectrum = np.fft.rfft(rng.standard_normal(length))
    band = ((freqs > 800) & (freqs < 7000)).astype(np.float64)
    water = np.fft.irfft(spectrum * band, n=length)
    water /= rms(water) or 1.0
    gate = np.zeros(length)
    pos = 0
    while pos < length:  # taps turned on for a few seconds, then off
        on = int(rng.uniform(1.5, 6.0) * rate)
        off = int(rng.uniform(1.0, 5.0) * rate)
        gate[pos:pos + on] = rng.uniform(0.5, 1.2)
        pos += on + off
    gate = np.convolve(gate, np.ones(rate // 20) / (rate // 20), mode="same")
    clinks = np.zeros(length)
    pos = int(rng.uniform(0.1, 1.0) * rate)
    while pos < length:
        size = int(rate * rng.uniform(0.1, 0.4))
        tt = np.arange(size) / rate
        ring = sum(np.sin(2 * np.pi * f * tt) for f in rng.uniform(1500, 6000, 3))
        burst = ring * np.exp(-tt * rng.uniform(15, 40)) * rng.uniform(2.0, 6.0)
        end = min(length, pos + size)
        clinks[pos:end] += burst[: end - pos]
        pos += int(rng.uniform(0.3, 2.0) * rate)
    total = 0.8 * fan + water * gate + clinks
    if talk is not None and len(talk):
        total += 0.7 * loop_to(talk, length).astype(np.float64) / (rms(talk) or 1.0)
    return (total * (0.1 / (rms(total) or 1.0))).astype(np.float32)


BABBLE_VOICES = ("espeak:en-us:rate=165", "espeak:en-gb:rate=175:pitch=35",
                 "espeak:en-gb-scotland:rate=155:pitch=60", "espeak:en-029:rate=170:pitch=45",
                 "espeak:en-us:rate=185:pitch=75", "piper:length_scale=0.95")


def babble_clips(sentences: Sequence[str], voices: Sequence[str] = BABBLE_VOICES) -> list[np.ndarray]:
    """Speak each sentence with the next voice in turn (voices that cannot load are skipped)."""
    from .tts import load_voice

    loaded = []
    for spec in voices:
        try:
            loaded.append(load_voice(spec))
        except BackcoachError:
            continue
    if not loaded:
        raise BackcoachError("babble noise needs a voice (install espeak-ng or piper-tts)")
    return [to_16k(loaded[i % len(loaded)].synthesize(s)) for i, s in enumerate(sentences)]


def to_16k(chunk) -> np.ndarray:
    """An AudioChunk as mono float32 at 16 kHz."""
    pcm = chunk.to_pcm16_mono_16k()
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def load_wav_noise(path: str | Path) -> np.ndarray:
    """A user's noise recording, any WAV format, as 16 kHz mono float."""
    from .audio import read_wav

    x = to_16k(read_wav(path))
    if rms(x) <= 0.0:
        raise BackcoachError(f"{path}: the noise file is silent")
    return x


@dataclass
class NoiseSource:
    """A loop of noise to cut segments from (at random offsets)."""

    name: str
    samples: np.ndarray

    def offset(self, rng: np.random.Generator) -> int:
        return int(rng.integers(len(self.samples)))


def make_noise(kind: str, rng: np.random.Generator, babble_sentences: Sequence[str] = (),
               clip_maker: Callable[[Sequence[str]], list[np.ndarray]] = babble_clips) -> NoiseSource:
    """white, pink, babble, kitchen or a WAV path, as a 30-second (or the file's own) loop."""
    length = int(LOOP_SECONDS * RATE)
    if kind == "white":
        return NoiseSource(kind, white(length, rng))
    if kind == "pink":
        return NoiseSource(kind, pink(length, rng))
    if kind == "babble":
        return NoiseSource(kind, babble(clip_maker(list(babble_sentences)), length, rng))
    if kind == "kitchen":
        talk = babble(clip_maker(list(babble_sentences)[:6]), length, rng, talkers=2)
        return NoiseSource(kind, kitchen(length, rng, talk))
    path = Path(kind)
    if path.suffix.lower() != ".wav":
        raise BackcoachError(f"unknown noise '{kind}' (use white, pink, babble, kitchen or a .wav file)")
    if not path.is_file():
        raise BackcoachError(f"noise file not found: {kind}")
    return NoiseSource(path.name, load_wav_noise(path))

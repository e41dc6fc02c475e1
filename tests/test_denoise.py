"""Noise suppression before recognition: a steady hum drops, speech-like bursts keep their level,
and the stream comes out whole, the same however it is cut into blocks."""

from __future__ import annotations

import numpy as np
import pytest

from backcoach.denoise import DenoiseConfig, NoiseSuppressor

RATE = 16000


def _run(x: np.ndarray, block: int, config: DenoiseConfig | None = None) -> np.ndarray:
    suppressor = NoiseSuppressor(config)
    pcm = np.clip(x, -32768, 32767).astype(np.int16)
    out = b"".join(suppressor.process(pcm[i:i + block].tobytes()) for i in range(0, len(pcm), block))
    out += suppressor.flush()
    return np.frombuffer(out, dtype=np.int16).astype(np.float64)


def _level_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-9)


def _hum_and_bursts(seed: int = 0, snr_db: float = 20.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fan (mains hum and its harmonics over a little broadband noise) with 'words': tone
    bursts `snr_db` above it."""
    rng = np.random.default_rng(seed)
    n = 4 * RATE
    t = np.arange(n) / RATE
    fan = np.convolve(rng.standard_normal(n), np.ones(8) / 8, mode="same") * 100
    for freq, amplitude in ((50, 300), (100, 200), (150, 120), (300, 80)):
        fan += amplitude * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    words = np.zeros(n)
    for start in (1.8, 2.6, 3.3):  # after the first 1.5 s, when the noise level is known
        i = int(start * RATE)
        k = int(0.4 * RATE)
        envelope = np.hanning(k)
        words[i:i + k] = envelope * (np.sin(2 * np.pi * 700 * t[:k]) + 0.6 * np.sin(2 * np.pi * 1400 * t[:k]))
    words *= np.sqrt(np.mean(fan ** 2) * 10 ** (snr_db / 10) / np.mean(words[words != 0] ** 2))
    return fan, words, fan + words


def test_the_stream_comes_back_whole_when_nothing_is_turned_down():
    x = np.random.default_rng(1).standard_normal(RATE + 37) * 3000
    out = _run(x, 1600, DenoiseConfig(floor=1.0))
    assert len(out) == len(x)
    assert np.abs(out - np.round(x)).max() <= 1.0


@pytest.mark.parametrize("block", [160, 1600, 4000, 20000])
def test_blocks_of_any_size_give_the_same_output(block):
    _, _, mixed = _hum_and_bursts()
    reference = _run(mixed, 4000)
    assert np.array_equal(_run(mixed, block), reference)


def test_steady_hum_drops_and_bursts_above_it_keep_their_level():
    fan, words, mixed = _hum_and_bursts()
    out = _run(mixed, 1600)
    quiet = slice(int(0.8 * RATE), int(1.75 * RATE))  # fan alone, its level learnt
    assert _level_db(out[quiet]) < _level_db(fan[quiet]) - 6.0
    loud = np.abs(words) > 0.3 * np.abs(words).max()
    assert abs(_level_db(out[loud]) - _level_db(mixed[loud])) < 1.5


def test_silence_and_empty_input():
    suppressor = NoiseSuppressor()
    assert suppressor.process(b"") == b""
    assert suppressor.flush() == b""
    out = _run(np.zeros(RATE), 1600)
    assert len(out) == RATE and not out.any()


def test_after_digital_silence_noise_is_turned_down_once_it_has_lasted():
    """Silence means no noise: clean speech after it is left alone until noise has been heard for
    the memory (1.5 s), then the noise is turned down as usual."""
    fan, _, _ = _hum_and_bursts()
    x = np.concatenate([np.zeros(RATE), fan])
    out = _run(x, 1600)
    soon = slice(int(1.1 * RATE), int(1.6 * RATE))
    later = slice(int(2.8 * RATE), int(3.5 * RATE))
    assert abs(_level_db(out[soon]) - _level_db(x[soon])) < 1.0
    assert _level_db(out[later]) < _level_db(x[later]) - 6.0


def test_a_stream_that_starts_with_a_word_keeps_it():
    """Nothing is turned down in the first quarter second: the stream may start with a word."""
    fan, words, mixed = _hum_and_bursts()
    start = slice(int(1.8 * RATE), None)  # a recording cut to start at the first word
    out = _run(mixed[start], 1600)
    settle = slice(0, int(0.2 * RATE))  # (frames reach 32 ms on)
    assert np.abs(out[settle] - np.round(mixed[start][settle])).max() <= 1.0


def test_warming_up_on_what_follows_turns_the_noise_down_from_the_first_word_on():
    fan, words, mixed = _hum_and_bursts(snr_db=8.0)
    pcm = np.clip(mixed[int(1.8 * RATE):], -32768, 32767).astype(np.int16).tobytes()
    suppressor = NoiseSuppressor()
    suppressor.warm_up(pcm)
    out = np.frombuffer(suppressor.process(pcm) + suppressor.flush(), dtype=np.int16).astype(np.float64)
    gap = slice(int(0.42 * RATE), int(0.78 * RATE))  # the fan between the first two words
    fan_there = fan[int(1.8 * RATE):][gap]
    assert _level_db(out[gap]) < _level_db(fan_there) - 6.0


def test_clean_speech_is_left_all_but_untouched():
    """Speech far above its noise passes (within half a percent of its peak), even when the
    recording starts with a word."""
    t = np.arange(3 * RATE) / RATE
    rng = np.random.default_rng(3)
    syllables = np.zeros_like(t)
    for start in np.arange(0.0, 2.9, 0.22):  # a word at once, then syllables with short gaps
        i, k = int(start * RATE), min(int(0.16 * RATE), len(t) - int(start * RATE))
        pitch = rng.uniform(100, 180)
        syllables[i:i + k] = np.hanning(k) * sum(np.sin(2 * np.pi * pitch * h * t[:k]) / h for h in range(1, 12))
    clean = syllables * 8000 + rng.standard_normal(len(t)) * 2  # a very quiet room
    pcm = np.clip(clean, -32768, 32767).astype(np.int16).tobytes()
    suppressor = NoiseSuppressor()
    suppressor.warm_up(pcm)
    out = np.frombuffer(suppressor.process(pcm) + suppressor.flush(), dtype=np.int16)
    x = np.frombuffer(pcm, dtype=np.int16).astype(int)
    assert np.abs(out.astype(int) - x).max() <= 0.005 * np.abs(x).max()


def test_the_running_averages_match_going_frame_by_frame():
    from backcoach.denoise import _recurrence

    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1e6, (300, 7))
    before = rng.uniform(0, 1e6, 7)
    expected, previous = np.empty_like(x), before
    for t in range(len(x)):
        previous = expected[t] = 0.7 * previous + 0.3 * x[t]
    assert np.allclose(_recurrence(x, 0.7, before), expected, rtol=1e-9)

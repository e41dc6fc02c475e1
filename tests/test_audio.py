"""The audio edge: every common WAV format converts to the same 16 kHz mono signal; bad files say why."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from backcoach.audio import (AudioChunk, collect_wavs, float_to_pcm16, iter_pcm16_mono_16k, quiet_edge,
                             read_wav, signal_level_dbfs, silence, write_wav)
from backcoach.errors import BackcoachError


def _tone(rate: int, seconds: float = 1.0, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _write_raw(path, data: bytes, rate: int, channels: int, bits: int, tag: int = 1,
               extensible: bool = False, data_size: int | None = None) -> None:
    block = channels * bits // 8
    if extensible:
        fmt = struct.pack("<HHIIHHHHIH14s", 0xFFFE, channels, rate, rate * block, block, bits, 22, bits,
                          0, tag, b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71")
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"LIST" + struct.pack("<I", 4) + b"INFO"  # an extra chunk to skip
    body += b"data" + struct.pack("<I", size) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def _encode(x: np.ndarray, bits: int, is_float: bool) -> bytes:
    if is_float:
        return x.astype("<f4").tobytes()
    if bits == 8:
        return (x * 127 + 128).astype(np.uint8).tobytes()
    if bits == 16:
        return (x * 32767).astype("<i2").tobytes()
    if bits == 24:
        v = (x * (2 ** 23 - 1)).astype("<i4")
        return b"".join(int(s).to_bytes(3, "little", signed=True) for s in v)
    return (x * (2 ** 31 - 1)).astype("<i4").tobytes()


@pytest.mark.parametrize("rate, bits, channels, is_float, extensible", [
    (8000, 16, 1, False, False), (44100, 16, 2, False, False), (48000, 24, 1, False, False),
    (48000, 32, 2, True, False), (22050, 8, 1, False, False), (32000, 32, 1, False, True),
    (16000, 16, 1, False, False),
])
def test_formats_convert_to_16k_mono(tmp_path, rate, bits, channels, is_float, extensible):
    x = _tone(rate)
    frames = np.repeat(x[:, None], channels, axis=1).reshape(-1)
    path = tmp_path / "a.wav"
    _write_raw(path, _encode(frames, bits, is_float), rate, channels, bits, 3 if is_float else 1, extensible)
    pcm = b"".join(iter_pcm16_mono_16k(path))
    y = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    assert abs(len(y) - 16000) <= 40
    # Same tone, same level: the peak frequency is 440 Hz and the RMS is about 0.35.
    spectrum = np.abs(np.fft.rfft(y[1000:15000]))
    peak = np.argmax(spectrum) * 16000 / 14000
    assert abs(peak - 440) < 5
    assert abs(np.sqrt(np.mean(y[1000:15000] ** 2)) - 0.5 / np.sqrt(2)) < 0.03


def test_truncated_data_is_read_up_to_the_end(tmp_path):
    path = tmp_path / "cut.wav"
    data = _encode(_tone(16000, 0.5), 16, False)
    _write_raw(path, data, 16000, 1, 16, data_size=len(data) * 4)
    assert len(read_wav(path).audio) == len(data)


@pytest.mark.parametrize("content, message", [
    (b"", "empty"), (b"hello, this is text", "not a WAV"), (b"RIFF\x00\x00\x00\x00WAVE", "no 'fmt '"),
])
def test_bad_files_raise_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(BackcoachError) as info:
        list(iter_pcm16_mono_16k(path))
    assert message in str(info.value) and str(path) in str(info.value)


def test_missing_and_directory(tmp_path):
    with pytest.raises(BackcoachError, match="no such file"):
        list(iter_pcm16_mono_16k(tmp_path / "nope.wav"))
    (tmp_path / "d").mkdir()
    write_wav(tmp_path / "d" / "b.wav", b"\x00\x00" * 10, 16000)
    write_wav(tmp_path / "d" / "a.WAV", b"\x00\x00" * 10, 16000)
    found, errors = collect_wavs([tmp_path / "d", tmp_path / "missing.wav", tmp_path / "empty_dir"])
    assert [p.name for p in found] == ["a.WAV", "b.wav"]
    assert len(errors) == 2


def test_unsupported_encoding(tmp_path):
    path = tmp_path / "alaw.wav"
    _write_raw(path, b"\x00" * 100, 8000, 1, 8, tag=6)
    with pytest.raises(BackcoachError, match="encoding 6"):
        list(iter_pcm16_mono_16k(path))


def test_long_file_is_streamed_in_small_blocks(tmp_path):
    """Ten minutes at 48 kHz: no block is bigger than a second, so memory stays bounded."""
    path = tmp_path / "long.wav"
    rate = 48000
    one = _encode(_tone(rate, 1.0), 16, False)
    with open(path, "wb") as handle:
        handle.write(b"RIFF" + struct.pack("<I", 36 + len(one) * 600) + b"WAVEfmt " + struct.pack("<I", 16)
                     + struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
                     + b"data" + struct.pack("<I", len(one) * 600))
        for _ in range(600):
            handle.write(one)
    total = biggest = 0
    for pcm in iter_pcm16_mono_16k(path):
        total += len(pcm)
        biggest = max(biggest, len(pcm))
    assert abs(total / 32000 - 600) < 0.1 and biggest <= 32000


def test_levels_and_chunk_roundtrip():
    assert signal_level_dbfs(b"\x00\x00" * 100) == -120.0
    chunk = AudioChunk.from_float(_tone(16000), 16000)
    assert -10 < signal_level_dbfs(chunk.audio) < -8
    assert chunk.duration == 1.0 and chunk.to_pcm16_mono_16k() == chunk.audio


def test_quiet_at_the_edges_is_measured_against_the_loudest_frame():
    """Frames 15 dB under the loudest count as quiet, from the edge to the first louder one."""
    rng = np.random.default_rng(0)
    hiss = (rng.standard_normal(16000) * 0.005).astype(np.float32)  # about -46 dBFS
    tone = _tone(16000, 0.5)  # about -9 dBFS
    pcm = float_to_pcm16(np.concatenate([hiss[:4800], tone, hiss[:8000]]))
    assert quiet_edge(pcm, -9.0, 15.0) == pytest.approx(0.3)
    assert quiet_edge(pcm, -9.0, 15.0, at_end=True) == pytest.approx(0.5)
    assert quiet_edge(float_to_pcm16(tone), -9.0, 15.0) == 0.0  # cut right at the sound
    assert quiet_edge(pcm, -9.0, 50.0) == 0.0  # hiss is not quiet against a 50 dB range
    assert quiet_edge(silence(0.2), -9.0, 15.0) == pytest.approx(0.2)
    assert silence(0.25) == b"\x00\x00" * 4000 and silence(-1.0) == b""

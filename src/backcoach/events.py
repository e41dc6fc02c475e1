"""What the live loop reports: one event per moment (wake, speech, intent, speech out), as JSONL."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable

log = logging.getLogger("backcoach")

EVENT_NAMES = (
    "listening", "wake", "speech_start", "speech_end", "intent", "tts_start", "tts_first_audio",
    "tts_end", "barge_in", "hold_start", "hold_end", "timeout", "error", "end",
)

Listener = Callable[[dict[str, Any]], None]


@dataclass
class Events:
    """Fans events out to listeners; `t` is seconds since start on the loop clock."""

    listeners: list[Listener] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    keep: bool = True
    """Keep every event in `history` (tests and the bench read it back)."""

    def emit(self, event: str, t: float, **fields: Any) -> dict[str, Any]:
        record = {"event": event, "t": round(float(t), 3), **fields}
        if self.keep:
            self.history.append(record)
        for listener in self.listeners:
            try:
                listener(record)
            except Exception as exc:  # noqa: BLE001 - a broken listener must not stop the loop
                log.warning("event listener failed: %s", exc)
        return record

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.history if e["event"] == event]


class JsonlWriter:
    """A listener that appends each event as one JSON line (flushed, so `tail -f` works)."""

    def __init__(self, path: str | Path) -> None:
        from .errors import BackcoachError

        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle: IO[str] = open(self.path, "w", encoding="utf-8")
        except OSError as exc:
            raise BackcoachError(f"{self.path}: cannot write events ({exc.strerror})") from None

    def __call__(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Events written by `JsonlWriter`, in order."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]

"""The user's settings for the live loop: ~/.config/backcoach/config.toml, overridden by options."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import BackcoachError


@dataclass
class LoopConfig:
    """Settings of `backcoach run`, field by field as they appear in config.toml."""

    wake_phrase: str = "hey coach"
    voice: str | None = None
    """A pyttsx3 voice id or part of its name, or a voice spec such as espeak:en-us."""
    rate: int | None = None
    """Words per minute (the dialogue's default when unset)."""
    volume: float = 1.0
    input_device: int | str | None = None
    output_device: int | str | None = None
    model: str | None = None
    """A Vosk model directory."""
    follow_up_seconds: float = 6.0
    """After a reply, how long to listen without the wake phrase."""


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "backcoach" / "config.toml"


_TYPES: dict[str, tuple[type, ...]] = {
    "wake_phrase": (str,), "voice": (str,), "rate": (int,), "volume": (int, float),
    "input_device": (int, str), "output_device": (int, str), "model": (str,),
    "follow_up_seconds": (int, float),
}


def load_config(path: Path | None = None) -> LoopConfig:
    """Read the config file if there is one; a bad file raises a one-line error naming it."""
    path = path or config_path()
    config = LoopConfig()
    if not path.is_file():
        return config
    try:
        with open(path, "rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise BackcoachError(f"{path}: bad TOML: {exc}") from None
    except OSError as exc:
        raise BackcoachError(f"{path}: cannot read ({exc.strerror})") from None
    known = {f.name for f in fields(LoopConfig)}
    for key, value in data.items():
        if key not in known:
            raise BackcoachError(f"{path}: unknown setting '{key}' (known: {', '.join(sorted(known))})")
        if isinstance(value, bool) or not isinstance(value, _TYPES[key]):
            raise BackcoachError(f"{path}: '{key}' has the wrong type ({type(value).__name__})")
        setattr(config, key, float(value) if key in ("volume", "follow_up_seconds") else value)
    if config.follow_up_seconds < 0:
        raise BackcoachError(f"{path}: 'follow_up_seconds' must not be negative")
    return config


def merge_options(config: LoopConfig, options: dict[str, Any]) -> LoopConfig:
    """Command-line values (those not None) override the file's."""
    for key, value in options.items():
        if value is not None and hasattr(config, key):
            setattr(config, key, value)
    return config


def device_value(raw: int | str | None) -> int | str | None:
    """A device given as "3" is device number 3; anything else is a name fragment."""
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw)
    return raw

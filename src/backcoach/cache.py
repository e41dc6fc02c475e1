"""A small on-disk cache for work that only depends on files: parsed templates, word graph, grammar.

Starting up means parsing every hassil template, building the word graph and deriving the Vosk
grammar: about a second on a laptop, several on a Raspberry Pi, and the same result every time the
intents are unchanged. Results are pickled under ~/.cache/backcoach, keyed by a hash of everything
they depend on (file contents, package versions), so an edit simply misses the cache. Any problem
reading or writing the cache is ignored: the work is done again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from pathlib import Path
from typing import Any, Callable, Iterable

log = logging.getLogger("backcoach")

FORMAT = "1"
"""Bump when the pickled classes change shape."""


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "backcoach"


def key_of(parts: Iterable[bytes | str]) -> str:
    """A hash of everything a result depends on (our version and hassil's are always included)."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256(FORMAT.encode())
    for package in ("backcoach", "hassil"):
        try:
            digest.update(version(package).encode())
        except PackageNotFoundError:
            pass
    # The code that builds the result counts too: a changed module must not read an old pickle.
    here = Path(__file__).parent
    for module in ("wordgraph.py", "grammar.py", "intents.py", "text.py", "decodegraph.py", "fstio.py"):
        try:
            digest.update((here / module).read_bytes())
        except OSError:
            pass
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:24]


def cached(kind: str, key: str, build: Callable[[], Any]) -> Any:
    """The cached result for (kind, key), or build it and keep it."""
    if os.environ.get("BACKCOACH_NO_CACHE"):
        return build()
    path = cache_dir() / f"{kind}-{key}.pickle"
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except FileNotFoundError:
        pass
    except Exception as exc:  # noqa: BLE001 - a damaged cache file is rebuilt, never fatal
        log.debug("cache %s unreadable (%s); rebuilding", path, exc)
    value = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    except Exception as exc:  # noqa: BLE001 - no cache is fine
        log.debug("cannot write cache %s (%s)", path, exc)
    return value

"""Shared test set-up: the network is cut for the whole run; engines load once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = ROOT / "tests" / "offline"
sys.path.insert(0, str(OFFLINE))
import sitecustomize  # noqa: E402,F401  - blocks sockets in this process too

BACKCOACH = [sys.executable, "-m", "backcoach"]


def offline_env() -> dict[str, str]:
    """Environment for CLI runs: sockets blocked in the child through sitecustomize."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(OFFLINE), env.get("PYTHONPATH", "")]).strip(os.pathsep)
    return env


def run_cli(*args: str, input: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `backcoach ARGS` as a user would, offline."""
    return subprocess.run(BACKCOACH + list(args), input=input, capture_output=True, text=True,
                          env=offline_env(), cwd=ROOT, timeout=timeout)


@pytest.fixture(scope="session")
def skill():
    from backcoach.intents import load_skill

    return load_skill()


@pytest.fixture(scope="session")
def assistant():
    from backcoach.assistant import Assistant

    a = Assistant()
    a.recognizer()
    return a

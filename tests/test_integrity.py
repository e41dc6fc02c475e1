"""Broken parts are caught with a one-line message: model files, intents YAML, bad CLI input."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from backcoach import model
from backcoach.check import check_intents
from backcoach.errors import BackcoachError
from backcoach.intents import load_skill
from conftest import run_cli

COFFEE = Path(__file__).parent / "data" / "coffee"


def _small_model(tmp_path: Path) -> tuple[Path, model.Manifest]:
    """A stand-in model folder with its own manifest (copying the real 70 MB would be slow)."""
    folder = tmp_path / "m"
    (folder / "am").mkdir(parents=True)
    (folder / "am" / "final.mdl").write_bytes(b"weights" * 100)
    (folder / "README").write_text("model\n")
    files = {rel: (model.sha256_file(folder / rel), (folder / rel).stat().st_size)
             for rel in ("am/final.mdl", "README")}
    return folder, model.Manifest("m", "none==0", "0" * 64, "m/", files)


def test_intact_model_verifies(tmp_path):
    folder, manifest = _small_model(tmp_path)
    assert model.verify_dir(folder, manifest) == []


@pytest.mark.parametrize("damage", ["missing", "truncated", "altered"])
def test_damaged_model_files_are_detected(tmp_path, damage):
    folder, manifest = _small_model(tmp_path)
    target = folder / "am" / "final.mdl"
    if damage == "missing":
        target.unlink()
    elif damage == "truncated":
        target.write_bytes(target.read_bytes()[:50])
    else:
        data = bytearray(target.read_bytes())
        data[10] ^= 0xFF
        target.write_bytes(bytes(data))
    problems = model.verify_dir(folder, manifest)
    assert len(problems) == 1 and "am/final.mdl" in problems[0]


def test_the_pinned_manifest_covers_the_whole_model():
    manifest = model.default_manifest()
    assert manifest.pip_requirement == "videogrep==2.3.0"
    assert {"am/final.mdl", "graph/HCLr.fst", "graph/Gr.fst", "conf/model.conf"} <= set(manifest.files)
    assert all(len(d) == 64 for d, _ in manifest.files.values())


def test_installed_model_matches_its_checksums():
    manifest = model.default_manifest()
    path = model.models_dir() / manifest.name
    assert model.verify_dir(path, manifest) == [], "run: backcoach model fetch"


def test_a_missing_model_says_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setattr(model, "models_dir", lambda: tmp_path)
    shutil.copy(Path(model.__file__).resolve().parents[2] / "models" / f"{model.DEFAULT_MODEL_NAME}.json", tmp_path)
    with pytest.raises(BackcoachError, match="model fetch"):
        model.resolve_model(None)


def test_a_user_model_dir_must_exist():
    with pytest.raises(BackcoachError, match="does not exist"):
        model.resolve_model("/nonexistent/model")


def test_cli_reports_a_missing_model_dir_in_one_line(tmp_path):
    wav = tmp_path / "x.wav"
    wav.write_bytes(b"RIFF")
    proc = run_cli("hear", "--model", str(tmp_path / "nope"), str(wav))
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0 and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_yaml_errors_name_file_and_line(tmp_path):
    _write(tmp_path, "a.yaml", """\
        language: en
        intents:
          Hello:
            data:
              - sentences:
                  - "hello there"
                 bad indentation: [
        """)
    problems = check_intents(tmp_path)
    assert problems and problems[0].severity == "error"
    assert "a.yaml:" in problems[0].where
    with pytest.raises(BackcoachError, match=r"a\.yaml:\d+"):
        load_skill(tmp_path)


def test_unknown_list_and_bad_template_are_errors(tmp_path):
    _write(tmp_path, "a.yaml", """\
        language: en
        intents:
          Hello:
            data:
              - sentences:
                  - "hello {nobody}"
        """)
    problems = check_intents(tmp_path)
    assert any(p.severity == "error" and "nobody" in p.message for p in problems)
    _write(tmp_path, "a.yaml", """\
        language: en
        intents:
          Hello:
            data:
              - sentences:
                  - "hello (there"
        """)
    problems = check_intents(tmp_path)
    assert any(p.severity == "error" and "a.yaml:6" in p.where for p in problems)


def test_duplicate_keys_and_intents_and_ambiguity_are_reported(tmp_path):
    _write(tmp_path, "a.yaml", """\
        language: en
        intents:
          Hello:
            data:
              - sentences: ["hello [there]"]
          Greet:
            data:
              - sentences: ["hello"]
        """)
    _write(tmp_path, "b.yaml", """\
        language: en
        intents:
          Hello:
            data:
              - sentences: ["hi"]
        """)
    lines = [p.line() for p in check_intents(tmp_path)]
    assert any("also defined" in line for line in lines)
    assert any("matches Greet and Hello" in line for line in lines)
    _write(tmp_path, "b.yaml", """\
        language: en
        intents:
          Bye:
            data:
              - sentences: ["bye"]
          Bye:
            data:
              - sentences: ["goodbye"]
        """)
    problems = check_intents(tmp_path)
    assert any(p.severity == "error" and "duplicate key" in p.message for p in problems)


def test_cli_with_broken_intents_fails_in_one_line(tmp_path):
    _write(tmp_path, "a.yaml", "language: en\nintents: [oops\n")
    proc = run_cli("ask", "--intents", str(tmp_path), "hello")
    assert proc.returncode != 0
    assert "a.yaml" in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert "Traceback" not in proc.stderr


def test_intents_check_cli_on_a_clean_skill():
    proc = run_cli("intents", "check", str(COFFEE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 error(s)" in proc.stdout


def test_any_intents_dir_works_and_replies_name_the_intent():
    proc = run_cli("ask", "--json", "--intents", str(COFFEE), "a large latte with oat milk please")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["intent"] == "OrderDrink" and out["slots"] == {"size": "large", "drink": "latte", "milk": "oat milk"}
    assert "OrderDrink" in out["reply"]


def test_short_soak_keeps_memory_flat_and_has_no_errors(assistant):
    """The short version of `backcoach soak` (the 2,000-utterance run is a benchmark)."""
    from backcoach.soak import run_soak
    from backcoach.tts import load_voice

    result = run_soak(assistant, load_voice("espeak:en-us"), utterances=120, warmup=24)
    assert not result.errors
    assert result.growth_mb < 10, result
    assert result.intents.get("Fallback", 0) >= 120 // 12 * 3  # weather, noise and silence

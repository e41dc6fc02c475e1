"""Load a skill from an intents directory: hassil sentences plus what the assistant says."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hassil import Intents
from hassil.util import merge_dict

from .cache import cached, key_of
from .errors import BackcoachError
from .model import project_root
from .text import words_of

FALLBACK = "Fallback"
RED_FLAG = "RedFlag"


def default_intents_dir() -> Path:
    return project_root() / "intents" / "en"


@dataclass
class Stretch:
    """A guided stretch, as written in stretches.yaml."""

    key: str
    name: str
    area: str
    intro: str
    safety: str
    sides: list[str]
    repetitions: int
    steps: list[dict[str, Any]]


@dataclass(frozen=True)
class RedFlagPair:
    """A danger sign named by a word of one kind heard within `window` words of one of another
    kind, in either order ("i can't hold my pee", "my legs have got much weaker")."""

    sign: str
    words: tuple[tuple[str, ...], ...]
    near: tuple[tuple[str, ...], ...]
    window: int = 4
    """How many words may stand between the two."""


@dataclass
class Skill:
    """Everything a skill knows: templates (hassil), responses, stretches and its own lines."""

    directory: Path
    intents: Intents
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    stretches: dict[str, Stretch] = field(default_factory=dict)
    system: dict[str, Any] = field(default_factory=dict)
    sound_alikes: dict[str, list[str]] = field(default_factory=dict)
    red_flag_words: dict[str, str] = field(default_factory=dict)
    """Words that name a danger sign wherever they are heard ("fever"), and the sign each names."""
    red_flag_pairs: list[RedFlagPair] = field(default_factory=list)
    """Two kinds of words that name a danger sign when heard close together ("holding" + "pee")."""
    red_flag_harmless: list[tuple[str, ...]] = field(default_factory=list)
    """Phrases whose telling words name no danger sign ("hay fever")."""
    others_as_self: bool = False
    """Read "my dad's back hurts when he bends his knee" as "my back hurts when i bend my knee"
    (understanding.yaml): for a skill whose answers are the same whoever is asking about."""
    examples: dict[str, list[str]] = field(default_factory=dict)
    """Phrasings people used, per intent (and Fallback): they train the second-opinion classifier."""
    files: list[Path] = field(default_factory=list)
    graph: Any = None
    """The word graph over the templates (wordgraph.WordGraph), built with them."""
    key: str = ""
    """A hash of the template files (what cached results derived from them are keyed by)."""

    @property
    def intent_names(self) -> list[str]:
        return list(self.intents.intents)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's loader when PyYAML has it: ten times faster on the skill's files."""


def _read_yaml(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise BackcoachError(f"{where}: YAML error: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise BackcoachError(f"{path}: YAML error: {exc}") from None
    except UnicodeDecodeError:
        raise BackcoachError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise BackcoachError(f"{path}: cannot read ({exc.strerror})") from None


def line_of(path: Path, needle: str) -> int | None:
    """The 1-based line where `needle` first appears in a file (for error messages)."""
    try:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if needle in line:
                return number
    except OSError:
        return None
    return None


def _check_hassil_file(path: Path, data: dict) -> None:
    """Parse one file's templates on their own, so an error names its file and line."""
    from hassil.parse_expression import parse_sentence

    if not isinstance(data.get("intents", {}), dict):
        raise BackcoachError(f"{path}: 'intents' must be a mapping of intent names")
    for name, intent in (data.get("intents") or {}).items():
        if not isinstance(intent, dict) or not isinstance(intent.get("data"), list):
            raise BackcoachError(f"{path}:{line_of(path, str(name)) or 1}: intent {name} needs a 'data' list")
        for block in intent["data"]:
            if not isinstance(block, dict) or not isinstance(block.get("sentences"), list):
                raise BackcoachError(f"{path}:{line_of(path, str(name)) or 1}: intent {name} has a data block without 'sentences'")
            for text in block["sentences"]:
                if not isinstance(text, str):
                    raise BackcoachError(f"{path}:{line_of(path, str(name)) or 1}: a sentence of {name} is not text: {text!r}")
                try:
                    parse_sentence(text, keep_text=True)
                except Exception as exc:  # noqa: BLE001 - hassil raises several types
                    line = line_of(path, text) or line_of(path, str(name)) or 1
                    raise BackcoachError(f"{path}:{line}: bad template {text!r}: {exc}") from None
    for rule, body in (data.get("expansion_rules") or {}).items():
        try:
            parse_sentence(str(body), keep_text=True)
        except Exception as exc:  # noqa: BLE001
            raise BackcoachError(f"{path}:{line_of(path, str(rule)) or 1}: bad expansion rule <{rule}>: {exc}") from None


def load_skill(directory: str | Path | None = None) -> Skill:
    """Read every YAML file under `directory` (recursively); raise BackcoachError naming the file."""
    root = Path(directory) if directory else default_intents_dir()
    if not root.is_dir():
        raise BackcoachError(f"intents directory {root} does not exist")
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    merged: dict[str, Any] = {}
    skill_parts: dict[str, Any] = {"responses": {}, "stretches": {}, "system": {}, "sound_alikes": {},
                                   "red_flag_words": {}, "red_flag_pairs": {},
                                   "red_flag_harmless": [], "understanding": {}, "examples": {}}
    hassil_files: list[Path] = []
    for path in files:
        data = _read_yaml(path)
        if data is None:
            continue
        if not isinstance(data, dict):
            raise BackcoachError(f"{path}: expected a mapping at the top of the file")
        if "intents" in data or "lists" in data or "expansion_rules" in data:
            data.setdefault("language", merged.get("language", "en"))
            merge_dict(merged, {k: v for k, v in data.items() if k not in skill_parts})
            hassil_files.append(path)
        for key in skill_parts:
            if key in data:
                if isinstance(skill_parts[key], list):
                    if not isinstance(data[key], list):
                        raise BackcoachError(f"{path}:{line_of(path, key + ':') or 1}: '{key}' must be a list")
                    skill_parts[key].extend(data[key])
                    continue
                if not isinstance(data[key], dict):
                    raise BackcoachError(f"{path}:{line_of(path, key + ':') or 1}: '{key}' must be a mapping")
                skill_parts[key].update(data[key])
    if not merged.get("intents"):
        raise BackcoachError(f"no hassil intents found in {root} (expected YAML files with an 'intents:' section)")
    key = key_of([str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() for p in hassil_files])
    intents, graph = cached("skill", key, lambda: _compile(merged, root, hassil_files))
    skill = Skill(
        directory=root,
        intents=intents,
        graph=graph,
        key=key,
        responses=skill_parts["responses"],
        system=skill_parts["system"],
        sound_alikes={str(k): [str(x) for x in (v or [])] for k, v in skill_parts["sound_alikes"].items()},
        red_flag_words={" ".join(words_of(str(k))): str(v) for k, v in skill_parts["red_flag_words"].items()},
        red_flag_pairs=_red_flag_pairs(skill_parts["red_flag_pairs"], files),
        red_flag_harmless=[tuple(words_of(str(p))) for p in skill_parts["red_flag_harmless"] if words_of(str(p))],
        others_as_self=bool(skill_parts["understanding"].get("others_as_self", False)),
        examples={str(k): [str(x) for x in (v or [])] for k, v in skill_parts["examples"].items()},
        files=files,
    )
    skill.stretches = {key: _stretch(key, body, root) for key, body in skill_parts["stretches"].items()}
    return skill


def _red_flag_pairs(data: dict[str, Any], files: list[Path]) -> list[RedFlagPair]:
    """red_flag_pairs: {sign: [{words: [...], near: [...], window: N}, ...]} as RedFlagPairs."""
    where = next((p for p in files if line_of(p, "red_flag_pairs:")), None)
    pairs = []
    for sign, entries in data.items():
        for entry in entries if isinstance(entries, list) else [entries]:
            if not isinstance(entry, dict) or not entry.get("words") or not entry.get("near"):
                raise BackcoachError(f"{where}: red_flag_pairs '{sign}' needs entries with 'words' and 'near' lists")
            pairs.append(RedFlagPair(
                sign=str(sign),
                words=tuple(tuple(words_of(str(w))) for w in entry["words"]),
                near=tuple(tuple(words_of(str(w))) for w in entry["near"]),
                window=int(entry.get("window", 4))))
    return pairs


def _compile(merged: dict[str, Any], root: Path, hassil_files: list[Path]) -> tuple[Intents, Any]:
    """hassil's parsed templates and our word graph over them (the slow part of starting up)."""
    from .wordgraph import build

    try:
        intents = Intents.from_dict(merged)
        for intent in intents.intents.values():  # hassil parses templates lazily: parse them now
            for data in intent.data:
                data.sentences  # noqa: B018 - the cached parse
    except Exception as exc:  # noqa: BLE001 - hassil raises several types
        for path in hassil_files:  # find the file and line at fault (only when something is wrong)
            _check_hassil_file(path, _read_yaml(path))
        raise BackcoachError(f"{root}: cannot load intents: {exc}") from None
    return intents, build(intents)


def _stretch(key: str, body: Any, root: Path) -> Stretch:
    if not isinstance(body, dict) or not isinstance(body.get("steps"), list) or not body["steps"]:
        raise BackcoachError(f"{root}: stretch '{key}' needs a list of steps")
    steps = []
    for step in body["steps"]:
        if isinstance(step, str):
            step = {"say": step}
        if not isinstance(step, dict) or "say" not in step:
            raise BackcoachError(f"{root}: stretch '{key}' has a step without 'say'")
        steps.append(step)
    return Stretch(
        key=key,
        name=str(body.get("name", key)),
        area=str(body.get("area", "")),
        intro=str(body.get("intro", "")),
        safety=str(body.get("safety", "")),
        sides=[str(s) for s in body.get("sides") or []],
        repetitions=int(body.get("repetitions", 1)),
        steps=steps,
    )

"""`backcoach intents check`: errors and ambiguities in an intents directory, with file and line."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml
from hassil import recognize_all

from .errors import BackcoachError
from .intents import default_intents_dir, line_of, load_skill
from .wordgraph import build, random_sentence


@dataclass
class Problem:
    """One finding: an error stops the skill from loading; a warning is worth a look."""

    severity: str
    where: str
    message: str

    def line(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


class _StrictLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict = {}
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def check_intents(directory: str | Path | None = None, samples_per_intent: int = 60) -> list[Problem]:
    """Everything wrong with an intents directory (errors first), and sentences two intents match."""
    root = Path(directory) if directory else default_intents_dir()
    problems: list[Problem] = []
    if not root.is_dir():
        return [Problem("error", str(root), "not a directory")]
    owners: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml")):
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            problems.append(Problem("error", f"{path}:{(mark.line + 1) if mark else 1}", str(exc.problem)))
            continue
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            problems.append(Problem("error", str(path), f"cannot read: {exc}"))
            continue
        if isinstance(data, dict):
            for name in data.get("intents") or {}:
                owners[name].append(path)
    for name, paths in owners.items():
        if len(paths) > 1:
            where = f"{paths[1]}:{line_of(paths[1], str(name)) or 1}"
            problems.append(Problem("warning", where, f"intent {name} is also defined in {paths[0]} (the two are merged)"))
    if any(p.severity == "error" for p in problems):
        return problems
    try:
        skill = load_skill(root)
        graph = build(skill.intents)
    except BackcoachError as exc:
        where, _, message = exc.one_line().partition(": ")
        return problems + [Problem("error", where, message or exc.one_line())]
    rng = random.Random(7)
    reported: set[tuple[str, ...]] = set()
    for block in graph.blocks:
        for _ in range(samples_per_intent):
            sentence, _slots = random_sentence(graph, block, rng)
            if not sentence:
                continue
            try:
                names = sorted({r.intent.name for r in recognize_all(sentence, skill.intents)})
            except Exception:  # noqa: BLE001 - hassil edge cases: not the author's problem
                continue
            if len(names) > 1 and tuple(names) not in reported:
                reported.add(tuple(names))
                problems.append(Problem("warning", str(root), f"\"{sentence}\" matches {' and '.join(names)}"))
    return problems

"""What Vosk may hear: a compact phrase list derived from the word graph, never an enumeration.

Vosk turns a runtime phrase list into a bigram language model. So the phrases only need to cover
every pair of words that can follow each other in the templates (and every first and last word):
a few paths through the graph do that, however many sentences the templates expand to. Vosk
counts the pairs, so the paths choose evenly among the ways on (not always the same one), and
"[unk]" is repeated to give speech outside the templates a fair chance.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .fstio import read_output_symbols
from .intents import RED_FLAG
from .text import words_of
from .wordgraph import EPS, WILDCARD, Arc, Block, WordGraph

UNKNOWN = "[unk]"
RED_FLAG_WEIGHT = 2
"""Red-flag phrases count twice: in doubt, hearing "my groin has gone numb" beats hearing words
that mean nothing (without it, one voice's "my groin has gone numb" lost its last word)."""


@dataclass
class Grammar:
    """The phrases handed to Vosk, and the template words it could not be given."""

    phrases: list[str]
    silent_words: frozenset[str]
    """Template words missing from the model's vocabulary, with no sound-alike either."""
    spoken: dict[str, list[str]] = field(default_factory=dict)
    """What the model hears for each template word: itself, a sound-alike's words, or nothing."""


def model_vocabulary(model_dir: Path) -> set[str] | None:
    """Words the model knows: graph/words.txt, or the symbol table inside graph/Gr.fst."""
    words_txt = model_dir / "graph" / "words.txt"
    if words_txt.is_file():
        with open(words_txt, encoding="utf-8", errors="replace") as handle:
            return {line.split()[0] for line in handle if line.strip()}
    gr = model_dir / "graph" / "Gr.fst"
    if gr.is_file():
        cached = _cache_path(gr)
        try:
            return set(cached.read_text(encoding="utf-8").split("\n"))
        except OSError:
            pass
        try:
            words = set(read_output_symbols(gr).ids)
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        try:  # reading the symbol table takes half a second; keep it for the next start
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp")
            tmp.write_text("\n".join(words), encoding="utf-8")  # a set: order does not matter
            tmp.replace(cached)
        except OSError:
            pass
        return words
    return None


def model_key(model_dir: Path) -> str:
    """What identifies a model for cached grammars: its path and its graph files' sizes and times."""
    parts = [str(Path(model_dir).resolve())]
    graph = Path(model_dir) / "graph"
    try:
        for path in sorted(graph.iterdir()):
            stat = path.stat()
            parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    except OSError:
        pass
    return "|".join(parts)


def _cache_path(gr: Path) -> Path:
    """Where the vocabulary read from one Gr.fst is kept (keyed by its path, size and time)."""
    stat = gr.stat()
    key = hashlib.sha1(f"{gr.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "backcoach" / f"vocabulary-{key}.txt"


def _block_phrases(graph: WordGraph, block: Block, shortest: bool) -> list[list[Arc]]:
    """Paths (as word arcs) that together use every word pair the block allows, completed the
    shortest ways or freely."""
    lo, hi = block.start, block.end
    arcs_from = graph.arcs_from
    # Word arcs reachable from each state through empty arcs, one per word (a representative).
    closure: dict[int, dict[str, Arc]] = {}
    reaches_end: dict[int, bool] = {}
    for state in range(hi, lo - 1, -1):
        words: dict[str, Arc] = {}
        end = state == hi
        for arc in arcs_from[state]:
            if arc.word == EPS:
                for w, a in closure.get(arc.target, {}).items():
                    words.setdefault(w, a)
                end = end or reaches_end.get(arc.target, False)
            elif arc.word != WILDCARD:
                words.setdefault(arc.word, arc)
        closure[state] = words
        reaches_end[state] = end
    # Shortest word path from the start to each state, and from each state to the end.
    inf = 1 << 30
    prefix_len = {lo: 0}
    for state in range(lo, hi + 1):
        if state not in prefix_len:
            continue
        for arc in arcs_from[state]:
            step = 0 if arc.word in (EPS, WILDCARD) else 1
            if prefix_len[state] + step < prefix_len.get(arc.target, inf):
                prefix_len[arc.target] = prefix_len[state] + step
    suffix_len = {hi: 0}
    for state in range(hi, lo - 1, -1):
        for arc in arcs_from[state]:
            if arc.target in suffix_len:
                step = 0 if arc.word in (EPS, WILDCARD) else 1
                if suffix_len[arc.target] + step < suffix_len.get(state, inf):
                    suffix_len[state] = suffix_len[arc.target] + step

    # Vosk counts word pairs over the phrases, so how a phrase is completed sets the language
    # model's odds: always the same shortest way made the first listed drink 13 times likelier
    # than any other after a size. Completions choose evenly among the ways on: the shortest ones
    # (`shortest`), or any (a speaker choosing freely). Both sets are used: free walks alone
    # heard one voice's "my groin has gone numb" as "my groin fast on".
    rng = random.Random(f"{block.intent}/{block.data_index}")
    preds: dict[int, list[Arc]] = {}
    for state in range(lo, hi + 1):
        if state in prefix_len:
            for arc in arcs_from[state]:
                preds.setdefault(arc.target, []).append(arc)

    def _step(arc: Arc) -> int:
        return 0 if arc.word in (EPS, WILDCARD) else 1

    def prefix_walk(state: int) -> list[Arc]:
        out = []
        while state != lo:
            ways = preds[state]
            if shortest:
                ways = [a for a in ways if prefix_len[a.source] + _step(a) == prefix_len[state]]
            arc = rng.choice(ways)
            out.append(arc)
            state = arc.source
        return [a for a in reversed(out) if a.word not in (EPS, WILDCARD)]

    def suffix(state: int) -> list[Arc]:
        out = []
        while state != hi:
            ways = [a for a in arcs_from[state] if a.target in suffix_len]
            if shortest:
                ways = [a for a in ways if suffix_len[a.target] + _step(a) == suffix_len[state]]
            arc = rng.choice(ways)
            out.append(arc)
            state = arc.target
        return [a for a in out if a.word not in (EPS, WILDCARD)]

    covered: set[tuple[str, str]] = set()
    phrases: list[list[Arc]] = []

    def take(path: list[Arc]) -> None:
        labels = ["<s>"] + [a.word for a in path] + ["</s>"]
        covered.update(zip(labels, labels[1:]))
        phrases.append(path)

    for word, arc in closure[lo].items():
        if ("<s>", word) not in covered and arc.target in suffix_len:
            take([arc] + suffix(arc.target))
    seen: set[tuple[str, int]] = set()
    for state in range(lo, hi + 1):
        if state not in prefix_len:
            continue
        for arc in arcs_from[state]:
            if arc.word in (EPS, WILDCARD) or arc.target not in suffix_len:
                continue
            key = (arc.word, id(closure[arc.target]))
            if key in seen:
                continue
            seen.add(key)
            head = prefix_walk(state) + [arc]
            for word, nxt in closure[arc.target].items():
                if (arc.word, word) not in covered and nxt.target in suffix_len:
                    take(head + [nxt] + suffix(nxt.target))
            if reaches_end[arc.target] and (arc.word, "</s>") not in covered:
                take(head)
    return phrases


def build_grammar(graph: WordGraph, vocabulary: set[str] | None = None,
                  sound_alikes: dict[str, list[str]] | None = None,
                  add_unknown: bool = True, phrases: bool = True) -> Grammar:
    """Phrases for Vosk covering every word pair of every intent; unknown words are replaced.

    With phrases=False only the words are worked out (what the model hears for each), which is
    all a decoder with the skill's own graph needs.
    """
    sound_alikes = sound_alikes or {}
    silent: set[str] = set()
    replacement: dict[str, list[str]] = {}
    for word in graph.words():
        if vocabulary is None or word in vocabulary:
            replacement[word] = [word]
            continue
        for alike in sound_alikes.get(word, []):
            alike_words = words_of(alike)
            if alike_words and all(w in vocabulary for w in alike_words):
                replacement[word] = alike_words
                break
        else:
            replacement[word] = []
            silent.add(word)
    if not phrases:
        return Grammar(phrases=[], silent_words=frozenset(silent), spoken=replacement)
    found: dict[str, None] = {}
    again: list[str] = []
    for block in graph.blocks:
        for shortest in (True, False):
            for path in _block_phrases(graph, block, shortest):
                words = [w for arc in path for w in replacement.get(arc.word, [])]
                if words:
                    found[" ".join(words)] = None
                    if block.intent == RED_FLAG:
                        again.extend([" ".join(words)] * (RED_FLAG_WEIGHT - 1))
    out = list(found) + again
    if add_unknown:
        # Vosk counts every copy: "[unk]" as common as a typical template word. One copy let a
        # one-intent drink skill hear 25% of out-of-domain speech as orders at 6 dB SNR (15% so);
        # a fixed share of the phrases instead took rare words from a skill with a large vocabulary.
        counts = sorted(Counter(w for phrase in out for w in phrase.split()).values())
        out.extend([UNKNOWN] * max(1, counts[len(counts) // 2] if counts else 1))
    return Grammar(phrases=out, silent_words=frozenset(silent), spoken=replacement)

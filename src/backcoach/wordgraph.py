"""Hassil templates as one acyclic word graph: what the intents can say, without enumerating it.

A template such as ``why does my [lower] back (hurt|ache)`` becomes a small automaton whose arcs are
words. Alternatives branch, optional parts get an empty arc, ``{lists}`` branch into their values
(ending in a slot marker), ``<rules>`` are inlined, ``(a;b)`` permutations become alternatives of
the orders. A template that expands to 10^8 sentences stays a graph of a few hundred arcs, which is
what both the speech grammar (grammar.py) and the fuzzy aligner (align.py) walk.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from hassil import Intents
from hassil.expression import (
    Alternative,
    Expression,
    Group,
    ListReference,
    Permutation,
    RuleReference,
    Sentence,
    TextChunk,
)
from hassil.intents import IntentData, RangeSlotList, SlotList, TextSlotList, WildcardSlotList

from .errors import BackcoachError
from .text import words_of

EPS = ""
WILDCARD = "*"
_MAX_PERMUTATION_ITEMS = 6
_MAX_RULE_DEPTH = 24
_MAX_RANGE_VALUES = 1000
_MAX_GLUED_STRINGS = 256


@dataclass(frozen=True)
class SlotMark:
    """Reached at the end of a slot value: the slot's name and the value the intent reports."""

    name: str
    value: object
    wildcard: bool = False


@dataclass(frozen=True)
class Arc:
    """One step in the graph: a word (or EPS, or WILDCARD), maybe closing a slot value."""

    source: int
    target: int
    word: str = EPS
    slot: SlotMark | None = None
    slot_open: str | None = None


@dataclass(frozen=True)
class Ending:
    """An accepting state: which intent (and which block of its data) a path there means."""

    intent: str
    data_index: int
    fixed_slots: dict


@dataclass(frozen=True)
class Block:
    """One block of an intent's data: its states run from `start` to `end`, in order."""

    intent: str
    data_index: int
    start: int
    end: int


@dataclass
class WordGraph:
    """An acyclic automaton over words. States are numbered in topological order."""

    arcs_from: list[list[Arc]] = field(default_factory=lambda: [[]])
    endings: dict[int, Ending] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)
    slot_phrases: dict[str, dict[tuple[str, tuple[str, ...]], object]] = field(default_factory=dict)
    """intent -> {(slot name, words of a plain-text list value): the value it reports}."""
    compact: dict[tuple[str, int], tuple[WordGraph, Block]] = field(default_factory=dict)
    """(intent, data index) -> the block as `smallest` makes it, built with the graph."""

    @property
    def num_states(self) -> int:
        return len(self.arcs_from)

    def new_state(self) -> int:
        self.arcs_from.append([])
        return len(self.arcs_from) - 1

    def add(self, source: int, target: int, word: str = EPS, **marks: object) -> None:
        self.arcs_from[source].append(Arc(source, target, word, **marks))  # type: ignore[arg-type]

    def words(self) -> set[str]:
        return {a.word for arcs in self.arcs_from for a in arcs if a.word not in (EPS, WILDCARD)}

    def block_words(self, block: Block) -> set[str]:
        """The words one block of templates can say."""
        return {a.word for state in range(block.start, block.end + 1) for a in self.arcs_from[state]
                if a.word not in (EPS, WILDCARD)}

    def arcs(self) -> list[Arc]:
        return [a for arcs in self.arcs_from for a in arcs]

    def required_slots(self, block: Block) -> frozenset[str]:
        """Slots that every path through the block fills (``{drink}`` in ``[a] {drink} [please]``)."""
        must: dict[int, frozenset[str]] = {block.start: frozenset()}
        for state in range(block.start, block.end + 1):
            have = must.get(state)
            if have is None:
                continue
            for arc in self.arcs_from[state]:
                here = have | {arc.slot.name} if arc.slot is not None else have
                before = must.get(arc.target)
                must[arc.target] = here if before is None else before & here
        return must.get(block.end, frozenset())


class _Builder:
    """Compiles hassil expressions into a WordGraph, one intent at a time."""

    def __init__(self, intents: Intents, graph: WordGraph) -> None:
        self.intents = intents
        self.graph = graph

    def add_intent_data(self, intent: str, index: int, data: IntentData) -> None:
        self._intent = intent
        start = self.graph.new_state()
        rules = {**self.intents.expansion_rules, **data.expansion_rules}
        lists = {**self.intents.slot_lists, **data.slot_lists}
        lasts = [self.expression(s.expression, start, rules, lists, 0) for s in data.sentences]
        end = self.graph.new_state()
        for last in lasts:
            self.graph.add(last, end)
        self.graph.endings[end] = Ending(intent, index, dict(data.slots))
        self.graph.blocks.append(Block(intent, index, start, end))

    def expression(self, expr: Expression, state: int, rules: dict[str, Sentence],
                   lists: dict[str, SlotList], depth: int) -> int:
        """Add `expr` after `state`; return the state where it ends."""
        if depth > _MAX_RULE_DEPTH:
            raise BackcoachError("template rules nest too deeply (a rule may refer to itself)")
        if isinstance(expr, TextChunk):
            for word in words_of(expr.text):
                nxt = self.graph.new_state()
                self.graph.add(state, nxt, word)
                state = nxt
            return state
        if isinstance(expr, Permutation):
            return self.permutation(expr, state, rules, lists, depth)
        if isinstance(expr, Alternative):
            ends = [self.expression(item, state, rules, lists, depth) for item in expr.items]
            join = self.graph.new_state()
            for end in ends:
                self.graph.add(end, join)
            if expr.is_optional:
                self.graph.add(state, join)
            return join
        if isinstance(expr, Group):
            for run in _glued_runs(expr.items, rules):
                if len(run) == 1:
                    state = self.expression(run[0], state, rules, lists, depth)
                else:
                    state = self.glued(run, state, rules)
            return state
        if isinstance(expr, RuleReference):
            rule = rules.get(expr.rule_name)
            if rule is None:
                raise BackcoachError(f"unknown expansion rule <{expr.rule_name}>")
            return self.expression(rule.expression, state, rules, lists, depth + 1)
        if isinstance(expr, ListReference):
            return self.list_reference(expr, state, rules, lists, depth)
        raise BackcoachError(f"unsupported template part {type(expr).__name__}")

    def glued(self, run: list[Expression], state: int, rules: dict[str, Sentence]) -> int:
        """Parts written without a space between them (``knee[s]``) form words together."""
        texts = [""]
        for item in run:
            texts = [a + b for a in texts for b in _strings(item, rules, 0)]
            if len(texts) > _MAX_GLUED_STRINGS:
                raise BackcoachError("a word with optional parts has too many spellings")
        ends = [self.expression(TextChunk(t), state, rules, {}, 0) for t in dict.fromkeys(texts)]
        return self._join(ends)

    def permutation(self, expr: Permutation, state: int, rules: dict[str, Sentence],
                    lists: dict[str, SlotList], depth: int) -> int:
        items = expr.items
        if len(items) > _MAX_PERMUTATION_ITEMS:
            raise BackcoachError(f"a permutation of {len(items)} parts is too large (at most {_MAX_PERMUTATION_ITEMS})")
        ends = []
        for order in itertools.permutations(items):
            end = state
            for item in order:
                end = self.expression(item, end, rules, lists, depth)
            ends.append(end)
        return self._join(ends)

    def list_reference(self, ref: ListReference, state: int, rules: dict[str, Sentence],
                       lists: dict[str, SlotList], depth: int) -> int:
        inline = ref.get_inline_range()
        slot_list = lists.get(ref.list_name)
        if inline is not None:
            slot_list = RangeSlotList(name=None, start=inline[0], stop=inline[1], step=inline[2])
        if slot_list is None:
            raise BackcoachError(f"unknown list {{{ref.list_name}}}")
        opened = self.graph.new_state()
        self.graph.add(state, opened, slot_open=ref.slot_name)
        if isinstance(slot_list, WildcardSlotList):
            join = self.graph.new_state()
            self.graph.add(opened, join, WILDCARD, slot=SlotMark(ref.slot_name, None, wildcard=True))
            return join
        ends = []
        phrases = self.graph.slot_phrases.setdefault(getattr(self, "_intent", ""), {})
        for text_in, value in _list_values(slot_list):
            plain = text_in if isinstance(text_in, str) else getattr(text_in, "original_text", None)
            if isinstance(plain, str) and words_of(plain):
                phrases.setdefault((ref.slot_name, tuple(words_of(plain))), value)
            chunk = TextChunk(text_in) if isinstance(text_in, str) else text_in
            ends.append((self.expression(chunk, opened, rules, lists, depth), value))
        join = self.graph.new_state()
        for end, value in ends:
            self.graph.add(end, join, slot=SlotMark(ref.slot_name, value))
        return join

    def _join(self, ends: list[int]) -> int:
        join = self.graph.new_state()
        for end in ends:
            self.graph.add(end, join)
        return join


def _list_values(slot_list: SlotList) -> list[tuple[Expression | str, object]]:
    if isinstance(slot_list, TextSlotList):
        out = []
        for value in slot_list.values:
            text_in = value.text_in
            shown = value.value_out
            if shown is None and isinstance(text_in, TextChunk):
                shown = text_in.original_text.strip()
            out.append((text_in, shown))
        return out
    if isinstance(slot_list, RangeSlotList):
        from .text import number_words

        numbers = list(slot_list.get_numbers())[:_MAX_RANGE_VALUES]
        return [(number_words(n), n) for n in numbers]
    raise BackcoachError(f"unsupported list type {type(slot_list).__name__}")


def _edge(expr: Expression, rules: dict[str, Sentence], last: bool, depth: int = 0) -> str | None:
    """The first (or last) character an expression can produce; None when it can be empty."""
    if depth > _MAX_RULE_DEPTH:
        return None
    if isinstance(expr, TextChunk):
        return (expr.text[-1] if last else expr.text[0]) if expr.text else None
    if isinstance(expr, ListReference):
        return "a"
    if isinstance(expr, RuleReference):
        rule = rules.get(expr.rule_name)
        return _edge(rule.expression, rules, last, depth + 1) if rule else None
    if isinstance(expr, Alternative) and not isinstance(expr, Permutation):
        for item in expr.items:
            edge = _edge(item, rules, last, depth)
            if edge is not None:
                return edge
        return None
    if isinstance(expr, Group):
        for item in reversed(expr.items) if last else expr.items:
            edge = _edge(item, rules, last, depth)
            if edge is not None:
                return edge
    return None


def _glued_runs(items: list[Expression], rules: dict[str, Sentence]) -> list[list[Expression]]:
    """Split a sequence into runs whose parts touch without white space (they share a word)."""
    runs: list[list[Expression]] = []
    for item in items:
        if runs and not _has_list(item) and not _has_list(runs[-1][-1]):
            before = _edge(runs[-1][-1], rules, last=True)
            after = _edge(item, rules, last=False)
            if before is not None and after is not None and not before.isspace() and not after.isspace():
                runs[-1].append(item)
                continue
        runs.append([item])
    return runs


def _has_list(expr: Expression) -> bool:
    if isinstance(expr, ListReference):
        return True
    if isinstance(expr, Group):
        return any(_has_list(item) for item in expr.items)
    return False


def _strings(expr: Expression, rules: dict[str, Sentence], depth: int) -> list[str]:
    """Every text a small list-free expression can produce (for words glued from parts)."""
    if depth > _MAX_RULE_DEPTH:
        raise BackcoachError("template rules nest too deeply (a rule may refer to itself)")
    if isinstance(expr, TextChunk):
        return [expr.text]
    if isinstance(expr, RuleReference):
        rule = rules.get(expr.rule_name)
        if rule is None:
            raise BackcoachError(f"unknown expansion rule <{expr.rule_name}>")
        return _strings(rule.expression, rules, depth + 1)
    if isinstance(expr, Permutation):
        return [" ".join(p) for order in itertools.permutations(expr.items)
                for p in itertools.product(*(_strings(i, rules, depth) for i in order))]
    if isinstance(expr, Alternative):
        out = [t for item in expr.items for t in _strings(item, rules, depth)]
        return out + ([""] if expr.is_optional else [])
    if isinstance(expr, Group):
        texts = [""]
        for item in expr.items:
            texts = [a + b for a in texts for b in _strings(item, rules, depth)]
            if len(texts) > _MAX_GLUED_STRINGS:
                raise BackcoachError("a word with optional parts has too many spellings")
        return texts
    raise BackcoachError(f"unsupported template part {type(expr).__name__}")


def build(intents: Intents) -> WordGraph:
    """Compile every intent's templates into one graph (a separate root per block of data)."""
    graph = WordGraph()
    builder = _Builder(intents, graph)
    for name, intent in intents.intents.items():
        for index, data in enumerate(intent.data):
            builder.add_intent_data(name, index, data)
    graph.compact = {(block.intent, block.data_index): smallest(graph, block) for block in graph.blocks}
    return graph


def random_sentence(graph: WordGraph, block: Block, rng) -> tuple[str, dict[str, object]]:
    """One sentence the block allows, by a random walk (each branch equally likely), with its slots."""
    state, words, slots = block.start, [], {}
    while state != block.end:
        arcs = graph.arcs_from[state]
        arc = arcs[rng.randrange(len(arcs))]
        if arc.word == WILDCARD:
            words.append("something")
        elif arc.word != EPS:
            words.append(arc.word)
        if arc.slot is not None:
            slots[arc.slot.name] = "something" if arc.slot.wildcard else arc.slot.value
        state = arc.target
    return " ".join(words), slots


def smallest(graph: WordGraph, block: Block) -> tuple[WordGraph, Block]:
    """`block` as the smallest graph that says exactly its word sequences, with no slot marks (so
    only for costs): a deterministic graph through the empty arcs, then states with the same future
    made one, so sentences that begin alike share states and so do those that end alike. States
    are in topological order, its end last. `graph` and `block` themselves when that would not be
    smaller."""
    arcs_from = graph.arcs_from
    closures: dict[int, frozenset[int]] = {}

    def closure(states: set[int]) -> frozenset[int]:
        seen, todo = set(states), list(states)
        while todo:
            for arc in arcs_from[todo.pop()]:
                if arc.word == EPS and arc.target not in seen:
                    seen.add(arc.target)
                    todo.append(arc.target)
        return frozenset(s for s in seen if s == block.end or any(a.word != EPS for a in arcs_from[s]))

    first = closure({block.start})
    subsets: dict[frozenset[int], int] = {first: 0}
    moves: list[dict[str, int]] = []
    finals: list[bool] = []
    order = [first]
    limit = 2 * (block.end - block.start + 1)
    while len(moves) < len(order):
        members = order[len(moves)]
        by_word: dict[str, set[int]] = {}
        for state in members:
            for arc in arcs_from[state]:
                if arc.word != EPS:
                    by_word.setdefault(arc.word, set()).add(arc.target)
        out: dict[str, int] = {}
        for word, targets in by_word.items():
            nxt = closures.get(min(targets)) if len(targets) == 1 else None
            if nxt is None:
                nxt = closure(targets)
                if len(targets) == 1:
                    closures[min(targets)] = nxt
            if nxt not in subsets:
                subsets[nxt] = len(order)
                order.append(nxt)
            out[word] = subsets[nxt]
        moves.append(out)
        finals.append(block.end in members)
        if len(order) > limit:
            return graph, block
    # Same future, same state: each state after every state it leads to (subsets only lead to
    # later-found subsets or back to none, as the block has no cycles).
    post: list[int] = []
    done: set[int] = set()
    for root in range(len(order)):
        if root in done:
            continue
        done.add(root)
        stack = [(root, iter(sorted(moves[root].values())))]
        while stack:
            state, pending = stack[-1]
            for target in pending:
                if target not in done:
                    done.add(target)
                    stack.append((target, iter(sorted(moves[target].values()))))
                    break
            else:
                stack.pop()
                post.append(state)
    same: dict[int, int] = {}
    by_future: dict[tuple, int] = {}
    for state in post:
        future = (finals[state], tuple(sorted((w, same[t]) for w, t in moves[state].items())))
        same[state] = by_future.setdefault(future, state)
    kept = [state for state in reversed(post) if same[state] == state]  # topological order
    if len(kept) + 1 >= block.end - block.start + 1:
        return graph, block
    number = {state: i for i, state in enumerate(kept)}
    small = WordGraph(arcs_from=[[] for _ in range(len(kept) + 1)])
    end = len(kept)
    for state in kept:
        here = number[state]
        for word, target in sorted(moves[state].items()):
            small.add(here, number[same[target]], word)
        if finals[state]:
            small.add(here, end)
    return small, Block(block.intent, block.data_index, number[same[0]], end)

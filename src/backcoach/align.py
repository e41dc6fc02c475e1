"""Fuzzy alignment of heard words to the closest sentence the templates allow.

A weighted edit distance between the words and the word graph: template words may be skipped
(deleted), heard words may be extra (inserted), and near-miss words substituted, each at a cost
that is low for small filler words, for words the recogniser marked unsure, and for template
words the speech model cannot produce at all. The graph is acyclic, so one pass over its states
in order, with a cost vector over input positions per state, finds the cheapest path.
"""

from __future__ import annotations

import copy

from dataclasses import dataclass, field

from .text import FILLER_WORDS, LEAD_IN_SHARE, SpellingIndex, lead_in_length, similarity
from .wordgraph import EPS, WILDCARD, Arc, Block, WordGraph, smallest

INF = float("inf")
UNKNOWN_WORD = "unk"
"""How Vosk's "[unk]" (speech outside the grammar) reads once normalized: never matches a template."""


@dataclass(frozen=True)
class Costs:
    """The price of each edit. Content words cost 1; filler words less."""

    content: float = 1.0
    filler: float = 0.35
    wildcard_word: float = 0.05
    unknown: float = 4.0
    """Speech outside the grammar: "how do i bend down [unk]" (a copper pipe) is no posture
    question. 1.5 -> 4 rejected 73 -> 78% of out-of-domain speech in a tuning set (clean) for
    0.2% of in-domain; an unseen set then showed 75 -> 79%, held-out 95.5 -> 96.7%."""
    substitute_scale: float = 2.0
    min_similarity: float = 0.6

    def weight(self, word: str) -> float:
        if word == UNKNOWN_WORD:
            return self.unknown
        return self.filler if word in FILLER_WORDS else self.content


@dataclass
class Alignment:
    """The cheapest path through one block of an intent's templates."""

    block: Block
    cost: float
    template_words: list[str] = field(default_factory=list)
    slots: dict[str, object] = field(default_factory=dict)
    matched: int = 0
    """How many heard words were matched exactly or nearly (not inserted)."""
    exact: int = 0
    """How many heard content words (not filler) were matched as themselves."""
    span: tuple[int, int] = (0, 0)
    """Which heard words (start, end) the path covers; the whole input unless aligned locally."""
    missing: list[str] = field(default_factory=list)
    """Slots the path passes through whose words were all skipped: never heard, so not reported."""


SILENT_SHARE = 0.5
"""What skipping a template word the speech model cannot say costs, as a share of its weight. Not
nothing: free, such words let templates fit sentences they were never meant for (2026-11-26, two
spoken tuning sets, 3 voices, clean and 12 dB: 0 -> 0.5 turned down 9 more of 960 out-of-domain
requests and understood 1 more question; 1.0 lost a question and a red flag)."""


class Aligner:
    """Aligns word sequences to a word graph; built once per set of intents."""

    def __init__(self, graph: WordGraph, costs: Costs | None = None,
                 silent_words: frozenset[str] = frozenset()) -> None:
        self.graph = graph
        self.costs = costs or Costs()
        self.silent_words = silent_words
        """Template words the recogniser cannot produce: skipping them costs little."""
        self.block_words = {
            (b.intent, b.data_index): {a.word for s in range(b.start, b.end + 1)
                                       for a in graph.arcs_from[s] if a.word not in (EPS, WILDCARD)}
            for b in graph.blocks
        }
        self.wild_blocks = frozenset((b.intent, b.data_index) for b in graph.blocks
                                     if any(a.word == WILDCARD for s in range(b.start, b.end + 1)
                                            for a in graph.arcs_from[s]))
        """Blocks with a wildcard slot, which takes any heard words at `Costs.wildcard_word` each."""
        self.vocabulary = sorted(set().union(*self.block_words.values())) if self.block_words else []
        self.spelling = SpellingIndex(self.vocabulary)
        self.delete_costs = {word: self.delete_cost(word) for word in self.vocabulary}
        """What skipping each template word costs (looked up in the search's innermost loop)."""
        self.word_ids = {word: i for i, word in enumerate(self.vocabulary)}
        """Template words numbered, for per-word tables as lists; empty and wildcard steps are
        numbered last (`len(vocabulary)`), with nothing to pay."""
        self.weights = [self.costs.weight(w) for w in self.vocabulary] + [0.0]
        self.delete_list = [self.delete_costs[w] for w in self.vocabulary] + [0.0]
        self._near_cache: dict[str, dict[str, float]] = {}
        self._subs_key: tuple | None = None
        self._subs: dict[str, list[float]] = {}
        self._heard_at: dict[str, list[int]] = {}
        self._heaviest: dict[tuple[str, int], float] = {}
        self._through: dict[tuple[str, int], list[float]] = {}
        self._slotted: dict[tuple[str, int], bool] = {}
        self._to_go: dict[tuple[str, int], list[float]] = {}
        self._skips: list[float] = []
        self._arc_lists: dict[tuple[str, int], tuple[int, list[tuple[int, int, int]]]] = {}

    def near(self, heard: str) -> dict[str, float]:
        """Template words that look like a heard word (similarity at least `min_similarity`)."""
        found = self._near_cache.get(heard)
        if found is None:
            least = self.costs.min_similarity
            found = {} if heard == UNKNOWN_WORD else self.spelling.near(heard, least)
            if len(self._near_cache) > 20_000:
                self._near_cache.clear()
            self._near_cache[heard] = found
        return found

    def hearing_every_word(self) -> Aligner:
        """This aligner with no silent words (sharing its spelling index and caches): for
        searches that must not match a phrase by skipping words nobody can say."""
        if not self.silent_words:
            return self
        other = copy.copy(self)
        other.silent_words = frozenset()
        other.delete_costs = {word: other.delete_cost(word) for word in self.vocabulary}
        other.delete_list = [other.delete_costs[w] for w in self.vocabulary] + [0.0]
        other._subs_key = None  # its per-input tables hold its own delete costs
        return other

    def heaviest(self, block: Block) -> float:
        """The weight of the block's heaviest path: what skipping all of its longest sentence costs."""
        key = (block.intent, block.data_index)
        found = self._heaviest.get(key)
        if found is None:
            best = {block.start: 0.0}
            for state in range(block.start, block.end + 1):  # states are in topological order
                here = best.get(state)
                if here is None:
                    continue
                for arc in self.graph.arcs_from[state]:
                    step = 0.0 if arc.word in (EPS, WILDCARD) else self.costs.weight(arc.word)
                    if here + step > best.get(arc.target, -1.0):
                        best[arc.target] = here + step
            found = self._heaviest[key] = best.get(block.end, 0.0)
        return found

    def through_weights(self, block: Block) -> list[float]:
        """For each state of the block, the weight of the heaviest path through it."""
        key = (block.intent, block.data_index)
        found = self._through.get(key)
        if found is None:
            size = block.end - block.start + 1
            before, after = [-1.0] * size, [-1.0] * size
            before[0], after[-1] = 0.0, 0.0
            arcs = [(s - block.start, a.target - block.start,
                     0.0 if a.word in (EPS, WILDCARD) else self.costs.weight(a.word))
                    for s in range(block.start, block.end + 1) for a in self.graph.arcs_from[s]]
            for source, target, step in arcs:  # states (and so arcs) are in topological order
                if before[source] >= 0:
                    before[target] = max(before[target], before[source] + step)
            for source, target, step in reversed(arcs):
                if after[target] >= 0:
                    after[source] = max(after[source], after[target] + step)
            found = self._through[key] = [b + a if b >= 0 and a >= 0 else -1.0 for b, a in zip(before, after)]
        return found

    def delete_cost(self, word: str) -> float:
        return SILENT_SHARE * self.costs.weight(word) if word in self.silent_words else self.costs.weight(word)

    def insert_costs(self, words: list[str], confidences: list[float] | None) -> list[float]:
        """What each heard word costs to leave unmatched: less for filler, unsure words and the
        lead-in a request opens with ("i was wondering ...")."""
        out = []
        lead = lead_in_length(words)
        for j, word in enumerate(words):
            conf = 1.0 if confidences is None else max(0.2, min(1.0, confidences[j]))
            share = LEAD_IN_SHARE if j < lead else 1.0
            out.append(self.costs.weight(word) * conf * share)
        return out

    def lower_bound(self, block: Block, words: list[str], ins: list[float]) -> float:
        """A cheap lower bound of the alignment cost: the heard words nothing in the block
        resembles, which can only be inserted, and the template words no heard word resembles on
        the path that has the fewest of them, which can only be skipped."""
        self._prepare(words, ins)
        return self.unmatchable(block, words, ins)[0] + self._skips_to_go(block)[0]

    def _prepare(self, words: list[str], ins: list[float]) -> None:
        """Per-input tables shared by every block's search (kept until another input comes)."""
        key = (tuple(words), tuple(ins))
        if key != self._subs_key:
            self._subs_key, self._subs = key, {}
            self._heard_at = {}  # template word -> positions of heard words that may stand for it
            self._to_go = {}
            for j, heard in enumerate(words):
                for word in (heard, *self.near(heard)):
                    at = self._heard_at.setdefault(word, [])
                    if not at or at[-1] != j:
                        at.append(j)
            self._skips = list(self.delete_list)  # what each template word costs if the path has it
            ids = self.word_ids
            for word in self._heard_at:
                if word in ids:
                    self._skips[ids[word]] = 0.0

    def unmatchable(self, block: Block, words: list[str], ins: list[float]) -> list[float]:
        """For each position, what the heard words from there on cost at least: those nothing in
        the block resembles can only be inserted (or taken by a wildcard, if the block has one)."""
        key = (block.intent, block.data_index)
        vocab = self.block_words[key]
        floor = self.costs.wildcard_word if key in self.wild_blocks else INF
        tail = [0.0] * (len(words) + 1)
        for j in range(len(words) - 1, -1, -1):
            word = words[j]
            alone = word not in vocab and vocab.isdisjoint(self.near(word))
            tail[j] = tail[j + 1] + (min(ins[j], floor) if alone else 0.0)
        return tail

    def align(self, block: Block, words: list[str], ins: list[float], *, local: bool = False,
              trace: bool = False, bound: float = INF,
              state_bounds: list[float] | None = None) -> Alignment | None:
        """The cheapest alignment of `words` to `block` (None if it costs more than `bound`).

        local: heard words before and after the matched part are free (find a phrase inside a
        longer sentence, as red flags need). state_bounds: a tighter bound per state of the block
        (paths costing more there are dropped), as `through_weights` gives. Without them, the search
        runs in the block's smallest graph when only the cost is wanted, or the words of a block
        that reads no slot (of several paths costing the same, it may then trace another).
        """
        n = len(words)
        graph, costs = self.graph, self.costs
        asked = block
        if state_bounds is None and (not trace or not self.has_slots(block)):
            # Only the cost (and the words) is wanted: any graph of the same sentences gives it,
            # the smallest soonest.
            graph, block = self.compact(block)
        self._prepare(words, ins)
        sub_cache, delete_costs = self._subs, self.delete_costs
        rows: dict[int, list[float]] = {}
        back: dict[int, list[tuple[int, int, Arc | None]]] = {}
        start_row = [0.0] * (n + 1) if local else [0.0] + [INF] * n
        rows[block.start] = start_row
        if trace:
            back[block.start] = [(-1, -1, None)] * (n + 1)
        # Positions from which even a perfect rest of the path would cost more than `bound` are
        # dropped (the words nothing in the block resembles must still be paid for).
        tail = [0.0] * (n + 1) if local or bound == INF else self.unmatchable(block, words, ins)
        # ... and so must the template words no heard word is or nearly is, on the rest of the path.
        to_go = self._skips_to_go(asked) if bound < INF and block is not asked else None
        if to_go is not None and tail[0] + to_go[0] > bound:
            return None
        for state in range(block.start, block.end + 1):
            row = rows.pop(state, None)
            if row is None:
                continue
            brow = back.get(state) if trace else None
            if brow is None:
                before = row[0]
                for i, step in enumerate(ins, 1):  # extra heard words, staying in this state
                    before += step
                    if before < row[i]:
                        row[i] = before
                    else:
                        before = row[i]
            else:
                for i in range(1, n + 1):
                    cand = row[i - 1] + ins[i - 1]
                    if cand < row[i]:
                        row[i] = cand
                        brow[i] = (state, i - 1, None)
            if state == block.end:
                return self._finish(asked, row, back, words, local, trace, bound, block.end)
            limit = bound if state_bounds is None else min(bound, state_bounds[state - block.start])
            if to_go is not None:
                limit -= to_go[state - block.start]
            if tail[0]:
                active = [i for i, (cost, rest) in enumerate(zip(row, tail)) if cost + rest <= limit]
            else:  # nothing to add (a local search, or no bound)
                active = [i for i, cost in enumerate(row) if cost <= limit]
            if not active:
                continue
            for arc in graph.arcs_from[state]:
                target = arc.target
                trow = rows.get(target)
                if trow is None:
                    trow = rows[target] = [INF] * (n + 1)
                    if trace:
                        back[target] = [(-1, -1, None)] * (n + 1)
                tback = back.get(target) if trace else None
                word = arc.word
                if word == EPS:
                    for i in active:
                        if row[i] < trow[i]:
                            trow[i] = row[i]
                            if tback is not None:
                                tback[i] = (state, i, arc)
                elif word == WILDCARD:
                    for i in active:
                        if i == n:
                            continue
                        base = row[i]
                        for k in range(i + 1, n + 1):
                            cand = base + costs.wildcard_word * (k - i)
                            if cand < trow[k]:
                                trow[k] = cand
                                if tback is not None:
                                    tback[k] = (state, i, arc)
                else:
                    subs = sub_cache.get(word)
                    if subs is None:
                        subs = sub_cache[word] = self._substitutions(word, words, ins)
                    dcost = delete_costs[word]
                    for i in active:
                        base = row[i]
                        cand = base + dcost
                        if cand < trow[i]:
                            trow[i] = cand
                            if tback is not None:
                                tback[i] = (state, i, arc)
                    for i, sub in subs:  # heard words like this one (others: delete, insert)
                        base = row[i]
                        if base + tail[i] > limit:
                            continue
                        cand = base + sub
                        if cand < trow[i + 1]:
                            trow[i + 1] = cand
                            if tback is not None:
                                tback[i + 1] = (state, i, arc)
        return None

    def skip_costs(self, words: list[str], ins: list[float]) -> list[float]:
        """Per template word (by `word_ids`), what a path with it costs at least for it given these
        words: nothing if a heard word is it or nearly is, else skipping it."""
        self._prepare(words, ins)
        return self._skips

    def cheapest_path(self, block: Block, word_cost: list[float]) -> float:
        """The least sum of `word_cost` (by `word_ids`; costs may be negative) along any sentence
        of the block, over its smallest graph."""
        size, arcs = self._arc_list(block)
        best = [INF] * size
        best[0] = 0.0
        for source, target, word in arcs:  # in topological order
            here = best[source] + word_cost[word]
            if here < best[target]:
                best[target] = here
        return best[-1]

    def _arc_list(self, block: Block) -> tuple[int, list[tuple[int, int, int]]]:
        """The number of states and the (source, target, word id) arcs of the block's smallest
        graph, in order, its states numbered from 0."""
        key = (block.intent, block.data_index)
        found = self._arc_lists.get(key)
        if found is None:
            graph, small = self.compact(block)
            nothing = len(self.vocabulary)
            found = self._arc_lists[key] = (small.end - small.start + 1, [
                (s - small.start, a.target - small.start, self.word_ids.get(a.word, nothing))
                for s in range(small.start, small.end + 1) for a in graph.arcs_from[s]])
        return found

    def _skips_to_go(self, block: Block) -> list[float]:
        """For each state of the block's smallest graph, what the rest of any path from it costs at
        least in template words it must skip (no heard word is them or near them), for the input
        `_prepare` was last given."""
        key = (block.intent, block.data_index)
        found = self._to_go.get(key)
        if found is None:
            skips = self._skips
            size, arcs = self._arc_list(block)
            found = [INF] * size
            found[-1] = 0.0
            for source, target, word in reversed(arcs):  # targets are done before their sources
                rest = found[target] + skips[word]
                if rest < found[source]:
                    found[source] = rest
            self._to_go[key] = found
        return found

    def has_slots(self, block: Block) -> bool:
        """Whether any path through the block reads a slot (which only the block itself marks)."""
        key = (block.intent, block.data_index)
        found = self._slotted.get(key)
        if found is None:
            found = self._slotted[key] = any(
                a.slot is not None or a.slot_open for s in range(block.start, block.end + 1)
                for a in self.graph.arcs_from[s])
        return found

    def compact(self, block: Block) -> tuple[WordGraph, Block]:
        """The smallest graph of the block's word sequences (`wordgraph.smallest`), for searches
        that want only a cost: backcoach's blocks have about a quarter of the states, and the
        understanding step takes about 0.6 of the time it did."""
        key = (block.intent, block.data_index)
        found = self.graph.compact.get(key)
        if found is None:
            found = self.graph.compact[key] = smallest(self.graph, block)
        return found

    def _substitutions(self, word: str, words: list[str], ins: list[float]) -> list[tuple[int, float]]:
        """(position, cost) of heard words that may stand for a template word: the same word or a
        near miss cheaper than skipping the template word and inserting the heard one, which the
        search does anyway (so other positions need no substitution step at all)."""
        costs = self.costs
        dcost = self.delete_costs[word]
        out = []
        for j in self._heard_at.get(word, ()):  # no other heard word is it or near it
            heard = words[j]
            if heard == word:
                out.append((j, 0.0))
                continue
            sim = self.near(heard).get(word, 0.0)
            if sim >= costs.min_similarity:
                scale = min(costs.weight(word), costs.weight(heard))
                replace = costs.substitute_scale * (1.0 - sim) * max(scale, 0.5)
                if replace < dcost + ins[j]:
                    out.append((j, replace))
        return out

    def _finish(self, block: Block, row: list[float], back: dict, words: list[str],
                local: bool, trace: bool, bound: float, end_state: int) -> Alignment | None:
        if local:
            end_i = min(range(len(row)), key=lambda i: row[i])
        else:
            end_i = len(row) - 1
        cost = row[end_i]
        if cost == INF or cost > bound:
            return None
        result = Alignment(block=block, cost=cost, span=(0, end_i))
        if not trace:
            return result
        state, i = end_state, end_i
        path: list[tuple[Arc | None, int, int]] = []
        while state != -1:
            prev_state, prev_i, arc = back[state][i]
            if prev_state == -1:
                break
            path.append((arc, prev_i, i))
            state, i = prev_state, prev_i
        path.reverse()
        result.span = (i, end_i)
        open_at: dict[str, int] = {}
        heard_in: dict[str, bool] = {}
        for arc, i0, i1 in path:
            if arc is None:
                continue
            if arc.slot_open:
                open_at[arc.slot_open] = i1
                heard_in[arc.slot_open] = False
            if arc.word not in (EPS, WILDCARD):
                result.template_words.append(arc.word)
                heard = i1 > i0 and (words[i0] == arc.word
                                     or similarity(words[i0], arc.word) >= self.costs.min_similarity)
                if heard or arc.word in self.silent_words:
                    for name in heard_in:
                        heard_in[name] = True
                if heard:
                    result.matched += 1
                    if words[i0] == arc.word and self.costs.weight(arc.word) >= 1.0:
                        result.exact += 1
            if arc.word == WILDCARD:
                result.template_words.extend(words[i0:i1])
                result.matched += i1 - i0
                for name in heard_in:
                    heard_in[name] = True
            if arc.slot is not None:
                value = arc.slot.value
                if arc.slot.wildcard:
                    value = " ".join(words[open_at.get(arc.slot.name, i0):i1])
                if heard_in.pop(arc.slot.name, True):
                    result.slots[arc.slot.name] = value
                else:
                    result.missing.append(arc.slot.name)
        return result


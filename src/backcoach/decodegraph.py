"""The skill's own decoding graph: Vosk hears only sentences the templates allow, or "[unk]".

Vosk turns a runtime phrase list into a bigram model, so noise can walk from one sentence into
another ("eight ounce americano" out of "eight ounce drip coffee"). A lookahead Vosk model (one
with graph/HCLr.fst and graph/Gr.fst, like the small English model) composes its HCLr with
whatever Gr.fst lies beside it when a recogniser starts. So we write our own Gr.fst from the word
graph: every path is a whole sentence of the skill (or a few joined in one breath), each choice
point splits its share evenly, and garbage paths take speech that is not a template sentence: one
of "[unk]" words, and one of free words (the language's commonest, as counted by the model's own
language model, and the skill's words, each of which the words after it in the templates follow
cheaply), so out-of-domain speech and phrasings the templates lack are heard as what was said. A
sentence may be left part-way for the free words too (never at a slot value), so speech that only
starts like a template is not forced on to that template's end. Sentences that begin alike are
then merged (same words, same best costs), so the decoder follows one path where it followed one
per sentence. The new Gr.fst sits in a cached folder of symlinks to the model.
"""

from __future__ import annotations

import heapq
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path

from .cache import cache_dir, key_of
from .fstio import Fst, SymbolTable, read_output_symbols, read_unigram_costs, write_vector_fst
from .intents import RED_FLAG
from .wordgraph import EPS, WILDCARD, WordGraph

log = logging.getLogger("backcoach")

GARBAGE_ENTRY = 1.0
"""Cost (-log odds) of starting on the garbage path instead of one of the skill's sentences."""
GARBAGE_WORD = 1.0
"""Cost of each further "[unk]" on it. Cheaper garbage (0 and 0.5) rejected more out-of-domain
speech but heard one voice's "..., and i can't control my bladder" as "[unk]"."""
CHOICE_SCALE = 0.5
"""How much the templates' choices weigh against the sound. At full weight a slot with twenty
values made each cost three more than a fixed word ("how should i sit" was heard as "how should i
say"), and a red flag after another question lost to "[unk]"."""
NEXT_SENTENCE = 6.0
"""Cost of going on to another sentence in one breath (at 3, "what is the sciatic nerve" was
heard as "what is next" and "i have taken a fall"; at 4, even with free words to fall back on, as
"what is next i what it know of", though more red flags said after a request were caught)."""
CONNECTORS = ("and", "but", "also", "plus", "so", "then")
"""Words that may join two sentences ("... and i can't control my bladder")."""
COMMON_WORDS = 1000
"""How many of the language's commonest words (by the model's own unigram counts) the garbage path
may say. With real words to fall back on, "call my mother" is heard as itself instead of being
forced into the closest sentence ("i've landed on my backside"): out-of-domain speech accepted on
backcoach's skill fell from 9/16/30% to 3/9/14% (clean/12/6 dB), and phrasings the templates lack
are heard word for word, for the understanding step to align."""
FREE_ENTRY = 1.0
"""Cost of starting on the free-word path instead of a sentence or "[unk]"."""
SKILL_WORD_COST = 8.0
"""Most a skill word costs on the garbage path (a typical word among the commonest thousand), so
"sciatic" is heard as "sigh attic" rather than "site take" in a sentence the templates lack."""
PAIR_STEP = 1.0
"""On the free-word path, a skill word may be followed by a word that follows it somewhere in the
templates ("sciatic" -> "nerve") for this plus the log of how many words can follow it, instead of
any word at its unigram cost: a phrasing the templates lack is heard in the templates' pieces.
Spoken phrasings written without seeing the templates (3 voices): questions understood 87% -> 91%,
out-of-domain turned down 95% -> 96%, red flags caught 96% -> 97.5%. At 0 or 0.5 those gained a
little more, but noisy in-template speech was heard as pieces more often (drink skill at 6 dB 90%
-> 87.5-88.5%, against 89% here); a dearer free path (entry 2.5 or 3) turned down less."""
MID_SENTENCE_EXIT: float | None = 4.0
"""Cost of leaving a sentence part-way for the free words, instead of being forced on to its end:
"my back is bad and my bum doesn't seem to hold anything in" was heard as "my back is bad as i bend
the knee ..." and "how do i grow tomatoes" as "how do i get medical help". Fresh phrasings spoken by
3 voices (clean / 12 dB): questions understood 89.8/78.7% -> 92.9/84.8%, out-of-domain turned down
82.7/81.5 -> 87.9/85.4%, red flags 86.0/84.0 -> 93.3/88.7%. At 2 a little more of each; at 6 less.
The price is in loud noise, where a drowned end of an order is heard as free words, which is why a
slot value is never left (see `_exits`); and recognition takes about a tenth longer. None turns it
off."""
RED_FLAG_WEIGHT = 4
"""Red-flag sentences start four times as likely as any other: in doubt, hear the danger sign. Four
spoken tuning sets (3 voices, clean / 12 dB babble), decoded at 2 and at 4: red flags caught 1,091
-> 1,096 / 1,004 -> 1,025 of 1,194 ("lowkey feel like i've got the flu ..." heard as itself); the
cost, questions 1,033 -> 1,032 / 915 -> 910 of 1,134, out-of-domain requests turned down 439 -> 441
/ 420 -> 412 of 480, harmless look-alikes left alone 328 -> 323 / 360 -> 348 of 480. Held-out set 6,
measured both ways after: red flags +1 / +1 of 147, questions +1 / +3 of 567. At 8, against 4:
red flags +5 / +9 of 1,194 (all on the red-flag sets), questions -5 / -13 of 1,134 on the phrasing
sets and -8 of 567 at 12 dB on held-out set 6."""
UNKNOWN_WORDS = ("[unk]", "<unk>")
GRAPH_FORMAT = "3"
"""Bump when the way the graph is written changes; with the costs above it keys the cached graph,
so a graph built by an older version is never reused."""
_KEEP_BUILT = 8
"""How many built graphs to keep in the cache (one per skill and model, each mostly symbol table)."""


def supports_own_graph(model_dir: Path) -> bool:
    """A lookahead model (HCLr.fst + Gr.fst) takes our Gr.fst; a static HCLG.fst model cannot."""
    graph = Path(model_dir) / "graph"
    return (graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file() and not (graph / "HCLG.fst").exists()


def decoding_fst(graph: WordGraph, ids: dict[str, int], spoken: dict[str, list[str]],
                 unigrams: dict[int, float] | None = None, merge: bool = True) -> Fst:
    """The word graph as an acceptor over the model's word numbers, with garbage paths.

    `spoken` maps a template word to the words the model hears for it (a sound-alike, or nothing
    for a word it cannot hear: that arc becomes empty). `unigrams` (word number -> -log p, from the
    model's language model) adds a path of free words: the commonest ones and the skill's own.
    `merge` makes the sentences share their common beginnings (`_merge_sentences`); without it the
    graph is as built, one path per template, which is easier to read.
    """
    fst = Fst()
    offset = 1  # state 0 starts everything; word-graph state s becomes s + offset
    for _ in range(graph.num_states):
        fst.new_state()
    weights = [RED_FLAG_WEIGHT if block.intent == RED_FLAG else 1 for block in graph.blocks]
    for block, weight in zip(graph.blocks, weights):
        fst.add(fst.start, 0, math.log(sum(weights) / weight), block.start + offset)
        fst.finals[block.end + offset] = 0.0
    unknown = next((ids[w] for w in UNKNOWN_WORDS if w in ids), None)
    for state, arcs in enumerate(graph.arcs_from):
        if not arcs:
            continue
        share = CHOICE_SCALE * math.log(len(arcs))  # every way on is equally likely
        for arc in arcs:
            source, target = state + offset, arc.target + offset
            if arc.word == WILDCARD:
                if unknown is None:
                    fst.add(source, 0, share, target)
                    continue
                loop = fst.new_state()
                fst.add(source, unknown, share, loop)
                fst.add(loop, unknown, GARBAGE_WORD, loop)
                fst.add(loop, 0, 0.0, target)
                continue
            words = [] if arc.word == EPS else [w for w in spoken.get(arc.word, [arc.word]) if w in ids]
            cost = share
            for i, word in enumerate(words):
                nxt = target if i == len(words) - 1 else fst.new_state()
                fst.add(source, ids[word], cost, nxt)
                source, cost = nxt, 0.0
            if not words:
                fst.add(source, 0, cost, target)
    sentences_end = len(fst.arcs_from)  # states 1 .. sentences_end - 1 hold the sentences
    ends = [block.end + offset for block in graph.blocks]
    if unknown is not None:
        garbage = fst.new_state()
        fst.add(fst.start, unknown, GARBAGE_ENTRY, garbage)
        fst.add(garbage, unknown, GARBAGE_WORD, garbage)
        fst.finals[garbage] = 0.0
        ends.append(garbage)
    if unigrams:
        begin, end = _add_free_words(fst, unigrams, ids, spoken, _word_pairs(graph, spoken, ids))
        ends.append(end)
        if MID_SENTENCE_EXIT is not None:
            for state in _exits(graph):
                fst.add(state + offset, 0, MID_SENTENCE_EXIT, begin)
    # One breath may hold two requests, or a sentence after words that are not for us ("what
    # stretches help, and I can't control my bladder"): every end may lead back to the start.
    # Blocks that can be said with no word at all get no way back (it would loop on nothing).
    connectors = [ids[w] for w in CONNECTORS if w in ids]
    empty = _silent_ends(fst)
    for end in ends:
        if end in empty:
            continue
        fst.add(end, 0, NEXT_SENTENCE, fst.start)
        for word in connectors:
            fst.add(end, word, NEXT_SENTENCE, fst.start)
    return _merge_sentences(fst, range(1, sentences_end)) if merge else fst


MERGE_LIMIT = 2
"""Merging can in principle multiply states (each set of sentences a prefix may still be in gets
one); past this many times the sentences' own states, they are written unmerged."""


def _merge_sentences(fst: Fst, part: range) -> Fst:
    """The same weighted language with `part` (the sentences: acyclic, entered only from the start)
    made deterministic: sentences that begin alike share their states, so the decoder keeps one
    token for "my back" where it kept one per sentence (recognition about a quarter faster on
    backcoach's skill). Every word string keeps its best cost. What leaves the part (to the free
    words, back to the start) leaves through one shared state per kind of leaving."""
    inside = set(part)
    out = Fst()
    new_of: dict[int, int] = {fst.start: out.start}
    for state in range(len(fst.arcs_from)):
        if state not in inside and state != fst.start:
            new_of[state] = out.new_state()
    for old, new in new_of.items():
        if old in fst.finals:
            out.finals[new] = fst.finals[old]
        if old != fst.start:
            for label, cost, target in fst.arcs_from[old]:
                out.add(new, label, cost, new_of[target])  # nothing outside enters the part
    empty: dict[int, list[tuple[float, int]]] = {}
    words: dict[int, list[tuple[int, float, int]]] = {}
    hub_of: dict[int, int] = {}  # a state with a way out -> the shared state that carries it
    hubs: dict[tuple, int] = {}
    for state in part:
        leaving = []
        for label, cost, target in fst.arcs_from[state]:
            if target not in inside:
                leaving.append((label, cost, new_of[target]))
            elif label == 0:
                empty.setdefault(state, []).append((cost, target))
            else:
                words.setdefault(state, []).append((label, cost, target))
        if leaving or state in fst.finals:
            kind = (fst.finals.get(state), tuple(sorted(leaving)))
            if kind not in hubs:
                hubs[kind] = hub = out.new_state()
                if state in fst.finals:
                    out.finals[hub] = fst.finals[state]
                for label, cost, target in kind[1]:
                    out.add(hub, label, cost, target)
            hub_of[state] = hubs[kind]
    reach = _empty_closures(part, empty, lambda state: state in words or state in hub_of)
    made: dict[tuple, int] = {}
    todo: list[tuple[int, dict[int, float]]] = []

    alone: dict[int, tuple[int, float]] = {}  # a subset of one state (the commonest) -> merged

    def state_for(members: dict[int, float]) -> tuple[int, float]:
        if len(members) == 1:
            (state, cost), = members.items()
            if state not in alone:
                alone[state] = state_for_many({state: 0.0})
            here, low = alone[state]
            return here, cost + low
        return state_for_many(members)

    def state_for_many(members: dict[int, float]) -> tuple[int, float]:
        kept: dict[int, float] = {}  # every state reached by empty arcs that does something
        for state, cost in members.items():
            for target, step in reach[state]:
                if cost + step < kept.get(target, math.inf):
                    kept[target] = cost + step
        low = min(kept.values())
        key = tuple(sorted((s, round(c - low, 4)) for s, c in kept.items()))
        if key not in made:
            made[key] = out.new_state()
            todo.append((made[key], {s: c - low for s, c in kept.items()}))
        return made[key], low

    entry: dict[int, float] = {}
    for label, cost, target in fst.arcs_from[fst.start]:
        if label == 0 and target in inside:
            entry[target] = min(entry.get(target, math.inf), cost)
        else:
            out.add(out.start, label, cost, new_of[target])
    if entry:
        first, low = state_for(entry)
        out.add(out.start, 0, low, first)
    while todo:
        if len(made) > MERGE_LIMIT * len(part) + 100:
            log.debug("merging the sentences would grow the graph; writing them unmerged")
            return fst
        here, members = todo.pop()
        moves: dict[int, dict[int, float]] = {}
        leave: dict[int, float] = {}
        for state, residual in members.items():
            if state in hub_of:
                hub = hub_of[state]
                leave[hub] = min(leave.get(hub, math.inf), residual)
            for label, cost, target in words.get(state, ()):
                group = moves.setdefault(label, {})
                group[target] = min(group.get(target, math.inf), residual + cost)
        for hub, cost in leave.items():
            out.add(here, 0, cost, hub)
            if hub in out.finals:
                out.finals[here] = min(out.finals.get(here, math.inf), cost + out.finals[hub])
        for label, group in moves.items():
            nxt, low = state_for(group)
            out.add(here, label, low, nxt)
    return _share_endings(out, len(out.arcs_from) - len(made))


def _empty_closures(part: range, empty: dict[int, list[tuple[float, int]]],
                    useful) -> dict[int, list[tuple[int, float]]]:
    """For each state of `part`, the `useful` states its empty arcs reach (itself too), each at
    the cheapest cost of getting there."""
    reach: dict[int, list[tuple[int, float]]] = {}
    for root in part:
        stack = [root]
        while stack:  # depth first, each state after the states its empty arcs lead to
            state = stack[-1]
            if state in reach:
                stack.pop()
                continue
            waiting = [target for _step, target in empty.get(state, ()) if target not in reach]
            if waiting:
                stack.extend(waiting)
                continue
            stack.pop()
            best: dict[int, float] = {state: 0.0} if useful(state) else {}
            for step, target in empty.get(state, ()):
                for further, cost in reach[target]:
                    if step + cost < best.get(further, math.inf):
                        best[further] = step + cost
            reach[state] = list(best.items())
    return reach


def _share_endings(fst: Fst, first: int) -> Fst:
    """`fst` with the states from `first` on (acyclic among themselves) that have the same future
    made one: merged sentences that end alike ("... when i bend my knee") end on the same states,
    as they did before merging, so the decoder's tokens meet again there."""
    order: list[int] = []  # every state from `first` on, after all the states it leads to
    seen: set[int] = set()
    for root in range(first, len(fst.arcs_from)):
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(fst.arcs_from[root]))]
        while stack:
            state, arcs = stack[-1]
            for _label, _cost, target in arcs:
                if target >= first and target not in seen:
                    seen.add(target)
                    stack.append((target, iter(fst.arcs_from[target])))
                    break
            else:
                stack.pop()
                order.append(state)
    same: dict[int, int] = {}
    by_future: dict[tuple, int] = {}
    for state in order:
        future = (fst.finals.get(state), tuple(sorted(
            (label, round(cost, 4), same.get(target, target)) for label, cost, target in fst.arcs_from[state])))
        same[state] = by_future.setdefault(future, state)
    kept = [state for state in range(len(fst.arcs_from)) if same.get(state, state) == state]
    number = {state: i for i, state in enumerate(kept)}
    out = Fst(start=number[fst.start], arcs_from=[[] for _ in kept])
    for state in kept:
        here = number[state]
        out.arcs_from[here] = [(label, cost, number[same.get(target, target)])
                               for label, cost, target in fst.arcs_from[state]]
        if state in fst.finals:
            out.finals[here] = fst.finals[state]
    return out


def _exits(graph: WordGraph) -> list[int]:
    """States a sentence may be left from for the free words: after any of its words (its last
    too, so words after a whole sentence cost less than a second sentence), but not inside a slot
    value or where one begins. A list's values are closed, so speech there is most likely one of
    them: leaving there mostly meant noise had drowned the value (drink skill at 6 dB, 200 orders:
    90.0% with no exits, 87.5% with exits everywhere, 89.0% with these)."""
    n = graph.num_states
    ahead = [False] * n  # a slot value starts here, or after nothing but empty arcs
    for state in range(n - 1, -1, -1):  # states are in topological order
        ahead[state] = any(arc.slot_open is not None
                           or (arc.word == EPS and arc.slot is None and ahead[arc.target])
                           for arc in graph.arcs_from[state])
    inside = [False] * n  # between a slot's opening and its value's end
    for state in range(n):
        for arc in graph.arcs_from[state]:
            if arc.slot is None and (arc.slot_open is not None or inside[state]):
                inside[arc.target] = True
    after_word = {arc.target for arcs in graph.arcs_from for arc in arcs if arc.word not in (EPS, WILDCARD)}
    return sorted(s for s in after_word if not ahead[s] and not inside[s])


def _add_free_words(fst: Fst, unigrams: dict[int, float], ids: dict[str, int],
                    spoken: dict[str, list[str]],
                    pairs: dict[tuple[int, ...], set[tuple[int, ...]]] | None = None) -> tuple[int, int]:
    """A loop of free words from the start: the commonest (at their share of the commonest's
    probability) and each skill word as the model hears it, which the words that follow it in the
    templates (`pairs`, as the model hears both) may follow cheaply. Returns the loop's first and
    end states."""
    skip = {ids[w] for w in (*UNKNOWN_WORDS, "<s>", "</s>", "<eps>", "#0") if w in ids}
    common = heapq.nsmallest(COMMON_WORDS, ((cost, label) for label, cost in unigrams.items()
                                            if label not in skip and label > 0))
    total = sum(math.exp(-cost) for cost, _ in common)
    loop: dict[tuple[int, ...], float] = {(label,): cost + math.log(total) for cost, label in common}
    skill: set[tuple[int, ...]] = set()
    for heard in spoken.values():
        labels = tuple(ids[w] for w in heard if w in ids)
        if labels and len(labels) == len(heard):
            own = unigrams.get(labels[0], SKILL_WORD_COST) if len(labels) == 1 else SKILL_WORD_COST
            loop[labels] = min(loop.get(labels, math.inf), own, SKILL_WORD_COST)
            skill.add(labels)
    begin, end = fst.new_state(), fst.new_state()
    fst.add(fst.start, 0, FREE_ENTRY, begin)
    after = {labels: fst.new_state() for labels in sorted(skill)}  # just heard this skill word
    for state in after.values():
        fst.add(state, 0, 0.0, end)
    for labels, cost in sorted(loop.items()):
        _add_chain(fst, begin, labels, cost, after.get(labels, end))
    for labels, following in sorted((pairs or {}).items()):
        source = after.get(labels)
        following = sorted(f for f in following if f in after)
        if source is None or not following:
            continue
        cost = PAIR_STEP + math.log(len(following))
        for nxt in following:
            _add_chain(fst, source, nxt, cost, after[nxt])
    fst.add(end, 0, 0.0, begin)
    fst.finals[end] = 0.0
    return begin, end


def _add_chain(fst: Fst, source: int, labels: tuple[int, ...], cost: float, target: int) -> None:
    """Words one after the other from `source` to `target`, the cost on the first."""
    for i, label in enumerate(labels):
        nxt = target if i == len(labels) - 1 else fst.new_state()
        fst.add(source, label, cost if i == 0 else 0.0, nxt)
        source = nxt


def _word_pairs(graph: WordGraph, spoken: dict[str, list[str]],
                ids: dict[str, int]) -> dict[tuple[int, ...], set[tuple[int, ...]]]:
    """Which word may follow which in the templates, each as the model hears it (words it cannot
    hear, empty arcs and wildcards are looked through)."""
    known: dict[str, tuple[int, ...]] = {EPS: (), WILDCARD: ()}

    def heard(word: str) -> tuple[int, ...]:
        found = known.get(word)
        if found is None:
            words = spoken.get(word, [word])
            found = known[word] = tuple(ids[w] for w in words) if all(w in ids for w in words) else ()
        return found

    first: list[set[tuple[int, ...]]] = [set() for _ in range(graph.num_states)]
    for state in range(graph.num_states - 1, -1, -1):  # states are in topological order
        for arc in graph.arcs_from[state]:
            labels = heard(arc.word)
            first[state].update([labels] if labels else first[arc.target])
    pairs: dict[tuple[int, ...], set[tuple[int, ...]]] = {}
    for arcs in graph.arcs_from:
        for arc in arcs:
            labels = heard(arc.word)
            if labels and first[arc.target]:
                pairs.setdefault(labels, set()).update(first[arc.target])
    return pairs


def _silent_ends(fst: Fst) -> set[int]:
    """States reachable from the start through empty arcs only."""
    seen = {fst.start}
    todo = [fst.start]
    while todo:
        for label, _cost, target in fst.arcs_from[todo.pop()]:
            if label == 0 and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen

DECODER_SETTINGS = {"max-active": "2000", "frames-per-chunk": "51"}
"""Decoder options written over the model's own conf/model.conf.

max-active: the search's most active states per frame (3000 in the small English model). 2000
decodes about 6% faster with the same questions, out-of-domain requests and red flags understood,
clean and at 12 dB (two spoken tuning sets, 3 voices, 2026-11-26). A narrower beam (9 instead of
10) was faster still but lost 5% of the questions at 12 dB. 1000 was about 5% faster again, but on
the same 2,394 files of tuning set 6 (clean and 12 dB babble, decoded both ways) it understood 4
fewer questions and turned down 4 fewer out-of-domain requests (2026-11-27).

The model's acoustic scale (1.0) is kept, as is the graph's own weight. Weighing the graph more
took more orders at 6 dB but fewer at 24 to 12 dB (drink skill, the same synthesized kitchen-noise
files decoded both ways, 2026-11-27): the graph's costs times 1.43, free words a little cheaper to
enter, accepted 1,370 of 1,500 orders at 6 dB instead of 1,342 (five seeds, each up), but 8 fewer
of 2,100 at 24 to 12 dB, short orders above all ("drip coffee" heard as "brew coffee": a sentence
that opens on a value pays its cost at once, one that opens "brew" later, and with the costs
weighed more the first is pruned), and took 12 more out-of-domain requests of 750 at 6 dB. The
acoustic scale at 0.6 (beam 6) does the same and also flattens Vosk's word confidences (0.71 ->
0.52 for a word heard right), so slots heard right were doubted and dropped: 1,080 -> 1,093 of
1,200 at 6 dB, 4 fewer of 600 at 12 dB. Paying every sentence's cost at its start (weight
pushing) changed nothing on the drink skill (1,342 either way) and moved backcoach's tuning set 6
by a few of 2,394, both ways; with the heavier graph it lost orders at 6 and 12 dB. On backcoach's
own questions, asked in people's own words, the heavier graph was worse outright (tuning set 6:
red flags caught 271 -> 255 of 300, out-of-domain turned down 838 -> 793 of 960).

frames-per-chunk: how many 10 ms frames the acoustic network is run on at once (Kaldi's default
is 20). Bigger blocks make fewer, larger matrix products: 51 takes recognition from about 0.048 to
0.039 of real time on one idle core (100 files of tuning set 6 at 12 dB, 2026-11-27). The
i-vector is read once per block, so words can change a little: on the same 2,394 files, 14 more
questions understood, 2 fewer out-of-domain requests turned down; red flags 1,078 against 1,081 of
1,260 on the red-flag tuning set's 2,700 files (most changes in espeak voices at 12 dB, both ways).
The drink skill in kitchen noise (the same 2,700 synthesized files decoded both ways) accepted 284
orders at 6 dB instead of 276 of 300, the same within one elsewhere. The live
loop's answer latency (`backcoach bench --fast`) stayed at 0.40 s median: the last block is
decoded when the utterance ends, whatever its length. The wake phrase, heard block by block with
no end to force, was detected 0.14 s later on average (at most 0.32 s, 10 wakes of the same
recording); the question after it is read from the buffer, so none of it is lost."""


def _decoder_conf(text: str) -> str:
    """A model.conf with `DECODER_SETTINGS` in place of the model's own values for them."""
    lines = [line for line in text.splitlines()
             if line.strip().lstrip("-").split("=")[0] not in DECODER_SETTINGS]
    return "\n".join(lines + [f"--{key}={value}" for key, value in DECODER_SETTINGS.items()]) + "\n"


def skill_model_dir(model_dir: Path, graph: WordGraph, spoken: dict[str, list[str]], key: str) -> Path:
    """A model folder that decodes with the skill's own graph, built once per key and cached.

    Everything but graph/Gr.fst and conf/model.conf (`DECODER_SETTINGS`) is a symlink to
    `model_dir`; LM rescoring parts are left out
    (they would rescore toward open English). Raises OSError or ValueError when it cannot be built.
    """
    model_dir = Path(model_dir).resolve()
    base = cache_dir()
    target = base / f"model-{key_of([key, _signature()])}"
    if (target / "graph" / "Gr.fst").is_file():
        os.utime(target)
        return target
    base.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".model-", dir=base))
    try:
        for entry in model_dir.iterdir():
            if entry.name not in ("graph", "rescore", "rnnlm", "conf"):
                (stage / entry.name).symlink_to(entry)
        (stage / "conf").mkdir()
        for entry in (model_dir / "conf").iterdir() if (model_dir / "conf").is_dir() else ():
            if entry.name == "model.conf":
                (stage / "conf" / entry.name).write_text(_decoder_conf(entry.read_text()))
            else:
                (stage / "conf" / entry.name).symlink_to(entry)
        (stage / "graph").mkdir()
        for entry in (model_dir / "graph").iterdir():
            if entry.name != "Gr.fst":
                (stage / "graph" / entry.name).symlink_to(entry)
        language = model_dir / "graph" / "Gr.fst"
        symbols: SymbolTable = read_output_symbols(language)
        fst = decoding_fst(graph, symbols.ids, spoken, read_unigram_costs(language))
        write_vector_fst(stage / "graph" / "Gr.fst", fst, symbols)
        try:
            stage.rename(target)
        except OSError:
            if not (target / "graph" / "Gr.fst").is_file():  # not another process winning the race
                raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    _prune(base, keep=target)
    return target


def _signature() -> str:
    """What the written graph depends on besides the skill and the model."""
    return repr((GRAPH_FORMAT, GARBAGE_ENTRY, GARBAGE_WORD, CHOICE_SCALE, NEXT_SENTENCE, CONNECTORS,
                 COMMON_WORDS, FREE_ENTRY, SKILL_WORD_COST, PAIR_STEP, MID_SENTENCE_EXIT, RED_FLAG_WEIGHT,
                 MERGE_LIMIT, sorted(DECODER_SETTINGS.items())))


def _prune(base: Path, keep: Path) -> None:
    """Drop all but the most recently used built graphs."""
    try:
        built = sorted((p for p in base.glob("model-*") if p != keep), key=lambda p: p.stat().st_mtime)
    except OSError:
        return
    for old in built[:max(0, len(built) - (_KEEP_BUILT - 1))]:
        shutil.rmtree(old, ignore_errors=True)

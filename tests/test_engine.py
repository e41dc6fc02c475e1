"""The understanding engine on a skill that is not backcoach's own: any hassil directory works."""

from __future__ import annotations

import random
import struct
import textwrap
from pathlib import Path

import pytest

from backcoach.grammar import build_grammar
from backcoach.intents import load_skill
from backcoach.nlu import Understander
from backcoach.text import SpellingIndex, similarity
from backcoach.wordgraph import build, random_sentence

COFFEE = Path(__file__).parent / "data" / "coffee"


@pytest.fixture(scope="module")
def coffee():
    return Understander(load_skill(COFFEE))


@pytest.mark.parametrize("text, slots", [
    ("make me double shot coffee", {"shots": "double", "drink": "coffee"}),
    ("can i have a large latte with oat milk and a bit of brown sugar please",
     {"size": "large", "drink": "latte", "milk": "oat milk", "sweetener": "a bit of brown sugar"}),
    ("give me a small tea with honey", {"size": "small", "drink": "tea", "sweetener": "honey"}),
    ("um could i get like a flat white with soy milk", {"drink": "flat white", "milk": "soy milk"}),
    ("large americano", {"size": "large", "drink": "americano"}),
])
def test_orders_are_understood_with_every_slot(coffee, text, slots):
    result = coffee.understand(text)
    assert result.intent == "OrderDrink"
    assert result.slots == slots
    assert result.confidence >= 0.5


def test_the_longest_slot_value_wins(coffee):
    result = coffee.understand("a latte with a bit of brown sugar")
    assert result.slots["sweetener"] == "a bit of brown sugar"


def test_dropped_and_extra_words_still_align(coffee):
    result = coffee.understand("make me double shot coffee right now")
    assert (result.intent, result.slots.get("drink")) == ("OrderDrink", "coffee")
    assert result.confidence < 1.0  # not an exact match, so not certain


@pytest.mark.parametrize("text", ["what time is it", "turn on the kitchen lights", "play some jazz music",
                                  "how tall is mount everest", ""])
def test_out_of_domain_text_falls_back(coffee, text):
    assert coffee.understand(text).intent == "Fallback"


@pytest.mark.parametrize("text", ["with oat milk", "could i get a with soy milk please",
                                  "[unk] with oat milk please", "[unk] honey"])
def test_an_order_whose_drink_was_never_heard_is_not_given_one(coffee, text):
    # Every OrderDrink template needs {drink}; reporting a drink nobody said would be a guess.
    result = coffee.understand(text)
    assert result.intent == "Fallback", result
    assert result.guess == "OrderDrink"


def test_required_slots_are_those_on_every_path(coffee):
    graph = coffee.graph
    for block in graph.blocks:
        need = graph.required_slots(block)
        assert need == ({"drink"} if block.intent == "OrderDrink" else set()), block


def test_random_template_sentences_map_back_to_their_intent(coffee):
    rng = random.Random(3)
    graph = coffee.graph
    for block in graph.blocks:
        for _ in range(40):
            sentence, slots = random_sentence(graph, block, rng)
            result = coffee.understand(sentence)
            assert result.intent == block.intent, sentence
            assert result.slots == slots, sentence


def test_a_huge_template_stays_a_small_graph_and_grammar(tmp_path):
    # Ten optional slots in any order would be far beyond 10^8 sentences if enumerated.
    lists = {f"l{i}": {"values": [f"word{i}x{j}" for j in range(12)]} for i in range(5)}
    parts = ";".join(f"[{{l{i}}}]" for i in range(5))
    (tmp_path / "big.yaml").write_text(textwrap.dedent(f"""\
        language: en
        intents:
          Big:
            data:
              - sentences:
                  - "[please] (make|get) me ({parts}) [now|please]"
        """) + __import__("yaml").safe_dump({"lists": lists}))
    skill = load_skill(tmp_path)
    graph = build(skill.intents)
    grammar = build_grammar(graph)
    assert len(graph.arcs()) < 200_000
    assert 60 <= len(grammar.phrases) < 20_000
    words = {w for p in grammar.phrases for w in p.split()}
    assert {"word0x0", "word4x11", "make", "get"} <= words
    result = Understander(skill, graph=graph).understand("make me word3x5 word0x2 now")
    assert result.intent == "Big" and result.slots == {"l3": "word3x5", "l0": "word0x2"}


def test_unknown_words_are_replaced_or_made_cheap(tmp_path):
    (tmp_path / "s.yaml").write_text(textwrap.dedent("""\
        language: en
        intents:
          Nerve:
            data:
              - sentences: ["tell me about the sciatic nerve"]
        sound_alikes:
          sciatic: ["sigh attic"]
        """))
    skill = load_skill(tmp_path)
    graph = build(skill.intents)
    vocab = {"tell", "me", "about", "the", "nerve", "sigh", "attic", "[unk]"}
    grammar = build_grammar(graph, vocab, skill.sound_alikes)
    assert "tell me about the sigh attic nerve" in grammar.phrases
    grammar2 = build_grammar(graph, vocab - {"sigh"}, skill.sound_alikes)
    assert "sciatic" in grammar2.silent_words
    u = Understander(skill, silent_words=grammar2.silent_words)
    heard = u.understand("tell me about the nerve")
    unsaid = Understander(skill).understand("tell me about the nerve")
    assert heard.intent == "Nerve" and heard.confidence > 0.8
    assert heard.confidence > unsaid.confidence + 0.1  # a word nobody can say costs half as much to skip
    assert Understander(skill).understand("tell me about the sigh attic nerve").intent == "Nerve"


def test_compiled_templates_are_cached_and_an_edit_is_seen(tmp_path, monkeypatch):
    """The parsed templates and word graph come from ~/.cache on the next start; editing a
    template must never give the old answer, and a damaged cache file is simply rebuilt."""
    import shutil

    from backcoach.intents import load_skill
    from backcoach.nlu import Understander

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    skill_dir = tmp_path / "coffee"
    shutil.copytree(Path(__file__).parent / "data" / "coffee", skill_dir)
    first = load_skill(skill_dir)
    pickles = list((tmp_path / "cache" / "backcoach").glob("skill-*.pickle"))
    assert len(pickles) == 1
    again = load_skill(skill_dir)
    assert again.key == first.key
    yaml_file = next(skill_dir.glob("*.yaml"))
    yaml_file.write_text(yaml_file.read_text().replace("intents:", "intents:\n  Tea:\n    data:\n"
                                                       "      - sentences:\n          - \"a pot of tea\"", 1))
    edited = load_skill(skill_dir)
    assert edited.key != first.key
    assert Understander(edited).understand("a pot of tea").intent == "Tea"
    for pickle_file in (tmp_path / "cache" / "backcoach").glob("skill-*.pickle"):
        pickle_file.write_bytes(b"not a pickle")
    assert Understander(load_skill(skill_dir)).understand("a pot of tea").intent == "Tea"


BARISTA = Path(__file__).parent / "data" / "barista"


@pytest.mark.parametrize("text, slots", [
    # Labels written the way the public benchmark writes them, stray spaces included.
    ("can i get a twelve ounce light roast coffee", {"size": "twelve ounce", "roast": "light roast",
                                                     "coffeeDrink": "coffee"}),
    ("make me a double shot dark roast iced coffee with some milk and a bit of brown sugar",
     {"numberOfShots": "double shot", "roast": "dark roast", "coffeeDrink": "iced coffee",
      "milkAmount": "some milk", "sugarAmount": "a bit of brown sugar"}),
    ("i'd like an iced mocha with soy milk and brown sugar",
     {"coffeeDrink": "iced mocha", "milkAmount": " soy milk", "sugarAmount": " brown sugar"}),
    ("house coffee with a lot of sweetener", {"coffeeDrink": "house coffee",
                                              "sugarAmount": "a lot of sweetener"}),
])
def test_a_five_slot_drink_order_skill_reads_every_slot(text, slots):
    from backcoach.evaluate import accepted

    skill = load_skill(BARISTA)
    result = Understander(skill).understand(text)
    assert accepted("orderDrink", slots, result.intent, result.slots), result


@pytest.mark.parametrize("heard, slots", [
    # Noise after the order, heard as more of a sentence (drink skill, 6 dB kitchen noise).
    ("get me a medium cappuccino an light roast mocha", {"size": "medium", "coffeeDrink": "cappuccino"}),
    ("brew twelve ounce iced coffee light roast mocha", {"size": "twelve ounce", "coffeeDrink": "iced coffee"}),
    ("can i get an single shot eight ounce iced mocha light roast mocha",
     {"numberOfShots": "single shot", "size": "eight ounce", "coffeeDrink": "iced mocha"}),
    # Words after a whole order that only add to it are still read.
    ("brew twelve ounce iced coffee uh with a lot of milk",
     {"size": "twelve ounce", "coffeeDrink": "iced coffee", "milkAmount": "a lot of milk"}),
])
def test_words_after_a_whole_order_do_not_change_what_it_said(heard, slots):
    result = Understander(load_skill(BARISTA)).understand(heard)
    assert (result.intent, result.slots) == ("orderDrink", slots), result


@pytest.mark.parametrize("confidence, slots", [
    (0.6, {"size": "large", "coffeeDrink": "americano"}),  # kitchen noise heard as more order
    (1.0, {"size": "large", "coffeeDrink": "americano", "milkAmount": "almond milk"}),
])
def test_a_slot_added_by_unsure_words_after_a_whole_order_is_dropped(confidence, slots):
    from backcoach.nlu import Hypothesis

    words = "a large americano with almond milk".split()
    heard = Hypothesis(words, [1.0, 1.0, 1.0] + [confidence] * 3)
    result = Understander(load_skill(BARISTA)).understand_hypotheses([heard])
    assert (result.intent, result.slots) == ("orderDrink", slots), result


def test_a_five_slot_drink_order_skill_stays_small_and_rejects_other_speech():
    skill = load_skill(BARISTA)
    graph = build(skill.intents)
    grammar = build_grammar(graph)
    assert len(grammar.phrases) < 20_000
    understander = Understander(skill, graph=graph)
    rng = random.Random(5)
    block = graph.blocks[0]
    for _ in range(60):
        sentence, slots = random_sentence(graph, block, rng)
        result = understander.understand(sentence)
        assert (result.intent, result.slots) == ("orderDrink", slots), sentence
    for text in ["what's the weather like today", "turn off the kitchen lights",
                 "[unk] light roast", "with some milk please"]:
        assert understander.understand(text).intent == "Fallback", text


def test_pruned_alignment_finds_the_same_cheapest_path(coffee):
    """Pruning (bounds, words nothing in a block resembles, skipped substitutions) is exact:
    with the optimum as the bound it finds the same cost; just below it, nothing."""
    rng = random.Random(11)
    graph, aligner = coffee.graph, coffee.aligner
    vocab = sorted(graph.words()) + ["unk", "weather", "lattes"]
    for block in graph.blocks:
        for _ in range(15):
            words = random_sentence(graph, block, rng)[0].split()
            if words and rng.random() < 0.7:
                del words[rng.randrange(len(words))]
            words.insert(rng.randrange(len(words) + 1), rng.choice(vocab))
            ins = aligner.insert_costs(words, [rng.uniform(0.3, 1.0) for _ in words])
            for other in graph.blocks:
                for local in (False, True):
                    free = aligner.align(other, words, ins, local=local, trace=True)
                    assert free is not None
                    tight = aligner.align(other, words, ins, local=local, trace=True, bound=free.cost + 1e-9)
                    assert tight is not None and abs(tight.cost - free.cost) < 1e-9, words
                    assert tight.slots == free.slots and tight.template_words == free.template_words
                    if free.cost > 0.01:
                        assert aligner.align(other, words, ins, local=local, bound=free.cost - 0.01) is None


def test_the_spelling_index_finds_exactly_the_words_a_full_comparison_finds():
    """Its letter-count bound only rules out words that could not be similar enough."""
    skill = load_skill()
    vocabulary = sorted(set(skill.graph.words()))
    index = SpellingIndex(vocabulary)
    rng = random.Random(5)
    heard = rng.sample(vocabulary, 150) + ["site", "take", "psychotic", "saddles", "i'd", "kiloz", "unk", "x"]
    for word in heard:
        full = {v: similarity(v, word) for v in vocabulary if similarity(v, word) >= 0.6}
        assert index.near(word, 0.6) == full, word
    assert 0 < len(index.near("sciatica", 0.6)) < 10


def test_the_grammar_gives_every_drink_a_fair_share_of_word_pairs():
    """Vosk's language model counts word pairs over the phrases: completing every phrase the
    same shortest way made the first listed drink far likelier than the rest after a size, and
    in noise "eight ounce drip coffee" was heard as "eight ounce americano"."""
    from collections import Counter

    from backcoach.grammar import UNKNOWN

    grammar = build_grammar(build(load_skill(BARISTA).intents))
    words = Counter(w for phrase in grammar.phrases for w in phrase.split())
    counts = [words[d] for d in ("americano", "cappuccino", "espresso", "latte")]
    assert max(counts) <= 2 * min(counts), counts  # was 221 americano to 17 of each other drink
    # "[unk]" as common as a typical word (one copy let out-of-domain speech be heard as orders).
    typical = sorted(count for word, count in words.items() if word != UNKNOWN)[len(words) // 2]
    assert 10 <= grammar.phrases.count(UNKNOWN) <= 2 * typical
    assert build_grammar(build(load_skill(BARISTA).intents)).phrases == grammar.phrases  # repeatable


def test_the_skills_own_decoding_graph_says_only_its_sentences(tmp_path):
    """Random walks through the Gr.fst written for the drink skill are orders hassil accepts,
    the garbage path says only "[unk]", and the file carries the model's word numbers."""
    from backcoach.decodegraph import decoding_fst
    from backcoach.fstio import SymbolTable, read_output_symbols, write_vector_fst
    from backcoach.nlu import hassil_recognize

    skill = load_skill(BARISTA)
    graph = build(skill.intents)
    words = sorted(graph.words()) + ["[unk]", "and"]
    ids = {w: i + 1 for i, w in enumerate(words)}
    name = {i: w for w, i in ids.items()}
    fst = decoding_fst(graph, ids, {})
    rng = random.Random(3)
    for _ in range(200):
        state, said = fst.start, []
        while True:
            ways = [a for a in fst.arcs_from[state] if a[2] != fst.start]  # one sentence only
            if state in fst.finals and (not ways or rng.random() < 0.3):
                break
            label, cost, state = rng.choice(ways)
            assert cost >= 0
            if label:
                said.append(name[label])
        if said and set(said) == {"[unk]"}:
            continue
        match = hassil_recognize(" ".join(said), skill.intents)
        assert match is not None and match.intent.name == "orderDrink", said
    symbols = SymbolTable(ids, b"")  # a real table: write one and read it back
    table = bytearray(struct.pack("<i", 2125658996) + struct.pack("<i", 1) + b"w" + struct.pack("<qq", len(ids) + 1, len(ids)))
    for w, i in ids.items():
        data = w.encode()
        table += struct.pack("<i", len(data)) + data + struct.pack("<q", i)
    symbols.raw = bytes(table)
    write_vector_fst(tmp_path / "Gr.fst", fst, symbols)
    assert read_output_symbols(tmp_path / "Gr.fst").ids == ids


def test_the_garbage_path_says_common_words_and_each_skill_word_as_heard():
    """The free-word loop holds the commonest words at their share of probability, and a skill
    word the model knows only by a sound-alike as that sound-alike's words, one after the other;
    after a skill word, a word that follows it in the templates is cheaper than at random."""
    import math

    from backcoach.decodegraph import COMMON_WORDS, FREE_ENTRY, PAIR_STEP, SKILL_WORD_COST, _add_free_words
    from backcoach.fstio import Fst

    ids = {w: i + 1 for i, w in enumerate(["[unk]", "the", "a", "of", "sigh", "attic", "nerve", "rare"])}
    unigrams = {ids["[unk]"]: 1.0, ids["the"]: 3.0, ids["a"]: 4.0, ids["of"]: 5.0, ids["sigh"]: 12.0,
                ids["attic"]: 13.0, ids["nerve"]: 11.0, ids["rare"]: 20.0}
    sciatic, nerve = (ids["sigh"], ids["attic"]), (ids["nerve"],)
    fst = Fst()
    begin, end = _add_free_words(fst, unigrams, ids, {"sciatic": ["sigh", "attic"], "nerve": ["nerve"]},
                                 {sciatic: {nerve}})
    assert (0, pytest.approx(FREE_ENTRY), begin) in fst.arcs_from[fst.start]
    first = {label: (cost, target) for label, cost, target in fst.arcs_from[begin]}
    assert ids["[unk]"] not in first  # "[unk]" has its own path
    assert COMMON_WORDS >= 7 and ids["rare"] in first  # all seven are among the commonest here
    assert first[ids["the"]][0] < first[ids["a"]][0] < first[ids["of"]][0]
    total = sum(math.exp(-c) for label, c in unigrams.items() if label != ids["[unk]"])
    for word in ("the", "a", "of", "rare"):  # each at its share of the commonest words' mass
        assert first[ids[word]][0] == pytest.approx(unigrams[ids[word]] + math.log(total))
    assert first[ids["nerve"]][0] == pytest.approx(min(SKILL_WORD_COST, 11.0 + math.log(total)))
    # "sciatic" is said as "sigh attic": two arcs in a row, to a state that leads back to the
    # loop's end for free, or on to "nerve" (the only word after it in the templates) for less
    # than "nerve" costs from the loop.
    mid = next(t for label, _c, t in fst.arcs_from[begin] if label == ids["sigh"] and t != end)
    [(label, cost, after)] = fst.arcs_from[mid]
    assert (label, cost) == (ids["attic"], 0.0)
    assert (0, 0.0, end) in fst.arcs_from[after]
    [(label, cost, _t)] = [arc for arc in fst.arcs_from[after] if arc[0] != 0]
    assert label == ids["nerve"] and cost == pytest.approx(PAIR_STEP) and cost < first[ids["nerve"]][0]
    assert end in fst.finals and (0, 0.0, begin) in fst.arcs_from[end]


def test_a_sentence_may_be_left_part_way_for_free_words_but_not_at_a_slot(tmp_path):
    """Inside a sentence ("my back is bad" of "my back is bad when i bend my knee") the decoder may
    leave for the free words at a price, so what follows is heard as said, not forced on to the
    sentence's end; not before its first word (that is the free path's own entry), and not where a
    slot value begins or inside one (there noise had drowned the value)."""
    from backcoach.decodegraph import MID_SENTENCE_EXIT, decoding_fst

    (tmp_path / "skill.yaml").write_text(textwrap.dedent("""\
        language: en
        intents:
          KneeBend:
            data:
              - sentences:
                  - "my back is bad when i bend my knee"
          Order:
            data:
              - sentences:
                  - "i would like [a] {drink} please"
        lists:
          drink:
            values: ["flat white", "tea"]
        """))
    graph = build(load_skill(tmp_path).intents)
    words = sorted(graph.words()) + ["[unk]", "the"]
    ids = {w: i + 1 for i, w in enumerate(words)}
    name = {i: w for w, i in ids.items()}
    fst = decoding_fst(graph, ids, {}, {ids["the"]: 3.0, ids["[unk]"]: 1.0}, merge=False)
    begin = next(t for label, _c, t in fst.arcs_from[fst.start] if label == 0 and t > graph.num_states)

    def heard_before(state: int) -> str:  # the words on the one path from a sentence's start
        said = []
        while state != fst.start:
            label, source = next((label, src) for src, arcs in enumerate(fst.arcs_from)
                                 for label, _c, t in arcs if t == state)
            said.append(name.get(label, ""))
            state = source
        return " ".join(w for w in reversed(said) if w)

    exits = {heard_before(state) for state, arcs in enumerate(fst.arcs_from) if 0 < state <= graph.num_states
             for label, cost, target in arcs if target == begin and label == 0}
    assert all(cost == pytest.approx(MID_SENTENCE_EXIT) for arcs in fst.arcs_from[1:graph.num_states + 1]
               for label, cost, target in arcs if target == begin)
    assert {"my", "my back is bad", "my back is bad when i bend my"} <= exits
    assert "my back is bad when i bend my knee" in exits  # words after it cost less than a sentence
    assert "i would" in exits and "i would like" not in exits  # "a" may be left out: the drink is next
    assert "i would like flat white please" in exits
    assert not {"i would like", "i would like a", "i would like flat", "i would like flat white"} & exits


def _best_cost(fst, labels: list[int]) -> float:
    """The cheapest way the acceptor says exactly `labels` (infinite when it cannot)."""
    import heapq
    import math

    best = {(fst.start, 0): 0.0}
    todo = [(0.0, fst.start, 0)]
    while todo:
        cost, state, done = heapq.heappop(todo)
        if cost > best[(state, done)]:
            continue
        if done == len(labels) and state in fst.finals:
            return cost + fst.finals[state]  # costs are never negative, so the first is the best
        for label, step, target in fst.arcs_from[state]:
            if label == 0:
                key = (target, done)
            elif done < len(labels) and label == labels[done]:
                key = (target, done + 1)
            else:
                continue
            if cost + step < best.get(key, math.inf):
                best[key] = cost + step
                heapq.heappush(todo, (cost + step, *key))
    return math.inf


def test_merged_sentences_say_the_same_words_at_the_same_best_cost(tmp_path):
    """Sentences that begin alike share states in the written graph (the decoder then keeps one
    token for "my back" where it kept one per sentence), but every word string costs what it cost
    before: template sentences, free words, a sentence left part-way, two sentences in one breath."""
    import math

    from backcoach.decodegraph import decoding_fst

    for skill in (load_skill(BARISTA), None):
        if skill is None:
            (tmp_path / "skill.yaml").write_text(textwrap.dedent("""\
                language: en
                intents:
                  KneeBend:
                    data:
                      - sentences:
                          - "my back (is bad|hurts) when i bend my knee"
                          - "my back hurts [a lot]"
                  Order:
                    data:
                      - sentences:
                          - "i would like [a] {drink} please"
                          - "i would like to stretch"
                lists:
                  drink:
                    values: ["flat white", "tea"]
                """))
            skill = load_skill(tmp_path)
        graph = build(skill.intents)
        words = sorted(graph.words()) + ["[unk]", "the", "and", "of"]
        ids = {w: i + 1 for i, w in enumerate(words)}
        unigrams = {ids["the"]: 3.0, ids["of"]: 4.0, ids["[unk]"]: 1.0}
        plain = decoding_fst(graph, ids, {}, unigrams, merge=False)
        merged = decoding_fst(graph, ids, {}, unigrams)
        assert len(merged.arcs_from) < len(plain.arcs_from)
        rng = random.Random(5)
        for _ in range(150):
            state, said = plain.start, []
            while len(said) < 40:
                if state in plain.finals and rng.random() < 0.3:
                    break
                label, _cost, state = rng.choice(plain.arcs_from[state])
                said += [label] if label else []
            if state not in plain.finals:
                continue
            cost = _best_cost(plain, said)
            assert cost < math.inf
            assert _best_cost(merged, said) == pytest.approx(cost, abs=1e-3), said
        for _ in range(50):  # any words at all, mostly not a sentence
            said = [ids[rng.choice(words)] for _ in range(rng.randint(1, 6))]
            assert _best_cost(merged, said) == pytest.approx(_best_cost(plain, said), abs=1e-3), said


def test_sentences_that_would_grow_when_merged_are_written_as_they_are(monkeypatch):
    """Merging has a ceiling: a graph it would blow up is written unmerged, not slowly."""
    from backcoach import decodegraph

    graph = build(load_skill(BARISTA).intents)
    ids = {w: i + 1 for i, w in enumerate(sorted(graph.words()) + ["[unk]"])}
    plain = decodegraph.decoding_fst(graph, ids, {}, merge=False)
    assert len(decodegraph.decoding_fst(graph, ids, {}).arcs_from) < len(plain.arcs_from)
    monkeypatch.setattr(decodegraph, "MERGE_LIMIT", -1)
    unmerged = decodegraph.decoding_fst(graph, ids, {})
    assert (unmerged.arcs_from, unmerged.finals) == (plain.arcs_from, plain.finals)


def test_a_graph_built_with_other_costs_is_not_reused_from_the_cache(tmp_path, monkeypatch):
    """The cached model folder is keyed by the graph's costs too: a user whose cache holds a graph
    from an older version gets one built the new way, and an unchanged one is reused."""
    from backcoach import decodegraph
    from backcoach.model import resolve_model

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    graph = build(load_skill(BARISTA).intents)
    model = resolve_model()
    first = decodegraph.skill_model_dir(model, graph, {}, "k")
    assert decodegraph.skill_model_dir(model, graph, {}, "k") == first
    monkeypatch.setattr(decodegraph, "MID_SENTENCE_EXIT", None)
    second = decodegraph.skill_model_dir(model, graph, {}, "k")
    assert second != first
    assert (first / "graph" / "Gr.fst").stat().st_size > (second / "graph" / "Gr.fst").stat().st_size


def test_the_built_model_decodes_with_our_settings_and_the_models_others(tmp_path, monkeypatch):
    """conf/model.conf of the built folder takes DECODER_SETTINGS over the model's own values and
    keeps every other line; the model's other conf files are its own, and changing a setting
    builds a new folder."""
    from backcoach import decodegraph
    from backcoach.model import resolve_model

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    graph = build(load_skill(BARISTA).intents)
    model = resolve_model()
    built = decodegraph.skill_model_dir(model, graph, {}, "k")
    own = (model / "conf" / "model.conf").read_text().split()
    ours = (built / "conf" / "model.conf").read_text().split()
    assert "--max-active=2000" in ours and "--max-active=3000" in own
    assert "--frames-per-chunk=51" in ours and not any("frames-per-chunk" in line for line in own)
    ours_alone = ("max-active", "frames-per-chunk")
    assert [line for line in own if not any(key in line for key in ours_alone)] \
        == [line for line in ours if not any(key in line for key in ours_alone)]
    assert (built / "conf" / "mfcc.conf").resolve() == (model / "conf" / "mfcc.conf").resolve()
    monkeypatch.setattr(decodegraph, "DECODER_SETTINGS", {"max-active": "2500"})
    other = decodegraph.skill_model_dir(model, graph, {}, "k")
    assert other != built and "--max-active=2500" in (other / "conf" / "model.conf").read_text().split()


def test_word_pairs_look_through_empty_arcs_and_unheard_words(tmp_path):
    """Which word follows which comes from the templates, through optional parts and words the
    model cannot say, each as the model hears it."""
    from backcoach.decodegraph import _word_pairs

    (tmp_path / "s.yaml").write_text(textwrap.dedent("""\
        language: en
        intents:
          Nerve:
            data:
              - sentences: ["tell me [more] about [the] sciatic nerve", "xyzzy nerve"]
        """))
    graph = build(load_skill(tmp_path).intents)
    ids = {w: i + 1 for i, w in enumerate(["tell", "me", "more", "about", "the", "sigh", "attic", "nerve"])}
    pairs = _word_pairs(graph, {"sciatic": ["sigh", "attic"]}, ids)
    name = {i: w for w, i in ids.items()}
    heard = {" ".join(name[i] for i in k): {" ".join(name[i] for i in v) for v in vs} for k, vs in pairs.items()}
    assert heard["me"] == {"more", "about"}
    assert heard["about"] == {"the", "sigh attic"}
    assert heard["sigh attic"] == {"nerve"}
    assert "nerve" not in heard  # nothing follows it


def test_the_models_unigram_counts_are_read_from_its_language_model():
    """The small English model's Gr.fst is an n-gram FST: every word it knows has a unigram cost."""
    from backcoach.fstio import read_output_symbols, read_unigram_costs
    from backcoach.model import resolve_model

    gr = resolve_model(None) / "graph" / "Gr.fst"
    if not gr.is_file():
        pytest.skip("the model has no Gr.fst")
    costs = read_unigram_costs(gr)
    ids = read_output_symbols(gr).ids
    assert costs is not None and len(costs) > 100_000
    commonest = sorted(costs, key=costs.get)[:10]
    name = {i: w for w, i in ids.items()}
    assert {"the", "and", "i", "to"} <= {name[i] for i in commonest}
    assert costs[ids["the"]] < costs[ids["knee"]] < costs[ids["hamstring"]]
    assert all(c > 0 for c in costs.values())


def test_first_person_reads_someone_elses_back_as_ones_own():
    from backcoach.text import first_person
    said = "my dad's back is bad and he can't lift his foot".split()
    words, spans = first_person(said)
    assert words == "my back is bad and i can't lift my foot".split()
    assert len(spans) == len(words) and spans[0] == (0, 2)  # "my dad's" became "my"
    assert first_person("my wife says she's got a fever".split())[0] == "i've got a fever".split()
    assert first_person("why does my knee hurt".split())[0] == "why does my knee hurt".split()


def test_the_compact_graph_gives_every_alignment_the_same_cost(tmp_path):
    """The alignment searches a minimal graph of each block's sentences when only a cost is
    wanted: whatever is heard, every block, global or local, costs what the block itself costs;
    a bound only says whether that cost is above it (words a wildcard can take are not counted
    as unmatchable, nor template words the rest of a path must skip counted twice)."""
    from backcoach.align import Aligner

    (tmp_path / "skill.yaml").write_text(textwrap.dedent("""\
        language: en
        intents:
          Remember:
            data:
              - sentences:
                  - "remind me to {task} [please]"
                  - "(remind|tell) me [later] to {task} at {hour}"
          KneeBend:
            data:
              - sentences:
                  - "[why does] my [lower] back (hurt|ache) when i bend my knee"
                  - "my back (is bad|hurts) [a lot] when i (bend|kneel)"
        lists:
          task:
            wildcard: true
          hour:
            values: ["noon", "six", "six thirty"]
        """))
    for skill in (load_skill(tmp_path), load_skill(BARISTA)):
        graph = build(skill.intents)
        aligner = Aligner(graph)
        plain = Aligner(graph)
        plain.compact = lambda block: (graph, block)
        assert sum(aligner.compact(b)[1].end + 1 for b in graph.blocks) < graph.num_states
        vocab = sorted(graph.words()) + ["the", "fridge", "and"]
        rng = random.Random(7)
        for _ in range(200):
            words = [rng.choice(vocab) for _ in range(rng.randint(1, 10))]
            ins = aligner.insert_costs(words, None)
            for block in graph.blocks:
                for local in (False, True):
                    full = plain.align(block, words, ins, local=local)
                    assert full is not None
                    for bound in (float("inf"), 3.0, full.cost + 1e-9, full.cost - 0.01):
                        for searcher in (aligner, plain):
                            got = searcher.align(block, words, ins, local=local, bound=bound)
                            assert (got is None) == (full.cost > bound), (words, bound)
                            if got is not None:
                                assert got.cost == pytest.approx(full.cost) and got.block == block, words
                    if not local:  # heard words outside a local match are free
                        assert aligner.lower_bound(block, words, ins) <= full.cost + 1e-9, words


def test_a_tie_between_a_red_flag_and_another_intent_goes_to_the_red_flag(tmp_path):
    """Words that fit a red-flag sentence exactly as well as another intent's lead to urgent advice,
    whichever intent the skill lists first."""
    (tmp_path / "skill.yaml").write_text(textwrap.dedent("""\
        language: en
        intents:
          LegTired:
            data:
              - sentences:
                  - "my legs feel weak and heavy today"
          RedFlag:
            data:
              - sentences:
                  - "my legs feel weak and heavy tonight"
        """))
    understander = Understander(load_skill(tmp_path))
    words = "my legs feel weak and heavy".split()
    ins = understander.aligner.insert_costs(words, None)
    top, runner_up = understander._closest(words, ins)
    assert top.block.intent == "RedFlag" and top.cost > 0 and runner_up == pytest.approx(top.cost)
    assert understander.graph.blocks[0].intent == "LegTired"

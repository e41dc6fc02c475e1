"""Say X (typed), expect intent Y and a reply that mentions Z: the skill's own intents."""

from __future__ import annotations

import json
import random
import zlib
from pathlib import Path

import pytest
import yaml

from backcoach.dialogue import Dialogue
from backcoach.nlu import Hypothesis, Understander
from backcoach.text import words_of
from backcoach.wordgraph import random_sentence
from conftest import run_cli

CATALOGUE = ["KneeBendBackPain", "PelvisConnection", "SciaticNerve", "PainMechanism", "StringAnalogy",
             "CauseSummary", "SelfCare", "StretchTips", "GuidedStretch", "PostureTips", "SeeDoctor",
             "RedFlag", "Help", "Repeat", "More", "Next", "Previous", "Stop", "SpeakSlower", "SpeakFaster"]
def _heldout() -> dict:
    """Two sets of phrasings, each written by someone who had not seen the templates."""
    merged: dict = {"in_domain": [], "out_of_domain": [], "red_flags": []}
    for name in ("heldout.yaml", "heldout_final.yaml"):
        data = yaml.safe_load((Path(__file__).parent / "data" / name).read_text())
        for key in merged:
            merged[key] += data.get(key) or []
    return merged


HELDOUT = _heldout()
TUNING = yaml.safe_load((Path(__file__).parent / "data" / "phrasings_tuning.yaml").read_text())
UNSEEN = yaml.safe_load((Path(__file__).parent / "data" / "heldout_unseen.yaml").read_text())
TUNING2 = yaml.safe_load((Path(__file__).parent / "data" / "phrasings_tuning2.yaml").read_text())
TUNING3 = yaml.safe_load((Path(__file__).parent / "data" / "phrasings_tuning3.yaml").read_text())
TUNING4 = yaml.safe_load((Path(__file__).parent / "data" / "phrasings_tuning4.yaml").read_text())
TUNING5 = yaml.safe_load((Path(__file__).parent / "data" / "phrasings_tuning5.yaml").read_text())
UNSEEN3 = yaml.safe_load((Path(__file__).parent / "data" / "heldout_unseen3.yaml").read_text())
TUNING6 = yaml.safe_load((Path(__file__).parent / "data" / "phrasings_tuning6.yaml").read_text())
UNSEEN4 = yaml.safe_load((Path(__file__).parent / "data" / "heldout_unseen4.yaml").read_text())
TUNING7 = yaml.safe_load((Path(__file__).parent / "data" / "phrasings_tuning7.yaml").read_text())
UNSEEN5 = yaml.safe_load((Path(__file__).parent / "data" / "heldout_unseen5.yaml").read_text())
TUNING8 = yaml.safe_load((Path(__file__).parent / "data" / "phrasings_tuning8.yaml").read_text())
TUNING9 = yaml.safe_load((Path(__file__).parent / "data" / "phrasings_tuning9.yaml").read_text())
UNSEEN6 = yaml.safe_load((Path(__file__).parent / "data" / "heldout_unseen6.yaml").read_text())
RED_FLAG_UNSEEN = yaml.safe_load((Path(__file__).parent / "data" / "redflags_unseen.yaml").read_text())
RED_FLAG_SET = yaml.safe_load((Path(__file__).parent / "data" / "redflags_tuning.yaml").read_text())
RED_FLAG_SET2 = yaml.safe_load((Path(__file__).parent / "data" / "redflags_tuning2.yaml").read_text())
RED_FLAG_SET3 = yaml.safe_load((Path(__file__).parent / "data" / "redflags_tuning3.yaml").read_text())


@pytest.fixture(scope="module")
def understander(skill):
    return Understander(skill)


def test_the_catalogue_is_complete(skill):
    assert set(CATALOGUE) <= set(skill.intent_names)
    assert "Fallback" in skill.intent_names  # the skill's not-for-me sentences


def test_flagship_question_explains_pelvis_and_sciatic_nerve():
    proc = run_cli("ask", "--json", "why does my lower back hurt when I bend my knee")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"text", "intent", "slots", "confidence", "reply"}
    assert out["intent"] == "KneeBendBackPain" and out["confidence"] > 0.9
    reply = out["reply"].lower()
    assert "pelvis" in reply and "sciatic nerve" in reply
    assert "not a diagnosis" in reply or "diagnos" in reply


@pytest.mark.parametrize("intent", CATALOGUE)
def test_every_intent_from_its_own_sample_sentences(understander, intent):
    rng = random.Random(zlib.crc32(intent.encode()))  # the same sentences every run
    graph = understander.graph
    blocks = [b for b in graph.blocks if b.intent == intent]
    assert blocks
    for _ in range(25):
        block = rng.choice(blocks)
        sentence, slots = random_sentence(graph, block, rng)
        result = understander.understand(sentence)
        assert result.intent == intent, sentence
        for name, value in slots.items():
            assert result.slots.get(name) == value, sentence


@pytest.mark.parametrize("case", HELDOUT["in_domain"], ids=lambda c: c["text"][:40])
def test_heldout_phrasings(understander, case):
    """Phrasings written without seeing the templates; the closing note reports the rate."""
    result = understander.understand(case["text"])
    if result.intent != case["intent"]:
        pytest.xfail(f"got {result.intent} ({result.confidence:.2f})")  # measured, reported
    for name, value in (case.get("slots") or {}).items():
        assert result.slots.get(name) == value


def test_heldout_accuracy_is_high(understander):
    cases = HELDOUT["in_domain"]
    right = sum(understander.understand(c["text"]).intent == c["intent"] for c in cases)
    assert right / len(cases) >= 0.85, f"{right}/{len(cases)}"


def test_out_of_domain_is_rejected(understander):
    texts = HELDOUT["out_of_domain"]
    accepted = [t for t in texts if understander.understand(t).intent != "Fallback"]
    assert len(accepted) / len(texts) <= 0.10, accepted


@pytest.mark.parametrize("name,data,least", [("tuning", TUNING, 0.95), ("tuning2", TUNING2, 0.95),
                                              ("tuning3", TUNING3, 0.95), ("tuning4", TUNING4, 0.95),
                                              ("tuning5", TUNING5, 0.95), ("unseen", UNSEEN, 0.88),
                                              ("unseen3", UNSEEN3, 0.90), ("tuning6", TUNING6, 0.95),
                                              ("unseen4", UNSEEN4, 0.95), ("tuning7", TUNING7, 0.95),
                                              ("unseen5", UNSEEN5, 0.94), ("tuning8", TUNING8, 0.95),
                                              ("tuning9", TUNING9, 0.97), ("unseen6", UNSEEN6, 0.97)])
def test_newer_phrasing_sets(understander, name, data, least):
    """The tuning set's misses were mended (97% now); the unseen set measures phrasings nobody
    tuned for (87.8%: 80% before that tuning, 90% before the everyday not-for-me sentences,
    which cost 4 of its questions typed and turned down far more out-of-domain speech; 89.7%
    after the second tuning set's templates). Unseen set 3: 92.1% at stop 14, 90.5% once the
    classifier was held to 0.99 with more not-for-me examples (its out-of-domain requests turned
    down 92.5 -> 95%, red flags caught 94 -> 98%). Unseen set 4, first measured at stop 15:
    96.3%. Unseen set 5, first measured at stop 26 before that stop's tuning: 91.5%; 94.7% after
    tuning set 7 (written blind the same day) went into the examples and templates. Unseen set 6,
    first measured at stop 27 before that stop's tuning: 97.4%; 97.9% after tuning set 9. All:
    out-of-domain mostly rejected."""
    cases = data["in_domain"]
    right = sum(understander.understand(c["text"]).intent == c["intent"] for c in cases)
    assert right / len(cases) >= least, f"{name}: {right}/{len(cases)}"
    accepted = [t for t in data["out_of_domain"] if understander.understand(t).intent != "Fallback"]
    assert len(accepted) / len(data["out_of_domain"]) <= 0.10, accepted


@pytest.mark.parametrize("case", HELDOUT["red_flags"] + TUNING["red_flags"] + TUNING2["red_flags"] + TUNING3["red_flags"]
                         + TUNING4["red_flags"] + TUNING5["red_flags"] + UNSEEN["red_flags"]
                         + TUNING6["red_flags"] + UNSEEN4["red_flags"] + TUNING7["red_flags"] + UNSEEN5["red_flags"]
                         + TUNING8["red_flags"] + TUNING9["red_flags"] + UNSEEN6["red_flags"],
                         ids=lambda c: c["text"][:40])
def test_every_typed_red_flag_is_caught(understander, case):
    result = understander.understand(case["text"])
    assert result.intent == "RedFlag", f"{case['text']!r} -> {result.intent}"


@pytest.mark.parametrize("text,intent", [
    ("my dad's back hurts when he bends his knee why is that", "KneeBendBackPain"),
    ("my wife says she's got no feeling around her bottom", "RedFlag"),
    ("how should my mum sit in her armchair", "PostureTips"),
    ("my husband's been wetting himself since his back went", "RedFlag"),
])
def test_asking_for_someone_else(understander, text, intent):
    """understanding.yaml's others_as_self: someone else's back is read as one's own."""
    assert understander.understand(text).intent == intent


def test_red_flag_phrases_need_their_words_when_some_cannot_be_heard(understander):
    """Skipping a template word the speech model cannot say is free, but not inside the red-flag
    phrase search: "i [pooed] [meself]" would match any sentence opening with "i" and, ranked
    first, hid the real phrase ("i peed myself ..." was missed from speech only)."""
    deaf = Understander(understander.skill, silent_words=frozenset({"pooed", "meself", "shat", "perineum"}),
                        graph=understander.graph)
    said = "i peed myself at work today and didn't even notice until my jeans were wet"
    assert deaf.understand(said).intent == "RedFlag"
    assert deaf.understand("i love my new job at the bakery").intent != "RedFlag"


def test_question_after_a_story(understander):
    """A rejected sentence is read again from a clause break: the story first, the question last."""
    result = understander.understand("i look after my two grandkids every single weekend and they wear me out "
                                     "so what can i do about it at home")
    assert result.intent == "SelfCare" and result.text.startswith("i look after")
    assert understander.understand("i was at the match on saturday and the referee was terrible").intent == "Fallback"


def test_unseen_red_flags(understander):
    """The newest unseen sets' red flags, typed (not tuned on; see their headers): they measure
    how well red flags said in ways nobody anticipated are caught, and how many harmless
    look-alikes get urgent-care advice. Where they fail, the floor is what was measured."""
    caught = [c for c in UNSEEN3["red_flags"] if understander.understand(c["text"]).intent == "RedFlag"]
    assert len(caught) >= 47, len(caught)  # 40 without the examples' classifier
    caught = [c for c in RED_FLAG_UNSEEN["red_flags"] if understander.understand(c["text"]).intent == "RedFlag"]
    assert len(caught) >= 131, len(caught)  # 107 without
    flagged = [t for t in RED_FLAG_UNSEEN["harmless"] if understander.understand(t).intent == "RedFlag"]
    assert len(flagged) <= 16, flagged  # 11 without


@pytest.mark.parametrize("said,intent", [
    ("the pelvis business you keep going on about explain it in layman's terms", "PelvisConnection"),
    ("where's my sciatic nerve located exactly in the leg", "SciaticNerve"),
    ("give it to me as an everyday comparison the stretchy nerve thing", "StringAnalogy"),
    ("what sets this off in the first place", "CauseSummary"),
    ("what am i doing wrong with my posture at the computer", "PostureTips"),  # at 0.9 also "posture wise ..."
])
def test_examples_teach_what_no_template_says(understander, skill, said, intent):
    """intents/en/examples.yaml trains a second opinion for words no template fits well: without
    it these are rejected. ("hamstrings tight pelvis tugged is that the story" was one of them until
    tuning sets 7 and 8 and red-flag set 3 joined the examples: PainMechanism at 0.985, below the
    0.99 the second opinion needs. Held-out questions spoken gained 10 meanwhile.)"""
    assert understander.understand(said).intent == intent
    bare = Understander(skill, graph=understander.graph)
    bare.classifier = None
    assert bare.understand(said).intent == "Fallback"
    assert understander.understand("what's the capital of peru").intent == "Fallback"


def test_red_flags_said_many_ways(understander):
    """210 red flags in many registers (96.7% caught typed; the rest are clinical or oblique) and
    90 harmless sentences that share their words (7 flagged: urgent advice once too often is the
    cheaper mistake)."""
    missed = [c["text"] for c in RED_FLAG_SET["red_flags"] if understander.understand(c["text"]).intent != "RedFlag"]
    assert len(missed) <= 9, missed
    flagged = [t for t in RED_FLAG_SET["harmless"] if understander.understand(t).intent == "RedFlag"]
    assert len(flagged) <= 13, flagged  # 7 without the examples' classifier; 12 before the third red-flag set


def test_third_red_flag_set_written_blind(understander):
    """150 red flags (25 per sign) and 60 harmless look-alikes written blind on 2026-11-27 in many
    registers (Scots, Australian, clinical, teenage): 140 were caught as first written; the misses
    ("pyrexia with lumbar pain", "stacked it on my skateboard", "me leg ... just folds under me")
    became red-flag words and templates. Every one must lead to urgent advice; 22 of the harmless
    lines are flagged ("i nearly fell on the stairs but caught the rail and i'm fine"; 21 before
    tuning set 9's red flags joined the examples: "i feel lovely and warm after my bath ...")."""
    missed = [c["text"] for c in RED_FLAG_SET3["red_flags"] if understander.understand(c["text"]).intent != "RedFlag"]
    assert not missed, missed
    flagged = [t for t in RED_FLAG_SET3["harmless"] if understander.understand(t).intent == "RedFlag"]
    assert len(flagged) <= 22, flagged


def test_red_flags_written_without_seeing_the_templates(understander):
    """A second set of 150 red flags (25 per sign) written blind, 2026-11-27: 143 were caught as
    first written; the 7 missed (a thermometer reading "a hundred and two", a wedding ring
    slipping off, falling through a loft hatch, ...) gave the templates their shapes. Every one
    must now lead to urgent advice; of 60 harmless sentences sharing their words, 9 were flagged
    (11 since a third set's red flags joined the examples, 2026-11-27: held-out red flags spoken
    were caught 4 more times of 864, the cheaper side of that trade; 12 since tuning set 9's:
    "i fell asleep in the armchair and now my back is stiff")."""
    missed = [c["text"] for c in RED_FLAG_SET2["red_flags"] if understander.understand(c["text"]).intent != "RedFlag"]
    assert not missed, missed
    flagged = [t for t in RED_FLAG_SET2["harmless"] if understander.understand(t).intent == "RedFlag"]
    assert len(flagged) <= 12, flagged


@pytest.mark.parametrize("text, sign", [
    ("i fell down the stairs carrying the baby and my back hurts", "fall or accident"),
    ("i have just finished antibiotics for an infection and now my back hurts", "fever"),
    ("the weight is just coming off me and my back aches at night", "weight loss"),
    ("i can't push off with my foot properly when i walk", "leg weakness"),
    ("sir i am having difficulty in walking legs are becoming weak", "leg weakness"),
])
def test_urgent_advice_names_the_right_sign(understander, text, sign):
    """What the assistant says depends on the sign: a fall must not be explained as loss of
    bladder control. (Eight red-flag sentences once sat in the bladder-or-bowel block, and a red
    flag that only came closest, weakly, kept its sentence's sign over a sign word heard.)"""
    result = understander.understand(text)
    assert (result.intent, result.slots.get("sign")) == ("RedFlag", sign)


@pytest.mark.parametrize("text, intent, slots", [
    ("what stretches help my hamstrings", "StretchTips", {"area": "hamstring"}),
    ("guide me through the knee to chest stretch", "GuidedStretch", {"stretch": "knee to chest"}),
    ("how should i sit", "PostureTips", {"posture": "sitting"}),
    ("what's the weather tomorrow", "Fallback", {}),
    ("turn on the lights", "Fallback", {}),
])
def test_slots_and_fallback(understander, text, intent, slots):
    result = understander.understand(text)
    assert (result.intent, result.slots) == (intent, slots)


def test_a_conversation(skill, understander):
    """Ask, go deeper, go back, repeat, slow down, and stop."""
    d = Dialogue(skill)

    def say(text):
        return d.respond(understander.understand(text))

    first = say("why does my lower back hurt when I bend my knee")
    assert "diagnos" in first.text.lower()
    more = say("tell me more")
    assert more.intent == "More" and more.text and more.text != first.text
    back = say("go back")
    assert back.intent == "Previous"
    again = say("say that again")
    assert again.text == back.text
    slower = say("speak slower")
    assert slower.rate < first.rate
    assert say("what's the weather").intent == "Fallback"
    assert say("goodbye").end_session


def test_guided_stretch_routine_and_red_flag_interrupt(skill, understander):
    d = Dialogue(skill)
    start = d.respond(understander.understand("guide me through the knee to chest stretch"))
    assert start.in_routine
    text = start.text.lower()
    assert "stop" in text and ("numb" in text or "tingl" in text)
    holds = []
    step = start
    for _ in range(60):
        holds += [s.hold for s in step.segments if s.hold]
        if not step.in_routine:
            break
        step = d.advance()
    assert holds and all(15 <= h <= 30 for h in holds)
    d.respond(understander.understand("start the pelvic tilt"))
    assert d.respond(understander.understand("pause")).intent == "Pause"
    flag = d.respond(understander.understand("my groin has gone numb"))
    assert flag.intent == "RedFlag" and not flag.in_routine and d.routine is None
    assert "urgent" in flag.text.lower() or "emergency" in flag.text.lower()


def test_continue_resumes_a_paused_stretch_and_goes_on_with_an_answer(skill, understander):
    """People say "continue" for both (every blind set labels it Resume): paused, it resumes;
    after an answer, it goes on with the answer, as "next" would."""
    d = Dialogue(skill)
    assert understander.understand("continue").intent == "Resume"
    first = d.respond(understander.understand("what is the sciatic nerve"))
    on = d.respond(understander.understand("continue"))
    assert on.intent == "Next" and on.text and on.text != first.text
    d.respond(understander.understand("start the pelvic tilt"))
    assert d.respond(understander.understand("pause")).intent == "Pause" and d.routine.paused
    resumed = d.respond(understander.understand("continue"))
    assert resumed.intent == "Resume" and resumed.in_routine and not d.routine.paused


def test_every_stretch_says_to_stop_if_it_hurts(skill):
    assert len(skill.stretches) >= 4
    for stretch in skill.stretches.values():
        safety = stretch.safety.lower()
        assert "stop" in safety and ("numb" in safety or "tingl" in safety), stretch.key


def test_never_claims_a_diagnosis(skill):
    texts = json.dumps(skill.responses).lower() + json.dumps(skill.system).lower()
    for claim in ("you have sciatica", "you have a herniated", "you are suffering from", "your diagnosis is"):
        assert claim not in texts


def test_telling_words_rescue_long_questions_but_not_everyday_requests(understander):
    """A question wrapped in words no template has is still understood from its telling words
    ("moving", "safe"), with its slot; words of the not-for-me sentences ("play", "song") veto it."""
    long = understander.understand("okay so in the end how should i be moving around to keep my back safe at work")
    assert (long.intent, long.slots) == ("PostureTips", {"posture": "moving"})
    assert 0.5 <= long.confidence < 0.8  # a rescue is never as sure as a match
    assert understander.understand("play a song about home remedies you suggest").intent == "Fallback"


@pytest.mark.parametrize("heard, sign", [
    ("what can i do for my back i've also gotta fever", "fever"),  # "gotta" is "got a"
    ("a my fell off a ladder and land it on my back yesterday", "fall or accident"),
    ("i came off my bike and land it hard on my back", "fall or accident"),
])
def test_red_flags_heard_loosely_still_lead_to_urgent_advice(understander, heard, sign):
    """Transcripts of spoken red flags as a recogniser wrote them: run-together words, misheard
    words. A red flag that is only the closest sentence is taken at a lower confidence."""
    from backcoach.nlu import RED_FLAG_THRESHOLD

    result = understander.understand(heard)
    assert result.intent == "RedFlag" and result.slots.get("sign") == sign, result
    assert result.confidence >= RED_FLAG_THRESHOLD


def test_run_together_words_are_written_out(understander):
    assert understander.understand("i wanna know what stretches help my hamstrings").slots == {"area": "hamstring"}
    split = understander._undo_sound_alikes(Hypothesis(["i've", "gotta", "fever"], [0.9, 0.6, 0.8]))
    assert split.words == ["i've", "got", "a", "fever"] and split.confidences == [0.9, 0.6, 0.6, 0.8]


def test_no_sound_alike_is_something_the_templates_say(understander):
    """A sound-alike is undone before matching, so one the templates use would break their
    sentences ("how should i take care of my back" read as "how should sciatic care ...")."""
    from backcoach.grammar import build_grammar

    phrases = build_grammar(understander.graph, None, None, add_unknown=False).phrases
    pairs = {pair for phrase in phrases for pair in zip(phrase.split(), phrase.split()[1:])}
    said = [" " + phrase + " " for phrase in phrases]
    for word, spellings in understander.skill.sound_alikes.items():
        for spelling in spellings:
            words = words_of(spelling)
            if len(words) == 2:
                assert tuple(words) not in pairs, spelling
            else:
                assert not any(f" {spelling} " in phrase for phrase in said), spelling
    assert understander.understand("how should i take care of my back").intent == "SelfCare"


def test_a_red_flag_word_anywhere_leads_to_urgent_advice(understander):
    """"fever" heard in a sentence the recogniser otherwise garbled (from intents' red_flag_words)."""
    result = understander.understand("what can i do for my back i miles old not are fever")
    assert result.intent == "RedFlag" and result.slots == {"sign": "fever"}
    assert understander.understand("what stretches help my hamstrings").intent == "StretchTips"
    # "my dad's been soiling the bed and his back has been bad for a fortnight", as one voice was heard
    result = understander.understand("my back has been soiling them at i'm can back half be not that if ought i to")
    assert result.intent == "RedFlag" and result.slots == {"sign": "bladder or bowel"}


@pytest.mark.parametrize("text,sign", [
    ("what stretch should i do and also i've had trouble holding my wee", "bladder or bowel"),
    ("my back hurts and i can't control when i go to the loo", "bladder or bowel"),
    ("what is the sciatic nerve and why is it numb around my private parts", "groin numbness"),
    ("should i stretch even though my legs have got much weaker this week", "leg weakness"),
    ("is it ok to use heat i've been running a temperature", "fever"),
    ("my spine has been hurting ever since i fell at work", "fall or accident"),
    ("i've lost six kilos and i'm not dieting", "weight loss"),
    ("my husband messed itself in bed and didn't notice tilt morning", "bladder or bowel"),  # as heard
])
def test_two_telling_words_close_together_name_a_red_flag(understander, text, sign):
    """No template says these, but a pair from intents' red_flag_pairs does ("holding" + "wee")."""
    assert understander.find_red_flag_word(words_of(text)) == sign
    assert understander.understand(text).intent == "RedFlag"


@pytest.mark.parametrize("text", [
    "the toilet is leaking all over the bathroom",  # toilet + leak: no danger sign
    "can a slipped disc in my back cause this",   # "slipped" is not a fall
    "will it help my back if i lose weight",      # wanting to lose weight
    "what's the temperature outside",
    "how long should i hold the hamstring stretch",
    "i messed up my back lifting the sofa",
])
def test_harmless_pairs_are_not_red_flags(understander, text):
    assert understander.find_red_flag_word(words_of(text)) is None


def test_harmless_phrases_hide_their_red_flag_words(understander):
    """red_flag_harmless: "hay fever" is not a fever, though "fever" alone names one."""
    assert understander.find_red_flag_word(words_of("my eyes itch with hay fever")) is None
    assert understander.find_red_flag_word(words_of("my back hurts and i've got a fever")) == "fever"


def test_wanting_to_lose_weight_is_no_danger_sign(understander):
    """Weight lost without trying is a red flag; weight someone wants to lose is not."""
    for text in ("what yoga is good for losing weight", "how to lose weight when my back hurts"):
        assert understander.understand(text).intent != "RedFlag", text
    assert understander.understand("i'm losing weight and i don't know why").slots == {"sign": "weight loss"}


def test_a_red_flag_phrase_needs_its_sign_heard(understander):
    """"over" is spelt like "fever", but only "fever" itself names the danger sign: this is a
    posture question, not "fever with a bad back"; "dripping" with sweat is not "tripping"."""
    result = understander.understand("whats the right way to bend over with a bad back")
    assert result.intent == "PostureTips"
    assert understander.understand("fever with a bad back").intent == "RedFlag"
    assert understander.understand("i'm dripping with sweat after spin class").intent != "RedFlag"


@pytest.mark.parametrize("heard", ["five five", "thirty five", "fiver"])
def test_a_red_flag_sentence_needs_one_of_its_words_heard_as_itself(understander, heard):
    """A real person naming playing cards ("five five", tests/data/real_speech) came closest to
    "i have fever" with not one word heard as itself; that is no danger sign."""
    assert understander.understand(heard).intent == "Fallback"
    assert understander.understand("fever").intent == "RedFlag"  # one word, heard as itself
    assert understander.understand("i have a fever").slots == {"sign": "fever"}


def test_a_common_word_alone_tells_no_intent(understander):
    """"much" is in one intent's templates only ("hurt so much"); that makes it no telling word."""
    assert understander.understand("thank you so much").intent != "KneeBendBackPain"


def test_every_red_flag_word_can_be_heard(understander):
    """The recogniser hears only template words: a red-flag word or pair word no sentence uses
    could never be heard, so the skill must use each one somewhere."""
    known = set(understander.graph.words())
    skill = understander.skill
    phrases = [p.split() for p in skill.red_flag_words]
    phrases += [list(w) for pair in skill.red_flag_pairs for w in pair.words + pair.near]
    assert skill.red_flag_pairs and not [w for p in phrases for w in p if w not in known]


def test_red_flag_search_prunes_by_the_heaviest_path_through_each_state(understander):
    """The per-state bound only drops paths that could never count as a red flag (costing more
    than a fifth of their words' weight): every phrase found without it is found with it."""
    aligner = understander.aligner
    heard = ["what", "stretches", "help", "and", "i", "can't", "control", "my", "bladder", "now"]
    inputs = (heard, heard[:6], ["i", "can't", "control", "my", "bladder"], ["my", "groin", "is", "numb"],
              ["i", "have", "a", "fever", "and", "back", "pain"], ["tell", "me", "a", "joke"],
              ["so", "i", "can't", "control", "bladder"], ["my", "groin", "numb", "today"])
    found = near = 0
    for block in understander.red_flag_blocks:
        through = aligner.through_weights(block)
        assert through[0] == pytest.approx(aligner.heaviest(block)) == pytest.approx(through[-1])
        assert all(w <= through[0] + 1e-9 for w in through)
        limits = [0.2 * w for w in through]
        for words in inputs:
            ins = aligner.insert_costs(words, None)
            unpruned = [float("inf")] * (block.end - block.start + 1)  # the block itself, not its smallest graph
            plain = aligner.align(block, words, ins, local=True, trace=True, state_bounds=unpruned)
            weight = sum(aligner.costs.weight(w) for w in plain.template_words) if plain else 0.0
            if plain is None or plain.cost > 0.2 * weight:
                continue
            found += 1
            near += plain.cost > 0
            pruned = aligner.align(block, words, ins, local=True, trace=True, state_bounds=limits)
            assert pruned is not None and pruned.cost == pytest.approx(plain.cost)
            assert pruned.template_words == plain.template_words
    assert found >= 3 and near >= 1
    assert understander.find_red_flag(Hypothesis(heard)) is not None


def test_a_block_without_slots_is_traced_in_its_smallest_graph(understander):
    """Tracing (which template words matched) searches the smallest graph of a block that reads no
    slot: the same cost as the block itself gives, along a sentence the block can say; the exact
    matcher is not asked about words no template has."""
    aligner = understander.aligner
    plain = [b for b in understander.graph.blocks if not aligner.has_slots(b)]
    slotted = [b for b in understander.graph.blocks if aligner.has_slots(b)]
    assert plain and slotted
    for words in (["why", "does", "my", "back", "hurt", "when", "i", "bend", "my", "knee"],
                  ["what", "is", "the", "sciatic", "nerve"], ["say", "that", "again"], ["tell", "me", "a", "joke"]):
        ins = aligner.insert_costs(words, None)
        for block in plain:
            traced = aligner.align(block, words, ins, trace=True)
            assert traced.cost == pytest.approx(aligner.align(block, words, ins).cost)
            sentence = " ".join(traced.template_words)
            if sentence and block.intent != "Fallback":
                assert understander.understand(sentence).intent == block.intent, sentence
    assert understander.exact_words is not None and "sciatic" in understander.exact_words
    assert understander._exact("what is the sciatic nerve", "", 1.0).intent == "SciaticNerve"
    assert understander._exact("what is the sciatic zebra", "", 1.0) is None
    assert understander._may_match_exactly("what is the sciatic nerve".split())
    assert not understander._may_match_exactly("nerve the sciatic is what".split())  # known words, no sentence
    assert understander._may_match_exactly(["what's", "2", "plus", "2"])  # digits: hassil's to judge


def test_words_that_stop_mid_request_are_told_from_a_finished_one():
    from backcoach.text import unfinished

    for words in ("how should i", "what is the", "a large latte with", "when should i see a",
                  "um i was wondering", "i'd like to know"):
        assert unfinished(words.split()), words
    for words in ("how should i sit", "what can you do", "stop", "", "okay", "sorry", "all right"):
        assert not unfinished(words.split()), words


def _edited_sentences(graph, rng, count: int) -> list[list[str]]:
    """Template sentences with a few words dropped, swapped for others or added, and word salad."""
    vocab = sorted(graph.words()) + ["the", "weather", "pizza", "kitchen", "tomorrow", "numb"]
    out = []
    for block in rng.sample(graph.blocks, min(count, len(graph.blocks))):
        words = random_sentence(graph, block, rng)[0].split()
        for _ in range(rng.randint(0, 3)):
            at = rng.randrange(len(words) + 1)
            edit = rng.choice(("drop", "swap", "add"))
            if edit == "add" or not words[at:]:
                words.insert(at, rng.choice(vocab))
            elif edit == "swap":
                words[at] = rng.choice(vocab)
            else:
                del words[at]
        out.append(words or ["the"])
    return out + [[rng.choice(vocab) for _ in range(rng.randint(1, 9))] for _ in range(count // 2)]


def test_the_pruned_search_finds_what_aligning_every_block_in_full_finds(understander):
    """Blocks are searched cheapest lower bound first, each pruned: the closest block, its cost and
    the confidence are those of aligning every block without a bound (of equal costs a red flag,
    then the skill's order), and no lower bound is above its block's cost."""
    aligner, graph = understander.aligner, understander.graph
    inf = float("inf")
    rng = random.Random(21)
    for words in _edited_sentences(graph, rng, 40):
        ins = aligner.insert_costs(words, None)
        full = []
        for k, block in enumerate(graph.blocks):
            found = aligner.align(block, words, ins)
            cost = inf if found is None else found.cost
            assert aligner.lower_bound(block, words, ins) <= cost + 1e-9, (words, block)
            full.append((cost, block.intent != "RedFlag", k))
        best_cost, _, best = min(full)
        runner_up = min((c for c, _, k in full if graph.blocks[k].intent != graph.blocks[best].intent), default=inf)
        top, got_runner_up = understander._closest(words, ins)
        assert top.block == graph.blocks[best] and top.cost == pytest.approx(best_cost), words
        total = sum(ins)
        assert (understander._confidence(top.cost, got_runner_up, total)
                == understander._confidence(best_cost, runner_up, total)), words


def test_the_red_flag_pre_check_never_skips_a_phrase_the_search_would_take(understander, monkeypatch):
    """A red-flag block whose every sentence must skip too much of what was not heard (or a sign
    word not said) is not searched: searching every block finds the same phrases, and most
    blocks are skipped for everyday words."""
    rng = random.Random(5)
    inputs = [words_of(c["text"]) for c in RED_FLAG_SET["red_flags"]]
    inputs += [words_of(text) for text in RED_FLAG_SET["harmless"]]
    inputs += _edited_sentences(understander.graph, rng, 60)
    found = [understander.find_red_flag(Hypothesis(w)) for w in inputs]
    aligner = understander.flag_aligner
    words = "what stretches help my back".split()
    fits = understander._phrase_fits(words, aligner.insert_costs(words, None))
    skipped = [b for b in understander.red_flag_blocks if aligner.cheapest_path(b, fits) > 1e-9]
    assert len(skipped) > len(understander.red_flag_blocks) / 2
    monkeypatch.setattr(understander, "_wild_flags", list(understander.red_flag_blocks))
    every = [understander.find_red_flag(Hypothesis(w)) for w in inputs]
    assert sum(f is not None for f in found) >= len(RED_FLAG_SET["red_flags"]) / 2
    for words, got, want in zip(inputs, found, every):
        assert (got is None) == (want is None), words
        if got is not None:
            assert got.block == want.block and got.cost == pytest.approx(want.cost), words

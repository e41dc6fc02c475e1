"""Speak to it: synthesized questions (espeak-ng through pyttsx3's engine, and Piper's joe voice)
must be understood from audio; noise, silence and out-of-domain speech must be rejected."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from backcoach.audio import AudioChunk, float_to_pcm16, write_wav
from backcoach.wordgraph import random_sentence
from conftest import run_cli

# One clear phrasing per catalogue intent, spoken by each test voice.
SPOKEN = {
    "KneeBendBackPain": ("why does my lower back hurt when i bend my knee", {}),
    "PelvisConnection": ("how is my pelvis connected to my back and legs", {}),
    "SciaticNerve": ("what is the sciatic nerve", {}),
    "PainMechanism": ("how does bending my knee cause back pain", {}),
    "StringAnalogy": ("explain the string example", {}),
    "CauseSummary": ("what are the main causes", {}),
    "SelfCare": ("what can i do about it", {}),
    "StretchTips": ("what stretches help my hamstrings", {"area": "hamstring"}),
    "GuidedStretch": ("guide me through the knee to chest stretch", {"stretch": "knee to chest"}),
    "PostureTips": ("how should i sit", {"posture": "sitting"}),
    "SeeDoctor": ("when should i see a doctor", {}),
    "RedFlag": ("my groin has gone numb", {"sign": "groin numbness"}),
    "Help": ("what can you do", {}),
    "Repeat": ("say that again", {}),
    "More": ("tell me more", {}),
    "Next": ("next", {}),
    "Previous": ("go back", {}),
    "Stop": ("stop", {}),
    "SpeakSlower": ("speak slower", {}),
    "SpeakFaster": ("speak faster", {}),
}
OUT_OF_DOMAIN = ["what's the weather like tomorrow", "turn on the kitchen lights",
                 "play some music by the beatles", "set a timer for ten minutes",
                 "who won the football game last night", "how do i make pancakes"]
# Piper samples noise on every call; without it the tests hear the same audio on every run.
PIPER = "piper:noise_scale=0:noise_w=0"
VOICES = ["pyttsx3", "espeak:en-us:rate=150", PIPER]


@pytest.fixture(scope="module")
def voices():
    from backcoach.tts import load_voice

    loaded = {}
    for spec in VOICES:
        try:
            loaded[spec] = load_voice(spec)
        except Exception as exc:  # noqa: BLE001
            if spec == PIPER:
                pytest.skip(f"piper voice unavailable: {exc}")
            raise
    return loaded


def _hear(assistant, voice, text, tmp_path, name):
    chunk = voice.synthesize(text)
    path = tmp_path / f"{name}.wav"
    write_wav(path, chunk.to_pcm16_mono_16k(), 16000)
    return assistant.hear_file(path)


@pytest.mark.parametrize("spec", VOICES)
def test_every_intent_is_understood_from_speech(assistant, voices, spec, tmp_path):
    """Each intent's question, heard one after another by one assistant, as in a session.

    At most one miss per voice, and never the red flag: Vosk's answer for a file depends a little
    on what the same recogniser heard before (1 in 20 files changed when the order was reversed),
    so a grammar edit elsewhere can turn one question into a near sound-alike ("how should i sit"
    heard as "how should i ease it" after the other 19, while heard right on its own).
    """
    voice = voices[spec]
    misses = []
    for intent, (text, slots) in SPOKEN.items():
        heard = _hear(assistant, voice, text, tmp_path, intent)
        got = (heard.result.intent, {k: heard.result.slots.get(k) for k in slots})
        if got != (intent, slots):
            assert intent != "RedFlag", f"{text!r} heard as {heard.transcript!r} -> {got}"
            misses.append(f"{text!r} heard as {heard.transcript!r} -> {got}")
    assert len(misses) <= 1, misses


@pytest.mark.parametrize("spec", ["pyttsx3", PIPER])
def test_sampled_template_sentences_from_speech(assistant, voices, spec, tmp_path):
    rng = random.Random(11)
    graph = assistant.understander.graph
    blocks = [b for b in graph.blocks if b.intent != "Fallback"]
    right = total = 0
    misses = []
    for k in range(40):
        block = rng.choice(blocks)
        sentence, _ = random_sentence(graph, block, rng)
        heard = _hear(assistant, voices[spec], sentence, tmp_path, f"s{k}")
        total += 1
        if heard.result.intent == block.intent:
            right += 1
        else:
            misses.append((sentence, heard.transcript, heard.result.intent))
    assert right / total >= 0.9, misses


@pytest.mark.parametrize("text", OUT_OF_DOMAIN)
def test_out_of_domain_speech_is_rejected(assistant, voices, text, tmp_path):
    heard = _hear(assistant, voices["pyttsx3"], text, tmp_path, "ood")
    assert heard.result.intent == "Fallback", heard.transcript


@pytest.mark.parametrize("skill", [None, "tests/data/barista"])
def test_real_people_talking_about_something_else_are_turned_down(skill):
    """Real recordings, not synthesized: people naming playing cards and numbers, reading Jane
    Austen aloud, saying "go somewhere and do something" (tests/data/real_speech, from
    pocketsphinx's tests). Neither skill answers any of them, clean or in kitchen noise at 12 dB
    (the default seed's noise; over ten seeds from clean to 6 dB, backcoach answered 7 of 550,
    none clean, and the drink skill none)."""
    folder = "tests/data/real_speech"
    proc = run_cli("eval", *(["--intents", skill] if skill else []), "--audio", folder,
                   "--labels", f"{folder}/labels.yaml", "--snr", "clean,12", "--noise", "kitchen", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    for condition in report["conditions"]:
        assert condition["ood_total"] == 11
        assert condition["false_accept"] == 0, report["misses"]


def test_real_people_are_understood_by_a_skill_for_what_they_say():
    """The same recordings heard by a small hassil skill for them (tests/data/real_speech/cards:
    a card's rank and suit, a robot's direction and a distance from a number range): "ten of
    clubs", "seven of clubs" and "go forward ten meters" with every slot right, the rest turned
    down, clean and at 12 dB. (Over ten seeds: every one from clean to 12 dB; at 6 dB, 28 of 30,
    and 3 of 70 others answered.)"""
    folder = "tests/data/real_speech"
    proc = run_cli("eval", "--intents", f"{folder}/cards", "--audio", folder, "--labels",
                   f"{folder}/labels_cards.yaml", "--snr", "clean,12", "--noise", "kitchen", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    for condition in report["conditions"]:
        assert (condition["accepted"], condition["total"]) == (3, 3), report["misses"]
        assert (condition["false_accepted"], condition["ood_total"]) == (0, 7), report["misses"]


@pytest.mark.parametrize("kind", ["silence", "white", "hiss", "hum", "clicks"])
def test_silence_and_noise_are_not_answered(assistant, kind, tmp_path):
    rng = np.random.default_rng(5)
    n = 16000 * 3
    if kind == "silence":
        x = np.zeros(n)
    elif kind == "white":
        x = rng.normal(0, 0.2, n)
    elif kind == "hiss":  # a faint one, above the level where a recording is not heard at all
        x = rng.normal(0, 10 ** (-65 / 20), n)
    elif kind == "hum":
        x = 0.3 * np.sin(2 * np.pi * 50 * np.arange(n) / 16000)
    else:
        x = np.zeros(n)
        x[rng.integers(0, n, 30)] = 0.9
    path = tmp_path / f"{kind}.wav"
    write_wav(path, AudioChunk.from_float(x.astype(np.float32), 16000).to_pcm16_mono_16k(), 16000)
    assert assistant.hear_file(path).result.intent == "Fallback"


def test_a_quiet_recording_is_still_heard(assistant, voices, tmp_path):
    """A question recorded far below the usual level (peaks at -45 dBFS, its loudest half second
    under -55 dBFS RMS) is understood, not taken for silence."""
    from backcoach.audio import signal_level_dbfs

    spoken = voices["pyttsx3"].synthesize("why does my lower back hurt when i bend my knee")
    samples = spoken.to_float()
    quiet = samples / np.abs(samples).max() * 10 ** (-45 / 20)
    pcm = AudioChunk.from_float(quiet.astype(np.float32), spoken.rate).to_pcm16_mono_16k()
    assert max(signal_level_dbfs(pcm[i:i + 16000]) for i in range(0, len(pcm), 16000)) < -55
    path = tmp_path / "quiet.wav"
    write_wav(path, pcm, 16000)
    assert assistant.hear_file(path).result.intent == "KneeBendBackPain"


def test_hear_cli_contract_and_bad_files_in_a_batch(voices, tmp_path):
    good = tmp_path / "good.wav"
    write_wav(good, voices["pyttsx3"].synthesize("why does my lower back hurt when i bend my knee").to_pcm16_mono_16k(), 16000)
    stereo = tmp_path / "stereo48k.wav"
    chunk = voices["pyttsx3"].synthesize("what is the sciatic nerve")
    mono = chunk.to_pcm16_mono_16k()
    x = np.frombuffer(mono, dtype=np.int16).astype(np.float32) / 32768
    import soxr
    y = soxr.resample(x, 16000, 48000)
    write_wav(stereo, (np.stack([y, y], axis=1) * 32767).astype(np.int16).tobytes(), 48000, channels=2)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("this is not audio")
    proc = run_cli("hear", "--json", str(good), str(tmp_path / "empty.wav"), str(tmp_path / "missing.wav"),
                   str(stereo), str(tmp_path / "notes.wav"))
    assert proc.returncode != 0
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [Path(r["file"]).name for r in rows] == ["good.wav", "stereo48k.wav"]
    assert set(rows[0]) == {"file", "transcript", "intent", "slots", "confidence", "reply"}
    assert rows[0]["intent"] == "KneeBendBackPain" and rows[1]["intent"] == "SciaticNerve"
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 3 and all(e.startswith("backcoach: ") for e in errors)
    assert "Traceback" not in proc.stderr


RED_FLAGS_SPOKEN = {
    "bladder or bowel": "i can't control my bladder",
    "groin numbness": "i have numbness in my groin",
    "leg weakness": "my legs are getting weaker",
    "fever": "i have a fever and back pain",
    "fall or accident": "i hurt my back in a fall",
    "weight loss": "i'm losing weight without trying",
}


@pytest.mark.parametrize("spec", ["espeak:en-us:rate=150", PIPER])
def test_every_red_flag_is_caught_from_speech(assistant, voices, spec, tmp_path):
    """Each danger sign said on its own, then inside another question. The voices here speak the
    same audio every time: pyttsx3 does not (its audio for one sentence differs from call to
    call), and one of its renderings in eight of "what stretches help my back and i have a fever
    and back pain" is heard as "... and [unk] i'm back pain", so it would make this test flaky."""
    for sign, text in RED_FLAGS_SPOKEN.items():
        heard = _hear(assistant, voices[spec], text, tmp_path, "flag")
        assert (heard.result.intent, heard.result.slots.get("sign")) == ("RedFlag", sign), heard.transcript
        # Inside another question too: the red flag still wins.
        both = _hear(assistant, voices[spec], f"what stretches help my back and {text}", tmp_path, "both")
        assert both.result.intent == "RedFlag", both.transcript


STEADY_NOISE_QUESTIONS = [
    ("why does my lower back hurt when i bend my knee", "KneeBendBackPain"),
    ("what is the sciatic nerve", "SciaticNerve"),
    ("guide me through a stretch", "GuidedStretch"),
    ("how should i sit", "PostureTips"),
    ("i have numbness in my groin", "RedFlag"),
    ("when should i see a doctor", "SeeDoctor"),
]


def test_noise_suppression_helps_in_a_steady_roar(voices, tmp_path):
    """Questions over loud pink noise (3 dB SNR, like a cooker hood at full blast) are understood
    at least as often with noise suppression as without, and two in three of them are.

    Two fresh assistants hear the same files in the same order: what Vosk hears in one file can
    depend on the files it heard before in the same process (1 of 20 changed when their order was
    reversed), so a shared one would make the answer depend on the tests run before."""
    from backcoach.assistant import Assistant
    from backcoach.noise import mix, pink

    rng = np.random.default_rng(7)
    paths = []
    for k, (text, _) in enumerate(STEADY_NOISE_QUESTIONS):
        pcm = voices[PIPER].synthesize(text).to_pcm16_mono_16k()
        speech = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768
        noisy = mix(speech, pink(len(speech) + 16000, rng), 3.0)
        paths.append(tmp_path / f"roar{k}.wav")
        write_wav(paths[-1], AudioChunk.from_float(noisy.astype(np.float32), 16000).to_pcm16_mono_16k(), 16000)
    understood = {}
    for mode in ("on", "off"):
        assistant = Assistant()
        if mode == "off":
            assistant.denoise = None
        understood[mode] = sum(assistant.hear_file(path).result.intent == intent
                               for path, (_, intent) in zip(paths, STEADY_NOISE_QUESTIONS))
    assert understood["on"] >= understood["off"], understood
    assert understood["on"] >= 2 * len(STEADY_NOISE_QUESTIONS) // 3, understood


def test_a_broken_voice_still_prints_the_answer(tmp_path):
    """A voice that can't speak (unknown voice, espeak-ng broken): the reply is still printed,
    the failure is one line, exit 0."""
    import os

    env_path = tmp_path / "bin"
    env_path.mkdir()
    (env_path / "espeak-ng").write_text("#!/bin/sh\nexit 3\n")
    (env_path / "espeak-ng").chmod(0o755)
    from conftest import BACKCOACH, ROOT, offline_env
    import subprocess

    env = offline_env()
    env["PATH"] = f"{env_path}{os.pathsep}{env['PATH']}"
    proc = subprocess.run(BACKCOACH + ["ask", "--voice", "nonexistent-voice-xyz", "--speak-to",
                                       str(tmp_path / "a.wav"), "what is the sciatic nerve"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "sciatic" in proc.stdout.lower()
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("backcoach: could not speak the reply"), lines


def test_an_order_with_a_pause_in_the_middle_keeps_the_slots_after_it(voices, tmp_path):
    """A person who stops for a second mid-order ("a small mocha ... with a bit of brown sugar")
    gives Vosk two utterances; the file is one request, so both halves' slots are read, and a red
    flag said after a pause is still caught."""
    from backcoach.assistant import Assistant

    assistant = Assistant(Path(__file__).parent / "data" / "barista")
    voice = voices[PIPER]
    for name, first, second in [("mocha", "i'd like a small mocha", "with a bit of brown sugar"),
                                ("iced", "may i have a medium iced coffee", "with lots of soy milk")]:
        gap = np.zeros(int(1.2 * 16000), dtype=np.int16).tobytes()
        pcm = voice.synthesize(first).to_pcm16_mono_16k() + gap + voice.synthesize(second).to_pcm16_mono_16k()
        write_wav(tmp_path / f"{name}.wav", pcm, 16000)
        heard = assistant.hear_file(tmp_path / f"{name}.wav")
        assert len(heard.segments) == 2, heard.transcript  # the pause did split it
        assert heard.result.intent == "orderDrink", heard.transcript
        assert {"sugarAmount", "milkAmount"} & heard.result.slots.keys(), heard.result.slots
    own = Assistant()
    gap = np.zeros(int(1.2 * 16000), dtype=np.int16).tobytes()
    pcm = (voice.synthesize("what stretches help my back").to_pcm16_mono_16k() + gap
           + voice.synthesize("and i can't control my bladder").to_pcm16_mono_16k())
    write_wav(tmp_path / "flag.wav", pcm, 16000)
    assert own.hear_file(tmp_path / "flag.wav").result.intent == "RedFlag"


@pytest.mark.parametrize("before, after, padded", [(0.0, 0.0, 0.8), (0.1, 0.2, 0.5), (0.5, 0.7, 0.0)])
def test_a_file_is_given_only_the_quiet_it_lacks_around_its_sound(tmp_path, monkeypatch, before, after, padded):
    """A recording cut at its words gets 0.3 s of silence before and 0.5 s after (Vosk loses a word
    said at the very edge); quiet the file has already counts towards that and is not doubled."""
    import backcoach.assistant as assistant_module
    from backcoach.assistant import Assistant

    fed: list[int] = []

    def transcribe(recognizer, chunks):
        fed.append(sum(len(c) for c in chunks))
        return iter(())

    monkeypatch.setattr(assistant_module, "transcribe", transcribe)
    monkeypatch.setattr(assistant_module.Assistant, "recognizer", lambda self: None)
    sound = (0.3 * np.sin(2 * np.pi * 300 * np.arange(16000) / 16000)).astype(np.float32)
    audio = np.concatenate([np.zeros(int(before * 16000), np.float32), sound,
                            np.zeros(int(after * 16000), np.float32)])
    path = tmp_path / "cut.wav"
    write_wav(path, float_to_pcm16(audio), 16000)
    assistant = Assistant()
    assistant.denoise = None
    assistant.hear_file(path)
    assert fed[0] / 32000 == pytest.approx(len(audio) / 16000 + padded, abs=0.021)


def test_a_file_is_heard_the_same_way_every_time_alone_or_in_a_batch():
    """Vosk's feature extraction adds random dither drawn from the C library's rand(): the same
    file's words and confidences changed from one hearing to the next (and with whatever came
    before it). Seeded per file, they are the same every time."""
    from backcoach.assistant import Assistant

    data = Path(__file__).parent / "data"
    target = data / "eval" / "latte.wav"

    def heard(assistant):
        found = assistant.hear_file(target)
        return found.transcript, [(h.words, h.confidences) for s in found.segments for h in s.hypotheses]

    first = Assistant()  # backcoach's own skill: a drink order is out of its domain, heard unsurely
    alone = heard(first)
    assert heard(first) == alone
    other = Assistant()
    for name in ("cancel.wav", "tea_honey.wav", "ood_weather.wav"):
        other.hear_file(data / "eval" / name)
    assert heard(other) == alone

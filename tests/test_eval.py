"""`backcoach eval`: labelled and synthetic runs on the coffee skill, noise mixing and pink noise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import run_cli

from backcoach.evaluate import accepted, parse_snrs
from backcoach.noise import RATE, active_rms, babble, mix, pad, pink, rms, white

LABELLED = ["eval", "--intents", "tests/data/coffee", "--audio", "tests/data/eval",
            "--labels", "tests/data/eval/labels.yaml", "--json"]


def _report(proc) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_labelled_eval_json():
    report = _report(run_cli(*LABELLED, "--snr", "clean,12", "--noise", "white"))
    clean, noisy = report["conditions"]
    assert clean["snr"] == "clean" and noisy["snr"] == 12
    assert clean["total"] == 6 and clean["ood_total"] == 2
    assert clean["acceptance"] >= 0.8
    assert clean["false_accept"] is not None and 0 <= clean["false_accept"] <= 1
    assert clean["rtf"] > 0 and noisy["rtf"] > 0
    assert report["setup_seconds"] > 0
    assert report["mean_noisy_acceptance"] == noisy["acceptance"]
    assert isinstance(report["misses"], list)
    calibration = report["calibration"]  # stated confidence against how often it was right
    assert 0 <= calibration["error"] <= 1 and 0 <= clean["calibration_error"] <= 1
    assert sum(b["n"] for b in calibration["bins"]) == 2 * (6 + 2)
    assert report["snr_measure"] == "active"


def test_synthetic_eval_json():
    proc = run_cli("eval", "--intents", "tests/data/coffee", "-n", "6", "--voices", "espeak:en-us",
                   "--snr", "clean,12", "--noise", "pink", "--json")
    report = _report(proc)
    assert [c["snr"] for c in report["conditions"]] == ["clean", 12]
    for c in report["conditions"]:
        assert {"snr", "accepted", "total", "acceptance", "false_accept", "ood_total", "rtf"} <= set(c)
        assert c["total"] == 6 and c["ood_total"] == 6 and c["rtf"] > 0
    assert report["conditions"][0]["acceptance"] >= 0.8
    assert {"mean_noisy_acceptance", "setup_seconds", "misses"} <= set(report)
    assert "eval: " in proc.stderr  # the progress line


def test_kept_audio_can_be_heard_again_with_its_labels(tmp_path):
    """--keep writes labels.json beside each condition's WAVs; labelled mode then hears exactly
    those files and scores them as the synthetic run did."""
    first = _report(run_cli("eval", "--intents", "tests/data/coffee", "-n", "3", "--voices", "espeak:en-us",
                            "--snr", "clean", "--keep", str(tmp_path), "--json"))
    folder = tmp_path / "clean"
    labels = json.loads((folder / "labels.json").read_text())
    assert len(labels) == 6 and all((folder / name).is_file() for name in labels)
    assert sum(label["intent"] == "Fallback" for label in labels.values()) == 3
    again = _report(run_cli("eval", "--intents", "tests/data/coffee", "--audio", str(folder),
                            "--labels", str(folder / "labels.json"), "--snr", "clean", "--json"))
    for key in ("accepted", "total", "false_accepted", "ood_total"):
        assert again["conditions"][0][key] == first["conditions"][0][key], key


def test_the_same_run_speaks_and_mixes_the_same_audio(tmp_path):
    """Piper (in the voices and in the kitchen's far talk) varies its voice at random; seeded when
    a voice loads, two runs of one command write the very same WAVs."""
    runs = []
    for name in ("a", "b"):
        _report(run_cli("eval", "--intents", "tests/data/coffee", "-n", "2", "--voices", "piper",
                        "--snr", "12", "--noise", "kitchen", "--keep", str(tmp_path / name), "--json"))
        runs.append({p.name: p.read_bytes() for p in sorted((tmp_path / name / "12dB").glob("*.wav"))})
    assert len(runs[0]) == 4 and runs[0] == runs[1]


def test_labels_in_the_shapes_real_corpora_use(tmp_path):
    """Picovoice's benchmark labels (file -> {intent, slots}, values with a stray leading space),
    a list of records, names without ".wav", a null intent for out of domain: all read. A label
    whose file is missing is skipped with a one-line warning, and the rest is still heard."""
    for name in ("latte.wav", "double_espresso.wav", "ood_lights.wav"):
        (tmp_path / name).write_bytes(Path("tests/data/eval", name).read_bytes())
    picovoice = {"latte.wav": {"intent": "OrderDrink", "slots": {"drink": " latte"}},
                 "double_espresso": {"intent": "OrderDrink", "slots": {"shots": "double", "drink": "espresso"}},
                 "ood_lights.wav": {"isUnderstood": False},
                 "gone.wav": {"intent": "OrderDrink", "slots": {"drink": "mocha"}}}
    (tmp_path / "label.json").write_text(json.dumps(picovoice))
    proc = run_cli("eval", "--intents", "tests/data/coffee", "--audio", str(tmp_path),
                   "--labels", str(tmp_path / "label.json"), "--snr", "clean", "--json")
    clean = _report(proc)["conditions"][0]
    assert (clean["total"], clean["ood_total"]) == (2, 1)
    assert clean["accepted"] == 2 and clean["false_accepted"] == 0
    assert "skipping 1 of 4 labels: 'gone.wav' is not a file" in proc.stderr
    assert "Traceback" not in proc.stderr

    records = [{"file": "latte", "intent": "OrderDrink", "slots": {"drink": "latte"}},
               {"path": "ood_lights.wav", "intent": None}]
    (tmp_path / "labels.yaml").write_text(yaml.safe_dump(records))
    clean = _report(run_cli("eval", "--intents", "tests/data/coffee", "--audio", str(tmp_path),
                            "--labels", str(tmp_path / "labels.yaml"), "--snr", "clean", "--json"))["conditions"][0]
    assert (clean["total"], clean["accepted"], clean["ood_total"], clean["false_accepted"]) == (1, 1, 1, 0)

    (tmp_path / "wrong.json").write_text(json.dumps({"latte.wav": {"intent": "OrderDrink", "slots": {"drink": "mocha"}}}))
    report = _report(run_cli("eval", "--intents", "tests/data/coffee", "--audio", str(tmp_path),
                             "--labels", str(tmp_path / "wrong.json"), "--snr", "clean", "--json"))
    (miss,) = report["misses"]  # a miss says how sure the assistant was of what it heard
    assert miss["slots"] == {"drink": "latte"} and 0.5 <= miss["confidence"] <= 1

    (tmp_path / "none.json").write_text(json.dumps({"gone.wav": {"intent": "OrderDrink"}}))
    proc = run_cli("eval", "--intents", "tests/data/coffee", "--audio", str(tmp_path),
                   "--labels", str(tmp_path / "none.json"), "--snr", "clean")
    assert proc.returncode == 2 and "no usable label" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_options_are_one_line_errors():
    proc = run_cli("eval", "--intents", "tests/data/coffee", "--audio", "tests/data/eval")
    assert proc.returncode == 2 and "--labels" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli(*LABELLED, "--snr", "clean,loud")
    assert proc.returncode == 2 and "bad SNR" in proc.stderr


def _speechlike(seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2  # syllable-like loudness changes
    return (0.3 * envelope * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


@pytest.mark.parametrize("snr", [24.0, 12.0, 6.0, 0.0])
@pytest.mark.parametrize("kind", ["white", "pink"])
def test_mix_hits_the_requested_snr(kind, snr):
    rng = np.random.default_rng(1)
    speech = _speechlike() * 0.3
    noise = white(RATE * 5, rng) if kind == "white" else pink(RATE * 5, rng)
    mixed = mix(speech, noise, snr, offset=1234)
    padded = pad(speech)
    assert len(mixed) == len(padded) == len(speech) + 2 * int(0.4 * RATE)
    assert np.max(np.abs(mixed)) < 0.99  # quiet enough that mix() did not rescale to avoid clipping
    added = mixed - padded
    measured = 20 * np.log10(active_rms(speech) / rms(added))
    assert abs(measured - snr) < 0.5


@pytest.mark.parametrize("snr", [24.0, 6.0])
def test_mix_can_measure_snr_as_picovoices_benchmark_does(snr):
    """--snr-measure peak: the loudest 128 ms frame of speech against the loudest of the noise
    (Picovoice's mixer); with bursty noise that is a quieter noise than the active-speech measure."""
    rng = np.random.default_rng(2)
    speech = _speechlike() * 0.3
    bursts = white(RATE * 5, rng) * np.repeat(rng.choice([0.2, 1.0], size=50, p=[0.8, 0.2]), RATE // 10)
    padded = pad(speech)
    peak = mix(speech, bursts, snr, offset=99, measure="peak") - padded
    active = mix(speech, bursts, snr, offset=99) - padded

    def loudest(x):
        frames = len(x) // 2048
        return np.max(np.mean(x[: frames * 2048].reshape(frames, 2048) ** 2, axis=1))

    assert abs(10 * np.log10(loudest(padded) / loudest(peak)) - snr) < 0.1
    assert rms(peak) < rms(active)


def test_mix_clean_is_padded_speech_and_avoids_clipping():
    speech = _speechlike()
    assert np.array_equal(mix(speech, None, None), pad(speech))
    loud = mix(speech * 3, white(RATE, np.random.default_rng(0)), 0.0)
    assert np.max(np.abs(loud)) <= 0.99 + 1e-6


def test_pink_noise_falls_3db_per_octave():
    x = pink(RATE * 20, np.random.default_rng(0)).astype(np.float64)
    size = 4096
    frames = x[: len(x) // size * size].reshape(-1, size) * np.hanning(size)
    power = np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)
    freqs = np.fft.rfftfreq(size, 1 / RATE)
    band = (freqs >= 100) & (freqs <= 6000)
    slope = np.polyfit(np.log10(freqs[band]), np.log10(power[band]), 1)[0]
    assert -1.15 < slope < -0.85  # power ~ 1/f: -10 dB per decade
    w = white(RATE * 20, np.random.default_rng(0)).astype(np.float64)
    wpower = np.mean(np.abs(np.fft.rfft(w[: len(w) // size * size].reshape(-1, size) * np.hanning(size),
                                        axis=1)) ** 2, axis=0)
    assert abs(np.polyfit(np.log10(freqs[band]), np.log10(wpower[band]), 1)[0]) < 0.1


def test_babble_sums_several_talkers_at_a_fixed_level():
    rng = np.random.default_rng(0)
    clips = [_speechlike(1.0), _speechlike(0.7) * 0.2, _speechlike(1.3) * 2]
    out = babble(clips, RATE * 4, rng, talkers=5)
    assert len(out) == RATE * 4 and abs(rms(out) - 0.1) < 1e-3


def test_scoring_and_snr_parsing():
    assert accepted("OrderDrink", {"drink": "latte"}, "OrderDrink", {"drink": "latte", "size": "small"})
    assert not accepted("OrderDrink", {"drink": "latte"}, "OrderDrink", {"drink": "tea"})
    assert not accepted("OrderDrink", {"drink": "latte"}, "OrderDrink", {})
    assert not accepted("OrderDrink", {}, "CancelOrder", {})
    assert parse_snrs("clean, 24,6") == ["clean", 24.0, 6.0]

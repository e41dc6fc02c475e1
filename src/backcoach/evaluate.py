"""Speech-to-intent evaluation, the pure part: test items, scoring, per-condition summaries, report.

A test item is one utterance with what it should mean (intent and slots). An in-domain item is
*accepted* when the heard intent is right and every expected slot has exactly the expected value.
An out-of-domain item (expected intent Fallback) is a *false acceptance* when the assistant takes
it for anything but Fallback. Running audio through the recogniser lives in evalrun.py.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from .calibration import expected_calibration_error, reliability
from .errors import BackcoachError
from .intents import FALLBACK
from .wordgraph import WordGraph, random_sentence

CLEAN = "clean"

OOD_SENTENCES = (
    "what's the weather like today", "will it rain tomorrow", "play some jazz music",
    "turn up the volume", "skip this song", "turn on the kitchen lights",
    "switch off the bedroom light", "dim the lights to fifty percent", "set a timer for ten minutes",
    "cancel the timer", "set an alarm for seven in the morning", "what time is it",
    "remind me to buy milk", "add eggs to my shopping list", "call my mother",
    "send a message to john", "what's on my calendar today", "how far is the airport",
    "tell me a joke", "who won the football game", "what's the capital of france",
    "how do you spell necessary", "convert five miles to kilometers", "read me the news",
    "open the garage door", "lock the front door", "set the thermostat to twenty degrees",
    "play the next episode", "order a pizza", "how many calories are in an apple",
)


@dataclass
class TestItem:
    """One utterance to recognise: where its audio comes from and what it should mean."""

    key: str
    intent: str
    slots: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    """The sentence spoken (synthetic mode), empty for recordings."""
    voice: str = ""
    path: str = ""
    """A recording (labelled mode)."""

    @property
    def out_of_domain(self) -> bool:
        return self.intent == FALLBACK


@dataclass
class Outcome:
    """What the assistant made of one item in one condition."""

    item: TestItem
    snr: str | float
    transcript: str
    intent: str
    slots: dict[str, Any]
    recognition_seconds: float
    audio_seconds: float
    confidence: float = 1.0
    """How sure the assistant said it was (calibrated: see calibration.py)."""

    @property
    def correct(self) -> bool:
        if self.item.out_of_domain:
            return self.intent == FALLBACK
        return accepted(self.item.intent, self.item.slots, self.intent, self.slots)


def _same(expected: Any, got: Any) -> bool:
    return expected == got or str(expected).strip().lower() == str(got).strip().lower()


def accepted(intent: str, slots: dict[str, Any], got_intent: str, got_slots: dict[str, Any]) -> bool:
    """The right intent and every expected slot with exactly its expected value."""
    return intent == got_intent and all(k in got_slots and _same(v, got_slots[k]) for k, v in slots.items())


# -- building test sets ----------------------------------------------------------------------------
def sample_sentences(graph: WordGraph, n: int, rng: random.Random) -> list[tuple[str, str, dict]]:
    """`n` distinct (intent, sentence, slots), balanced over the intents other than Fallback."""
    by_intent: dict[str, list] = {}
    for block in graph.blocks:
        if block.intent != FALLBACK:
            by_intent.setdefault(block.intent, []).append(block)
    if not by_intent:
        raise BackcoachError("the skill has no intents to evaluate (only Fallback)")
    intents = sorted(by_intent)
    out: list[tuple[str, str, dict]] = []
    seen: set[str] = set()
    for i in range(n):
        intent = intents[i % len(intents)]
        for _attempt in range(20):  # small intents run out of new sentences: allow a repeat then
            sentence, slots = random_sentence(graph, rng.choice(by_intent[intent]), rng)
            if sentence and sentence not in seen:
                break
        seen.add(sentence)
        out.append((intent, sentence, slots))
    return out


def synthetic_items(graph: WordGraph, n: int, voices: list[str], ood: list[str],
                    rng: random.Random) -> list[TestItem]:
    """Every sampled sentence and min(n, len(ood)) out-of-domain requests, each in every voice."""
    sentences = sample_sentences(graph, n, rng)
    ood_pick = rng.sample(list(ood), min(len(ood), max(1, n))) if ood else []
    items = []
    for voice in voices:
        for i, (intent, text, slots) in enumerate(sentences):
            items.append(TestItem(f"{voice}#{i}", intent, dict(slots), text=text, voice=voice))
        for i, text in enumerate(ood_pick):
            items.append(TestItem(f"{voice}#ood{i}", FALLBACK, {}, text=text, voice=voice))
    return items


def read_ood(path: str | Path) -> list[str]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BackcoachError(f"cannot read {path}: {exc.strerror}") from None
    out = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not out:
        raise BackcoachError(f"{path}: no out-of-domain sentences (one per line)")
    return out


FILE_KEYS = ("file", "path", "audio", "wav", "name")
"""Where a label given as a list of records names its recording."""


def labelled_items(audio_dir: str | Path, labels_file: str | Path,
                   warn: Callable[[str], None] | None = None) -> list[TestItem]:
    """Recordings with what each should mean, from a JSON or YAML file.

    Either a map, file name -> {intent, slots} (or just the intent), as in Picovoice's
    speech-to-intent benchmark, or a list of records that name their file (`file`, `path`,
    `audio`, `wav` or `name`) beside `intent` and `slots`. A file is looked for under `audio_dir`,
    then beside the labels file, with ".wav" added when the name has no extension. An intent that is
    null, or `isUnderstood: false`, means out of domain (Fallback). A record whose file is missing,
    or that has no intent, is skipped with a warning (`warn`); it is an error only when nothing is
    left."""
    try:
        data = yaml.safe_load(Path(labels_file).read_text(encoding="utf-8"))  # YAML reads JSON too
    except OSError as exc:
        raise BackcoachError(f"cannot read {labels_file}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise BackcoachError(f"{labels_file}: not valid JSON or YAML ({str(exc).splitlines()[0]})") from None
    records = _label_records(data)
    if not records:
        raise BackcoachError(f"{labels_file}: expected a map of file name -> {{intent, slots}}, "
                             "or a list of {file, intent, slots}")
    items, skipped = [], []
    for name, label in records:
        intent = _label_intent(label)
        path = _find_recording(name, Path(audio_dir), Path(labels_file).parent)
        if intent is None or path is None:
            skipped.append(f"'{name}' " + ("needs an intent" if intent is None else f"is not a file in {audio_dir}"))
            continue
        slots = label.get("slots") if isinstance(label, dict) else None
        items.append(TestItem(name, intent, dict(slots) if isinstance(slots, dict) else {}, path=str(path)))
    if skipped and warn is not None:
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        warn(f"{labels_file}: skipping {len(skipped)} of {len(records)} labels: {skipped[0]}{more}")
    if not items:
        raise BackcoachError(f"{labels_file}: no usable label ({skipped[0]})")
    return items


def _label_records(data: Any) -> list[tuple[str, Any]]:
    if isinstance(data, dict):
        return [(str(name), label) for name, label in data.items()]
    if isinstance(data, list):
        records = []
        for record in data:
            if isinstance(record, dict):
                name = next((record[k] for k in FILE_KEYS if record.get(k)), None)
                if name is not None:
                    records.append((str(name), record))
        return records
    return []


def _label_intent(label: Any) -> str | None:
    """The expected intent; Fallback for a label that says nothing was meant; None if it says nothing."""
    if isinstance(label, str):
        return label.strip() or None
    if not isinstance(label, dict):
        return None
    understood = label.get("isUnderstood", label.get("is_understood", True))
    if str(understood).strip().lower() in ("false", "0", "no"):
        return FALLBACK
    if "intent" not in label:
        return None
    intent = label["intent"]
    return FALLBACK if intent is None or not str(intent).strip() else str(intent).strip()


def _find_recording(name: str, audio_dir: Path, labels_dir: Path) -> Path | None:
    names = [name] if Path(name).suffix else [name, name + ".wav"]
    for base in (audio_dir, labels_dir):
        for candidate in names:
            path = base / candidate
            if path.is_file():
                return path
    return None


def parse_snrs(text: str) -> list[str | float]:
    """`clean,24,18` -> ["clean", 24.0, 18.0]."""
    out: list[str | float] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part.lower() == CLEAN:
            out.append(CLEAN)
            continue
        try:
            out.append(float(part))
        except ValueError:
            raise BackcoachError(f"bad SNR '{part}' (use clean or a number of dB)") from None
    if not out:
        raise BackcoachError("no SNR conditions given")
    return out


# -- summaries -----------------------------------------------------------------------------------
@dataclass
class ConditionSummary:
    """Counts for one SNR condition (the JSON `conditions` entries)."""

    snr: str | float
    accepted: int
    total: int
    acceptance: float | None
    false_accept: float | None
    false_accepted: int
    ood_total: int
    false_reject: int
    rtf: float | None
    by_voice: dict[str, float] = field(default_factory=dict)
    by_intent: dict[str, float] = field(default_factory=dict)
    calibration_error: float | None = None
    """Expected calibration error of the stated confidences (0: each says how often it is right)."""


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def summarize(snr: str | float, outcomes: list[Outcome]) -> ConditionSummary:
    inside = [o for o in outcomes if not o.item.out_of_domain]
    ood = [o for o in outcomes if o.item.out_of_domain]
    good = sum(o.correct for o in inside)
    false_acc = sum(not o.correct for o in ood)
    audio = sum(o.audio_seconds for o in outcomes)
    by_voice: dict[str, list[bool]] = {}
    by_intent: dict[str, list[bool]] = {}
    for o in inside:
        by_voice.setdefault(o.item.voice or "-", []).append(o.correct)
        by_intent.setdefault(o.item.intent, []).append(o.correct)
    return ConditionSummary(
        snr=snr, accepted=good, total=len(inside), acceptance=_ratio(good, len(inside)),
        false_accept=_ratio(false_acc, len(ood)), false_accepted=false_acc, ood_total=len(ood),
        false_reject=sum(o.intent == FALLBACK for o in inside),
        rtf=_ratio(sum(o.recognition_seconds for o in outcomes), audio),
        by_voice={k: round(sum(v) / len(v), 4) for k, v in by_voice.items()},
        by_intent={k: round(sum(v) / len(v), 4) for k, v in sorted(by_intent.items())},
        calibration_error=_rounded(expected_calibration_error((o.confidence, o.correct) for o in outcomes)))


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def miss_record(o: Outcome) -> dict[str, Any]:
    return {"snr": o.snr, "item": o.item.key, "sentence": o.item.text or Path(o.item.path).name,
            "voice": o.item.voice, "expected_intent": o.item.intent, "expected_slots": o.item.slots,
            "transcript": o.transcript, "intent": o.intent, "slots": o.slots,
            "confidence": round(o.confidence, 3)}


@dataclass
class Report:
    """The whole evaluation (the shape of `eval --json`)."""

    conditions: list[ConditionSummary]
    setup_seconds: float
    misses: list[dict[str, Any]]
    mode: str = "synthetic"
    noise: str = ""
    voices: list[str] = field(default_factory=list)
    snr_measure: str = "active"
    calibration: dict[str, Any] = field(default_factory=dict)
    """Over every condition: `error` (expected calibration error) and `bins` (per confidence
    bin: how many results, their mean confidence, how often they were right)."""

    @property
    def mean_noisy_acceptance(self) -> float | None:
        noisy = [c.acceptance for c in self.conditions if c.snr != CLEAN and c.acceptance is not None]
        return round(sum(noisy) / len(noisy), 4) if noisy else None

    def as_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "noise": self.noise, "voices": self.voices, "snr_measure": self.snr_measure,
                "conditions": [asdict(c) for c in self.conditions],
                "mean_noisy_acceptance": self.mean_noisy_acceptance,
                "setup_seconds": round(self.setup_seconds, 3), "calibration": self.calibration,
                "misses": self.misses}


def build_report(outcomes: Iterable[Outcome], snrs: list[str | float], setup_seconds: float,
                 misses_per_condition: int, **extra: Any) -> Report:
    outcomes = list(outcomes)
    grouped: dict[str, list[Outcome]] = {str(s): [] for s in snrs}
    for o in outcomes:
        grouped[str(o.snr)].append(o)
    conditions, misses = [], []
    for snr in snrs:
        group = grouped[str(snr)]
        conditions.append(summarize(snr, group))
        misses += [miss_record(o) for o in group if not o.correct][:misses_per_condition]
    pairs = [(o.confidence, o.correct) for o in outcomes]
    calibration = {"error": _rounded(expected_calibration_error(pairs)), "bins": reliability(pairs)}
    return Report(conditions, setup_seconds, misses, calibration=calibration, **extra)


# -- text output -----------------------------------------------------------------------------------
def snr_label(snr: str | float) -> str:
    return CLEAN if snr == CLEAN else f"{snr:g} dB"


def _pct(x: float | None) -> str:
    return "   -  " if x is None else f"{100 * x:5.1f}%"


def format_report(report: Report) -> str:
    lines = [f"{'condition':<10} {'accepted':>10} {'accept':>7} {'false acc':>12} {'rejected':>9} {'RTF':>6}"]
    for c in report.conditions:
        fa = f"{c.false_accepted}/{c.ood_total}" if c.ood_total else "-"
        lines.append(f"{snr_label(c.snr):<10} {c.accepted:>4}/{c.total:<5} {_pct(c.acceptance):>7} "
                     f"{fa:>6} {_pct(c.false_accept):>5} {c.false_reject:>9} "
                     f"{c.rtf if c.rtf is not None else 0:>6.3f}")
    for c in report.conditions:
        rows = [("voice", c.by_voice)] if len(c.by_voice) > 1 else []
        rows.append(("intent", c.by_intent))
        lines.append(f"\n{snr_label(c.snr)}:")
        for kind, table in rows:
            for name, value in table.items():
                lines.append(f"  {kind} {name:<40} {_pct(value)}")
    if report.mean_noisy_acceptance is not None:
        lines.append(f"\nmean acceptance in noise: {_pct(report.mean_noisy_acceptance)}")
    lines.append(f"recogniser set-up: {report.setup_seconds:.2f} s")
    if report.calibration.get("error") is not None:
        lines.append(f"confidence calibration error: {report.calibration['error']:.3f} "
                     "(mean gap between stated confidence and how often it was right)")
    if report.misses:
        lines.append("\nmisses:")
        for m in report.misses:
            got = m["intent"] + (f" {m['slots']}" if m["slots"] else "")
            want = m["expected_intent"] + (f" {m['expected_slots']}" if m["expected_slots"] else "")
            voice = f" [{m['voice']}]" if m["voice"] else ""
            lines.append(f"  {snr_label(m['snr'])}{voice} \"{m['sentence']}\"\n"
                         f"      heard \"{m['transcript']}\" -> {got} at {m['confidence']:.2f} (wanted {want})")
    return "\n".join(lines)

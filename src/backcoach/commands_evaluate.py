"""`backcoach eval`: how often speech becomes the right intent, in quiet and in noise.

Labelled mode (--audio DIR --labels FILE) hears recordings; synthetic mode speaks sentences sampled
from the templates with several voices, plus out-of-domain requests that should be turned down.
"""

from __future__ import annotations

import argparse
import json
import random
import sys

from .errors import BackcoachError

DEFAULT_VOICES = ("piper", "piper:length_scale=1.25", "espeak:en-us:rate=150",
                  "espeak:en-gb:rate=170:pitch=40", "pyttsx3")


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="measure speech-to-intent accuracy, in quiet and in noise",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--intents", metavar="DIR", help="a directory of hassil YAML (default: the skill's own)")
    p.add_argument("--model", metavar="DIR", help="a Vosk model directory")
    p.add_argument("--audio", metavar="DIR", help="labelled mode: a folder of recordings")
    p.add_argument("--labels", metavar="FILE", help="JSON or YAML: file name -> {intent, slots}; "
                   "intent Fallback for out-of-domain recordings")
    p.add_argument("--voices", metavar="SPEC,...", help="synthetic voices (default: "
                   + ",".join(DEFAULT_VOICES) + "; unavailable defaults are skipped)")
    p.add_argument("--snr", default="clean,24,18,12,6", metavar="LIST",
                   help="conditions: clean and/or SNRs in dB (default: %(default)s)")
    p.add_argument("--snr-measure", default="active", choices=("active", "peak"),
                   help="active: speech RMS over its active frames against noise RMS; peak: loudest "
                        "128 ms frame against loudest, as Picovoice's benchmark (default: %(default)s)")
    p.add_argument("--noise", default="babble", metavar="KIND",
                   help="white, pink, babble, kitchen or a noise FILE.wav (default: %(default)s)")
    p.add_argument("-n", type=int, default=20, metavar="N",
                   help="sentences sampled from the templates (balanced over intents), each spoken by "
                        "every voice; also the number of out-of-domain requests (default: %(default)s)")
    p.add_argument("--ood", metavar="FILE", help="out-of-domain requests, one per line (default: built in)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="one JSON object with every number")
    p.add_argument("--plot", metavar="FILE.png", help="plot acceptance against SNR (needs matplotlib)")
    p.add_argument("--misses", type=int, default=10, metavar="N",
                   help="misses to show per condition (default: %(default)s)")
    p.add_argument("--keep", metavar="DIR", help="keep the mixed WAVs under DIR")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="recognise in N threads (each loads its own model; default: %(default)s)")


def cmd_eval(args: argparse.Namespace) -> int:
    import numpy as np

    from .assistant import Assistant
    from .evaluate import (CLEAN, OOD_SENTENCES, build_report, format_report, labelled_items,
                           parse_snrs, read_ood, synthetic_items)
    from .evalrun import BABBLE_SENTENCES, CleanAudio, run_conditions
    from .noise import make_noise

    if bool(args.audio) != bool(args.labels):
        raise BackcoachError("--audio and --labels go together (labelled mode)")
    if args.n < 1 or args.workers < 1 or args.misses < 0:
        raise BackcoachError("-n and --workers must be at least 1, --misses at least 0")
    snrs = parse_snrs(args.snr)
    assistant = Assistant(args.intents, args.model)
    if args.audio:
        items = labelled_items(args.audio, args.labels,
                               warn=lambda text: print(f"backcoach: {text}", file=sys.stderr))
        clean, voices, mode = CleanAudio([]), [], "labelled"
    else:
        specs = [v.strip() for v in args.voices.split(",") if v.strip()] if args.voices else list(DEFAULT_VOICES)
        clean = CleanAudio(specs)
        voices = clean.load_voices(required=bool(args.voices))
        ood = read_ood(args.ood) if args.ood else list(OOD_SENTENCES)
        items = synthetic_items(assistant.understander.graph, args.n, voices, ood, random.Random(args.seed))
        mode = "synthetic"
    noise = None
    if any(s != CLEAN for s in snrs):
        noise = make_noise(args.noise, np.random.default_rng(args.seed), BABBLE_SENTENCES)

    first = [assistant]

    def make_assistant() -> Assistant:
        return first.pop() if first else Assistant(args.intents, args.model)

    outcomes, setup = run_conditions(make_assistant, items, snrs, clean, noise, seed=args.seed,
                                     keep=args.keep, workers=args.workers, snr_measure=args.snr_measure)
    report = build_report(outcomes, snrs, setup, args.misses, mode=mode,
                          noise=noise.name if noise else "", voices=voices, snr_measure=args.snr_measure)
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False), flush=True)
    else:
        print(format_report(report), flush=True)
    if args.plot:
        plot(report, args.plot)
    return 0


def plot(report, path: str) -> bool:
    """Acceptance (and false acceptance) against SNR as a PNG; a hint if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("backcoach: --plot needs matplotlib: pip install matplotlib (or pip install 'backcoach[plot]')",
              file=sys.stderr)
        return False
    from .evaluate import CLEAN, snr_label

    conds = report.conditions
    xs = list(range(len(conds)))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, [100 * (c.acceptance or 0) for c in conds], "o-", label="command acceptance")
    if any(c.ood_total for c in conds):
        ax.plot(xs, [100 * (c.false_accept or 0) for c in conds], "s--", label="false acceptance (OOD)")
    ax.set_xticks(xs, [snr_label(c.snr) if c.snr == CLEAN else f"{c.snr:g}" for c in conds])
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"backcoach eval ({report.noise or 'clean'} noise)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot written to {path}", file=sys.stderr)
    return True


def register(register_fn) -> None:
    register_fn("eval", add_parser, cmd_eval)

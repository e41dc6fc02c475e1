"""`backcoach bench`: time the live loop on synthesised spoken questions (see bench.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable


def add_bench_parser(sub: Any) -> None:
    p = sub.add_parser("bench", help="measure answer latency, recognition speed, memory and cold start",
                       description="Synthesise N questions (each after \"hey coach\", then 3 s of "
                       "silence) into one recording, run the live loop on it and report latencies "
                       "from its events. By default the file is read at real-time pace, so speech "
                       "synthesis time counts as it would with a microphone.")
    p.add_argument("-n", type=int, default=10, help="how many questions (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--voice", default="pyttsx3", help="voice spec that asks the questions (default pyttsx3)")
    p.add_argument("--reply-voice", default=None, help="voice spec for the replies (default: --voice)")
    p.add_argument("--fast", action="store_true",
                   help="read the file as fast as possible (the clock is the file position, so "
                   "synthesis time is not counted)")
    p.add_argument("--keep", metavar="DIR", help="keep the input, output and events in DIR")
    p.add_argument("--no-cold-start", action="store_true", help="skip the cold-start subprocess")
    p.add_argument("--intents", metavar="DIR")
    p.add_argument("--model", metavar="DIR")


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import as_json, run_bench, table
    from .errors import BackcoachError

    if args.n < 1:
        raise BackcoachError("-n must be at least 1")
    result = run_bench(n=args.n, voice_spec=args.voice, reply_voice=args.reply_voice,
                       realtime=not args.fast, intents_dir=args.intents, model=args.model,
                       keep=Path(args.keep) if args.keep else None,
                       measure_cold_start=not args.no_cold_start)
    print(as_json(result) if args.json else table(result), flush=True)
    return 0




def add_soak_parser(sub: Any) -> None:
    p = sub.add_parser("soak", help="hear many utterances in one process; report memory growth and errors")
    p.add_argument("-n", type=int, default=2000, help="how many utterances (default 2000)")
    p.add_argument("--voice", default="espeak:en-us", help="voice spec for the questions")
    p.add_argument("--json", action="store_true")
    p.add_argument("--intents", metavar="DIR")
    p.add_argument("--model", metavar="DIR")


def cmd_soak(args: argparse.Namespace) -> int:
    import json
    import sys

    from .assistant import Assistant
    from .soak import run_soak
    from .tts import load_voice

    assistant = Assistant(args.intents, args.model)
    assistant.recognizer()

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty() and (done % 20 == 0 or done == total):
            print(f"\rsoak: {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    result = run_soak(assistant, load_voice(args.voice), args.n, progress=progress)
    summary = {"utterances": result.utterances, "errors": len(result.errors),
               "rss_start_mb": round(result.rss_start_mb, 1), "rss_end_mb": round(result.rss_end_mb, 1),
               "growth_mb": round(result.growth_mb, 1), "peak_rss_mb": round(result.peak_rss_mb, 1),
               "seconds": round(result.seconds, 1), "intents": result.intents}
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>14}: {value}")
        for error in result.errors[:10]:
            print(f"error: {error}")
    return 1 if result.errors else 0


def register(register_fn: Callable) -> None:
    register_fn("bench", add_bench_parser, cmd_bench)
    register_fn("soak", add_soak_parser, cmd_soak)

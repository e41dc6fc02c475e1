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


def register(register_fn: Callable) -> None:
    register_fn("bench", add_bench_parser, cmd_bench)

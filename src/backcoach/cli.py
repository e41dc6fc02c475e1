"""The thin command-line shell: ask, hear, start, chat, model, intents (and run, bench, eval)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Callable

from . import __version__
from .errors import BackcoachError

log = logging.getLogger("backcoach")
EXAMPLE_QUESTION = "why does my lower back hurt when I bend my knee"


def _print_json(obj: dict) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def _error(message: str) -> None:
    print(f"backcoach: {message}", file=sys.stderr, flush=True)


# -- speaking -----------------------------------------------------------------------------------
def _add_voice_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--say", action="store_true", help="speak the reply on the default output device")
    p.add_argument("--speak-to", metavar="FILE.wav", help="write the spoken reply to a WAV file instead")
    p.add_argument("--rate", type=int, default=None, help="speaking rate in words per minute")
    p.add_argument("--voice", default=None, help="pyttsx3 voice id or part of its name")


class _Speech:
    """Speaks replies (--say) or writes them to one WAV (--speak-to), loading the voice once."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.say = bool(getattr(args, "say", False))
        self.path = getattr(args, "speak_to", None)
        self.rate = getattr(args, "rate", None)
        self.voice_name = getattr(args, "voice", None)
        self._voice = None
        self._audio: list = []

    @property
    def wanted(self) -> bool:
        return self.say or bool(self.path)

    def _load(self):
        if self._voice is None:
            from .tts import Pyttsx3Voice, VoiceConfig

            config = VoiceConfig(voice=self.voice_name)
            if self.rate:
                config.rate = self.rate
            self._voice = Pyttsx3Voice(config)
        return self._voice

    def speak(self, text: str, rate: int | None = None) -> None:
        if not self.wanted or not text:
            return
        try:
            voice = self._load()
            if rate and not self.rate:
                voice.set_rate(rate)
            chunk = voice.synthesize(text)
            if self.path:
                self._audio.append(chunk)
            if self.say:
                from .tts import play

                play(chunk)
        except BackcoachError as exc:  # the answer was printed already; speech is a bonus
            _error(f"could not speak the reply: {exc.one_line()}")

    def close(self) -> None:
        if self.path and self._audio:
            from .audio import write_wav

            pcm = b"".join(c.to_pcm16_mono_16k() for c in self._audio)
            write_wav(self.path, pcm, 16000)
            print(f"spoken reply written to {self.path}", file=sys.stderr)


# -- commands -----------------------------------------------------------------------------------
def cmd_ask(args: argparse.Namespace) -> int:
    from .assistant import Assistant
    from .dialogue import Dialogue

    assistant = Assistant(args.intents)
    dialogue = Dialogue(assistant.skill)
    speech = _Speech(args)
    if args.text == ["-"]:
        lines = (line.rstrip("\n") for line in sys.stdin)
    else:
        lines = iter([" ".join(args.text)])
    for text in lines:
        if not text.strip():
            continue
        result = assistant.understand_text(text)
        reply = dialogue.respond(result)
        if args.json:
            _print_json({**result.as_json(), "reply": reply.text})
        else:
            print(f"[{result.intent} {result.confidence:.2f}] {reply.text}", flush=True)
        speech.speak(reply.text, reply.rate)
    speech.close()
    return 0


def cmd_hear(args: argparse.Namespace) -> int:
    from .assistant import Assistant
    from .dialogue import Dialogue

    assistant = Assistant(args.intents, args.model)
    assistant.recognizer()  # load the model once, before the first file, so errors come early
    speech = _Speech(args)
    failed = 0
    for item in assistant.hear_paths(args.paths):
        if isinstance(item, BackcoachError):
            _error(item.one_line())
            failed += 1
            continue
        reply = Dialogue(assistant.skill).respond(item.result)
        if args.json:
            _print_json({"file": item.file, "transcript": item.transcript, "intent": item.result.intent,
                         "slots": item.result.slots, "confidence": round(item.result.confidence, 3),
                         "reply": reply.text})
        else:
            print(f"{item.file}: \"{item.transcript}\" -> [{item.result.intent} "
                  f"{item.result.confidence:.2f}] {reply.text}", flush=True)
        speech.speak(reply.text, reply.rate)
    speech.close()
    return 1 if failed else 0


def cmd_model(args: argparse.Namespace) -> int:
    from . import model

    if args.action == "fetch":
        path = model.fetch(force=args.force)
        print(path)
        return 0
    if args.action == "path":
        print(model.resolve_model(args.model))
        return 0
    manifest = model.default_manifest()
    chosen = args.model or os.environ.get(model.MODEL_ENV)
    if chosen:
        path = model.resolve_model(chosen)
        print(f"{path}: a user-chosen model; only the default model has pinned checksums")
        return 0
    path = model.models_dir() / manifest.name
    problems = model.verify_dir(path, manifest)
    if problems:
        raise BackcoachError(f"the speech model at {path} failed verification: {problems[0]}",
                             hint=model.FETCH_HINT)
    print(f"{path}: all {len(manifest.files)} files match their pinned sha256")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from .assistant import Assistant
    from .dialogue import Dialogue

    assistant = Assistant(args.intents)
    dialogue = Dialogue(assistant.skill)
    speech = _Speech(args)
    interactive = sys.stdin.isatty()
    if interactive:
        print(dialogue.line("welcome") + "  (type a question; 'quit' or Ctrl-D to leave)")
    while True:
        if interactive:
            try:
                text = input("you> ")
            except EOFError:
                break
        else:
            text = sys.stdin.readline()
            if not text:
                break
        text = text.strip()
        if not text:
            continue
        if text.lower() in ("quit", "exit"):
            break
        reply = dialogue.respond(assistant.understand_text(text))
        print(f"coach> {reply.text}", flush=True)
        speech.speak(reply.text, reply.rate)
        if reply.end_session:
            break
    speech.close()
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    """The README's main job: listen if there is a microphone, else a useful demonstration."""
    from .assistant import Assistant
    from .dialogue import Dialogue

    microphone = _has_microphone()
    if microphone and "run" in COMMANDS:
        return COMMANDS["run"](args)
    print("No microphone found, so here is a demonstration instead.", flush=True)
    assistant = Assistant(args.intents)
    dialogue = Dialogue(assistant.skill)
    result = assistant.understand_text(EXAMPLE_QUESTION)
    reply = dialogue.respond(result)
    print(f"You: {EXAMPLE_QUESTION}?")
    print(f"backcoach [{result.intent}]: {reply.text}")
    out = Path(args.speak_to or "out/answer.wav")
    out.parent.mkdir(parents=True, exist_ok=True)
    args.speak_to = str(out)
    speech = _Speech(args)
    speech.speak(reply.text, reply.rate)
    speech.close()
    print("\nTo talk to it: plug in a USB microphone and run `.venv/bin/backcoach run`.\n"
          "Without one: `.venv/bin/backcoach chat` (type), `.venv/bin/backcoach ask \"...\"` or "
          "`.venv/bin/backcoach hear recording.wav`.")
    return 0


def _has_microphone() -> bool:
    try:
        import sounddevice

        return any(d.get("max_input_channels", 0) > 0 for d in sounddevice.query_devices())
    except Exception:  # noqa: BLE001 - no PortAudio, no devices: no microphone
        return False


def cmd_intents(args: argparse.Namespace) -> int:
    from .check import check_intents

    problems = check_intents(args.dir)
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        print(problem.line(), file=sys.stderr if problem.severity == "error" else sys.stdout)
    print(f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s)")
    return 1 if errors else 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "ask": cmd_ask, "hear": cmd_hear, "model": cmd_model, "chat": cmd_chat, "start": cmd_start,
    "intents": cmd_intents,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backcoach", description=__doc__)
    parser.add_argument("--version", action="version", version=f"backcoach {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (twice: debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ask", help="understand typed text and answer it")
    p.add_argument("--json", action="store_true", help="one JSON object per utterance")
    p.add_argument("--intents", metavar="DIR", help="a directory of hassil YAML (default: the skill's own)")
    _add_voice_options(p)
    p.add_argument("text", nargs="+", help="the question, or - to read one utterance per line from stdin")

    p = sub.add_parser("hear", help="understand WAV files (or directories of them) and answer")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.add_argument("--intents", metavar="DIR")
    p.add_argument("--model", metavar="DIR", help="a Vosk model directory (default: $BACKCOACH_MODEL or the fetched one)")
    _add_voice_options(p)
    p.add_argument("paths", nargs="+", help="WAV files or directories")

    p = sub.add_parser("model", help="fetch, verify or locate the speech model")
    p.add_argument("action", choices=["fetch", "verify", "path"])
    p.add_argument("--model", metavar="DIR")
    p.add_argument("--force", action="store_true", help="fetch again even if the model is intact")

    p = sub.add_parser("chat", help="the same conversation, typed at the keyboard")
    p.add_argument("--intents", metavar="DIR")
    _add_voice_options(p)

    p = sub.add_parser("start", help="the main job: listen on the microphone, or demonstrate without one")
    p.add_argument("--intents", metavar="DIR")
    p.add_argument("--model", metavar="DIR")
    _add_voice_options(p)

    p = sub.add_parser("intents", help="check an intents directory for errors and ambiguity")
    p.add_argument("action", choices=["check"])
    p.add_argument("dir", nargs="?", default=None)

    for extra in _EXTRA_PARSERS:
        extra(sub)
    return parser


_EXTRA_PARSERS: list[Callable] = []


def register(name: str, add_parser: Callable, func: Callable[[argparse.Namespace], int]) -> None:
    """Let a command module (run, bench, eval) plug itself into the CLI."""
    _EXTRA_PARSERS.append(add_parser)
    COMMANDS[name] = func


def _load_command_modules() -> None:
    import importlib

    for name in ("loop", "bench", "evaluate"):
        try:
            module = importlib.import_module(f".commands_{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.endswith(f"commands_{name}"):
                continue
            raise
        module.register(register)


def main(argv: list[str] | None = None) -> int:
    _load_command_modules()
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="backcoach: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except BackcoachError as exc:
        _error(exc.one_line())
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())

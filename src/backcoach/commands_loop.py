"""`backcoach run` (the hands-free live loop) and `backcoach devices` (what sound devices exist)."""

from __future__ import annotations

import argparse
import logging
from typing import Any, Callable

from .config import LoopConfig, device_value, load_config, merge_options
from .errors import BackcoachError

log = logging.getLogger("backcoach")

NO_MICROPHONE = 'no microphone found; try backcoach chat (type), ask "..." or hear FILE.wav'
VOICE_ENGINES = ("pyttsx3", "espeak", "piper")

RUN_HELP = """\
Listen hands-free: say the wake phrase ("hey coach"), wait for the beep, ask. After a reply you
have a few seconds (--follow-up) to ask again without the wake phrase. Say "stop" or the wake phrase
while it talks to interrupt it. With --input the recording is used instead of the microphone; the
wake phrase is still required unless --no-wake. Settings come from
$XDG_CONFIG_HOME/backcoach/config.toml (wake_phrase, voice, rate, volume, input_device,
output_device, model, follow_up_seconds); options given here override it."""


def add_run_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="the hands-free live loop: wake phrase, question, spoken answer",
                       description=RUN_HELP)
    p.add_argument("--input", metavar="WAV", help="read this recording instead of the microphone "
                   "(the wake phrase is still required unless --no-wake)")
    p.add_argument("--output", metavar="WAV", help="write everything said to a WAV (on the loop's "
                   "timeline) instead of playing it")
    p.add_argument("--events", metavar="JSONL", help="write one JSON event per line (t = loop seconds)")
    p.add_argument("--no-wake", action="store_true", help="always listening; no wake phrase needed")
    p.add_argument("--wake", metavar="PHRASE", help='the wake phrase (default "hey coach")')
    p.add_argument("--follow-up", metavar="SECONDS", type=float,
                   help="after a reply, listen this long without the wake phrase (default 6)")
    p.add_argument("--input-device", metavar="DEV", help="microphone number or name (see: backcoach devices)")
    p.add_argument("--output-device", metavar="DEV", help="speaker number or name")
    p.add_argument("--intents", metavar="DIR", help="a directory of hassil YAML (default: the skill's own)")
    p.add_argument("--model", metavar="DIR", help="a Vosk model directory")
    p.add_argument("--voice", help="pyttsx3 voice id or part of its name, or a spec like espeak:en-us")
    p.add_argument("--rate", type=int, help="speaking rate in words per minute")
    p.add_argument("--realtime", action="store_true",
                   help="with --input: read the file at real-time pace (the loop clock is the wall clock)")


def add_devices_parser(sub: Any) -> None:
    sub.add_parser("devices", help="list microphones and speakers")


def settings(args: argparse.Namespace) -> LoopConfig:
    """The config file, overridden by whatever was given on the command line."""
    config = load_config()
    return merge_options(config, {
        "wake_phrase": getattr(args, "wake", None),
        "voice": getattr(args, "voice", None),
        "rate": getattr(args, "rate", None),
        "input_device": getattr(args, "input_device", None),
        "output_device": getattr(args, "output_device", None),
        "model": getattr(args, "model", None),
        "follow_up_seconds": getattr(args, "follow_up", None),
    })


def load_loop_voice(config: LoopConfig):
    """The voice named in the settings: an engine spec (espeak:en-us) or a pyttsx3 voice name."""
    from .tts import Pyttsx3Voice, VoiceConfig, load_voice

    spec = config.voice
    if spec and spec.split(":", 1)[0] in VOICE_ENGINES:
        return load_voice(spec, config.rate)
    voice_config = VoiceConfig(voice=spec, volume=config.volume)
    if config.rate:
        voice_config.rate = config.rate
    return Pyttsx3Voice(voice_config)


def has_device(kind: str) -> bool:
    try:
        import sounddevice

        return any(d.get(f"max_{kind}_channels", 0) > 0 for d in sounddevice.query_devices())
    except Exception:  # noqa: BLE001 - no PortAudio, no devices
        return False


def cmd_run(args: argparse.Namespace) -> int:
    from .assistant import Assistant
    from .events import Events, JsonlWriter
    from .liveaudio import FileSource, MicSource, SpeakerSink, WavSink
    from .loop import Loop, LoopOptions

    config = settings(args)
    input_path = getattr(args, "input", None)
    output_path = getattr(args, "output", None) or getattr(args, "speak_to", None)
    realtime = bool(getattr(args, "realtime", False))
    input_device = device_value(config.input_device)
    output_device = device_value(config.output_device)
    if input_path is None and input_device is None and not has_device("input"):
        raise BackcoachError(NO_MICROPHONE)

    events = Events(keep=False)
    writer = JsonlWriter(args.events) if getattr(args, "events", None) else None
    if writer is not None:
        events.listeners.append(writer)

    def device_error(where: str, message: str) -> None:
        events.emit("error", loop.now if loop is not None else 0.0, where=where, message=message)

    loop = None
    if input_path is not None:
        source = FileSource(input_path, realtime=realtime)
    else:
        source = MicSource(input_device, on_error=device_error)  # a wrong device fails here, fast
    assistant = Assistant(getattr(args, "intents", None), config.model)
    assistant.recognizer()  # load the model before listening, so its errors come first
    voice = load_loop_voice(config)
    live = input_path is None or realtime
    if output_path:
        sink = WavSink(output_path)
    elif live and (output_device is not None or has_device("output")):
        sink = SpeakerSink(output_device, on_error=device_error)
    else:
        sink = WavSink(None)  # nowhere to play: the replies are printed
    options = LoopOptions(wake_phrase=config.wake_phrase, wake=not getattr(args, "no_wake", False),
                          follow_up=config.follow_up_seconds, echo_guard=input_path is None,
                          print_replies=True)
    loop = Loop(assistant, source, sink, voice, options, events)
    if config.rate:
        loop.dialogue.rate = config.rate  # replies carry the rate; SpeakSlower/Faster step from it
    if input_path is None:
        where = f'say "{options.wake_phrase}"' if options.wake else "speak"
        print(f"Listening ({where}; Ctrl-C to leave).", flush=True)
    try:
        reason = loop.run()
    finally:
        if writer is not None:
            writer.close()
    log.info("stopped: %s", reason)
    if output_path:
        print(f"spoken replies written to {output_path}", flush=True)
    return 130 if reason == "interrupted" else 0


def cmd_devices(args: argparse.Namespace) -> int:
    try:
        import sounddevice as sd
    except OSError:
        print("no audio devices (the PortAudio library is not installed: install libportaudio2)")
        return 0
    try:
        devices = list(sd.query_devices())
    except Exception as exc:  # noqa: BLE001
        print(f"no audio devices ({exc})")
        return 0
    if not devices:
        print("no audio devices found")
        return 0
    try:
        default_in, default_out = sd.default.device
    except Exception:  # noqa: BLE001
        default_in = default_out = -1
    for index, d in enumerate(devices):
        kinds = []
        if d.get("max_input_channels", 0) > 0:
            kinds.append("input" + (" (default)" if index == default_in else ""))
        if d.get("max_output_channels", 0) > 0:
            kinds.append("output" + (" (default)" if index == default_out else ""))
        print(f"{index:3d}  {d['name']}  [{', '.join(kinds)}]  {int(d['default_samplerate'])} Hz")
    return 0


def register(register_fn: Callable) -> None:
    register_fn("run", add_run_parser, cmd_run)
    register_fn("devices", add_devices_parser, cmd_devices)

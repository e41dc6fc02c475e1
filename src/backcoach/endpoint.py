"""Whether a spoken request is over, or only paused to think ("how should I ... sit at my desk").

The live loop ends an utterance after a short quiet; these judge what it heard then: words that
stop where a request seldom ends keep the request open, and a request cut at such a pause is
heard again with its pauses shortened.
"""

from __future__ import annotations

from .align import UNKNOWN_WORD
from .asr import Transcript
from .text import unfinished

SURE_WORD = 0.5
"""A last word heard with less confidence than this does not count as stopping mid-request: a
breath after "what causes lower back pain" was heard as "the" (confidence 0.23)."""
ROUNDED_WORD_SECONDS = 0.8
"""A word the recogniser says lasted longer than this, after words that stop mid-request, was
made up to end the utterance on a whole sentence over the silence ("how should i" -> "how should i
say"); a real last word that the partial result had not shown yet ("... connected to my back")
lasts about 0.4 s."""
GAP_KEPT = 0.15
"""Seconds kept at each end of a quiet stretch longer than twice this, when a request cut at a
pause is heard again (Vosk ends an utterance after half a second of quiet)."""


def ends_open(result: Transcript) -> bool:
    """Whether an utterance's words stop where a request seldom ends, on a word surely heard."""
    best = result.hypotheses[0] if result.hypotheses else None
    if best is None or not unfinished(best.words):
        return False
    return best.confidences is None or best.confidences[-1] >= SURE_WORD


def rounded_off(said: list[str], result: Transcript) -> bool:
    """Whether the end of an utterance changed the words it had (`said`, which stop mid-request)
    into a whole sentence, rather than adding the words spoken after them: "what is the" became
    "what is next", or "how should i" "how should i say" with a long made-up last word."""
    tokens = result.text.split()
    durations = result.durations if len(result.durations) == len(tokens) else [0.0] * len(tokens)
    timed = [(w, d) for w, d in zip(tokens, durations) if w != UNKNOWN_WORD]
    said = [w for w in said if w != UNKNOWN_WORD]
    if [w for w, _ in timed[:len(said)]] != said:
        return True
    return any(seconds > ROUNDED_WORD_SECONDS for _, seconds in timed[len(said):])


def close_gaps(blocks: list[tuple[bytes, bool]], rate: int) -> bytes:
    """16-bit audio blocks, each marked voiced or not, joined with every quiet stretch longer
    than 2 x GAP_KEPT cut down to its two ends."""
    keep = int(GAP_KEPT * rate) * 2
    out: list[bytes] = []
    quiet: list[bytes] = []
    for pcm, voiced in [*blocks, (b"", True)]:
        if not voiced:
            quiet.append(pcm)
            continue
        run = b"".join(quiet)
        out.append(run if len(run) <= 2 * keep else run[:keep] + run[-keep:])
        quiet = []
        out.append(pcm)
    return b"".join(out)

"""Words as both speech recognition and templates see them: lower case, no punctuation."""

from __future__ import annotations

import re
from functools import lru_cache

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})
_NON_WORD = re.compile(r"[^a-z0-9' ]+")
_SPACES = re.compile(r"\s+")

# Small words people drop, add or swap freely; aligning them wrongly costs little.
FILLER_WORDS = frozenset(
    """a an the my me i i'm im i've ive is are am was be been it it's its this that these those
    to of in on at for with and or so do does did can could would will should you your please
    just like um uh er erm hmm oh okay ok well hey now then really actually kind sort bit
    some any about there their they them we us our he she his her if when get got have has had
    up out down over very too also again""".split()
)

# How speech recognisers write run-together speech, and what it stands for in templates.
SPOKEN_FORMS = {
    "gotta": ("got", "a"), "gonna": ("going", "to"), "wanna": ("want", "to"), "gimme": ("give", "me"),
    "lemme": ("let", "me"), "kinda": ("kind", "of"), "sorta": ("sort", "of"), "outta": ("out", "of"),
    "dunno": ("don't", "know"), "hafta": ("have", "to"), "lotta": ("lot", "of"), "cuz": ("because",),
}


def normalize(text: str) -> str:
    """Lower case, apostrophes unified, punctuation and hyphens turned into spaces."""
    text = text.translate(_APOSTROPHES).lower().replace("-", " ")
    text = _NON_WORD.sub(" ", text)
    text = " ".join(w.strip("'") for w in text.split())
    return _SPACES.sub(" ", text).strip()


def words_of(text: str) -> list[str]:
    """The words of a text, normalized."""
    return [w for w in normalize(text).split(" ") if w]


@lru_cache(maxsize=4096)
def number_words(number: int | float) -> str:
    """A number as English words ("twenty one"), the way a recognizer writes it."""
    try:
        from unicode_rbnf import RbnfEngine

        engine = RbnfEngine.for_language("en")
        result = engine.format_number(number)
        text = getattr(result, "text", None) or next(iter(result.text_by_ruleset.values()))
        return normalize(text)
    except Exception:  # noqa: BLE001 - fall back to digits, which still align
        return str(number)


def similarity(a: str, b: str) -> float:
    """How alike two words are written (0..1): a cheap stand-in for how alike they sound."""
    if a == b:
        return 1.0
    return _similarity(a, b) if a < b else _similarity(b, a)


@lru_cache(maxsize=200_000)
def _similarity(a: str, b: str) -> float:
    # Levenshtein ratio on letters, with vowels weighing less (speech errors keep consonants).
    la, lb = len(a), len(b)
    prev = list(range(lb + 1))
    for i in range(1, la + 1):
        cur = [i] + [0] * lb
        ca = a[i - 1]
        for j in range(1, lb + 1):
            cb = b[j - 1]
            if ca == cb:
                sub = 0.0
            elif ca in "aeiouy" and cb in "aeiouy":
                sub = 0.5
            else:
                sub = 1.0
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + sub)
        prev = cur
    return max(0.0, 1.0 - prev[lb] / max(la, lb))

"""Words as both speech recognition and templates see them: lower case, no punctuation."""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})
_NON_WORD = re.compile(r"[^a-z0-9' ]+")
_SPACES = re.compile(r"\s+")

# Small words people drop, add or swap freely; aligning them wrongly costs little.
FILLER_WORDS = frozenset(
    """a an the my me i i'm im i've ive is are am was be been it it's its this that these those
    to of in on at for with and or so do does did can could would will should you your please
    just like um uh er erm hmm oh okay ok well hey now then really actually kind sort bit
    some any about there their they them we us our he she his her if when get got have has had
    up out down over very too also again much many""".split()
)

# Words a spoken request seldom ends on (articles, possessives, prepositions, conjunctions, subject
# pronouns): after "how should i ..." or "a large latte with ..." a pause is someone thinking, not
# the end of what they ask. Verbs and "her" are left out ("what can you do", "yes i will", "what
# should i bring her"). A question that does end on one ("what's that about": 12 of 802 tuning
# phrasings) is answered about a second later.
OPEN_ENDINGS = frozenset(
    """a an the my your our their to of for with from about into onto at by and or but
    because if when while than i we they he she i'm im i've ive""".split()
)


def unfinished(words: list[str]) -> bool:
    """Whether heard words stop where a request seldom ends ("how should i", "a latte with"), or
    are only a way of opening one ("i was wondering", "i'd like to know"; not a short "okay" or
    "sorry", which can be all there is). Not whether a template may end there: optional parts let
    backcoach's end on "for" and "the"."""
    if not words:
        return False
    return words[-1] in OPEN_ENDINGS or (len(words) >= 3 and lead_in_length(words) == len(words))

# Ways of opening a request that say nothing about what is asked ("i was wondering why ...").
# Said first (after any "um" or "so"), their words cost little to leave out of a template.
LEAD_INS = tuple(tuple(phrase.split()) for phrase in (
    "i was wondering", "i'm wondering", "i am wondering", "i was just wondering", "i wonder",
    "i wondered", "i'm curious", "i was curious", "quick question", "i have a question",
    "i've got a question", "can i ask", "can i ask you", "could i ask", "do you know",
    "do you happen to know", "any idea", "i'd like to know", "i would like to know",
    "i want to know", "i need to know", "i'd love to know", "so basically", "basically",
    "right", "alright", "all right", "okay", "ok", "so", "well", "hey", "excuse me", "sorry",
))
LEAD_IN_SHARE = 0.25
"""What a lead-in word costs to leave out, as a share of an ordinary extra word's cost."""

# How speech recognisers write run-together speech, and what it stands for in templates.
SPOKEN_FORMS = {
    "gotta": ("got", "a"), "gonna": ("going", "to"), "wanna": ("want", "to"), "gimme": ("give", "me"),
    "lemme": ("let", "me"), "kinda": ("kind", "of"), "sorta": ("sort", "of"), "outta": ("out", "of"),
    "dunno": ("don't", "know"), "hafta": ("have", "to"), "lotta": ("lot", "of"), "cuz": ("because",),
}


# Asking for someone else ("my dad's back hurts when he bends his knee") is read as asking for
# oneself, which is how the templates are written: the answer is the same.
PEOPLE = frozenset("""husband wife partner dad mum mom mother father nan nana gran granny grandma grandpa
    grandad granddad grandmother grandfather son daughter brother sister friend mate buddy boyfriend
    girlfriend boss aunt uncle neighbour neighbor patient client kid""".split())
_BODY = frozenset("""back lower spine leg legs knee knees foot feet hip hips pelvis bottom bum groin bladder
    bowels bowel hamstring hamstrings thigh thighs sciatic nerve posture pain""".split())
_THIRD = {"he": "i", "she": "i", "his": "my", "her": "my", "him": "me", "himself": "myself",
          "herself": "myself", "he'd": "i'd", "she'd": "i'd", "he'll": "i'll", "she'll": "i'll"}
OTHERS = frozenset({"he", "she", "he's", "she's", "his", "her", "him", "himself", "herself", "he'd", "she'd",
                    "he'll", "she'll"} | PEOPLE | {p + "'s" for p in PEOPLE})
"""Words that say the question is about someone else (a quick test before `first_person`)."""
_HAVE_NEXT = frozenset("got been had lost gone fallen done".split())
_SAYING = frozenset("says said thinks reckons reckon".split())


def first_person(words: list[str]) -> tuple[list[str], list[tuple[int, int]]]:
    """Words about someone else as if said of oneself, and for each new word the span of old
    words it stands for: "my dad's back" -> "my back", "she's got" -> "i've got", "his" -> "my",
    "my wife says she" -> "i"."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        word = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        who = None  # words naming the other person here, and whether they end in 's
        if word == "my" and nxt in PEOPLE:
            who = (2, False)
        elif word == "my" and nxt.endswith("'s") and nxt[:-2] in PEOPLE:
            who = (2, True)
        elif word in ("he", "she"):
            who = (1, False)
        elif word in ("he's", "she's"):
            who = (1, True)
        if who is not None:
            k, owned = who
            after = words[i + k] if i + k < len(words) else ""
            if after in _SAYING:  # "my wife says ..." / "she says ...": what follows is the point
                spans_end = i + k + 1
                i = spans_end
                continue
            if word == "my" and (after in _BODY or (owned and after in _BODY)):
                out.append("my")
            elif owned:
                out.append("i've" if after in _HAVE_NEXT or after.endswith("ed") else "i'm")
            elif word == "my":
                out.append("i")
            else:
                out.append("i")
            spans.append((i, i + k))
            i += k
            continue
        out.append(_THIRD.get(word, word))
        spans.append((i, i + 1))
        i += 1
    return out, spans


def lead_in_length(words: list[str]) -> int:
    """How many words at the start are filler and lead-ins ("um so i was wondering")."""
    i = 0
    while i < len(words):
        if words[i] in ("um", "uh", "er", "erm", "hmm", "oh"):
            i += 1
            continue
        found = max((len(p) for p in LEAD_INS if tuple(words[i:i + len(p)]) == p), default=0)
        if not found:
            break
        i += found
    return i


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


_VOWELS = "aeiouy"
_LETTER_COLUMNS = {c: i for i, c in enumerate("bcdfghjklmnpqrstvwxz'0123456789")}
_LETTER_COLUMNS.update({v: len(_LETTER_COLUMNS) for v in _VOWELS})
_OTHER = max(_LETTER_COLUMNS.values()) + 1


class SpellingIndex:
    """Finds which words of a fixed list are spelt like a given word (`similarity` at least some
    share), without comparing it letter by letter with every one of them.

    A quick lower bound on the edit distance rules most words out first. Count each word's
    letters with every vowel counted as the same letter: whatever one word has more of than the
    other must be deleted or swapped, a whole edit each (only vowel-for-vowel swaps cost less).
    """

    def __init__(self, words: list[str]) -> None:
        self.words = list(words)
        self.lengths = np.array([len(w) for w in self.words], dtype=np.int32)
        self.counts = np.zeros((len(self.words), _OTHER + 1), dtype=np.int32)
        for row, word in enumerate(self.words):
            self.counts[row] = _letter_counts(word)

    def near(self, word: str, least: float) -> dict[str, float]:
        """The listed words whose similarity to `word` is at least `least`, with that similarity."""
        if not self.words:
            return {}
        diff = self.counts - _letter_counts(word)
        bound = np.maximum(np.maximum(diff, 0).sum(axis=1), np.maximum(-diff, 0).sum(axis=1))
        allowed = (1.0 - least) * np.maximum(self.lengths, len(word)) + 1e-9
        found = {}
        for row in np.flatnonzero(bound <= allowed):
            other = self.words[row]
            sim = similarity(other, word)
            if sim >= least:
                found[other] = sim
        return found


def _letter_counts(word: str) -> np.ndarray:
    counts = np.zeros(_OTHER + 1, dtype=np.int32)
    for char in word:
        counts[_LETTER_COLUMNS.get(char, _OTHER)] += 1
    return counts


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
            elif ca in _VOWELS and cb in _VOWELS:
                sub = 0.5
            else:
                sub = 1.0
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + sub)
        prev = cur
    return max(0.0, 1.0 - prev[lb] / max(la, lb))

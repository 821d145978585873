"""Normalise text into word tokens for lexicon matching, keeping each token's span in the original.

Senders dodge word lists with look-alike letters (Cyrillic "а", full-width "ｆ"),
leetspeak ("sh1t", "@ss"), spacing ("f u c k", "f.u.c.k"), masks ("f*ck"),
repeated letters ("fuuuck") and invisible characters. Every token keeps the
span of the original text it came from, so evidence shows what was written.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from bisect import bisect_right
from itertools import chain, compress
from operator import not_
from typing import Callable

import numpy as np

# Invisible characters used to split words past filters: zero-width space/joiners,
# word joiner, BOM, soft hyphen, combining grapheme joiner, Mongolian vowel separator.
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u034f\u180e")

# Letters from other scripts that look like Latin ones (a subset of Unicode
# TR39 confusables: the ones seen in evasion, Cyrillic and Greek lower case).
CONFUSABLES: dict[str, str] = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ɡ": "g", "ı": "i",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ς": "s", "σ": "o",
}

# Leetspeak: only applied inside a token that also has letters, so "2024" and
# "£5" stay what they are.
LEET: dict[str, str] = {
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
    "@": "a", "$": "s", "!": "i", "|": "i", "+": "t", "€": "e", "£": "l",
}
MASK = "*"
# Contractions that would join into a rude word ("who're" is not "whore").
_CONTRACTIONS = {"who're": "whoare", "who'r": "whoare"}
# Characters that may be part of a token (letters, digits, leet symbols, masks).
# An apostrophe inside a word is dropped ("don't" -> "dont", "you're" -> "youre").
_TOKEN = re.compile(r"[^\W_]+(?:['@$!|+*€£#][^\W_]*)*|[@$][^\W_]+[@$!|+*€£#'\w]*", re.UNICODE)
_APOSTROPHES = {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"}
# Between spelled-out letters: "f u c k", "f.u.c.k", "f-u-c-k", "f_u_c_k", "f * c * k".
_SPELL_GAP = re.compile(r"[\s.\-_*,/\\]{1,3}")
_RUN3 = re.compile(r"(\w)\1{2,}")
_RUN2 = re.compile(r"(\w)\1+")
_ANY_RUN3 = re.compile(r"(\w)\1\1")  # whether _RUN3 matches anywhere, at half its cost


@dataclass(frozen=True, slots=True)
class Token:
    text: str  # normalised form: lower case, Latin letters, leet mapped, runs of 3+ cut to 2
    start: int  # span in the original text
    end: int
    elongated: bool = False  # a letter was repeated 3+ times ("fuuuck")
    masked: bool = False  # has "*" standing for letters ("f*ck")


_new = object.__new__
_SET_TEXT, _SET_START, _SET_END = Token.text.__set__, Token.start.__set__, Token.end.__set__  # type: ignore[attr-defined]
_SET_ELONGATED, _SET_MASKED = Token.elongated.__set__, Token.masked.__set__  # type: ignore[attr-defined]


def _plain(text: str, start: int, end: int) -> Token:
    """Token(text, start, end) at half the cost: a frozen dataclass's __init__ goes through
    object.__setattr__ per field."""
    token = _new(Token)
    _SET_TEXT(token, text)
    _SET_START(token, start)
    _SET_END(token, end)
    _SET_ELONGATED(token, False)
    _SET_MASKED(token, False)
    return token


class Normalised:
    """A text's tokens, as columns: `words` (each token's normalised text), `starts` and `ends`
    (its span in the original) and `flags` (token index -> (elongated, masked), only for the
    tokens that are either). `tokens` gives the same as `Token` objects, made on first use: a
    message has hundreds of words and most readers need only the words and a few spans
    (issue 19: one object per word was most of the normaliser's cost)."""

    __slots__ = ("original", "words", "flags", "_starts", "_ends", "_locate", "_tokens")

    def __init__(self, original: str, words: list[str], starts: list[int] | None, ends: list[int] | None,
                 flags: dict[int, tuple[bool, bool]],
                 locate: Callable[[], tuple[list[int], list[int]]] | None = None) -> None:
        """starts/ends None: `locate()` gives them when first read (the ASCII path finds the
        words without their offsets; most texts need a few spans or none)."""
        self.original, self.words, self.flags = original, words, flags
        self._starts, self._ends, self._locate = starts, ends, locate
        self._tokens: tuple[Token, ...] | None = None

    @property
    def starts(self) -> list[int]:
        if self._starts is None:
            self._starts, self._ends = self._locate()  # type: ignore[misc]
        return self._starts

    @property
    def ends(self) -> list[int]:
        if self._ends is None:
            self._starts, self._ends = self._locate()  # type: ignore[misc]
        return self._ends

    @classmethod
    def of_tokens(cls, original: str, tokens: list[Token]) -> "Normalised":
        flags = {i: (t.elongated, t.masked) for i, t in enumerate(tokens) if t.elongated or t.masked}
        made = cls(original, [t.text for t in tokens], [t.start for t in tokens], [t.end for t in tokens], flags)
        made._tokens = tuple(tokens)
        return made

    def __len__(self) -> int:
        return len(self.words)

    def _key(self) -> tuple:
        return self.original, self.words, self.starts, self.ends, self.flags

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Normalised) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.original, tuple(self.words), tuple(self.starts)))

    def __repr__(self) -> str:
        return f"Normalised({self.original[:40]!r}..., {len(self.words)} tokens)"

    @property
    def tokens(self) -> tuple[Token, ...]:
        if self._tokens is None:
            flags = self.flags
            tokens = list(map(_plain, self.words, self.starts, self.ends))
            for i, (elongated, masked) in flags.items():
                tokens[i] = Token(self.words[i], self.starts[i], self.ends[i], elongated, masked)
            self._tokens = tuple(tokens)
        return self._tokens

    def span(self, first: int, last: int) -> tuple[int, int]:
        """Original span covering tokens first..last (inclusive)."""
        return self.starts[first], self.ends[last]

    def evidence(self, first: int, last: int) -> str:
        return self.original[self.starts[first]:self.ends[last]]


def squeeze(word: str) -> str:
    """Every run of a repeated letter cut to one ("fuuuck" -> "fuck", "ass" -> "as")."""
    return _RUN2.sub(r"\1", word)


def _fold_char(ch: str) -> str:
    """NFKC, drop accents, case-fold and map confusables, for one character."""
    if ch in ZERO_WIDTH:
        return ""
    out = []
    for c in unicodedata.normalize("NFKC", ch):
        for d in unicodedata.normalize("NFD", c):
            if unicodedata.combining(d):
                continue
            d = d.casefold()
            out.append(_APOSTROPHES.get(d) or CONFUSABLES.get(d, d))
    return "".join(out)


def fold(text: str) -> tuple[str, list[int]]:
    """The folded text and, for each of its characters, the index in `text` it came from."""
    if text.isascii():  # the common case: no Unicode work, identity offsets
        return text.lower().replace("`", "'"), list(range(len(text)))
    chars: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(text):
        if ch.isascii():
            chars.append(ch.lower())
            origin.append(index)
            continue
        for c in _fold_char(ch):
            chars.append(c)
            origin.append(index)
    return "".join(chars), origin


_TRAILING = "!|+#'"  # marks after a word that are punctuation, not part of it ("idiot!!")


def _clean_token(raw: str) -> tuple[str, bool, bool] | None:
    """Leet-map, mask and shorten runs in one raw token; None when it is no word."""
    if raw.isalpha():  # most tokens: plain letters, nothing to map (the loop below is per character)
        if _RUN3.search(raw):
            return _RUN3.sub(r"\1\1", raw), True, False
        return raw, False, False
    if raw.isdigit():  # "2024": what the checks below give a number
        return raw, False, False
    raw = raw.rstrip(_TRAILING)  # "idiot!!" -> "idiot": trailing marks are punctuation
    if not raw:
        return None
    if "'" in raw and raw.replace("'", "").isalpha():
        # letters and apostrophes ("week's", "parents'"): no leet, no mask; the loop below
        # would only drop the apostrophes
        if raw in _CONTRACTIONS:
            return _CONTRACTIONS[raw], False, False
        text = raw.replace("'", "")
        if _RUN3.search(text):
            return _RUN3.sub(r"\1\1", text), True, False
        return text, False, False
    if not any(c.isalpha() for c in raw):
        return (raw, False, False) if raw.isdigit() else None
    if raw in _CONTRACTIONS:
        return _CONTRACTIONS[raw], False, False
    masked = MASK in raw or "#" in raw
    chars = []
    for c in raw:
        if c == "'":
            continue
        if c in LEET:
            chars.append(LEET[c])
        elif c in "*#":
            chars.append(MASK)
        else:
            chars.append(c)
    text = "".join(chars)
    elongated = bool(_RUN3.search(text))
    if elongated:
        text = _RUN3.sub(r"\1\1", text)
    return text, elongated, masked


_GROUP, _START, _END = re.Match.group, re.Match.start, re.Match.end
_ONE_LETTER_RUN = b"\x01\x01\x01"  # three single-letter tokens in a row: maybe "f u c k"


def normalise(text: str, joinable: Callable[[str], bool] | None = None) -> Normalised:
    """Tokens of `text` with their original spans.

    Runs of three or more single letters separated by spaces or punctuation
    ("f u c k") are joined into one token when `joinable(joined)` says the
    result is a word worth joining (always, when no `joinable` is given), so
    "u r a loser" keeps its words.
    """
    if text.isascii():  # folding is lower-casing; offsets are the identity (no origin list)
        folded, origin = text.lower().replace("`", "'"), None
        if not has_triple(folded, _ASCII_TRIPLES):  # no stretched letters: the C path
            return _normalise_ascii(text, folded, joinable)
    else:
        folded, origin = fold(text)
    # The columns are made by C loops (map over the matches); only the tokens that are not
    # plain letters (digits, apostrophes, leet, masks, stretched letters) are looked at one by one.
    matches = list(_TOKEN.finditer(folded))
    words = list(map(_GROUP, matches))
    starts = list(map(_START, matches))
    ends = list(map(_END, matches))
    special = list(compress(range(len(words)), map(not_, map(str.isalpha, words))))
    if _ANY_RUN3.search(folded) is not None:
        runs = _RUN3.finditer(folded)
        # a run of three repeated letters: the plain-letter tokens that hold one are elongated
        # ("fuuuck", the "www" of a link); only the tokens a run overlaps can (most mail has none)
        near = {bisect_right(starts, position) - 1 for run in runs for position in range(*run.span())}
        special = sorted({*special, *(i for i in near if i >= 0 and words[i].isalpha() and _RUN3.search(words[i]))})
    flags: dict[int, tuple[bool, bool]] = {}
    dropped: list[int] = []
    for i in special:
        raw = words[i]
        cleaned = _clean_token(raw)
        if cleaned is None:
            dropped.append(i)
            continue
        word, elongated, masked = cleaned
        words[i] = word
        if raw[-1] in _TRAILING:
            ends[i] = starts[i] + len(raw.rstrip(_TRAILING))
        if elongated or masked:
            flags[i] = (elongated, masked)
    if origin is not None:
        starts = list(map(origin.__getitem__, starts))
        ends = list(map(_after, map(origin.__getitem__, map(_before, ends))))
    if dropped:
        keep = set(range(len(words))).difference(dropped)
        order = sorted(keep)
        renumber = {old: new for new, old in enumerate(order)}
        words, starts, ends = ([column[i] for i in order] for column in (words, starts, ends))
        flags = {renumber[i]: f for i, f in flags.items()}
    normalised = Normalised(text, words, starts, ends, flags)
    if len(words) >= 3 and _three_single(words):
        # spelled-out letters ("f u c k"): the token-by-token join (rare)
        return Normalised.of_tokens(text, _join_spelled(list(normalised.tokens), text, joinable))
    return normalised


_before, _after, _is_one = (-1).__add__, (1).__add__, (1).__eq__


def _three_single(words: list[str]) -> bool:
    """Three one-character words in a row ("f u c k" may follow). The words' lengths as bytes,
    searched for 1, 1, 1: half the cost of mapping each length to a bool first (~20 us against
    ~46 for a newsletter's 411 words); a word over 255 characters takes the bool form."""
    try:
        return _ONE_LETTER_RUN in bytes(map(len, words))
    except ValueError:
        return _ONE_LETTER_RUN in bytes(map(_is_one, map(len, words)))
# \w on lower-cased ASCII is [a-z0-9_]: three of one of them is what _RUN3 needs
_ASCII_TRIPLES = tuple(c * 3 for c in "abcdefghijklmnopqrstuvwxyz0123456789_")


@functools.lru_cache(maxsize=16)
def _triple_mask(triples: tuple[str, ...]) -> np.ndarray:
    chars = {triple[0] for triple in triples}
    return np.array([chr(b) in chars for b in range(256)])


def has_triple(text: str, triples: tuple[str, ...]) -> bool:
    """`any(triple in text for triple in triples)`, each triple one ASCII character three times.
    A long ASCII text is compared with itself shifted by one and two (numpy, one pass); `in`
    searched the text once per triple (37 passes over a 2.3 KB newsletter body: ~75 us, a
    tenth of the offensive filter's normalising). Short texts keep the `in` scans, which cost
    less than numpy's call overhead there."""
    if len(text) < 512 or not text.isascii():
        return any(map(text.__contains__, triples))
    data = np.frombuffer(text.encode("ascii"), np.uint8)
    same = data[1:] == data[:-1]
    return bool((same[1:] & same[:-1] & _triple_mask(triples)[data[2:]]).any())
# ASCII bytes a token may hold (letters, digits, "_" and the marks of _TOKEN) kept, the rest a
# space: every token lies inside one run of kept bytes, and a run of letters and digits alone
# is exactly one token (_TOKEN has no lookaround, so a run is tokenised as in the whole text)
_TOKEN_BYTES = bytes(b if chr(b).isalnum() or chr(b) in "_'@$!|+*#" else 32 for b in range(128)) + bytes([32] * 128)


def _normalise_ascii(text: str, folded: str, joinable: Callable[[str], bool] | None) -> Normalised:
    """normalise() of ASCII text without a run of three repeated letters: the runs of token
    bytes come from one bytes.translate and str.split (C loops); only a run that is not all
    letters ("week's", "2024", "sh1t", "f*ck", "idiot!!", "@ss") goes through _TOKEN and
    _clean_token. The offsets are found only when read."""
    marked_bytes = folded.encode("ascii").translate(_TOKEN_BYTES)
    runs = marked_bytes.decode("ascii").split()
    odd = list(compress(range(len(runs)), map(not_, map(str.isalpha, runs))))
    # per odd run: its tokens as (word, start offset in the run, end offset, elongated, masked)
    expanded: dict[int, list[tuple[str, int, int, bool, bool]]] = {}
    for i in odd:
        found = []
        for match in _TOKEN.finditer(runs[i]):
            raw = match.group()
            if raw.isalpha():  # no run of three anywhere: a plain word
                found.append((raw, match.start(), match.end(), False, False))
                continue
            cleaned = _clean_token(raw)
            if cleaned is None:
                continue
            word, elongated, masked = cleaned
            kept = len(raw) if raw[-1] not in _TRAILING else len(raw.rstrip(_TRAILING))
            found.append((word, match.start(), match.start() + kept, elongated, masked))
        expanded[i] = found
    if odd:
        pieces: list[list[str]] = []
        flags: dict[int, tuple[bool, bool]] = {}
        previous, shift = 0, 0
        for i in odd:
            pieces.append(runs[previous:i])
            found = expanded[i]
            pieces.append([entry[0] for entry in found])
            for k, (_, _, _, elongated, masked) in enumerate(found):
                if elongated or masked:
                    flags[i + shift + k] = (elongated, masked)
            shift += len(found) - 1
            previous = i + 1
        pieces.append(runs[previous:])
        words = list(chain.from_iterable(pieces))
    else:
        words, flags = runs, {}

    def locate() -> tuple[list[int], list[int]]:
        # where each run of token bytes starts and ends: the edges of the kept-byte mask, with a
        # space put on either side so the edges alternate start, end, start ... (np.diff and
        # flatnonzero are Python-level wrappers: this is a third of their instructions)
        kept = np.frombuffer(b" " + marked_bytes + b" ", np.uint8) != 32
        edges = (kept[1:] != kept[:-1]).nonzero()[0].tolist()
        run_starts, run_ends = edges[0::2], edges[1::2]
        if not odd:
            return run_starts, run_ends
        starts: list[list[int]] = []
        ends: list[list[int]] = []
        previous = 0
        for i in odd:  # an odd run's tokens, each at its offset in the run
            starts.append(run_starts[previous:i])
            ends.append(run_ends[previous:i])
            at = run_starts[i]
            starts.append([at + entry[1] for entry in expanded[i]])
            ends.append([at + entry[2] for entry in expanded[i]])
            previous = i + 1
        starts.append(run_starts[previous:])
        ends.append(run_ends[previous:])
        return list(chain.from_iterable(starts)), list(chain.from_iterable(ends))

    normalised = Normalised(text, words, None, None, flags, locate)
    if len(words) >= 3 and _three_single(words):
        return Normalised.of_tokens(text, _join_spelled(list(normalised.tokens), text, joinable))
    return normalised


def _join_spelled(tokens: list[Token], text: str, joinable: Callable[[str], bool] | None) -> list[Token]:
    if len(tokens) < 3:
        return tokens
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        j = i
        if len(tokens[i].text) == 1:
            # extend over single letters separated only by short gaps
            while (j + 1 < len(tokens) and len(tokens[j + 1].text) == 1
                   and _SPELL_GAP.fullmatch(text[tokens[j].end:tokens[j + 1].start])):
                j += 1
        if j - i >= 2:
            joined = "".join(t.text for t in tokens[i:j + 1])
            joined_run = _RUN3.sub(r"\1\1", joined)
            if joinable is None or joinable(joined_run):
                out.append(Token(joined_run, tokens[i].start, tokens[j].end,
                                 elongated=joined_run != joined or any(t.elongated for t in tokens[i:j + 1]),
                                 masked=any(t.masked for t in tokens[i:j + 1])))
                i = j + 1
                continue
        out.append(tokens[i])
        i += 1
    return out

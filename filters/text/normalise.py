"""Normalise text into word tokens for lexicon matching, keeping each token's span in the original.

Senders dodge word lists with look-alike letters (Cyrillic "а", full-width "ｆ"),
leetspeak ("sh1t", "@ss"), spacing ("f u c k", "f.u.c.k"), masks ("f*ck"),
repeated letters ("fuuuck") and invisible characters. Every token keeps the
span of the original text it came from, so evidence shows what was written.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

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


@dataclass(frozen=True, slots=True)
class Token:
    text: str  # normalised form: lower case, Latin letters, leet mapped, runs of 3+ cut to 2
    start: int  # span in the original text
    end: int
    elongated: bool = False  # a letter was repeated 3+ times ("fuuuck")
    masked: bool = False  # has "*" standing for letters ("f*ck")


@dataclass(frozen=True, slots=True)
class Normalised:
    original: str
    tokens: tuple[Token, ...]

    def span(self, first: int, last: int) -> tuple[int, int]:
        """Original span covering tokens first..last (inclusive)."""
        return self.tokens[first].start, self.tokens[last].end

    def evidence(self, first: int, last: int) -> str:
        start, end = self.span(first, last)
        return self.original[start:end]


_new = object.__new__
_SET_TEXT, _SET_START, _SET_END = Token.text.__set__, Token.start.__set__, Token.end.__set__  # type: ignore[attr-defined]
_SET_ELONGATED, _SET_MASKED = Token.elongated.__set__, Token.masked.__set__  # type: ignore[attr-defined]


def _plain(text: str, start: int, end: int) -> Token:
    """Token(text, start, end) at half the cost: a frozen dataclass's __init__ goes through
    object.__setattr__ per field, and normalise() makes one per word of every message."""
    token = _new(Token)
    _SET_TEXT(token, text)
    _SET_START(token, start)
    _SET_END(token, end)
    _SET_ELONGATED(token, False)
    _SET_MASKED(token, False)
    return token


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
    raw = raw.rstrip(_TRAILING)  # "idiot!!" -> "idiot": trailing marks are punctuation
    if not raw:
        return None
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


def normalise(text: str, joinable: Callable[[str], bool] | None = None) -> Normalised:
    """Tokens of `text` with their original spans.

    Runs of three or more single letters separated by spaces or punctuation
    ("f u c k") are joined into one token when `joinable(joined)` says the
    result is a word worth joining (always, when no `joinable` is given), so
    "u r a loser" keeps its words.
    """
    if text.isascii():  # folding is lower-casing; offsets are the identity (no origin list)
        folded, origin = text.lower().replace("`", "'"), None
    else:
        folded, origin = fold(text)
    # No run of three repeated letters anywhere: no plain-letter token is elongated, so those
    # (nearly every token) are taken as they are, without _clean_token's per-token checks.
    plain_ok = _RUN3.search(folded) is None
    tokens: list[Token] = []
    append = tokens.append
    for match in _TOKEN.finditer(folded):
        raw = match.group()
        if plain_ok and raw.isalpha():
            start, end = match.span()
            append(_plain(raw, start, end) if origin is None else _plain(raw, origin[start], origin[end - 1] + 1))
            continue
        cleaned = _clean_token(raw)
        if cleaned is None:
            continue
        word, elongated, masked = cleaned
        start = match.start()
        kept = len(raw) if raw[-1] not in _TRAILING else len(raw.rstrip(_TRAILING))
        if origin is None:
            append(Token(word, start, start + kept, elongated, masked))
        else:
            append(Token(word, origin[start], origin[start + kept - 1] + 1, elongated, masked))
    return Normalised(text, tuple(_join_spelled(tokens, text, joinable)))


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

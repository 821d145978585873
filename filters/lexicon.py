"""Word lists and context patterns matched over normalised tokens (Aho-Corasick, whole tokens only).

List file format (config/lists/offensive/*.txt), one term per line:

    # a comment
    [profanity high]        # the category and severity of the terms below
    bugger off              # a phrase: whole tokens, in order
    fuck*                   # "*" at the end: the word and any continuation (fucker, fucking)

Pattern file format: the same `[category severity]` sections, one regular
expression per line, matched over the normalised text (lower case, one space
between tokens). `{name}` expands to a macro defined with `@name = regex`
(e.g. `@you = (?:you|u|ya)`) or, when no macro has that name, to the terms of
the list category `name` (e.g. `{insult}`).

Matching is whole-token: "cunt" never matches inside "Scunthorpe"; a stem
("cock*") can, so the allowlist ("cocktail", "dick whittington") wins over it.
"""
from __future__ import annotations

import bisect
import re
from itertools import accumulate, groupby, repeat
from operator import add, itemgetter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import ahocorasick
import numpy as np

from filters.base import Severity
from filters.errors import SchoolgateError
from filters.text.normalise import MASK, Normalised, Token, normalise, squeeze

ALLOW = "allow"
# The reviewers' site allowlist, kept in the quarantine directory (quarantine/feedback.py
# writes it from the review UI; the offensive filter reads it at start).
SITE_ALLOWLIST_FILE = "site_allowlist.txt"
_SECTION = re.compile(r"^\[\s*([a-z_]+)\s+([a-z]+)\s*\]$")
_MACRO = re.compile(r"^@([a-z_]+)\s*=\s*(.+)$")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# Inflections tried for a stem when resolving a masked token ("f***ing").
_DOUBLE = re.compile(r"(\w)\1")  # what squeeze() would shorten
# a word with a doubled letter, in words joined by spaces (a token never holds a space); the
# leading space makes `re` give up at once everywhere but a word's start
_DOUBLED_WORD = re.compile(r" ([^ ]*?(?:(\w)\2)[^ ]*)")
_FIRST = itemgetter(0)
# ASCII bytes that are \w (letters, digits, "_"): a doubled one is what (\w)\2 finds there
_WORD_BYTE = np.array([chr(b).isalnum() or b == ord("_") for b in range(128)] + [False] * 128)


def doubled_words(line: str) -> list[str]:
    """`[word for word, _ in _DOUBLED_WORD.findall(line)]`: the words of `line` (words joined by
    single spaces, a space on either side) holding a doubled word character, in order. On ASCII
    text the doubled pairs come from one numpy comparison of the bytes with themselves shifted
    by one and each is widened to its word by str.find: the regex tried its lazy loop at every
    word (~0.16 ms per message's distinct words, a tenth of the offensive filter's matching)."""
    if not line.isascii():
        return [word for word, _ in _DOUBLED_WORD.findall(line)]
    data = np.frombuffer(line.encode("ascii"), np.uint8)
    pairs = ((data[1:] == data[:-1]) & _WORD_BYTE[data[1:]]).nonzero()[0].tolist()
    out: list[str] = []
    end = -1
    for at in pairs:  # line[at] == line[at + 1], a word character
        if at < end:
            continue  # another pair in the word just taken
        end = line.find(" ", at)
        out.append(line[line.rfind(" ", 0, at) + 1:end])
    return out
_INFLECTIONS = ("", "s", "er", "ers", "ing", "in", "ed", "y", "head", "face")


class LexiconError(SchoolgateError, ValueError):
    """A list or pattern file that cannot be read, with the file and line."""


@dataclass(frozen=True, slots=True)
class Term:
    text: str  # normalised tokens joined by one space
    kind: str  # list category: profanity, hate, insult, ..., or "allow"
    severity: Severity
    prefix: bool = False  # a stem: the last token may continue
    source: str = ""  # file:line, for reviewers and tests


@dataclass(frozen=True, slots=True)
class Hit:
    term: Term
    first: int  # token indices, inclusive
    last: int


@dataclass(frozen=True, slots=True)
class Pattern:
    regex: re.Pattern[str]
    kind: str
    severity: Severity
    source: str


def _strip_comment(line: str) -> str:
    return line.split(" #", 1)[0].split("\t#", 1)[0].strip() if not line.lstrip().startswith("#") else ""


def read_terms(path: Path, default_kind: str | None = None) -> list[Term]:
    """Terms of one list file. `default_kind` lets a file without sections be
    one category (the allowlist)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LexiconError(f"{path}: cannot read: {exc.strerror}") from None
    kind, severity = default_kind, Severity.LOW
    terms: list[Term] = []
    for number, line in enumerate(lines, start=1):
        line = _strip_comment(line)
        if not line:
            continue
        section = _SECTION.match(line)
        if section:
            kind = section.group(1)
            try:
                severity = Severity.parse(section.group(2))
            except KeyError:
                raise LexiconError(f"{path}:{number}: unknown severity {section.group(2)!r}") from None
            continue
        if kind is None:
            raise LexiconError(f"{path}:{number}: term before any [category severity] section")
        prefix = line.endswith("*") and len(line) > 1
        words = normalise(line.rstrip("*") if prefix else line).words
        if not words:
            continue
        terms.append(Term(" ".join(words), kind, severity, prefix, f"{Path(path).name}:{number}"))
    return terms


class Lexicon:
    """Every term of every list in one Aho-Corasick automaton over " token token "."""

    def __init__(self, terms: Iterable[Term]) -> None:
        self.terms = list(terms)
        self._automaton = ahocorasick.Automaton()
        keys: dict[str, list[Term]] = {}
        for term in self.terms:
            key = f" {term.text}" if term.prefix else f" {term.text} "
            keys.setdefault(key, []).append(term)
        for key, value in keys.items():
            self._automaton.add_word(key, tuple(value))
        if keys:
            self._automaton.make_automaton()
        single = [t for t in self.terms if " " not in t.text and t.kind != ALLOW]
        self._words = {t.text for t in single if not t.prefix}
        self._stems = sorted({t.text for t in single if t.prefix}, key=len, reverse=True)
        self._squeezed = {squeeze(w): w for w in self._words}
        self._squeezed_stems = [(squeeze(s), s) for s in self._stems]
        self._plain_words = {w for w in self._words if squeeze(w) == w and len(w) >= 3}
        self._plain_stems = tuple(s for s in self._stems if squeeze(s) == s and len(s) >= 3)  # for str.startswith
        # for "f*ck": every single word and inflected stem, one per line, most severe first
        rank = {}
        for term in sorted(single, key=lambda t: -t.severity):
            forms = [term.text + s for s in _INFLECTIONS] if term.prefix else [term.text]
            for form in forms:
                if len(form) >= 3:
                    rank.setdefault(form, None)
        self._mask_candidates = "\n".join(rank)

    @property
    def empty(self) -> bool:
        return not self.terms

    def kinds(self, kind: str) -> list[Term]:
        return [t for t in self.terms if t.kind == kind]

    def joinable(self, word: str) -> bool:
        """Whether spelled-out letters ("f u c k") make a listed word."""
        return (word in self._words or squeeze(word) in self._squeezed
                or any(word.startswith(stem) for stem in self._stems))

    def normalise(self, text: str) -> Normalised:
        return normalise(text, self.joinable)

    def _resolve(self, token: Token) -> str:
        """The listed word an elongated or masked token stands for, else its own text."""
        return self._resolve_word(token.text, token.elongated, token.masked)

    def _resolve_word(self, text: str, elongated: bool = False, masked: bool = False) -> str:
        if masked and text.endswith(MASK) and MASK not in text[:-1] and text[-2:-1] != MASK:
            # one trailing "*" is emphasis or a footnote ("*$680 mil*"), not a hidden letter
            return text[:-1]
        if masked:
            letters = sum(1 for c in text if c != MASK)
            if letters >= 2 and text.strip(MASK):
                pattern = "".join(
                    f"[a-z]{{1,{len(run) + 1}}}" if run.startswith(MASK) else re.escape(run)
                    for run in re.findall(r"\*+|[^*]+", text))
                found = re.search(rf"^{pattern}$", self._mask_candidates, re.M)
                if found:
                    return found.group()
            return text
        if text in self._words:
            return text
        if not elongated and not _DOUBLE.search(text):
            return text  # no repeated letter: squeezing would change nothing
        squeezed = squeeze(text)
        if elongated:
            if squeezed in self._squeezed:
                return self._squeezed[squeezed]
            for squeezed_stem, stem in self._squeezed_stems:
                if squeezed.startswith(squeezed_stem):
                    return stem + squeezed[len(squeezed_stem):]
        elif squeezed != text:
            # a doubled letter ("fuuk", "shitt"): only towards listed words that
            # have no double letter themselves, so "Nigella" never becomes a stem
            if squeezed in self._plain_words or squeezed.startswith(self._plain_stems):
                return squeezed
        return text

    def _resolve_doubled(self, word: str) -> str:
        """_resolve_word of a plain word that has a doubled letter (the same answer, without
        the regex work: the word's letters are word characters, so squeezing is collapsing runs)."""
        if word in self._words:
            return word
        squeezed = "".join(map(_FIRST, groupby(word))) if word.isalnum() else squeeze(word)
        if squeezed != word and (squeezed in self._plain_words or squeezed.startswith(self._plain_stems)):
            return squeezed
        return word

    def joined(self, normalised: Normalised) -> tuple[str, list[int]]:
        """The matching string " tok tok ... " and each token's start in it.

        A plain token (neither masked nor elongated) resolves to itself unless it has a doubled
        letter, and its resolution is a function of its text alone: so only the distinct words
        with a doubled letter are resolved, once per call (no memo across messages), and the
        string and starts are made by C loops (issue 19)."""
        words, flags = normalised.words, normalised.flags
        line = " " + " ".join(words) + " "
        changed = {}
        for word in doubled_words(" " + " ".join(set(words)) + " "):
            resolved = self._resolve_doubled(word)
            if resolved != word:
                changed[word] = resolved
        if changed or flags:
            parts = list(map(changed.get, words, words)) if changed else list(words)
            for i, (elongated, masked) in flags.items():
                parts[i] = self._resolve_word(words[i], elongated, masked)
            line = " " + " ".join(parts) + " "
        else:
            parts = words
        starts = list(accumulate(map(add, map(len, parts), repeat(1)), initial=1))
        starts.pop()
        return line, starts

    def match(self, normalised: Normalised, joined: tuple[str, list[int]] | None = None) -> list[Hit]:
        """Every listed term found, minus those inside an allowlisted phrase (the
        allowlisted phrases themselves are returned with kind "allow")."""
        if self.empty or not normalised.words:
            return []
        text, starts = joined or self.joined(normalised)
        hits: list[Hit] = []
        allowed: set[int] = set()
        for end, terms in self._automaton.iter(text):
            for term in terms:
                length = len(term.text) + (1 if term.prefix else 2)
                first = bisect.bisect_left(starts, end - length + 2)
                last = bisect.bisect_right(starts, end if term.prefix else end - 1) - 1
                if term.kind == ALLOW:
                    allowed.update(range(first, last + 1))
                hits.append(Hit(term, first, last))
        if allowed:  # allowlist hits stay in the result (callers may want them), the rest go
            hits = [h for h in hits if h.term.kind == ALLOW
                    or not all(i in allowed for i in range(h.first, h.last + 1))]
        return hits


def token_range(starts: list[int], start: int, end: int) -> tuple[int, int]:
    """Tokens covering the character range [start, end) of the matching string."""
    first = max(0, bisect.bisect_right(starts, start) - 1)
    last = max(first, bisect.bisect_right(starts, max(start, end - 1)) - 1)
    return first, last


def read_patterns(path: Path, lexicon: Lexicon) -> list[Pattern]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LexiconError(f"{path}: cannot read: {exc.strerror}") from None
    macros: dict[str, str] = {}
    kind, severity = None, Severity.LOW
    patterns: list[Pattern] = []

    def expand(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in macros:
            return macros[name]
        terms = sorted(lexicon.kinds(name), key=lambda t: len(t.text), reverse=True)
        if not terms:
            raise KeyError(name)
        words = dict.fromkeys(re.escape(t.text) + (r"\w*" if t.prefix else "") for t in terms)
        return "(?:" + "|".join(words) + ")"

    for number, line in enumerate(lines, start=1):
        line = _strip_comment(line)
        if not line:
            continue
        where = f"{Path(path).name}:{number}"
        macro = _MACRO.match(line)
        if macro:
            try:
                macros[macro.group(1)] = "(?:" + _PLACEHOLDER.sub(expand, macro.group(2)) + ")"
            except KeyError as exc:
                raise LexiconError(f"{path}:{number}: unknown placeholder {{{exc.args[0]}}}") from None
            continue
        section = _SECTION.match(line)
        if section:
            kind = section.group(1)
            severity = Severity.parse(section.group(2))
            continue
        if kind is None:
            raise LexiconError(f"{path}:{number}: pattern before any [category severity] section")
        try:
            regex = re.compile(r"(?<![a-z0-9])(?:" + _PLACEHOLDER.sub(expand, line) + r")(?![a-z0-9])")
        except KeyError as exc:
            raise LexiconError(f"{path}:{number}: unknown placeholder {{{exc.args[0]}}}") from None
        except re.error as exc:
            raise LexiconError(f"{path}:{number}: bad regular expression: {exc}") from None
        patterns.append(Pattern(regex, kind, severity, where))
    return patterns


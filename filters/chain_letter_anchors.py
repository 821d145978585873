"""Literal anchors of the chain-letter patterns: one Aho-Corasick pass says which sentences a family must look at.

Python's `re` tries every alternative at every position of a long message; a
family of a hundred cue patterns in four languages costs milliseconds per
message that way. But each pattern needs some literal text to match ("bad
luck", one of "send/forward/share ..."), and most sentences of normal mail have
none of them. So each pattern's most selective *required* literal alternatives
are found from its parsed form, all of them go into one automaton, and the
family's regex runs only on the sentences where one of its anchors occurs
(Rspamd's "cheap first"). A pattern with no usable literal is kept in a small
per-family regex that scans the whole text, so nothing is lost: the anchors are
a prefilter, the regex still decides.
"""
from __future__ import annotations

import bisect
import functools
import itertools
import re
from dataclasses import dataclass
from re import _constants as C  # noqa: N812 - the parser's opcodes
from re import _parser as sre_parse
from typing import Iterable

import ahocorasick

# An anchor shorter than this is too common to filter anything ("a", "to ").
MIN_ANCHOR = 3
# Expansions larger than this are given up (the pattern then has a shorter anchor or none).
MAX_EXPANSION = 400

_Strings = frozenset[str]


def _product(left: _Strings, right: _Strings) -> _Strings | None:
    if len(left) * len(right) > MAX_EXPANSION:
        return None
    return frozenset(a + b for a, b in itertools.product(left, right))


def _expand(items) -> _Strings | None:
    """Every string a sub-pattern can match, when that is a small finite set of literals."""
    out: _Strings = frozenset({""})
    for op, av in items:
        if op is C.LITERAL:
            part: _Strings | None = frozenset({chr(av)})
        elif op in (C.AT, C.ASSERT, C.ASSERT_NOT):
            part = frozenset({""})  # zero width: dropping it only widens the prefilter
        elif op is C.SUBPATTERN:
            part = _expand(av[-1])
        elif op is C.BRANCH:
            parts = [_expand(branch) for branch in av[1]]
            part = None if any(p is None for p in parts) else frozenset().union(*parts)
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT) and av[0] == 0 and av[1] == 1:
            inner = _expand(av[2])
            part = None if inner is None else inner | {""}
        elif op is C.IN and all(o is C.LITERAL for o, _ in av) and len(av) <= 8:
            part = frozenset(chr(c) for _, c in av)
        else:
            part = None
        if part is None:
            return None
        out = _product(out, part)
        if out is None:
            return None
    return out


def _score(strings: _Strings) -> tuple[int, int]:
    return (min((len(s.strip()) for s in strings), default=0), -len(strings))


def _anchors(items) -> _Strings | None:
    """A set of literals one of which every match of `items` contains, chosen to
    be as long as possible; None when the sub-pattern has no usable literal."""
    candidates: list[_Strings] = []
    run: _Strings | None = frozenset({""})
    for op, av in items:
        whole = _expand([(op, av)])
        if whole is not None and run is not None:
            joined = _product(run, whole)
            if joined is not None:
                run = joined
                continue
        if run is not None and run != {""}:
            candidates.append(run)
        run = whole if whole is not None else None
        if whole is None:
            # a required group that is not all literals may still contain anchors
            inner = None
            if op is C.SUBPATTERN:
                inner = _anchors(av[-1])
            elif op is C.BRANCH:
                found = [_anchors(branch) for branch in av[1]]
                inner = None if any(f is None for f in found) else frozenset().union(*found)
            elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT) and av[0] >= 1:
                inner = _anchors(av[2])
            if inner is not None:
                candidates.append(inner)
            run = frozenset({""})
    if run is not None and run != {""}:
        candidates.append(run)
    candidates = [c for c in candidates if "" not in c]
    if not candidates:
        return None
    best = max(candidates, key=_score)
    return best if _score(best)[0] >= MIN_ANCHOR else None


@functools.lru_cache(maxsize=8192)  # the same lists are read by every Scanner a process builds
def anchors_of(pattern: str) -> frozenset[str] | None:
    """Required literals of one (macro-expanded, lower-case) pattern, or None."""
    return _anchors(sre_parse.parse(pattern))


@dataclass(frozen=True, slots=True)
class Hits:
    """Per family, the segment indexes where one of its anchors (or an unanchored pattern)
    occurred, and per (family, segment) which of the family's patterns to try there."""

    segments: dict[str, set[int]]
    patterns: dict[tuple[str, int], set[int]]


class AnchorIndex:
    """All families' anchors in one automaton, plus the unanchored patterns per family.
    Each anchor names the patterns (family, index in the family's list) that need it, so a
    sentence is tried only against the patterns whose anchors it holds."""

    def __init__(self, families: dict[str, Iterable[str]]) -> None:
        self._automaton = ahocorasick.Automaton()
        by_anchor: dict[str, set[tuple[str, int]]] = {}
        residual: dict[str, list[tuple[int, re.Pattern[str]]]] = {}
        for family, patterns in families.items():
            for index, pattern in enumerate(patterns):
                anchors = anchors_of(pattern)
                if anchors is None:
                    residual.setdefault(family, []).append((index, re.compile(pattern)))
                    continue
                for anchor in anchors:
                    by_anchor.setdefault(anchor, set()).add((family, index))
        for anchor, names in by_anchor.items():
            self._automaton.add_word(anchor, tuple(sorted(names)))
        self._has_anchors = bool(by_anchor)
        if self._has_anchors:
            self._automaton.make_automaton()
        self._residual = residual
        self.unanchored = {family: len(patterns) for family, patterns in residual.items()}

    def scan(self, text: str, starts: tuple[int, ...]) -> Hits:
        found: dict[str, set[int]] = {}
        patterns: dict[tuple[str, int], set[int]] = {}
        if self._has_anchors:
            last_index, last_segment = -1, 0
            for end, names in self._automaton.iter(text):
                if end != last_index:
                    last_index = end
                    last_segment = bisect.bisect_right(starts, end) - 1
                for family, index in names:
                    found.setdefault(family, set()).add(last_segment)
                    patterns.setdefault((family, last_segment), set()).add(index)
        for family, compiled in self._residual.items():
            for index, regex in compiled:
                for match in regex.finditer(text):
                    segment = bisect.bisect_right(starts, match.start()) - 1
                    found.setdefault(family, set()).add(segment)
                    patterns.setdefault((family, segment), set()).add(index)
        return Hits(found, patterns)

"""Many filters' regular expressions in one multi-pattern database: one scan of a text says
which patterns can match, so each owner runs only those (issue 19, Rspamd's lesson).

Why a prefilter and not the answer: the patterns are Python `re` (lookarounds, Unicode
`\\w`), which no multi-pattern engine runs as written. Each pattern goes into the set
in a form that matches a *superset* of what the Python one matches (lookarounds and
`\\b` dropped, `\\w`/`\\d` widened to Unicode classes); a hit only makes the pattern a
candidate and the owner confirms with its own compiled `re` (spans, evidence). A
pattern the engine cannot take is a candidate on every scan, so nothing is ever
missed, only less is saved. Ordinary mail matches no pattern and costs one pass.

Engine, by measurement (bench/text_matcher.py, the offensive filter's 40 context
patterns on a 1.7 KB normalised text): RE2 set (google-re2) ~0.02 ms a scan, 5 ms
to compile; Hyperscan in prefilter mode ~0.03 ms a scan but ~37 s to compile with
Unicode support (per start, per worker); Python `re`, every pattern searched in turn,
~7 ms (one alternation ~11 ms: `re` tries each branch at each position). RE2 it is;
without google-re2 installed every pattern is a candidate (the old cost, same results).
"""
from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from typing import Sequence

log = logging.getLogger(__name__)

try:  # the engine; without it every pattern is a candidate (pure Python, same results)
    import re2 as _re2
except ImportError:  # pragma: no cover - google-re2 is a dependency; kept for odd platforms
    _re2 = None

ENGINE = "re2" if _re2 is not None else "python"
# RE2's own unanchored search (google-re2's RE2.Match), for AsciiFast.spans. It is not the
# wrapper's public API: where a release lacks it, spans() asks Python's re instead of failing
try:
    _UNANCHORED = _re2._re2.RE2.Anchor.UNANCHORED
except AttributeError:
    _UNANCHORED = None


def _lookaround_end(pattern: str, start: int) -> int:
    """Index after the group opened at `start` (a "(?=", "(?!", "(?<=", "(?<!")."""
    depth, i = 0, start
    in_class = False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]":
                i += 1  # "[]...]": a literal "]" first
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unbalanced group")


_LOOK = re.compile(r"\(\?<?[=!]")
# Python's \s in str patterns: every character str.isspace() accepts (RE2's \s is [\t\n\f\r ])
_PY_SPACE = "".join(f"\\x{{{ord(c):x}}}" for c in map(chr, range(0x3001)) if c.isspace())


@functools.lru_cache(maxsize=4096)
def widen(pattern: str) -> str:
    """A form of `pattern` for the set that matches at least everything it matches.

    Dropping a lookaround or `\\b` only removes a condition; `\\w`, `\\d` and `\\s` in
    Python's str patterns are Unicode, RE2's are ASCII, so they are widened to Unicode classes."""
    out: list[str] = []
    i = 0
    in_class = False
    while i < len(pattern):
        if not in_class and _LOOK.match(pattern, i):
            i = _lookaround_end(pattern, i)
            continue
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            esc = pattern[i + 1]
            if esc == "w":
                out.append(r"\pL\pN\pM_" if in_class else r"[\pL\pN\pM_]")
            elif esc == "s":
                out.append(_PY_SPACE if in_class else f"[{_PY_SPACE}]")
            elif esc == "d":
                out.append(r"\pN" if in_class else r"\pN")
            elif esc in "bB" and not in_class:
                pass  # an assertion: dropping it widens
            else:
                out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            if pattern[i:i + 1] == "^":
                out.append("^")
                i += 1
            if pattern[i:i + 1] == "]":
                out.append(r"\]")
                i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Route:
    """One owner's slice of the database: its patterns are ids first..first+count-1."""
    owner: str
    first: int
    count: int


@dataclass
class PatternDatabase:
    """Register every owner's patterns at start, compile once, scan each text once.

    Built by the Scanner and handed to the filters in their FilterContext, so all
    their patterns share one database; a filter made on its own (tests, benches)
    makes a private one. Read-only after compile(): safe to share between threads."""
    _patterns: list[re.Pattern[str]] = field(default_factory=list)
    _routes: list[Route] = field(default_factory=list)
    _set: object | None = None
    _always: frozenset[int] = frozenset()  # ids the engine could not take: candidates on every scan
    _to_id: tuple[int, ...] = ()  # engine index -> pattern id
    compiled: bool = False
    max_mem: int = 64 << 20  # RE2's budget for the compiled set (and its DFA cache)

    def register(self, owner: str, patterns: Sequence[re.Pattern[str]]) -> Route:
        if self.compiled:
            raise RuntimeError("pattern database already compiled")
        route = Route(owner, len(self._patterns), len(patterns))
        self._patterns.extend(patterns)
        self._routes.append(route)
        return route

    def compile(self) -> None:
        self._set, self._always, self._to_id = _compile_set(
            tuple((p.pattern, p.flags) for p in self._patterns), self.max_mem)
        self.compiled = True

    def scan(self, text: str) -> frozenset[int]:
        """Ids of the patterns that may match `text` (a superset of those that do)."""
        if not self.compiled:
            self.compile()
        if self._set is None:
            return self._always
        found = self._set.Match(text)
        if not found:
            return self._always
        return self._always | {self._to_id[i] for i in found}

    def candidates(self, route: Route, hits: frozenset[int]) -> list[int]:
        """The route owner's own pattern indices (0-based, in its order) among `hits`."""
        end = route.first + route.count
        return sorted(pid - route.first for pid in hits if route.first <= pid < end)

    def pattern(self, pid: int) -> re.Pattern[str]:
        return self._patterns[pid]


# Compiling the set takes ~0.8 s; a process that builds several Scanners from the same
# lists (tests, a reload with unchanged lists) reuses it. The key is the patterns' own text
# and flags, and a compiled set is never changed after Compile(), so sharing it is safe.
@functools.lru_cache(maxsize=8)
def _compile_set(patterns: tuple[tuple[str, int], ...], max_mem: int
                 ) -> tuple[object | None, frozenset[int], tuple[int, ...]]:
    """(the RE2 set or None, ids Python must try on every text, set index -> pattern id)."""
    always: set[int] = set()
    to_id: list[int] = []
    if _re2 is None or not patterns:
        return None, frozenset(range(len(patterns))), ()
    options = _re2.Options()
    options.max_mem = max_mem
    engine = _re2.Set.SearchSet(options)
    for pid, (source, flags) in enumerate(patterns):
        if flags & ~(re.UNICODE | re.IGNORECASE):
            always.add(pid)  # MULTILINE, DOTALL, VERBOSE: not worth translating
            continue
        text = widen(source)
        if flags & re.IGNORECASE:
            text = "(?i)" + text
        try:
            engine.Add(text)
        except Exception:  # noqa: BLE001 - RE2 rejects it: Python runs it every time
            always.add(pid)
            continue
        to_id.append(pid)
    if not to_id:
        return None, frozenset(always), ()
    try:
        engine.Compile()
    except Exception:  # noqa: BLE001 - the set outgrew max_mem: every pattern runs in Python
        # Slower, never blind: a prefilter that cannot be built must not hide a match.
        log.warning("pattern database: RE2 could not compile %d patterns within %d MB; "
                    "every pattern runs in Python on every text", len(to_id), max_mem >> 20)
        return None, frozenset(always | set(to_id)), ()
    return engine, frozenset(always), tuple(to_id)


# Python's \s on ASCII text is [ \t\n\r\f\v] plus \x1c-\x1f (Unicode separators); RE2's is
# [\t\n\f\r ]. Spelled out, the two engines agree on ASCII input.
_PY_ASCII_SPACE = r"\t\n\x0b\x0c\r \x1c-\x1f"


def _ascii_twin_source(pattern: str) -> str:
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            if pattern[i + 1] == "s":
                out.append(_PY_ASCII_SPACE if in_class else f"[{_PY_ASCII_SPACE}]")
            elif pattern[i + 1] == "S":
                if in_class:
                    raise ValueError("\\S inside a class")
                out.append(f"[^{_PY_ASCII_SPACE}]")
            else:
                out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class and ch == "]":
            in_class = False
        elif not in_class and ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            for lead in ("^", "]"):
                if pattern[i:i + 1] == lead:
                    out.append(pattern[i] if lead == "^" else r"\]")
                    i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


class AsciiFast:
    """A Python pattern with an RE2 twin used on ASCII texts (most mail): the same matches,
    RE2's speed (measured 11.6 ms -> 0.09 ms for the personal-address filter's sensitive
    terms over a 4.5 KB newsletter). On ASCII input the engines agree once `\\s` is spelled
    as Python's; `\\w`, `\\d`, `\\b`, `(?i)` and `.` already mean the same there. Other
    text, or a pattern RE2 refuses, goes to Python's `re`."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self._twin = None
        self._ahead = None  # a pattern with lookarounds: RE2 finds where Python's search may start
        if _re2 is None or pattern.flags & ~(re.UNICODE | re.IGNORECASE):
            return
        case = "(?i)" if pattern.flags & re.IGNORECASE else ""
        try:
            if _LOOK.search(pattern.pattern):
                # (RE2 refuses lookarounds, and says so on stderr: not asked.) widen() drops them,
                # so its first match starts at or before Python's first: search() starts there
                self._ahead = _re2.compile(case + widen(pattern.pattern))
            else:
                self._twin = _re2.compile(case + _ascii_twin_source(pattern.pattern))
        except Exception:  # noqa: BLE001 - RE2 refuses it (a backreference): Python only
            self._twin = self._ahead = None

    def _engine(self, text: str):
        return self._twin if self._twin is not None and text.isascii() else self.pattern

    def finditer(self, text: str):
        return self._engine(text).finditer(text)

    def findall(self, text: str) -> list:
        return self._engine(text).findall(text)

    def search(self, text: str):
        if self._ahead is not None and text.isascii():
            # every match of the pattern is one of the widened form's, so there is none before
            # the widened form's first; from there Python's search finds its own first match
            # (its \b and lookbehinds still see the text before that position)
            first = self._ahead.search(text)
            return None if first is None else self.pattern.search(text, first.start())
        return self._engine(text).search(text)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """`[m.span() for m in pattern.finditer(text)]`. On ASCII text RE2 is asked directly
        with the text's bytes (byte offsets are character offsets there): google-re2's own
        finditer re-encodes the text and builds a match object per hit in Python, 5-10x the
        cost of the scan itself (bench: the threat anchors over a 2.3 KB newsletter, 160 us
        in Python's re, 41 us through the wrapper, 6 us so). An empty match (where the
        engines' rules for moving on differ) hands the whole text to Python's `re`."""
        raw = getattr(self._twin, "_regexp", None) if _UNANCHORED is not None else None
        if raw is None or not text.isascii():
            return [m.span() for m in self.pattern.finditer(text)]
        data = text.encode("ascii")
        match, end = raw.Match, len(data)
        out: list[tuple[int, int]] = []
        pos = 0
        while pos <= end:
            span = match(_UNANCHORED, data, pos, end)[0]
            if span[0] < 0:
                return out
            if span[0] == span[1]:
                return [m.span() for m in self.pattern.finditer(text)]
            out.append(span)
            pos = span[1]
        return out

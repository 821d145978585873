"""Chain-letter signals: phrase families, forwarding structure and near-duplicate shingles.

Pure functions and immutable compiled tables; `filters/chain_letter.py` combines
them into one scored finding. Everything here is CPU-only and bounded (texts
are cut to MAX_TEXT characters) so a 25 MB message costs no more than a long one.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

# Enough for any chain letter plus its forwarding history; the rest of a huge
# message adds nothing but time.
MAX_TEXT = 60_000
# A "sentence" longer than this is probably unpunctuated text (HTML tables,
# texting style); it is matched line by line, two lines at a time.
MAX_SEGMENT = 500
EVIDENCE_CHARS = 300

# Phrase families, in the order a reviewer reads them in the reason.
FAMILIES = ("pass_on_count", "pass_on", "deadline", "consequence", "reward", "hoax", "chain",
            "pyramid", "educational")
FAMILY_LABELS = {
    "pass_on_count": "pass it on to N people",
    "pass_on": "pass it on",
    "deadline": "deadline",
    "consequence": "threatened consequence",
    "reward": "promised reward",
    "hoax": "hoax/urgency marker",
    "chain": "talks about its chain",
    "pyramid": "pyramid money list",
    "educational": "discusses chain letters",
}

_NUMBER_WORDS = ("a few|a couple of|a dozen|one|two|three|four|five|six|seven|eight|nine|ten|eleven|"
                 "twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|"
                 "twenty[- ]five|thirty|forty|fifty|a hundred|one hundred|hundred")
MACROS = {
    "{N}": rf"(?:\d{{1,4}}|{_NUMBER_WORDS})",
    "{PEOPLE}": r"(?:people|persons|friends|mates|contacts|others|girls|boys|buddies|pals|followers|"
                r"family members|names|addresses|emails|e-mails|messages|members|individuals|ppl)",
    "{SEND}": r"(?:forward|forwards|forwarded|send|sends|pass|share|copy|re-?post|post|e-?mail|text|"
              r"message|re-?send|paste)",
    "{MONEY}": r"(?:[£$€]\s?\d[\d,.]*|\d[\d,.]*\s?(?:p|pence|pounds|quid|dollars|cents|euros|usd|gbp)\b)",
}

_QUOTE_PREFIX = re.compile(r"^[ \t]*(?:>[ \t]?)+", re.MULTILINE)
_SPACES = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " ",
                         "\u2013": "-", "\u2014": "-"})
# Sentence ends, blank lines, and <br>-style hard breaks between list items.
_SEGMENT_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n[ \t>]*\n")
_LINE = re.compile(r"[^\n]+")
_WORD = re.compile(r"[a-z0-9£$€']+")
# "2" means "to" except before a count noun ("send to 2 people").
_TWO = re.compile(r"(?<![\w£$.,])2(?![\w.,])(?!\s*(?:people|ppl|friends|frends|mates|persons|other|more|"
                  r"of|mins?|minutes|hours?|hrs|days?|weeks?|years?|yrs|x\b|names|times|am|pm))")
_FOUR = re.compile(r"(?<![\w£$.,])4(?![\w.,])(?=\s+(?:u|you|ur|your|me|him|her|them|ever|the|a|good)\b)")
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+")

# Forwarding structure (RFC 5322 3.6.5 has no standard; these are what mail
# clients write: Outlook, Gmail, Apple Mail, Thunderbird).
_SUBJECT_FWD = re.compile(r"\b(?:fwd?|fw|tr|wg|rv|doorst)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)
_FORWARD_MARKERS = re.compile(
    r"^[ \t>]*(?:-{2,}\s*(?:forwarded message|original message|weitergeleitete nachricht)\s*-{2,}|"
    r"begin forwarded message:|-{2,}\s*forwarded by\b)",
    re.IGNORECASE | re.MULTILINE)
_QUOTED_FROM = re.compile(r"^[ \t>*]*from:[ \t]*\S.*\n(?:[ \t>*]*(?:sent|date|to|cc|subject):.*\n){1,4}",
                          re.IGNORECASE | re.MULTILINE)
_QUOTED_SUBJECT = re.compile(r"^[ \t>*]*subject:[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)
_FWD_SUBJECT_LINE = re.compile(r"^\s*(?:(?:fwd?|fw)\s*:\s*)", re.IGNORECASE)


# -- list files ------------------------------------------------------------------

def read_list(path: Path) -> list[str]:
    """Non-blank, non-comment lines of a shipped or site list file."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            lines.append(stripped)
    return lines


def expand_macros(pattern: str) -> str:
    for macro, regex in MACROS.items():
        pattern = pattern.replace(macro, regex)
    return pattern


@dataclass(frozen=True, slots=True)
class Family:
    """A phrase family: `gate` (plain alternation, fast `search`) says whether a
    sentence matches at all; only then `named` (a group per pattern, slow
    `finditer`) says which patterns did. Most sentences stop at the gate."""

    gate: re.Pattern[str]
    named: re.Pattern[str]

    def match(self, text: str) -> set[str]:
        if self.gate.search(text) is None:
            return set()
        return {m.lastgroup for m in self.named.finditer(text) if m.lastgroup}


def compile_family(patterns: Iterable[str], where: str) -> Family | None:
    """All patterns of a family as one alternation with a named group per
    pattern, so one scan per sentence says which patterns matched."""
    patterns = list(patterns)
    parts = []
    for index, pattern in enumerate(patterns):
        expanded = expand_macros(pattern)
        try:
            re.compile(expanded)
        except re.error as exc:
            raise ValueError(f"{where}: bad pattern {pattern!r}: {exc}") from None
        parts.append(f"(?P<p{index}>{expanded})")
    if not parts:
        return None
    gate = "|".join(f"(?:{expand_macros(p)})" for p in patterns)
    # the text is lower-cased before matching; IGNORECASE would make every scan
    # about three times slower
    return Family(re.compile(gate), re.compile("|".join(parts)))


def parse_slang(lines: Iterable[str], where: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for line in lines:
        slang, sep, standard = line.partition("=")
        if not sep or not slang.strip() or not standard.strip():
            raise ValueError(f"{where}: expected `slang = standard`, got {line!r}")
        table[slang.strip().lower()] = standard.strip().lower()
    return table


def compile_slang(table: Mapping[str, str]) -> re.Pattern[str]:
    words = sorted(table, key=len, reverse=True)
    return re.compile(r"(?<![\w'])(?:" + "|".join(re.escape(w) for w in words) + r")(?![\w'])")


# -- text ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Segment:
    original: str  # exact span of the message text (evidence)
    normal: str  # lower case, quotes stripped, texting spellings expanded


class Normaliser:
    """Lower case, quote markers and runs of spaces removed, texting spellings expanded."""

    def __init__(self, slang: Mapping[str, str]) -> None:
        self._slang = dict(slang)
        self._slang_re = compile_slang(self._slang) if self._slang else None

    def __call__(self, text: str) -> str:
        text = _QUOTE_PREFIX.sub("", text.translate(_QUOTES)).lower()
        text = _SPACES.sub(" ", text).strip()
        if self._slang_re is not None:
            text = self._slang_re.sub(lambda m: self._slang[m.group(0)], text)
        text = _TWO.sub("to", text)
        return _FOUR.sub("for", text)


def segments(text: str, normalise: Normaliser) -> list[Segment]:
    """Sentences (or, for unpunctuated text, pairs of lines) with their exact spans."""
    out: list[Segment] = []
    start = 0
    for match in [*_SEGMENT_END.finditer(text), None]:
        end = match.start() if match is not None else len(text)
        piece = text[start:end]
        if piece.strip():
            if len(piece) <= MAX_SEGMENT:
                out.append(Segment(piece.strip(), normalise(piece)))
            else:
                lines = [m for m in _LINE.finditer(piece) if m.group(0).strip()]
                for i, line in enumerate(lines):
                    last = lines[i + 1] if i + 1 < len(lines) else line
                    span = piece[line.start():last.end()][:MAX_SEGMENT * 2]
                    out.append(Segment(span.strip(), normalise(span)))
        if match is not None:
            start = match.end()
    return out


def evidence_span(segment: Segment) -> str:
    return segment.original[:EVIDENCE_CHARS]


# -- structure -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Structure:
    forward_depth: int  # Fwd:/FW: prefixes, forwarded-message blocks, quoted header blocks
    recipients: int  # envelope recipients and To/Cc addresses
    undisclosed: bool
    quoted_addresses: int  # distinct addresses in the body, not the envelope's


def subject_forward_depth(subject: str) -> int:
    return len(_SUBJECT_FWD.findall(subject[:500]))


def body_forward_depth(text: str) -> int:
    """Forwarded blocks nested in the body. Quoted header blocks only count when
    their Subject is itself a forward (a reply thread quotes headers too)."""
    markers = len(_FORWARD_MARKERS.findall(text))
    header_forwards = sum(1 for m in _QUOTED_SUBJECT.finditer(text) if _FWD_SUBJECT_LINE.match(m.group(1)))
    return max(markers, header_forwards)


def count_addresses(text: str, exclude: Iterable[str]) -> int:
    skip = {a.lower() for a in exclude}
    found = {m.group(0).lower().rstrip(".") for m in _EMAIL.finditer(text)}
    return len(found - skip)


# -- similarity ------------------------------------------------------------------

SHINGLE_WORDS = 4
_MASK = (1 << 64) - 1
# Min-hash bands for the bulk fingerprint: BANDS bands of ROWS min-hashes. Two
# bodies with Jaccard similarity J share at least one band with probability
# 1 - (1 - J**ROWS)**BANDS: 0.99 at J = 0.8, 0.16 at J = 0.2.
BANDS = 4
ROWS = 2
_SEEDS = tuple((0x9E3779B97F4A7C15 * (i + 1)) & _MASK | 1 for i in range(BANDS * ROWS))


def words(normal_text: str) -> list[str]:
    return _WORD.findall(normal_text)


def shingles(tokens: list[str]) -> frozenset[int]:
    """Hashed word 4-grams. Python's str hash is per process, which is fine:
    the library is shingled in the same process; stored fingerprints use
    `band_keys`, which are stable across processes."""
    if len(tokens) < SHINGLE_WORDS:
        return frozenset({hash(" ".join(tokens))}) if tokens else frozenset()
    return frozenset(hash(" ".join(tokens[i:i + SHINGLE_WORDS]))
                     for i in range(len(tokens) - SHINGLE_WORDS + 1))


def stable_shingles(tokens: list[str]) -> list[int]:
    out = []
    for i in range(max(1, len(tokens) - SHINGLE_WORDS + 1)):
        digest = hashlib.blake2b(" ".join(tokens[i:i + SHINGLE_WORDS]).encode(), digest_size=8).digest()
        out.append(int.from_bytes(digest, "big"))
    return out


def band_keys(tokens: list[str]) -> list[str]:
    """MinHash/LSH band keys of a body, stable across processes and nodes."""
    hashes = set(stable_shingles(tokens))
    mins = [min(((h ^ seed) * 0xFF51AFD7ED558CCD) & _MASK for h in hashes) for seed in _SEEDS]
    return [f"{band}:" + "-".join(f"{v:x}" for v in mins[band * ROWS:(band + 1) * ROWS])
            for band in range(BANDS)]


@dataclass(frozen=True, slots=True)
class KnownLetter:
    name: str
    shingles: frozenset[int]


def load_library(directories: Iterable[Path], normalise: Normaliser) -> list[KnownLetter]:
    letters = []
    for directory in directories:
        for path in sorted(directory.glob("*.txt")):
            text = "\n".join(read_list(path))
            grams = shingles(words(normalise(text)))
            if grams:
                letters.append(KnownLetter(path.stem, grams))
    return letters


def best_match(message: frozenset[int], library: Iterable[KnownLetter]) -> tuple[float, str]:
    """The highest share of a known letter's shingles found in the message
    (containment: a forward adds headers and chatter but keeps the letter), or
    of the message's found in the letter when the message is an excerpt."""
    best, name = 0.0, ""
    if not message:
        return best, name
    for letter in library:
        common = len(message & letter.shingles)
        if not common:
            continue
        score = max(common / len(letter.shingles),
                    common / len(message) if len(message) >= 20 else 0.0)
        if score > best:
            best, name = score, letter.name
    return best, name

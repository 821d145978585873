"""School-data signals in text: pupils named from the directory, UPNs, candidate numbers,
sensitive record terms and tables of people. Counts only; the data itself is never kept."""
from __future__ import annotations

import hashlib
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from filters.name_match import fold, name_parts
from filters.text.matcher import AsciiFast

# -- UPN (DfE "Unique Pupil Numbers" guidance) -------------------------------
# 13 characters: check letter, 3-digit LA code, 4-digit establishment number,
# 2-digit year, 3-digit serial (temporary UPNs end in a letter). The check
# letter is sum(value(char_i) * i for i = 2..13) mod 23 over this alphabet
# (digits count as themselves, letters of a temporary UPN by their position).
_UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
_UPN = re.compile(r"\b([ABCDEFGHJKLMNPQRTUVWXYZ])\s?(\d{3})\s?(\d{4})\s?(\d{2})\s?(\d{2}[0-9ABCDEFGHJKLMNPQRTUVWXYZ])\b")
# English LA codes start 2xx (London), 3xx (metropolitan), 4xx, 8xx, 9xx.
_LA_FIRST_DIGITS = frozenset("23489")


def upn_check_letter(body12: str) -> str:
    """The check letter for the 12 characters after it."""
    total = 0
    for weight, char in enumerate(body12, start=2):
        value = int(char) if char.isdigit() else _UPN_LETTERS.index(char)
        total += value * weight
    return _UPN_LETTERS[total % 23]


def is_upn(candidate: str) -> bool:
    text = candidate.replace(" ", "").upper()
    if len(text) != 13 or text[0] not in _UPN_LETTERS or not text[1:12].isdigit():
        return False
    if not (text[12].isdigit() or text[12] in _UPN_LETTERS) or text[1] not in _LA_FIRST_DIGITS:
        return False
    return upn_check_letter(text[1:]) == text[0]


# -- sensitive record terms ----------------------------------------------------
# label -> pattern. Upper-case abbreviations are matched case-sensitively (SEN,
# FSM, CP, PP, LAC) because in lower case they are ordinary words or syllables.
_SENSITIVE_TERMS: dict[str, re.Pattern[str]] = {
    "date of birth": re.compile(r"\b(?:date of birth|d\.o\.b\.?|DOB|birth ?date)\b", re.I),
    "SEN/EHCP": re.compile(r"\b(?:SENDCo|SENCO|SEND?|EHCP|EHC plan|special educational needs|"
                           r"education,? health and care plan|SEN support)\b"),
    "safeguarding/CP": re.compile(r"\b(?:safeguarding|child protection|CP plan|CPOMS|MyConcern|"
                                  r"child in need|CIN|looked[- ]after|LAC|CLA|section 47|early help)\b", re.I),
    "medical": re.compile(r"\b(?:medical (?:condition|needs|notes|information)|medication|allerg(?:y|ies)|"
                          r"diagnos(?:is|ed)|epipen|asthma|epilepsy|diabet(?:es|ic)|health care plan|IHCP)\b",
                          re.I),
    "free school meals": re.compile(r"\b(?:(?i:free school meals)|FSM(?:6|\s?eligible)?)\b"),
    "pupil premium": re.compile(r"\b(?:pupil premium|PP eligible|disadvantaged)\b", re.I),
    "exclusions": re.compile(r"\b(?:(?:fixed[- ]term|permanent|internal) exclusions?|exclusions?|suspensions?)\b",
                             re.I),
    "attendance": re.compile(r"\b(?:attendance(?: %| percentage| figures)?|persistent(?:ly)? absen(?:ce|t)|"
                             r"unauthori[sz]ed absences?)\b", re.I),
    "behaviour record": re.compile(r"\b(?:behaviour (?:log|points|record|incidents?)|detentions?|isolation)\b",
                                   re.I),
    "ethnicity/EAL": re.compile(r"\b(?:ethnicity|EAL|english as an additional language)\b"),
}


def _one_pass(patterns: dict[str, re.Pattern[str]]) -> tuple[re.Pattern[str], dict[str, str]]:
    """All patterns as one alternation (one scan of a long text instead of ten)."""
    groups, labels = [], {}
    for index, (label, pattern) in enumerate(patterns.items()):
        source = f"(?i:{pattern.pattern})" if pattern.flags & re.I else pattern.pattern
        groups.append(f"(?P<t{index}>{source})")
        labels[f"t{index}"] = label
    return re.compile("|".join(groups)), labels


_ALL_TERMS, _TERM_LABELS = _one_pass(_SENSITIVE_TERMS)
# RE2 twins for ASCII text (filters/text/matcher.py AsciiFast: same matches; the
# alternation above was ~9 % of a worker's time on ordinary outbound mail)
_ALL_TERMS_FAST = AsciiFast(_ALL_TERMS)
# Column headers that say "this row is a person"
_PERSON_HEADERS = re.compile(
    r"^(?:name|full ?name|forename|first ?name|given ?name|surname|last ?name|family ?name|legal surname|"
    r"preferred (?:fore|sur)?name|pupil(?: name)?|student(?: name)?|child(?:'s)? name|learner|candidate(?: name)?|"
    r"upn|adno|admission (?:no|number)|candidate (?:no|number)|uci)$", re.I)
_CANDIDATE_HEADER = re.compile(r"^(?:candidate|cand\.?)\s*(?:no\.?|number|#)$", re.I)
_CANDIDATE_INLINE = re.compile(r"\bcandidate (?:no\.?|number)[:\s]+(\d{4})\b", re.I)
_UPN_FAST, _CANDIDATE_INLINE_FAST = AsciiFast(_UPN), AsciiFast(_CANDIDATE_INLINE)
_SEPARATORS = ("\t", ",", ";", "|")
_NAME_TOKEN = re.compile(r"[A-Za-z\u00C0-\u024F][A-Za-z\u00C0-\u024F'\u2019-]*")


def _name_runs() -> re.Pattern[str]:
    """_NAME_TOKEN's tokens, but a run of lower-case ones as one match (its group empty).

    distinct_in only needs each capitalised word and where a lower-case word stands
    between two; a run of them ends a name as one does, so a newsletter's ~400 tokens
    become its ~90 capitalised words and runs, and the Python loop walks those. A
    token starts at the first letter after the previous one (letters, apostrophes and
    hyphens continue it), so a gap is any non-letters; "upper" is exactly what
    `word[0].isupper()` said of the first character."""
    letters = [chr(c) for c in (*range(0x41, 0x5B), *range(0x61, 0x7B), *range(0xC0, 0x250))]
    upper = "".join(re.escape(c) for c in letters if c.isupper())
    lower = "".join(re.escape(c) for c in letters if not c.isupper())
    rest = r"[A-Za-z\u00C0-\u024F'\u2019-]*"
    gap = r"[^A-Za-z\u00C0-\u024F]+"
    return re.compile(rf"([{upper}]{rest})|[{lower}]{rest}(?:{gap}[{lower}]{rest})*")


_NAME_RUNS = _name_runs()
_MAX_GAP = 2  # tokens allowed between first name and surname (middle names, "Al")


@dataclass(frozen=True, slots=True)
class Source:
    """One text to read: the body or one attachment's extracted text."""

    label: str  # "body" or the attachment's file name
    text: str
    tabular: bool = False  # CSV/XLSX: look for header rows and people rows


@dataclass(slots=True)
class PupilData:
    """What a message carries of school data, as counts (never the data)."""

    distinct_pupils: int = 0
    upns: int = 0
    candidate_numbers: int = 0
    terms: Counter = field(default_factory=Counter)  # sensitive label -> occurrences
    sensitive_headers: set[str] = field(default_factory=set)  # sensitive labels seen as column headers
    people_rows: int = 0  # largest table of people rows in any one source
    people_rows_source: str = ""
    pupils_by_source: Counter = field(default_factory=Counter)

    @property
    def any(self) -> bool:
        return bool(self.distinct_pupils or self.upns or self.candidate_numbers or self.people_rows >= 3
                    or self.sensitive_headers)

    def substantial(self, many_pupils: int, many_rows: int) -> bool:
        """Enough to matter wherever it goes: a list, a record, many pupils named.

        One or two named pupils with a sensitive word is ordinary correspondence
        with a parent about their own child and does not count.
        """
        if self.distinct_pupils >= many_pupils or self.upns >= 2 or self.candidate_numbers >= many_pupils:
            return True
        if self.people_rows >= many_rows:
            return True
        # a small table that is a sensitive record (DOB, SEN, CP ... as columns)
        return self.people_rows >= 3 and bool(self.sensitive_headers)

    def evidence(self) -> tuple[str, ...]:
        out = []
        if self.distinct_pupils:
            where = ", ".join(f"{src}: {n}" for src, n in self.pupils_by_source.most_common(4))
            out.append(f"{self.distinct_pupils} pupil(s) named from the directory ({where})")
        if self.upns:
            out.append(f"{self.upns} valid UPN(s)")
        if self.candidate_numbers:
            out.append(f"{self.candidate_numbers} candidate number(s)")
        if self.people_rows:
            out.append(f"{self.people_rows} rows of people in {self.people_rows_source}")
        if self.sensitive_headers:
            out.append("sensitive columns: " + ", ".join(sorted(self.sensitive_headers)))
        other_terms = [t for t in self.terms if t not in self.sensitive_headers]
        if other_terms:
            out.append("sensitive terms: " + ", ".join(f"{t} x{self.terms[t]}" for t in sorted(other_terms)))
        return tuple(out)


class PupilNameIndex:
    """Exact Data Match of pupil names, holding only keyed hashes of name tokens.

    A pupil is the pair (first name, last surname token), matched in either
    order with up to two tokens between (middle names, "Al Hassan"). Tokens are
    case-folded; in the text each must start with a capital, so ordinary words
    ("will", "rose") written in lower case never match. The salt is random per
    process, so the in-memory table cannot be reversed with a list of names.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self._key = secrets.token_bytes(16)
        # blake2b's state after its key block: a copy of it hashes a token as
        # blake2b(token, key=key) does without processing the key again (half the cost a word)
        self._keyed = hashlib.blake2b(digest_size=12, key=self._key)
        self._pairs: dict[tuple[bytes, bytes], int] = {}
        firsts: set[bytes] = set()
        self._token_keys: set[str] = set()  # for _buckets only; dropped once they are made
        for name in names:
            parts = name_parts(name)
            if parts is None or not parts.usable:
                continue
            last_key = parts.lasts[-1] if len(parts.lasts) > 1 else parts.last
            first, last = self._h(parts.first), self._h(last_key)
            pupil_id = self._pairs.setdefault((first, last), len(self._pairs))
            self._token_keys.update((parts.first, last_key))
            if len(parts.lasts) > 1:  # "Smith-Jones": also the whole double-barrelled surname
                self._pairs.setdefault((first, self._h(parts.last)), pupil_id)
                self._token_keys.add(parts.last)
            firsts.add(first)
        self._tokens = firsts | {pair[1] for pair in self._pairs}
        # A cheap first pass before the keyed hash: the low 16 bits of each name token's
        # hash() (SipHash under the process's own key). A word whose bits are not among them is
        # no name token, so most words of a text never reach blake2b (a newsletter's capitalised
        # words: ~42 keyed hashes -> a handful); one that is goes on to the keyed hash as before,
        # so the answers are unchanged. 16 bits of ~3,000 tokens fill ~5 % of the 65,536 values:
        # each value stands for thousands of possible words, so the table names no one.
        self._buckets = frozenset(hash(token) & 0xFFFF for token in self._token_keys)
        del self._token_keys
        self.size = len({v for v in self._pairs.values()})

    def _h(self, token: str) -> bytes:
        hasher = self._keyed.copy()
        hasher.update(token.encode())
        return hasher.digest()

    def distinct_in(self, text: str) -> set[int]:
        """Ids of the distinct pupils named in `text` (ids are per index, not persons)."""
        if not self._pairs or not text:
            return set()
        # per token: its hash when it is a known name token, b"" for another
        # capitalised word (may sit between first name and surname), None for a
        # lower-case word (ends a name: "Amy said Jones" is not Amy Jones)
        cache: dict[str, bytes] = {}  # folded key -> its entry
        seen: dict[str, bytes] = {}  # the word as written -> its entry (no fold for a repeat)
        hashed: list[bytes | None] = []
        append = hashed.append
        buckets = self._buckets
        for word in _NAME_RUNS.findall(text):
            if not word:  # a run of lower-case words
                append(None)
                continue
            entry = seen.get(word)
            if entry is None:
                # fold() of an ASCII word is lower-casing and dropping apostrophes
                key = (word.lower().replace("'", "") if word.isascii() else fold(word)).replace("-", "")
                if key not in cache:
                    if hash(key) & 0xFFFF not in buckets:
                        cache[key] = b""  # no name token has these bits: not one
                    else:
                        digest = self._h(key)
                        cache[key] = digest if digest in self._tokens else b""
                entry = seen[word] = cache[key]
            append(entry)
        found: set[int] = set()
        for i in [i for i, left in enumerate(hashed) if left]:
            left = hashed[i]
            for j in range(i + 1, min(i + 2 + _MAX_GAP, len(hashed))):
                right = hashed[j]
                if right is None:
                    break
                if not right:
                    continue
                pupil = self._pairs.get((left, right))
                if pupil is None and j == i + 1:
                    pupil = self._pairs.get((right, left))  # "Smith, Jane" / "SMITH Jane"
                if pupil is not None:
                    found.add(pupil)
        return found


def _split_row(line: str) -> list[str]:
    for sep in _SEPARATORS:
        if line.count(sep) >= 1:
            return [c.strip().strip('"') for c in line.split(sep)]
    return [line.strip()]


def _table_of(text: str) -> tuple[list[str], list[list[str]]]:
    """Header cells and data rows of tabular text (CSV, or a sheet as extracted)."""
    lines = [line for line in text.splitlines() if line.strip()]
    rows = [_split_row(line) for line in lines]
    rows = [r for r in rows if len(r) >= 2]
    if not rows:
        return [], []
    # the header is the first row whose cells are mostly words
    for index, row in enumerate(rows[:10]):
        wordy = sum(1 for c in row if c and not any(ch.isdigit() for ch in c))
        if wordy >= max(2, len(row) // 2):
            return row, rows[index + 1:]
    return [], rows


def assess(sources: Sequence[Source], index: PupilNameIndex | None) -> PupilData:
    """Count the school-data signals over all sources."""
    result = PupilData()
    pupils: set[int] = set()
    upns: set[str] = set()
    candidates: set[str] = set()
    for source in sources:
        text = source.text
        if not text:
            continue
        if index is not None:
            found = index.distinct_in(text)
            if found:
                result.pupils_by_source[source.label] = len(found)
                pupils |= found
        for match in _UPN_FAST.finditer(text):
            token = "".join(match.groups())
            if is_upn(token):
                upns.add(token)
        candidates.update(_CANDIDATE_INLINE_FAST.findall(text))
        for match in _ALL_TERMS_FAST.finditer(text):
            result.terms[_TERM_LABELS[match.lastgroup or ""]] += 1
        if source.tabular:
            header, rows = _table_of(text)
            person_columns = [i for i, cell in enumerate(header) if _PERSON_HEADERS.match(cell)]
            for cell in header:
                for label, pattern in _SENSITIVE_TERMS.items():
                    if pattern.search(cell):
                        result.sensitive_headers.add(label)
            cand_columns = [i for i, cell in enumerate(header) if _CANDIDATE_HEADER.match(cell)]
            for row in rows:
                for col in cand_columns:
                    if col < len(row) and re.fullmatch(r"\d{4}", row[col]):
                        candidates.add(row[col])
            if person_columns or (index is not None and result.pupils_by_source.get(source.label, 0) >= 3):
                people = sum(1 for row in rows if any(c for c in row))
                if people > result.people_rows:
                    result.people_rows, result.people_rows_source = people, source.label
    result.distinct_pupils = len(pupils)
    result.upns = len(upns)
    result.candidate_numbers = len(candidates)
    return result

"""Chain-letter signals: phrase families, forwarding structure and near-duplicate shingles.

Pure functions and immutable compiled tables; `filters/chain_letter.py` combines
them into one scored finding. Everything here is CPU-only and bounded (texts
are cut to MAX_TEXT characters) so a 25 MB message costs no more than a long one.
"""
from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from filters.text.normalise import has_triple

# Enough for any chain letter plus its forwarding history; the rest of a huge
# message adds nothing but time.
MAX_TEXT = 60_000
# A "sentence" longer than this is probably unpunctuated text (HTML tables,
# texting style); it is matched line by line, two lines at a time.
MAX_SEGMENT = 500
EVIDENCE_CHARS = 300

# Phrase families, in the order a reviewer reads them in the reason.
FAMILIES = ("pass_on_count", "pass_on", "deadline", "consequence", "reward", "hoax", "chain",
            "pyramid", "fear", "guilt", "cause", "educational", "report", "addressed", "notice")
# The two halves of every chain letter (docs/chain_letters.md): a request to
# pass it on, and a lever that makes the reader do it.
REQUESTS = ("pass_on_count", "pass_on")
LEVERS = ("deadline", "consequence", "reward", "hoax", "chain", "pyramid", "fear", "guilt", "cause")
# Families that add no score: they only discount it (a lesson; a notice naming where to report;
# a request addressed to one named person; the school's own dated, signed notice).
DISCOUNTS = ("educational", "report", "addressed", "notice")
# Read only where something scored (cheap first): they can only lower a score.
LATE = ("educational", "addressed", "notice")
# Levers that score only together with a request (news and real appeals are full of them).
WEAK_LEVERS = ("fear", "guilt", "cause")
FAMILY_LABELS = {
    "pass_on_count": "pass it on to N people",
    "pass_on": "pass it on",
    "deadline": "deadline",
    "consequence": "threatened consequence",
    "reward": "promised reward",
    "hoax": "hoax/urgency marker",
    "chain": "talks about its chain",
    "pyramid": "pyramid money list",
    "fear": "warning of a danger",
    "guilt": "guilt or pressure",
    "cause": "a cause (sick or missing child, prayer, donation per forward)",
    "educational": "discusses chain letters",
    "report": "says where to report it",
    "addressed": "asks to pass it to one named person",
    "notice": "the school's own dated, signed notice",
}

_NUMBER_WORDS = ("a few|a couple of|a dozen|one|two|three|four|five|six|seven|eight|nine|ten|eleven|"
                 "a million|one million|a thousand|one thousand|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|"
                 "twenty[- ]five|thirty|forty|fifty|a hundred|one hundred|hundred|"
                 # Polish, Romanian, Urdu/Punjabi (Latin script), diacritics stripped
                 "jeden|jednej|dwa|dwie|dwoch|trzy|trzech|cztery|czterech|piec|pieciu|szesc|siedem|osiem|"
                 "dziesiec|dziesieciu|pietnascie|dwadziescia|dwudziestu|"
                 # Polish dative and genitive counts ("wyslij dziewieciu osobom", batch 14)
                 "dwom|dwoch|trzem|czterem|szesciu|siedmiu|osmiu|dziewiec|dziewieciu|jedenastu|dwunastu|pietnastu|"
                 "doi|doua|trei|patru|cinci|sase|sapte|opt|noua|zece|cincisprezece|douazeci|"
                 "ek|teen|char|chaar|panch|paanch|saat|aath|das|gyarah|barah|pandrah|bees")
MACROS = {
    "{N}": rf"(?:\d{{1,4}}|{_NUMBER_WORDS})",
    "{PEOPLE}": r"(?:people|persons|friends|mates|contacts|others|girls|boys|buddies|pals|followers|"
                r"family members|names|addresses|emails|e-mails|messages|members|individuals|ppl)",
    # "tell/warn everyone you know" asks for the same spread as "forward it"
    # not "it sends itself to everyone in your address book": a real IT alert describes the worm
    "{SEND}": r"(?:forward|forwards|forwarded|send|sends|pass|share|copy|re-?post|post|e-?mail|text|"
              r"message|re-?send|paste|tell|warn)(?! ?(?:itself|themselves)\b)",
    # who a chain asks to be told: "others", "everyone", "all your pals", "the people you care about",
    # "your whole contact list", "friends and family", "the women in your family" (batch 15)
    "{AUDIENCE}": r"(?:others|other people|every ?one|every ?body|all|anyone|anybody|the world|"
                  r"(?:(?:all|each|every one|any|some|most) (?:of )?)?(?:(?:your|ur|the|those|all) )?"
                  r"(?:(?:whole|entire|own|online|e-?mail|female|male|close|closest|best|dear|dearest|other) )?"
                  r"(?:friends and family|family and friends|friends|family|families|pals|mates|buddies|contacts|"
                  r"loved ones|relatives|daughters|sons|kids|children|colleagues|co-?workers|workmates|"
                  r"neighbou?rs|followers|classmates|women|girls|ladies|mums|moms|mothers|dads|parents|"
                  r"grandparents|people|contact list|address book|friends list|group chats?|dear ones|near ones|near and dear ones|acquaintances)"
                  r"(?: (?:you|u) (?:know|love|care about|have|email|e-mail))?)",
    # who a hoax names as its source or its witness (seventh pass): "the following is from the
    # Sheriff's Department", "the FBI has issued a warning", "a friend who works at the hospital
    # confirmed this". A real notice names its source too, but with a link or where to report it
    # (the official and report discounts), and a hoax's claim counts for no more than any claim of truth.
    "{AUTHORITY}": r"(?:(?:the |an? |my |our |a local |your local |the local )?(?:police(?: officer| department| station| force)?|"
                   r"policem[ae]n|policewom[ae]n|(?:police )?detectives?|sheriff'?s? (?:department|office)|sheriffs?|"
                   r"highway patrol|state (?:police|troopers?)|troopers?|fbi|cia|fda|cdc|interpol|scotland yard|"
                   r"fire (?:department|brigade|service|chief)|firefighters?|firem[ae]n|paramedics?|nurses?|doctors?|"
                   r"surgeons?|pharmacists?|lawyers?|attorneys?|solicitors?|hospital|a&e|emergency room|army|navy|"
                   r"department of (?:health|homeland security|transport)|microsoft|ibm|aol|mcafee|norton|symantec|"
                   r"red cross|cnn|bbc|johns hopkins|mayo clinic|american cancer society|cancer research(?: uk)?|"
                   r"national weather service|centers for disease control|world health organi[sz]ation))",
    "{MONEY}": r"(?:[£$€]\s?\.?\d[\d,.]*|\d[\d,.]*\s?(?:p|pence|pounds|quid|dollars|cents|euros|usd|gbp)\b)",
}

_QUOTE_PREFIX = re.compile(r"^[ \t]*(?:>[ \t]?)+", re.MULTILINE)
_SPACES = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " ",
                         "\u2013": "-", "\u2014": "-"})
# Sentence ends, blank lines, and <br>-style hard breaks between list items.
_SEGMENT_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n[ \t>]*\n")
# The same ends found from the stop itself (a pattern opening with a lookbehind is tried at
# every character): a match that opens with [.!?] ends its sentence one character in. The
# first match is the same at every step: a stop and a newline cannot be one character, and a
# match ends in a space, so the character before the next search is never a stop.
_SEGMENT_STOP = re.compile(r"[.!?][\"')\]]*\s+|\n[ \t>]*\n")
_LINE = re.compile(r"[^\n]+")
_WORD = re.compile(r"[a-z0-9£$€']+")
# "2" means "to" except before a count noun ("send to 2 people").
_TWO = re.compile(r"(?<![\w£$.,])2(?![\w.,])(?!\s*(?:people|ppl|friends|frends|mates|persons|other|more|"
                  r"of|mins?|minutes|hours?|hrs|days?|weeks?|years?|yrs|x\b|names|times|am|pm))")
_FOUR = re.compile(r"(?<![\w£$.,])4(?![\w.,])(?=\s+(?:u|you|ur|your|me|him|her|them|ever|the|a|good)\b)")
# Emoji carry meaning in chain letters ("send to 10 ppl 🍀 or 💀"): the
# telling ones become words, the rest become a space so they do not glue words.
EMOJI_WORDS = {
    "\U0001F340": " luck ", "\U0001F31F": " luck ", "\U0001F480": " death ", "\u2620": " death ",
    "\U0001F47B": " ghost ", "\U0001F608": " devil ", "\U0001F52A": " knife ", "\U0001F494": " bad luck ",
    "\U0001F64F": " pray ", "\u26A0": " warning ", "\U0001F6A8": " warning ", "\u2764": " love ",
    "\U0001F495": " love ", "\U0001F496": " love ", "\U0001F497": " love ", "\U0001F49E": " love ",
    "\U0001F618": " love ", "\U0001F60D": " love ", "\U0001F970": " love ", "\U0001F4E9": " message ",
    "\U0001F4E7": " email ", "\u203C": "!", "\u2757": "!", "\u2755": "!",
}
_KEYCAP = re.compile("([0-9])\uFE0F?\u20E3")
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F\u200D\u20E3]")
# Letters stretched for emphasis ("pleeeease", "soooo"): three or more become one.
_STRETCH = re.compile(r"([a-z])\1{2,}")
_TRIPLES = tuple(chr(c) * 3 for c in range(ord("a"), ord("z") + 1))
_SLANG_RUN = re.compile(r"[\w']+")
# Letters NFKD does not decompose (Polish l-stroke and friends).
_FOLD = str.maketrans({"\u0142": "l", "\u0141": "L", "\u00df": "ss", "\u00f8": "o", "\u0111": "d"})
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+")

# Forwarding structure (RFC 5322 3.6.5 has no standard; these are what mail
# clients write: Outlook, Gmail, Apple Mail, Thunderbird).
# (Polish Outlook writes "PD:", for "przekaż dalej")
_SUBJECT_FWD = re.compile(r"\b(?:fwd?|fw|tr|wg|rv|pd|doorst)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)
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


def read_sections(path: Path, families: Iterable[str]) -> dict[str, list[str]]:
    """A language's cue file: `[family]` headings, then that family's patterns."""
    known = set(families)
    out: dict[str, list[str]] = {}
    current = None
    for line in read_list(path):
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            if current not in known:
                raise ValueError(f"{path}: unknown family [{current}]; known: {', '.join(sorted(known))}")
            continue
        if current is None:
            raise ValueError(f"{path}: pattern before the first [family] heading: {line!r}")
        out.setdefault(current, []).append(line)
    return out


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
    return _compile_family(tuple(patterns), where)


# ~1,000 compiles (more than re's own cache of 512 holds): every Scanner a process builds
# from the same lists reuses them; a Family holds compiled patterns only, never changed.
@functools.lru_cache(maxsize=512)
def _compile_family(patterns: tuple[str, ...], where: str) -> Family | None:
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
        # every spelling a run of word characters and apostrophes (the shipped list): the
        # regex, bounded by (?<![\w']) and (?![\w']), can only match a whole such run, so a
        # sentence with no run in the table is left alone without it (issue 19: the regex tries
        # every spelling at every character)
        self._slang_words = (frozenset(self._slang) if all(_SLANG_RUN.fullmatch(w) for w in self._slang)
                             else None)
        # the same test on ASCII text with bytes: a C translate and split find the runs
        self._slang_bytes = (frozenset(w.encode() for w in self._slang)
                             if self._slang_words is not None and all(w.isascii() for w in self._slang) else None)

    def __call__(self, text: str, stretched: bool = True, slang: bool = True) -> str:
        """stretched=False: the caller knows no letter is tripled in `text`; slang=False: that no
        texting spelling is a run of it (segments() asks both once for the whole message)."""
        if text.isascii():  # nothing to translate or fold (every _QUOTES key is non-ASCII)
            ascii_text = True
        else:
            text = text.translate(_QUOTES)
            ascii_text = text.isascii()
            if not ascii_text:
                text = fold(text)
                ascii_text = text.isascii()
                stretched = True  # folding makes letters ("ééé" -> "eee")
        # each pattern needs its character: skip the scan when it is absent (the same text;
        # a sentence is normalised ~25 times a message, issue 19)
        if ">" in text:
            text = _QUOTE_PREFIX.sub("", text)
        text = text.lower()
        if stretched and any(map(text.__contains__, _TRIPLES)):  # _STRETCH needs a tripled letter
            text = _STRETCH.sub(r"\1", text)
        text = " ".join(text.split())  # _SPACES.sub(" ", text).strip(): str.split() is \s+
        if slang and self._slang_re is not None and self._may_have_slang(text, ascii_text):
            text = self._slang_re.sub(lambda m: self._slang[m.group(0)], text)
        if "2" in text:
            text = _TWO.sub("to", text)
        return _FOUR.sub("for", text) if "4" in text else text

    def may_have_slang(self, ascii_text: str) -> bool:
        """Whether a texting spelling may be a run of [\\w'] of the (lower-cased) ASCII text: False
        means __call__(..., slang=False) of any piece of it cut between runs gives the same."""
        return self._slang_re is not None and self._may_have_slang(ascii_text, True)

    def _may_have_slang(self, text: str, ascii_text: bool) -> bool:
        if ascii_text and self._slang_bytes is not None:
            return not self._slang_bytes.isdisjoint(text.encode("ascii").translate(_NOT_SLANG_RUN).split())
        return self._slang_words is None or not self._slang_words.isdisjoint(_SLANG_RUN.findall(text))


# ASCII bytes that are not [\w'] -> space: split() then gives _SLANG_RUN's runs
_NOT_SLANG_RUN = bytes(b if chr(b).isalnum() or chr(b) in "_'" else 32 for b in range(128)) + bytes([32] * 128)


def fold(text: str) -> str:
    """Emoji to words or spaces, diacritics stripped (Polish and Romanian cue
    lists are written without them: pupils often type without them anyway)."""
    text = _KEYCAP.sub(r"\1", text)
    for emoji, word in EMOJI_WORDS.items():
        if emoji in text:
            text = text.replace(emoji, word)
    text = _EMOJI.sub(" ", text).translate(_FOLD)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def segments(text: str, normalise: Normaliser) -> list[Segment]:
    """Sentences (or, for unpunctuated text, pairs of lines) with their exact spans."""
    out: list[Segment] = []
    start = 0
    piece_normalise = normalise  # for a whole piece of `text`, cut between its stops
    if isinstance(normalise, Normaliser):
        # a segment is a piece of `text`: no tripled letter in the whole (ASCII) text, none in a segment
        stretched = not text.isascii() or has_triple(text.lower(), _TRIPLES)
        if not stretched:
            # nor a texting spelling: a piece ends after its punctuation and starts after a space,
            # so its runs of [\w'] are runs of the whole text (lower-casing, the quote prefixes
            # and the spaces removed join none); the long pieces' lines are cut anywhere, so they
            # keep the full test. ASCII and no tripled letter: nothing else rewrites the runs.
            slang = normalise.may_have_slang(text.lower())
            piece_normalise = functools.partial(normalise, stretched=False, slang=slang)
            normalise = functools.partial(normalise, stretched=False)
    for match in [*_SEGMENT_STOP.finditer(text), None]:
        end = (match.start() + (text[match.start()] != "\n")) if match is not None else len(text)
        piece = text[start:end]
        if piece.strip():
            if len(piece) <= MAX_SEGMENT:
                out.append(Segment(piece.strip(), piece_normalise(piece)))
            else:
                lines = [m for m in _LINE.finditer(piece) if m.group(0).strip()]
                for i, line in enumerate(lines):
                    last = lines[i + 1] if i + 1 < len(lines) else line
                    span = piece[line.start():last.end()][:MAX_SEGMENT * 2]
                    out.append(Segment(span.strip(), normalise(span)))
        if match is not None:
            start = match.end()
    return out


# Between segments in the joined text (the anchor scan and the shingles read
# it): the "." keeps a `[^.!?]` gap from spanning two sentences.
_JOIN = " .\n"


@dataclass(frozen=True, slots=True)
class Joined:
    text: str  # the normalised segments, joined by _JOIN
    starts: tuple[int, ...]  # offset of each segment in `text`


def join_segments(segs: list[Segment]) -> Joined:
    starts = []
    offset = 0
    for segment in segs:
        starts.append(offset)
        offset += len(segment.normal) + len(_JOIN)
    return Joined(_JOIN.join(segment.normal for segment in segs), tuple(starts))


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
    if "@" not in text:  # every address has one; the regex would try 64 characters at every position
        return 0
    skip = {a.lower() for a in exclude}
    found = {m.group(0).lower().rstrip(".") for m in _EMAIL.finditer(text)}
    return len(found - skip)


# -- device sign-offs ---------------------------------------------------------------

def compile_signoffs(patterns: Iterable[str], where: str) -> re.Pattern[str] | None:
    """One regex that matches a whole sign-off line ("sent from my iphone"), or None for none."""
    return _compile_signoffs(tuple(patterns), where)


@functools.lru_cache(maxsize=16)  # read-only compiled matcher, shared by every filter built from one list
def _compile_signoffs(patterns: tuple[str, ...], where: str) -> re.Pattern[str] | None:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{where}: bad pattern {pattern!r}: {exc}") from None
    if not patterns:
        return None
    return re.compile("(?:" + "|".join(f"(?:{p})" for p in patterns) + r")[ .!]*")


# A person's sign-off (config/lists/chain_letter_signature.txt): {GUARD} refuses a title, a role or
# a contact (a notice signs "Mrs A Carter, Headteacher", "Hillside PTA", "Ravi, IT Support", with a
# phone number), so only a private person's name and kisses are skipped.
_SIGNATURE_ROLES = ("mr|mrs|ms|miss|mx|dr|prof|rev|sir|head|headteacher|headmaster|headmistress|deputy|"
                    "teacher|teachers|tutor|office|pta|pto|team|school|academy|college|secretary|manager|lead|"
                    "support|chair|chairman|club|department|dept|year|class|nurse|senco|dsl|coordinator|"
                    "co-ordinator|governor|governors|principal|admin|administrator|reception|council|officer|"
                    "trust|ltd|service|services|church|parish|committee|group|society|charity|foundation|"
                    "association|ict|it|hr|finance|bursar|caretaker|librarian|coach|captain|director|"
                    "dyrektor|dyrektorka|wychowawca|wychowawczyni|sekretariat|"
                    "diriginte|dirigintele|profesor|profesoara|secretariat|ustad|ustani|madam|sahib")
SIGNATURE_MACROS = {
    "{GUARD}": rf"(?!.*\b(?:{_SIGNATURE_ROLES})\b)(?!.*(?:\d|@|www|http))",
    "{NAME}": r"[a-z][a-z'-]*(?:[ ,]+[a-z][a-z'-]*){0,2}",
    "{KIN}": r"(?:mum|mom|mam|mummy|mommy|mumma|dad|daddy|nan|nana|nanna|nanny|gran|granny|grandma|"
             r"grandmother|grandad|granddad|grandpa|auntie|aunty|aunt|uncle|cousin|sis|bro|ammi|abbu|abba|"
             r"khala|khalu|phuppo|phupho|chacha|chachi|mamu|nani|dadi|beeji|bebe|mama|tata|babcia|dziadek|"
             r"ciocia|ciotka|wujek|tanti|bunica|bunicul|matusa|unchiul)",
}


def expand_signature(pattern: str) -> str:
    for macro, regex in SIGNATURE_MACROS.items():
        pattern = pattern.replace(macro, regex)
    return pattern


def last_own_segment(segs: list[Segment], signoff: re.Pattern[str] | None) -> int:
    """Index of the letter's last sentence: trailing device sign-offs ("Sent from my iPhone", "Get
    Outlook for Android") and a person's sign-off ("Love, Auntie Pat", "xx Mum") are skipped; -1 for
    no sentence."""
    last = len(segs) - 1
    if signoff is not None:
        while last > 0 and signoff.fullmatch(segs[last].normal):
            last -= 1
    return last


# -- official sources --------------------------------------------------------------

def compile_domains(domains: Iterable[str]) -> re.Pattern[str] | None:
    """Any of these domains (or a sub-domain) in a link or bare host name."""
    names = sorted({d.strip().lower().lstrip(".") for d in domains if d.strip()}, key=len, reverse=True)
    if not names:
        return None
    # not after "@": an e-mail address at the police is not a link to an appeal
    return re.compile(r"(?<![@\w.-])(?:[a-z0-9-]+\.)*(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w-])",
                      re.IGNORECASE)


def official_link(text: str, domains: re.Pattern[str] | None) -> str:
    """The first official domain the text names, or ""."""
    if domains is None:
        return ""
    match = domains.search(text)
    return match.group(0).lower() if match else ""


# -- bulk fingerprint ----------------------------------------------------------------

SHINGLE_WORDS = 4
_MASK = (1 << 64) - 1
# Min-hash bands for the bulk fingerprint: BANDS bands of ROWS min-hashes. Two
# bodies with Jaccard similarity J share at least one band with probability
# 1 - (1 - J**ROWS)**BANDS: 0.99 at J = 0.8, 0.16 at J = 0.2.
BANDS = 4
ROWS = 2
_SEEDS = tuple((0x9E3779B97F4A7C15 * (i + 1)) & _MASK | 1 for i in range(BANDS * ROWS))
_SEED_ARRAY = np.array(_SEEDS, dtype=np.uint64)
_MIX = np.uint64(0xFF51AFD7ED558CCD)


def words(normal_text: str) -> list[str]:
    if normal_text.isascii():
        # _WORD's runs on ASCII text: [a-z0-9$'] kept, every other byte a space, then split (C loops)
        return normal_text.encode("ascii").translate(_NOT_WORD_BYTES).decode("ascii").split()
    return _WORD.findall(normal_text)


_NOT_WORD_BYTES = bytes(b if chr(b) in "abcdefghijklmnopqrstuvwxyz0123456789$'" else 32 for b in range(128)) \
    + bytes([32] * 128)


def _shingle_digests(tokens: list[str]) -> bytes:
    """Each 4-word shingle's 8-byte blake2b digest, one after another (stable across processes):
    the digest of `" ".join(tokens[i:i + 4]).encode()`. The body is joined and encoded once and
    each shingle hashed as a slice of it by a copy of an empty blake2b:
    the same digests, without a list slice, a join, an encode and the constructor's keyword
    parsing per shingle (331 -> ~190 us for 321 shingles)."""
    count = len(tokens) - SHINGLE_WORDS + 1
    if count <= 1:
        return hashlib.blake2b(" ".join(tokens).encode(), digest_size=8).digest()
    data = " ".join(tokens).encode()
    lengths = map(len, tokens) if len(data) == sum(map(len, tokens)) + len(tokens) - 1 else \
        (len(token.encode()) for token in tokens)  # a non-ASCII token: its UTF-8 length
    starts = [0]  # byte offset of each token (and one past the end + 1)
    for length in lengths:
        starts.append(starts[-1] + length + 1)
    fresh = _BLAKE2B_8.copy  # a copy of an empty hash: no keyword parsing
    digests = []
    for i in range(count):
        shingle = fresh()
        shingle.update(data[starts[i]:starts[i + SHINGLE_WORDS] - 1])
        digests.append(shingle.digest())
    return b"".join(digests)


# blake2b with digest_size 8 and nothing hashed yet; copied per shingle (never updated itself)
_BLAKE2B_8 = hashlib.blake2b(digest_size=8)


def stable_shingles(tokens: list[str]) -> list[int]:
    digests = _shingle_digests(tokens)
    return [int.from_bytes(digests[i:i + 8], "big") for i in range(0, len(digests), 8)]


def band_keys(tokens: list[str]) -> list[str]:
    """MinHash/LSH band keys of a body, stable across processes and nodes."""
    hashes = np.frombuffer(_shingle_digests(tokens), dtype=">u8").astype(np.uint64)  # big-endian, as before
    # every seed's min-hash at once: uint64 arithmetic wraps modulo 2**64, the `& _MASK` of
    # the scalar form ((h ^ seed) * 0xFF51AFD7ED558CCD) & _MASK, so the values are the same
    mins = [int(v) for v in ((hashes[None, :] ^ _SEED_ARRAY[:, None]) * _MIX).min(axis=1)]
    return [f"{band}:" + "-".join(f"{v:x}" for v in mins[band * ROWS:(band + 1) * ROWS])
            for band in range(BANDS)]

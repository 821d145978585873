"""Pupils revealing personal details (their own or another pupil's) or arranging to meet someone.

Policy clauses: "Students must not reveal personal details of themselves or
others in email communication, or arrange to meet anyone without specific
permission from an adult"; "Students will be advised never to give out personal
details of any kind which may identify them or their location."

What it reads: the subject, the body text and every attachment's extracted
text (`view.all_text`). Who: by default mail from a student to recipients
outside the school, and student -> student mail inside it (when the school
routes that through the gateway); `[disclosure] sender_roles`, `recipient_roles`
and `directions` change that. Staff mail is not this filter's business: it
returns no findings. When only some recipients are in scope (a pupil writes to
a friend outside and copies a teacher) the findings name just those recipients,
so the teacher's copy is delivered.

Findings, one per kind, evidence = the exact matched spans:
PII_PHONE_NUMBER, PII_HOME_ADDRESS, PII_DATE_OF_BIRTH, PII_AGE,
PII_FULL_NAME_WITH_SCHOOL, PII_SOCIAL_HANDLE, PII_PHOTO_REQUEST, PII_OTHER_PUPIL
(category disclosure) and MEETING_ARRANGEMENT (category meeting: a safeguarding
category, so the policy floor holds it and alerts the DSL; severity high,
critical with secrecy such as "don't tell your mum", "come alone", "delete this").

Decisions, with the measurements behind them (bench/disclosure_quality.py):

* Phone numbers: candidates are UK-shaped digit runs (0 or +44/0044 first,
  10-11 digits, spaces/hyphens/brackets allowed) that are not glued to a
  decimal point, a word, a URL or a currency sign, and not just after a
  reference word (order, page, candidate, centre, UCI ...). Only those are
  parsed by `phonenumbers`. Leniency: a number libphonenumber calls *possible*
  but not *valid* still counts when it has a person's shape (01/02 geographic,
  07 mobile), which covers Ofcom's drama ranges (07700 900xxx, 0117 496 0xxx,
  01632 960xxx) and the odd or mistyped numbers children write. Measured on
  SpamAssassin ham as student mail to an external address, "possible" held no
  more messages than "valid" (dev split 5 vs 5 of 916 with a phone finding,
  test split 4 vs 4 of 884, once a stray leading "0 " was ruled out), while
  "valid" alone misses every drama-range number, which is what schools' test
  data and Faker use. `phone_leniency = "valid"` restores the strict rule.
  Freephone, premium, shared-cost and 03 numbers belong to organisations
  (Childline, a shop) and are ignored unless `service_numbers = true`. A
  foreign number in national format ("01 23 45 67 89") looks British and counts.
* The school's own numbers and postal addresses (`[school] phone_numbers`,
  `addresses`) are never personal details.
* Home address: a UK postcode in Royal Mail's format whose area exists (not a
  loose regex: "QA1 1AA", "M1 1CA" and "ZZ9 9ZZ" are rejected), a house
  number + street, or "I live at/on/near ...", "my address is ...".
* Work placements: a pupil writing to an employer with the school's approval
  is still held. The gateway cannot see an approval given outside the mail,
  and an allow-list of employers would let any mail to them through; the
  reviewer's release is the approval, and it is audited.
* Meetings: only copies to recipients outside the school are concerned
  ("meet at the library at lunch" between two pupils is school life), unless
  there is secrecy, which makes any copy in scope a safeguarding concern.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Iterator, Literal, Sequence

from pydantic import Field

from config.loader import LISTS_DIR
from filters.base import Category, Direction, FilterContext, FilterOptions, Finding, Role, Severity
import ahocorasick

from filters.disclosure_patterns import (POSSESSIVE_DETAIL, POSTCODE, DisclosurePatterns, Span,
                                         lower_same_length, phone_key, postcode_key, read_list)
from filters.message import MessageView, Party

MAX_EVIDENCE = 20
# Text longer than this is scanned in the default executor, off the event loop
# (2 KB scans in well under a millisecond; 100 KB of attachment text does not).
INLINE_CHARS = 16_000

_WORD = re.compile(r"[^\W\d_][^\W\d_'\-]*")
_SELF_INTRO = re.compile(
    r"\b(?:[Mm]y\s+(?:full\s+|real\s+)?name\s+is|[Ii]'?m\s+called|[Ii]\s+am|[Ii]'?m)\s+"
    r"(?P<name>[A-Z][a-z'\-]+\s+[A-Z][a-z'\-]+)\b")
_NOT_FIRST_NAMES = frozenset({"year", "the", "in", "at", "from", "mr", "mrs", "miss", "ms", "dr", "sir",
                              "going", "not", "so", "really", "just", "doing", "off", "on", "with", "here",
                              "sorry", "also", "still", "very", "back", "home", "currently", "now"})

SEVERITY: dict[str, Severity] = {
    "PII_PHONE_NUMBER": Severity.MEDIUM,
    "PII_HOME_ADDRESS": Severity.HIGH,
    "PII_DATE_OF_BIRTH": Severity.MEDIUM,
    "PII_AGE": Severity.LOW,
    "PII_FULL_NAME_WITH_SCHOOL": Severity.MEDIUM,
    "PII_SOCIAL_HANDLE": Severity.MEDIUM,
    "PII_PHOTO_REQUEST": Severity.HIGH,
    "PII_OTHER_PUPIL": Severity.HIGH,
    "MEETING_ARRANGEMENT": Severity.HIGH,
}

REASONS: dict[str, str] = {
    "PII_PHONE_NUMBER": "A pupil wrote a phone number in a message to someone they may not know.",
    "PII_HOME_ADDRESS": "A pupil gave a home address, postcode or where they live.",
    "PII_DATE_OF_BIRTH": "A pupil gave a date of birth or birthday.",
    "PII_AGE": "A pupil said how old they are.",
    "PII_FULL_NAME_WITH_SCHOOL": "A pupil's full name appears together with the school's name, which identifies "
                                 "where to find them.",
    "PII_SOCIAL_HANDLE": "A pupil shared a social media or messaging handle, or invited someone to add them.",
    "PII_PHOTO_REQUEST": "A photo of the pupil is asked for or sent.",
    "PII_OTHER_PUPIL": "The message gives another pupil's name or contact details.",
    "MEETING_ARRANGEMENT": "A pupil is arranging to meet someone outside the school.",
}


def _default(name: str) -> list[str]:
    return read_list(LISTS_DIR / name)


class Options(FilterOptions):
    sender_roles: list[Role] = Field(
        default_factory=lambda: [Role.STUDENT],
        description="whose mail is checked (staff mail is not this filter's business)")
    recipient_roles: list[Role] = Field(
        default_factory=lambda: [Role.EXTERNAL, Role.STUDENT],
        description="which recipients' copies are concerned: external people, and other pupils")
    directions: list[Direction] = Field(
        default_factory=lambda: [Direction.OUTBOUND, Direction.INTERNAL, Direction.EXTERNAL],
        description="per-recipient directions checked (outbound, internal, external, inbound)")
    phone_leniency: Literal["possible", "valid"] = Field(
        "possible", description="'possible': UK-shaped numbers libphonenumber cannot confirm count too "
                                "(drama ranges, typos); 'valid': only numbers it knows")
    service_numbers: bool = Field(
        False, description="also report freephone, premium, shared-cost and 03 numbers (organisations')")
    age_min: int = Field(8, ge=0, description="youngest age that 'I'm N' reports")
    age_max: int = Field(19, ge=0, description="oldest age that 'I'm N' reports")
    school_aliases: list[str] = Field(
        default_factory=list, description="other names of the school, besides [school] name (e.g. 'HHS')")
    other_pupil_name_alone: bool = Field(
        True, description="another pupil's full name alone (no contact details) counts when mailed outside")
    extra_social_apps: list[str] = Field(default_factory=list, description="added to lists/social_apps.txt")
    extra_meeting_places: list[str] = Field(default_factory=list,
                                            description="added to lists/meeting_places.txt (local landmarks)")
    extra_secrecy_phrases: list[str] = Field(default_factory=list,
                                             description="added to lists/secrecy_phrases.txt")
    extra_reference_words: list[str] = Field(
        default_factory=list, description="added to lists/reference_words.txt (words before a non-phone number)")


def fold(text: str) -> str:
    """Lower-case, accents dropped (Zoë -> zoe), apostrophes removed."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return text.lower().replace("'", "")


def full_name_key(name: str) -> str | None:
    """"Jess Ann Taylor" / "Taylor, Jess" -> "jess taylor"; None for a single word."""
    if "," in name:
        last, _, first = name.partition(",")
        name = f"{first} {last}"
    words = [fold(w) for w in _WORD.findall(name)]
    words = [w for w in words if len(w) >= 2]
    if len(words) < 2:
        return None
    return f"{words[0]} {words[-1]}"


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Overlapping spans become one, so the review screen highlights each stretch once."""
    merged: list[Span] = []
    for start, end in sorted(set(spans)):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


class PupilIndex:
    """Students in the directory: by folded "first last", by first name, and an
    Aho-Corasick automaton that finds their full names in lower-cased text."""

    def __init__(self, people: Iterable = ()) -> None:
        self.full: dict[str, str] = {}  # "jess taylor" -> the pupil's address
        first: dict[str, list[str]] = {}
        automaton = ahocorasick.Automaton()
        for person in people:
            if person.role != Role.STUDENT or not person.name:
                continue
            key = full_name_key(person.name)
            if key is None:
                continue
            self.full[key] = person.email
            first.setdefault(key.split()[0], []).append(person.email)
            # as written (Zoë Brown) and folded (zoe brown)
            plain = " ".join(w.lower() for w in _WORD.findall(person.name))
            plain = f"{plain.split()[0]} {plain.split()[-1]}" if " " in plain else plain
            for variant in {key, plain}:
                automaton.add_word(variant, (len(variant), key))
        self.first: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in first.items()}
        self._automaton = automaton if self.full else None
        if self._automaton is not None:
            automaton.make_automaton()

    def find(self, low: str) -> Iterator[tuple[int, int, str]]:
        """(start, end, "first last") of each pupil's full name standing as whole words."""
        if self._automaton is None:
            return
        size = len(low)
        for end, (length, key) in self._automaton.iter(low):
            start = end - length + 1
            if (start > 0 and low[start - 1].isalnum()) or (end + 1 < size and low[end + 1].isalnum()):
                continue
            yield start, end + 1, key


@dataclass(slots=True)
class _Hits:
    """Spans found in one text, by finding code."""

    spans: dict[str, list[Span]]
    secrecy: list[Span]

    def add(self, code: str, span: Span) -> None:
        self.spans.setdefault(code, []).append(span)


class DisclosureFilter:
    name = "disclosure"
    Options = Options

    def __init__(self, options: Options, context: FilterContext) -> None:
        self._options = options
        self._directory = context.directory
        settings = context.settings
        school = getattr(settings, "school", None)
        self._sender_roles = frozenset(options.sender_roles)
        self._recipient_roles = frozenset(options.recipient_roles)
        self._directions = frozenset(options.directions)
        self._patterns = DisclosurePatterns(
            social_apps=_default("social_apps.txt") + options.extra_social_apps,
            meeting_places=_default("meeting_places.txt") + options.extra_meeting_places,
            secrecy_phrases=_default("secrecy_phrases.txt") + options.extra_secrecy_phrases,
            reference_words=_default("reference_words.txt") + options.extra_reference_words)
        # the school's own numbers and addresses are public, never a pupil's
        self._school_phones = frozenset(
            key for key in (phone_key(n) for n in getattr(school, "phone_numbers", ())) if key)
        addresses = list(getattr(school, "addresses", ()))
        self._school_postcodes = frozenset(
            postcode_key(m.group()) for a in addresses for m in POSTCODE.finditer(a))
        self._school_address_text = tuple(self._norm_address(a) for a in addresses)
        names = [getattr(school, "name", "")] + list(options.school_aliases)
        names = [n for n in names if n and n.strip()]
        # matched in lower-cased text: a literal first, which the engine finds fast
        # matched in lower-cased text and starting with a literal, which the engine
        # finds fast (the word boundary before it is checked after the match)
        self._school_name = re.compile(
            r"(?:" + "|".join(r"\s+".join(re.escape(w) for w in n.lower().split()) for n in names)
            + r")(?![\w])") if names else None
        self._pupils_key: tuple | None = None
        self._pupils = PupilIndex()

    @staticmethod
    def _norm_address(text: str) -> str:
        return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())

    # -- scope

    def recipients_in_scope(self, view: MessageView) -> tuple[Party, ...]:
        if view.sender.role not in self._sender_roles:
            return ()
        return tuple(r for r in view.recipients
                     if r.role in self._recipient_roles and view.direction_for(r) in self._directions)

    def _pupil_index(self) -> PupilIndex:
        people = getattr(self._directory, "people", ())
        # the directory hands out the same Person objects until it reloads
        key = (len(people), id(people[0]) if people else 0, id(people[-1]) if people else 0)
        if key != self._pupils_key:
            self._pupils = PupilIndex(people)
            self._pupils_key = key
        return self._pupils

    # -- check

    async def check(self, view: MessageView) -> Sequence[Finding]:
        in_scope = self.recipients_in_scope(view)
        if not in_scope:
            return []
        text = view.all_text
        has_image = any((a.sniffed_type or a.declared_type).startswith("image/") for a in view.attachments)
        excluded = {view.sender.address, *(r.address for r in view.recipients)}
        pupils = self._pupil_index()
        args = (text, view.sender.name, has_image, pupils, excluded)
        if len(text) > INLINE_CHARS:
            hits = await asyncio.get_running_loop().run_in_executor(None, self.scan, *args)
        else:
            hits = self.scan(*args)
        return self._findings(view, text, hits, in_scope)

    def scan(self, text: str, sender_name: str = "", has_image: bool = False,
             pupils: PupilIndex | None = None, excluded: Iterable[str] = ()) -> _Hits:
        """Every detector over one text. Pure CPU; safe to run in an executor."""
        opts = self._options
        norm = text.replace("\u2019", "'")  # same length: spans stay valid for `text`
        year = dt.date.today().year
        found = self._patterns.scan(norm, has_image=has_image,
                                    birth_years=(year - opts.age_max - 2, year - opts.age_min + 1),
                                    ages=(opts.age_min, opts.age_max))
        hits = _Hits({}, found["secrecy"])
        for hit in self._patterns.find_phones(norm):
            if hit.e164 in self._school_phones:
                continue
            if not hit.valid and (opts.phone_leniency == "valid" or not hit.personal):
                continue
            if hit.valid and not hit.personal and not opts.service_numbers:
                continue
            hits.add("PII_PHONE_NUMBER", hit.span)
        for span in found["postcode"]:
            if postcode_key(norm[span[0]:span[1]]) not in self._school_postcodes:
                hits.add("PII_HOME_ADDRESS", span)
        for span in found["street"]:
            street = self._norm_address(norm[span[0]:span[1]])
            if not any(street in school for school in self._school_address_text):
                hits.add("PII_HOME_ADDRESS", span)
        for code, name in (("PII_HOME_ADDRESS", "live"), ("PII_DATE_OF_BIRTH", "birth"), ("PII_AGE", "age"),
                           ("PII_SOCIAL_HANDLE", "handle"), ("PII_PHOTO_REQUEST", "photo"),
                           ("MEETING_ARRANGEMENT", "meet")):
            for span in found[name]:
                hits.add(code, span)
        self._scan_names(norm, sender_name, pupils or PupilIndex(), set(excluded), found["possessive"], hits)
        return hits

    def _scan_names(self, text: str, sender_name: str, pupils: PupilIndex, excluded: set[str],
                    possessives: list[Span], hits: _Hits) -> None:
        """Full name + school name; another pupil's name or details."""
        low = lower_same_length(text)
        school_spans = [m.span() for m in self._school_name.finditer(low)
                        if not (m.start() and low[m.start() - 1].isalnum())] if self._school_name else []
        own_spans: list[Span] = []
        other_named: list[Span] = []
        sender_key = full_name_key(sender_name) if sender_name else None
        for start, end, key in pupils.find(low):
            if key == sender_key:
                own_spans.append((start, end))
            elif pupils.full[key] not in excluded:
                other_named.append((start, end))
        if school_spans:
            if sender_key and not own_spans:
                at = low.find(sender_key)
                while at != -1:
                    own_spans.append((at, at + len(sender_key)))
                    at = low.find(sender_key, at + 1)
            for match in _SELF_INTRO.finditer(text):
                name = match.group("name")
                if name.split()[0].lower() in _NOT_FIRST_NAMES or self._school_name.search(name.lower()):
                    continue
                own_spans.append(match.span("name"))
            if own_spans:
                for span in own_spans + school_spans:
                    hits.add("PII_FULL_NAME_WITH_SCHOOL", span)
        # "Jess's number", "Jess lives on ..." for pupils in the directory
        for start, _ in possessives:
            match = POSSESSIVE_DETAIL.match(text, start)
            if match is None:
                continue
            first = fold(match.group("a") or match.group("c"))
            second = match.group("b") or match.group("d")
            named = pupils.full.get(f"{first} {fold(second)}") if second else None
            candidates = (named,) if named else pupils.first.get(first, ())
            if any(a not in excluded for a in candidates if a):
                hits.add("PII_OTHER_PUPIL", match.span())
        # a pupil's full name next to contact details
        detail_spans = [s for code in ("PII_PHONE_NUMBER", "PII_HOME_ADDRESS", "PII_SOCIAL_HANDLE",
                                       "PII_DATE_OF_BIRTH") for s in hits.spans.get(code, ())]
        for start, end in other_named:
            near = [s for s in detail_spans if s[0] < end + 150 and s[1] > start - 150]
            if near:
                hits.add("PII_OTHER_PUPIL", (start, end))
                for span in near:
                    hits.add("PII_OTHER_PUPIL", span)
            else:
                hits.add("PII_OTHER_PUPIL_NAME", (start, end))

    def _findings(self, view: MessageView, text: str, hits: _Hits, in_scope: tuple[Party, ...]) -> list[Finding]:
        all_in_scope = len(in_scope) == len(view.recipients)
        scoped = () if all_in_scope else tuple(r.address for r in in_scope)
        external = tuple(r.address for r in in_scope if not r.internal)
        findings: list[Finding] = []

        def evidence(spans: Iterable[Span]) -> tuple[str, ...]:
            seen: dict[str, None] = {}
            for start, end in merge_spans(spans):
                seen.setdefault(" ".join(text[start:end].split()), None)
            return tuple(seen)[:MAX_EVIDENCE]

        def add(code: str, spans: list[Span], recipients: tuple[str, ...], *, category=Category.DISCLOSURE,
                severity: Severity | None = None, reason: str | None = None) -> None:
            findings.append(Finding(
                code=code, filter=self.name, category=category, severity=severity or SEVERITY[code],
                evidence=evidence(spans), reason=reason or REASONS[code], recipients=recipients))

        for code in ("PII_PHONE_NUMBER", "PII_HOME_ADDRESS", "PII_DATE_OF_BIRTH", "PII_AGE",
                     "PII_FULL_NAME_WITH_SCHOOL", "PII_SOCIAL_HANDLE", "PII_PHOTO_REQUEST"):
            if hits.spans.get(code):
                add(code, hits.spans[code], scoped)

        other = hits.spans.get("PII_OTHER_PUPIL", [])
        names_only = hits.spans.get("PII_OTHER_PUPIL_NAME", [])
        if other:
            add("PII_OTHER_PUPIL", other + names_only, scoped)
        elif names_only and self._options.other_pupil_name_alone and external:
            # a classmate's name in mail to another pupil is school life; outside, it identifies them
            add("PII_OTHER_PUPIL", names_only, () if all_in_scope and len(external) == len(in_scope) else external,
                reason="The message names another pupil to someone outside the school.")

        meetings = hits.spans.get("MEETING_ARRANGEMENT", [])
        if meetings and (external or hits.secrecy):
            recipients = scoped if hits.secrecy else (
                () if all_in_scope and len(external) == len(in_scope) else external)
            if hits.secrecy:
                add("MEETING_ARRANGEMENT", meetings + hits.secrecy, recipients, category=Category.MEETING,
                    severity=Severity.CRITICAL,
                    reason="A pupil is arranging to meet someone and the message asks for secrecy "
                           "(a grooming warning sign).")
            else:
                add("MEETING_ARRANGEMENT", meetings, recipients, category=Category.MEETING)
        return findings

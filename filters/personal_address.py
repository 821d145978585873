"""Staff work and school data going to (or coming from) private mail accounts.

School policy: "You must not use your personal e-mail account for any work
related correspondence"; "never send confidential school data ... via your
personal e-mail". The line is: work and school data stay in school accounts,
in both directions; genuinely personal mail is not the gateway's business, and
a parent at gmail is not a staff member's private account.
"""
from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from email.utils import getaddresses
from pathlib import Path
from typing import Sequence

from pydantic import Field, field_validator

from config.loader import LISTS_DIR
from filters.base import Category, FilterContext, FilterOptions, Finding, Role, SeenStore, Severity
from filters.directory import Directory, Person, address_list, domain_of, normalise_address
from filters.message import MessageView, Party
from filters.name_match import (Likeness, NameParts, address_likeness, contradicts, display_likeness, fold,
                                local_part, name_keys, name_parts)
from filters.pupil_data import PupilData, PupilNameIndex, Source, assess
from filters.text.matcher import AsciiFast

log = logging.getLogger(__name__)

DOMAINS_FILE = LISTS_DIR / "personal_mail_domains.txt"
_DAY = 86400.0
# SeenStore kinds (stable: they are rows in the shared store)
SEEN_FORWARD = "personal_forward"  # key "sender>recipient", value message id (a row per forward: count)
# key recipient, value school sender: one row per pair, refreshed by each message (refresh_many).
# It also answers "has this sender written to it" (has_value), which a row per message of kind
# "personal_pair" did until the eleventh pass (docs/performance.md): those rows are no longer
# read or written, and retention ([retention] seen_days) removes them.
SEEN_SENDERS = "personal_rcpt_senders"

_FILE_WORDS = re.compile(r"[\W_]+")
_TABULAR_EXT = (".csv", ".tsv", ".xlsx", ".xlsm", ".xls", ".ods")
_DOCUMENT_EXT = _TABULAR_EXT + (".doc", ".docx", ".odt", ".pdf", ".txt", ".rtf", ".ppt", ".pptx", ".zip")


class Options(FilterOptions):
    extra_domains: list[str] = Field(
        default_factory=list, description="more personal mail domains (same syntax as the shipped list)")
    name_likeness: bool = Field(
        True, description="treat a webmail address that looks like the sender's name as their own")
    initials_are_own: bool = Field(
        True, description="an initial + surname address (jsmith84) counts as the sender's own; "
                          "false: only first name + surname")
    recurring_forwards: int = Field(
        3, ge=0, description="forwards/attachments from one sender to one personal address (and from "
                             "no other school sender) that make it that sender's own; 0 = off")
    recurring_window_days: float = Field(90, gt=0, description="window for recurring_forwards")
    many_pupils: int = Field(
        3, ge=1, description="distinct directory pupils named that make pupil data substantial "
                             "(held to ANY personal address)")
    many_rows: int = Field(10, ge=2, description="rows of people in a spreadsheet that make it substantial")
    documents_are_work: bool = Field(
        True, description="a document attached to one's own account with no sign of being personal "
                          "counts as work")
    # issue 21 clause 4: pupil data to ANY external domain, not only personal webmail
    external_pupil_data: bool = Field(
        True, description="report substantial pupil data sent to any external domain (PUPIL_DATA_TO_EXTERNAL) "
                          "unless the domain is an approved data processor")
    approved_processors: list[str] = Field(
        default_factory=list, description="domains (and their sub-domains) of the school's approved data "
                                          "processors (MIS, ed-tech vendors with a contract): "
                                          "PUPIL_DATA_TO_PROCESSOR (low) instead")
    # issue 21 clause 8: "Staff should not use personal email accounts during School hours"
    school_hours: str = Field(
        "08:00-16:30", description="HH:MM-HH:MM local time; mail from a staff member's known personal "
                                   "address to pupils or parents about school business then is "
                                   "STAFF_PERSONAL_SCHOOL_HOURS; empty = off")
    school_days: list[int] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4], description="weekdays counted (0 = Monday)")
    timezone: str = Field("Europe/London", description="where school hours are")

    @field_validator("school_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f"school_hours must be HH:MM-HH:MM, e.g. 08:00-16:30, not {value!r}")
        return value

    max_text_chars: int = Field(1_000_000, ge=1000, description="text read per message (body + attachments)")
    inline_chars: int = Field(
        5_000, ge=0, description="above this much text the pupil-data scan runs in a worker thread "
                                 "(10k chars cost ~15-25 ms: too long to hold the event loop)")


# -- domains -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DomainList:
    exact: frozenset[str]
    any_country: frozenset[str]  # "hotmail" from "hotmail.*"
    subdomains_of: tuple[str, ...]  # "plus.com" from "*.plus.com"

    @classmethod
    def parse(cls, lines: list[str]) -> "DomainList":
        exact, wild, subs = set(), set(), []
        for raw in lines:
            entry = raw.split("#", 1)[0].strip().lower()
            if not entry:
                continue
            if entry.endswith(".*"):
                wild.add(entry[:-2])
            elif entry.startswith("*."):
                subs.append(entry[2:])
            else:
                exact.add(entry)
        return cls(frozenset(exact), frozenset(wild), tuple(subs))

    def __contains__(self, domain: str) -> bool:
        domain = domain.lower().rstrip(".")
        if domain in self.exact:
            return True
        if any(domain.endswith("." + s) for s in self.subdomains_of):
            return True
        name, _, suffix = domain.partition(".")
        labels = suffix.split(".") if suffix else []
        # a country suffix: one or two short labels (fr, co.uk, com.au)
        return name in self.any_country and 1 <= len(labels) <= 2 and all(2 <= len(x) <= 3 for x in labels)


def load_domains(extra: list[str]) -> DomainList:
    lines = DOMAINS_FILE.read_text(encoding="utf-8").splitlines()
    return DomainList.parse(lines + list(extra))


# -- content: work or personal ---------------------------------------------------------

def _rx(*words: str, flags: int = re.I) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(words) + r")\b", flags)


# Signs that the content is school work (policy: "any work related correspondence").
# label -> (pattern, weight). Work needs a weight of 2: one strong sign, or two
# weak ones ("students" alone is a university newsletter; "Year 9 students" is
# school). Job titles in signatures are removed before these are read (see
# _strip_signature). Short abbreviations are case-sensitive: "sow", "inset" and
# "dsl" (broadband) are ordinary words in lower case.
_STRONG, _WEAK = 2, 1
_WORK_MARKERS: dict[str, tuple[re.Pattern[str], int]] = {
    "pupils/students": (_rx(r"pupils?", r"students?(?! loans?)(?! discount)", r"learners?"), _WEAK),
    "year group/class": (re.compile(r"\b(?:[Yy]ear|Yr) ?(?:[1-9]|1[0-3])\b|\bY(?:[7-9]|1[0-3])\b|"
                                    r"\b(?:form|tutor|teaching) group\b|\bclass list\b|\bseating plan\b",
                                    re.I), _WEAK),
    "marking/assessment": (_rx(r"mark ?schemes?", r"marking", r"marked (?:work|books|papers|scripts)",
                               r"mark ?book", r"coursework", r"homework", r"mock exams?",
                               r"exam (?:results|entries|board)", r"predicted grades?", r"data drop",
                               r"assessment data", r"gradebook", r"school reports?",
                               r"end of term reports?"), _STRONG),
    "reference": (_rx(r"reference (?:for|request)", r"(?:ucas|confidential|job|character) reference",
                      r"to whom it may concern"), _STRONG),
    "teaching": (re.compile(r"\b(?i:lesson plans?|schemes? of work|cover work|department meeting|staff meeting|"
                            r"learning walk|observation feedback)\b|\b(?:SoW|INSET)\b"), _STRONG),
    "curriculum": (_rx(r"curriculum", r"syllabus", r"revision guide"), _WEAK),
    "school business": (re.compile(r"\b(?:Ofsted|SLT|SENCO|SENDCo|EHCP|IEP)\b|\b(?:governors'? meeting|"
                                   r"safeguarding|detentions?|behaviour (?:log|points|incident|report)|"
                                   r"(?:permanent|fixed[- ]term) exclusions?|parents'? evening|school trip)\b"), _STRONG),
    "parent correspondence": (_rx(r"your (?:son|daughter|child)", r"my (?:son|daughter)'?s? (?:teacher|class|form)",
                                  r"dear (?:parents?|carers?|parent/carer)", r"parents? of"), _STRONG),
}
# Genuinely personal content: pay, pension, health, home, family admin.
_PERSONAL_MARKERS: dict[str, re.Pattern[str]] = {
    "pay/pension": _rx(r"pay ?slips?", r"pay advice", r"P60", r"P45", r"P11D", r"pensions?",
                       r"tax code", r"tax return", r"HMRC", r"salary slip"),
    "health": _rx(r"dentist", r"dental", r"(?-i:GP)", r"doctor'?s?", r"surgery appointment", r"prescriptions?",
                  r"hospital appointment", r"opticians?", r"eye test", r"vaccination"),
    "household": _rx(r"mortgage", r"bank statement", r"council tax", r"insurance", r"(?-i:MOT)", r"energy bill",
                     r"gas bill", r"electricity bill", r"broadband", r"rent", r"landlord", r"tenancy"),
    "leisure/family": _rx(r"holiday", r"booking confirmation", r"flights?", r"hotel", r"wedding", r"birthday",
                          r"recipe", r"gym", r"order confirmation", r"delivery slot", r"family photos?",
                          r"concert tickets?"),
}
_FORWARD_MARKERS = re.compile(
    r"^\s*(?:-{2,}\s*(?:Forwarded message|Original Message)\s*-{2,}|Begin forwarded message:|"
    r"From: .+\n\s*(?:Sent|Date): )", re.I | re.M)
_FORWARD_FROM_LINE = re.compile(r"^\s*>?\s*From:\s*(.+)$", re.I | re.M)
_SIGN_OFF = re.compile(r"^\s*(?:--\s*$|kind regards|best regards|best wishes|many thanks|regards|thanks|"
                       r"thank you|cheers|sent from my)\b", re.I | re.M)
_FWD_SUBJECT = re.compile(r"^\s*(?:fwd?|fw)\s*:", re.I)
_SRS = re.compile(r"^srs[01][=+-]", re.I)


def _strip_signature(text: str, max_tail_lines: int = 15) -> str:
    """Drop the sign-off and signature block ("Kind regards, Jane Smith, Head of Year 9, ...").

    Only a sign-off within the last `max_tail_lines` lines counts, so a forwarded
    thread below the writer's note is kept.
    """
    lines = text.rstrip().splitlines()
    tail_start = max(0, len(lines) - max_tail_lines)
    for index in range(len(lines) - 1, tail_start - 1, -1):
        if _SIGN_OFF.match(lines[index]):
            return "\n".join(lines[:index])
    return text


@dataclass(frozen=True, slots=True)
class ContentJudgement:
    work: bool
    evidence: tuple[str, ...]
    why: str


# RE2 twins for ASCII text (filters/text/matcher.py AsciiFast: the same first match; a pattern
# RE2 refuses, such as the lookaheads of "students", stays Python's). Python's `re` searching a
# forwarded document's text for each of the twelve markers was most of this filter's cost on
# the 200 KB sample (~20 M instructions), paid whenever the recipient is the sender's own account.
_WORK_FAST = {label: AsciiFast(pattern) for label, (pattern, _weight) in _WORK_MARKERS.items()}
_PERSONAL_FAST = {label: AsciiFast(pattern) for label, pattern in _PERSONAL_MARKERS.items()}


def _hits(markers: dict[str, AsciiFast], text: str) -> dict[str, str]:
    """Label -> the first span each marker matches in `text`."""
    found = {}
    for label, pattern in markers.items():
        match = pattern.search(text)
        if match:
            found[label] = match.group(0)
    return found


# -- the filter ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Ownership:
    how: str  # "directory", "name", "recurring"
    detail: str


class PersonalAddressFilter:
    name = "personal_address"
    Options = Options

    def __init__(self, options: Options, context: FilterContext) -> None:
        self._options = options
        self._directory: Directory = context.directory  # type: ignore[assignment]
        self._seen: SeenStore | None = context.seen
        self._domains = load_domains(options.extra_domains)
        self._school_domains = tuple(getattr(getattr(context.settings, "school", None), "domains", ()) or ())
        # rebuilt when the directory's people change (the CSV is re-read on change)
        self._people_seen: tuple[Person, ...] | None = None
        self._pupils: PupilNameIndex | None = None
        self._staff_keys: dict[str, list[Person]] = {}
        self._staff_names: dict[tuple[str, str], list[Person]] = {}
        # one assessment per message however many checks read it (check() drops the entry)
        self._assessed: dict[str, PupilData] = {}

    async def self_test(self) -> list[str]:
        warnings = []
        if "gmail.com" not in self._domains:
            warnings.append("personal_address: gmail.com is not in the personal domain list")
        if self._directory is None or not getattr(self._directory, "people", ()):
            warnings.append("personal_address: no directory: pupil names and staff personal "
                            "addresses cannot be recognised")
        return warnings

    # -- lookups -------------------------------------------------------------------
    def is_personal_domain(self, address: str) -> bool:
        return domain_of(address) in self._domains

    def _refresh_people(self) -> None:
        people = self._directory.people if self._directory is not None else ()
        if people is self._people_seen or people == self._people_seen:  # identity: the usual case
            return
        self._people_seen = people
        self._pupils = PupilNameIndex(p.name for p in people if p.role == Role.STUDENT and p.name)
        keys: dict[str, list[Person]] = {}
        names: dict[tuple[str, str], list[Person]] = {}
        for person in people:
            if person.role != Role.STAFF:
                continue
            parts = name_parts(person.name)
            if parts is None or not parts.usable:
                continue
            for key in name_keys(parts):
                keys.setdefault(key, []).append(person)
            for last in parts.lasts:
                names.setdefault((parts.first, last), []).append(person)
        self._staff_keys, self._staff_names = keys, names

    def _school_internal(self, address: str) -> bool:
        domain = domain_of(address)
        return any(domain == d or domain.endswith("." + d) for d in self._school_domains)

    # -- envelope and headers ---------------------------------------------------------
    @staticmethod
    def _header_recipients(view: MessageView) -> set[str]:
        values = view.header_all("To") + view.header_all("Cc")
        try:
            return {normalise_address(addr) for _, addr in address_list(values) if addr}
        except Exception:
            return set()

    @staticmethod
    def _display_names(view: MessageView) -> dict[str, str]:
        try:
            pairs = address_list(view.header_all("To") + view.header_all("Cc"))
        except Exception:
            return {}
        return {normalise_address(addr): name for name, addr in pairs if addr}

    def _redirect(self, view: MessageView) -> tuple[str, tuple[str, ...]]:
        """(forwarded mailbox or "", marker evidence) when a mailbox rule or redirect sent this on."""
        markers: list[str] = []
        mailbox = ""
        for value in view.header_all("X-MS-Exchange-Inbox-Rules-Loop"):
            if self._school_internal(normalise_address(value)):
                markers.append(f"X-MS-Exchange-Inbox-Rules-Loop: {value.strip()}")
                mailbox = mailbox or normalise_address(value)
        if view.header("X-MS-Exchange-Organization-AutoForwarded").strip().lower() == "true":
            markers.append("X-MS-Exchange-Organization-AutoForwarded: true")
        # Resent-* (RFC 5322 3.6.6) and X-Forwarded-* count only when they name a
        # school mailbox: a mailing list resending to its members adds them too.
        for name in ("Resent-From", "Resent-Sender", "X-Forwarded-For", "X-Forwarded-To"):
            for value in view.header_all(name):
                try:
                    addrs = [normalise_address(a) for _, a in getaddresses([value.replace(" ", ", ")]) if a]
                except Exception:
                    addrs = []
                school = [a for a in addrs if self._school_internal(a)]
                if school:
                    markers.append(f"{name}: {value.strip()}")
                    mailbox = mailbox or school[0]
        auto = view.header("Auto-Submitted").strip().lower()
        srs = bool(_SRS.match(view.envelope.mail_from or ""))
        if srs:
            markers.append(f"SRS-rewritten envelope sender {view.envelope.mail_from}")
        from_elsewhere = bool(view.from_address) and not self._school_internal(view.from_address)
        if auto.startswith("auto-forwarded"):
            markers.append(f"Auto-Submitted: {auto}")
        elif auto.startswith("auto-generated") and from_elsewhere and view.sender.internal:
            # a generated copy of someone else's mail leaving from a school mailbox;
            # auto-replied (out of office) is never a forward
            markers.append(f"Auto-Submitted: {auto}")
        if not markers:
            return "", ()
        if not mailbox and view.sender.internal and not srs:
            mailbox = view.sender.address
        if not mailbox and srs and view.sender.internal:
            mailbox = f"a mailbox at {domain_of(view.envelope.mail_from)}"
        return mailbox, tuple(markers)

    # -- who owns the recipient -------------------------------------------------------
    async def _ownership(self, view: MessageView, sender: Person | None, sender_name: str, rcpt: Party,
                         display: str, envelope_only: bool, shape: str) -> Ownership | None:
        directory_owner = self._directory.owner_of_personal(rcpt.address) if self._directory else None
        if directory_owner is not None:
            if sender is not None and directory_owner.email == sender.email:
                return Ownership("directory", f"{rcpt.address} is {sender.name or sender.email}'s personal "
                                              f"address in the directory")
            return None  # listed as someone else's: never the sender's by likeness
        parts = name_parts(sender_name)
        if self._options.name_likeness and parts is not None and parts.usable and not contradicts(display, parts):
            by_address = address_likeness(rcpt.address, parts)
            by_display = display_likeness(display, parts)
            best = max(by_address, by_display)
            enough = best == Likeness.FULL or (best == Likeness.INITIAL and (
                self._options.initials_are_own or envelope_only))
            if enough and await self._shared_address(rcpt.address, view.sender.address) and best < Likeness.FULL:
                enough = False  # several school senders write to it: a parent or club, not the sender
            if enough:
                where = "local part" if by_address >= by_display else "display name"
                kind = "first name and surname" if best == Likeness.FULL else "initial and surname"
                shown = local_part(rcpt.address) if where == "local part" else display
                return Ownership("name", f"the {where} {shown!r} matches the sender {sender_name!r} "
                                         f"({kind}){' and it was a Bcc' if envelope_only else ''}")
        if self._seen is not None and self._options.recurring_forwards and shape:
            window = self._options.recurring_window_days * _DAY
            try:
                others = await self._other_senders(rcpt.address, view.sender.address)
                # the forwards are counted only when no other sender writes to the address (the
                # signal needs both): this count reads a row per forward of the pair in the window
                forwards = 0 if others else await self._seen.count(
                    SEEN_FORWARD, f"{view.sender.address}>{rcpt.address}", window)
            except Exception:  # the store is a helper signal; its outage must not stop mail
                log.warning("message %s: seen store unavailable; recurring-target signal skipped", view.id,
                            exc_info=True)
                return None
            if forwards + 1 >= self._options.recurring_forwards and not others:
                return Ownership("recurring", f"{view.sender.address} has sent {forwards + 1} forwards or "
                                              f"attachments to {rcpt.address} in "
                                              f"{self._options.recurring_window_days:g} days, and no other "
                                              f"school sender writes to it")
        return None

    async def _other_senders(self, rcpt: str, sender: str) -> int | None:
        """How many other school senders wrote to `rcpt` in the window (None: no store)."""
        if self._seen is None:
            return None
        window = self._options.recurring_window_days * _DAY
        senders = await self._seen.distinct_values(SEEN_SENDERS, rcpt, window)
        if not senders:
            return 0  # nobody wrote to it: this sender has not either
        mine = await self._seen.has_value(SEEN_SENDERS, rcpt, sender, window)
        return max(0, senders - (1 if mine else 0))

    async def _shared_address(self, rcpt: str, sender: str) -> bool:
        try:
            return bool(await self._other_senders(rcpt, sender))
        except Exception:  # the store is a helper signal; its outage must not stop mail
            log.warning("seen store unavailable; shared-address check skipped", exc_info=True)
            return False

    def _staff_owner_of_sender(self, view: MessageView) -> tuple[Person, str] | None:
        """The member of staff whose personal account sent this (known or likely)."""
        candidates = [a for a in dict.fromkeys((view.sender.address, view.from_address)) if a]
        for addr in candidates:
            owner = self._directory.owner_of_personal(addr) if self._directory else None
            if owner is not None and owner.role == Role.STAFF:
                return owner, f"{addr} is {owner.name or owner.email}'s personal address in the directory"
        if not self._options.name_likeness:
            return None
        for addr in candidates:
            if not self.is_personal_domain(addr):
                continue
            letters = "".join(re.findall(r"[a-z]+", fold(local_part(addr))))
            matched = {p.email: p for key, people in self._staff_keys.items() if key in letters for p in people}
            display = name_parts(view.from_name or "")
            if display is not None and display.usable:
                for last in display.lasts:
                    for person in self._staff_names.get((display.first, last), []):
                        matched[person.email] = person
            if len(matched) == 1:
                person = next(iter(matched.values()))
                return person, (f"the webmail sender {addr} ({view.from_name or 'no display name'}) matches "
                                f"the name of staff member {person.name} ({person.email})")
        return None

    # -- content -------------------------------------------------------------------------
    def _sources(self, view: MessageView) -> list[Source]:
        budget = self._options.max_text_chars
        sources = [Source("body", f"{view.subject}\n{view.body_text}"[:budget])]
        budget -= len(sources[0].text)
        for attachment in view.attachments:
            if budget <= 0 or not attachment.text:
                continue
            name = attachment.filename or "(unnamed attachment)"
            tabular = name.lower().endswith(_TABULAR_EXT) or "spreadsheet" in attachment.sniffed_type \
                or "csv" in attachment.declared_type
            sources.append(Source(name, attachment.text[:budget], tabular))
            budget -= len(attachment.text)
        # issue 21 clause 4: pupils named in file names ("jane_smith_y9_report.jpg", a photo
        # folder zipped up): separators become spaces and each word a capital, as names are written
        names = [_FILE_WORDS.sub(" ", Path(a.filename).stem).title() for a in view.attachments if a.filename]
        names += [_FILE_WORDS.sub(" ", Path(m.path).stem).title() for a in view.attachments for m in a.members]
        if names:
            sources.append(Source("file names", "\n".join(names)))
        return sources

    async def _pupil_data(self, view: MessageView) -> PupilData:
        known = self._assessed.get(view.id)
        if known is not None:
            return known
        self._refresh_people()
        sources = self._sources(view)
        size = sum(len(s.text) for s in sources)
        if size > self._options.inline_chars:
            loop = asyncio.get_running_loop()
            data = await loop.run_in_executor(None, assess, sources, self._pupils)
        else:
            data = assess(sources, self._pupils)
        self._assessed[view.id] = data
        return data

    def _judge(self, view: MessageView, writer_name: str, data: PupilData) -> ContentJudgement:
        """Is this school work (hold when it goes to/from a private account) or personal?"""
        if data.any:
            return ContentJudgement(True, data.evidence(), "it carries pupil data")
        body = _strip_signature(view.body_text)
        names = " ".join(a.filename for a in view.attachments)
        text = "\n".join([view.subject, body, names] + [a.text[:200_000] for a in view.attachments if a.text])
        work = _hits(_WORK_FAST, text)
        personal = _hits(_PERSONAL_FAST, text)
        forwarded = bool(_FWD_SUBJECT.match(view.subject) or _FORWARD_MARKERS.search(body)
                         or any(".m" in p.path for p in view.text_parts))
        forwarded_internal = [
            addr for line in _FORWARD_FROM_LINE.findall(body)
            for _, addr in getaddresses([line]) if addr and self._school_internal(addr)
            and normalise_address(addr) != view.sender.address]
        evidence_work = tuple(f"{label}: {span!r}" for label, span in work.items())
        evidence_personal = tuple(f"{label}: {span!r}" for label, span in personal.items())
        if forwarded_internal:
            return ContentJudgement(True, (f"forwarded thread from {forwarded_internal[0]}",) + evidence_work,
                                    "it forwards a colleague's school mail")
        # a forwarded thread is one weak sign (a parent's or colleague's mail is
        # forwarded; so are newsletters)
        work_score = sum(_WORK_MARKERS[label][1] for label in work) + (_WEAK if forwarded and work else 0)
        personal_score = _STRONG * len(personal)
        if work_score >= _STRONG and work_score >= personal_score:
            reason = "it forwards a thread about school work" if forwarded else "it is about school work"
            return ContentJudgement(True, evidence_work, reason)
        if personal:
            return ContentJudgement(False, evidence_personal, "it looks like personal admin")
        documents = [a.filename for a in view.attachments if a.filename.lower().endswith(_DOCUMENT_EXT)]
        if documents and self._options.documents_are_work:
            return ContentJudgement(True, tuple(f"document: {d}" for d in documents),
                                    "it carries documents with no sign of being personal")
        return ContentJudgement(False, (), "nothing in it suggests school work")

    # -- check -------------------------------------------------------------------------------
    async def check(self, view: MessageView) -> Sequence[Finding]:
        try:
            return await self._check(view)
        finally:
            self._assessed.pop(view.id, None)

    async def _check(self, view: MessageView) -> Sequence[Finding]:
        if view.parse_error:
            return ()
        findings: list[Finding] = []
        personal_rcpts = [r for r in view.recipients if not r.internal and (
            self.is_personal_domain(r.address) or (
                self._directory is not None and self._directory.owner_of_personal(r.address) is not None))]
        mailbox, markers = self._redirect(view)
        if markers and personal_rcpts and mailbox:
            findings.append(Finding(
                "MAILBOX_AUTO_FORWARD", self.name, Category.PERSONAL_ACCOUNT, Severity.HIGH,
                (f"mailbox: {mailbox}", *(f"recipient: {r.address}" for r in personal_rcpts), *markers),
                f"A forwarding or redirect rule on {mailbox} is sending school mail to a personal account.",
                recipients=tuple(r.address for r in personal_rcpts)))
        sender = view.sender
        if sender.internal and sender.role == Role.STAFF and personal_rcpts:
            findings.extend(await self._outbound(view, personal_rcpts, redirected=bool(findings)))
        others = [r for r in view.recipients if not r.internal and r not in personal_rcpts]
        if sender.internal and others and self._options.external_pupil_data:
            findings.extend(await self._external(view, others))
        elif not sender.internal:
            findings.extend(await self._inbound(view))
        return findings

    async def _outbound(self, view: MessageView, rcpts: list[Party], redirected: bool) -> list[Finding]:
        self._refresh_people()
        person = self._directory.lookup(view.sender.address) if self._directory else None
        sender_name = (person.name if person and person.name else "") or view.sender.name or view.from_name
        displays = self._display_names(view)
        in_headers = set(displays)  # = _header_recipients(view): the same To/Cc parse, done once
        shape = "forward" if (_FWD_SUBJECT.match(view.subject) or view.attachments or redirected) else ""
        data: PupilData | None = None
        judgement: ContentJudgement | None = None
        findings: list[Finding] = []
        for rcpt in rcpts:
            envelope_only = rcpt.address not in in_headers
            own = await self._ownership(view, person, sender_name, rcpt, displays.get(rcpt.address, ""),
                                        envelope_only, shape)
            if data is None:
                data = await self._pupil_data(view)
            where = (f"recipient: {rcpt.address}",) + (("Bcc (envelope only)",) if envelope_only else ())
            if data.substantial(self._options.many_pupils, self._options.many_rows):
                findings.append(Finding(
                    "PUPIL_DATA_TO_PERSONAL", self.name, Category.PUPIL_DATA, Severity.HIGH,
                    where + data.evidence(),
                    f"Pupil data is going to the personal address {rcpt.address}"
                    f"{' (the sender’s own)' if own else ''}.",
                    recipients=(rcpt.address,)))
            if own is not None:
                if judgement is None:
                    judgement = self._judge(view, sender_name, data)
                why = (f"own account ({own.how}): {own.detail}",)
                if judgement.work:
                    findings.append(Finding(
                        "STAFF_WORK_TO_OWN_PERSONAL", self.name, Category.PERSONAL_ACCOUNT,
                        Severity.HIGH if data.any else Severity.MEDIUM, where + why + judgement.evidence,
                        f"A member of staff is sending school work to their own personal account "
                        f"{rcpt.address}: {judgement.why}.", recipients=(rcpt.address,)))
                else:
                    findings.append(Finding(
                        "STAFF_PERSONAL_NOTE_TO_OWN", self.name, Category.PERSONAL_ACCOUNT, Severity.LOW,
                        where + why + judgement.evidence,
                        f"A member of staff is sending a personal note to their own account {rcpt.address}; "
                        f"{judgement.why}.", recipients=(rcpt.address,)))
        await self._remember(view, rcpts, shape)
        return findings

    def is_processor(self, address: str) -> bool:
        domain = domain_of(address)
        return any(domain == d.lower() or domain.endswith("." + d.lower()) for d in self._options.approved_processors)

    async def _external(self, view: MessageView, rcpts: list[Party]) -> list[Finding]:
        """Substantial pupil data to an organisation: held unless it is an approved data processor."""
        data = await self._pupil_data(view)
        if not data.substantial(self._options.many_pupils, self._options.many_rows):
            return []
        findings = []
        approved = tuple(r.address for r in rcpts if self.is_processor(r.address))
        others = tuple(r.address for r in rcpts if r.address not in approved)
        if others:
            findings.append(Finding(
                "PUPIL_DATA_TO_EXTERNAL", self.name, Category.PUPIL_DATA, Severity.HIGH,
                (*(f"recipient: {a}" for a in others), *data.evidence()),
                f"Pupil data is going to {others[0]}{' and others' if len(others) > 1 else ''}, which is not "
                f"on the school's approved data-processor list.", recipients=others))
        if approved:
            findings.append(Finding(
                "PUPIL_DATA_TO_PROCESSOR", self.name, Category.PUPIL_DATA, Severity.LOW,
                (*(f"recipient: {a}" for a in approved), *data.evidence()),
                f"Pupil data is going to the approved data processor {approved[0]}; it leaves only over "
                f"verified TLS.", recipients=approved))
        return findings

    async def _remember(self, view: MessageView, rcpts: list[Party], shape: str) -> None:
        if self._seen is None:
            return
        pairs = [(SEEN_SENDERS, rcpt.address, view.sender.address) for rcpt in rcpts]
        forwards = [(SEEN_FORWARD, f"{view.sender.address}>{rcpt.address}", view.id) for rcpt in rcpts] \
            if shape else []
        try:
            # one transaction for the message's rows: each commit was ~0.5 ms CPU, most of
            # this filter's cost on a newsletter to parents' webmail (bench/chain_cost.py); the
            # SQL store queues both calls into one write
            await self._seen.refresh_many(pairs)
            if forwards:
                await self._seen.record_many(forwards)
        except Exception:
            log.warning("message %s: could not record personal-address targets", view.id, exc_info=True)

    async def _inbound(self, view: MessageView) -> list[Finding]:
        self._refresh_people()
        found = self._staff_owner_of_sender(view)
        if found is None:
            return []
        owner, how = found
        findings: list[Finding] = []
        students = tuple(r.address for r in view.recipients if r.role == Role.STUDENT)
        if students:
            findings.append(Finding(
                "STAFF_PERSONAL_TO_STUDENT", self.name, Category.PERSONAL_ACCOUNT, Severity.HIGH,
                (f"sender: {view.sender.address}", how, *(f"recipient: {s}" for s in students)),
                f"{owner.name or owner.email} is writing to a pupil from a personal account; staff must "
                f"contact pupils only through school accounts.", recipients=students))
        colleagues = tuple(r.address for r in view.recipients if r.internal and r.role != Role.STUDENT)
        if colleagues:
            data = await self._pupil_data(view)
            judgement = self._judge(view, owner.name, data)
            if judgement.work:
                findings.append(Finding(
                    "STAFF_PERSONAL_WORK_INBOUND", self.name, Category.PERSONAL_ACCOUNT,
                    Severity.HIGH if data.any else Severity.MEDIUM,
                    (f"sender: {view.sender.address}", how, *judgement.evidence),
                    f"{owner.name or owner.email} is sending school work from a personal account: "
                    f"{judgement.why}; work belongs in the school account.", recipients=colleagues))
        findings.extend(await self._school_hours(view))
        return findings

    def in_school_hours(self, when: float) -> bool:
        if not self._options.school_hours:
            return False
        from datetime import datetime
        from zoneinfo import ZoneInfo
        local = datetime.fromtimestamp(when, ZoneInfo(self._options.timezone))
        start, _, end = self._options.school_hours.partition("-")
        return local.weekday() in self._options.school_days and start <= local.strftime("%H:%M") < end

    async def _school_hours(self, view: MessageView) -> list[Finding]:
        """Issue 21 clause 8: a KNOWN personal address (the directory's personal_email) writing in
        school hours to pupils or parents about school business. Parents are not in the directory:
        external addresses in To/Cc (the copy the gateway sees is the one to a school address)."""
        owner = next((p for p in (self._directory.owner_of_personal(a) for a in
                                  dict.fromkeys((view.sender.address, view.from_address)) if a)
                      if p is not None and p.role == Role.STAFF), None) if self._directory else None
        when = view.received_at or 0.0
        if owner is None or not self.in_school_hours(when):
            return []
        headers = self._header_recipients(view)
        pupils = [a for a in headers | {r.address for r in view.recipients}
                  if self._directory.role_of(a) == Role.STUDENT]
        parents = [a for a in headers if not self._school_internal(a) and a not in owner.personal_emails
                   and a != view.sender.address]
        if not pupils and not parents:
            return []
        judgement = self._judge(view, owner.name, await self._pupil_data(view))
        if not judgement.work:
            return []
        to = "pupils" if pupils and not parents else "parents" if parents and not pupils else "pupils and parents"
        return [Finding(
            "STAFF_PERSONAL_SCHOOL_HOURS", self.name, Category.PERSONAL_ACCOUNT, Severity.LOW,
            (f"sender: {view.sender.address}", f"{owner.name or owner.email}'s personal address in the directory",
             *(f"pupil: {a}" for a in sorted(pupils)), *(f"parent: {a}" for a in sorted(parents)),
             *judgement.evidence),
            f"{owner.name or owner.email} wrote to {to} from a personal account during school hours about "
            f"school business ({judgement.why}); staff should use their school account.")]

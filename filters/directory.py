"""Who is who: the school's directory of staff and students, reloaded when its CSV changes."""
from __future__ import annotations

import csv
import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import date
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Sequence

from filters.base import Role
from filters.errors import SchoolgateError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Person:
    email: str
    role: Role
    name: str
    personal_emails: tuple[str, ...] = ()
    # issue 21 clause 1: "selected student groups", approval "per year group".
    year: int | None = None  # national curriculum year (7 = first year of secondary)
    form: str = ""  # registration form / tutor group, e.g. "9B"
    tutor_email: str = ""  # the pupil's tutor: approver of held external mail (clause 2)
    groups: tuple[str, ...] = ()  # other sets: "sixth_form", "work_experience", ...


# A plain dot-atom address (RFC 5322 3.2.3, 3.4.1), bare or in angle brackets: what
# parseaddr would return unchanged. It is most addresses, parsed ~14 times a message
# (envelope, headers, directory look-ups), and parseaddr is a character-by-character parser.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(rf"<?({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>?")


def normalise_address(address: str) -> str:
    """Lower-case an address and strip angle brackets/display names."""
    plain = _PLAIN_ADDRESS.fullmatch(address) if address else None
    if plain is not None and (address[0] == "<") == (address[-1] == ">"):
        return plain.group(1).lower()
    _, addr = parseaddr(address or "")
    return (addr or address or "").strip().strip("<>").lower()


_PLAIN_BARE = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


def address_list(values: Sequence[str]) -> list[tuple[str, str]]:
    """email.utils.getaddresses(values): (display name, address) pairs of header values.

    A value that is one plain dot-atom address (most To/Cc headers: "parent@gmail.com") is
    ("", value) to the stdlib parser too; when every value is one, the pairs are made
    without it (its character-by-character parse was ~30 us a header, run on To/Cc by the
    parser and again by personal_address). Anything else goes to getaddresses as a whole."""
    for value in values:
        if not isinstance(value, str) or _PLAIN_BARE.fullmatch(value) is None:
            return getaddresses(values)
    return [("", value) for value in values]


def domain_of(address: str) -> str:
    addr = normalise_address(address)
    return addr.rpartition("@")[2] if "@" in addr else ""


class DirectoryError(SchoolgateError, ValueError):
    """The directory CSV cannot be used: the message names the file and the line."""


REQUIRED_COLUMNS = ("email", "role")
COLUMNS = ("email", "role", "name", "personal_email")
OPTIONAL_COLUMNS = ("year", "form", "tutor_email", "group")
# "Year 9", "Y9", "9", "yr 9" -> 9; Reception = 0 (primary schools share the CSV format)
_YEAR_TEXT = re.compile(r"^(?:year|yr|y)?\s*(\d{1,2})$", re.IGNORECASE)


def parse_year(text: str) -> int | None:
    """The year group a CSV cell names; ValueError for anything else (the caller names the line)."""
    text = text.strip()
    if not text:
        return None
    if text.lower() in ("r", "reception"):
        return 0
    match = _YEAR_TEXT.match(text)
    if not match or not 0 <= int(match.group(1)) <= 14:
        raise ValueError(f"year must be a year group such as 7, Y7 or Year 7, not {text!r}")
    return int(match.group(1))


def school_year_start(today: date) -> int:
    """The calendar year the current school year began in: it rolls over on 1 September."""
    return today.year if (today.month, today.day) >= (9, 1) else today.year - 1


# placeholders in [directory] year_pattern, e.g. "{yy}{initial}{surname}@students.school.sch.uk"
_PLACEHOLDERS = {
    "yy": r"(?P<yy>\d{2})", "yyyy": r"(?P<yyyy>\d{4})", "initial": r"[^@\W\d_]",
    "first": r"[^@\s]+?", "surname": r"[^@\s]+?", "any": r"[^@\s]*?",
}


def compile_year_pattern(pattern: str) -> re.Pattern[str]:
    """The address pattern as one anchored regex; ValueError names an unknown placeholder."""
    out, pos = [], 0
    for match in re.finditer(r"\{(\w+)\}", pattern):
        out.append(re.escape(pattern[pos:match.start()].lower()))
        name = match.group(1).lower()
        if name not in _PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{name}}} (use {', '.join('{%s}' % p for p in _PLACEHOLDERS)})")
        out.append(_PLACEHOLDERS[name])
        pos = match.end()
    out.append(re.escape(pattern[pos:].lower()))
    regex = "".join(out)
    if "(?P<yy>" not in regex and "(?P<yyyy>" not in regex:
        raise ValueError("the pattern needs {yy} or {yyyy} (the year the pupil started)")
    return re.compile(f"^{regex}$")


@dataclass(frozen=True, slots=True)
class YearRule:
    """Year group from the address: the pupil started in year `entry_year` in September of the
    year the address carries, and moves up a year every 1 September."""

    pattern: re.Pattern[str]
    entry_year: int = 7

    def year_of(self, address: str, today: date) -> int | None:
        match = self.pattern.match(address)
        if match is None:
            return None
        found = match.groupdict()
        entered = int(found["yyyy"]) if found.get("yyyy") else 2000 + int(found["yy"])
        year = self.entry_year + school_year_start(today) - entered
        # an address from before the pupil could be at the school, or of a leaver: no year
        return year if self.entry_year <= year <= 14 else None


@dataclass(frozen=True, slots=True)
class _Parsed:
    people: dict[str, Person]
    personal: dict[str, Person]
    mtime: float
    problems: tuple[str, ...]  # every bad line, not only the first


def _parse(path: Path) -> _Parsed:
    """Read the whole CSV, collecting a problem per bad line; OSError/CSV errors are one problem."""
    people: dict[str, Person] = {}
    personal: dict[str, Person] = {}
    problems: list[str] = []
    try:
        mtime = os.stat(path).st_mtime
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            fields = [f.strip().lower() for f in reader.fieldnames or ()]
            reader.fieldnames = fields
            missing = [c for c in REQUIRED_COLUMNS if c not in fields]
            if missing:
                found = ", ".join(f for f in fields if f) or "nothing"
                return _Parsed({}, {}, mtime, (f"{path}: line 1: missing column(s) {', '.join(missing)} "
                                               f"(the header must name {','.join(COLUMNS)}; found {found})",))
            for line_no, row in enumerate(reader, start=2):
                email = normalise_address(row.get("email") or "")
                role_text = (row.get("role") or "").strip().lower()
                if not email:
                    continue
                if role_text not in (Role.STAFF, Role.STUDENT):
                    problems.append(f"{path}: line {line_no}: role must be staff or student, not {role_text!r}")
                    continue
                extra = tuple(normalise_address(p) for p in (row.get("personal_email") or "").split(";")
                              if p.strip())
                try:
                    year = parse_year(row.get("year") or "")
                except ValueError as exc:
                    problems.append(f"{path}: line {line_no}: {exc}")
                    continue
                tutor = normalise_address(row.get("tutor_email") or "")
                if tutor and "@" not in tutor:
                    problems.append(f"{path}: line {line_no}: tutor_email is not an address: {tutor!r}")
                    continue
                groups = tuple(dict.fromkeys(g.strip().lower() for g in (row.get("group") or "").split(";")
                                             if g.strip()))
                person = Person(email=email, role=Role(role_text), name=(row.get("name") or "").strip(),
                                personal_emails=extra, year=year, form=(row.get("form") or "").strip(),
                                tutor_email=tutor, groups=groups)
                people[email] = person
                for addr in extra:
                    personal[addr] = person
    except FileNotFoundError:
        return _Parsed({}, {}, 0.0, (f"{path}: file not found",))
    except OSError as exc:
        return _Parsed({}, {}, 0.0, (f"{path}: cannot read directory: {exc.strerror or exc}",))
    except (csv.Error, UnicodeDecodeError) as exc:
        return _Parsed({}, {}, 0.0, (f"{path}: not a readable CSV: {exc}",))
    return _Parsed(people, personal, mtime, tuple(problems))


def check_directory_csv(path: Path) -> list[str]:
    """Every problem in the directory CSV, one line each with the line number (config check, serve)."""
    return list(_parse(path).problems)


class Directory:
    """Address -> Person lookup with a domain -> role fallback.

    The CSV (columns email,role,name,personal_email) is re-read when its mtime
    changes, checked at most every `recheck_seconds` so a busy gateway does not
    stat the file for every message.
    """

    def __init__(self, csv_path: Path | None, domain_roles: dict[str, Role] | None = None,
                 school_domains: tuple[str, ...] = (), recheck_seconds: float = 5.0,
                 year_rule: YearRule | None = None, today=date.today) -> None:
        self._path = csv_path
        self._year_rule = year_rule
        self._today = today  # a callable, so a test can fix the date and a long-running node rolls over
        self._domain_roles = {d.lower(): Role(r) for d, r in (domain_roles or {}).items()}
        self._school_domains = tuple(d.lower() for d in school_domains)
        self._recheck = recheck_seconds
        self._people: dict[str, Person] = {}
        self._people_tuple: tuple[dict | None, tuple[Person, ...]] = (None, ())  # (of which dict, its values)
        self._by_personal: dict[str, Person] = {}
        self._mtime: float | None = None
        self._checked_at = 0.0
        if csv_path is not None:
            self._load()

    @property
    def people(self) -> tuple[Person, ...]:
        """Everyone, as one tuple that stays the same object until the CSV is reloaded, so a
        filter that indexes the people tells "changed" by identity (personal_address asks
        twice a message; comparing 1,760 people each time was ~30 us)."""
        self._maybe_reload()
        source = self._people
        if self._people_tuple[0] is not source:
            self._people_tuple = (source, tuple(source.values()))
        return self._people_tuple[1]

    def _maybe_reload(self) -> None:
        if self._path is None:
            return
        now = time.monotonic()
        if now - self._checked_at < self._recheck:
            return
        self._checked_at = now
        try:
            mtime = os.stat(self._path).st_mtime
        except OSError as exc:
            log.warning("directory %s unreadable, keeping the last copy: %s", self._path, exc)
            return
        if mtime != self._mtime:
            try:
                self._load()
            except DirectoryError as exc:
                log.error("directory %s not reloaded, keeping the last copy: %s", self._path, exc)

    def _load(self) -> None:
        assert self._path is not None
        parsed = _parse(self._path)
        if parsed.problems:
            more = f" (and {len(parsed.problems) - 1} more)" if len(parsed.problems) > 1 else ""
            raise DirectoryError(parsed.problems[0] + more)
        self._people, self._by_personal, self._mtime = parsed.people, parsed.personal, parsed.mtime
        log.info("directory loaded: %d people from %s", len(parsed.people), self._path)

    def lookup(self, address: str) -> Person | None:
        self._maybe_reload()
        return self._people.get(normalise_address(address))

    def owner_of_personal(self, address: str) -> Person | None:
        """The member of the directory who listed this as their personal address."""
        self._maybe_reload()
        return self._by_personal.get(normalise_address(address))

    def is_school_address(self, address: str) -> bool:
        domain = domain_of(address)
        return any(domain == d or domain.endswith("." + d) for d in self._school_domains)

    def role_of(self, address: str) -> Role:
        person = self.lookup(address)
        if person is not None:
            return person.role
        domain = domain_of(address)
        # most specific domain first: "students.school.uk" before "school.uk"
        for candidate, role in sorted(self._domain_roles.items(), key=lambda kv: -len(kv[0])):
            if domain == candidate or domain.endswith("." + candidate):
                return role
        return Role.EXTERNAL

    def name_of(self, address: str) -> str:
        person = self.lookup(address)
        return person.name if person else ""

    # -- year groups and sets (issue 21 clause 1) ---------------------------------------------
    def year_of(self, address: str) -> int | None:
        """The CSV's year column first; else the year derived from [directory] year_pattern."""
        person = self.lookup(address)
        if person is not None and person.year is not None:
            return person.year
        if self._year_rule is None or self.role_of(address) != Role.STUDENT:
            return None
        return self._year_rule.year_of(normalise_address(address), self._today())

    def groups_of(self, address: str) -> tuple[str, ...]:
        """The person's sets (CSV group column) and their form, lower case, for policy `groups`."""
        person = self.lookup(address)
        if person is None:
            return ()
        form = (person.form.lower(),) if person.form else ()
        return tuple(dict.fromkeys((*person.groups, *form)))

    def tutor_of(self, address: str) -> str:
        person = self.lookup(address)
        return person.tutor_email if person else ""

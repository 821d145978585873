"""Who is who: the school's directory of staff and students, reloaded when its CSV changes."""
from __future__ import annotations

import csv
import logging
import os
import re
import time
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path

from filters.base import Role
from filters.errors import SchoolgateError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Person:
    email: str
    role: Role
    name: str
    personal_emails: tuple[str, ...] = ()


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


def domain_of(address: str) -> str:
    addr = normalise_address(address)
    return addr.rpartition("@")[2] if "@" in addr else ""


class DirectoryError(SchoolgateError, ValueError):
    """The directory CSV cannot be used: the message names the file and the line."""


REQUIRED_COLUMNS = ("email", "role")
COLUMNS = ("email", "role", "name", "personal_email")


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
                person = Person(email=email, role=Role(role_text), name=(row.get("name") or "").strip(),
                                personal_emails=extra)
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
                 school_domains: tuple[str, ...] = (), recheck_seconds: float = 5.0) -> None:
        self._path = csv_path
        self._domain_roles = {d.lower(): Role(r) for d, r in (domain_roles or {}).items()}
        self._school_domains = tuple(d.lower() for d in school_domains)
        self._recheck = recheck_seconds
        self._people: dict[str, Person] = {}
        self._by_personal: dict[str, Person] = {}
        self._mtime: float | None = None
        self._checked_at = 0.0
        if csv_path is not None:
            self._load()

    @property
    def people(self) -> tuple[Person, ...]:
        self._maybe_reload()
        return tuple(self._people.values())

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

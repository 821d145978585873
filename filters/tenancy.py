"""Which school of a trust a message (or one copy of it) belongs to, from [[schools]] (docs/trust.md).

The rule: a copy belongs to the school of its school-side party - the recipient's school for
mail coming in, the sender's school for mail going out - and mail between two schools of the
trust belongs to each of them (the recipient's school first). A config without [[schools]] is
one implicit school (id "school") that owns everything, so single-school sites see no change.

A held message with recipients in several schools is stored as one hold row per school-side
recipient group (`groups`): each school's DSL decides on its own copies, and a release by one
school never sends another school's copies.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from config.schema import IMPLICIT_SCHOOL_ID, Settings
from filters.directory import Directory, DirectoryError, _parse, domain_of

log = logging.getLogger(__name__)

NO_SCHOOL = ""  # a trust's copy with no school-side party (a trusted relay between outside addresses)


@dataclass(frozen=True, slots=True)
class School:
    id: str
    name: str
    domains: tuple[str, ...]
    dsl_addresses: tuple[str, ...] = ()
    deputy_dsl_addresses: tuple[str, ...] = ()
    head_addresses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Group:
    """One hold row's worth: the copies of one school (`school`), and every school that owns them."""

    school: str
    recipients: tuple[str, ...]
    owners: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Tenancy:
    schools: tuple[School, ...]
    trust_name: str = ""
    is_trust: bool = False  # False: the implicit single school, which owns every copy

    @classmethod
    def from_settings(cls, settings: Settings) -> "Tenancy":
        if not settings.schools:
            return cls((School(IMPLICIT_SCHOOL_ID, settings.school.name, tuple(settings.school.domains),
                               tuple(settings.notify.dsl_addresses), tuple(settings.notify.deputy_dsl_addresses),
                               tuple(settings.reports.recipients)),), settings.school.name, False)
        return cls(tuple(School(s.id, s.name, tuple(s.domains), tuple(s.dsl_addresses),
                                tuple(s.deputy_dsl_addresses), tuple(s.head_addresses)) for s in settings.schools),
                   settings.trust.name or settings.school.name, True)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.schools)

    def get(self, school_id: str) -> School | None:
        return next((s for s in self.schools if s.id == school_id), None)

    def name_of(self, school_id: str) -> str:
        school = self.get(school_id)
        return school.name if school else ("the trust" if school_id == NO_SCHOOL else school_id)

    def school_of(self, address: str) -> str | None:
        """The school whose domain (or a subdomain of it) the address is in; the longest domain wins."""
        if not self.is_trust:
            return IMPLICIT_SCHOOL_ID
        domain = domain_of(address)
        best: tuple[int, str] | None = None
        for school in self.schools:
            for d in school.domains:
                if (domain == d or domain.endswith("." + d)) and (best is None or len(d) > best[0]):
                    best = (len(d), school.id)
        return best[1] if best else None

    def owners(self, sender: str, sender_internal: bool, recipient: str) -> tuple[str, ...]:
        """Schools owning the copy to `recipient`: the recipient's, then the sender's (only when the
        sender is really inside: a school address typed by an outside client is not its school)."""
        if not self.is_trust:
            return (IMPLICIT_SCHOOL_ID,)
        found = [self.school_of(recipient), self.school_of(sender) if sender_internal else None]
        owners = tuple(dict.fromkeys(s for s in found if s))
        return owners or (NO_SCHOOL,)

    def groups(self, sender: str, sender_internal: bool, recipients: Sequence[str]) -> list[Group]:
        """The recipients split by the school that owns their copy, in first-seen order."""
        order: dict[str, list[str]] = {}
        owners: dict[str, list[str]] = {}
        for rcpt in recipients:
            mine = self.owners(sender, sender_internal, rcpt)
            order.setdefault(mine[0], []).append(rcpt)
            owners.setdefault(mine[0], [])
            owners[mine[0]] = list(dict.fromkeys([*owners[mine[0]], *mine]))
        return [Group(school, tuple(rcpts), tuple(owners[school])) for school, rcpts in order.items()]

    def view_groups(self, view: Any, recipients: Sequence[str]) -> list[Group]:
        return self.groups(view.envelope.mail_from, view.sender.internal, recipients)

    def message_schools(self, view: Any) -> tuple[str, ...]:
        """Every school a message touches (the decision log counts it once for each)."""
        found: dict[str, None] = {}
        for group in self.view_groups(view, [r.address for r in view.recipients]):
            found.update(dict.fromkeys(group.owners))
        return tuple(found) or (self.ids[0] if not self.is_trust else NO_SCHOOL,)


def problems(settings: Settings) -> list[tuple[list[Any], str]]:
    """Tenancy mistakes `config check` (and every start) reports, one per line: (key path, text)."""
    out: list[tuple[list[Any], str]] = []
    if not settings.schools:
        return out
    seen_ids: dict[str, int] = {}
    owner: dict[str, tuple[int, str]] = {}
    for i, school in enumerate(settings.schools):
        if school.id in seen_ids:
            out.append((["schools", i, "id"], f"school id {school.id!r} is also [schools][{seen_ids[school.id]}]"
                                              f"'s; each school needs its own id"))
        seen_ids.setdefault(school.id, i)
        for domain in school.domains:
            if domain in owner and owner[domain][1] != school.id:
                j, other = owner[domain]
                out.append((["schools", i, "domains"],
                            f"domain {domain!r} is in school {other!r} ([schools][{j}]) and school {school.id!r} "
                            f"([schools][{i}]); a domain belongs to one school"))
            owner.setdefault(domain, (i, school.id))
    owned = {d for school in settings.schools for d in school.domains}
    for domain in settings.school.domains:  # after the fold: what is left came from [school] itself
        if domain not in owned:
            out.append((["school", "domains"], f"domain {domain!r} is in no [[schools]] entry: its mail would "
                                               f"belong to no school; move it to its school's domains"))
    for i, school in enumerate(settings.schools):
        tree = school.escalation_contacts
        if tree and settings.escalation.enabled:  # the rules [escalation] contacts follow
            from config.schema import parse_hours

            if len(tree) < 2:
                out.append((["schools", i, "escalation_contacts"], "the tree needs at least two contacts"))
            elif not any(parse_hours(c.hours) == () for c in tree):
                out.append((["schools", i, "escalation_contacts"],
                            'one contact needs hours = "always" (reachable at any hour)'))
    for i, provider in enumerate(settings.web.sso):
        for group, school_id in provider.school_groups.items():
            if school_id not in seen_ids:
                out.append((["web", "sso", i, "school_groups", group],
                            f"no school {school_id!r} in [[schools]] (known: {', '.join(seen_ids)})"))
    return out


class TrustDirectory(Directory):
    """[directory] csv (the trust's, e.g. written by directory sync) and each school's own
    `directory` CSV, read as one directory: a later file's row for the same address wins.
    Re-read when any file changes, as Directory re-reads its one file."""

    def __init__(self, paths: Sequence[Path], *args: Any, **kwargs: Any) -> None:
        self._paths = tuple(paths)
        self._mtimes: dict[Path, float] = {}
        super().__init__(self._paths[0] if self._paths else None, *args, **kwargs)

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if not self._paths or now - self._checked_at < self._recheck:
            return
        self._checked_at = now
        try:
            changed = any(os.stat(p).st_mtime != self._mtimes.get(p) for p in self._paths)
        except OSError as exc:
            log.warning("directory unreadable, keeping the last copy: %s", exc)
            return
        if changed:
            try:
                self._load()
            except DirectoryError as exc:
                log.error("directory not reloaded, keeping the last copy: %s", exc)

    def _load(self) -> None:
        people: dict = {}
        personal: dict = {}
        mtimes: dict[Path, float] = {}
        problems: list[str] = []
        for path in self._paths:
            parsed = _parse(path)  # the same reader and line checks as one CSV
            problems.extend(parsed.problems)
            people.update(parsed.people)
            personal.update(parsed.personal)
            mtimes[path] = parsed.mtime
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise DirectoryError(problems[0] + more)
        self._people, self._by_personal, self._mtimes = people, personal, mtimes
        log.info("directory loaded: %d people from %d files", len(people), len(self._paths))


def directory_paths(settings: Settings) -> list[Path]:
    """Every directory CSV of a trust: [directory] csv first, then each school's."""
    return [p for p in (settings.directory.csv, *(s.directory for s in settings.schools)) if p is not None]

"""Name likeness: does a mail address or display name look like a given person's name?

Used by the personal-address filter to decide whether a webmail address is
probably a member of staff's own (jane.smith -> janesmith84, jsmith, smithj,
j.smith.home). Pure functions over strings; no I/O.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import IntEnum

# Honorifics and post-nominals carry no identity.
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "rev", "revd",
                     "fr", "phd", "ba", "bsc", "ma", "msc", "pgce", "qts", "med", "mba"})
_WORD = re.compile(r"[a-z]+")


class Likeness(IntEnum):
    """How strongly a string resembles a name (ordered: more is stronger)."""

    NONE = 0
    INITIAL = 1  # first initial + surname (jsmith, smithj, j.smith.home) or "J Smith"
    FULL = 2  # first name and surname (janesmith84, smith.jane, "Jane Smith")


@dataclass(frozen=True, slots=True)
class NameParts:
    first: str
    last: str
    middles: tuple[str, ...] = ()
    # surname variants: "smith-jones" -> smithjones, smith, jones
    lasts: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        return len(self.first) >= 2 and len(self.last) >= 2


def fold(text: str) -> str:
    """Lower-case ASCII letters only: diacritics dropped (Zoë -> zoe), apostrophes removed (O'Neil -> oneil)."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    ascii_text = decomposed.encode("ascii", "ignore").decode("ascii").lower()
    return ascii_text.replace("'", "").replace("\u2019", "")


def name_parts(name: str) -> NameParts | None:
    """Split a person's name ("Jane Smith", "Smith, Jane", "Mrs J. A. Smith-Jones") into parts."""
    if not name:
        return None
    text = fold(name)
    if "," in text:  # "Smith, Jane" -> "Jane Smith"
        last_part, _, first_part = text.partition(",")
        text = f"{first_part} {last_part}"
    # keep hyphenated surnames together for the variants
    raw_tokens = [t for t in re.split(r"[\s.]+", text) if t]
    tokens: list[str] = []
    for token in raw_tokens:
        cleaned = "-".join(_WORD.findall(token))
        if cleaned and cleaned.replace("-", "") not in _TITLES:
            tokens.append(cleaned)
    if len(tokens) < 2:
        return None
    first = tokens[0].replace("-", "")
    last_raw = tokens[-1]
    lasts = [last_raw.replace("-", "")]
    if "-" in last_raw:
        lasts.extend(p for p in last_raw.split("-") if len(p) >= 2)
    middles = tuple(t.replace("-", "") for t in tokens[1:-1])
    return NameParts(first=first, last=lasts[0], middles=middles, lasts=tuple(dict.fromkeys(lasts)))


def local_part(address: str) -> str:
    """The local part without a sub-address tag (jane+school@ -> jane)."""
    local = (address or "").rpartition("@")[0] or address or ""
    return local.split("+", 1)[0]


def address_likeness(address: str, person: NameParts) -> Likeness:
    """How much the local part of `address` looks like `person`'s name."""
    if not person.usable:
        return Likeness.NONE
    local = fold(local_part(address))
    tokens = _WORD.findall(local)  # separators and digits split tokens
    letters = "".join(tokens)
    if not letters:
        return Likeness.NONE
    f, initials = person.first, person.first[0] + "".join(m[0] for m in person.middles)
    best = Likeness.NONE
    for last in person.lasts:
        # full: first and surname together in either order, in one run of letters
        # (janesmith84, smith.jane -> smithjane) or as separate tokens
        if (f + last) in letters or (last + f) in letters or (f in tokens and last in tokens):
            return Likeness.FULL
        # initial: initial(s) + surname or surname + initial as the whole local
        # part or one token of it (jsmith84, smithj, jsmith.home), or the initial
        # and the surname as separate tokens (j.smith.home); a surname inside other
        # letters is not enough (jsmithson is not J Smith).
        shapes = {f[0] + last, last + f[0], initials + last, last + initials}
        if letters in shapes or shapes & set(tokens) or (f[0] in tokens and last in tokens):
            best = Likeness.INITIAL
    return best


def display_likeness(display_name: str, person: NameParts) -> Likeness:
    """How much a display name ("Jane Smith", "J Smith", "Smith, Jane (home)") looks like `person`."""
    if not person.usable or not display_name:
        return Likeness.NONE
    text = fold(display_name)
    if "," in text:
        last_part, _, first_part = text.partition(",")
        text = f"{first_part} {last_part}"
    tokens = [t for t in _WORD.findall(text) if t not in _TITLES]
    if not tokens:
        return Likeness.NONE
    for last in person.lasts:
        if last not in tokens and last not in "".join(tokens):
            continue
        if person.first in tokens or (person.first + last) in "".join(tokens):
            return Likeness.FULL
        if person.first[0] in tokens:
            return Likeness.INITIAL
    return Likeness.NONE


def contradicts(display_name: str, person: NameParts) -> bool:
    """A display name naming someone else with the same surname ("John Smith" for Jane Smith)."""
    if not display_name or not person.usable:
        return False
    parts = name_parts(display_name)
    if parts is None or not parts.usable:
        return False
    same_surname = bool(set(parts.lasts) & set(person.lasts))
    return same_surname and parts.first != person.first and not person.first.startswith(parts.first) \
        and not parts.first.startswith(person.first)


def name_keys(person: NameParts) -> tuple[str, ...]:
    """Letter keys a full-name address would contain, for an index over many people."""
    keys = []
    for last in person.lasts:
        keys.extend((person.first + last, last + person.first))
    return tuple(dict.fromkeys(keys))

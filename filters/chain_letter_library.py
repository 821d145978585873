"""Known chain letters: shingle fingerprints of letters and hoaxes, loaded once and matched by containment.

Two kinds of entry, both in config/lists/known_chain_letters/ (or a site's
`extra_library_dirs`):

- `*.txt`: a letter written for schoolgate (or by the school), shingled in full
  at start-up;
- `*.fingerprints`: one letter per line, `name<TAB>hex,hex,...`, the *sampled*
  hashes of its word 4-grams and nothing else. This is how letters learned from
  public corpora are shipped: their licences do not allow the text, and a
  quarter-sample of 32-bit shingle hashes cannot be read back as the letter.

A message matches a letter by containment (the share of the letter's shingles
found in the message), so a forward that adds a greeting, a new child's name or
a stack of quoted headers still matches. Build fingerprints with
`python -m filters.chain_letter_library FILE.txt ...` (prints lines to append).
"""
from __future__ import annotations

import functools
import itertools
import os
import sys
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

SHINGLE_WORDS = 4
# One shingle in SAMPLE is kept in a fingerprint (mod-sampling keeps containment
# an unbiased estimate, and leaves too little to reconstruct the text).
SAMPLE = 4
# A fingerprint with fewer sampled hashes says too little to match on.
MIN_FINGERPRINT_HASHES = 8
# The message side: an excerpt of a letter counts only when it is this long.
MIN_EXCERPT_SHINGLES = 20
_SALT = zlib.crc32(b"schoolgate-chain-letter:")


def shingle_hashes(tokens: list[str]) -> frozenset[int]:
    """32-bit CRC of each word 4-gram: stable across processes (fingerprints are
    stored), in C, and cheap enough to run on every message."""
    if not tokens:
        return frozenset()
    if len(tokens) < SHINGLE_WORDS:
        return frozenset({zlib.crc32(" ".join(tokens).encode(), _SALT)})
    data = list(map(str.encode, tokens))  # UTF-8, as t.encode()
    # zip + map rather than a slice per shingle: the loop stays in C (0.22 -> 0.16 ms for
    # the 860-word newsletter, issue 19); the same 4-grams, so the same stored fingerprints
    grams = zip(*(data[k:] for k in range(SHINGLE_WORDS)))
    return frozenset(map(zlib.crc32, map(b" ".join, grams), itertools.repeat(_SALT)))


def sampled(hashes: Iterable[int]) -> frozenset[int]:
    return frozenset(h for h in hashes if h % SAMPLE == 0)


@dataclass(frozen=True, slots=True)
class KnownLetter:
    name: str
    shingles: frozenset[int]
    sampled: bool  # a fingerprint: compare with the message's sampled shingles
    source: str  # the file it came from (shown to reviewers)


def fingerprint_line(name: str, tokens: list[str]) -> str | None:
    """The stored form of one letter, or None when it is too short to fingerprint."""
    hashes = sorted(sampled(shingle_hashes(tokens)))
    if len(hashes) < MIN_FINGERPRINT_HASHES:
        return None
    if "\t" in name or "\n" in name:
        raise ValueError(f"fingerprint name {name!r} must not contain tabs or newlines")
    return f"{name}\t" + ",".join(f"{h:08x}" for h in hashes)


def _read_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def parse_fingerprints(path: Path) -> list[KnownLetter]:
    letters = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, hexes = line.partition("\t")
        try:
            hashes = frozenset(int(h, 16) for h in hexes.split(",")) if sep else frozenset()
        except ValueError:
            hashes = frozenset()
        if not name.strip() or len(hashes) < MIN_FINGERPRINT_HASHES:
            raise ValueError(f"{path}: line {line_no}: expected `name<TAB>hex,hex,...` with at least "
                             f"{MIN_FINGERPRINT_HASHES} hashes")
        letters.append(KnownLetter(name.strip(), hashes, True, path.name))
    return letters


def load_library(directories: Iterable[Path], tokenise: Callable[[str], list[str]]) -> list[KnownLetter]:
    """Every `*.txt` letter and `*.fingerprints` file of the directories (missing ones skipped)."""
    letters: list[KnownLetter] = []
    for directory in directories:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.txt")):
            grams = shingle_hashes(tokenise("\n".join(_read_lines(path))))
            if grams:
                letters.append(KnownLetter(path.stem, grams, False, path.name))
        for path in sorted(directory.glob("*.fingerprints")):
            letters.extend(parse_fingerprints(path))
    return letters


@dataclass(frozen=True, slots=True)
class Match:
    score: float  # 0..1
    letter: KnownLetter | None


NO_MATCH = Match(0.0, None)


def best_match(message: frozenset[int], library: Iterable[KnownLetter]) -> Match:
    """The highest share of a known letter's shingles found in the message
    (containment: a forward adds headers and chatter but keeps the letter), or
    of the message's found in the letter when the message is an excerpt."""
    if not message:
        return NO_MATCH
    message_sampled = sampled(message)
    best = NO_MATCH
    for letter in library:
        mine = message_sampled if letter.sampled else message
        common = len(mine & letter.shingles)
        if not common:
            continue
        score = max(common / len(letter.shingles),
                    common / len(mine) if len(mine) >= MIN_EXCERPT_SHINGLES // (SAMPLE if letter.sampled else 1)
                    else 0.0)
        if score > best.score:
            best = Match(score, letter)
    return best


class LibraryIndex:
    """The letters' shingles inverted (hash -> letters holding it), so a message is matched by
    one C set intersection with all the letters' hashes instead of one per letter plus a
    Python pass to sample the message (issue 19). best() gives best_match()'s answer."""

    def __init__(self, letters: Iterable[KnownLetter]) -> None:
        self.letters = tuple(letters)
        full: dict[int, list[int]] = {}
        part: dict[int, list[int]] = {}
        for number, letter in enumerate(self.letters):
            if letter.sampled:
                # only a sampled hash can be in the message's sample
                for h in letter.shingles:
                    if h % SAMPLE == 0:
                        part.setdefault(h, []).append(number)
            else:
                for h in letter.shingles:
                    full.setdefault(h, []).append(number)
        self._full, self._sampled = full, part
        self._full_keys, self._sampled_keys = frozenset(full), frozenset(part)

    def best(self, message: frozenset[int], extra: Iterable[KnownLetter] = ()) -> Match:
        """best_match(message, [*letters, *extra])."""
        if not message:
            return NO_MATCH
        common: dict[int, int] = {}
        for postings, keys in ((self._full, self._full_keys), (self._sampled, self._sampled_keys)):
            for h in message & keys:
                for number in postings[h]:
                    common[number] = common.get(number, 0) + 1
        best = NO_MATCH
        sampled_size = None
        for number in sorted(common):  # the library's order: the first of equal scores wins
            letter = self.letters[number]
            if letter.sampled:
                if sampled_size is None:
                    sampled_size = sum(1 for h in message if h % SAMPLE == 0)
                size, minimum = sampled_size, MIN_EXCERPT_SHINGLES // SAMPLE
            else:
                size, minimum = len(message), MIN_EXCERPT_SHINGLES
            found = common[number]
            score = max(found / len(letter.shingles), found / size if size >= minimum else 0.0)
            if score > best.score:
                best = Match(score, letter)
        extra = list(extra)
        if extra:
            more = best_match(message, extra)
            if more.score > best.score:
                best = more
        return best


# Reviewers' additions from the review page ("this is a chain letter: add to
# the library") live with the quarantine data, not in the shipped lists.
REVIEWED_DIR = "known_chain_letters"
REVIEWED_FILE = "reviewed.fingerprints"
_append_lock = threading.Lock()


def add_reviewed(quarantine_dir: Path, name: str, tokens: list[str]) -> Path | None:
    """Append one fingerprint line for a held message a reviewer marked as a
    chain letter; None when the text is too short to fingerprint."""
    line = fingerprint_line(name, tokens)
    if line is None:
        return None
    directory = Path(quarantine_dir) / REVIEWED_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / REVIEWED_FILE
    with _append_lock, open(path, "a", encoding="utf-8") as handle:
        if handle.tell() == 0:
            handle.write("# Added by reviewers from the review page (audited as chain_letter_library_add).\n")
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return path


@functools.lru_cache(maxsize=1)
def _shipped_normaliser():
    from config.loader import LISTS_DIR
    from filters.chain_letter_signals import Normaliser, parse_slang, read_list
    path = LISTS_DIR / "chain_letter_slang.txt"
    return Normaliser(parse_slang(read_list(path), str(path)))


def library_tokens(text: str) -> list[str]:
    """Normalised words of a text as the filter shingles them (shipped texting spellings)."""
    from filters.chain_letter_signals import words
    return words(_shipped_normaliser()(text))


def add_reviewed_message(quarantine_dir: Path, message_id: str, raw: bytes) -> Path | None:
    """Fingerprint a held message's text (decoded, HTML as text, quotes stripped) into the
    reviewers' library. Only hashes are written: the pupil's words stay in the quarantine."""
    from filters.directory import Directory
    from filters.message import Envelope, build_view

    view = build_view(raw, Envelope("", ()), Directory(None, {}, ()))
    return add_reviewed(quarantine_dir, f"reviewed-{message_id}", library_tokens(view.body_text))


class ReviewedLetters:
    """The reviewers' fingerprint file, re-read when it changes (one stat per message),
    so an addition counts from the next message on every node that shares the directory."""

    def __init__(self, quarantine_dir: Path | None) -> None:
        self._path = Path(quarantine_dir) / REVIEWED_DIR / REVIEWED_FILE if quarantine_dir else None
        self._stamp: tuple[float, int] | None = None
        self._letters: tuple[KnownLetter, ...] = ()

    def current(self) -> tuple[KnownLetter, ...]:
        if self._path is None:
            return ()
        try:
            stat = self._path.stat()
        except OSError:
            return ()
        stamp = (stat.st_mtime, stat.st_size)
        if stamp != self._stamp:
            try:
                self._letters = tuple(parse_fingerprints(self._path))
            except (OSError, ValueError):
                pass  # a half-written or damaged file: keep the last good set
            self._stamp = stamp
        return self._letters


def main(argv: list[str]) -> int:
    """Fingerprint letters given as text files (one letter per file), or the
    `train` rows of the Snopes corpus that ask to be forwarded: prints the lines."""
    import csv

    from config.loader import LISTS_DIR
    from filters.chain_letter_signals import Normaliser, parse_slang, read_list, words

    if not argv or argv[0] in ("-h", "--help") or (argv[0] == "--snopes" and len(argv) != 2):
        print("usage: python -m filters.chain_letter_library LETTER.txt ... >> site.fingerprints\n"
              "       python -m filters.chain_letter_library --snopes snopes_legends.csv > snopes_train.fingerprints",
              file=sys.stderr)
        return 2
    normalise = Normaliser(parse_slang(read_list(LISTS_DIR / "chain_letter_slang.txt"), "slang"))
    letters: list[tuple[str, str]] = []
    if argv[0] == "--snopes":
        with open(argv[1], newline="", encoding="utf-8") as handle:
            # train only: the test split measures the filter and must stay unseen
            letters = [(f"snopes-{row['source']}-{row['source_index']}", row["text"])
                       for row in csv.DictReader(handle)
                       if row["split"] == "train" and row["asks_to_forward_checked"] == "1"]
        print("# Fingerprints (sampled 32-bit word-4-gram hashes, no text) of the Snopes hoaxes of the\n"
              "# `train` split that ask to be forwarded (../shared/corpora/snopes-urban-legends-hoaxes,\n"
              "# asks_to_forward_checked = 1). The corpus licence does not allow its text to be shipped.\n"
              "# Rebuild: python -m filters.chain_letter_library --snopes .../snopes_legends.csv")
    else:
        letters = [(Path(name).stem, Path(name).read_text(encoding="utf-8")) for name in argv]
    for name, text in letters:
        line = fingerprint_line(name, words(normalise(text)))
        if line is None:
            print(f"{name}: too short to fingerprint", file=sys.stderr)
        else:
            print(line)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))

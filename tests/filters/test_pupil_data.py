"""pupil_data's fast paths give exactly what the plain algorithm gives (issue 19: same findings)."""
from __future__ import annotations

import random
import re

import pytest

from filters.name_match import fold
from filters.pupil_data import _MAX_GAP, PupilNameIndex
from tests.filters.test_corpus_parse import corpus_messages, needs_corpora

# The tokeniser distinct_in used before it walked runs of lower-case words as one match.
_NAME_TOKEN = re.compile(r"[A-Za-z\u00C0-\u024F][A-Za-z\u00C0-\u024F'\u2019-]*")


def plain_distinct_in(index: PupilNameIndex, text: str) -> set[int]:
    """Every token, one at a time: the reference the fast version must equal."""
    hashed: list[bytes | None] = []
    for word in _NAME_TOKEN.findall(text):
        if not word[0].isupper():
            hashed.append(None)
            continue
        digest = index._h(fold(word).replace("-", ""))
        hashed.append(digest if digest in index._tokens else b"")
    found: set[int] = set()
    for i, left in enumerate(hashed):
        if not left:
            continue
        for j in range(i + 1, min(i + 2 + _MAX_GAP, len(hashed))):
            right = hashed[j]
            if right is None:
                break
            if not right:
                continue
            pupil = index._pairs.get((left, right))
            if pupil is None and j == i + 1:
                pupil = index._pairs.get((right, left))
            if pupil is not None:
                found.add(pupil)
    return found


NAMES = ["Amy Jones", "Zoë O'Neil", "Mohammed Al Hassan", "Chloe Smith-Jones", "Łukasz Nowak", "Ava Shaw",
         "Ömer Çelik", "Jean-Luc Picard"]
PIECES = ["Amy", "Jones", "amy", "JONES", "Zoë", "Zoe", "O'Neil", "O\u2019Neil", "o'neil", "Smith-Jones",
          "Smith", "Chloe", "Al", "Hassan", "Mohammed", "Łukasz", "łukasz", "Nowak", "Ava", "Shaw", "Ömer",
          "Çelik", "Jean-Luc", "Picard", "said", "and", "the", "ß", "×", "Ærø", "x", "I", "-", "--", "'",
          "\u2019", ",", ", ", " ", "  ", "\n", "\t", ".", "5", "2024", ";", "(", ")", "é", "É", "ǅ", "ǈ",
          "Ɓ", "ɓ", "\u0100", "\u0101", "Jones-", "-Amy", "'Amy", "Amy's", "SHAW", "Shaw5Ava"]


@pytest.mark.parametrize("seed", range(40))
def test_distinct_in_equals_the_plain_walk_on_random_texts(seed):
    rng = random.Random(seed)
    index = PupilNameIndex(NAMES)
    for _ in range(200):
        text = "".join(rng.choice(PIECES) + rng.choice(["", " ", " ", ", ", "\n", "-"])
                       for _ in range(rng.randint(0, 30)))
        assert index.distinct_in(text) == plain_distinct_in(index, text), text


@pytest.mark.parametrize("text,count", [
    ("Amy Jones, Zoë O'Neil and Chloe Smith-Jones", 3),
    ("Jones, Amy; Nowak, Łukasz", 2),
    ("Amy went home and said Jones", 0),  # a lower-case run ends a name
    ("Amy Rose May Jones", 1),  # two capitalised words between
    ("Amy Rose May Kay Jones", 0),  # three: too far
    ("ZOE O\u2019NEIL", 1),
])
def test_distinct_in_cases(text, count):
    index = PupilNameIndex(NAMES)
    assert len(index.distinct_in(text)) == count == len(plain_distinct_in(index, text))


def test_distinct_in_equals_the_plain_walk_on_the_corpora():
    """Mail as written, with an index of names that occur in it (capitalised pairs of each
    message), so the corpora give matches and not only misses."""
    needs_corpora()
    checked = matched = 0
    for number, (_name, raw) in enumerate(corpus_messages()):
        if number % 3:
            continue  # a third of them: ~1,100 messages, a few seconds
        text = raw.decode("utf-8", "replace")[:20_000]
        words = [w for w in _NAME_TOKEN.findall(text) if w[0].isupper()]
        index = PupilNameIndex(f"{a} {b}" for a, b in zip(words[::7], words[1::7]))
        fast, plain = index.distinct_in(text), plain_distinct_in(index, text)
        assert fast == plain, _name
        checked += 1
        matched += bool(plain)
    assert checked > 500 and matched > 100


def test_keyed_hash_is_blake2b_with_the_key():
    """_h copies blake2b's keyed state instead of keying it per word: the same digests."""
    import hashlib
    import random
    index = PupilNameIndex(NAMES)
    rng = random.Random(19)
    tokens = ["", "amy", "o'neill", "smith-jones", "zoë", "x" * 300] + [
        "".join(rng.choice("abcdéíøß'-") for _ in range(rng.randint(1, 40))) for _ in range(500)]
    for token in tokens:
        assert index._h(token) == hashlib.blake2b(token.encode(), digest_size=12, key=index._key).digest()


def test_only_words_with_a_name_tokens_bits_reach_the_keyed_hash():
    """The 16-bit first pass: ordinary capitalised words mostly skip blake2b, names never do."""
    class Counting(PupilNameIndex):
        hashed: list[str] = []

        def _h(self, token: str) -> bytes:
            self.hashed.append(token)
            return super()._h(token)

    index = Counting(NAMES)
    Counting.hashed = []
    words = [f"Word{n}x" for n in range(2000)]
    text = " ".join(words) + " Amy Jones and Ava Shaw"
    assert len(index.distinct_in(text)) == 2
    assert {"amy", "jones", "ava", "shaw"} <= set(Counting.hashed)
    assert len(Counting.hashed) < 200  # of 2,004 distinct capitalised words
    assert not hasattr(index, "_token_keys")  # the plain tokens are not kept

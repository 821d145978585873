"""Lexicon.joined: the matching string is each token resolved on its own (issue 19: the per-call
memo of plain tokens changes the cost, not the string)."""
from __future__ import annotations

import pytest

from filters.base import FilterContext
from filters.offensive import OffensiveFilter, Options
from tests.filters.test_corpus_parse import corpus_messages, needs_corpora


@pytest.fixture(scope="module")
def lexicon():
    return OffensiveFilter(Options(), FilterContext(settings=None, directory=None))._lexicon


def reference_joined(lexicon, normalised) -> tuple[str, list[int]]:
    parts = [lexicon._resolve(token) for token in normalised.tokens]
    starts, position = [], 1
    for part in parts:
        starts.append(position)
        position += len(part) + 1
    return " " + " ".join(parts) + " ", starts


@pytest.mark.parametrize("text", [
    "you f*cking idiot, f**k off and fuuuuck this, shiiit shitt",
    "Bless you, the the THE class; assess the assessment. Mississippi bookkeeper!",
    "f u c k you s h i t, ***, *$680 mil*, a*s, @ss h0le, sh1t sh1t",
    "",
])
def test_joined_equals_resolving_each_token(lexicon, text):
    normalised = lexicon.normalise(text)
    assert lexicon.joined(normalised) == reference_joined(lexicon, normalised)


def test_joined_equals_resolving_each_token_on_the_corpora(lexicon):
    needs_corpora()
    checked = 0
    for number, (name, raw) in enumerate(corpus_messages()):
        if number % 4:
            continue
        normalised = lexicon.normalise(raw.decode("utf-8", "replace")[:20_000])
        assert lexicon.joined(normalised) == reference_joined(lexicon, normalised), name
        checked += 1
    assert checked > 500


@pytest.mark.parametrize("word", ["fuuk", "shitt", "assess", "bookkeeper", "cool", "miss", "a1122", "xx", "bitchh",
                                  "nigga", "wanker", "fukk", "ccock", "dickk", "twatt"])
def test_a_doubled_plain_word_resolves_as_a_token(lexicon, word):
    assert lexicon._resolve_doubled(word) == lexicon._resolve_word(word)


def test_doubled_words_are_the_regex_findall() -> None:
    """doubled_words (numpy on ASCII, the regex otherwise) gives _DOUBLED_WORD.findall's words,
    in order: doubled letters, digits and "_", marks that are not word characters ("!!"),
    several pairs in a word, non-ASCII words."""
    import random
    from filters import lexicon
    rng = random.Random(5)
    vocab = ["book", "a", "aa", "hello", "week's", "f**k", "zz", "__", "x_", "é", "éé", "café", "1100",
             "s!!", "ab", "bba", "cc", "dd", "**", "''"]
    lines = [" ", "  ", " aa ", " book keeper "]
    for _ in range(20000):
        words = [rng.choice(vocab) + rng.choice(["", "b", "bb", "1", "11"]) for _ in range(rng.randrange(0, 12))]
        lines.append(" " + " ".join(words) + " ")
    for line in lines:
        assert lexicon.doubled_words(line) == [w for w, _ in lexicon._DOUBLED_WORD.findall(line)], line

"""Normalisation undoes evasions and keeps spans pointing at what the sender wrote."""
from __future__ import annotations

import pytest

from filters.text.normalise import fold, normalise, squeeze


@pytest.mark.parametrize("text, words, spans", [
    ("Hello World", ["hello", "world"], ["Hello", "World"]),
    ("sh1t @ss", ["shit", "ass"], ["sh1t", "@ss"]),
    ("f u c k off", ["fuck", "off"], ["f u c k", "off"]),
    ("f.u.c.k", ["fuck"], ["f.u.c.k"]),
    ("f-u-c-k", ["fuck"], ["f-u-c-k"]),
    ("fuuuuck", ["fuuck"], ["fuuuuck"]),
    ("ｆｕｃｋ", ["fuck"], ["ｆｕｃｋ"]),  # full-width (NFKC)
    ("fu\u200bck", ["fuck"], ["fu\u200bck"]),  # zero-width space inside the word
    ("\u0441\u0430t", ["cat"], ["\u0441\u0430t"]),  # Cyrillic look-alikes
    ("fück", ["fuck"], ["fück"]),  # accents dropped
    ("don\u2019t you're", ["dont", "youre"], ["don\u2019t", "you're"]),
    ("idiot!!!", ["idiot"], ["idiot"]),
    ("f*ck", ["f*ck"], ["f*ck"]),
    ("in 2024, 10 pupils", ["in", "2024", "10", "pupils"], ["in", "2024", "10", "pupils"]),
])
def test_tokens_and_original_spans(text: str, words: list[str], spans: list[str]) -> None:
    result = normalise(text)
    assert [t.text for t in result.tokens] == words
    assert [text[t.start:t.end] for t in result.tokens] == spans


@pytest.mark.parametrize("text, flag", [("fuuuck", "elongated"), ("f**k", "masked")])
def test_flags(text: str, flag: str) -> None:
    assert getattr(normalise(text).tokens[0], flag)


def test_spelled_letters_joined_only_when_joinable() -> None:
    result = normalise("u r a loser", joinable=lambda word: word == "fuck")
    assert [t.text for t in result.tokens] == ["u", "r", "a", "loser"]


def test_evidence_covers_token_range() -> None:
    text = "Well, you are a  L0SER!"
    result = normalise(text)
    assert result.evidence(1, 4) == "you are a  L0SER"


@pytest.mark.parametrize("word, squeezed", [("fuuuck", "fuck"), ("ass", "as"), ("cool", "col")])
def test_squeeze(word: str, squeezed: str) -> None:
    assert squeeze(word) == squeezed


def test_fold_offsets_map_back_for_expanding_characters() -> None:
    folded, origin = fold("ﬁne")  # the "fi" ligature becomes two letters
    assert folded == "fine"
    assert origin == [0, 0, 1, 2]

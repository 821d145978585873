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


# -- the columns are the token-by-token normaliser's tokens (issue 19: the cost changed, not the tokens)

def reference_tokens(text: str, joinable=None) -> list:
    """The normaliser as it was before its columns: one Token per match, each cleaned on its own."""
    from filters.text.normalise import _TOKEN, _TRAILING, Token, _clean_token, _join_spelled
    folded, origin = fold(text)
    tokens = []
    for match in _TOKEN.finditer(folded):
        raw = match.group()
        cleaned = _clean_token(raw)
        if cleaned is None:
            continue
        word, elongated, masked = cleaned
        start = match.start()
        kept = len(raw) if raw[-1] not in _TRAILING else len(raw.rstrip(_TRAILING))
        tokens.append(Token(word, origin[start], origin[start + kept - 1] + 1, elongated, masked))
    return _join_spelled(tokens, text, joinable)


def same_as_reference(text: str, joinable=None) -> None:
    result = normalise(text, joinable)
    expected = reference_tokens(text, joinable)
    assert list(result.tokens) == expected, text[:200]
    assert (result.words, result.starts, result.ends) == (
        [t.text for t in expected], [t.start for t in expected], [t.end for t in expected]), text[:200]
    assert result.flags == {i: (t.elongated, t.masked) for i, t in enumerate(expected)
                            if t.elongated or t.masked}, text[:200]


@pytest.mark.parametrize("text", [
    "", "a", "Hello World", "sh1t @ss f*ck f**k idiot!!! fuuuuck www.example.sch.uk",
    "in 2024, 10 pupils paid $5 and £5; @@ !! ## ''", "f u c k you s h i t, a b c d e, u r a loser",
    "ｆｕｃｋ fu\u200bck \u0441\u0430t fück ﬁne Straße ǅemal", "don\u2019t you're who're who'r",
    "aaa bbbb c c c dddd!!!e", "$$$ @#! a@b 1st 2nd x__y $a_b_c", "Iİıi KELVIN \u212a \u0130stanbul",
])
def test_columns_equal_the_token_by_token_normaliser(text):
    same_as_reference(text)
    same_as_reference(text, joinable=lambda word: word == "fuck")


def test_columns_equal_the_token_by_token_normaliser_on_random_text():
    import random
    rng = random.Random(19)
    alphabet = "aabcdeiou  .,-_*'!@$|+#1340€£\u2019\u0441\u0430ü\u200b\nAB"
    for _ in range(4000):
        same_as_reference("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))))


def test_columns_equal_the_token_by_token_normaliser_on_the_corpora():
    from tests.filters.test_corpus_parse import corpus_messages, needs_corpora
    needs_corpora()
    checked = 0
    for number, (name, raw) in enumerate(corpus_messages()):
        if number % 3:
            continue
        same_as_reference(raw.decode("utf-8", "replace")[:20_000])
        checked += 1
    assert checked > 500


@pytest.mark.parametrize("raw", ["2024", "week's", "parents'", "who're", "who'r", "fooo's", "don't", "o'", "'s",
                                 "sh1t", "5pm", "f*ck", "idiot!!", "@ss", "a'b'c", "x1'", "12'", "ǅ'a"])
def test_clean_token_fast_paths_are_the_loop(raw):
    """_clean_token's early answers for numbers and apostrophe words equal its per-character loop."""
    from filters.text.normalise import _CONTRACTIONS, _RUN3, _TRAILING, LEET, MASK, _clean_token
    stripped = raw.rstrip(_TRAILING)
    if raw.isalpha() or not stripped:
        return
    if not any(c.isalpha() for c in stripped):
        expected = (stripped, False, False) if stripped.isdigit() else None
    elif stripped in _CONTRACTIONS:
        expected = (_CONTRACTIONS[stripped], False, False)
    else:
        text = "".join(LEET.get(c, MASK if c in "*#" else c) for c in stripped if c != "'")
        elongated = bool(_RUN3.search(text))
        expected = (_RUN3.sub(r"\1\1", text) if elongated else text, elongated, MASK in stripped or "#" in stripped)
    assert _clean_token(raw) == expected


def test_has_triple_is_the_substring_test() -> None:
    """has_triple (numpy over long ASCII text, `in` otherwise) says what `any(t in text)` says:
    a triple at either end, runs of two, four, triples of characters not asked for, non-ASCII."""
    import random
    from filters.text.normalise import _ASCII_TRIPLES, has_triple
    letters = tuple(c * 3 for c in "abcdefghijklmnopqrstuvwxyz")
    rng = random.Random(23)
    pieces = ["a", "aa", "aaa", "b", "zz", "zzz", "1", "111", "__", "___", " ", "...", "!!!", "é", "ééé", "x", "y9"]
    texts = ["", "aaa", "a" * 600, "b" + "ab" * 400 + "ccc", "ccc" + "ab" * 400, "ab" * 400 + "..." * 3]
    for _ in range(3000):
        texts.append("".join(rng.choice(pieces) for _ in range(rng.choice((5, 40, 300, 900)))))
    for text in texts:
        for triples in (_ASCII_TRIPLES, letters):
            assert has_triple(text, triples) == any(t in text for t in triples), text[:60]


def test_three_single_letter_words_as_the_bool_form() -> None:
    """_three_single (lengths as bytes) says what the bool form said, long words included."""
    import random
    from filters.text import normalise as N
    rng = random.Random(29)
    choices = ["a", "b", "ab", "abc", "x" * 300, "y" * 255, "z" * 256]
    for _ in range(5000):
        words = [rng.choice(choices) for _ in range(rng.randrange(0, 12))]
        assert N._three_single(words) == (N._ONE_LETTER_RUN in bytes(map(N._is_one, map(len, words)))), words

"""The chain-letter sentence split and normaliser: their fast paths give what the plain regexes give (issue 19)."""
from __future__ import annotations

import random

import pytest

from config.loader import LISTS_DIR
from filters import chain_letter_signals as sig
from tests.filters.test_corpus_parse import corpus_messages, needs_corpora


@pytest.fixture(scope="module")
def normaliser() -> sig.Normaliser:
    path = LISTS_DIR / "chain_letter_slang.txt"
    return sig.Normaliser(sig.parse_slang(sig.read_list(path), str(path)))


def reference_normal(normaliser: sig.Normaliser, text: str) -> str:
    """Normaliser.__call__ with every step run (no prechecks)."""
    text = text.translate(sig._QUOTES)
    if not text.isascii():
        text = sig.fold(text)
    text = sig._QUOTE_PREFIX.sub("", text)
    text = sig._STRETCH.sub(r"\1", text.lower())
    text = sig._SPACES.sub(" ", text).strip()
    if normaliser._slang_re is not None:
        text = normaliser._slang_re.sub(lambda m: normaliser._slang[m.group(0)], text)
    text = sig._TWO.sub("to", text)
    return sig._FOUR.sub("for", text)


def reference_segments(normaliser: sig.Normaliser, text: str) -> list[sig.Segment]:
    """segments() with the lookbehind stop pattern and the reference normaliser."""
    out = []
    start = 0
    for match in [*sig._SEGMENT_END.finditer(text), None]:
        end = match.start() if match is not None else len(text)
        piece = text[start:end]
        if piece.strip():
            if len(piece) <= sig.MAX_SEGMENT:
                out.append(sig.Segment(piece.strip(), reference_normal(normaliser, piece)))
            else:
                lines = [m for m in sig._LINE.finditer(piece) if m.group(0).strip()]
                for i, line in enumerate(lines):
                    last = lines[i + 1] if i + 1 < len(lines) else line
                    span = piece[line.start():last.end()][:sig.MAX_SEGMENT * 2]
                    out.append(sig.Segment(span.strip(), reference_normal(normaliser, span)))
        if match is not None:
            start = match.end()
    return out


@pytest.mark.parametrize("text", [
    "", "Send this to 10 people. Or else!!! 2 people\n\n> > quoted\n>\n4 you", "a.\n\n.b!?\n \n\"x.\") y",
    "pls send 2 ur friends 4 luck \U0001F340 b4 midnite. Thx", "1\u20e3 2 3 4 \u2026 \u00a0 x\x00y. 2. 4. z",
    "A " * 400 + "\nline two\n> line three 2\nline 4 you", "Trimite la 10 prieteni \u0219i ai noroc. Wy\u015blij 2 osobom",
    "soooo cool 2\n\n4\n\n4 u PLEEEASE fwd dis", "\u2018quoted\u2019 \u201cdouble\u201d \u2013 dash \u2014 end.",
    "ééé ur ppl's u'r fwd", "?\n\n!", "..  .", "x!\n>\n>\ny",
])
def test_segments_are_the_plain_regexes(normaliser, text):
    assert sig.segments(text, normaliser) == reference_segments(normaliser, text)


def test_segments_are_the_plain_regexes_on_random_text(normaliser):
    rng = random.Random(19)
    alphabet = ["a", "o", "e", "eee", "2", "4", " ", "\n", ">", ".", "!", "?", "'", "\"", ")", "]", "pls", "u",
                "people", "you", "\t", "\u00e9", "\U0001F340", "\u20e3", "\ufe0f", "\u2019", "\u0142", "ur", "b4",
                "\u00a0", ",", "ppl's", "OOO"]
    for _ in range(4000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        assert sig.segments(text, normaliser) == reference_segments(normaliser, text), repr(text)


def test_segments_of_ascii_text_without_stretched_letters(normaliser):
    """The whole-message slang test (ASCII text, no tripled letter): pieces of a text with no
    texting spelling skip the per-piece test, and give what the plain regexes give; pieces
    over MAX_SEGMENT (cut by lines) and texts with a spelling keep it."""
    rng = random.Random(23)
    alphabet = ["a", "o", "ee", "2", "4", " ", "\n", "\n\n", ">", ".", "!", "?", "'", "\"", ")", "]", "pls", "u",
                "people", "you", "\t", "ur", "b4", ",", "ppl's", "ppl", "fwd", "'fwd", "fwd'", "xfwd", "word " * 30]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        assert sig.segments(text, normaliser) == reference_segments(normaliser, text), repr(text)
        plain = text.replace("ur", "xr").replace("u", "x")  # fewer spellings: the skip applies more often
        assert sig.segments(plain, normaliser) == reference_segments(normaliser, plain), repr(plain)


def test_a_site_spelling_that_is_not_a_word_still_applies():
    normaliser = sig.Normaliser({"u": "you", "<3": "love"})
    assert normaliser("i <3 u") == "i love you"


def test_segments_are_the_plain_regexes_on_the_corpora(normaliser):
    needs_corpora()
    checked = 0
    for number, (name, raw) in enumerate(corpus_messages()):
        if number % 3:
            continue
        text = raw.decode("utf-8", "replace")[:sig.MAX_TEXT]
        assert sig.segments(text, normaliser) == reference_segments(normaliser, text), name
        checked += 1
    assert checked > 500


def test_library_index_gives_best_match():
    """LibraryIndex.best is best_match over the same letters (and the reviewers' extra ones)."""
    from filters import chain_letter_library as lib
    rng = random.Random(19)
    pool = [rng.getrandbits(32) for _ in range(400)]
    letters = []
    for n in range(40):
        shingles = frozenset(rng.sample(pool, rng.randint(1, 60)))
        sampled = n % 3 == 0
        letters.append(lib.KnownLetter(f"l{n}", lib.sampled(shingles) or shingles if sampled else shingles,
                                       sampled, "t"))
    letters.append(letters[5])  # the same letter twice: the first is named
    index = lib.LibraryIndex(letters[:30])
    for _ in range(500):
        message = frozenset(rng.sample(pool, rng.randint(0, 120)))
        assert index.best(message, letters[30:]) == lib.best_match(message, letters), sorted(message)[:5]


def test_words_are_the_word_pattern():
    """words() on ASCII text (bytes translate + split) is _WORD.findall."""
    rng = random.Random(19)
    alphabet = "abz09$'£€ .,-\n\tAZ_!é"
    texts = ["fwd this 2 10 ppl's $5 it's", "", "   ", "UPPER lower_mixed a-b"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 50))) for _ in range(3000)]
    for text in texts:
        assert sig.words(text) == sig._WORD.findall(text), repr(text)


def test_band_keys_are_the_min_hashes_of_their_definition() -> None:
    """band_keys computes the min-hashes with numpy; the keys are stored in the seen store and
    shared between nodes, so they must stay exactly the scalar definition's:
    min over shingles of ((h ^ seed) * 0xFF51AFD7ED558CCD) mod 2**64, h = blake2b-64 of 4 words."""
    import hashlib

    def reference(tokens: list[str]) -> list[str]:
        hashes = {int.from_bytes(hashlib.blake2b(" ".join(tokens[i:i + 4]).encode(), digest_size=8).digest(), "big")
                  for i in range(max(1, len(tokens) - 3))}
        mins = [min(((h ^ seed) * 0xFF51AFD7ED558CCD) % 2**64 for h in hashes) for seed in sig._SEEDS]
        return [f"{band}:" + "-".join(f"{v:x}" for v in mins[band * sig.ROWS:(band + 1) * sig.ROWS])
                for band in range(sig.BANDS)]

    rng = random.Random(7)
    for length in (0, 1, 3, 4, 5, 60, 900):
        for _ in range(5):
            tokens = [rng.choice(["pass", "this", "on", "to", "ten", "friends", "luck", "zażółć"]) for _ in range(length)]
            assert sig.band_keys(tokens) == reference(tokens)


def test_shingle_digests_are_each_shingles_blake2b() -> None:
    """_shingle_digests hashes slices of the body encoded once: the same bytes as each shingle
    joined and encoded alone, for short bodies, non-ASCII and empty tokens."""
    import hashlib
    rng = random.Random(11)
    vocab = ["pass", "this", "on", "a", "zażółć", "£5", "", "🔪", "it's", "x y"]
    for length in list(range(0, 12)) + [50, 321]:
        for _ in range(200):
            tokens = [rng.choice(vocab) for _ in range(length)]
            want = b"".join(hashlib.blake2b(" ".join(tokens[i:i + 4]).encode(), digest_size=8).digest()
                            for i in range(max(1, len(tokens) - 3)))
            assert sig._shingle_digests(tokens) == want, tokens

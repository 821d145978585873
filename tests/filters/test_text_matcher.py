"""The shared multi-pattern prefilter: never misses what the Python patterns match."""
from __future__ import annotations

import csv
import re

import pytest

from filters.base import FilterContext
from filters.offensive import OffensiveFilter, Options
from filters.text import matcher
from filters.text.matcher import PatternDatabase, widen
from tests.factories import CORPORA


@pytest.mark.parametrize("pattern, text", [
    (r"(?<![a-z0-9])(?:you (?:idiot|loser))(?![a-z0-9])", " you idiot "),
    (r"dead(?! (?:right|wrong)(?: |$))", " you re dead "),
    (r"(?:\w+ ){0,3}kill", " i will really kill "),
    (r"[^\w\s]{2}", "?!"),
    (r"\bcafé\b", "un café noir"),
    (r"[\w]+ é", "naïve é"),
    (r"\d{2,}", "٣٤"),  # Arabic-Indic digits are \d to Python
])
def test_widened_pattern_matches_what_the_original_matches(pattern: str, text: str) -> None:
    assert re.search(pattern, text)
    db = PatternDatabase()
    route = db.register("t", [re.compile(pattern)])
    db.compile()
    assert db.candidates(route, db.scan(text)) == [0]


def test_widen_drops_lookarounds_and_boundaries() -> None:
    assert widen(r"(?<![a-z0-9])ab(?! (?:x|y)(?: |$))c\b") == "abc"
    assert widen(r"[(?!]") == "[(?!]"  # inside a class a "(?!" is three literals


def test_routes_keep_owners_apart() -> None:
    db = PatternDatabase()
    a = db.register("a", [re.compile("apple"), re.compile("pear")])
    b = db.register("b", [re.compile("pear")])
    db.compile()
    hits = db.scan("a pear")
    assert db.candidates(a, hits) == [1]
    assert db.candidates(b, hits) == [0]
    with pytest.raises(RuntimeError):
        db.register("c", [re.compile("late")])


def test_a_pattern_the_engine_refuses_is_always_a_candidate() -> None:
    db = PatternDatabase()
    route = db.register("t", [re.compile(r"(a)\1"), re.compile("zzz")])  # RE2 has no backreferences
    db.compile()
    assert db.candidates(route, db.scan("nothing here")) == ([0] if matcher.ENGINE == "re2" else [0, 1])


def test_a_set_too_big_to_compile_leaves_every_pattern_to_python(caplog) -> None:
    """Fail safe: a prefilter RE2 cannot build within its memory must not hide a match."""
    patterns = [re.compile(f"(?:[a-z]{{2,9}} ){{1,6}}word{n}(?:[a-z]{{1,5}} ){{0,4}}end") for n in range(200)]
    db = PatternDatabase(max_mem=1 << 16)
    route = db.register("t", patterns)
    with caplog.at_level("WARNING", logger="filters.text.matcher"):
        db.compile()
    assert db.candidates(route, db.scan("nothing here")) == list(range(200))
    assert "every pattern runs in Python" in caplog.text


def test_engine_is_re2() -> None:
    """google-re2 is a dependency: the fallback (every pattern every time) is for odd platforms."""
    assert matcher.ENGINE == "re2"


def test_offensive_patterns_never_missed_on_corpora() -> None:
    """Every offensive context pattern that matches a corpus text (normalised as the filter
    does) is among the candidates of the one scan."""
    flt = OffensiveFilter(Options(model=False), FilterContext(settings=None, directory=None))
    texts = ["you are such a loser", "i will kill you", "you re dead", "shut the fuck up", "nobody asked u",
             "people like you should die", "your stupid face", "the weather is nice"]
    index = CORPORA / "jigsaw-toxic-sample-ibm" / "test_examples.csv"
    if index.exists():
        with open(index, encoding="utf-8", errors="replace") as handle:
            texts += [max(row, key=len)[:2000] for row in list(csv.reader(handle))[1:400]]
    lexicon, db, route = flt._lexicon, flt._pattern_db, flt._pattern_route
    matched = 0
    for text in texts:
        joined = lexicon.joined(lexicon.normalise(text))[0]
        truth = [i for i, p in enumerate(flt._patterns) if p.regex.search(joined)]
        candidates = db.candidates(route, db.scan(joined))
        assert set(truth) <= set(candidates), text
        matched += bool(truth)
    assert matched >= 5


def _corpus_texts(limit: int = 300) -> list[str]:
    texts = []
    for path in sorted(CORPORA.glob("*/*.csv"))[:10]:
        with open(path, encoding="utf-8", errors="replace") as handle:
            texts += [max(row, key=len)[:5000] for row in list(csv.reader(handle))[1:limit] if row]
    return texts


def test_ascii_twins_match_exactly_what_python_matches() -> None:
    """AsciiFast: on ASCII text the RE2 twin gives Python's matches, group for group."""
    from filters import pupil_data
    from filters.text.matcher import AsciiFast

    crafted = ["DOB: 01/02/2010, SEN support, EHCP, child protection plan, CIN, LAC",
               "candidate no. 1234 and Candidate Number: 5678", "UPN A123 4567 89 01B and B12345678901C",
               "FSM6 FSM eligible free school meals Pupil Premium, fixed-term exclusion; attendance %",
               "a\x0bDOB\x1cSEN\x1fEAL\tethnicity\x0cisolation", "medication\x1ddiagnosed\vasthma"]
    texts = crafted + [t for t in _corpus_texts() if t.isascii()]
    for pattern in (pupil_data._ALL_TERMS, pupil_data._UPN, pupil_data._CANDIDATE_INLINE,
                    re.compile(r"\s+x\S*[\s\d]"), re.compile(r"(?i)[^\s]+ care\b")):
        fast = AsciiFast(pattern)
        assert fast._twin is not None, pattern.pattern[:60]
        for text in texts:
            want = [(m.span(), m.lastgroup, m.groups()) for m in pattern.finditer(text)]
            got = [(m.span(), m.lastgroup, m.groups()) for m in fast.finditer(text)]
            assert got == want, (pattern.pattern[:60], text[:80])
            assert fast.findall(text) == pattern.findall(text)


def test_lookaround_patterns_search_from_re2s_first_candidate() -> None:
    """AsciiFast of a pattern with lookarounds: RE2 (the widened form) finds where Python's
    search starts; the first match is Python's own, on crafted, random and corpus ASCII text."""
    import random
    from filters import personal_address
    from filters.text.matcher import AsciiFast
    patterns = [personal_address._WORK_MARKERS["pupils/students"][0], re.compile(r"(?<=\d)px\b"),
                re.compile(r"(?i)\bfree(?! school)\b"), re.compile(r"(?<![a-z])cat(?=s\b)")]
    pieces = ["student", "students", " loan", " loans", " discount", "pupil", "learner", "x", " ", "9",
              "px", "Free", " school", "cats", "cat", "s", "-", "\n", "STUDENT"]
    rng = random.Random(19)
    texts = ["student loans for students", "a student discount", "Students' union", "3px 9pxx",
             "free school meals, free entry"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randrange(0, 25))) for _ in range(3000)]
    texts += [t for t in _corpus_texts() if t.isascii()]
    for pattern in patterns:
        fast = AsciiFast(pattern)
        assert fast._ahead is not None and fast._twin is None, pattern.pattern
        for text in texts:
            want, got = pattern.search(text), fast.search(text)
            assert (want and (want.span(), want.group(0))) == (got and (got.span(), got.group(0))), \
                (pattern.pattern, text[:80])


def test_ascii_twin_leaves_other_text_to_python() -> None:
    from filters.text.matcher import AsciiFast
    fast = AsciiFast(re.compile(r"\bSEN\b"))
    assert [m.span() for m in fast.finditer("éSEN SEN")] == [m.span() for m in re.finditer(r"\bSEN\b", "éSEN SEN")]


def test_spans_are_pythons_finditer_spans() -> None:
    """AsciiFast.spans (RE2 asked with the text's bytes) gives `finditer`'s spans: the threat
    anchors and an alternation on crafted, random and corpus text; non-ASCII text and a pattern
    that matches empty go to Python and give the same."""
    import random
    from filters import threat_cues
    from filters.text.matcher import AsciiFast
    from filters.text.model import model_text
    patterns = [threat_cues._ANCHOR, re.compile(r"\b(?:cat|category|dog)s?\b"), re.compile(r"x*"),
                re.compile(r"a\s+b")]
    pieces = ["kill", "k1ll", "k i l l", "shoot", "hurt", "dead", "die", "watch your back", "see you next",
              "i'll", "'", " ", "  ", "\n", ".", "!", "cat", "category", "dogs", "x", "xx", "a", "b",
              "\x0b", "\x1c", "\t", "é", "\u00a0", "🔪", "9", "-", "_"]
    rng = random.Random(19)
    texts = ["i will kill you", "", "x", "see you next week at the gates", "k.i.l.l and kiiill"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randrange(0, 40))) for _ in range(3000)]
    texts += [model_text(t) for t in _corpus_texts()]
    for pattern in patterns:
        fast = AsciiFast(pattern)
        assert fast._twin is not None, pattern.pattern[:60]
        # the installed google-re2 has the raw search spans() uses: else this would only compare
        # Python's re with itself (the fallback for a release without it)
        assert matcher._UNANCHORED is not None and getattr(fast._twin, "_regexp", None) is not None
        for text in texts:
            assert fast.spans(text) == [m.span() for m in pattern.finditer(text)], (pattern.pattern[:60], text[:80])


def test_python_space_is_widened() -> None:
    """Python's \\s takes a no-break space (HTML mail is full of them); RE2's does not, unwidened."""
    db = PatternDatabase()
    route = db.register("t", [re.compile(r"kill\s+you"), re.compile(r"[\s,]x")])
    db.compile()
    assert db.candidates(route, db.scan("kill\u00a0you \u2003x")) == [0, 1]


def test_threat_patterns_never_missed() -> None:
    """Every threat_cues pattern that matches a sentence as find() reads it is a candidate of the
    risk filter's one scan, so skipping the sentences with none drops no threat."""
    from filters import threat_cues
    from filters.risk import Options as RiskOptions, RiskFilter
    from filters.text import sentences
    from filters.text.model import prepare
    from tests.filters import test_threats
    flt = RiskFilter(RiskOptions(), FilterContext(settings=None, directory=None))
    db, route = flt._threat_db, flt._threat_route
    patterns = [pattern for _kind, _needs, pattern in threat_cues.KINDS]
    texts = [t for name in ("DIRECT", "CONDITIONAL", "GROUP", "WEAPON", "DISCLOSURE", "NOT_THREATS")
             for t in getattr(test_threats, name, [])]
    texts += ["i will kill\u00a0you tomorrow", "ill stab u after school", "im gonna shoot\u2003up the school"]
    for text in _corpus_texts(200):
        texts += [text[a:b] for a, b in sentences.spans(text)]
    matched = 0
    for text in texts:
        readable = threat_cues.readable(prepare(text))
        truth = [i for i, p in enumerate(patterns) if p.search(readable)]
        assert set(truth) <= set(db.candidates(route, db.scan(readable))), text
        matched += bool(truth)
    assert matched >= 50

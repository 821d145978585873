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

"""The shared per-message text analysis (filters/text/analysis.py): built once, shared, freed with its message."""
from __future__ import annotations

import dataclasses
import gc
import random
import re
import threading
import weakref

import pytest

from filters.text import sentences
from filters.text.analysis import TextAnalysis, analysis_of
from filters.text.quoted import split_quoted
from filters.text.sources import message_texts
from filters.text.normalise import normalise
from tests.factories import make_message, make_view

BODY = ("Dear Parents,\n\nThe concert is on Friday. Tickets are free!\n\n"
        "On Mon, 1 Dec 2026, Miss Smith wrote:\n> can you bring a cake?\n")


def _view():
    raw = make_message(BODY, subject="Concert", html="<p>The concert is on <b>Friday</b>.</p>")
    return make_view(raw)


def test_every_view_has_one_analysis_and_each_value_is_built_once():
    view = _view()
    assert isinstance(view.analysis, TextAnalysis) and analysis_of(view) is view.analysis
    texts = view.analysis.texts(10_000)
    assert texts is view.analysis.texts(10_000)  # the same object: built once, then read
    assert list(texts) == message_texts(view, 10_000)
    assert view.analysis.texts(12) == tuple(message_texts(view, 12))  # another limit, its own value
    assert view.body_text is view.body_text is view.analysis.body_text
    assert view.body_text == "\n\n".join(p.text for p in view.text_parts if p.text)
    assert view.all_text == "\n\n".join(c for c in [view.subject, view.body_text] if c)


def test_values_are_what_the_text_modules_compute():
    view = _view()
    text = view.body_text
    assert list(view.analysis.sentence_spans(text)) == sentences.spans(text)
    assert view.analysis.quoted(text) == split_quoted(text)
    own, quoted = view.analysis.quoted(text)
    assert "Miss Smith wrote:" in quoted and "Tickets are free!" in own and "Miss Smith" not in own
    joinable = lambda word: word == "fuck"  # noqa: E731 - a word list's joinable test
    assert view.analysis.normalised("f u c k off", joinable) == normalise("f u c k off", joinable)
    assert view.analysis.normalised("f u c k off", joinable) is view.analysis.normalised("f u c k off", joinable)
    assert view.analysis.normalised("a b c", None).tokens[0].text == "abc"  # no joinable: always joined


def test_header_lookups_read_one_index_and_answer_as_the_walk_did():
    raw = make_message(BODY, subject="Concert", headers={"X-Tag": "one", "x-tag": "two", "RECEIVED": "r1"})
    view = make_view(raw)
    assert view.analysis.headers_by_name is view.analysis.headers_by_name  # built once
    for name in ("Subject", "subject", "X-TAG", "x-tag", "Received", "Missing", "From", "to"):
        walked = [value for key, value in view.headers if key.lower() == name.lower()]
        assert view.header_all(name) == walked
        assert view.header(name, "none") == (walked[0] if walked else "none")
    assert view.header_all("x-tag") == ["one", "two"]


def test_filters_asking_at_once_from_threads_get_one_computation():
    view = _view()
    calls = []
    barrier = threading.Barrier(8)

    def build():
        calls.append(1)
        return "built"

    results = []

    def ask():
        barrier.wait()
        results.append(view.analysis._get(("test",), build))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["built"] * 8 and len(calls) == 1


def test_the_analysis_dies_with_its_message_without_the_collector():
    view = _view()
    view.analysis.texts(1000)
    analysis = weakref.ref(view.analysis)
    gone = weakref.ref(view)
    gc.disable()  # no cycle: reference counting alone frees the view and its analysis
    try:
        del view
        assert gone() is None and analysis() is None
    finally:
        gc.enable()


def test_a_changed_copy_of_a_view_has_its_own_analysis():
    view = _view()
    view.analysis.texts(1000)
    other = dataclasses.replace(view, subject="Another subject")
    assert other.analysis is not view.analysis
    assert other.analysis.texts(1000)[0] == "Another subject" and view.analysis.texts(1000)[0] == "Concert"
    assert other == dataclasses.replace(view, subject="Another subject")  # the analysis is not compared


# -- sentence stops: the pattern without a lookbehind finds the same stops (issue 19) -------

_LOOKBEHIND_STOP = re.compile(r"(?<=[.!?…])[\"')\]]*\s+")  # spans() used this before


def _stops_agree(text: str) -> None:
    from filters.text.sentences import _STOP
    # spans() searches from a line start (position 0 or just after a "\n") to a line end
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    for a in starts:
        for b in {len(text), *(i for i in range(a, len(text)) if text[i] == "\n")}:
            old = [(m.start(), m.end()) for m in _LOOKBEHIND_STOP.finditer(text, a, b)]
            new = [(m.start() + 1, m.end()) for m in _STOP.finditer(text, a, b)]
            assert new == old, (text, a, b)


@pytest.mark.parametrize("seed", range(10))
def test_sentence_stops_equal_the_lookbehind_pattern_on_random_texts(seed):
    rng = random.Random(seed)
    pieces = [".", "!", "?", "…", '"', "'", ")", "]", " ", "  ", "\n", "\n\n", "\t", "word", "x" * 60, ",",
              "a.b", "...", "?!", ".)", "!\"'", "\u00a0"]
    for _ in range(300):
        _stops_agree("".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))))


def test_sentence_stops_equal_the_lookbehind_pattern_on_the_corpora():
    from tests.filters.test_corpus_parse import corpus_messages, needs_corpora
    needs_corpora()
    checked = 0
    for number, (_name, raw) in enumerate(corpus_messages()):
        if number % 20:
            continue
        _stops_agree(raw.decode("utf-8", "replace")[:3000])
        checked += 1
    assert checked > 150


# -- the reply/forward header: the substring check before the regex misses nothing -----------

def _header_agrees(text: str) -> None:
    from filters.text.quoted import _HEADER, _header
    expected = _HEADER.search(text)
    found = _header(text)
    assert (found and found.span()) == (expected and expected.span()), text


@pytest.mark.parametrize("seed", range(10))
def test_reply_header_check_equals_the_regex_on_random_texts(seed):
    rng = random.Random(seed)
    pieces = ["On Mon, 1 Dec 2026, Miss Smith ", "wrote:", "WROTE:", "Wrote:", "on", "ON ", "\n", " ", "\n\n",
              "-----", "--", "Original Message", "ORIGINAL MESSAGE", "Forwarded message", "Begin forwarded message:",
              "_" * 20, "_" * 19, "From: a@b.c", "from:", "Sent: ", "SENT: ", "Date: ", "DATE:", "ſent: ",
              "orıgınal meſſage", "forwarded meſſage", "\u212aelvin", "date", "sent", "x", "\t"]
    for _ in range(500):
        _header_agrees("".join(rng.choice(pieces) for _ in range(rng.randint(0, 14))))


def test_reply_header_check_equals_the_regex_on_the_corpora():
    from tests.filters.test_corpus_parse import corpus_messages, needs_corpora
    needs_corpora()
    found = 0
    for _name, raw in corpus_messages():
        text = raw.decode("utf-8", "replace")
        _header_agrees(text)
        found += "wrote:" in text.lower()
    assert found > 50

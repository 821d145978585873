"""Whose words a sentence is: quotations, their speakers and their hearers (filters/text/speech.py).

Every line is written for schoolgate; none comes from a corpus."""
from __future__ import annotations

import pytest

from filters.text import sentences, speech


def inside(text: str) -> dict[str, bool]:
    """Each sentence inside an attributed quotation -> whether it was said to the writer's side."""
    spans = sentences.spans(text)
    return {text[a:b]: q.received for i, (a, b) in enumerate(spans)
            if (q := speech.quoted_sentences(text, spans).get(i)) is not None}


def test_a_quotation_over_sentences_with_its_speaker_before_or_after() -> None:
    before = 'The minister said: "We will act. We will not wait."\n\nThe markets rose.'
    assert inside(before) == {'The minister said: "We will act.': False, 'We will not wait."': False}
    after = '"We will act. We will not wait," the minister told reporters.'
    assert list(inside(after)) == ['"We will act.', 'We will not wait," the minister told reporters.']


def test_marks_without_a_speaker_and_the_writers_own_quotes_are_not_someone_elses() -> None:
    assert inside('The sign read "closed". We went home. "Great", I thought.') == {}
    assert inside('I told him "I am going. You stay."') == {}
    assert speech.quotations("no marks here, just words") == []


def test_single_quotes_curly_quotes_and_apostrophes() -> None:
    assert list(inside("The chief said: 'We're ready. Nobody's leaving.' Then he left.")) == [
        "The chief said: 'We're ready.", "Nobody's leaving.'"]
    assert list(inside("“We act now. We wait for nobody,” she said.")) == [
        "“We act now.", "We wait for nobody,” she said."]
    assert inside("It's the kids' bags, isn't it. They're heavy.") == {}


def test_a_news_style_quotation_continues_over_paragraphs() -> None:
    text = 'The senator continued:\n\n"We will not rest. We will go on.\n\n"And we will win."\n\nShe sat down.'
    assert list(inside(text)) == ['"We will not rest.', 'We will go on.', '"And we will win."']


def test_a_transcript_needs_two_speakers_and_a_heading_is_not_one() -> None:
    long = ("we will find those who did this and we will not rest until the job is done, wherever they are "
            "hiding now, however long it takes us.")  # an answer, not a chat line: 120+ characters
    assert inside(f"BLAIR: {long}\n\nQUESTION: And then?") == {f"BLAIR: {long}": False}
    assert inside(f"WARNING: {long}") == {}


def test_a_transcript_header_marks_the_speech_below_up_to_the_signature() -> None:
    text = "Text of the minister's address\n\nGood evening. We will act.\n\n-- \nThe list"
    assert set(inside(text)) == {"Good evening.", "We will act."}


@pytest.mark.parametrize("text,received", [
    ('Jake told my son: "You are out. Go home."', True),
    ('He sent me this: "you are out. go home."', True),
    ('The coach told the team: "You are out. Go home."', False),
])
def test_said_to_the_writers_side_is_a_quotation_received(text: str, received: bool) -> None:
    assert set(inside(text).values()) == {received}


def test_a_speaker_close_to_the_writer_is_passed_on_not_reported() -> None:
    assert inside('My brother said: "You are out. Go home."') == {}

"""Split mail text into sentences with their spans, so a long message is judged sentence by sentence."""
from __future__ import annotations

import re
from dataclasses import dataclass

# Hard-wrapped mail (RFC 5322 2.1.1 asks for lines under 78) breaks sentences
# at about 60-76 characters; a newline after a line that long, not ending in
# punctuation, continues the sentence. Shorter lines ("nobody would miss me")
# are a sentence each: pupils write one thought a line.
_WRAP_WIDTH = 55
_BOUNDARY = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n")
# A run-on with no punctuation at all is cut here, so one sentence never
# stands for a whole post (the model scores windows of a few sentences).
MAX_SENTENCE_CHARS = 400


@dataclass(frozen=True, slots=True)
class Sentence:
    text: str
    start: int  # span in the text given to split()
    end: int


def _cut_long(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    while end - start > MAX_SENTENCE_CHARS:
        cut = text.rfind(" ", start + MAX_SENTENCE_CHARS // 2, start + MAX_SENTENCE_CHARS)
        cut = cut if cut > start else start + MAX_SENTENCE_CHARS
        spans.append((start, cut))
        start = cut + 1
    spans.append((start, end))
    return spans


def split(text: str, min_chars: int = 2) -> list[Sentence]:
    """Sentences of `text` in order, each stripped, with its span (quote markers such as "> "
    stay in: the model's tokens skip them, and evidence must be the text as written)."""
    sentences: list[Sentence] = []
    start = 0
    boundaries = list(_BOUNDARY.finditer(text)) + [None]
    for match in boundaries:
        if match is not None and match.group().endswith("\n") and "\n" not in match.group()[:-1]:
            line_start = text.rfind("\n", 0, match.start()) + 1
            line = text[line_start:match.start()].rstrip()
            if len(line) >= _WRAP_WIDTH and line[-1:].isalnum() or line.endswith(","):
                continue  # a wrapped line: the sentence goes on
        # closing quotes and brackets after the full stop belong to the sentence
        end = len(text) if match is None else match.start() + len(match.group()) - len(match.group().lstrip("\"')]"))
        for a, b in _cut_long(text, start, end):
            piece = text[a:b]
            stripped = piece.strip()
            if len(stripped) >= min_chars:
                lead = a + piece.index(stripped[0])
                sentences.append(Sentence(stripped, lead, lead + len(stripped)))
        if match is not None:
            start = match.end()
    return sentences

"""Quoted mail (filters/text/quoted.py): which lines are earlier mail of the thread. Own wording."""
from __future__ import annotations

import pytest

from filters.text.quoted import is_quote_line, own_and_quoted, split_quoted


@pytest.mark.parametrize("line, quoted", [
    ("> can you bring a cake?", True),
    (">> nested", True),
    ("ALB> God bless us, every one", True),  # Supercite: the quoted writer's initials
    ("    Tim> I'd never notice the drag", True),  # Gnus
    ("Skip>", True),
    ("if a>b then swap them", False),
    ("<br>", False),
    ("x -> y is the mapping", False),
    ("The result was > 5", False),
    ("Dear Parents,", False),
])
def test_quote_lines(line: str, quoted: bool) -> None:
    assert is_quote_line(line) is quoted


def test_supercite_lines_are_quoted_in_every_split() -> None:
    text = "I agree.\n\nALB> the build is broken again\nALB> since Tuesday\nThanks."
    own, quoted = split_quoted(text)
    assert "ALB> the build" in quoted and "broken" not in own and "I agree." in own and "Thanks." in own
    mine, theirs = own_and_quoted(text)
    assert len(mine) == len(theirs) == len(text) and "broken" in theirs and "broken" not in mine

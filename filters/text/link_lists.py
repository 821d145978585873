"""Lines that name a link in a list of links: a blogroll, a digest of updated sites, a newsletter's "useful links".

In such a list each line is the name of a page ("Daily Shite", "Bite Me!", "happy retard
blog") over its address: a title someone chose for their site, not words said to the
reader. The offensive filter reads those names as talked about, not used (a tag, never a
hold; docs/safeguarding.md section 3). A title counts only in a list (three or more names
each followed by a line that is an address alone), so one line over one link is read as
written: "you are a loser\nhttp://..." in a pupil's message is still aimed.
"""
from __future__ import annotations

import re

# A line that is one web address and nothing else (optionally in angle brackets).
_ADDRESS = re.compile(r"^\s*<?(?:https?://|www\.)\S+>?\s*$", re.I)
# A title is short and is not an address itself.
_TITLE_MAX = 80
# Fewer pairs than this are not a list.
_MIN_PAIRS = 3


def split_link_titles(text: str) -> tuple[str, str]:
    """(the title lines of a list of links with their address lines, the rest of the text);
    ("", text) when the text has no such list."""
    if text.count("://") < _MIN_PAIRS and text.lower().count("www.") < _MIN_PAIRS:
        return "", text  # cheap first: most mail has no list of links
    lines = text.splitlines()
    titles = {i for i in range(len(lines) - 1)
              if _ADDRESS.match(lines[i + 1]) and lines[i].strip() and len(lines[i].strip()) <= _TITLE_MAX
              and not _ADDRESS.match(lines[i]) and "://" not in lines[i]}
    if len(titles) < _MIN_PAIRS:
        return "", text
    named = titles | {i + 1 for i in titles}  # each title and the address it names ("www.spasticyak.com")
    return ("\n".join(lines[i] for i in sorted(named)),
            "\n".join(line for i, line in enumerate(lines) if i not in named))

"""Find the sentences of a text that stand inside someone else's quoted speech, and whose it is.

A newsletter or a news item quoting a politician over several sentences ("We will hunt
them down. We will find them.") carries words that are not the writer's: the risk
filter should not read them as the writer's threat. But a quotation of words said TO
the writer or someone close ("Jake told my son: you're dead on Monday") is a threat
received, a disclosure the DSL must see. Per sentence the quotation marks and the
speaker are often out of sight (the mark opens two sentences back, "he said" follows
the closing mark), so this reads the whole text once:

    region       from an opening double quote ("“„«) to its closing mark; a paragraph that
                 ends with the quote still open closes it there (news style reopens the
                 next paragraph with a mark of its own: that paragraph continues the region)
    speaker      a speech verb beside the region: before its opening mark in the same
                 paragraph ("the minister said:", "told reporters,") or just after its
                 closing mark (", he said.", "said the minister")
    received     the speech verb names its hearer as the writer, the writer's family or
                 a third person ("told me", "said to my daughter", "sent him", "threatened")

Pure functions; no state. Used by filters/risk.py (docs/safeguarding.md, "Quoted speech").
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

# Opening and closing marks, double ("“”„«») and single ('‘’`). A straight mark opens after a
# space, a line start, an opening bracket, a dash or a colon, and closes otherwise; a single one
# between two letters is an apostrophe ("don't"), never a mark.
_DOUBLE = re.compile(r'["“”„«»]')
_SINGLE = re.compile(r"(?<![A-Za-z])['‘`]+(?=[A-Za-z0-9])|(?<=[^\s'‘`])['’]+(?![A-Za-z0-9])")
_OPENERS = frozenset("“„«‘`")
_CLOSERS = frozenset("”»’")
_OPEN_AFTER = frozenset("([-—–:")
_PARAGRAPH = re.compile(r"\n[ \t>]*\n")
# A line that says the rest is someone's speech: "Text of the President's address:", "Transcript".
_TRANSCRIPT = re.compile(
    r"^[ \t]*(?:the )?(?:(?:full |complete |partial )?(?:text|transcript)|excerpts?|extracts?)(?: of| from)?\b"
    r"[^\n]{0,100}?\b(?:speech|address|remarks|statement|testimony|sermon|interview|broadcast|lecture|"
    r"press conference|briefing|debate|message)\b[^\n]{0,80}$"
    r"|^[ \t]*(?:the )?(?:speech|address|remarks|statement|sermon|lecture) (?:by|of|from|given by|delivered by)"
    r" [^\n]{1,80}:[ \t]*$", re.I | re.M)

# Reporting forms only: "tell him: ..." and "say: ..." are the writer's instruction, not a report.
_VERB = (r"(?:said|says|saying|told|tells|added|adds|declared|declares|announced|announces|warned|"
         r"warns|vowed|vows|promised|promises|stated|states|wrote|writes|insisted|insists|continued|continues|"
         r"explained|explains|stressed|stresses|urged|urges|argued|argues|claimed|claims|tweeted|tweets|posted|posts|"
         r"proclaimed|proclaims|shouted|shouts|screamed|yelled|remarked|noted|notes|replied|replies|responded|"
         r"thundered|threatened|threatens|texted|messaged|sent|asked|asks|declaring|warning|vowing|adding|"
         r"quoted as saying|in (?:a|his|her|their|the) (?:speech|statement|address|interview|broadcast|letter|"
         r"message|sermon|video)|according to)")
# The writer as the speaker: "I told him", "we said" - the writer's own words, quoted or not.
_SELF = r"(?<!\bi )(?<!\bwe )(?<!\bi just )(?<!\bi then )(?<!\bwe then )"
# The words just before an opening mark: a speech verb, then at most a few words ("told
# reporters on Tuesday"), then an optional colon or comma (a line break may follow it).
_BEFORE = re.compile(rf"{_SELF}\b{_VERB}\b(?:(?:[ \t,]+[\w'’.-]+){{0,6}}?[ \t]*[:,]?|(?:[ \t,]+[\w'’.-]+){{0,14}}?"
                     rf"(?:[ \t]*:|[ \t,]+that))\s*$",
                     re.I)
# The words just after a closing mark: ", he said", "said the minister", "Bush told the crowd".
_AFTER = re.compile(rf"^[ \t]*[,.!?;:-]*[ \t]*(?!(?:i|we)\b)(?:[\w'’.-]+,?\s+){{0,8}}?{_VERB}\b"
                    rf"(?:[ \t]+[\w'’-]+){{0,4}}[.!?]?", re.I)
# A hearer who makes the quotation a threat received: the writer, the writer's family or
# class, or a third person spoken to.
_RECEIVED = re.compile(
    r"\b(?:(?:said|says|say|told|tells|texted|messaged|sent|wrote|shouted|screamed|yelled|posted|replied|asked)"
    r"(?: this| that| these| it)?(?: to| at)? (?:me|us|him|her|my \w+|our \w+)\b"
    r"|threatened|threatens|threatening)", re.I)


# A paragraph that is a speaker's, by a transcript's label ("BLAIR: We will ...", "President
# Bush: ...") or a line that ends with a third person's speech verb and a colon ("The statement
# said:"), the speech on the lines below without marks.
_LABEL = re.compile(
    r"^[ \t]*(?:[A-Z][A-Z.'-]+(?: [A-Z][A-Z.'-]+){0,3}"
    r"|(?:Mr|Mrs|Ms|Dr|Sir|Lord|Lady|President|Prime Minister|Minister|Senator|Sen|Rep|Governor|Gov|General|Gen|"
    r"Chancellor|Secretary|Speaker|Chairman|Judge|Rev|Reverend|Imam|Rabbi|Father|Pope)\.? [A-Z][\w'-]+(?: [A-Z][\w'-]+)?)"
    r":[ \t]+(?=\S)", re.M)
_NOT_LABELS = frozenset({"RE", "FW", "FWD", "TO", "CC", "BCC", "FROM", "DATE", "SUBJECT", "URL", "NOTE", "PS", "PPS",
                         "NB", "FAQ", "TIP", "WARNING", "UPDATE", "EDIT", "SOURCE", "LINK", "HTTP", "HTTPS", "FTP",
                         "Q", "A", "TODO", "FYI", "IMPORTANT", "ERROR", "DEBUG", "INFO"})
_COLON_LEAD = re.compile(rf"^[^\n]{{0,120}}{_SELF}\b{_VERB}\b[^\n]{{0,60}}:[ \t]*\n", re.I | re.M)
_SPACE = re.compile(r"\s*")
_ANY_MARK = frozenset('"“„«\'‘`')
# A speaker close to the writer: a threat they said is passed on, not reported ("my brother
# said: \"you're dead on monday\"").
_RELAYED = re.compile(r"\bmy (?:big |older |little )?(?:brother|brothers|sister|cousin|cousins|mate|mates|friend|friends|"
                      r"boys|dad|uncle|boyfriend|girlfriend|gang|crew|lads)\b(?! (?:said|says|told|tells) (?:me|us)\b)",
                      re.I)
# The end of a pasted speech: a signature or a mailing list's footer.
_FOOTER = re.compile(r"^(?:-- ?|_{5,}|-{5,})[ \t]*$", re.M)


@dataclass(frozen=True, slots=True)
class Quotation:
    """A quoted region of a text (its marks, start..end), where its speaker is named (the
    attribution before the opening mark starts at `lead`, the one after the closing mark ends
    at `trail`; -1 when there is none), and whether the speaker addressed the writer's side
    (a threat received)."""

    start: int
    end: int
    lead: int
    trail: int
    received: bool

    def holds(self, a: int, b: int) -> bool:
        """Whether the sentence a..b is (mostly) the speaker's words: it overlaps the marks,
        and it reaches outside them only where the attribution is ("In Ohio the minister
        said: \"We will ...", "... hunt them down,\" he told reporters"): what it has outside
        the marks is the caller's to read (outside())."""
        if b <= self.start or a >= self.end:
            return False
        starts_inside = a >= self.start - 1 or (self.lead >= 0 and a <= self.lead)
        ends_inside = b <= self.end + 1 or (self.trail >= 0 and b <= self.trail)
        return starts_inside and ends_inside


def _marks(text: str) -> list[tuple[int, int]]:
    """(open mark, close mark or paragraph end) of each quoted region; a paragraph that ends
    with a region still open closes it there."""
    breaks = [m.start() for m in _PARAGRAPH.finditer(text)] + [len(text)]
    out: list[tuple[int, int]] = []
    for pattern, straight in ((_DOUBLE, '"'), (_SINGLE, "'")):
        b, opened = 0, -1
        for mark in pattern.finditer(text):
            at, c = mark.start(), mark.group()[0]
            while breaks[b] < at:  # the paragraph ends: an open region ends with it
                if opened >= 0:
                    out.append((opened, breaks[b]))
                    opened = -1
                b += 1
            if any(s <= at < e for s, e in out):
                continue  # a single mark inside a double quotation: a quotation in the quotation
            if opened < 0:
                before = text[at - 1] if at else " "
                if c in _OPENERS or (c in (straight, "`") and (before.isspace() or before in _OPEN_AFTER)):
                    opened = at
            elif c in _CLOSERS or c == straight:
                out.append((opened, mark.end()))
                opened = -1
        if opened >= 0:
            out.append((opened, breaks[b] if b < len(breaks) else len(text)))
    return sorted(out)


def quotations(text: str) -> list[Quotation]:
    """The quoted regions of `text` that a speaker is named for, news-style continued
    paragraphs included (a region that opens a paragraph right after an attributed one), and
    the text after a transcript line ("Text of the minister's speech:") up to a signature."""
    found: list[Quotation] = []
    if '"' in text or "“" in text or "„" in text or "«" in text or "'" in text or "‘" in text or "`" in text:
        previous: Quotation | None = None
        for start, end in _marks(text):
            lead = text[max(0, start - 160):start]
            cut = max(lead.rfind("\n\n"), lead.rfind("\n \n"))
            if cut >= 0 and lead[cut:].strip():  # the speaker must be in the mark's paragraph, or end the one before
                lead = lead[cut:]
            tail = text[end:end + 80].split("\n\n", 1)[0]
            before, after = _BEFORE.search(lead), _AFTER.search(tail)
            said = " ".join(m.group() for m in (before, after) if m)
            if said and _RELAYED.search(text[max(0, start - 160):start] if before else said):
                previous = None  # "my brother said: ..." - a threat passed on, not a news item
            elif said:
                previous = Quotation(start, end, start - len(lead) + before.start() if before else -1,
                                     end + after.end() if after else -1, bool(_RECEIVED.search(said)))
                found.append(previous)
            elif previous is not None and not text[previous.end:start].strip(" \t\r\n>\"”»'’"):
                previous = Quotation(start, end, -1, -1, previous.received)  # the next paragraph of the same speech
                found.append(previous)
            else:
                previous = None
    if ":" in text:
        labels = [label for label in _LABEL.finditer(text)
                  if (name := label.group().strip().rstrip(":").strip()).upper() not in _NOT_LABELS
                  and not (name.isupper() and len(name) < 3)]
        # a transcript has speakers, more than one label: "WARNING: ..." alone is a heading
        for label in labels if len(labels) >= 2 else ():
            paragraph = _PARAGRAPH.search(text, label.end())
            following = _LABEL.search(text, label.end())
            end = min(paragraph.start() if paragraph else len(text), following.start() if following else len(text))
            if end - label.end() >= 120:  # a speech or an interview answer, not a chat log's line
                found.append(Quotation(label.end(), end, label.start(), -1, False))
        for lead in _COLON_LEAD.finditer(text) if ":\n" in text else ():
            begin = _SPACE.match(text, lead.end()).end()
            if text[begin:begin + 1] not in _ANY_MARK and not _RELAYED.search(lead.group()):  # marks: read above
                paragraph = _PARAGRAPH.search(text, begin)
                found.append(Quotation(begin, paragraph.start() if paragraph else len(text), lead.start(), -1,
                                       bool(_RECEIVED.search(lead.group()))))
    header = _TRANSCRIPT.search(text) if ("speech" in text or "ext" in text or "ranscript" in text
                                          or "xcerpt" in text or "ddress" in text or "emarks" in text) else None
    if header:
        footer = _FOOTER.search(text, header.end())
        found.append(Quotation(header.end(), footer.start() if footer else len(text), -1, -1, False))
    return found


def quoted_sentences(text: str, spans: Sequence[tuple[int, int]]) -> dict[int, Quotation]:
    """Sentence index -> its quotation, for each sentence (a span of `text`) that is inside an
    attributed quotation, the speaker's attribution around it allowed (Quotation.holds)."""
    found: dict[int, Quotation] = {}
    regions = quotations(text)
    if not regions:
        return found
    for i, (a, b) in enumerate(spans):
        for region in regions:
            if region.holds(a, b):
                found[i] = region
                break
    return found


def outside(text: str, a: int, b: int, quotation: Quotation) -> str:
    """The words of the sentence a..b that are not inside the quotation's marks: the writer's
    (or the attribution's), to check that they carry no threat of their own."""
    return (text[a:max(a, quotation.start)] + " " + text[min(b, quotation.end):b]).strip()

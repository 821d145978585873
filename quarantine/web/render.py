"""Held mail as safe HTML for the review screen: escaped text with the evidence spans marked.

Nothing from the message is ever emitted unescaped. HTML parts are shown as
their text (the parser drops script and style); what was removed (scripts,
remote images, forms) is counted so the reviewer knows it was there.
"""
from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass
from email.parser import BytesParser
from typing import Iterable, Sequence

from markupsafe import Markup, escape

from filters.base import Finding
from filters.directory import Directory
from filters.message import Envelope, build_view, decode_header_value

SHOWN_HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID")
MAX_TEXT = 200_000  # characters per part shown; a reviewer does not read more

_REMOTE = re.compile(r"""<(?:img|iframe|link|video|audio|source|object|embed)\b[^>]*?(?:src|href|data)\s*=\s*["']?\s*(?:https?:)?//""",
                     re.I)
_SCRIPT = re.compile(r"<script\b|\bon[a-z]+\s*=|javascript:", re.I)
_FORM = re.compile(r"<form\b", re.I)


@dataclass(frozen=True, slots=True)
class RenderedPart:
    label: str
    html: Markup  # escaped text with <mark> around evidence
    marks: int
    removed: tuple[str, ...] = ()  # what the HTML had that was not shown


@dataclass(frozen=True, slots=True)
class RenderedAttachment:
    index: int
    filename: str
    declared_type: str
    sniffed_type: str
    size: int
    flagged: bool  # named by a finding's evidence
    note: str = ""


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    headers: tuple[tuple[str, str], ...]
    all_headers: tuple[tuple[str, str], ...]
    parts: tuple[RenderedPart, ...]
    attachments: tuple[RenderedAttachment, ...]
    subject_html: Markup
    parse_error: str = ""


def evidence_terms(findings: Iterable[Finding]) -> list[str]:
    """The strings to mark: every evidence span, longest first, blank ones dropped."""
    terms = {e.strip() for f in findings for e in f.evidence if e and e.strip() and len(e.strip()) >= 2}
    return sorted(terms, key=len, reverse=True)


def _spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    # Case-insensitive where lower() keeps offsets (it does for nearly all text).
    lowered = text.lower()
    same = len(lowered) == len(text)
    spans: list[tuple[int, int]] = []
    for term in terms:
        needle, hay = (term.lower(), lowered) if same and len(term.lower()) == len(term) else (term, text)
        start = hay.find(needle)
        while start != -1:
            spans.append((start, start + len(needle)))
            start = hay.find(needle, start + len(needle))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def highlight(text: str, terms: Sequence[str]) -> tuple[Markup, int]:
    """Escape `text`, wrapping each occurrence of a term in <mark>. Returns (html, marks)."""
    out: list[str] = []
    pos = 0
    spans = _spans(text, terms)
    for s, e in spans:
        out.append(str(escape(text[pos:s])))
        out.append(f'<mark class="evidence">{escape(text[s:e])}</mark>')
        pos = e
    out.append(str(escape(text[pos:])))
    return Markup("".join(out)), len(spans)


def _removed_from_html(html: str) -> tuple[str, ...]:
    notes = []
    if n := len(_SCRIPT.findall(html)):
        notes.append(f"{n} script{'s' if n != 1 else ''} or event handler{'s' if n != 1 else ''} removed")
    if n := len(_REMOTE.findall(html)):
        notes.append(f"{n} remote image{'s' if n != 1 else ''} or frame{'s' if n != 1 else ''} not loaded")
    if n := len(_FORM.findall(html)):
        notes.append(f"{n} form{'s' if n != 1 else ''} removed")
    return tuple(notes)


def render_message(raw: bytes, mail_from: str, recipients: Sequence[str], findings: Sequence[Finding],
                   show_body: bool = True) -> RenderedMessage:
    terms = evidence_terms(findings)
    msg = BytesParser(policy=email.policy.compat32).parsebytes(raw, headersonly=True)
    all_headers = tuple((k, decode_header_value(v)) for k, v in msg.items())
    shown = tuple((k, decode_header_value(msg.get(k))) for k in SHOWN_HEADERS if msg.get(k))
    view = build_view(raw, Envelope(mail_from, tuple(recipients)), Directory(None))
    parts: list[RenderedPart] = []
    if show_body:
        for i, part in enumerate(view.text_parts, start=1):
            html, marks = highlight(part.text[:MAX_TEXT], terms)
            label = f"Part {i}: {'HTML shown as text' if part.from_html else part.content_type}"
            parts.append(RenderedPart(label, html, marks, _removed_from_html(part.html) if part.from_html else ()))
    flagged_names = {t.casefold() for t in terms}
    attachments = tuple(
        RenderedAttachment(i, a.filename or "(unnamed)", a.declared_type, a.sniffed_type, a.size,
                           bool(a.filename) and a.filename.casefold() in flagged_names
                           or any(a.filename and t.casefold() in a.filename.casefold() for t in terms),
                           a.extraction_note)
        for i, a in enumerate(view.attachments))
    subject_html, _ = highlight(view.subject, terms)
    return RenderedMessage(shown, all_headers, tuple(parts), attachments, subject_html, view.parse_error)


def attachment_bytes(raw: bytes, mail_from: str, recipients: Sequence[str], index: int) -> tuple[str, bytes]:
    view = build_view(raw, Envelope(mail_from, tuple(recipients)), Directory(None))
    if not 0 <= index < len(view.attachments):
        raise IndexError(index)
    a = view.attachments[index]
    return a.filename or f"attachment-{index}", a.data

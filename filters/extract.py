"""Sniff attachment types from their bytes and extract their text, once, bounded."""
from __future__ import annotations

import dataclasses
import logging

import filetype

from filters.message import Attachment

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 200_000


class AttachmentExtractor:
    """Fills `sniffed_type` and `text` of an Attachment. Never raises."""

    def __init__(self, max_text_chars: int = MAX_TEXT_CHARS) -> None:
        self._max_chars = max_text_chars

    def sniff(self, data: bytes) -> str:
        kind = filetype.guess(data[:8192]) if data else None
        if kind is not None:
            return kind.mime
        return ""

    def enrich(self, attachment: Attachment) -> Attachment:
        sniffed = self.sniff(attachment.data)
        text, note = "", ""
        try:
            text = self._text(attachment, sniffed)
        except Exception as exc:  # a hostile document must not break the message view
            note = f"text not extracted: {type(exc).__name__}"
            log.debug("extraction failed for %s", attachment.filename, exc_info=True)
        return dataclasses.replace(attachment, sniffed_type=sniffed, text=text[: self._max_chars],
                                   extraction_note=note)

    def _text(self, attachment: Attachment, sniffed: str) -> str:
        declared = attachment.declared_type
        name = attachment.filename.lower()
        if declared.startswith("text/") or name.endswith((".txt", ".csv")):
            if b"\x00" in attachment.data[:4096]:
                return ""
            return attachment.data.decode("utf-8", errors="replace")
        return ""

"""The parsed view of one message: built once by the gateway, read by every filter."""
from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import Iterable

from filters.base import Direction, Role
from filters.directory import Directory, normalise_address

log = logging.getLogger(__name__)

# Nested message/rfc822 parts are opened to this depth; deeper is a parser
# bomb, not mail a school sends.
MAX_NESTING = 10
MAX_PARTS = 500


@dataclass(frozen=True, slots=True)
class Envelope:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    client_ip: str = ""
    helo: str = ""


@dataclass(frozen=True, slots=True)
class Party:
    address: str
    role: Role
    internal: bool  # in one of the school's domains
    name: str = ""  # from the directory, else the header's display name


@dataclass(frozen=True, slots=True)
class TextPart:
    content_type: str
    text: str
    from_html: bool = False
    html: str = ""  # the original HTML, kept for the review screen (never rendered raw)
    path: str = ""  # MIME part path, e.g. "1.2"


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    declared_type: str
    sniffed_type: str  # from the bytes (filled by filters.extract), "" when unknown
    size: int
    data: bytes = field(repr=False)
    text: str = ""  # extracted text (CSV, DOCX, XLSX, PDF, TXT ...), bounded
    path: str = ""
    depth: int = 0  # 0 = attached to the message itself; >0 inside a forwarded message
    encrypted: bool = False  # password-protected archive or document
    extraction_note: str = ""  # why text is missing or partial


@dataclass(frozen=True, slots=True)
class MessageView:
    id: str
    raw: bytes = field(repr=False)
    envelope: Envelope
    headers: tuple[tuple[str, str], ...]
    subject: str
    from_address: str
    from_name: str
    text_parts: tuple[TextPart, ...]
    attachments: tuple[Attachment, ...]
    direction: Direction
    sender: Party
    recipients: tuple[Party, ...]
    defects: tuple[str, ...] = ()
    parse_error: str = ""  # non-empty: the parser could not make sense of it -> PARSE_ERROR
    received_at: float = 0.0
    sha256: str = ""

    def header(self, name: str, default: str = "") -> str:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return default

    def header_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [value for key, value in self.headers if key.lower() == lname]

    @property
    def body_text(self) -> str:
        return "\n\n".join(part.text for part in self.text_parts if part.text)

    @property
    def all_text(self) -> str:
        """Body text and the text of every attachment (what content filters read)."""
        chunks = [self.subject, self.body_text]
        chunks.extend(a.text for a in self.attachments if a.text)
        return "\n\n".join(c for c in chunks if c)

    def recipient(self, address: str) -> Party | None:
        addr = normalise_address(address)
        for party in self.recipients:
            if party.address == addr:
                return party
        return None

    def direction_for(self, recipient: Party) -> Direction:
        return direction_between(self.sender.internal, recipient.internal)


def direction_between(sender_internal: bool, recipient_internal: bool) -> Direction:
    if sender_internal and recipient_internal:
        return Direction.INTERNAL
    if sender_internal:
        return Direction.OUTBOUND
    if recipient_internal:
        return Direction.INBOUND
    return Direction.EXTERNAL


def message_direction(sender: Party, recipients: Iterable[Party]) -> Direction:
    """One direction for the message: outbound if any copy leaves the school."""
    directions = {direction_between(sender.internal, r.internal) for r in recipients}
    for candidate in (Direction.OUTBOUND, Direction.INBOUND, Direction.EXTERNAL, Direction.INTERNAL):
        if candidate in directions:
            return candidate
    return Direction.INBOUND if not sender.internal else Direction.INTERNAL


class _HTMLText(HTMLParser):
    """HTML -> readable text: block elements become line breaks, script/style dropped."""

    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table",
              "blockquote", "pre", "hr", "ul", "ol", "section", "article", "header", "footer"}
    _SKIP = {"script", "style", "head", "title", "noscript", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in self._SKIP:
            self._skip_depth += 1
        elif tag in self._BLOCK:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in self._BLOCK:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.chunks.append(data)


_BLANKS = re.compile(r"[ \t\r\f\v]+")
_MANY_NEWLINES = re.compile(r"\n\s*\n\s*\n+")


def html_to_text(html: str) -> str:
    parser = _HTMLText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient; this is belt and braces for hostile input
        log.debug("html parse failed; falling back to tag stripping", exc_info=True)
        return re.sub(r"<[^>]*>", " ", html)
    text = _BLANKS.sub(" ", "".join(parser.chunks))
    return _MANY_NEWLINES.sub("\n\n", text).strip()


def decode_header_value(value: object) -> str:
    """Decode RFC 2047 words; never raise on a broken header."""
    if value is None:
        return ""
    text = str(value)
    try:
        return str(make_header(decode_header(text)))
    except Exception:
        return text


def _charset_of(part: Message) -> str:
    charset = part.get_content_charset() or "utf-8"
    try:
        "".encode(charset)
    except (LookupError, ValueError):
        return "utf-8"
    return charset


def part_text(part: Message) -> str:
    """Decoded text of a text/* part; undecodable bytes become U+FFFD, never an error."""
    payload = part.get_payload(decode=True)
    if payload is None:
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    charset = _charset_of(part)
    try:
        return payload.decode(charset, errors="replace")
    except (LookupError, ValueError):
        return payload.decode("utf-8", errors="replace")


def part_filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        try:
            name = part.get_param("name")
            if isinstance(name, tuple):  # RFC 2231 triple
                name = email.utils.collapse_rfc2231_value(name)
        except Exception:
            name = None
    return decode_header_value(name) if name else ""


def _walk(message: Message, path: str, depth: int, out_text: list[TextPart],
          out_attach: list[tuple[str, str, bytes, str, int]], defects: list[str]) -> None:
    """Depth-first walk; message/rfc822 parts are opened (bounded), others collected."""
    if len(out_text) + len(out_attach) > MAX_PARTS:
        defects.append("too many MIME parts; the rest were not read")
        return
    for defect in getattr(message, "defects", ()) or ():
        defects.append(type(defect).__name__)
    ctype = message.get_content_type()
    if message.is_multipart():
        payload = message.get_payload()
        if not isinstance(payload, list):
            return
        for index, sub in enumerate(payload, start=1):
            if isinstance(sub, Message):
                _walk(sub, f"{path}.{index}" if path else str(index), depth, out_text, out_attach, defects)
        return
    filename = part_filename(message)
    disposition = (message.get("Content-Disposition") or "").split(";")[0].strip().lower()
    if ctype == "message/rfc822" or (ctype.startswith("message/") and isinstance(message.get_payload(), list)):
        inner = message.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message) and depth < MAX_NESTING:
            # a forwarded message: its text is read as text, its attachments as attachments
            _walk(inner[0], path + ".m", depth + 1, out_text, out_attach, defects)
            return
    # Body text is a text/plain or text/html part that is not an attachment;
    # a named text file (notes.txt, pupils.csv) is an attachment whose text the
    # extractor reads.
    is_body = ctype in ("text/plain", "text/html") and disposition != "attachment" and not (
        filename and disposition != "inline")
    if is_body:
        text = part_text(message)
        if ctype == "text/html":
            out_text.append(TextPart(ctype, html_to_text(text), from_html=True, html=text, path=path))
        else:
            out_text.append(TextPart(ctype, text, path=path))
        return
    data = message.get_payload(decode=True)
    if data is None:
        raw_payload = message.get_payload()
        data = raw_payload.encode("utf-8", "replace") if isinstance(raw_payload, str) else b""
    out_attach.append((filename, ctype, data, path, depth))


def parse_message(raw: bytes) -> tuple[Message | None, str]:
    try:
        return email.message_from_bytes(raw, policy=email.policy.compat32), ""
    except Exception as exc:  # the stdlib parser is lenient; this catches the pathological
        return None, f"{type(exc).__name__}: {exc}"


def _party(address: str, directory: Directory, display_name: str = "") -> Party:
    addr = normalise_address(address)
    return Party(
        address=addr,
        role=directory.role_of(addr),
        internal=directory.is_school_address(addr),
        name=directory.name_of(addr) or display_name,
    )


def build_view(raw: bytes, envelope: Envelope, directory: Directory, *,
               extractor=None, message_id: str | None = None) -> MessageView:
    """Parse once. Never raises: a message we cannot read gets `parse_error` set.

    `extractor` (filters.extract.AttachmentExtractor) sniffs types and pulls text
    out of attachments; without it attachments carry bytes only.
    """
    view_id = message_id or uuid.uuid4().hex[:16]
    sha = hashlib.sha256(raw).hexdigest()
    defects: list[str] = []
    text_parts: list[TextPart] = []
    raw_attachments: list[tuple[str, str, bytes, str, int]] = []
    headers: tuple[tuple[str, str], ...] = ()
    subject = from_name = from_addr = ""
    message, error = parse_message(raw)
    if message is not None:
        try:
            headers = tuple((str(k), decode_header_value(v)) for k, v in message.items())
            subject = decode_header_value(message.get("Subject", ""))
            from_name, from_addr = parseaddr(decode_header_value(message.get("From", "")))
            _walk(message, "", 0, text_parts, raw_attachments, defects)
        except RecursionError:
            error = "MIME structure nested too deeply"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("message %s: parse error: %s", view_id, error)
    attachments: list[Attachment] = []
    for filename, ctype, data, path, depth in raw_attachments:
        attachment = Attachment(filename=filename, declared_type=ctype, sniffed_type="", size=len(data),
                                data=data, path=path, depth=depth)
        if extractor is not None:
            attachment = extractor.enrich(attachment)
        attachments.append(attachment)
    sender = _party(envelope.mail_from, directory, from_name if normalise_address(from_addr) ==
                    normalise_address(envelope.mail_from) else "")
    display_names = {}
    if message is not None:
        try:
            for name, addr in getaddresses([decode_header_value(v) for v in
                                            (message.get_all("To", []) + message.get_all("Cc", []))]):
                if addr:
                    display_names[normalise_address(addr)] = name
        except Exception:
            defects.append("unparseable To/Cc")
    recipients = tuple(_party(r, directory, display_names.get(normalise_address(r), ""))
                       for r in envelope.rcpt_tos)
    return MessageView(
        id=view_id, raw=raw, envelope=envelope, headers=headers, subject=subject,
        from_address=normalise_address(from_addr), from_name=from_name,
        text_parts=tuple(text_parts), attachments=tuple(attachments),
        direction=message_direction(sender, recipients), sender=sender, recipients=recipients,
        defects=tuple(dict.fromkeys(defects)), parse_error=error, received_at=time.time(), sha256=sha,
    )

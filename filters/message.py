"""The parsed view of one message: built once by the gateway, read by every filter."""
from __future__ import annotations

import base64
import binascii
import codecs
import dataclasses
import email
import email.feedparser as _feedparser
import email.utils
import hashlib
import logging
import mimetypes
import re
import time
import types
import uuid
from dataclasses import dataclass, field
from email.message import Message
from email.policy import Compat32
from email.utils import parseaddr
from io import StringIO
import html.parser as _html_parser
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Iterable

from filters.base import Direction, Role
from filters.directory import Directory, address_list, normalise_address

if TYPE_CHECKING:  # pragma: no cover
    from filters.text.analysis import TextAnalysis

log = logging.getLogger(__name__)

# Nested message/rfc822 parts are opened to this depth; deeper is a parser
# bomb, not mail a school sends.
MAX_NESTING = 10
MAX_MULTIPART_DEPTH = 40
MAX_PARTS = 500
# Bounds on what the view keeps; beyond them the message is held (parse_error),
# never passed with part of it unread.
MAX_TEXT_CHARS = 5_000_000
MAX_HEADERS = 1_000
MAX_HEADER_CHARS = 16_384  # per header value
MAX_UU_BLOCKS = 20
# Wall time for extracting all of one message's attachments (each attachment
# also has its own bound in filters.extract.Limits). Past it, attachments are
# still sniffed and checked for passwords and macros, but their text is not read.
MAX_EXTRACTION_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class Envelope:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    client_ip: str = ""
    helo: str = ""
    # The client is in [gateway] trusted_networks (the school's own server). Only then
    # can a school sender address be believed; the gateway sets it for every message.
    # True by default for what has no client: `schoolgate scan` of a file, a release.
    client_trusted: bool = True


@dataclass(frozen=True, slots=True)
class Party:
    address: str
    role: Role
    internal: bool  # in one of the school's domains
    name: str = ""  # from the directory, else the header's display name
    year: int | None = None  # year group (directory CSV or [directory] year_pattern), pupils only
    groups: tuple[str, ...] = ()  # the directory's sets and form, lower case


@dataclass(frozen=True, slots=True)
class TextPart:
    content_type: str
    text: str
    from_html: bool = False
    html: str = ""  # the original HTML, kept for the review screen (never rendered raw)
    path: str = ""  # MIME part path, e.g. "1.2"


@dataclass(frozen=True, slots=True)
class ArchiveMember:
    """A file inside an archive attachment; nested archives are flattened and
    their path joined with " > " (e.g. "photos.zip > setup/run.exe")."""

    path: str
    size: int
    sniffed_type: str = ""
    encrypted: bool = False
    has_macros: bool = False
    depth: int = 1  # 1 = directly inside the attachment


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
    members: tuple[ArchiveMember, ...] = ()  # archive contents (filled by filters.extract)
    has_macros: bool = False  # Office document carrying VBA (vbaProject.bin, OLE VBA storage)


@dataclass(frozen=True, slots=True, weakref_slot=True)
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
    # The shared text analysis (filters/text/analysis.py): normalised text, sentences, the
    # bounded texts, built lazily once per message and read by every text filter.
    analysis: "TextAnalysis" = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from filters.text.analysis import TextAnalysis  # it reads views: imported when one exists
        object.__setattr__(self, "analysis", TextAnalysis(self))

    def header(self, name: str, default: str = "") -> str:
        values = self.analysis.headers_by_name.get(name.lower())
        return values[0] if values else default

    def header_all(self, name: str) -> list[str]:
        return list(self.analysis.headers_by_name.get(name.lower(), ()))

    @property
    def body_text(self) -> str:
        """The text parts joined (built once per message: several filters read it)."""
        return self.analysis.body_text

    @property
    def all_text(self) -> str:
        """Body text and the text of every attachment (what content filters read), built once."""
        return self.analysis.all_text

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


# The stdlib parser's start-tag code as this module was checked against (CPython 3.11.7):
# _HTMLText's fast start tag below is the same function without the attribute list, so it
# is used only while html.parser still has exactly these patterns and this function.
_STARTTAG_CODE = "d1650ab6440d3648bce807c6ecad06ddc3b5b869"
_ATTR_PATTERN = (r'((?<=[\'"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*'
                 r'(\'[^\']*\'|"[^"]*"|(?![\'"])[^>\s]*))?(?:\s|/(?!>))*')
# One match of the attribute pattern repeated is the stdlib's attribute loop: the loop
# matches it again at each end, and a greedy repeat takes each repetition's first match
# (nothing follows it, so it never backtracks into one); the pattern never matches empty.
# The loop also stops once it reaches the tag's end, the repeat may run on: either way
# what is left before the end is "", so the tag is data in both.
_ATTRS = re.compile(f"(?:{_ATTR_PATTERN})*")
# A tag with no attributes and nothing between its name and ">" ("<p>", "<br/>", "</td>"): the
# stdlib's answer for it is known (the name, as its own patterns read names; "/>" ends an empty
# element), so one match does what its three patterns and their Python do. Most tags of
# ordinary HTML mail are these; any other goes the long way.
_BARE_START = re.compile(r"<([a-zA-Z][^\t\n\r\f />\x00]*)(/?)>")
_BARE_END = re.compile(r"</([a-zA-Z][-.a-zA-Z0-9:_]*)>")
_ENDTAG_CODE = "12a1d29cb7bcc6ed472e1192567ad39ac8c0c8bd"
# _BARE_START's answer was checked against these: check_for_whole_start_tag and the patterns
# it and parse_starttag read tag names with (CPython 3.11.7)
_WHOLE_START_CODE = "6c0eff0994f37c703eb974d5201304afc4124353"
_NAME_PATTERNS = "b9638e439fd273ede4cb7261d05a2c0c3d4e807e"


def code_digest(*functions) -> str:
    """A stable digest of functions' byte code, constants and names (nested code included):
    where a fast path is the same as a library function, it is used only with that function."""
    digest = hashlib.sha1()

    def add(code) -> None:
        digest.update(code.co_code + repr(code.co_names).encode())
        for const in code.co_consts:
            if hasattr(const, "co_code"):
                add(const)
            else:
                digest.update(repr(const).encode())
    for function in functions:
        add(function.__code__)
    return digest.hexdigest()


def _bare_start_checked() -> bool:
    patterns = _html_parser.locatestarttagend_tolerant.pattern + _html_parser.tagfind_tolerant.pattern
    return (code_digest(HTMLParser.check_for_whole_start_tag) == _WHOLE_START_CODE
            and hashlib.sha1(patterns.encode()).hexdigest() == _NAME_PATTERNS)


class _HTMLText(HTMLParser):
    """HTML -> readable text: block elements become line breaks, script/style dropped."""

    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table",
              "blockquote", "pre", "hr", "ul", "ol", "section", "article", "header", "footer"}
    _SKIP = {"script", "style", "head", "title", "noscript", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip_depth = 0

    def _fast_starttag(self, i: int) -> int:
        """HTMLParser.parse_starttag without building the attribute list, which handle_starttag
        ignores: the same tag, the same end, the same "is this tag data" answer and the same
        calls (tested against the stdlib's on random and corpus HTML). Where the time went:
        the attribute loop was a third of html_to_text."""
        rawdata = self.rawdata
        bare = _BARE_START.match(rawdata, i)
        if bare is not None:
            endpos = bare.end()
            self._HTMLParser__starttag_text = rawdata[i:endpos]
            self.lasttag = tag = bare.group(1).lower()
            return self._start(tag, bool(bare.group(2)), endpos)
        self._HTMLParser__starttag_text = None
        endpos = self.check_for_whole_start_tag(i)
        if endpos < 0:
            return endpos
        rawdata = self.rawdata
        self._HTMLParser__starttag_text = rawdata[i:endpos]
        match = _html_parser.tagfind_tolerant.match(rawdata, i + 1)
        k = match.end()
        self.lasttag = tag = match.group(1).lower()
        if k < endpos:
            k = _ATTRS.match(rawdata, k).end()
        end = rawdata[k:endpos].strip()
        if end not in (">", "/>"):
            self.handle_data(rawdata[i:endpos])
            return endpos
        return self._start(tag, end.endswith("/>"), endpos)

    def _start(self, tag: str, empty: bool, endpos: int) -> int:
        """The stdlib's calls for a start tag read: an empty element ("/>") or a start, and
        CDATA mode for script and style."""
        if empty:
            self.handle_startendtag(tag, [])
        else:
            self.handle_starttag(tag, [])
            if tag in self.CDATA_CONTENT_ELEMENTS:
                self.set_cdata_mode(tag)
        return endpos

    def _fast_endtag(self, i: int) -> int:
        """HTMLParser.parse_endtag, with a bare end tag ("</p>") read by one match: the same
        calls and end as the stdlib's (which finds the first ">" and matches the tag again)."""
        bare = _BARE_END.match(self.rawdata, i)
        if bare is None:
            return HTMLParser.parse_endtag(self, i)
        gtpos = bare.end()
        elem = bare.group(1).lower()
        if self.cdata_elem is not None and elem != self.cdata_elem:
            self.handle_data(self.rawdata[i:gtpos])  # "</p>" inside a script is its text
            return gtpos
        self.handle_endtag(elem)
        self.clear_cdata_mode()
        return gtpos

    if (code_digest(HTMLParser.parse_starttag) == _STARTTAG_CODE
            and _html_parser.attrfind_tolerant.pattern == _ATTR_PATTERN
            and _bare_start_checked()):
        parse_starttag = _fast_starttag  # else: another Python's parser, used as it is
    if (code_digest(HTMLParser.parse_endtag) == _ENDTAG_CODE
            and _html_parser.endtagfind.pattern == r"</\s*([a-zA-Z][-.a-zA-Z0-9:_]*)\s*>"
            and _html_parser.endendtag.pattern == ">"):
        parse_endtag = _fast_endtag

    def updatepos(self, i: int, j: int) -> int:
        # the line and column only feed getpos(), which nothing here reads: counting the
        # newlines of every piece of text was an eighth of html_to_text
        return j

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


# Every run of blanks becomes one space. A lone space is already that, so the pattern leaves
# it alone (two or more blanks, or one that is not a space): the same text, and `sub` no
# longer rebuilds the text at every word gap (half of html_to_text's cost on a newsletter).
_BLANKS = re.compile(r"[ \t\r\f\v][ \t\r\f\v]+|[\t\r\f\v]")
_MANY_NEWLINES = re.compile(r"\n\s*\n\s*\n+")


def html_to_text(html: str) -> str:
    parser = _HTMLText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient; this is belt and braces for hostile input
        log.debug("html parse failed; falling back to tag stripping", exc_info=True)
        return re.sub(r"<[^>]*>", " ", html)
    text = "".join(parser.chunks)
    # _BLANKS matches only where a text has two spaces or one of \t\r\f\v: `in` finds out with
    # memchr, where the pattern (a character class first) is tried at every character
    if "  " in text or any(map(text.__contains__, "\t\r\f\v")):
        text = _BLANKS.sub(" ", text)
    return _MANY_NEWLINES.sub("\n\n", text).strip()


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Bytes -> text, never raising. A declared charset is tried first; mislabelled
    mail is common, so strict UTF-8 and then Windows-1252 are the fallbacks."""
    if not data:
        return ""
    name = _charset_name(charset)
    if name:
        try:
            return data.decode(name)
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if name and name != "utf-8":
        try:
            return data.decode(name, errors="replace")
        except LookupError:  # pragma: no cover - _charset_name only returns known codecs
            pass
    # Mostly UTF-8 with a few broken bytes stays UTF-8; no UTF-8 sequence at
    # all means an 8-bit charset, almost always Windows-1252 in our mail.
    if _UTF8_SEQUENCE.search(data):
        return data.decode("utf-8", errors="replace")
    return data.decode("cp1252", errors="replace")


_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")


# Labels seen in real mail that Python spells differently, or whose superset
# decodes what senders actually put under them (WHATWG Encoding rules).
_CHARSET_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cn-gb": "gb18030",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "iso8859-1": "cp1252",
    "ks_c_5601-1987": "cp949", "euc-kr": "cp949", "shift_jis": "cp932", "x-sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext", "big5": "big5hkscs", "iso-8859-8-i": "iso-8859-8",
    "tis-620": "cp874", "windows-874": "cp874", "utf8": "utf-8", "unicode-1-1-utf-7": "utf-7",
    # no real information: guess from the bytes
    "us-ascii": "", "ascii": "", "unknown-8bit": "", "x-unknown": "", "unknown": "",
    "x-user-defined": "", "default": "", "charset": "", "none": "",
}


def _charset_name(charset: str | None) -> str:
    if not charset:
        return ""
    name = str(charset).strip().strip("'\"").lower()
    name = _CHARSET_ALIASES.get(name, name)
    if not name:
        return ""
    try:
        codecs.lookup(name)
    except (LookupError, ValueError):
        return ""
    return name


# compat32 keeps raw 8-bit header bytes as lone surrogates; most are UTF-8 (RFC 6532).
_SURROGATES = re.compile("[\udc80-\udcff]")
_FOLD = re.compile(r"\r\n|\r|\n")
# RFC 2047 encoded word; charset may carry an RFC 2231 language suffix (utf-8*en).
_EWORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def _unescape(text: str) -> str:
    if _SURROGATES.search(text):
        return decode_bytes(text.encode("utf-8", "surrogateescape"))
    return text


def _eword_bytes(encoding: str, payload: str) -> bytes:
    if encoding in "bB":
        cleaned = re.sub(r"[^A-Za-z0-9+/]", "", payload)
        cleaned = cleaned[: len(cleaned) - len(cleaned) % 4 if len(cleaned) % 4 == 1 else len(cleaned)]
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4))
    return binascii.a2b_qp(payload.replace("_", " ").encode("ascii", "replace"))


def _decode_words(text: str) -> str:
    """Decode RFC 2047 words by hand: adjacent words in one charset are joined before
    decoding (a multi-byte character may be split across them), whitespace between
    adjacent words is dropped (RFC 2047 6.2), and a broken word is left as it was."""
    out: list[str] = []
    pos = 0
    pending: list[bytes] = []
    pending_charset = ""
    pending_raw: list[str] = []

    def flush() -> None:
        if pending:
            out.append(decode_bytes(b"".join(pending), pending_charset))
            pending.clear()
            pending_raw.clear()

    for match in _EWORD.finditer(text):
        gap = text[pos:match.start()]
        charset = match.group(1).split("*")[0]
        try:
            data = _eword_bytes(match.group(2), match.group(3))
        except (binascii.Error, ValueError):
            flush()
            out.append(gap)
            out.append(match.group(0))
            pos = match.end()
            continue
        if pending and gap.strip() == "" and charset.lower() == pending_charset.lower():
            pending.append(data)
        else:
            flush()
            if not (out and gap.strip() == "" and pos > 0 and text[pos - 2:pos] == "?="):
                out.append(gap)
            pending.append(data)
            pending_charset = charset
        pos = match.end()
    flush()
    out.append(text[pos:])
    return "".join(out)


def decode_header_value(value: object) -> str:
    """A header value as readable text: unfolded, 8-bit bytes and RFC 2047 words
    decoded, bounded in length. Never raises on a broken header."""
    if value is None:
        return ""
    try:
        text = str(value)
    except Exception:
        return ""
    if len(text) > MAX_HEADER_CHARS:
        text = text[:MAX_HEADER_CHARS]
    text = _unescape(_FOLD.sub("", text))
    if "=?" in text:
        try:
            text = _decode_words(text)
        except Exception:  # belt and braces: a header is never worth an exception
            log.debug("encoded-word decoding failed", exc_info=True)
    return text.replace("\x00", "")


class _RawCompat32(Compat32):
    """compat32, but headers with raw 8-bit bytes come back as str (with surrogate
    escapes) rather than `Header` objects, which break `get_param`, `get_filename`
    and `get_content_type` (AttributeError: 'Header' object has no attribute 'split')."""

    def _sanitize_header(self, name, value):  # noqa: D401 - stdlib hook
        return value


_POLICY = _RawCompat32()


class _TailEndOfLine:
    """The feed parser's NLCRE_eol (a line break at the very end) searched from two characters before
    the end: a match ends at the end and is at most two long, so it is the same match. The
    parser searches each part's whole payload with it (to drop the line break before the next
    boundary), and `re` tries the pattern at every position: a 270 KB base64 attachment cost
    ~9 M instructions to find one line break (a fifth of parsing a 200 KB message)."""

    __slots__ = ("_pattern",)

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self._pattern = pattern

    def search(self, text: str):
        return self._pattern.search(text, max(0, len(text) - 2))


class _FeedParser(_feedparser.FeedParser):
    """The stdlib's FeedParser whose _parsegen reads NLCRE_eol as _TailEndOfLine: the same
    function (its own byte code, checked by digest), with that one global bound otherwise."""


# FeedParser._parsegen as checked against (CPython 3.11.7); another Python's parser is used as it is
_PARSEGEN_CODE = "797bc1df0c3ccc8844271bb8d3964f9b126914fd"
if (code_digest(_feedparser.FeedParser._parsegen) == _PARSEGEN_CODE
        and _feedparser.NLCRE_eol.pattern == r"(\r\n|\r|\n)\Z"):
    _stdlib_parsegen = _feedparser.FeedParser._parsegen
    _FeedParser._parsegen = types.FunctionType(  # type: ignore[method-assign]
        _stdlib_parsegen.__code__, {**vars(_feedparser), "NLCRE_eol": _TailEndOfLine(_feedparser.NLCRE_eol)},
        _stdlib_parsegen.__name__, _stdlib_parsegen.__defaults__, _stdlib_parsegen.__closure__)


def message_from_bytes(raw: bytes) -> Message:
    """email.message_from_bytes(raw, policy=_POLICY), through _FeedParser: the same steps as
    email.parser.BytesParser.parsebytes (ASCII with surrogate escapes, fed 8,192 characters at a time)."""
    parser = _FeedParser(policy=_POLICY)
    text = StringIO(raw.decode("ASCII", errors="surrogateescape"))
    while data := text.read(8192):
        parser.feed(data)
    return parser.close()
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.I)


def _content_charset(part: Message) -> str | None:
    try:
        charset = part.get_content_charset()
    except Exception:
        return None
    return _unescape(charset) if charset else None


def _payload_bytes(part: Message) -> bytes:
    """The decoded body of a leaf part (base64, QP, uuencode undone). Never raises."""
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte in ("x-uuencode", "uuencode", "uue", "x-uue"):
        # The stdlib decodes past the zero-length line that ends uuencoded data
        # and so appends junk from a truncated `end`; _uudecode stops there.
        payload = part.get_payload()
        if isinstance(payload, str):
            match = _UU_BLOCK.search(payload + "\nend\n")
            if match:
                return _uudecode(match.group(4))
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def part_text(part: Message) -> str:
    """Decoded text of a text/* part; undecodable bytes become U+FFFD, never an error."""
    data = _payload_bytes(part)
    charset = _content_charset(part)
    if not charset and part.get_content_type() == "text/html":
        meta = _META_CHARSET.search(data[:4096])
        if meta:
            charset = meta.group(1).decode("ascii", "replace")
    # one line-ending convention for every filter's regexes (CR-only mail exists)
    return decode_bytes(data, charset).replace("\r\n", "\n").replace("\r", "\n")


def part_filename(part: Message) -> str:
    """The attachment's name: Content-Disposition filename, else Content-Type name;
    RFC 2231 continuations/charsets and RFC 2047 words decoded. Unicode tricks
    (RLO, zero-width spaces) are kept: the attachment filter looks for them."""
    # Both stdlib look-ups parse the header's parameters, and both keys contain "name" (and
    # are compared after str.lower(), which maps character by character): a part whose
    # Content-Disposition and Content-Type hold no "name" has none (most body parts).
    try:
        if not any("name" in str(part.get(header, "")).lower() for header in ("content-disposition", "content-type")):
            return ""
    except Exception:  # noqa: BLE001 - the look-ups below answer for a header that will not read
        pass
    name: object = None
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
    if not name:
        return ""
    return decode_header_value(name).strip().strip('"').strip()


def _headers_of(message: Message) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in message.raw_items():
        if len(out) >= MAX_HEADERS:
            break
        out.append((_unescape(str(key)).strip(), decode_header_value(value)))
    return out


def _first(headers: list[tuple[str, str]], name: str) -> str:
    lname = name.lower()
    for key, value in headers:
        if key.lower() == lname:
            return value
    return ""


# `begin 644 name` ... `end`: uuencoded files pasted into a text body (old
# clients, some malware). begin-base64 is the same idea with base64 lines.
_UU_BLOCK = re.compile(
    r"^begin(-base64)?[ \t]+([0-7]{3,4})[ \t]+([^\r\n]+?)[ \t]*\r?\n(.*?)^(?:end|====)[ \t]*\r?$",
    re.M | re.S)


def _uudecode(body: str) -> bytes:
    out = bytearray()
    for line in body.splitlines():
        if not line:
            continue
        if line[0] in "` " and len(line.rstrip()) <= 1:
            break  # a zero-length line ends the data
        try:
            out += binascii.a2b_uu(line)
        except (binascii.Error, ValueError):
            # Lines padded or trimmed by old encoders: decode just the declared
            # length, as the stdlib's uu module does.
            try:
                nbytes = (((ord(line[0]) - 32) & 63) * 4 + 5) // 3
                out += binascii.a2b_uu(line[:nbytes])
            except (binascii.Error, ValueError, IndexError):
                continue
    return bytes(out)


_RawAttachment = tuple[str, str, bytes, str, int]  # filename, declared type, data, path, depth


class _Walker:
    """Depth-first walk of one parsed message into text parts and attachments.

    Bounded: message/rfc822 opened to MAX_NESTING, multiparts to
    MAX_MULTIPART_DEPTH, at most MAX_PARTS parts and MAX_TEXT_CHARS of text.
    Whatever was not read because of a bound makes `overflow` non-empty, which
    becomes the view's parse_error: what we did not read is never passed unseen.
    """

    def __init__(self) -> None:
        self.text: list[TextPart] = []
        self.attachments: list[_RawAttachment] = []
        self.defects: list[str] = []
        self.overflow = ""
        self._parts = 0
        self._chars = 0

    def _over(self, what: str) -> None:
        if not self.overflow:
            self.overflow = what
        self.defects.append(what)

    def _add_text(self, part: TextPart) -> None:
        room = MAX_TEXT_CHARS - self._chars
        if room <= 0:
            self._over(f"more than {MAX_TEXT_CHARS} characters of text")
            return
        if len(part.text) > room:
            part = dataclasses.replace(part, text=part.text[:room])
            self._over(f"more than {MAX_TEXT_CHARS} characters of text")
        self._chars += len(part.text)
        self.text.append(part)

    def visit(self, message: Message, path: str = "", depth: int = 0, level: int = 0) -> None:
        if self._parts >= MAX_PARTS:
            self._over(f"more than {MAX_PARTS} MIME parts")
            return
        self._parts += 1
        for defect in getattr(message, "defects", ()) or ():
            self.defects.append(type(defect).__name__)
        try:
            # "text/plain\n charset=..." (a missing ";") is still text/plain
            ctype = re.split(r"[\s;]", message.get_content_type().strip(), maxsplit=1)[0] or "text/plain"
        except Exception:
            ctype = "text/plain"
        payload = message.get_payload()
        if isinstance(payload, list):
            self._container(message, ctype, payload, path, depth, level)
            return
        if ctype.startswith("multipart/"):
            self._broken_multipart(message, ctype, path, depth, level)
            return
        if ctype in ("message/rfc822", "message/global") and self._encoded_message(message, path, depth, level):
            return
        self._leaf(message, ctype, path, depth)

    def _child(self, path: str, index: int | str) -> str:
        return f"{path}.{index}" if path else str(index)

    def _container(self, message: Message, ctype: str, payload: list, path: str,
                   depth: int, level: int) -> None:
        subs = [p for p in payload if isinstance(p, Message)]
        if ctype == "message/delivery-status":
            # per-recipient status blocks (RFC 3464): readable as "Field: value" lines
            lines = []
            for block in subs:
                lines.extend(f"{k}: {v}" for k, v in _headers_of(block))
                lines.append("")
            self._add_text(TextPart(ctype, "\n".join(lines).strip(), path=path))
            return
        if ctype.startswith("message/"):
            if depth >= MAX_NESTING:
                self._over(f"forwarded messages nested more than {MAX_NESTING} deep")
                return
            cte = str(message.get("Content-Transfer-Encoding", "")).strip().lower()
            if cte == "base64" and len(subs) == 1 and not subs[0].keys():
                # message/rfc822 sent base64 (RFC 2046 5.2.1 forbids it; it happens):
                # the stdlib parsed the base64 text as a header-less message
                try:
                    raw_inner = subs[0].get_payload()
                    decoded = base64.b64decode(re.sub(r"[^A-Za-z0-9+/]", "", str(raw_inner)) + "==")
                    subs = [message_from_bytes(decoded)]
                except (binascii.Error, ValueError):
                    self.defects.append("undecodable base64 message/rfc822")
            for index, inner in enumerate(subs, start=1):
                subject = _first(_headers_of(inner), "Subject")
                if subject:  # a forwarded message's subject is part of what it says
                    self._add_text(TextPart("text/rfc822-headers", subject, path=self._child(path, "m")))
                self.visit(inner, self._child(path, "m" if index == 1 else f"m{index}"), depth + 1, level)
            return
        if level >= MAX_MULTIPART_DEPTH:
            self._over(f"multiparts nested more than {MAX_MULTIPART_DEPTH} deep")
            return
        first_text = len(self.text)
        for index, sub in enumerate(subs, start=1):
            self.visit(sub, self._child(path, index), depth, level + 1)
        if ctype == "multipart/alternative":
            self._drop_duplicate_alternatives(first_text)

    def _drop_duplicate_alternatives(self, start: int) -> None:
        """text/plain + text/html saying the same thing: keep the HTML one (it also
        has the links). Different content is kept: a benign plain part must not
        hide what the HTML part says."""
        parts = self.text[start:]
        html = [p for p in parts if p.from_html]
        if not html:
            return
        html_norm = [" ".join(p.text.split()).lower() for p in html]
        keep = []
        for part in parts:
            if not part.from_html:
                norm = " ".join(part.text.split()).lower()
                if any(norm in h for h in html_norm):
                    continue
            keep.append(part)
        self.text[start:] = keep

    def _broken_multipart(self, message: Message, ctype: str, path: str, depth: int, level: int) -> None:
        """A multipart whose boundary is missing or never appears: guess the
        boundary from the first `--token` line; failing that, read it as text."""
        data = _payload_bytes(message).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if level < MAX_MULTIPART_DEPTH:
            guess = re.search(rb"^--([^\s]{1,200}?)[ \t]*$", data[:65536], re.M)
            if guess and not guess.group(1).endswith(b"--"):
                boundary = guess.group(1)
                if boundary.count(b'"') == 0 and data.count(b"--" + boundary) >= 2:
                    try:
                        head = b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\n\n'
                        reparsed = message_from_bytes(head + data)
                    except Exception:
                        reparsed = None
                    if reparsed is not None and isinstance(reparsed.get_payload(), list):
                        self.defects.append("boundary guessed")
                        self.visit(reparsed, path, depth, level + 1)
                        return
        self._add_text(TextPart("text/plain", decode_bytes(data, _content_charset(message)), path=path))

    def _encoded_message(self, message: Message, path: str, depth: int, level: int) -> bool:
        """message/rfc822 sent base64 or quoted-printable (not allowed by RFC 2046
        5.2.1, but real): decode it and open it like any forwarded message."""
        cte = str(message.get("Content-Transfer-Encoding", "")).strip().lower()
        if cte not in ("base64", "quoted-printable") or depth >= MAX_NESTING:
            return False
        data = _payload_bytes(message)
        try:
            inner = message_from_bytes(data)
        except Exception:
            return False
        self.visit(inner, self._child(path, "m"), depth + 1, level)
        return True

    def _leaf(self, message: Message, ctype: str, path: str, depth: int) -> None:
        filename = part_filename(message)
        disposition = str(message.get("Content-Disposition") or "").split(";")[0].strip().lower()
        # Body text is a text/plain or text/html part that is not an attachment;
        # a named text file (notes.txt, pupils.csv) is an attachment whose text the
        # extractor reads.
        is_body = ctype in ("text/plain", "text/html") and disposition != "attachment" and not (
            filename and disposition != "inline")
        if is_body:
            text = part_text(message)
            if ctype == "text/html":
                self._add_text(TextPart(ctype, html_to_text(text), from_html=True, html=text, path=path))
            else:
                if "begin" in text:
                    text = self._uuencoded(text, path, depth)
                self._add_text(TextPart(ctype, text, path=path))
            return
        self.attachments.append((filename, ctype, _payload_bytes(message), path, depth))

    def _uuencoded(self, text: str, path: str, depth: int) -> str:
        """Lift `begin 644 name` blocks out of a text body as attachments."""
        found = 0

        def lift(match: re.Match) -> str:
            nonlocal found
            found += 1
            if found > MAX_UU_BLOCKS:
                return match.group(0)
            is_b64, _, name, body = match.groups()
            if is_b64:
                try:
                    data = base64.b64decode(re.sub(r"[^A-Za-z0-9+/=]", "", body) + "==", validate=False)
                except (binascii.Error, ValueError):
                    data = b""
            else:
                data = _uudecode(body)
            declared = mimetypes.guess_type(name)[0] or "application/octet-stream"
            self.attachments.append((name.strip(), declared, data, f"{path}.uu{found}" if path else f"uu{found}",
                                     depth))
            return f"[uuencoded attachment: {name.strip()}]"

        return _UU_BLOCK.sub(lift, text)


def parse_message(raw: bytes) -> tuple[Message | None, str]:
    try:
        return message_from_bytes(raw), ""
    except RecursionError:
        return None, "MIME structure nested too deeply to parse"
    except Exception as exc:  # the stdlib parser is lenient; this catches the pathological
        return None, f"{type(exc).__name__}: {exc}"


def _party(address: str, directory: Directory, display_name: str = "") -> Party:
    addr = normalise_address(address)
    return Party(
        address=addr,
        role=directory.role_of(addr),
        internal=directory.is_school_address(addr),
        name=directory.name_of(addr) or display_name,
        year=directory.year_of(addr),
        groups=directory.groups_of(addr),
    )


# "Display Name <local@domain>" and a bare "local@domain" in their plainest form (letters and
# digits for words, no comment, quote, route or group): what most From headers are. For these
# parseaddr's answer is known - the words joined by one space, the address as written - and the
# stdlib's character-by-character address parser (5 % of parsing a newsletter) is not needed;
# any other form goes to parseaddr (tests/filters/test_message.py compares the two).
_LOCAL = r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
_DOMAIN = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_PLAIN_FROM = re.compile(rf"[ \t]*(?:([A-Za-z0-9]+(?:[ \t]+[A-Za-z0-9]+)*)[ \t]*)?<({_LOCAL}@{_DOMAIN})>[ \t]*"
                         rf"|[ \t]*({_LOCAL}@{_DOMAIN})[ \t]*")


def parse_from(value: str) -> tuple[str, str]:
    """email.utils.parseaddr(value), with the plain forms read by one regex."""
    plain = _PLAIN_FROM.fullmatch(value)
    if plain is None:
        return parseaddr(value)
    name, addr, bare = plain.groups()
    if bare is not None:
        return "", bare
    return (" ".join(name.split()) if name else ""), addr


def build_view(raw: bytes, envelope: Envelope, directory: Directory, *,
               extractor=None, message_id: str | None = None) -> MessageView:
    """Parse once. Never raises: a message we cannot read gets `parse_error` set.

    `extractor` (filters.extract.AttachmentExtractor) sniffs types and pulls text
    out of attachments; without it attachments carry bytes only.
    """
    view_id = message_id or uuid.uuid4().hex[:16]
    sha = hashlib.sha256(raw).hexdigest()
    walker = _Walker()
    headers: list[tuple[str, str]] = []
    subject = from_name = from_addr = ""
    message, error = parse_message(raw)
    if message is not None:
        try:
            headers = _headers_of(message)
            subject = _first(headers, "Subject")
            from_name, from_addr = parse_from(_first(headers, "From"))
            walker.visit(message)
            error = walker.overflow
        except RecursionError:
            error = "MIME structure nested too deeply"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("message %s: parse error: %s", view_id, error, exc_info=True)
    attachments: list[Attachment] = []
    deadline = time.monotonic() + MAX_EXTRACTION_SECONDS
    for filename, ctype, data, path, depth in walker.attachments:
        attachment = Attachment(filename=filename, declared_type=ctype, sniffed_type="", size=len(data),
                                data=data, path=path, depth=depth)
        if extractor is not None:
            try:
                attachment = extractor.enrich(attachment, deadline=deadline)
            except Exception as exc:  # enrich never raises by contract; this keeps it so
                attachment = dataclasses.replace(attachment, extraction_note=f"extractor failed: {type(exc).__name__}")
        if "time budget spent" in attachment.extraction_note:
            walker.defects.append("attachment text not fully extracted: time budget spent")
        attachments.append(attachment)
    sender = _party(envelope.mail_from, directory, from_name if normalise_address(from_addr) ==
                    normalise_address(envelope.mail_from) else "")
    if sender.internal and not envelope.client_trusted:
        # Anyone can type a school address in MAIL FROM: from an untrusted client the
        # sender is outside the school, so the message is inbound and staff rules never
        # apply to it (filters/sender_trust.py reports the claim as SPOOFED_SCHOOL_SENDER).
        sender = Party(address=sender.address, role=Role.EXTERNAL, internal=False,
                       name=from_name if normalise_address(from_addr) == sender.address else "")
    display_names = {}
    try:
        for name, addr in address_list([v for k, v in headers if k.lower() in ("to", "cc")]):
            if addr:
                display_names[normalise_address(addr)] = name
    except Exception:
        walker.defects.append("unparseable To/Cc")
    recipients = tuple(_party(r, directory, display_names.get(normalise_address(r), ""))
                       for r in envelope.rcpt_tos)
    return MessageView(
        id=view_id, raw=raw, envelope=envelope, headers=tuple(headers), subject=subject,
        from_address=normalise_address(from_addr), from_name=from_name,
        text_parts=tuple(walker.text), attachments=tuple(attachments),
        direction=message_direction(sender, recipients), sender=sender, recipients=recipients,
        defects=tuple(dict.fromkeys(walker.defects)), parse_error=error, received_at=time.time(), sha256=sha,
    )

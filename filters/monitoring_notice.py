"""An optional monitoring notice on mail, per direction: a header, and a footer where it is safe (issue 21 clause 9).

Lees Brook: "All E-mail ... is subject to being swept for viruses and other
content." People are told: a header on every copy of the directions configured,
and a plain-text footer on mail the school sends (outbound, internal) when the
message's shape allows it without re-encoding anything: a text/plain body in
7bit/8bit, or a multipart/mixed message (a text/plain part is appended before
the closing boundary). Inbound mail never gets a footer: changing the body
breaks the sender's DKIM signature. The filter reports nothing.
"""
from __future__ import annotations

import re
from typing import Sequence

from pydantic import Field

from filters.base import Direction, FilterContext, FilterOptions, Finding
from filters.message import MessageView

HEADER = "X-Schoolgate-Monitoring"
_BOUNDARY = re.compile(rb'boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))', re.I)


class Options(FilterOptions):
    header: dict[Direction, str] = Field(
        default_factory=dict, description="header text per direction (inbound, outbound, internal, external)")
    footer: dict[Direction, str] = Field(
        default_factory=dict, description="footer text for outbound and internal mail (never inbound: DKIM)")


def _split(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """(headers, separator, body) at the first empty line."""
    match = re.search(rb"\r?\n\r?\n", raw)
    if match is None:
        return raw, b"", b""
    return raw[:match.start()], raw[match.start():match.end()], raw[match.end():]


def _header_value(headers: bytes, name: bytes) -> bytes:
    match = re.search(rb"(?im)^" + re.escape(name) + rb":(.*(?:\r?\n[ \t].*)*)", headers)
    return match.group(1) if match else b""


def add_footer(raw: bytes, text: str) -> bytes:
    """The footer added without re-encoding, or the bytes unchanged when the shape does not allow it."""
    headers, sep, body = _split(raw)
    if not sep:
        return raw
    nl = b"\r\n" if b"\r\n" in sep else b"\n"
    ctype = _header_value(headers, b"Content-Type").strip().lower()
    cte = _header_value(headers, b"Content-Transfer-Encoding").strip().lower()
    footer = text.replace("\r\n", "\n").replace("\n", "\r\n" if nl == b"\r\n" else "\n")
    if (not ctype or ctype.startswith(b"text/plain")) and cte in (b"", b"7bit", b"8bit"):
        charset_ok = footer.isascii() or b"utf-8" in ctype
        if not charset_ok:
            return raw
        return headers + sep + body.rstrip(b"\r\n") + nl + nl + b"-- " + nl + footer.encode() + nl
    if ctype.startswith(b"multipart/mixed"):
        # the boundary as written (ctype above is lower-cased; boundaries are case-sensitive)
        found = _BOUNDARY.search(_header_value(headers, b"Content-Type"))
        if not found:
            return raw
        boundary = found.group(1) or found.group(2)
        closing = b"--" + boundary + b"--"
        at = body.rfind(closing)
        if at < 0:
            return raw
        part = (b"--" + boundary + nl + b"Content-Type: text/plain; charset=utf-8" + nl
                + b"Content-Transfer-Encoding: 8bit" + nl + b"Content-Disposition: inline" + nl + nl
                + footer.encode("utf-8") + nl)
        return headers + sep + body[:at] + part + body[at:]
    return raw


class MonitoringNoticeFilter:
    name = "monitoring_notice"
    Options = Options

    def __init__(self, options: Options, context: FilterContext) -> None:
        self._options = options

    async def check(self, view: MessageView) -> Sequence[Finding]:
        return []

    def annotate(self, view: MessageView, raw: bytes) -> bytes:
        direction = view.direction
        footer = self._options.footer.get(direction)
        if footer and direction in (Direction.OUTBOUND, Direction.INTERNAL):
            raw = add_footer(raw, footer)
        header = self._options.header.get(direction)
        if header:
            value = " ".join(header.split())  # one line; folding is the next hop's business
            raw = f"{HEADER}: {value}\r\n".encode("utf-8") + raw
        return raw

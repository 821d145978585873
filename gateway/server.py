"""The SMTP face of the gateway (aiosmtpd): accepts, refuses, and hands DATA on. Never decides."""
from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import ssl
import time
from typing import Any

import aiosmtpd
import aiosmtpd.smtp as aiosmtpd_smtp
from aiosmtpd.smtp import MISSING, SMTP, Envelope as SmtpEnvelope, Session, syntax

from config.schema import Settings
from filters.directory import Directory, domain_of
from filters.message import Envelope
from filters.networks import in_networks, parse_networks
from filters.scanner import ScanResult, Scanner
from gateway.dispatch import Dispatcher, role_action_counts
from gateway.metrics import Metrics
from gateway.recipient_check import RecipientChecker, Status as ProbeStatus
from gateway.scan_executor import inline_scan
from quarantine.store import QuarantineStore

log = logging.getLogger("schoolgate.smtp")
decision_log = logging.getLogger("schoolgate.message")

# A line that is only a dot, ended by anything but CRLF on both sides, is an
# end-of-data some MTA further on may honour: SMTP smuggling (CVE-2023-51766
# family). RFC 5321 2.3.8 forbids bare CR and LF; we refuse such a message.
# The definition, as a regex; smuggled() finds the same without running it over the body.
_SMUGGLING = re.compile(rb"(?:\r\n|\n|\r)\.(?:\n|\r(?!\n))|(?<!\r)\n\.\r\n")


def smuggled(raw: bytes) -> bool:
    """_SMUGGLING.search(raw) is not None, by visiting each line break followed by a dot
    (a few in a message) instead of running the regex over every byte (~3 % of the SMTP
    path's time, py-spy, when a body has a line starting with a dot: HTML, CSS)."""
    for start in (b"\n.", b"\r."):
        at = raw.find(start)
        while at >= 0:
            after = raw[at + 2:at + 4]
            if after[:1] == b"\n" or (after[:1] == b"\r" and after[1:2] != b"\n"):
                return True  # the first alternative: a break, a dot, then LF or a lone CR
            if start == b"\n." and after == b"\r\n" and (at == 0 or raw[at - 1] != 0x0D):
                return True  # the second: a bare LF, a dot, CRLF
            at = raw.find(start, at + 1)
    return False

# aiosmtpd's own wording for the size limit, mapped to RFC 3463 enhanced codes.
_REPLY_REWRITES = {
    b"552 Error: Too much mail data": b"552 5.3.4 Message too big for this gateway",
    b"552 Error: message size exceeds fixed maximum message size":
        b"552 5.3.4 Message size exceeds the fixed maximum message size",
}


# Control characters (NUL included) have no place in an address (RFC 5321 4.1.2);
# one that reached the next hop would fail there, after we had said 250.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Domain labels: LDH plus "_" seen in the wild, or U-labels under SMTPUTF8; or an address literal.
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_\-\u0080-\U0010ffff]{1,63}(?<!-)$")
_LITERAL = re.compile(r"^\[[A-Za-z0-9:.\-]+\]$")


def _bad_domain(domain: str) -> bool:
    if _LITERAL.match(domain):
        return False
    labels = domain.rstrip(".").split(".")
    return len(domain) > 255 or not all(_LABEL.match(label) for label in labels)


def address_problem(address: str, *, smtputf8: bool, recipient: bool) -> str | None:
    """The refusal for a malformed MAIL FROM / RCPT TO address, or None when it can be passed on.

    Postfix's wording: 501 5.1.7 bad sender / 501 5.1.3 bad recipient syntax; a
    non-ASCII address without the SMTPUTF8 parameter is 553 5.6.7 (RFC 6531 3.4)."""
    who, code = ("recipient", "5.1.3") if recipient else ("sender", "5.1.7")
    if not recipient and address == "<>":
        return None
    # aiosmtpd decodes the argument with surrogateescape: a surrogate is a byte that was not UTF-8
    if any("\udc80" <= ch <= "\udcff" for ch in address):
        return f"501 {code} Bad {who} address syntax: not valid UTF-8"
    if _CONTROL.search(address):
        return f"501 {code} Bad {who} address syntax: control character in the address"
    if not address.isascii() and not smtputf8:
        return f"553 5.6.7 Non-ASCII {who} address needs the SMTPUTF8 parameter (RFC 6531 3.4)"
    local, at, domain = address.rpartition("@")
    if not at:
        return f"501 {code} Bad {who} address syntax: no domain" if recipient else None
    if not local or _bad_domain(domain):
        return f"501 {code} Bad {who} address syntax"
    return None


def source_routed(address: str) -> bool:
    """user%other@school or host!user@school: routing chosen by the sender (RFC 5321 3.6.1).
    A quoted local part is a literal mailbox name, never a route."""
    local = address.rpartition("@")[0]
    return not local.startswith('"') and ("%" in local or "!" in local)


class _AuthMembers:
    """What aiosmtpd.smtp sees as its `inspect` module (installed below).

    aiosmtpd 1.4's SMTP.__init__ calls inspect.getmembers() on the new protocol and on
    the handler, at every connection, only to keep the members named auth_* (its AUTH
    mechanisms): getattr on some 150 attributes, sorted, ~70 % of setting a session up
    (cProfile; ~0.07 ms of a message's SMTP path). Here getmembers looks up the auth_*
    names alone and returns the same (name, value) pairs in the same order; every other
    name is the real inspect module's."""

    def __getattr__(self, name: str) -> Any:
        return getattr(inspect, name)

    @staticmethod
    def getmembers(obj: Any, predicate: Any = None) -> list[tuple[str, Any]]:
        names = _auth_names(type(obj))
        own = [n for n in getattr(obj, "__dict__", ()) if n[:5] == "auth_"]
        if own:
            names = sorted({*names, *own})
        members = [(name, getattr(obj, name)) for name in names]
        return [m for m in members if predicate is None or predicate(m[1])]


# An address as nearly every client sends it in MAIL FROM / RCPT TO: <dot-atom@ldh-domain>,
# then nothing or blanks and the parameters. aiosmtpd reads every address with the email
# package's RFC 5322 header parser (~10 % of the SMTP path, py-spy); such a one gives the
# same (address, rest) read here (tested). Anything else - quoted local parts, comments,
# routes, address literals, non-ASCII, "<>" - still goes to aiosmtpd's parser.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL_LDH = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_SIMPLE_ADDRESS = re.compile(rf"<({_ATEXT}(?:\.{_ATEXT})*@{_LABEL_LDH}(?:\.{_LABEL_LDH})*)>(?:[ \t]+(?=[^ \t(])|$)")


_AUTH_NAMES: dict[type, list[str]] = {}


def _auth_names(cls: type) -> list[str]:
    names = _AUTH_NAMES.get(cls)
    if names is None:
        names = _AUTH_NAMES[cls] = [n for n in dir(cls) if n.startswith("auth_")]
    return names


_CLASS_DIR: dict[type, frozenset[str]] = {}


def _dir(obj: Any) -> list[str]:
    """dir() for aiosmtpd.smtp, which calls dir(protocol) and dir(handler) at every connection
    (for its smtp_* commands and handle_* hooks; ~3 % of the SMTP path): the class's names are
    computed once, the instance's own added; the same list as dir(). Any object with its own
    __dir__ (a class, a module ...) gets the builtin's."""
    cls = type(obj)
    if cls.__dir__ is not object.__dir__ or not hasattr(obj, "__dict__"):
        return dir(obj)
    names = _CLASS_DIR.get(cls)
    if names is None:
        names = _CLASS_DIR[cls] = frozenset(dir(cls))
    return sorted(names.union(obj.__dict__))


if getattr(aiosmtpd_smtp, "inspect", None) is inspect and not hasattr(aiosmtpd_smtp, "dir"):  # as we know it
    aiosmtpd_smtp.inspect = _AuthMembers()  # type: ignore[assignment]
    aiosmtpd_smtp.dir = _dir  # type: ignore[attr-defined]  # a module global shadows the builtin there


# --- DATA read in blocks ---------------------------------------------------------------------
# aiosmtpd 1.4 reads DATA one line at a time (a readuntil, a list and a join per line:
# ~10 % of the SMTP path for the 5.6 KB newsletter, and most of the SMTP cost of a 2 MB
# message's 27,000 lines). read_data() reads what has arrived, finds the end of data and
# checks the two limits with bytes operations, and gives the same content and the same
# verdict as aiosmtpd's loop (tests/gateway/test_server.py compares them on random streams
# cut at random points). The bytes a client sent after the end of data (pipelined
# commands) go back to the front of the reader's buffer for the command loop.
DATA_NOMINAL, DATA_TOO_LONG, DATA_TOO_MUCH, DATA_CLOSED = "nominal", "too long", "too much", "closed"
_DATA_BLOCK = 256 * 1024  # bytes taken from the reader at a time


def _data_rule(block: bytes, lines_limit: int, size_limit: int, num: int) -> tuple[str, int]:
    """aiosmtpd's per-line rule over the complete CRLF lines of `block`, in order: a line
    whose text (without CRLF) exceeds the stream limit overruns the reader (too long, before
    its size is counted); otherwise its bytes are counted (too much past the size limit),
    then a line longer than the limit with its CRLF is too long. (state, bytes counted)."""
    pos, end = 0, len(block)
    while pos < end:
        stop = block.find(b"\r\n", pos)
        if stop < 0:
            break
        text = stop - pos
        if text > lines_limit:
            return DATA_TOO_LONG, num
        num += text + 2
        if size_limit and num > size_limit:
            return DATA_TOO_MUCH, num
        if text + 2 > lines_limit:
            return DATA_TOO_LONG, num
        pos = stop + 2
    return DATA_NOMINAL, num


async def read_data(reader: asyncio.StreamReader, line_limit: int, size_limit: int | None) -> tuple[bytes, str]:
    """The message after a 354, up to the line that is only a dot: (content with the dot
    transparency of RFC 5321 4.5.2 undone, DATA_NOMINAL), or (b"", DATA_TOO_LONG /
    DATA_TOO_MUCH) once the whole message has been read past a limit, as aiosmtpd decides
    them, or (b"", DATA_CLOSED) when the connection ended first. Lines end at CRLF only."""
    size_limit = size_limit or 0
    blocks: list[bytes] = []
    num = 0  # bytes of the complete lines kept so far (aiosmtpd's num_bytes)
    state = DATA_NOMINAL
    pending = b""  # what follows the last CRLF: a line not yet ended
    cut = False  # pending lost its start (a line already too long): it does not begin a line
    while True:
        chunk = await reader.read(_DATA_BLOCK)
        if not chunk:
            return b"", DATA_CLOSED
        data = pending + chunk if pending else chunk
        if not cut and data.startswith(b".\r\n"):
            end = 0
        else:
            end = data.find(b"\r\n.\r\n")
            end = end + 2 if end >= 0 else -1
        last = end - 2 if end >= 0 else data.rfind(b"\r\n")
        complete = data[:last + 2] if last >= 0 else b""
        if state == DATA_NOMINAL and complete:
            if len(complete) <= line_limit and (not size_limit or num + len(complete) <= size_limit):
                num += len(complete)  # no line in it can be too long, and the total stays under
            else:
                state, num = _data_rule(complete, line_limit, size_limit, num)
            if state == DATA_NOMINAL:
                blocks.append(complete)
        if end >= 0:
            rest = data[end + 3:]
            if rest:  # commands sent after the end of data: the command loop reads them next
                reader._buffer[:0] = rest  # type: ignore[attr-defined]
            break
        pending, cut = (data[last + 2:], False) if last >= 0 else (data, cut)
        if state == DATA_NOMINAL and len(pending) > line_limit + 1:
            state = DATA_TOO_LONG  # the line's text is longer than the limit whatever follows
        if state != DATA_NOMINAL:
            blocks.clear()
            if len(pending) > 4:  # only a CR that may start the end-of-data line is needed
                pending, cut = pending[-1:], True
    if state != DATA_NOMINAL:
        return b"", state
    content = b"".join(blocks)
    if content[:1] == b".":
        content = content[1:]
    return content.replace(b"\r\n.", b"\r\n"), DATA_NOMINAL


# read_data() stands in for aiosmtpd 1.4's DATA loop (GatewaySMTP._read_DATA repeats the rest
# of its smtp_DATA); another aiosmtpd keeps its own
_BLOCK_DATA = aiosmtpd.__version__.startswith("1.4.")


class GatewaySMTP(SMTP):
    """aiosmtpd's protocol with a connection limit and RFC 3463 codes on size errors."""

    def __init__(self, handler: "GatewayHandler", **kwargs: Any) -> None:
        # aiosmtpd's default (1001) answers 500 to any longer line, which RFC 5321 4.5.3.1.6
        # allows but real MTAs do not do: newsletters write HTML without line breaks.
        # The limit also sizes the stream buffer, so it stays bounded (docs/smtp.md).
        self.line_length_limit = handler.settings.gateway.max_line_length + 2
        super().__init__(handler, **kwargs)
        self._gateway = handler
        # aiosmtpd writes each line of a multi-line reply with its own write (a send(2) on
        # loopback is ~40-70 us: the largest cost of the SMTP path, py-spy): EHLO's five
        # lines go out as one write, as Postfix sends them
        self._continued: list[bytes] = []
        self._counted = False
        self._started = False
        self._in_data = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._gateway.connections >= self._gateway.settings.gateway.max_connections:
            transport.write(b"421 4.3.2 Too many connections, try again later\r\n")  # type: ignore[attr-defined]
            transport.close()
            return
        self._gateway.connections += 1
        self._counted = True
        self._gateway.metrics.connections.inc()
        self._started = True
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self._gateway.connections -= 1
            self._gateway.metrics.connections.dec()
        if self._started:  # a connection refused at connect never set up a session
            super().connection_lost(error)

    def _timeout_cb(self) -> None:
        # aiosmtpd just drops an idle session; say why first (RFC 5321 4.5.3.2)
        if getattr(self, "transport", None) is not None:
            self.transport.write(b"421 4.4.2 DATA not completed in time, closing connection\r\n" if self._in_data
                                 else b"421 4.4.2 Idle too long, closing connection\r\n")
        super()._timeout_cb()

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        match = _SIMPLE_ADDRESS.match(arg)
        if match is None:
            return super()._getaddr(arg)
        address = match.group(1)
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, arg[match.end():]

    @syntax("DATA")  # kept for HELP DATA, as aiosmtpd's own
    async def smtp_DATA(self, arg: str) -> None:
        # The upload has its own deadline ([gateway] data_timeout); once it is in,
        # the handler stops the session timer (hold_timer) and bounds scan and
        # delivery itself, so a 421 can never follow a delivery the next hop accepted.
        self._in_data = True
        self._reset_timeout(self._gateway.settings.gateway.data_timeout)
        try:
            if (_BLOCK_DATA and not self._decode_data and "DATA" in self._handle_hooks
                    and isinstance(getattr(self._reader, "_buffer", None), bytearray)):
                await self._read_DATA(arg)
            else:
                await super().smtp_DATA(arg)
        finally:
            self._in_data = False
            if getattr(self, "transport", None) is not None:
                self._reset_timeout()

    async def _read_DATA(self, arg: str) -> None:
        """aiosmtpd 1.4.6's smtp_DATA with its line loop replaced by read_data()."""
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push('503 Error: need RCPT command')
            return
        if arg:
            await self.push('501 Syntax: DATA')
            return
        await self.push('354 End data with <CR><LF>.<CR><LF>')
        try:
            content, state = await read_data(self._reader, self.line_length_limit, self.data_size_limit)
        except asyncio.CancelledError:  # the connection went during DATA
            log.info('Connection lost during DATA')
            self._writer.close()
            raise
        if state == DATA_CLOSED:
            self._writer.close()
            return
        if state != DATA_NOMINAL:
            await self.push("500 Line too long (see RFC5321 4.5.3.1.6)" if state == DATA_TOO_LONG
                            else '552 Error: Too much mail data')
            self._set_post_data_state()
            return
        self.envelope.content = content
        self.envelope.original_content = content
        status = await self._call_handler_hook('DATA')
        self._set_post_data_state()
        await self.push('250 OK' if status is MISSING else status)

    def hold_timer(self) -> None:
        """The message is in: no session timeout until the reply is written."""
        self._in_data = False
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()

    # aiosmtpd answers an address its parser cannot read with "553 5.1.3" for MAIL and
    # RCPT alike; RFC 3463 3.2 has X.1.7 for a bad sender address and RFC 5321 4.2.2
    # gives 501 for a syntax error in an argument (Postfix: 501 5.1.7 / 501 5.1.3).
    _MALFORMED = b"553 5.1.3 Error: malformed address"

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")  # as aiosmtpd's own, for HELP
    async def smtp_MAIL(self, arg: str) -> None:
        self._command = "MAIL"
        try:
            await super().smtp_MAIL(arg)
        finally:
            self._command = ""

    async def push(self, status: Any) -> None:
        raw = status.encode("utf-8") if isinstance(status, str) else status
        if raw == self._MALFORMED:
            raw = (b"501 5.1.7 Bad sender address syntax" if getattr(self, "_command", "") == "MAIL"
                   else b"501 5.1.3 Bad recipient address syntax")
        if raw.startswith(b"500 Line too long"):
            raw = (f"552 5.3.4 Message refused: a line is longer than "
                   f"{self._gateway.settings.gateway.max_line_length} octets").encode()
        raw = _REPLY_REWRITES.get(raw, raw)
        if raw[3:4] == b"-":  # a line of a multi-line reply (EHLO's): sent with its last line
            self._continued.append(raw)
            return
        if self._continued:
            raw = b"\r\n".join([*self._continued, raw])
            self._continued.clear()
        await super().push(raw)


class GatewayHandler:
    """aiosmtpd hooks. Relay control at RCPT, the filter chain and dispatch at DATA."""

    def __init__(self, settings: Settings, scanner: Scanner, dispatcher: Dispatcher, store: QuarantineStore,
                 metrics: Metrics, recipient_check: RecipientChecker | None = None) -> None:
        self.settings = settings
        # built here from [gateway] next_hop unless given: it keeps only its cache
        self.recipient_check = recipient_check or RecipientChecker.from_settings(settings)
        self._deliveries: set[asyncio.Task] = set()
        self.scanner = scanner
        self.dispatcher = dispatcher
        self.store = store
        self.metrics = metrics
        self.directory: Directory = scanner.directory
        self.connections = 0
        self.in_flight = 0
        self.handled = 0  # transactions finished (gateway/memory.py trims the heap after activity)
        # Why a queue before the chain: the filters are CPU-bound, so scanning 100 messages
        # at once in one process only stretches each one past its filter timeouts (measured:
        # every message tempfailed at 100 sessions). Waiting here costs the client nothing.
        self._scan_slots = asyncio.Semaphore(settings.gateway.scan_concurrency)
        self._idle = asyncio.Event()
        self._idle.set()
        self._trusted = parse_networks(settings.gateway.trusted_networks)
        self._trusted_hosts: dict[str, bool] = {}

    def is_trusted(self, peer: Any) -> bool:
        host = peer[0] if isinstance(peer, (tuple, list)) else str(peer)
        # asked at every RCPT and again at DATA (ipaddress parsing, ~2 % of the SMTP path):
        # the answer depends on the host and the config alone, so it is kept per host
        trusted = self._trusted_hosts.get(host)
        if trusted is None:
            if len(self._trusted_hosts) >= 4096:  # bounded: a botnet's addresses do not pile up
                self._trusted_hosts.clear()
            trusted = self._trusted_hosts[host] = in_networks(host, self._trusted)
        return trusted

    async def handle_exception(self, error: Exception) -> str:
        # Our own bug: temporary (the sender retries), and no internals leak to the peer.
        self.metrics.internal_errors.inc()
        log.exception("internal error in SMTP session: %s", error)
        return "451 4.3.0 Internal error, please try again later"

    async def _next_hop_refuses_utf8(self) -> bool:
        """True only when the next hop is known (from its EHLO) not to offer SMTPUTF8."""
        if self.recipient_check is None:
            return False
        return await self.recipient_check.smtputf8_offered() is False

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: SmtpEnvelope, address: str,
                          mail_options: list[str]) -> str:
        problem = address_problem(address, smtputf8=bool(envelope.smtp_utf8), recipient=False)
        if problem:
            return problem
        if not address.isascii() and await self._next_hop_refuses_utf8():
            return "553 5.6.7 The school's mail server cannot take non-ASCII addresses"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender ok"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: SmtpEnvelope, address: str,
                          rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.settings.gateway.max_recipients:
            return "452 4.5.3 Too many recipients"
        problem = address_problem(address, smtputf8=bool(envelope.smtp_utf8), recipient=True)
        if problem:
            return problem
        trusted = self.is_trusted(session.peer)
        school = self.directory.is_school_address(address)
        if not school and not trusted:
            log.info("relay denied: %s -> %s from %s", envelope.mail_from, address, session.peer)
            return "550 5.7.1 Relay denied: this gateway only accepts mail for the school's domains"
        if not domain_of(address):
            return "501 5.1.3 Bad recipient address syntax"
        # Postfix's allow_untrusted_routing = no: a route chosen by an outside sender is
        # how open relays were abused through a trusting next hop.
        if not trusted and source_routed(address):
            return "553 5.1.3 Source-routed address (% or !) not accepted"
        if not address.isascii() and await self._next_hop_refuses_utf8():
            return "553 5.6.7 The school's mail server cannot take non-ASCII addresses"
        if school and not trusted and self.settings.gateway.verify_recipients and self.recipient_check:
            refusal = await self._verify(address)
            if refusal:
                return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient ok"

    async def _verify(self, address: str) -> str | None:
        assert self.recipient_check is not None
        result = await self.recipient_check.verify(address)
        if result.status == ProbeStatus.REFUSED:
            log.info("recipient %s refused by the next hop: %d %s%s", address, result.code, result.message,
                     " (cached)" if result.cached else "")
            return f"550 5.1.1 <{address}>: Recipient address rejected: unknown at the school's mail server"
        if result.status == ProbeStatus.TEMPORARY and self.settings.gateway.verify_tempfail_action == "defer":
            return f"450 4.1.1 <{address}>: Recipient address cannot be verified now; please try again later"
        return None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        started = time.perf_counter()
        hold = getattr(server, "hold_timer", None)
        if hold is not None:
            hold()
        self.in_flight += 1
        self._idle.clear()
        delivery: list[asyncio.Task] = []
        try:
            return await self._data(session, envelope, started, delivery)
        except Exception as exc:
            return await self.handle_exception(exc)
        finally:
            if delivery and not delivery[0].done():
                # the client went away while the next hop is being spoken to: let it
                # finish (cancelling could lose a held copy or hide a delivery)
                log.warning("client %s left during delivery; finishing it", session.peer)
                delivery[0].add_done_callback(lambda _t: self._leave(started))
            else:
                self._leave(started)

    def _leave(self, started: float) -> None:
        self.in_flight -= 1
        self.handled += 1
        if self.in_flight == 0:
            self._idle.set()
        self.metrics.transaction_seconds.observe(time.perf_counter() - started)

    async def _data(self, session: Session, envelope: SmtpEnvelope, started: float,
                    delivery: list[asyncio.Task]) -> str:
        raw: bytes = envelope.original_content or b""
        if smuggled(raw):
            log.warning("refused bare-LF end-of-data sequence from %s", session.peer)
            return "550 5.5.2 Message refused: bare LF or CR in an end-of-data sequence (RFC 5321 2.3.8)"
        peer_ip = session.peer[0] if isinstance(session.peer, (tuple, list)) else str(session.peer)
        # Direction comes from this, not from the claimed sender (filters/message.py).
        smtp_envelope = Envelope(mail_from=envelope.mail_from or "", rcpt_tos=tuple(envelope.rcpt_tos),
                                 client_ip=peer_ip, helo=session.host_name or "",
                                 client_trusted=self.is_trusted(session.peer))
        self.metrics.scan_waiting.inc()
        try:
            async with asyncio.timeout(self.settings.gateway.scan_queue_timeout):
                await self._scan_slots.acquire()
        except TimeoutError:
            self.metrics.busy.inc()
            log.warning("scan queue full for %ss; told %s to retry", self.settings.gateway.scan_queue_timeout,
                        peer_ip)
            return "451 4.3.2 Gateway busy; please try again later"
        finally:
            self.metrics.scan_waiting.dec()
        scan_timeout = self.settings.gateway.scan_timeout
        scan_started = time.perf_counter()
        try:
            # Nothing has been delivered yet: past this deadline a 451 is safe.
            async with asyncio.timeout(scan_timeout):
                with inline_scan(len(raw) <= self.settings.gateway.scan_on_loop_bytes):
                    result = await self.scanner.scan(raw, smtp_envelope)
                # work run on this thread (gateway/scan_executor.py) cannot be interrupted:
                # a scan that overran is found when it returns, and answered the same way
                if time.perf_counter() - scan_started > scan_timeout:
                    raise TimeoutError
        except TimeoutError:
            self.metrics.internal_errors.inc()
            log.warning("scan of a message from %s took over %ss; told to retry", peer_ip, scan_timeout)
            return "451 4.7.1 Message could not be checked in time; please try again later"
        finally:
            self._scan_slots.release()
        # From here the next hop may accept: no deadline of ours may turn that into a
        # 4xx (the retry would duplicate). The relay bounds each of its commands with
        # next_hop_timeout; the task survives the client hanging up (handle_DATA).
        task = asyncio.create_task(self._deliver(result, raw, peer_ip, started))
        delivery.append(task)
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)
        return await asyncio.shield(task)

    async def _deliver(self, result: ScanResult, raw: bytes, peer_ip: str, started: float) -> str:
        """Dispatch, then count and log: one task that runs to its end even if the client left."""
        try:
            return await self._deliver_and_log(result, raw, peer_ip, started)
        except Exception as exc:
            return await self.handle_exception(exc)

    async def _deliver_and_log(self, result: ScanResult, raw: bytes, peer_ip: str, started: float) -> str:
        view, verdict = result.view, result.verdict
        smtp_envelope = view.envelope
        dispatch_started = time.perf_counter()
        outcome = await self.dispatcher.dispatch(view, verdict, self.scanner.annotate(view, raw))
        dispatch_seconds = time.perf_counter() - dispatch_started
        if dispatch_seconds > self.settings.gateway.command_timeout:
            # the session timer waited for it (once it would have said 421 and the retry duplicated)
            log.warning("message %s: delivery took %.1fs, longer than command_timeout %ss", view.id,
                        dispatch_seconds, self.settings.gateway.command_timeout)
        seconds = time.perf_counter() - started
        action = verdict.action.label
        code = outcome.reply[:3]
        if code == "451" and verdict.action.label != "tempfail":
            action = "tempfail"
        self.metrics.messages.labels(action, str(view.direction)).inc()
        for act in verdict.actions.values():
            self.metrics.recipients.labels(act.label).inc()
        schools = self.dispatcher.tenancy.message_schools(view)  # a walk over every recipient: once
        try:
            await self.store.record_decision(
                message_id=view.id, direction=str(view.direction), sender_role=str(view.sender.role),
                action=action, role_actions=role_action_counts(view, verdict), codes=verdict.codes,
                categories=[str(f.category) for f in verdict.findings],
                failures=[f"{f.filter}:{f.kind}" for f in verdict.failures], size=len(raw), seconds=seconds,
                schools=schools)
        except Exception:  # the decision log feeds reports; it must not turn a delivered message into a 451
            log.exception("message %s: decision log not written", view.id)
        if not decision_log.isEnabledFor(logging.INFO):  # [logging] level above info: no line to build
            return outcome.reply
        # the one log line per message (issue 19): everything a collector needs about it
        decision_log.info(json.dumps({
            "event": "message", "id": view.id, "client": peer_ip, "helo": smtp_envelope.helo,
            "mail_from": smtp_envelope.mail_from,
            "recipients": {r: a.label for r, a in verdict.actions.items()},
            "direction": str(view.direction), "codes": list(verdict.codes),
            "schools": list(schools),
            "failures": [f.as_dict() for f in verdict.failures], "size": len(raw),
            "reply": code, "stored": outcome.stored_id,
            "filter_ms": {k: round(v * 1000, 2) for k, v in result.chain.timings.items()},
            "ms": round(seconds * 1000, 2)}))
        return outcome.reply

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    cfg = settings.gateway
    if cfg.tls_cert is None or cfg.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cfg.tls_cert), str(cfg.tls_key))
    return context


def protocol_factory(handler: GatewayHandler, settings: Settings):
    context = tls_context(settings)
    cfg = settings.gateway

    def make() -> GatewaySMTP:
        return GatewaySMTP(handler, hostname=cfg.hostname, ident="schoolgate ESMTP",
                           data_size_limit=cfg.max_message_size, enable_SMTPUTF8=True,
                           decode_data=False, timeout=cfg.command_timeout,
                           tls_context=context, require_starttls=False)
    return make

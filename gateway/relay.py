"""Delivery to one next hop over pooled aiosmtplib connections: envelope, TLS, per-recipient answers.

A transaction is opened (MAIL, then RCPT for each recipient) before any copy
is handed over, so the router (gateway/routing.py) can open every route first
and send DATA only when all of them are ready. A next hop refusing some
recipients does not fail the others: the result names them (`refused`) and the
caller keeps their copy (docs/delivery.md).

The envelope is written by us, not by aiosmtplib's address parser, which
refuses the null sender `<>` (every bounce) and cannot send UTF-8 addresses:
`MAIL FROM:<>` goes out as such, and SMTPUTF8 (RFC 6531) is used when an
address needs it, or a clear 553 5.6.7 when the next hop does not offer it.

TLS per route (`none | opportunistic | required`): certificates are verified
against the system CAs or the route's CA file whenever TLS is used; a
certificate that fails, or `required` without STARTTLS, is a 451 4.7.5 and a
log line naming the route - never a silent fall back to plain text.

When the next hop offers PIPELINING (RFC 2920), MAIL and every RCPT go out in
one write and their replies are read back in order (`pipeline`): one round trip
instead of one per command. The replies mean exactly what they mean one at a
time; DATA is never in the group, so it is sent only once a RCPT was accepted.

What a connection actually negotiated is read from the live transport
(`connection_security`), not from the route's mode: issue 21 clause 4 lets a
copy carrying pupil data go only over a connection that is encrypted now with a
certificate that was verified (gateway/routing.py asks before any DATA).
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Sequence

import aiosmtplib

from filters.errors import SchoolgateError

log = logging.getLogger(__name__)

TLS_MODES = ("none", "opportunistic", "required")


def data_payload(data: bytes) -> bytes | None:
    """What aiosmtplib's DATA puts on the wire after the 354 (its line endings normalised, lines
    starting with a dot doubled, the end-of-data line), for a message whose every line already
    ends in CRLF; None for one with a bare CR or LF (aiosmtplib's own regexes then do it). The
    regexes cost 0.08 ms at 5.6 KB and ~50 ms at 2 MB; counting and one replace a quarter of it."""
    crlf = data.count(b"\r\n")
    if data.count(b"\r") != crlf or data.count(b"\n") != crlf:
        return None
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    stuffed = data.replace(b"\r\n.", b"\r\n..")
    return (b"." + stuffed if stuffed[:1] == b"." else stuffed) + b".\r\n"


async def send_data(client: aiosmtplib.SMTP, data: bytes) -> aiosmtplib.SMTPResponse:
    """client.data(data), with the payload made by data_payload() when it can: DATA through
    aiosmtplib, the message through its protocol's write and read_response, the same errors
    (SMTPDataError for a reply other than 354 / 250; a timeout or disconnect closes the client)."""
    payload = data_payload(data)
    if payload is None:
        return await client.data(data)
    start = await client.execute_command(b"DATA")
    if start.code != 354:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    protocol = client.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    try:
        protocol.write(payload)
        response = await protocol.read_response(timeout=client.timeout)  # no await in between
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        client.close()
        raise
    if response.code != 250:
        raise aiosmtplib.SMTPDataError(response.code, response.message)
    return response


MAX_REPLY_BYTES = 65_536  # a reply group longer than this is not SMTP (aiosmtplib allows 8 KB per reply)


class _Replies(asyncio.Protocol):
    """Takes the connection's incoming bytes while a pipelined group's replies come back.

    aiosmtplib reads one reply per command it sent and drops what arrives while no command
    waits (aiosmtplib/protocol.py data_received), so the second and later replies of a group -
    often in the same segment as the first - would be lost. For the group the transport is
    handed to this collector (asyncio's transport.set_protocol), then handed back; a lost
    connection or EOF is passed on, so the client knows it is disconnected."""

    def __init__(self, owner: asyncio.BaseProtocol, expected: int) -> None:
        self.owner = owner
        self.expected = expected
        self.buffer = bytearray()
        self.replies: list[aiosmtplib.SMTPResponse] = []
        self.done: asyncio.Future[list[aiosmtplib.SMTPResponse]] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return  # nothing was asked for: unsolicited, as aiosmtplib treats it
        self.buffer.extend(data)
        try:
            while len(self.replies) < self.expected:
                reply = self._parse()
                if reply is None:
                    break
                self.replies.append(reply)
        except aiosmtplib.SMTPResponseException as exc:
            self.done.set_exception(exc)
            return
        if len(self.replies) == self.expected:
            self.done.set_result(self.replies)
        elif len(self.buffer) > MAX_REPLY_BYTES:
            self.done.set_exception(aiosmtplib.SMTPResponseException(-1, "Response too long"))

    def _parse(self) -> aiosmtplib.SMTPResponse | None:
        """One complete (perhaps multi-line) reply off the front of the buffer, or None yet."""
        offset, lines = 0, []
        while True:
            end = self.buffer.find(b"\n", offset)
            if end < 0:
                return None
            line = bytes(self.buffer[offset:end + 1])
            offset = end + 1
            if not line[:3].isdigit():
                raise aiosmtplib.SMTPResponseException(
                    -1, f"Malformed SMTP response line: {line.decode('utf-8', 'replace')[:80]}")
            lines.append(line[4:].strip(b" \t\r\n"))
            if line[3:4] != b"-":
                del self.buffer[:offset]
                return aiosmtplib.SMTPResponse(int(line[:3]), b"\n".join(lines).decode("utf-8", "surrogateescape"))

    def _lost(self, exc: BaseException | None) -> None:
        if self.done.done():
            return
        if any(r.code == 421 for r in self.replies):
            # RFC 5321 3.8: 421 is the next hop closing; what it did not answer shares that answer
            closing = next(r for r in self.replies if r.code == 421)
            self.done.set_result(self.replies + [closing] * (self.expected - len(self.replies)))
            return
        error = aiosmtplib.SMTPServerDisconnected("Connection lost")
        error.__cause__ = exc
        self.done.set_exception(error)

    def eof_received(self) -> bool | None:
        self._lost(None)
        return self.owner.eof_received()  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(exc)
        self.owner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.owner.pause_writing()

    def resume_writing(self) -> None:
        self.owner.resume_writing()


async def pipeline(client: aiosmtplib.SMTP, commands: Sequence[bytes]) -> list[aiosmtplib.SMTPResponse]:
    """RFC 2920: every command line (CRLF-terminated) in one write, their replies in order.
    A timeout or a lost connection closes the client and raises, as aiosmtplib's own commands do;
    a 421 among the replies closes it too, after the replies are read."""
    protocol = client.protocol
    transport = protocol.transport if protocol is not None else None
    if protocol is None or transport is None or transport.is_closing():
        raise aiosmtplib.SMTPServerDisconnected("Server not connected")
    collector = _Replies(protocol, len(commands))
    transport.set_protocol(collector)
    try:
        transport.write(b"".join(commands))
        replies = await asyncio.wait_for(collector.done, client.timeout)
    except asyncio.TimeoutError as exc:
        client.close()
        raise aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response") from exc
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPResponseException):
        client.close()  # a group half read cannot be resynchronised
        raise
    finally:
        if not transport.is_closing():
            transport.set_protocol(protocol)
    if any(r.code == 421 for r in replies):
        client.close()
    return replies


def tls_mode(value: str) -> str:
    """The route's TLS mode; `starttls` (the original `next_hop_tls` value) means `required`."""
    return "required" if value == "starttls" else value


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    ok: bool  # the next hop took the message for `accepted` (perhaps not for all: see `refused`)
    code: int  # the next hop's code, or ours (451 unreachable, 553 SMTPUTF8 ...)
    message: str
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)  # recipient -> (code, text)
    accepted: tuple[str, ...] = ()
    status: str = ""  # RFC 3463 enhanced code when the answer is ours, e.g. "5.6.7"

    @property
    def temporary(self) -> bool:
        return not self.ok and 400 <= self.code < 500

    @property
    def smtp_reply(self) -> str:
        """The answer for our own client: same class as the next hop's."""
        if self.ok:
            return f"250 2.0.0 {self.message}"
        if self.status:
            return f"{self.code} {self.status} {self.message}"[:400]
        if self.temporary:
            return f"{self.code} 4.4.0 next hop said: {self.message}"[:400]
        return f"{self.code} 5.0.0 next hop said: {self.message}"[:400]


def combined_refusal(refused: dict[str, tuple[int, str]]) -> DeliveryResult:
    """Every recipient refused: 4xx if any refusal is temporary (a retry may succeed for all)."""
    codes = [c for c, _ in refused.values()]
    code = min(c for c in codes if c < 500) if any(c < 500 for c in codes) else max(codes)
    text = "; ".join(f"<{r}>: {c} {m}" for r, (c, m) in refused.items())
    return DeliveryResult(False, code, text, dict(refused))


class NextHopError(SchoolgateError):
    """The route cannot be used now (unreachable, TLS not possible, certificate refused)."""


def _bad_address(address: str) -> bool:
    # The envelope comes from aiosmtpd's parser; still, nothing that could end or
    # extend an SMTP command line goes out (no CR, LF, NUL, angle brackets).
    return any(ch in address for ch in "\r\n\0<>")


def _rcpt_command(rcpt: str, encoding: str) -> bytes | tuple[int, str]:
    """The RCPT command line for a recipient, or the refusal of one that cannot be sent on."""
    if _bad_address(rcpt):
        return 553, "5.1.3 recipient address cannot be sent on"
    try:
        return b"RCPT TO:<" + rcpt.encode(encoding) + b">"
    except UnicodeEncodeError:  # an ASCII-only transaction cannot carry it
        return 553, "5.6.7 next hop does not accept internationalised addresses"


def _has_8bit(data: bytes) -> bool:
    return not data.isascii()


def _header_block(data: bytes) -> bytes:
    end = data.find(b"\r\n\r\n")
    if end < 0:
        end = data.find(b"\n\n")
    return data if end < 0 else data[:end]


def _cert_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def connection_security(client: aiosmtplib.SMTP) -> tuple[bool, str]:
    """(verified, what was negotiated) for a live connection, read from its transport.

    Verified means TLS is up on this connection now and its certificate was checked
    against a CA with the host name (an ssl context with CERT_REQUIRED and
    check_hostname, as _tls_context makes): not what the route's config hopes for.
    """
    try:
        tls = client.get_transport_info("ssl_object")
    except aiosmtplib.SMTPServerDisconnected:
        return False, "was lost"
    if tls is None:
        return False, "is not encrypted (no TLS)"
    context = tls.context
    version = tls.version() or "TLS"
    if context.verify_mode != ssl.CERT_REQUIRED or not context.check_hostname:
        return False, f"negotiated {version} without a verified certificate"
    return True, f"negotiated {version} with a verified certificate"


class Lease:
    """One pooled connection, held for one or more transactions of one message."""

    def __init__(self, hop: "NextHop", client: aiosmtplib.SMTP, reused: bool) -> None:
        self.hop = hop
        self.client = client
        self.reused = reused
        self.broken = False

    def security(self) -> tuple[bool, str]:
        """(verified TLS now, what was negotiated): see connection_security."""
        return connection_security(self.client)

    async def begin(self, mail_from: str, rcpt_tos: Sequence[str], data: bytes) -> DeliveryResult:
        """MAIL and RCPT. ok: DATA may follow for `accepted` (some may be `refused`);
        otherwise nothing is open and the result is the answer for every recipient."""
        hop = self.hop
        sender = "" if mail_from in ("", "<>") else mail_from
        if _bad_address(sender):
            return DeliveryResult(False, 553, "sender address cannot be sent on", status="5.1.7")
        utf8 = not sender.isascii() or not all(r.isascii() for r in rcpt_tos)
        for attempt in range(2):
            try:
                return await self._begin(sender, rcpt_tos, data, utf8)
            except aiosmtplib.SMTPServerDisconnected as exc:
                # a pooled connection the far end closed while idle shows here, before
                # anything was sent: one retry on a fresh connection is safe
                hop.discard(self.client)
                if self.reused and attempt == 0:
                    try:
                        self.client, self.reused = await hop.connect(), False
                        continue
                    except NextHopError as again:
                        self.broken = True
                        return hop.unreachable(again)
                self.broken = True
                return hop.failed("disconnect", exc)
            except (OSError, asyncio.TimeoutError, aiosmtplib.SMTPException) as exc:
                self.broken = True
                hop.discard(self.client)
                return hop.failed("error", exc)
        return DeliveryResult(False, 451, "next hop unavailable", status="4.4.1")  # pragma: no cover

    async def _begin(self, sender: str, rcpt_tos: Sequence[str], data: bytes, utf8: bool) -> DeliveryResult:
        client, hop = self.client, self.hop
        options: list[bytes] = []
        if utf8 or not _header_block(data).isascii():
            if client.supports_extension("smtputf8"):
                options.append(b"SMTPUTF8")
            elif utf8:
                # RFC 6531 3.4: a UTF-8 address the next hop cannot take is refused, not mangled
                hop.note_answer()
                log.info("%s: no SMTPUTF8 for an internationalised address; refused with 553 5.6.7", hop.label)
                return DeliveryResult(False, 553, f"{hop.name} does not accept internationalised "
                                                  f"addresses (no SMTPUTF8, RFC 6531)", status="5.6.7")
        if _has_8bit(data) and client.supports_extension("8bitmime"):
            options.append(b"BODY=8BITMIME")
        if client.supports_extension("size"):
            options.append(f"SIZE={len(data)}".encode("ascii"))
        encoding = "utf-8" if b"SMTPUTF8" in options else "ascii"
        mail = b" ".join([b"MAIL", b"FROM:<" + sender.encode(encoding) + b">", *options])
        commands = [_rcpt_command(rcpt, encoding) for rcpt in rcpt_tos]
        pipelined = client.supports_extension("pipelining")
        if pipelined:
            answers = await pipeline(client, [mail + b"\r\n"] + [c + b"\r\n" for c in commands
                                                                     if isinstance(c, bytes)])
            replies = iter(answers)
            mail_reply = next(replies)
        else:
            mail_reply = await client.execute_command(mail)
        hop.note_answer()
        if mail_reply.code != 250:
            # pipelined RCPTs after a refused MAIL were answered too (503 or so) and mean nothing
            await self.abort()
            return DeliveryResult(False, mail_reply.code, mail_reply.message)
        if pipelined and not client.is_connected:
            # a 421 to a RCPT (pipeline closed the client): the next hop is going away, so no
            # recipient is really accepted; a 4xx for all, as a connection lost mid-RCPT is
            self.broken = True
            closing = next((f"421 {r.message}" for r in answers if r.code == 421), "Connection lost")
            return hop.failed("disconnect", aiosmtplib.SMTPServerDisconnected(closing))
        accepted: list[str] = []
        refused: dict[str, tuple[int, str]] = {}
        for rcpt, command in zip(rcpt_tos, commands):
            if not isinstance(command, bytes):
                refused[rcpt] = command
                continue
            reply = next(replies) if pipelined else await client.execute_command(command)
            if reply.code in (250, 251):
                accepted.append(rcpt)
            else:
                refused[rcpt] = (reply.code, reply.message)
        if not accepted:
            await self.abort()
            return combined_refusal(refused)
        return DeliveryResult(True, 250, "recipients accepted", refused=refused, accepted=tuple(accepted))

    async def commit(self, opened: DeliveryResult, data: bytes) -> DeliveryResult:
        """DATA for the recipients `begin` opened. A dropped connection after the
        message was sent leaves the outcome unknown: never resent here (RFC 5321 6.1)."""
        hop = self.hop
        try:
            response = await send_data(self.client, data)
        except aiosmtplib.SMTPResponseException as exc:
            hop.note_answer()
            await self.abort()
            hop.count("4xx" if exc.code < 500 else "5xx")
            return DeliveryResult(False, exc.code, exc.message, accepted=())
        except (OSError, asyncio.TimeoutError, aiosmtplib.SMTPException) as exc:
            self.broken = True
            hop.discard(self.client)
            return hop.failed("disconnect", exc, after_data=True)
        hop.note_answer()
        return DeliveryResult(True, response.code, response.message, refused=dict(opened.refused),
                              accepted=opened.accepted)

    async def abort(self) -> None:
        try:
            await self.client.rset()
        except Exception:
            self.broken = True
            self.hop.discard(self.client)


def insecure_refusal(lease: Lease, reason: str) -> DeliveryResult | None:
    """None when the lease's connection is verified TLS; else the 451 a copy needing it gets."""
    verified, negotiated = lease.security()
    if verified:
        return None
    log.warning("%s: a copy that must go over verified TLS was not sent: %s", lease.hop.label, negotiated)
    return DeliveryResult(False, 451, f"{reason}; the connection to {lease.hop.name} {negotiated}"[:300],
                          status="4.7.1")


class NextHop:
    """A small pool of SMTP client connections to one host:port (one route).

    Connections are reused across messages (measured 1.28x faster than one per
    message). A connection that fails in any way is closed, never reused.
    `last_ok` / `last_error` feed /healthz (gateway/health.py).
    """

    def __init__(self, host: str, port: int, *, pool_size: int = 8, timeout: float = 60.0,
                 local_hostname: str = "schoolgate.local", tls: str = "opportunistic",
                 ca_file: Path | str | None = None, name: str = "next_hop", metrics=None) -> None:
        self.host, self.port = host, port
        self.name = name  # the config key, for logs and /healthz
        self._timeout = timeout
        self._hostname = local_hostname
        self.tls = tls_mode(tls)
        if self.tls not in TLS_MODES:
            raise ValueError(f"{name}_tls must be one of {', '.join(TLS_MODES)}, got {tls!r}")
        self._ca_file = str(ca_file) if ca_file else None
        self._context: ssl.SSLContext | None = None
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(pool_size)
        self._metrics = metrics
        self._closed = False
        self.last_ok: float | None = None  # time.time() of the last answer from the next hop
        self.last_error: tuple[float, str] | None = None

    @property
    def label(self) -> str:
        return f"{self.name} {self.host}:{self.port}"

    # -- health bookkeeping ---------------------------------------------------------------
    def note_answer(self) -> None:
        self.last_ok = time.time()

    def note_error(self, text: str) -> None:
        self.last_error = (time.time(), text)

    def count(self, kind: str) -> None:
        if self._metrics is not None:
            self._metrics.next_hop_error(kind)

    def unreachable(self, exc: BaseException) -> DeliveryResult:
        self.count("connect")
        text = str(exc) or type(exc).__name__
        self.note_error(text)
        log.warning("%s unreachable: %s", self.label, text)
        if isinstance(exc, NextHopError) and "TLS" in text:
            return DeliveryResult(False, 451, f"{self.name}: {text}"[:300], status="4.7.5")
        return DeliveryResult(False, 451, "next hop unreachable", status="4.4.1")

    def failed(self, kind: str, exc: BaseException, after_data: bool = False) -> DeliveryResult:
        self.count(kind)
        text = str(exc) or type(exc).__name__
        self.note_error(text)
        log.warning("%s failed%s: %s", self.label, " after the message was sent" if after_data else "", text)
        if kind == "disconnect":
            return DeliveryResult(False, 451, "next hop closed the connection", status="4.4.2")
        return DeliveryResult(False, 451, "next hop failed during the transaction", status="4.4.2")

    # -- connections ----------------------------------------------------------------------
    def _tls_context(self) -> ssl.SSLContext:
        if self._context is None:
            # the route's CA file replaces the system store: a school pinning its own CA
            # means exactly that CA
            self._context = ssl.create_default_context(cafile=self._ca_file)
        return self._context

    def _client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=self._timeout,
                               local_hostname=self._hostname, start_tls=False, use_tls=False)

    async def connect(self) -> aiosmtplib.SMTP:
        """Connected, EHLO'd and - as the route's TLS mode says - encrypted. NextHopError otherwise."""
        try:
            client = self._client()
            await client.connect()
            await client.ehlo()
        except (OSError, asyncio.TimeoutError, aiosmtplib.SMTPException) as exc:
            raise NextHopError(f"cannot connect: {exc}") from exc
        if self.tls == "none":
            return client
        if not client.supports_extension("starttls"):
            if self.tls == "required":
                self.discard(client)
                raise NextHopError("TLS required but the next hop does not offer STARTTLS")
            return client
        try:
            context = await asyncio.to_thread(self._tls_context)
            await client.starttls(server_hostname=self.host, tls_context=context)
            await client.ehlo()  # RFC 3207 4.2: forget what was said before TLS
            return client
        except Exception as exc:  # noqa: BLE001 - classified below, never swallowed
            self.discard(client)
            cert = _cert_error(exc)
            if cert is not None:
                raise NextHopError(f"TLS certificate not trusted ({cert.verify_message or cert}); "
                                   f"set {self.name}_ca_file to the CA that signed it") from exc
            if isinstance(exc, (ssl.SSLError, OSError)) and self.tls == "opportunistic":
                # a handshake that fails for another reason (no common cipher, a broken
                # TLS stack): opportunistic TLS goes on in plain text, as Postfix's "may"
                log.warning("%s: STARTTLS failed (%s); continuing without TLS", self.label, exc)
                try:
                    client = self._client()
                    await client.connect()
                    await client.ehlo()
                    return client
                except (OSError, asyncio.TimeoutError, aiosmtplib.SMTPException) as again:
                    raise NextHopError(f"cannot connect: {again}") from again
            if isinstance(exc, ssl.SSLError):
                raise NextHopError(f"TLS required but the handshake failed: {exc}") from exc
            raise NextHopError(f"STARTTLS failed: {exc}") from exc

    def discard(self, client: aiosmtplib.SMTP) -> None:
        try:
            client.close()
        except Exception:
            pass

    async def _acquire(self) -> tuple[aiosmtplib.SMTP, bool]:
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client, True
        return await self.connect(), False

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Lease]:
        """A connection for one message's transactions; NextHopError when there is none."""
        if self._closed:
            raise NextHopError("gateway shutting down")
        async with self._slots:
            client, reused = await self._acquire()
            lease = Lease(self, client, reused)
            try:
                yield lease
            finally:
                if not lease.broken and lease.client.is_connected and len(self._idle) < 64 \
                        and not self._closed:
                    self._idle.append(lease.client)
                else:
                    self.discard(lease.client)

    # -- one transaction ---------------------------------------------------------------------
    async def deliver(self, mail_from: str, rcpt_tos: Sequence[str], data: bytes, *,
                      require_tls: str = "") -> DeliveryResult:
        """MAIL, RCPT, DATA. ok with `refused` set: delivered to `accepted` only.
        `require_tls`: the reason this copy may go only over verified TLS (issue 21 clause 4);
        without it on this connection nothing is sent and the answer is 451 with the reason."""
        try:
            async with self.lease() as lease:
                if require_tls:
                    refusal = insecure_refusal(lease, require_tls)
                    if refusal is not None:
                        return refusal
                opened = await lease.begin(mail_from, rcpt_tos, data)
                if not opened.ok:
                    self.count("4xx" if opened.temporary else "5xx")
                    return opened
                return await lease.commit(opened, data)
        except NextHopError as exc:
            return self.unreachable(exc)

    async def probe(self) -> str:
        """Connect, EHLO (and STARTTLS as configured), QUIT; NextHopError when that fails."""
        try:
            client = await self.connect()
        except NextHopError as exc:
            self.note_error(str(exc))
            raise NextHopError(f"{self.label}: {exc}") from exc
        self.note_answer()
        try:
            await client.quit()
        except Exception:
            self.discard(client)
        return f"{self.label} answered"

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await asyncio.wait_for(client.quit(), 2)
            except Exception:
                self.discard(client)

"""Virus scanning: stream each raw message to clamd over INSTREAM and report what it names; fail closed.

The whole raw message goes to clamd, so ClamAV's own MIME, uuencode, TNEF and
archive engines see everything (zip in zip, gzip, 7z, forwarded message/rfc822).
A small asyncio client talks to clamd (unix: or tcp:) instead of the
synchronous `clamd` package: no threads on the SMTP path and the chain's
deadline cancels the socket itself (docs/clamd.md has the measurements).

Exceptions (all raised from check(), which the chain records as a FilterFailure
whose on_error - tempfail by default - decides; never a silent pass)::

    ClamdError                 clamd answered something other than OK / FOUND
    +-- ClamdUnavailable       cannot connect, or the connection broke
    +-- ClamdTimeout           no answer within the timeout
    VirusSelfTestError         self_test(): the gateway must not start (no clamd, blind,
                               or test-only/stale signatures without allow_test_signatures)
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import struct
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Sequence

from pydantic import Field, field_validator

from filters.base import Category, FilterContext, FilterOptions, Finding, Severity
from filters.errors import SchoolgateError
from filters.message import MessageView

log = logging.getLogger(__name__)

DEFAULT_CLAMD = "unix:/var/run/clamav/clamd.ctl"
# 25 MiB: the gateway's default max_message_size and Debian's StreamMaxLength 25M.
DEFAULT_MAX_SCAN_BYTES = 25 * 1024 * 1024
# clamd reads INSTREAM in chunks; 64 KiB keeps each write within one socket buffer.
CHUNK_BYTES = 64 * 1024

# The EICAR anti-virus test string, built from two halves so that no file in
# the repository is itself a "test virus" a scanner would quarantine.
_EICAR_HEAD = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$"
_EICAR_TAIL = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR: bytes = (_EICAR_HEAD + _EICAR_TAIL).encode("ascii")

# With `AlertExceedsMax yes` / `AlertEncrypted yes` clamd reports what it could
# not scan as a "FOUND" heuristic. That is not a virus but an incomplete scan:
# held for a person, never passed.
_INCOMPLETE_PREFIXES = ("Heuristics.Limits.Exceeded", "Heuristics.Encrypted")

_FOUND = re.compile(r"^(?:stream|[^:]*):\s*(?P<name>.+?)\s+FOUND$")


class ClamdError(SchoolgateError):
    """clamd could not give a verdict (an error reply, an unreadable answer)."""


class ClamdUnavailable(ClamdError):
    """No connection to clamd, or it dropped the connection."""


class ClamdTimeout(ClamdError):
    """clamd did not answer in time."""


class VirusSelfTestError(SchoolgateError):
    """The start-up check failed: clamd missing, not answering, or not detecting EICAR."""


@dataclass(frozen=True, slots=True)
class ClamdAddress:
    kind: str  # "unix" | "tcp"
    path: str = ""
    host: str = ""
    port: int = 0

    @classmethod
    def parse(cls, value: str) -> "ClamdAddress":
        scheme, sep, rest = value.partition(":")
        if sep and scheme == "unix" and rest.startswith("/"):
            return cls("unix", path=rest)
        if sep and scheme == "tcp":
            host, sep2, port = rest.rpartition(":")
            if sep2 and host and port.isdigit() and 0 < int(port) <= 65535:
                return cls("tcp", host=host.strip("[]"), port=int(port))
        raise ValueError(f"clamd must be 'unix:/absolute/path' or 'tcp:host:port', got {value!r}")

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.kind == "unix" else f"tcp:{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ClamdVersion:
    text: str  # the reply as sent, e.g. "ClamAV 1.4.6/27500/Sun Nov 22 09:24:01 2026"
    engine: str
    signatures: int | None  # daily database version, None for local test databases
    signature_date: dt.datetime | None


def parse_version(reply: str) -> ClamdVersion:
    """`ClamAV 1.4.6/27500/Sun Nov 22 09:24:01 2026`; local databases give just `ClamAV 1.4.6`."""
    parts = reply.strip().split("/", 2)
    engine = parts[0].removeprefix("ClamAV ").strip()
    signatures = int(parts[1]) if len(parts) > 1 and parts[1].strip().isdigit() else None
    date: dt.datetime | None = None
    if len(parts) > 2:
        date = _parse_ctime(parts[2].strip())
    return ClamdVersion(reply.strip(), engine, signatures, date)


def _parse_ctime(text: str) -> dt.datetime | None:
    # clamd prints ctime(3) format; tolerate anything else by returning None.
    for fmt in ("%a %b %d %H:%M:%S %Y", "%a %b  %d %H:%M:%S %Y"):
        try:
            return dt.datetime.strptime(" ".join(text.split()), fmt).replace(tzinfo=dt.timezone.utc)
        except ValueError:
            continue
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """What clamd's VERSION says about its signature database, judged against the limit."""
    test_only: bool  # no daily database version or date: a local database (tests, evaluation)
    stale: bool  # dated, but older than signature_max_age_days
    age_days: float | None  # None when undated
    problem: str | None  # one line naming what is wrong; None when the signatures are current


def check_signatures(version: ClamdVersion, max_age_days: float, where: str,
                     now: dt.datetime | None = None) -> SignatureCheck:
    """Judge the signature database clamd reports: test-only (undated), stale, or current."""
    if version.signatures is None or version.signature_date is None:
        return SignatureCheck(True, False, None,
                              f"clamd at {where} has TEST SIGNATURES ONLY ({version.text!r}: no dated daily "
                              f"signature database), so it detects the EICAR test string and no real virus")
    age = (now or dt.datetime.now(dt.timezone.utc)) - version.signature_date
    age_days = age.total_seconds() / 86400
    if age <= dt.timedelta(days=max_age_days):
        return SignatureCheck(False, False, age_days, None)
    return SignatureCheck(False, True, age_days,
                          f"VIRUS SIGNATURES ARE OUT OF DATE: clamd at {where} has signatures from "
                          f"{version.signature_date:%Y-%m-%d} ({age.days} days old, limit {max_age_days:g} days); "
                          f"check that freshclam runs")


def signature_age_warnings(version: ClamdVersion, max_age_days: float, where: str,
                           now: dt.datetime | None = None) -> list[str]:
    """The problem check_signatures() names, as a list (empty when the signatures are current)."""
    problem = check_signatures(version, max_age_days, where, now).problem
    return [problem] if problem else []


class FailingWarning(str):
    """A self-test warning that lets the gateway run (an explicit evaluation setting
    allows it) but marks the install unfit for production: `schoolgate config check`
    prints it as a FAIL line and exits 1 (it reads `fails_check`)."""

    fails_check = True


@dataclass
class _Session:
    """One clamd connection in IDSESSION mode: commands one after another, each reply "<n>: ..."."""
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    loop: asyncio.AbstractEventLoop
    used_at: float = 0.0

    def close(self) -> None:
        try:
            self.writer.close()
        except (OSError, RuntimeError):  # RuntimeError: its loop is already closed
            pass


class ClamdClient:
    """A minimal asyncio client for clamd's z-commands (NUL-terminated).

    PING and VERSION use a connection each. Scans reuse connections: up to
    `pool_size` IDSESSION connections are kept open between messages, so a scan
    costs one command on an open socket instead of a connect, clamd's accept and
    a close (issue 19: about a third of clamd's CPU per small message went on
    the connection). The fail-safe rules do not change: a reused connection that
    turns out dead (clamd restarted, or closed it after its IdleTimeout) is
    dropped and the scan is tried once on a new connection; when that fails
    too it is ClamdUnavailable, which the chain turns into a 4xx. A connection
    whose command failed, timed out or was cancelled is never reused.
    pool_size = 0: one connection per scan, as without IDSESSION."""

    # clamd closes an idle session after its IdleTimeout (30 s by default): drop ours well before
    IDLE_SECONDS = 10.0

    def __init__(self, address: ClamdAddress, timeout: float, pool_size: int = 0) -> None:
        self.address = address
        self.timeout = timeout
        self.pool_size = pool_size
        self._idle: list[_Session] = []
        self.connections_opened = 0  # sessions opened (tests and the bench read it)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            if self.address.kind == "unix":
                return await asyncio.open_unix_connection(self.address.path)
            return await asyncio.open_connection(self.address.host, self.address.port)
        except OSError as exc:
            raise ClamdUnavailable(f"cannot connect to clamd at {self.address}: {exc}") from exc

    @staticmethod
    async def _reply(reader: asyncio.StreamReader) -> str:
        try:
            data = await reader.readuntil(b"\0")
        except asyncio.IncompleteReadError as exc:
            data = exc.partial
        except asyncio.LimitOverrunError as exc:
            raise ClamdError(f"clamd reply too long ({exc.consumed} bytes)") from exc
        return data.rstrip(b"\0").decode("utf-8", "replace").strip()

    async def _run(self, command: bytes, payload: bytes | None = None) -> str:
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await self._connect()
                try:
                    return await self._converse(reader, writer, command, payload)
                finally:
                    writer.close()
                    try:
                        await writer.wait_closed()
                    except OSError:
                        pass
        except TimeoutError as exc:
            raise ClamdTimeout(f"clamd at {self.address} did not answer within {self.timeout:g}s") from exc

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        command: bytes, payload: bytes | None) -> str:
        try:
            # the command, each chunk's length and the chunk, and the end marker go out in as
            # few writes as the chunks allow: a message under CHUNK_BYTES is one send(2), not
            # four, and clamd reads it in one go (issue 19: fewer system calls on both sides)
            parts: list[bytes | memoryview] = [b"z" + command + b"\0"]
            if payload is not None:
                view = memoryview(payload)
                for start in range(0, len(view), CHUNK_BYTES):
                    chunk = view[start:start + CHUNK_BYTES]
                    parts += (struct.pack("!I", len(chunk)), chunk)
                    if start + CHUNK_BYTES < len(view):
                        writer.writelines(parts)
                        parts = []
                        await writer.drain()
                parts.append(b"\0\0\0\0")  # zero-length chunk ends the stream
            writer.writelines(parts)
            await writer.drain()
        except OSError as exc:
            # clamd closes early on "INSTREAM size limit exceeded"; its reply says why.
            try:
                reply = await asyncio.wait_for(self._reply(reader), 1.0)
            except (OSError, TimeoutError):
                reply = ""
            raise ClamdUnavailable(
                f"clamd at {self.address} dropped the connection: {reply or exc}") from exc
        try:
            reply = await self._reply(reader)
        except OSError as exc:
            raise ClamdUnavailable(f"clamd at {self.address} dropped the connection: {exc}") from exc
        if not reply:
            raise ClamdUnavailable(f"clamd at {self.address} closed the connection without an answer")
        return reply

    # -- scans on pooled IDSESSION connections --------------------------------------
    def _take(self, loop: asyncio.AbstractEventLoop) -> _Session | None:
        now = loop.time()
        while self._idle:
            session = self._idle.pop()
            if session.loop is loop and now - session.used_at < self.IDLE_SECONDS:
                return session
            session.close()  # idle too long (clamd may have closed it) or from another event loop
        return None

    async def _open_session(self, loop: asyncio.AbstractEventLoop) -> _Session:
        reader, writer = await self._connect()
        self.connections_opened += 1
        writer.write(b"zIDSESSION\0")
        return _Session(reader, writer, loop)

    async def _session_command(self, command: bytes, payload: bytes | None) -> str:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout):
                session = self._take(loop)
                if session is not None:
                    try:
                        reply = await self._converse(session.reader, session.writer, command, payload)
                    except ClamdUnavailable:
                        session.close()  # dead while idle: once more, on a new connection
                    except BaseException:  # a timeout, a cancel, an error reply: never reused
                        session.close()
                        raise
                    else:
                        return self._give_back(session, reply)
                session = await self._open_session(loop)
                try:
                    return self._give_back(session, await self._converse(
                        session.reader, session.writer, command, payload))
                except BaseException:
                    session.close()
                    raise
        except TimeoutError as exc:
            raise ClamdTimeout(f"clamd at {self.address} did not answer within {self.timeout:g}s") from exc

    def _give_back(self, session: _Session, reply: str) -> str:
        """The reply without its "<n>: " request number; the connection back in the pool
        unless clamd reported an error (it ends the session then) or the pool is full."""
        number, sep, rest = reply.partition(": ")
        if sep and number.isdigit():
            reply = rest
        if reply.endswith("ERROR") or len(self._idle) >= self.pool_size:
            session.close()
        else:
            session.used_at = session.loop.time()
            self._idle.append(session)
        return reply

    async def close(self) -> None:
        """Close the pooled connections (telling clamd the session ends)."""
        idle, self._idle = self._idle, []
        for session in idle:
            try:
                session.writer.write(b"zEND\0")
            except (OSError, RuntimeError):
                pass
            session.close()

    async def ping(self) -> str:
        return await self._run(b"PING")

    async def version(self) -> str:
        return await self._run(b"VERSION")

    async def instream(self, data: bytes) -> str | None:
        """The signature name clamd reports, None when clean; ClamdError otherwise."""
        reply = (await self._session_command(b"INSTREAM", data) if self.pool_size
                 else await self._run(b"INSTREAM", data))
        if reply.endswith("ERROR"):
            raise ClamdError(f"clamd at {self.address} answered: {reply}")
        if reply in ("stream: OK",) or reply.endswith(": OK"):
            return None
        match = _FOUND.match(reply)
        if match is None:
            raise ClamdError(f"clamd at {self.address} answered something unexpected: {reply!r}")
        return match.group("name")


class Options(FilterOptions):
    clamd: str = Field(DEFAULT_CLAMD, description="clamd socket: 'unix:/path' or 'tcp:host:port'")
    max_concurrent_scans: int = Field(
        4, gt=0, description="scans in flight at once; at most clamd's MaxThreads, so a burst "
                             "of large messages queues here instead of exhausting clamd")
    max_scan_bytes: int = Field(
        DEFAULT_MAX_SCAN_BYTES, gt=0,
        description="largest message streamed to clamd; must equal clamd's StreamMaxLength. "
                    "Larger messages are held with VIRUS_SCAN_INCOMPLETE, never passed")
    signature_max_age_days: float = Field(
        3.0, gt=0, description="the gateway refuses to start when the signature database is older "
                               "(unless allow_test_signatures)")
    allow_test_signatures: bool = Field(
        False, description="evaluation only: start although clamd has only test signatures (EICAR) or "
                           "stale ones; said loudly at start-up, in config check, /healthz (degraded), "
                           "the metrics and the review UI. Never set this on a production gateway")

    connection_pool: int = Field(
        4, ge=0, description="clamd connections kept open between scans (IDSESSION), at most "
                             "max_concurrent_scans; 0: a new connection for every scan")

    @field_validator("clamd")
    @classmethod
    def _address(cls, value: str) -> str:
        ClamdAddress.parse(value)  # ValueError names the bad value
        return value


class VirusFilter:
    name = "virus"
    Options = Options

    def __init__(self, options: Options, context: FilterContext) -> None:
        self._options = options
        self.address = ClamdAddress.parse(options.clamd)
        self.client = ClamdClient(self.address, options.timeout,
                                  pool_size=min(options.connection_pool, options.max_concurrent_scans))
        # Bounds clamd's load; waiting here counts against the chain's deadline.
        self._slots = asyncio.Semaphore(options.max_concurrent_scans)
        # set by self_test(): /healthz, the metrics and the review UI read it
        self.signatures: SignatureCheck | None = None

    async def scan(self, data: bytes) -> str | None:
        async with self._slots:
            return await self.client.instream(data)

    async def check(self, view: MessageView) -> Sequence[Finding]:
        size = len(view.raw)
        if size > self._options.max_scan_bytes:
            return [self._incomplete(
                f"{size} bytes",
                f"The message ({size:,} bytes) is larger than the virus scanner accepts "
                f"({self._options.max_scan_bytes:,} bytes), so it was not scanned; held for a person.")]
        signature = await self.scan(view.raw)
        if signature is None:
            return []
        if signature.startswith(_INCOMPLETE_PREFIXES):
            return [self._incomplete(
                signature,
                f"The virus scanner could not look inside part of this message ({signature}: "
                f"encrypted or over a scan limit); held for a person.")]
        return [Finding(
            code="VIRUS_FOUND", filter=self.name, category=Category.VIRUS, severity=Severity.CRITICAL,
            evidence=(signature,),
            reason=f"The virus scanner found {signature} in this message.")]

    async def close(self) -> None:
        await self.client.close()

    def _incomplete(self, evidence: str, reason: str) -> Finding:
        return Finding(code="VIRUS_SCAN_INCOMPLETE", filter=self.name, category=Category.SCAN_INCOMPLETE,
                       severity=Severity.HIGH, evidence=(evidence,), reason=reason)

    async def self_test(self) -> list[str]:
        """PING, VERSION and an EICAR scan. Raises VirusSelfTestError when clamd is
        missing or blind, or when its signatures are test-only or stale and
        [virus] allow_test_signatures is false; with it true, returns one loud
        FailingWarning instead. Records the judgement in `self.signatures`."""
        try:
            pong = await self.client.ping()
            if pong != "PONG":
                raise VirusSelfTestError(f"clamd at {self.address} answered PING with {pong!r}")
            version = parse_version(await self.client.version())
            signature = await self.client.instream(EICAR)
        except ClamdError as exc:
            raise VirusSelfTestError(
                f"virus scanner unavailable: {exc}. Is clamav-daemon installed and running, and is "
                f"[virus] clamd = {self._options.clamd!r} its LocalSocket/TCPSocket? "
                f"(apt-get install clamav-daemon)") from exc
        if signature is None:
            raise VirusSelfTestError(
                f"clamd at {self.address} did not detect the EICAR test string: its signature "
                f"database is missing or broken (run freshclam)")
        self.signatures = check_signatures(version, self._options.signature_max_age_days, str(self.address))
        if self.signatures.problem is None:
            return []
        if not self._options.allow_test_signatures:
            # A gateway that says "scanned" without real, current signatures is a silent
            # "protected": refuse, and say how to fix it or how to evaluate knowingly.
            raise VirusSelfTestError(
                f"{self.signatures.problem}. Refusing to start: run freshclam (docs/clamd.md), or, "
                f"for an evaluation install only, set [virus] allow_test_signatures = true")
        warning = FailingWarning(
            f"EVALUATION ONLY, NOT PROTECTED AGAINST VIRUSES: {self.signatures.problem}; "
            f"running because [virus] allow_test_signatures = true. Never use this on a "
            f"production gateway")
        return [warning]  # the gateway logs it at start-up, config check prints it as FAIL

"""Recipient verification at RCPT time: a cached probe of the next hop, as Postfix's reject_unverified_recipient."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Callable

import aiosmtplib

from config.schema import Settings, split_host_port

log = logging.getLogger(__name__)

# Bounds the cache: a dictionary attack on RCPT must not grow memory without limit.
MAX_ENTRIES = 50_000


class Status(StrEnum):
    ACCEPTED = "accepted"  # the next hop said 2xx to RCPT
    REFUSED = "refused"  # the next hop said 5xx to RCPT
    TEMPORARY = "temporary"  # no answer, or 4xx: ask again later
    UNVERIFIABLE = "unverifiable"  # the probe itself was refused (MAIL FROM:<>): cannot tell


@dataclass(frozen=True, slots=True)
class ProbeResult:
    status: Status
    code: int = 0
    message: str = ""
    cached: bool = False


@dataclass(frozen=True, slots=True)
class _Entry:
    result: ProbeResult
    expires: float


class RecipientChecker:
    """Asks the next hop whether it would take a recipient: EHLO, MAIL FROM:<>, RCPT TO, RSET, QUIT.

    Results are cached per address, accepted for `positive_ttl` and refused for
    `negative_ttl` seconds; temporary results are not cached. Concurrent asks for one
    address share one probe. The EHLO answer tells whether the next hop offers SMTPUTF8.
    """

    def __init__(self, host: str, port: int, *, local_hostname: str = "schoolgate.local", timeout: float = 10.0,
                 positive_ttl: float = 86_400.0, negative_ttl: float = 3_600.0, tls: str = "opportunistic",
                 concurrency: int = 8, clock: Callable[[], float] = time.monotonic) -> None:
        self.host, self.port = host, port
        self._hostname = local_hostname
        self._timeout = timeout
        self._positive_ttl = positive_ttl
        self._negative_ttl = negative_ttl
        self._tls = tls
        self._clock = clock
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._pending: dict[str, asyncio.Task[ProbeResult]] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._smtputf8: tuple[bool, float] | None = None  # (offered, expires)
        self.probes = 0  # probes actually sent (for tests and the soak bench)

    @classmethod
    def from_settings(cls, settings: Settings) -> "RecipientChecker | None":
        cfg = settings.gateway
        if not cfg.next_hop:
            return None
        host, port = split_host_port(cfg.next_hop)
        return cls(host, port, local_hostname=cfg.hostname, timeout=cfg.verify_timeout,
                   positive_ttl=cfg.verify_positive_ttl, negative_ttl=cfg.verify_negative_ttl,
                   tls=cfg.next_hop_tls, concurrency=cfg.next_hop_pool_size)

    @property
    def smtputf8(self) -> bool | None:
        """Whether the next hop offered SMTPUTF8 at its last EHLO; None when not known (lately)."""
        if self._smtputf8 is None or self._smtputf8[1] < self._clock():
            return None
        return self._smtputf8[0]

    async def smtputf8_offered(self) -> bool | None:
        """Known, or learned now with EHLO; None when the next hop cannot be reached."""
        known = self.smtputf8
        if known is not None:
            return known
        try:
            async with self._slots, asyncio.timeout(self._timeout):
                client = await self._connect()
                await self._quit(client)
        except (OSError, TimeoutError, aiosmtplib.SMTPException) as exc:
            log.warning("next hop %s:%d: EHLO probe failed: %s", self.host, self.port, exc)
            return None
        return self.smtputf8

    async def verify(self, address: str) -> ProbeResult:
        key = address.lower()
        entry = self._cache.get(key)
        now = self._clock()
        if entry is not None:
            if entry.expires >= now:
                self._cache.move_to_end(key)
                return ProbeResult(entry.result.status, entry.result.code, entry.result.message, cached=True)
            del self._cache[key]
        task = self._pending.get(key)
        if task is None:
            # its own task, so a client hanging up mid-probe does not cancel it for the others
            task = asyncio.create_task(self._probe_and_cache(key, address))
            self._pending[key] = task
            task.add_done_callback(lambda _done, k=key: self._pending.pop(k, None))
        return await asyncio.shield(task)

    async def _probe_and_cache(self, key: str, address: str) -> ProbeResult:
        result = await self._probe(address)
        ttl = {Status.ACCEPTED: self._positive_ttl, Status.REFUSED: self._negative_ttl}.get(result.status)
        if ttl is not None:
            self._cache[key] = _Entry(result, self._clock() + ttl)
            while len(self._cache) > MAX_ENTRIES:
                self._cache.popitem(last=False)
        return result

    async def _probe(self, address: str) -> ProbeResult:
        self.probes += 1
        try:
            async with self._slots, asyncio.timeout(self._timeout):
                client = await self._connect()
                try:
                    return await self._ask(client, address)
                finally:
                    await self._quit(client)
        except (OSError, TimeoutError, aiosmtplib.SMTPException) as exc:
            log.warning("recipient probe of %s at %s:%d failed: %s", address, self.host, self.port, exc)
            return ProbeResult(Status.TEMPORARY, 0, "next hop unreachable")
        except Exception:  # our bug: temporary, never a refusal
            log.exception("recipient probe of %s failed", address)
            return ProbeResult(Status.TEMPORARY, 0, "probe failed")

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=self._timeout,
                                 local_hostname=self._hostname, start_tls=False, use_tls=False)
        await client.connect()
        await client.ehlo()
        if self._tls != "none" and client.supports_extension("starttls"):
            # the probe carries addresses only, but the school asked for TLS to its server
            await client.starttls(validate_certs=False)
            await client.ehlo()
        elif self._tls == "starttls":
            client.close()
            raise aiosmtplib.SMTPException("next hop does not offer STARTTLS")
        self._smtputf8 = (client.supports_extension("smtputf8"), self._clock() + self._negative_ttl)
        return client

    async def _ask(self, client: aiosmtplib.SMTP, address: str) -> ProbeResult:
        utf8 = not address.isascii()
        # aiosmtplib's mail() refuses "<>"; the null sender keeps the probe out of any
        # bounce loop (RFC 5321 4.5.5), as Postfix's address_verify_sender does.
        mail = await client.execute_command(b"MAIL", b"FROM:<>" + (b" SMTPUTF8" if utf8 else b""))
        if not 200 <= mail.code < 300:
            log.warning("next hop %s:%d refuses the probe's MAIL FROM:<>: %d %s; recipients not verified",
                        self.host, self.port, mail.code, mail.message)
            return ProbeResult(Status.UNVERIFIABLE, mail.code, mail.message)
        rcpt = await client.execute_command(b"RCPT", b"TO:<" + address.encode("utf-8") + b">")
        try:
            await client.execute_command(b"RSET")
        except aiosmtplib.SMTPException:
            pass
        if 200 <= rcpt.code < 300:
            return ProbeResult(Status.ACCEPTED, rcpt.code, rcpt.message)
        if rcpt.code >= 500:
            return ProbeResult(Status.REFUSED, rcpt.code, rcpt.message)
        return ProbeResult(Status.TEMPORARY, rcpt.code, rcpt.message)

    @staticmethod
    async def _quit(client: aiosmtplib.SMTP) -> None:
        try:
            await client.quit()
        except Exception:  # the answer is in hand; a rude close changes nothing
            client.close()

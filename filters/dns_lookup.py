"""Bounded DNS lookups for sender authentication: one resolver protocol, a dnspython
resolver with hard timeouts, a static table, and a per-message budget.

Answers have one shape whatever the backend:
    TXT  -> bytes (the record's character-strings concatenated, RFC 7208 3.3 / RFC 6376 3.6.2.2)
    A, AAAA, PTR -> str
    MX   -> (preference, exchange) as (int, str)
A name that does not exist, or has no record of that type, is an empty list: that is
an answer. A server that does not answer in time, or fails (SERVFAIL, no reachable
nameserver), raises DNSLookupError: that is *not* an answer, and the caller must
turn it into a temporary failure, never into a verdict about the sender.

Which resolver: `[authentication] nameservers`, each "IP" or "IP:port" ("[v6]:port"),
or empty for the system's /etc/resolv.conf (docs/authentication.md). A resolver that
stops answering is marked down for a while (`DnspythonResolver.down_seconds`), so an
outage costs each message an immediate DNSLookupError, not the whole DNS budget.

The DKIM and SPF libraries are synchronous, so lookups run on an executor thread
(the filter does that). A thread cannot be cancelled, so `BoundedLookups` gives each
message a deadline and a query count: when the chain's deadline cancels the filter,
the thread still stops by itself shortly after.
"""
from __future__ import annotations

import ipaddress
import threading
import time
from typing import Mapping, Protocol, Sequence, Union

import dns.exception
import dns.name
import dns.nameserver
import dns.resolver

from filters.errors import SchoolgateError

Answer = Union[bytes, str, tuple[int, str]]

SUPPORTED_TYPES = frozenset({"TXT", "A", "AAAA", "MX", "PTR"})


class DNSLookupError(SchoolgateError):
    """DNS gave no answer (timeout, server failure, budget spent). Temporary by nature."""


class Resolver(Protocol):
    """What the authentication filter asks DNS. Implementations are thread-safe."""

    def resolve(self, name: str, rdtype: str, timeout: float) -> list[Answer]: ...


def _canonical(name: str | bytes) -> str:
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return name.strip().rstrip(".").lower()


def parse_nameserver(text: str) -> tuple[str, int]:
    """"10.0.0.53", "127.0.0.1:5353", "::1" or "[::1]:5353" -> (address, port).
    Raises ValueError with a sentence a network manager understands."""
    text = text.strip()
    host, port = text, 53
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r}: write an IPv6 resolver with a port as [address]:port")
        if rest:
            port = _port(text, rest[1:])
    elif text.count(":") == 1:  # one colon: IPv4 (or a name) with a port; more: bare IPv6
        host, _, rest = text.partition(":")
        port = _port(text, rest)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{text!r}: a resolver must be an IP address (optionally :port), "
                         f"not a host name (which would itself need DNS)") from None
    return host, port


def _port(text: str, value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    return int(value)


class DnspythonResolver:
    """The real resolver: dnspython with a per-query lifetime and a shared TTL cache.

    `nameservers` empty = the system's resolv.conf; otherwise "IP" or "IP:port" entries.
    The cache is dnspython's LRUCache, which is locked, so executor threads can share
    one resolver.

    Down-marking (as Rspamd marks an upstream dead): after `down_after` timeouts in a
    row with no answer in between, every query fails at once for `down_seconds`; the
    first query after that tries the servers again. Without this a dead resolver costs
    every inbound message its whole DNS budget and fills the scan slots.
    """

    def __init__(self, nameservers: Sequence[str] = (), cache_size: int = 4096, *,
                 down_after: int = 2, down_seconds: float = 30.0) -> None:
        if nameservers:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [dns.nameserver.Do53Nameserver(*parse_nameserver(n)) for n in nameservers]
        else:
            try:
                resolver = dns.resolver.Resolver(configure=True)
            except dns.resolver.NoResolverConfiguration as exc:
                raise DNSLookupError(f"no DNS resolver configured: {exc}") from exc
        # EDNS0 with a 1232-byte payload (the DNS flag day 2020 value): a 2048-bit DKIM
        # key does not fit the classic 512 bytes, and TCP for every key is slow.
        resolver.use_edns(0, 0, 1232)
        resolver.cache = dns.resolver.LRUCache(cache_size)
        self._resolver = resolver
        self.down_after = down_after
        self.down_seconds = down_seconds
        self._lock = threading.Lock()
        self._timeouts_in_a_row = 0
        self._down_until = 0.0

    @property
    def down(self) -> bool:
        """The servers are marked down (recent timeouts): queries fail at once."""
        with self._lock:
            return time.monotonic() < self._down_until

    def _answered(self) -> None:
        with self._lock:
            self._timeouts_in_a_row = 0
            self._down_until = 0.0

    def _timed_out(self) -> None:
        with self._lock:
            self._timeouts_in_a_row += 1
            if self._timeouts_in_a_row >= self.down_after:
                self._down_until = time.monotonic() + self.down_seconds

    @property
    def nameservers(self) -> list[str]:
        return [str(n) for n in self._resolver.nameservers]

    def resolve(self, name: str, rdtype: str, timeout: float) -> list[Answer]:
        rdtype = rdtype.upper()
        if rdtype not in SUPPORTED_TYPES:
            raise ValueError(f"unsupported record type {rdtype}")
        if self.down:
            raise DNSLookupError(f"{rdtype} {name}: the resolver did not answer recently; "
                                 f"trying it again within {self.down_seconds:g}s")
        try:
            answer = self._resolver.resolve(_canonical(name) + ".", rdtype, lifetime=timeout,
                                            search=False, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            self._answered()
            return []
        except dns.exception.Timeout as exc:
            self._timed_out()
            raise DNSLookupError(f"{rdtype} {name}: no answer within {timeout:g}s") from exc
        except dns.resolver.NoNameservers as exc:
            # SERVFAIL is an answer from a live resolver (the sender's DNS is broken),
            # not a dead one: it does not count towards marking the servers down
            self._answered()
            raise DNSLookupError(f"{rdtype} {name}: server failure") from exc
        except (dns.name.LabelTooLong, dns.name.EmptyLabel, dns.name.NameTooLong):
            return []  # not a valid DNS name: no such record, like NXDOMAIN
        except dns.exception.DNSException as exc:
            raise DNSLookupError(f"{rdtype} {name}: {type(exc).__name__}: {exc}") from exc
        self._answered()
        out: list[Answer] = []
        for rdata in answer:
            if rdtype == "TXT":
                out.append(b"".join(rdata.strings))
            elif rdtype in ("A", "AAAA"):
                out.append(rdata.address)
            elif rdtype == "MX":
                out.append((int(rdata.preference), rdata.exchange.to_text(omit_final_dot=True)))
            else:  # PTR
                out.append(rdata.target.to_text(omit_final_dot=True))
        return out


class StaticResolver:
    """Answers from a table, like a hosts file: for tests, benchmarks and offline use.

    `records` maps (name, type) to a list of answers (TXT as str or bytes) or to an
    exception instance, which is raised (to stand for a timeout or SERVFAIL).
    Names missing from the table do not exist. `queries` records what was asked.
    """

    def __init__(self, records: Mapping[tuple[str, str], Sequence[Answer] | BaseException] = ()) -> None:
        self._records: dict[tuple[str, str], Sequence[Answer] | BaseException] = {}
        for (name, rdtype), value in dict(records).items():
            self._records[(_canonical(name), rdtype.upper())] = value
        self._lock = threading.Lock()
        self.queries: list[tuple[str, str]] = []

    def resolve(self, name: str, rdtype: str, timeout: float) -> list[Answer]:
        key = (_canonical(name), rdtype.upper())
        with self._lock:
            self.queries.append(key)
        value = self._records.get(key, [])
        if isinstance(value, BaseException):
            raise value
        return [v.encode("utf-8") if isinstance(v, str) and key[1] == "TXT" else v for v in value]


class BoundedLookups:
    """One message's DNS: each query at most `per_query` seconds, all of them at most
    `total` seconds and `max_queries` queries (SPF alone may ask ~30; RFC 7208 4.6.4)."""

    def __init__(self, resolver: Resolver, *, per_query: float, total: float, max_queries: int = 60) -> None:
        self._resolver = resolver
        self._per_query = per_query
        self._deadline = time.monotonic() + total
        self._max = max_queries
        self.count = 0

    def resolve(self, name: str | bytes, rdtype: str) -> list[Answer]:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise DNSLookupError("DNS time budget for this message spent")
        if self.count >= self._max:
            raise DNSLookupError(f"more than {self._max} DNS queries for one message")
        self.count += 1
        return self._resolver.resolve(_canonical(name), rdtype, min(self._per_query, remaining))

    def txt(self, name: str | bytes) -> list[bytes]:
        return [a for a in self.resolve(name, "TXT") if isinstance(a, bytes)]

    def dkim_dnsfunc(self, name: bytes | str, timeout: float = 5) -> bytes | None:
        """dkimpy's `dnsfunc`: the key record's text, or None when there is none.
        `timeout` is dkimpy's; ours (the budget) is the one that binds."""
        records = self.txt(name)
        for record in records:  # prefer the record that says what it is
            if record.lstrip().lower().startswith(b"v=dkim1"):
                return record
        return records[0] if records else None

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

The DKIM and SPF libraries are synchronous, so lookups run on an executor thread
(the filter does that). A thread cannot be cancelled, so `BoundedLookups` gives each
message a deadline and a query count: when the chain's deadline cancels the filter,
the thread still stops by itself shortly after.
"""
from __future__ import annotations

import threading
import time
from typing import Mapping, Protocol, Sequence, Union

import dns.exception
import dns.name
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


class DnspythonResolver:
    """The real resolver: dnspython with a per-query lifetime and a shared TTL cache.

    `nameservers` empty = the system's resolv.conf. The cache is dnspython's
    LRUCache, which is locked, so executor threads can share one resolver.
    """

    def __init__(self, nameservers: Sequence[str] = (), cache_size: int = 4096) -> None:
        if nameservers:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = list(nameservers)
        else:
            try:
                resolver = dns.resolver.Resolver(configure=True)
            except dns.resolver.NoResolverConfiguration as exc:
                raise DNSLookupError(f"no DNS resolver configured: {exc}") from exc
        resolver.cache = dns.resolver.LRUCache(cache_size)
        self._resolver = resolver

    @property
    def nameservers(self) -> list[str]:
        return [str(n) for n in self._resolver.nameservers]

    def resolve(self, name: str, rdtype: str, timeout: float) -> list[Answer]:
        rdtype = rdtype.upper()
        if rdtype not in SUPPORTED_TYPES:
            raise ValueError(f"unsupported record type {rdtype}")
        try:
            answer = self._resolver.resolve(_canonical(name) + ".", rdtype, lifetime=timeout,
                                            search=False, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.Timeout as exc:
            raise DNSLookupError(f"{rdtype} {name}: no answer within {timeout:g}s") from exc
        except dns.resolver.NoNameservers as exc:
            raise DNSLookupError(f"{rdtype} {name}: server failure") from exc
        except (dns.name.LabelTooLong, dns.name.EmptyLabel, dns.name.NameTooLong):
            return []  # not a valid DNS name: no such record, like NXDOMAIN
        except dns.exception.DNSException as exc:
            raise DNSLookupError(f"{rdtype} {name}: {type(exc).__name__}: {exc}") from exc
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

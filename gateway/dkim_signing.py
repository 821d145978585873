"""Outbound DKIM signing (RFC 6376, relaxed/relaxed) of the school's mail, and key generation.

The gateway signs after filtering and after it has added its own tag headers, just
before the next hop, and a released message goes through the same step. Signing
is RSA with dkimpy's pure-Python arithmetic (a few ms per message), so it runs in
an executor, never on the event loop.
"""
from __future__ import annotations

import asyncio
import base64
import os
import re
from concurrent.futures import Executor, ProcessPoolExecutor
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from pathlib import Path
from typing import Sequence

import dkim
from dkim.crypto import UnparsableKeyError, parse_pem_private_key

from filters.directory import domain_of
from filters.errors import SchoolgateError

# RFC 1035 labels: what a selector and a signing domain may be made of
_LABELS = re.compile(r"(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


class DkimSigningError(SchoolgateError):
    """Signing cannot be set up (bad key, selector or domain). Raised at start-up."""


def _check_name(value: str, what: str) -> str:
    value = value.strip().rstrip(".").lower()
    if not _LABELS.fullmatch(value):
        raise DkimSigningError(f"DKIM {what} {value!r} is not a valid DNS name")
    return value


def public_txt_value(private_pem: str | bytes) -> str:
    """The `v=DKIM1; k=rsa; p=...` text that publishes the public half of a PEM key."""
    from cryptography.hazmat.primitives import serialization

    data = private_pem.encode() if isinstance(private_pem, str) else private_pem
    key = serialization.load_pem_private_key(data, password=None)
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode("ascii")


def keygen(selector: str, domain: str, bits: int = 2048) -> tuple[str, str]:
    """A new RSA key: (private key PEM, the zone-file line to publish).

    The TXT value is split into 255-octet character-strings (RFC 1035 3.3.14; a
    2048-bit key does not fit in one), which DNS servers join back together.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    selector, domain = _check_name(selector, "selector"), _check_name(domain, "domain")
    if bits < 1024:  # RFC 8301 3.2: verifiers must not accept shorter keys
        raise DkimSigningError("DKIM keys must be at least 1024 bits (2048 recommended)")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    # PKCS#1 ("RSA PRIVATE KEY"): the form dkimpy documents
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode("ascii")
    value = public_txt_value(pem)
    chunks = " ".join(f'"{value[i:i + 255]}"' for i in range(0, len(value), 255))
    return pem, f"{selector}._domainkey.{domain}. IN TXT {chunks}"


def write_private_key(path: Path, pem: str) -> None:
    """Write a new key readable by its owner only; never overwrite one (a published
    selector would stop verifying)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(pem)


class DkimSigner:
    """Signs a message when its From: is in a domain this key speaks for.

    `domain` is d=; a From: at it or at any subdomain of it is signed (relaxed DMARC
    alignment), and only if that From: domain is one of the school's.
    """

    def __init__(self, *, selector: str, domain: str, private_key: bytes | str,
                 school_domains: Sequence[str], include_headers: Sequence[str] | None = None) -> None:
        self.selector = _check_name(selector, "selector")
        self.domain = _check_name(domain, "domain")
        self._key = private_key.encode("ascii") if isinstance(private_key, str) else private_key
        try:
            parse_pem_private_key(self._key)
        except (UnparsableKeyError, ValueError, IndexError) as exc:
            raise DkimSigningError(f"DKIM private key for {self.domain} cannot be read: {exc}") from None
        self._school = tuple(d.lower() for d in school_domains)
        self._headers = [h.encode("ascii") for h in include_headers] if include_headers else None
        self._one_at_a_time: asyncio.Semaphore | None = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_one_at_a_time"] = None  # a process-pool worker gets the key, not the loop's lock
        return state

    @classmethod
    def from_settings(cls, settings) -> "DkimSigner | None":
        """The signer `[authentication] signing_*` describes, or None when signing is off
        (no selector or no key). Reads the key file: call at start-up."""
        opts = settings.filter_options.get("authentication")
        if opts is None or not opts.signing_selector or opts.signing_key is None:
            return None
        domain = opts.signing_domain or (settings.school.domains[0] if settings.school.domains else "")
        if not domain:
            raise DkimSigningError("[authentication] signing_domain is empty and [school] domains has none")
        try:
            key = Path(opts.signing_key).read_bytes()
        except OSError as exc:
            raise DkimSigningError(f"[authentication] signing_key: cannot read {opts.signing_key}: "
                                   f"{exc.strerror}") from None
        return cls(selector=opts.signing_selector, domain=domain, private_key=key,
                   school_domains=settings.school.domains)

    def _covers(self, from_domain: str) -> bool:
        school = any(from_domain == d or from_domain.endswith("." + d) for d in self._school)
        return school and (from_domain == self.domain or from_domain.endswith("." + self.domain))

    def domain_for(self, raw: bytes) -> str | None:
        """The d= this message would be signed with, or None (not the school's From)."""
        head = BytesHeaderParser(policy=compat32).parsebytes(raw, headersonly=True)
        froms = [a for _, a in getaddresses([str(v) for v in head.get_all("From", [])]) if a]
        # one From author whose domain we sign for; several Froms is a forgery pattern
        if len(froms) != 1 or not self._covers(domain_of(froms[0])):
            return None
        return self.domain

    def sign_sync(self, raw: bytes) -> bytes:
        """`raw` with a DKIM-Signature field on top, or unchanged when not ours to sign."""
        if self.domain_for(raw) is None:
            return raw
        linesep = b"\r\n" if b"\r\n" in raw[:4096] else b"\n"
        signature = dkim.sign(raw, self.selector.encode(), self.domain.encode(), self._key,
                              canonicalize=(b"relaxed", b"relaxed"), include_headers=self._headers,
                              linesep=linesep)
        return signature + raw

    async def sign(self, raw: bytes, executor: Executor | None = None) -> bytes:
        """`sign_sync` off the event loop. dkimpy's RSA is pure-Python pow(), which holds
        the GIL for milliseconds: in threads, one signature at a time, or a burst of them
        starves the loop (bench/auth_cost.py measured a 300 ms stall for 200 at once).
        A ProcessPoolExecutor runs them in parallel without touching the loop."""
        loop = asyncio.get_running_loop()
        if isinstance(executor, ProcessPoolExecutor):
            return await loop.run_in_executor(executor, self.sign_sync, raw)
        if self._one_at_a_time is None:
            self._one_at_a_time = asyncio.Semaphore(1)
        async with self._one_at_a_time:
            return await loop.run_in_executor(executor, self.sign_sync, raw)

"""A school sender claimed by a client outside trusted_networks: SPOOFED_SCHOOL_SENDER, without DNS."""
from __future__ import annotations

from email.utils import getaddresses
from typing import Sequence

from pydantic import Field, field_validator

from filters.base import Category, FilterContext, FilterOptions, Finding, Severity
from filters.directory import Directory, normalise_address
from filters.message import MessageView
from filters.networks import in_networks, parse_networks


class Options(FilterOptions):
    timeout: float = 5.0
    from_header: bool = Field(
        True, description="also a school address in the From: header (what the reader sees), not only MAIL FROM")
    allowed_networks: list[str] = Field(
        default_factory=list,
        description="outside services allowed to send as the school (a newsletter or parents' app), as networks")

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        parse_networks(values)  # ValueError names the bad value
        return values


class SenderTrustFilter:
    """The school's own mail comes from its own server (trusted_networks). The same
    address from anywhere else is a claim nobody checked: the gateway cannot tell a
    forger from a misconfigured service without DNS, so it reports, and the policy
    holds it for pupils and tags it for staff. DKIM, SPF and DMARC are the
    authentication filter's (which may report the same code when it is chained)."""

    name = "sender_trust"
    Options = Options

    def __init__(self, options: Options, context: FilterContext) -> None:
        self._options = options
        self._directory: Directory = context.directory  # type: ignore[assignment]
        self._allowed = parse_networks(options.allowed_networks)

    def _allowed_client(self, client_ip: str) -> bool:
        return in_networks(client_ip, self._allowed)

    def _claims(self, view: MessageView) -> list[str]:
        claims: list[str] = []
        mail_from = normalise_address(view.envelope.mail_from)
        if mail_from and self._directory.is_school_address(mail_from):
            claims.append(mail_from)
        if self._options.from_header:
            try:
                pairs = getaddresses(view.header_all("From"))
            except Exception:  # an unparseable From: is the parser's finding, not ours
                pairs = []
            for _, address in pairs:
                address = normalise_address(address)
                if address and self._directory.is_school_address(address):
                    claims.append(address)
        return list(dict.fromkeys(claims))

    async def check(self, view: MessageView) -> Sequence[Finding]:
        envelope = view.envelope
        if envelope.client_trusted or self._allowed_client(envelope.client_ip):
            return []
        claims = self._claims(view)
        if not claims:
            return []
        return [Finding(
            "SPOOFED_SCHOOL_SENDER", self.name, Category.SPOOFING, Severity.HIGH, tuple(claims),
            f"This message came from a server outside the school ({envelope.client_ip or 'unknown'}) but claims "
            f"to be from {', '.join(claims)}; the school's own mail comes from its own server.")]

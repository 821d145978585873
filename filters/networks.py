"""Client addresses against configured networks: the one test the SMTP face and the filters share."""
from __future__ import annotations

import ipaddress
from typing import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """Networks from config ("10.0.0.0/8", "192.0.2.1"); a bad value raises ValueError naming it."""
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values)


def in_networks(host: str, networks: Iterable[Network]) -> bool:
    """Whether a client address (bracketed, scoped or IPv4-mapped forms too) is in one of them.
    Something that is not an address is in none."""
    try:
        address = ipaddress.ip_address(host.strip().strip("[]").split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:10.0.0.5 from a dual-stack socket is 10.0.0.5
    return any(address in net for net in networks)

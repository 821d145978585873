"""Client addresses against configured networks (filters/networks.py)."""
from __future__ import annotations

import pytest

from filters.networks import in_networks, parse_networks

NETS = parse_networks(["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"])


@pytest.mark.parametrize("host,inside", [
    ("10.1.2.3", True), ("[10.1.2.3]", True), ("::ffff:10.1.2.3", True), ("2001:db8::5%eth0", True),
    ("192.0.2.1", True), ("192.0.2.2", False), ("11.0.0.1", False), ("", False), ("not an address", False),
])
def test_in_networks(host, inside):
    assert in_networks(host, NETS) is inside


def test_a_bad_network_names_itself():
    with pytest.raises(ValueError, match="10.0.0.300"):
        parse_networks(["10.0.0.300/8"])

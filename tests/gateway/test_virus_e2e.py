"""Viruses over SMTP with a real clamd: inbound rejected, outbound held, clamd down -> 451, never 250."""
from __future__ import annotations

import pytest

from filters.virus import EICAR
from tests.clamd_server import ClamdServer
from tests.clamd_server import clamd_server  # noqa: F401
from tests.factories import SCHOOL_DOMAIN, make_message

EICAR_FOUND = "Eicar-Test-Signature.UNOFFICIAL"
CHAIN = {"chain": ["attachments", "virus"]}


def infected() -> bytes:
    return make_message("Invoice attached.", attachments=[("invoice.pdf", "application/pdf", EICAR)])


async def test_inbound_virus_rejected_naming_it(make_gateway, sink, clamd_server):
    gw = await make_gateway(next_hop=sink.address, filters=CHAIN, virus={"clamd": clamd_server.address})
    code, text = await gw.send(infected(), "mallory@example.net", [f"bob@{SCHOOL_DOMAIN}"])
    assert code == 554 and b"5.7.1" in text, text
    assert EICAR_FOUND.encode() in text
    assert sink.messages == []


async def test_outbound_virus_held_never_delivered(make_gateway, sink, clamd_server):
    gw = await make_gateway(next_hop=sink.address, filters=CHAIN, virus={"clamd": clamd_server.address})
    code, _ = await gw.send(infected(), f"bob@{SCHOOL_DOMAIN}", ["friend@example.net"])
    assert code == 250
    assert sink.messages == []
    [held] = await gw.store.run(gw.store.list_sync)
    assert held.status == "held"


async def test_clamd_stopped_mid_run_gives_451(make_gateway, sink, clamd_server, tmp_path):
    # a clamd of our own, so stopping it does not disturb the session one
    own = ClamdServer(tmp_path / "clamd")
    (tmp_path / "clamd").mkdir()
    own.start()
    try:
        gw = await make_gateway(next_hop=sink.address, filters=CHAIN, virus={"clamd": own.address, "timeout": 5})
        code, _ = await gw.send(make_message("Before the outage."))
        assert code == 250 and len(sink.messages) == 1
        own.stop()
        for body in ("During the outage.", "Still down."):
            code, text = await gw.send(make_message(body))
            assert code == 451 and text.startswith(b"4."), text  # the sender retries; never 250
        assert len(sink.messages) == 1
    finally:
        own.stop()


async def test_gateway_refuses_to_start_without_clamd(make_gateway, sink, tmp_path):
    with pytest.raises(Exception, match="virus scanner unavailable"):
        await make_gateway(next_hop=sink.address, filters=CHAIN,
                           virus={"clamd": f"unix:{tmp_path}/nobody.sock"})

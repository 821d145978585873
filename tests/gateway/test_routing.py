"""Routing by direction: next_hop for the school's domains, outbound_next_hop for the rest (two sinks)."""
from __future__ import annotations

import pytest

from quarantine.review import release_from_store
from tests.conftest import Sink, free_port
from tests.factories import SCHOOL_DOMAIN, make_message

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64
STAFF = f"head@{SCHOOL_DOMAIN}"
BOB = f"bob@{SCHOOL_DOMAIN}"
PARENT = "parent@example.com"
COUNCIL = "officer@council.example.gov.uk"


@pytest.fixture
def smarthost():
    server = Sink().start()
    yield server
    server.stop()


def _outbound(address: str) -> dict:
    return {"outbound_next_hop": address, "outbound_next_hop_tls": "none"}


async def test_mixed_message_is_split_per_route(make_gateway, sink, smarthost):
    gw = await make_gateway(next_hop=sink.address, gateway=_outbound(smarthost.address))
    code, text = await gw.send(make_message("Minutes of the governors' meeting", sender=STAFF),
                               STAFF, [BOB, PARENT, COUNCIL])
    assert code == 250, text
    [inbound] = sink.messages
    [outbound] = smarthost.messages
    assert inbound.rcpt_tos == [BOB]
    assert outbound.rcpt_tos == [PARENT, COUNCIL]
    assert inbound.mail_from == outbound.mail_from == STAFF


async def test_without_outbound_next_hop_everything_goes_to_next_hop(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address)
    code, text = await gw.send(make_message("hello", sender=STAFF), STAFF, [BOB, PARENT])
    assert code == 250, text
    [delivered] = sink.messages
    assert delivered.rcpt_tos == [BOB, PARENT]


async def test_smarthost_down_is_451_and_nothing_delivered(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address, gateway=_outbound(f"127.0.0.1:{free_port()}"))
    code, text = await gw.send(make_message("hello", sender=STAFF), STAFF, [BOB, PARENT])
    assert code == 451, text
    assert sink.messages == []  # all or nothing: the school's copy waits for the client's retry too
    assert await gw.store.run(gw.store.list_sync) == []


async def test_smarthost_refusing_every_outside_recipient_is_its_answer(make_gateway, sink, smarthost):
    gw = await make_gateway(next_hop=sink.address, gateway=_outbound(smarthost.address))
    smarthost.handler.rcpt_reply[PARENT] = "554 5.7.1 relay not permitted"
    code, text = await gw.send(make_message("hello", sender=STAFF), STAFF, [PARENT])
    assert code == 554, text
    assert sink.messages == [] and smarthost.messages == []


async def test_second_route_failing_after_the_first_accepted_is_kept_not_4xx(make_gateway, sink, smarthost):
    gw = await make_gateway(next_hop=sink.address, gateway=_outbound(smarthost.address))
    smarthost.handler.data_reply = "451 4.3.0 queue full"
    code, text = await gw.send(make_message("hello", sender=STAFF), STAFF, [BOB, PARENT])
    assert code == 250, text  # Bob has it: a 4xx would make the client send it to him twice
    [inbound] = sink.messages
    assert inbound.rcpt_tos == [BOB]
    [kept] = await gw.store.run(gw.store.list_sync)
    assert list(kept.recipients) == [PARENT] and "NEXT_HOP_REFUSED_RECIPIENT" in kept.codes
    finding = next(f for f in kept.findings if f.code == "NEXT_HOP_REFUSED_RECIPIENT")
    assert any("outbound_next_hop" in e for e in finding.evidence)
    # released later through the smarthost, not the school's server
    smarthost.handler.data_reply = None
    await release_from_store(gw.store, gw.gateway.next_hop, kept.id, recipients=None, actor="t", reason="r")
    [outbound] = smarthost.messages
    assert outbound.rcpt_tos == [PARENT] and len(sink.messages) == 1


async def test_release_uses_each_recipients_route(make_gateway, sink, smarthost):
    gw = await make_gateway(next_hop=sink.address, gateway=_outbound(smarthost.address))
    raw = make_message("see attached", sender=STAFF, attachments=[("invoice.pdf.exe", "application/pdf", EXE)])
    code, text = await gw.send(raw, STAFF, [BOB, PARENT])
    assert code == 250, text
    [held] = await gw.store.run(gw.store.list_sync)
    assert sink.messages == [] and smarthost.messages == []
    result = await release_from_store(gw.store, gw.gateway.next_hop, held.id, recipients=None,
                                      actor="reviewer", reason="a real invoice")
    assert sorted(result["recipients"]) == sorted([BOB, PARENT])
    assert [m.rcpt_tos for m in sink.messages] == [[BOB]]
    assert [m.rcpt_tos for m in smarthost.messages] == [[PARENT]]


async def test_sender_notice_to_an_outside_sender_goes_through_the_smarthost(make_gateway, sink, smarthost):
    gw = await make_gateway(next_hop=sink.address, gateway=_outbound(smarthost.address),
                            notify={"from_address": f"schoolgate@{SCHOOL_DOMAIN}"})
    raw = make_message("invoice", sender=PARENT, attachments=[("invoice.pdf.exe", "application/pdf", EXE)])
    code, text = await gw.send(raw, PARENT, [BOB])
    assert code == 250, text
    await gw.gateway.notifier.drain()
    [notice] = smarthost.messages
    assert notice.rcpt_tos == [PARENT] and b"X-Schoolgate-Notice: sender_external" in notice.data
    assert sink.messages == []

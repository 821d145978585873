"""Reviewers' block/allow decisions act on the next message from that sender."""
from __future__ import annotations

from quarantine.review_store import ReviewStore
from tests.factories import make_message

EXE = b"MZ\x90\x00" + b"\x00" * 60


async def _listed(make_gateway, sink, address: str, kind: str):
    gw = await make_gateway(next_hop=sink.address)
    review = ReviewStore(gw.store)
    await gw.store.run(review.set_sender_list_sync, address, kind, "reviewer1", "test", None)
    return gw


async def test_blocked_sender_is_rejected(make_gateway, sink):
    gw = await _listed(make_gateway, sink, "spammer@example.com", "block")
    code, text = await gw.send(make_message("buy now", sender="spammer@example.com"), "spammer@example.com")
    assert code == 554 and b"blocked" in text
    assert sink.messages == []
    code, _ = await gw.send(make_message("hello", sender="parent@example.com"), "parent@example.com")
    assert code == 250


async def test_allowed_sender_content_findings_waived(make_gateway, sink):
    gw = await _listed(make_gateway, sink, "it-supplier@example.com", "allow")
    raw = make_message("the installer", sender="it-supplier@example.com",
                       attachments=[("setup.exe", "application/octet-stream", EXE)])
    code, _ = await gw.send(raw, "it-supplier@example.com")
    assert code == 250 and len(sink.messages) == 1
    assert await gw.store.run(gw.store.list_sync) == []


async def test_allow_cannot_be_borrowed_by_a_forged_from(make_gateway, sink):
    gw = await _listed(make_gateway, sink, "it-supplier@example.com", "allow")
    raw = make_message("the installer", sender="it-supplier@example.com",
                       attachments=[("setup.exe", "application/octet-stream", EXE)])
    code, _ = await gw.send(raw, "someone-else@example.net")  # envelope not on the list
    assert code == 250 and sink.messages == []
    [held] = await gw.store.run(gw.store.list_sync)
    assert "ATTACHMENT_EXECUTABLE" in held.codes

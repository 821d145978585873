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


# -- in a trust (docs/trust.md): an entry covers the mail its school owns ------------------------------------------

async def _trust(make_gateway, sink, *entries: tuple[str, str, str]):
    from tests.gateway.test_tenancy import trust_overrides

    data = trust_overrides()
    data["filters"] = {"chain": ["sender_list", "attachments"]}
    gw = await make_gateway(next_hop=sink.address, **data)
    review = ReviewStore(gw.store)
    for address, kind, school in entries:
        await gw.store.run(lambda: review.set_sender_list_sync(address, kind, "admin", "test", None, school=school))
    return gw


async def test_a_schools_block_refuses_only_that_schools_mail(make_gateway, sink):
    from tests.gateway.test_tenancy import A_PUPIL, B_STAFF

    gw = await _trust(make_gateway, sink, ("spammer@example.com", "block", "hillside"))
    raw = make_message("buy now", sender="spammer@example.com")
    code, text = await gw.send(raw, "spammer@example.com", [A_PUPIL])
    assert code == 554 and b"blocked" in text and sink.messages == []
    code, _ = await gw.send(raw, "spammer@example.com", [B_STAFF])  # Valley did not block it
    assert code == 250 and [m.rcpt_tos for m in sink.messages] == [[B_STAFF]]
    # one message to both schools: Valley's copy goes; Hillside's is refused, which after a 250 for
    # Valley's means held (gateway/dispatch.py), as Hillside's copy alone
    code, _ = await gw.send(raw, "spammer@example.com", [A_PUPIL, B_STAFF])
    assert code == 250 and [m.rcpt_tos for m in sink.messages] == [[B_STAFF], [B_STAFF]]
    [held] = await gw.store.run(lambda: gw.store.list_sync(status="held"))
    assert (held.school_id, list(held.recipients), held.codes) == ("hillside", [A_PUPIL], ("SENDER_BLOCKED",))


async def test_the_trusts_entry_covers_every_school(make_gateway, sink):
    from tests.gateway.test_tenancy import A_PUPIL, B_STAFF, C_PUPIL

    gw = await _trust(make_gateway, sink, ("@bad.example", "block", ""))
    for rcpt in (A_PUPIL, B_STAFF, C_PUPIL):
        code, _ = await gw.send(make_message("hi", sender="x@mail.bad.example"), "x@mail.bad.example", [rcpt])
        assert code == 554
    assert sink.messages == []


async def test_a_schools_allow_waives_only_that_schools_copies(make_gateway, sink):
    from tests.gateway.test_tenancy import A_PUPIL, B_STAFF

    gw = await _trust(make_gateway, sink, ("it-supplier@example.com", "allow", "valley"))
    raw = make_message("the installer", sender="it-supplier@example.com",
                       attachments=[("setup.exe", "application/octet-stream", EXE)])
    code, _ = await gw.send(raw, "it-supplier@example.com", [A_PUPIL, B_STAFF])
    assert code == 250
    assert [m.rcpt_tos for m in sink.messages] == [[B_STAFF]]  # Valley allowed the sender
    [held] = await gw.store.run(gw.store.list_sync)  # Hillside did not: its copy is held
    assert (held.school_id, list(held.recipients)) == ("hillside", [A_PUPIL])
    assert "ATTACHMENT_EXECUTABLE" in held.codes


async def test_outbound_mail_follows_the_senders_school(make_gateway, sink):
    from tests.gateway.test_tenancy import A_STAFF, B_STAFF, PARENT

    # Hillside blocked a Valley address and one of its own: only its own mail going out is refused
    gw = await _trust(make_gateway, sink, (B_STAFF, "block", "hillside"), (A_STAFF, "block", "hillside"))
    code, _ = await gw.send(make_message("hello", sender=B_STAFF, to=PARENT), B_STAFF, [PARENT])
    assert code == 250 and [m.rcpt_tos for m in sink.messages] == [[PARENT]]
    code, _ = await gw.send(make_message("hello", sender=A_STAFF, to=PARENT), A_STAFF, [PARENT])
    assert code == 554 and len(sink.messages) == 1

"""Release refuses clearly, and touches nothing, when there is nothing it may deliver: an unknown id,
a metadata-only record (a rejected virus keeps no content). Found by bench/mutants.py survivors."""
from __future__ import annotations

import hashlib

import pytest

from filters.base import Category, Finding, Severity
from gateway.relay import NextHop
from quarantine.review import ReleaseError, release_from_store
from quarantine.store import QuarantineStore, Status, new_message_id
from tests.factories import SCHOOL_DOMAIN, make_message


@pytest.fixture
async def store(tmp_path):
    opened = await QuarantineStore(tmp_path / "q").open()
    yield opened
    await opened.close()


@pytest.fixture
async def hop(sink):
    next_hop = NextHop("127.0.0.1", sink.port, pool_size=1, timeout=10)
    yield next_hop
    await next_hop.close()


async def test_releasing_an_unknown_id_is_refused_with_a_reason(store, hop, sink):
    with pytest.raises(ReleaseError, match="no quarantined message"):
        await release_from_store(store, hop, new_message_id(), recipients=None, actor="t", reason="x")
    assert not sink.messages


async def test_a_record_without_content_is_never_claimed(store, hop, sink):
    raw = make_message("EICAR here")
    mid = await store.add(message_id=new_message_id(), raw=None, mail_from="x@example.com",
                          from_header="x@example.com", subject="v", direction="inbound", sender_role="external",
                          client_ip="192.0.2.1", sha256=hashlib.sha256(raw).hexdigest(), size=len(raw),
                          recipients=[(f"bob@{SCHOOL_DOMAIN}", "staff", "hold")],
                          findings=[Finding("VIRUS_FOUND", "virus", Category.VIRUS, Severity.CRITICAL,
                                            ("Eicar",), "virus")], failures=[], status=Status.HELD)
    with pytest.raises(ReleaseError, match="no stored content"):
        await release_from_store(store, hop, mid, recipients=None, actor="t", reason="x")
    assert not sink.messages
    held = await store.get(mid)
    assert {i["status"] for i in held.recipients.values()} == {"held"}
    # refused before any claim: no release_failed row, nothing was ever 'releasing'
    assert [a["action"] for a in await store.run(store.audit_sync, mid)] == ["hold"]

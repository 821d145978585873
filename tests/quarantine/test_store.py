"""The quarantine store: durable bytes, index, audit, exactly-once claims, seen store."""
from __future__ import annotations

import asyncio
import hashlib
import time

import pytest

from filters.base import Category, Finding, Severity
from quarantine.store import DECISION_FLUSH_SECONDS, QuarantineStore, Status, StoreError, new_message_id

F = Finding("ATTACHMENT_EXECUTABLE", "attachments", Category.ATTACHMENT, Severity.HIGH, ("a.exe",), "program")


def add(store: QuarantineStore, raw: bytes = b"Subject: s\r\n\r\nbody\r\n", rcpts=("a@s.sch.uk", "b@s.sch.uk")):
    mid = new_message_id()
    store.add_sync(message_id=mid, raw=raw, mail_from="x@example.com", from_header="X <x@example.com>",
                   subject="s", direction="inbound", sender_role="external", client_ip="127.0.0.1",
                   sha256=hashlib.sha256(raw).hexdigest(), size=len(raw),
                   recipients=[(r, "staff", "hold") for r in rcpts], findings=[F], failures=[])
    return mid


def test_add_writes_bytes_and_index(tmp_path):
    store = QuarantineStore(tmp_path).open_sync()
    mid = add(store, b"Subject: hello\r\n\r\nworld\r\n")
    held = store.get_sync(mid)
    assert store.raw_sync(held) == b"Subject: hello\r\n\r\nworld\r\n"
    assert held.codes == ("ATTACHMENT_EXECUTABLE",) and held.status == Status.HELD
    assert not list((tmp_path / "tmp").iterdir())  # temp file renamed into place
    assert [r.id for r in store.list_sync(category="attachment")] == [mid]
    assert store.list_sync(category="virus") == []
    assert [r.id for r in store.list_sync(recipient="b@s.sch.uk")] == [mid]


def test_claim_is_exactly_once_and_per_recipient(tmp_path):
    store = QuarantineStore(tmp_path).open_sync()
    mid = add(store)
    assert store.claim_for_release_sync(mid, ["a@s.sch.uk"]) == ["a@s.sch.uk"]
    assert store.claim_for_release_sync(mid, ["a@s.sch.uk"]) == []
    store.finish_release_sync(mid, ["a@s.sch.uk"], True, "t", "ok", {})
    assert store.get_sync(mid).status == Status.PARTIAL
    assert store.claim_for_release_sync(mid, None) == ["b@s.sch.uk"]
    store.finish_release_sync(mid, ["b@s.sch.uk"], False, "t", "next hop down", {})
    assert store.get_sync(mid).recipients["b@s.sch.uk"]["status"] == Status.HELD  # back to held
    actions = [a["action"] for a in store.audit_sync(mid)]
    assert actions == ["hold", "release", "release_failed"]


def test_delete_removes_bytes_keeps_record(tmp_path):
    store = QuarantineStore(tmp_path).open_sync()
    mid = add(store)
    path = tmp_path / store.get_sync(mid).path
    store.delete_sync(mid, "dsl", "spam")
    assert not path.exists()
    assert store.get_sync(mid).status == Status.DELETED
    with pytest.raises(StoreError):
        store.delete_sync(mid, "dsl", "again")
    with pytest.raises(StoreError):
        store.get_sync("missing")


async def test_seen_store_counts_distinct_values(tmp_path):
    store = await QuarantineStore(tmp_path).open()
    for sender in ("a", "b", "a", "c"):
        await store.seen.record("bulk", "fingerprint1", sender)
    assert await store.seen.distinct_values("bulk", "fingerprint1", 3600) == 3
    assert await store.seen.count("bulk", "fingerprint1", 3600) == 4
    assert await store.seen.count("bulk", "other", 3600) == 0
    await store.close()


async def test_seen_record_many_is_each_record_in_one_transaction(tmp_path):
    store = await QuarantineStore(tmp_path).open()
    await store.seen.record_many([("pair", "a>b", "m1"), ("senders", "b", "a"), ("pair", "a>b", "m2")])
    await store.seen.record_many([])
    await store.seen.record("senders", "b", "c")
    assert await store.seen.count("pair", "a>b", 3600) == 2
    assert await store.seen.distinct_values("senders", "b", 3600) == 2
    assert await store.seen.count("senders", "b", 3600) == 2
    await store.close()


def _seen_rows_on_disk(store: QuarantineStore) -> list[tuple[str, str, str, float]]:
    from sqlalchemy import select
    from quarantine.store import seen
    with store.engine.begin() as conn:
        return [tuple(r) for r in conn.execute(select(seen.c.kind, seen.c.key, seen.c.value, seen.c.at))]


async def test_seen_record_many_is_written_behind_and_read_in_order(tmp_path):
    store = await QuarantineStore(tmp_path).open()
    before = time.time()
    await store.seen.record_many([("pair", "a>b", "m1"), ("senders", "b", "a")])
    assert _seen_rows_on_disk(store) == []  # queued: one transaction for many messages' rows
    assert await store.seen.count("pair", "a>b", 3600) == 1  # this process's reads see it at once
    assert len(_seen_rows_on_disk(store)) == 2
    await store.seen.record_many([("pair", "a>b", "m2")])
    await asyncio.sleep(DECISION_FLUSH_SECONDS + 0.3)  # and without a read, within the interval
    rows = _seen_rows_on_disk(store)
    assert sorted(r[:3] for r in rows) == [("pair", "a>b", "m1"), ("pair", "a>b", "m2"), ("senders", "b", "a")]
    assert all(before <= r[3] <= time.time() for r in rows)  # the time recorded, not the time written
    await store.seen.record_many([("senders", "b", "c")])
    await store.close()  # closing writes what is queued
    reopened = await QuarantineStore(tmp_path).open()
    assert await reopened.seen.distinct_values("senders", "b", 3600) == 2
    await reopened.close()


async def test_seen_record_is_written_at_once(tmp_path):
    # notify's once-only marks: another process (a second worker) must see them without delay
    store = await QuarantineStore(tmp_path).open()
    await store.seen.record_many([("senders", "b", "a")])
    await store.seen.record("filter_failure", "virus", "m1")
    assert sorted(r[:3] for r in _seen_rows_on_disk(store)) == [("filter_failure", "virus", "m1"),
                                                                 ("senders", "b", "a")]
    await store.close()


async def test_seen_observe_records_every_key_and_returns_the_busiest(tmp_path):
    store = await QuarantineStore(tmp_path).open()
    assert await store.seen.observe("bulk", ["k1", "k2"], "a", 3600) == 1
    assert await store.seen.observe("bulk", ["k2", "k3"], "b", 3600) == 2  # k2 has a and b
    assert await store.seen.observe("bulk", ["k1"], "a", 3600) == 1  # the same sender twice is one
    assert await store.seen.distinct_values("bulk", "k3", 3600) == 1
    assert await store.seen.observe("bulk", [], "a", 3600) == 0
    for _ in range(5):  # a burst of the same body from the same sender: rows do not pile up
        assert await store.seen.observe("bulk", ["k1", "k2"], "a", 3600) == 2
    from sqlalchemy import func, select

    from quarantine.store import seen
    with store.engine.begin() as conn:
        assert conn.execute(select(func.count()).select_from(seen)).scalar_one() == 4  # k1:a k2:a k2:b k3:b
    await store.close()


async def test_decision_rows_are_written_together_and_flushed_on_close(tmp_path):
    from sqlalchemy import func, select

    from quarantine.store import decisions
    store = await QuarantineStore(tmp_path).open()
    for n in range(3):
        await store.record_decision(message_id=f"m{n}", direction="inbound", sender_role="external",
                                    action="pass", role_actions={"staff:pass": 1}, codes=[], categories=[],
                                    failures=[], size=100, seconds=0.01)
    await store.close()  # before the flush interval: close must write what is queued
    reopened = QuarantineStore(tmp_path).open_sync()
    with reopened.engine.begin() as conn:
        assert conn.execute(select(func.count()).select_from(decisions)).scalar_one() == 3
    reopened.close_sync()

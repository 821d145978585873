"""The SQL seen store's one-row-per-value memory (refresh_many, has_value), on SQLite and on a
real PostgreSQL: existence, distinct counts, the window, rows refreshed in place, and rows
from before refresh_many (one per message) folded back into one."""
from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select, update

from quarantine.store import QuarantineStore, seen
from tests.servers import pg_url  # noqa: F401  (fixture)


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request, tmp_path):
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    opened = await QuarantineStore(tmp_path / "q", url).open()
    yield opened
    await opened.close()


def _rows(store: QuarantineStore, kind: str, key: str) -> list[tuple[str, float]]:
    with store.engine.begin() as conn:
        return [tuple(r) for r in conn.execute(
            select(seen.c.value, seen.c.at).where(seen.c.kind == kind, seen.c.key == key).order_by(seen.c.value))]


async def test_refresh_keeps_one_row_per_value_however_many_messages(store):
    for n in range(50):
        await store.seen.refresh_many([("senders", "parent@gmail.com", "office@school.example")])
        if n % 10 == 0:  # some batches written alone, others many messages at once
            await store.flush_seen()
    await store.seen.refresh_many([("senders", "parent@gmail.com", "tom@school.example")])
    assert await store.seen.distinct_values("senders", "parent@gmail.com", 3600) == 2
    rows = _rows(store, "senders", "parent@gmail.com")
    assert [v for v, _ in rows] == ["office@school.example", "tom@school.example"]


async def test_has_value_is_whether_that_value_was_seen_under_that_key(store):
    await store.seen.refresh_many([("senders", "parent@gmail.com", "office@school.example"),
                                   ("senders", "other@gmail.com", "tom@school.example")])
    assert await store.seen.has_value("senders", "parent@gmail.com", "office@school.example", 3600)
    assert not await store.seen.has_value("senders", "parent@gmail.com", "tom@school.example", 3600)
    assert not await store.seen.has_value("senders", "nobody@gmail.com", "office@school.example", 3600)
    assert not await store.seen.has_value("pairs", "parent@gmail.com", "office@school.example", 3600)
    await store.seen.record_many([("forward", "k", "m1")])  # has_value reads event rows too
    assert await store.seen.has_value("forward", "k", "m1", 3600)


async def test_the_window_forgets_and_a_refresh_brings_a_value_back(store):
    await store.seen.refresh_many([("senders", "p", "a"), ("senders", "p", "b")])
    await store.flush_seen()
    await asyncio.sleep(0.3)
    await store.seen.refresh_many([("senders", "p", "b")])
    # a 0.2 s window: a was seen 0.3 s ago, b just now
    assert not await store.seen.has_value("senders", "p", "a", 0.2)
    assert await store.seen.has_value("senders", "p", "b", 0.2)
    assert await store.seen.distinct_values("senders", "p", 0.2) == 1
    assert await store.seen.distinct_values("senders", "p", 3600) == 2
    await store.seen.refresh_many([("senders", "p", "a")])
    assert await store.seen.has_value("senders", "p", "a", 0.2)
    assert len(_rows(store, "senders", "p")) == 2


async def test_a_refresh_moves_the_time_and_never_back(store):
    before = time.time()
    await store.seen.refresh_many([("senders", "p", "a")])
    await store.flush_seen()
    (_, first), = _rows(store, "senders", "p")
    assert before <= first <= time.time()
    await asyncio.sleep(0.05)
    await store.seen.refresh_many([("senders", "p", "a")])
    await store.flush_seen()
    (_, second), = _rows(store, "senders", "p")
    assert second > first
    # another node refreshed it later than this node's queued time: the later time stays
    future = time.time() + 3600
    with store.engine.begin() as conn:
        conn.execute(update(seen).where(seen.c.kind == "senders").values(at=future))
    await store.seen.refresh_many([("senders", "p", "a")])
    await store.flush_seen()
    assert _rows(store, "senders", "p") == [("a", future)]


async def test_rows_from_before_refresh_fold_into_one_and_keep_their_meaning(store):
    # a database written by the old personal_address: one row per message for each pair
    await store.seen.record_many([("senders", "p", "office")] * 30 + [("senders", "p", "tom")] * 3)
    await store.flush_seen()
    assert len(_rows(store, "senders", "p")) == 33
    assert await store.seen.distinct_values("senders", "p", 3600) == 2
    assert await store.seen.has_value("senders", "p", "tom", 3600)
    await store.seen.refresh_many([("senders", "p", "office")])
    await store.flush_seen()
    assert [v for v, _ in _rows(store, "senders", "p")] == ["office", "tom", "tom", "tom"]
    assert await store.seen.distinct_values("senders", "p", 3600) == 2
    await store.seen.refresh_many([("senders", "p", "tom")])
    assert await store.seen.distinct_values("senders", "p", 3600) == 2
    assert [v for v, _ in _rows(store, "senders", "p")] == ["office", "tom"]


async def test_refresh_and_record_queued_together_are_read_in_order(store):
    await store.seen.refresh_many([("senders", "p", "a")])
    await store.seen.record_many([("forward", "a>p", "m1"), ("forward", "a>p", "m2")])
    await store.seen.refresh_many([("senders", "p", "a")])
    assert await store.seen.count("forward", "a>p", 3600) == 2  # events stay one row each
    assert await store.seen.distinct_values("senders", "p", 3600) == 1
    assert len(_rows(store, "senders", "p")) == 1


async def test_observe_leaves_rows_older_than_its_window_alone(store):
    # rate_limit.py: a pupil's message ids; the lookup reads only the window's rows, so the
    # pupil's earlier rows cost nothing per message until retention removes them
    assert await store.seen.observe("rate", ["pupil"], "m1", 3600) == 1
    await asyncio.sleep(0.3)
    old = _rows(store, "rate", "pupil")
    assert await store.seen.observe("rate", ["pupil"], "m1", 0.2) == 1  # m1 again, after the window
    assert await store.seen.observe("rate", ["pupil"], "m2", 0.2) == 2
    assert await store.seen.observe("rate", ["pupil"], "m2", 0.2) == 2  # a retry counts once
    rows = _rows(store, "rate", "pupil")
    assert old[0] in rows  # the row outside the window kept its time
    assert await store.seen.distinct_values("rate", "pupil", 3600) == 2

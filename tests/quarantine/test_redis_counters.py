"""Counters shared through a real Redis: the seen store and login limits agree across nodes;
Redis down is an error the caller handles (on_error, a refused login), never a silent zero."""
from __future__ import annotations

import pytest

from quarantine.redis_counters import CountersUnavailable, RedisLoginLimiter, RedisSeenStore
from tests.conftest import free_port
from tests.servers import redis_url  # noqa: F401  (fixture)


async def test_two_nodes_see_the_same_distinct_senders(redis_url):
    node_a, node_b = RedisSeenStore(redis_url), RedisSeenStore(redis_url)
    try:
        assert await node_a.observe("bulk", ["body1"], "alice@x.example", 3600) == 1
        assert await node_b.observe("bulk", ["body1"], "bob@y.example", 3600) == 2
        assert await node_a.observe("bulk", ["body1", "body2"], "bob@y.example", 3600) == 2  # a repeat
        assert await node_b.distinct_values("bulk", "body1", 3600) == 2
        await node_a.record("fwd", "k", "v")
        await node_b.record("fwd", "k", "v")
        assert await node_a.count("fwd", "k", 3600) == 2
        assert await node_a.distinct_values("fwd", "k", 3600) == 1
        await node_b.record_many([("fwd", "k", "v"), ("fwd", "k", "w"), ("fwd", "k2", "v")])
        assert await node_a.count("fwd", "k", 3600) == 4
        assert await node_a.distinct_values("fwd", "k", 3600) == 2
        assert await node_a.count("fwd", "k2", 3600) == 1
    finally:
        await node_a.close()
        await node_b.close()


async def test_refreshed_values_are_one_member_each_and_known_on_every_node(redis_url):
    import redis.asyncio as aioredis

    node_a, node_b = RedisSeenStore(redis_url), RedisSeenStore(redis_url)
    raw = aioredis.Redis.from_url(redis_url)
    try:
        for _ in range(40):  # every message of one pair
            await node_a.refresh_many([("senders", "parent@gmail.com", "office@school.example")])
        await node_b.refresh_many([("senders", "parent@gmail.com", "tom@school.example")])
        assert await node_b.distinct_values("senders", "parent@gmail.com", 3600) == 2
        assert await node_b.has_value("senders", "parent@gmail.com", "office@school.example", 3600)
        assert not await node_a.has_value("senders", "parent@gmail.com", "jane@school.example", 3600)
        assert not await node_a.has_value("senders", "other@gmail.com", "office@school.example", 3600)
        # one member per value, and no per-event member: memory and reads do not grow per message
        keys = sorted(k.decode() for k in await raw.keys("schoolgate:seen:*"))
        assert keys == ["schoolgate:seen:d:senders:parent@gmail.com"]
        assert await raw.zcard(keys[0]) == 2
        assert await node_a.count("senders", "parent@gmail.com", 3600) == 0  # refresh is not an event
    finally:
        await raw.aclose()
        await node_a.close()
        await node_b.close()


async def test_has_value_forgets_after_the_window(redis_url):
    import asyncio

    seen = RedisSeenStore(redis_url)
    try:
        await seen.refresh_many([("senders", "p", "a"), ("senders", "p", "b")])
        await asyncio.sleep(0.3)
        await seen.refresh_many([("senders", "p", "b")])
        assert not await seen.has_value("senders", "p", "a", 0.2)
        assert await seen.has_value("senders", "p", "b", 0.2)
        assert await seen.distinct_values("senders", "p", 0.2) == 1
        await seen.record_many([("forward", "k", "m1")])  # event rows answer has_value too
        assert await seen.has_value("forward", "k", "m1", 3600)
    finally:
        await seen.close()


async def test_the_window_forgets_old_senders(redis_url):
    seen = RedisSeenStore(redis_url)
    try:
        assert await seen.observe("bulk", ["b"], "one", 3600) == 1
        # with a zero-length window only the sender just seen counts
        assert await seen.observe("bulk", ["b"], "two", 0.0001) == 1
    finally:
        await seen.close()


async def test_a_lockout_on_one_node_holds_on_the_other(redis_url):
    node_a = RedisLoginLimiter(redis_url, per_name=3, window_seconds=600)
    node_b = RedisLoginLimiter(redis_url, per_name=3, window_seconds=600)
    try:
        for _ in range(3):
            assert not await node_b.blocked("dsl", "10.0.0.1")
            await node_a.failed("DSL", "10.0.0.1")
        assert await node_b.blocked("dsl", "10.0.0.9")  # by name, from any address
        await node_b.succeeded("dsl")
        assert not await node_a.blocked("dsl", "10.0.0.9")
    finally:
        await node_a.close()
        await node_b.close()


async def test_redis_down_raises_a_clear_error():
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    seen = RedisSeenStore(dead)
    limiter = RedisLoginLimiter(dead, 3, 60)
    try:
        with pytest.raises(CountersUnavailable, match="Redis at redis://127.0.0.1"):
            await seen.observe("bulk", ["b"], "x", 60)
        with pytest.raises(CountersUnavailable):
            await limiter.blocked("dsl", "10.0.0.1")
    finally:
        await seen.close()
        await limiter.close()


async def test_a_quiet_key_outlives_the_longest_window_a_filter_reads(redis_url):
    """personal_address reads 90 days back (recurring_window_days): a key must not expire sooner.
    The default keeps it for [retention] seen_days' default, 120 days, as the SQL rows are kept."""
    import redis.asyncio as aioredis

    from filters.personal_address import Options as PersonalAddressOptions

    window_days = PersonalAddressOptions().recurring_window_days
    raw = aioredis.Redis.from_url(redis_url)
    seen, short = RedisSeenStore(redis_url), RedisSeenStore(redis_url, keep_seconds=3600)
    try:
        await seen.refresh_many([("ttl_senders", "parent@example.net", "office")])
        await seen.record_many([("ttl_forward", "office>parent@example.net", "m1")])
        names = [n async for n in raw.scan_iter(match="schoolgate:seen:*:ttl_*")]
        assert len(names) == 3  # the refreshed set, the event's distinct and per-event sets
        for name in names:
            assert await raw.ttl(name) > window_days * 86400
        await short.refresh_many([("ttl_short", "k", "v")])
        (name,) = [n async for n in raw.scan_iter(match="schoolgate:seen:*:ttl_short:*")]
        assert 0 < await raw.ttl(name) <= 3600  # the configured keep, not a fixed one
    finally:
        for name in [n async for n in raw.scan_iter(match="schoolgate:seen:*:ttl_*")]:
            await raw.delete(name)
        await raw.aclose()
        await seen.close()
        await short.close()

"""Counters several gateway nodes share through Redis (`[redis] url`): the seen/bulk store and
login-attempt limits. The embedded default needs no Redis (the store's SQL tables do this job).

Why Redis for these and not PostgreSQL: they are written on every message or login attempt and
only ever read as "how many in the last N seconds" — sorted sets with a time score answer that in
one round trip and expire by themselves, where SQL rows need pruning. When Redis is down the
calls raise `CountersUnavailable`: a filter's failure then goes to its `on_error` (never a silent
pass) and the login page refuses to check a password it cannot rate-limit.
"""
from __future__ import annotations

import secrets
import time
from typing import Sequence

from filters.errors import SchoolgateError

PREFIX = "schoolgate:"


class CountersUnavailable(SchoolgateError):
    """Redis could not be reached or answered an error; the text names the URL, not a password."""


def _masked(url: str) -> str:
    from config.loader import masked_url

    return masked_url(url)


class _RedisClient:
    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self._url = url
        # short timeouts: a dead Redis must not hold an SMTP transaction for the OS's minutes
        self._redis = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    async def _call(self, pipeline_fn):
        import redis

        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipeline_fn(pipe)
                return await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            raise CountersUnavailable(f"Redis at {_masked(self._url)}: {type(exc).__name__}: {exc}") from None

    async def ping(self) -> None:
        await self._call(lambda pipe: pipe.ping())

    async def close(self) -> None:
        await self._redis.aclose()


class RedisSeenStore(_RedisClient):
    """SeenStore (filters/base.py) in Redis: a sorted set per (kind, key), member = value,
    score = last time seen, so ZCARD over the window is the distinct-value count.

    `keep_seconds` is how long a quiet key lives: `[retention] seen_days`, as the SQL store's
    rows do. It must outlast every window a filter reads (personal_address's 90-day
    `recurring_window_days`), or a pair idle for a while is forgotten early on Redis only:
    a fixed 60 days did that."""

    def __init__(self, url: str, keep_seconds: float = 120 * 86400.0) -> None:
        super().__init__(url)
        self._keep = max(int(keep_seconds), 60)

    def _key(self, kind: str, key: str, distinct: bool = True) -> str:
        return f"{PREFIX}seen:{'d' if distinct else 'n'}:{kind}:{key[:256]}"

    def _record(self, pipe, kind: str, key: str, value: str, now: float) -> None:
        # one member per event for count(); the value per distinct_values()
        pipe.zadd(self._key(kind, key), {value[:512]: now})
        pipe.zadd(self._key(kind, key, False), {f"{now}:{secrets.token_hex(4)}": now})
        pipe.expire(self._key(kind, key), self._keep)
        pipe.expire(self._key(kind, key, False), self._keep)

    async def record(self, kind: str, key: str, value: str) -> None:
        now = time.time()
        await self._call(lambda p: self._record(p, kind, key, value, now))

    async def record_many(self, rows: Sequence[tuple[str, str, str]]) -> None:
        if rows:
            now = time.time()
            await self._call(lambda p: [self._record(p, kind, key, value, now) for kind, key, value in rows])

    async def refresh_many(self, rows: Sequence[tuple[str, str, str]]) -> None:
        # the distinct set only (ZADD moves a member's score): no per-event member for count(),
        # so a (key, value) seen on every message costs one member, not one per message
        if rows:
            now = time.time()

            def commands(pipe) -> None:
                for kind, key, value in rows:
                    pipe.zadd(self._key(kind, key), {value[:512]: now})
                    pipe.expire(self._key(kind, key), self._keep)

            await self._call(commands)

    async def distinct_values(self, kind: str, key: str, since_seconds: float) -> int:
        since = time.time() - since_seconds
        result = await self._call(lambda p: p.zcount(self._key(kind, key), since, "+inf"))
        return int(result[0])

    async def has_value(self, kind: str, key: str, value: str, since_seconds: float) -> bool:
        since = time.time() - since_seconds
        result = await self._call(lambda p: p.zscore(self._key(kind, key), value[:512]))
        return result[0] is not None and float(result[0]) >= since

    async def count(self, kind: str, key: str, since_seconds: float) -> int:
        since = time.time() - since_seconds
        result = await self._call(lambda p: p.zcount(self._key(kind, key, False), since, "+inf"))
        return int(result[0])

    async def observe(self, kind: str, keys: Sequence[str], value: str, since_seconds: float) -> int:
        keys = list(dict.fromkeys(k[:256] for k in keys))
        if not keys:
            return 0
        now = time.time()
        ttl = max(int(since_seconds * 2), 60)

        def commands(pipe) -> None:
            for k in keys:
                name = self._key(kind, k)
                pipe.zadd(name, {value[:512]: now})
                pipe.zremrangebyscore(name, "-inf", now - since_seconds)  # the window bounds memory
                pipe.expire(name, ttl)
                pipe.zcard(name)

        result = await self._call(commands)
        return max(int(n) for n in result[3::4])


class RedisLoginLimiter(_RedisClient):
    """Failed logins per name and per address in a sliding window, shared by every node, so a
    lockout on node A holds on node B. Same rule as quarantine.web.auth.LoginLimiter."""

    def __init__(self, url: str, per_name: int, window_seconds: float) -> None:
        super().__init__(url)
        self.per_name = per_name
        self.per_address = per_name * 4
        self.window = window_seconds

    def _keys(self, name: str, address: str) -> tuple[str, str]:
        return f"{PREFIX}login:n:{name.lower()[:128]}", f"{PREFIX}login:a:{address[:64]}"

    async def blocked(self, name: str, address: str) -> bool:
        now = time.time()
        by_name, by_address = self._keys(name, address)
        result = await self._call(lambda p: (p.zcount(by_name, now - self.window, "+inf"),
                                             p.zcount(by_address, now - self.window, "+inf")))
        return int(result[0]) >= self.per_name or int(result[1]) >= self.per_address

    async def failed(self, name: str, address: str) -> None:
        now = time.time()
        member = f"{now}:{secrets.token_hex(4)}"
        ttl = int(self.window) + 60

        def commands(pipe) -> None:
            for key in self._keys(name, address):
                pipe.zadd(key, {member: now})
                pipe.zremrangebyscore(key, "-inf", now - self.window)
                pipe.expire(key, ttl)

        await self._call(commands)

    async def succeeded(self, name: str) -> None:
        await self._call(lambda p: p.delete(self._keys(name, "")[0]))

"""Cost per message of the rate-limit path (issue 21 clause 3): the filter's check of a pupil's
external message against the quarantine database's counters (one observe + one window count,
through the store's single database thread, SQLite WAL with synchronous=FULL by default).

    .venv/bin/python bench/rate_limit_cost.py [--messages 500] [--pupils 50] [--database-url URL]
                                              [--redis 127.0.0.1:6379]

With --redis the counters are the multi-node ones ([redis] url: quarantine/redis_counters.py);
the database given (or SQLite) then only holds the store. A free Redis DB index is claimed the
way tests/servers.py claims one (SETNX in DB 0), used, emptied and given back.

Prints the per-message cost with the seen table empty, then again once it holds a school
day of rows (--background rows from other pupils), since the count is over an index range.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config.loader import load_settings  # noqa: E402
from filters.base import FilterContext  # noqa: E402
from filters.directory import Directory  # noqa: E402
from filters.message import Envelope, build_view  # noqa: E402
from filters.rate_limit import RateLimitFilter  # noqa: E402
from quarantine.store import QuarantineStore  # noqa: E402
from tests.factories import make_message  # noqa: E402

SCHOOL = "school.sch.uk"
PUPILS = f"students.{SCHOOL}"


def ms(samples: list[float]) -> str:
    samples = sorted(samples)
    p95 = samples[max(0, int(len(samples) * 0.95) - 1)]
    return (f"mean {statistics.mean(samples) * 1000:6.2f} ms  median {statistics.median(samples) * 1000:6.2f} ms"
            f"  p95 {p95 * 1000:6.2f} ms")


async def run(flt: RateLimitFilter, views: list) -> list[float]:
    samples = []
    for view in views:
        started = time.perf_counter()
        await flt.check(view)
        samples.append(time.perf_counter() - started)
    return samples


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--pupils", type=int, default=50)
    parser.add_argument("--background", type=int, default=20000, help="rows already in the seen table")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--redis", default=None, help="host:port: count in Redis (a claimed, emptied DB)")
    args = parser.parse_args()

    settings = load_settings(overrides={"school": {"domains": [SCHOOL]},
                                        "rate_limit": {"per_hour": 10**6, "per_day": 10**6}})
    directory = Directory(None, {PUPILS: "student"}, (SCHOOL,))
    with tempfile.TemporaryDirectory(prefix="rate-bench-") as tmp:
        store = await QuarantineStore(Path(tmp), args.database_url).open()
        shared = claim = None
        if args.redis:
            import redis
            host, _, port = args.redis.rpartition(":")
            claim = redis.Redis(host=host, port=int(port), db=0)
            index = next((i for i in range(1, 16)
                          if claim.set(f"schoolgate-test-db:{i}", "bench", nx=True, ex=3600)), None)
            if index is None:
                raise SystemExit("no free Redis DB index (1-15) to benchmark in")
            args.redis_url = f"redis://{host}:{port}/{index}"
            redis.Redis.from_url(args.redis_url).flushdb()  # ours now: claimed above
            from quarantine.redis_counters import RedisSeenStore
            shared = RedisSeenStore(args.redis_url)
        try:
            flt = RateLimitFilter(settings.filter_options["rate_limit"],
                                  FilterContext(settings=settings, directory=directory, seen=shared or store.seen))

            def views(offset: int) -> list:
                out = []
                for n in range(args.messages):
                    pupil = f"p{n % args.pupils}@{PUPILS}"
                    raw = make_message(f"message {offset + n}", sender=pupil, to="friend@example.org")
                    out.append(build_view(raw, Envelope(pupil, ("friend@example.org",)), directory))
                return out

            empty = await run(flt, views(0))
            # a day's traffic from other pupils already counted
            bulk = [dict(kind="rate_limit", key=f"other{n % 900}@{PUPILS}", value=f"m{n}", at=time.time() - n)
                    for n in range(args.background)]
            from sqlalchemy import insert
            from quarantine.store import seen

            def fill() -> None:
                with store.engine.begin() as conn:
                    conn.execute(insert(seen), bulk)
            background = len(bulk) if shared is None else min(len(bulk), 2000)
            if shared is None:
                await store.run(fill)
            else:
                for row in bulk[:2000]:  # one ZADD round trip each: a sample is enough for Redis
                    await shared.observe("rate_limit", [row["key"]], row["value"], 86400.0)
            full = await run(flt, views(10**6))
            staff_raw = make_message("minutes", sender=f"head@{SCHOOL}", to="gov@example.org")
            staff = [build_view(staff_raw, Envelope(f"head@{SCHOOL}", ("gov@example.org",)), directory)]
            skipped = await run(flt, staff * args.messages)
        finally:
            await store.close()
            if shared is not None:
                await shared.close()
                import redis
                redis.Redis.from_url(args.redis_url).flushdb()
                claim.delete(f"schoolgate-test-db:{args.redis_url.rsplit('/', 1)[1]}")
    db = f"redis {args.redis_url}" if args.redis else args.database_url or "sqlite (WAL, synchronous=FULL)"
    print(f"rate_limit check, {args.messages} pupil messages, {args.pupils} pupils, {db}")
    print(f"  seen table empty:            {ms(empty)}")
    print(f"  + {background} rows of others: {ms(full)}")
    print(f"  staff message (not counted): {ms(skipped)}")


if __name__ == "__main__":
    asyncio.run(main())

"""Held bytes in PostgreSQL: bytea chunks (what the store does) against large objects, for the
write pattern of a hold (one message, its bytes and its index row in one synchronous commit) and a
release's read, at 5 KB, 200 KB and 2 MB. Uses this machine's PostgreSQL; makes and drops its own
database. An S3-compatible store is not measured (none runs here; it would be a second system
outside the commit).

    python bench/pg_blobs.py            # 200 holds per size
    python bench/pg_blobs.py -n 50
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import time

import psycopg

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
CHUNK = 1 << 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=200)
    args = parser.parse_args()
    name = f"schoolgate_blobs_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}") as conn:
            conn.execute("SET synchronous_commit = on")
            conn.execute("CREATE TABLE idx (id text PRIMARY KEY, lo oid)")
            conn.execute("CREATE TABLE blobs (id text, chunk int, data bytea, PRIMARY KEY (id, chunk))")
            conn.commit()
            for size in (5_000, 200_000, 2_000_000):
                raw = os.urandom(size)
                results = {}
                for kind in ("bytea", "large object"):
                    ids, writes, reads = [], [], []
                    for _ in range(args.n):
                        mid = secrets.token_hex(8)
                        t0 = time.perf_counter()
                        with conn.cursor() as cur:
                            if kind == "bytea":
                                for n, i in enumerate(range(0, len(raw), CHUNK)):
                                    cur.execute("INSERT INTO blobs VALUES (%s, %s, %s)", (mid, n, raw[i:i + CHUNK]))
                                cur.execute("INSERT INTO idx VALUES (%s, NULL)", (mid,))
                            else:
                                oid = cur.execute("SELECT lo_from_bytea(0, %s)", (raw,)).fetchone()[0]
                                cur.execute("INSERT INTO idx VALUES (%s, %s)", (mid, oid))
                        conn.commit()
                        writes.append(time.perf_counter() - t0)
                        ids.append(mid)
                    for mid in ids[: min(50, len(ids))]:
                        t0 = time.perf_counter()
                        with conn.cursor() as cur:
                            if kind == "bytea":
                                data = b"".join(bytes(r[0]) for r in cur.execute(
                                    "SELECT data FROM blobs WHERE id = %s ORDER BY chunk", (mid,)))
                            else:
                                data = bytes(cur.execute("SELECT lo_get(lo) FROM idx WHERE id = %s",
                                                         (mid,)).fetchone()[0])
                        conn.commit()
                        assert data == raw
                        reads.append(time.perf_counter() - t0)
                    results[kind] = (statistics.median(writes) * 1000, statistics.median(reads) * 1000)
                print(f"{size / 1000:>7.0f} KB  " + "  ".join(
                    f"{kind}: hold {w:6.2f} ms, read {r:6.2f} ms" for kind, (w, r) in results.items()), flush=True)
            conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print("large objects also need their own cleanup (lo_unlink or vacuumlo) when a row goes; "
          "bytea rows go with the row.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

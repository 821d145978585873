"""Fixtures on this machine's real PostgreSQL (127.0.0.1:5432, user postgres, trust) and Redis
(127.0.0.1:6379): each test gets a database / DB index of its own, created and dropped here."""
from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator

import pytest

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database; its SQLAlchemy URL (psycopg 3)."""
    if not _listening(PG_HOST, PG_PORT):
        pytest.skip(f"PostgreSQL is not running on {PG_HOST}:{PG_PORT} (the multi-node tests need it)")
    import psycopg

    name = f"schoolgate_test_{secrets.token_hex(4)}"
    admin = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis DB index no other test uses at the same time, emptied before and after."""
    if not _listening(REDIS_HOST, REDIS_PORT):
        pytest.skip(f"Redis is not running on {REDIS_HOST}:{REDIS_PORT} (the multi-node tests need it)")
    import redis

    # Index 0 is left to whoever else uses this Redis; 1-15 for tests, claimed with SETNX.
    claim = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=0)
    for index in range(1, 16):
        if claim.set(f"schoolgate-test-db:{index}", "1", nx=True, ex=3600):
            break
    else:
        pytest.fail("no free Redis DB index for the test")
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=index)
    client.flushdb()
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{index}"
    finally:
        client.flushdb()
        claim.delete(f"schoolgate-test-db:{index}")
        client.close()
        claim.close()

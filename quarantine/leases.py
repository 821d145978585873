"""Leases in the shared database: which node runs the timers (digests, DSL escalation, scheduled
reports) so that several nodes on one database send each mail once, and another node takes over
within one lease time when the holder dies.

The claim is one conditional UPDATE (held by me, or expired) — atomic on PostgreSQL and SQLite
alike, no advisory locks or clocks beyond each node's own `time.time()`: nodes' clocks must agree
to well within the lease time (NTP does; the default is 90 s).
"""
from __future__ import annotations

import os
import secrets
import socket
import time

from sqlalchemy import Column, Float, String, Table, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from quarantine.store import QuarantineStore, metadata

leases = Table(
    "leases", metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", Float, nullable=False),
)

TIMERS = "timers"


def node_holder(node_name: str = "") -> str:
    """Unique per process: a restarted node is a new holder and waits for its own old lease."""
    return f"{node_name or socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Lease:
    def __init__(self, store: QuarantineStore, name: str, holder: str, seconds: float = 90.0) -> None:
        self.store = store
        self.name = name
        self.holder = holder
        self.seconds = seconds

    def claim_sync(self, now: float | None = None) -> bool:
        """Take or renew the lease; True while this holder has it."""
        now = time.time() if now is None else now
        with self.store.engine.begin() as conn:
            done = conn.execute(update(leases).where(and_(
                leases.c.name == self.name,
                or_(leases.c.holder == self.holder, leases.c.expires_at < now))).values(
                holder=self.holder, expires_at=now + self.seconds))
            if done.rowcount == 1:
                return True
        try:
            with self.store.engine.begin() as conn:
                conn.execute(insert(leases).values(name=self.name, holder=self.holder,
                                                   expires_at=now + self.seconds))
            return True
        except IntegrityError:  # someone holds it (or made the row a moment ago)
            return False

    def release_sync(self) -> None:
        """At a clean stop: let another node take over now, not after the lease runs out."""
        with self.store.engine.begin() as conn:
            conn.execute(update(leases).where(and_(leases.c.name == self.name, leases.c.holder == self.holder))
                         .values(expires_at=0.0))

    def holder_sync(self) -> str | None:
        with self.store.engine.begin() as conn:
            row = conn.execute(select(leases).where(leases.c.name == self.name)).first()
        return row.holder if row is not None and row.expires_at >= time.time() else None

    async def held(self) -> bool:
        return await self.store.run(self.claim_sync)

    async def release(self) -> None:
        await self.store.run(self.release_sync)

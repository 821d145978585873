"""The reviewers' allow/block list as the filters see it: read from the review
store, cached briefly so a burst of mail does not queue on the store's thread."""
from __future__ import annotations

import time

from sqlalchemy import select

from quarantine.review_store import sender_lists
from quarantine.store import QuarantineStore


class CachedSenderLists:
    def __init__(self, store: QuarantineStore, ttl_seconds: float = 10.0) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._entries: dict[str, str] = {}
        self._loaded_at = float("-inf")

    def _load_sync(self) -> dict[str, str]:
        with self._store.engine.begin() as conn:
            return {r.address: r.kind for r in conn.execute(select(sender_lists.c.address, sender_lists.c.kind))}

    async def status(self, address: str) -> str | None:
        now = time.monotonic()
        if now - self._loaded_at > self._ttl:
            self._entries = await self._store.run(self._load_sync)
            self._loaded_at = now
        return self._entries.get(address.strip().lower())

"""The reviewers' allow/block list (addresses and domains, with expiry) as the filters see it: read from the review
store, cached briefly so a burst of mail does not queue on the store's thread."""
from __future__ import annotations

import time

from sqlalchemy import select

from quarantine.review_store import sender_list_expiry, sender_lists, sender_status
from quarantine.store import QuarantineStore


class CachedSenderLists:
    def __init__(self, store: QuarantineStore, ttl_seconds: float = 10.0) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._entries: dict[str, str] = {}
        self._loaded_at = float("-inf")

    def _load_sync(self) -> dict[str, str]:
        now = time.time()
        with self._store.engine.begin() as conn:
            rows = conn.execute(select(sender_lists.c.address, sender_lists.c.kind, sender_list_expiry.c.expires_at)
                                .outerjoin(sender_list_expiry,
                                           sender_list_expiry.c.address == sender_lists.c.address))
            # an expired entry simply stops applying; the row stays for the admin page and the audit
            return {r.address: r.kind for r in rows if r.expires_at is None or r.expires_at > now}

    async def status(self, address: str) -> str | None:
        now = time.monotonic()
        if now - self._loaded_at > self._ttl:
            self._entries = await self._store.run(self._load_sync)
            self._loaded_at = now
        return sender_status(self._entries, address)

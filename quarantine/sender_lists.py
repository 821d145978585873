"""The reviewers' allow/block list (addresses and domains, with expiry) as the filters see it: read from the review
store, cached briefly so a burst of mail does not queue on the store's thread. In a trust an entry is one
school's or the trust's (docs/trust.md): `status` answers for mail owned by one school."""
from __future__ import annotations

import time

from sqlalchemy import and_, select

from quarantine.review_store import TRUST_ENTRY, entries_for, sender_list_expiry, sender_lists, sender_status
from quarantine.store import QuarantineStore


class CachedSenderLists:
    def __init__(self, store: QuarantineStore, ttl_seconds: float = 10.0) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._rows: list[tuple[str, str, str]] = []
        self._by_school: dict[str, dict[str, str]] = {}
        self._loaded_at = float("-inf")

    def _load_sync(self) -> list[tuple[str, str, str]]:
        now = time.time()
        with self._store.engine.begin() as conn:
            rows = conn.execute(select(sender_lists.c.school, sender_lists.c.address, sender_lists.c.kind,
                                       sender_list_expiry.c.expires_at)
                                .outerjoin(sender_list_expiry,
                                           and_(sender_list_expiry.c.address == sender_lists.c.address,
                                                sender_list_expiry.c.school == sender_lists.c.school)))
            # an expired entry simply stops applying; the row stays for the admin page and the audit
            return [(r.school, r.address, r.kind) for r in rows if r.expires_at is None or r.expires_at > now]

    async def status(self, address: str, school: str = TRUST_ENTRY) -> str | None:
        """The entry that applies to `address` in mail owned by `school`: the trust's entries and
        that school's own (another school's never)."""
        now = time.monotonic()
        if now - self._loaded_at > self._ttl:
            self._rows = await self._store.run(self._load_sync)
            self._by_school = {}
            self._loaded_at = now
        if school not in self._by_school:
            self._by_school[school] = entries_for(self._rows, school)
        return sender_status(self._by_school[school], address)

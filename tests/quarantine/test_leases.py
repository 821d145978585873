"""The timers lease on a real PostgreSQL: one holder at a time, renewal, takeover after expiry,
hand-over at a clean stop."""
from __future__ import annotations

import time

from quarantine.leases import TIMERS, Lease
from quarantine.store import QuarantineStore
from tests.servers import pg_url  # noqa: F401  (fixture)


def test_one_holder_renewal_takeover_and_handover(tmp_path, pg_url):
    node_a = QuarantineStore(tmp_path / "a", pg_url).open_sync()
    node_b = QuarantineStore(tmp_path / "b", pg_url).open_sync()
    try:
        lease_a, lease_b = Lease(node_a, TIMERS, "a", 30), Lease(node_b, TIMERS, "b", 30)
        now = time.time()
        assert lease_a.claim_sync(now)
        assert not lease_b.claim_sync(now + 1)
        assert lease_a.claim_sync(now + 20)          # renewed: good until now + 50
        assert not lease_b.claim_sync(now + 45)
        assert lease_b.claim_sync(now + 51)          # A died (stopped renewing): B takes over
        assert not lease_a.claim_sync(now + 52)
        lease_b.release_sync()                       # a clean stop hands over at once
        assert lease_a.claim_sync(time.time())
        assert lease_a.holder_sync() == "a"
    finally:
        node_a.close_sync()
        node_b.close_sync()

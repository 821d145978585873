"""The route a release takes: each recipient's next hop, DKIM-signed as a delivered copy is.

quarantine/ must not import gateway/, so a release is handed this object (it has
NextHop's `deliver` shape). A released copy leaves the school exactly as the
dispatcher would have sent it: signed when any recipient is outside the school
(gateway/dispatch.py signs per route group by the same rule), routed by
gateway/routing.py (next_hop for the school, outbound_next_hop for the rest).
"""
from __future__ import annotations

from typing import Callable, Sequence

from config.schema import Settings
from gateway.dkim_signing import DkimSigner
from gateway.relay import DeliveryResult
from gateway.routing import Router


class ReleaseRoute:
    def __init__(self, router: Router, signer: DkimSigner | None, is_school: Callable[[str], bool]) -> None:
        self.router = router
        self._signer = signer
        self._is_school = is_school

    async def deliver(self, mail_from: str, rcpt_tos: Sequence[str], data: bytes, *,
                      require_tls: str = "") -> DeliveryResult:
        """`require_tls`: a released copy carrying pupil data is re-checked as at delivery
        (issue 21 clause 4): verified TLS on the connection now, else 451 and it stays held."""
        if self._signer is not None and any(not self._is_school(r) for r in rcpt_tos):
            data = await self._signer.sign(data)
        return await self.router.deliver(mail_from, rcpt_tos, data, require_tls=require_tls)

    async def close(self) -> None:
        await self.router.close()


def release_route(settings: Settings, router: Router | None, signer: DkimSigner | None = None) -> ReleaseRoute | None:
    """The release route over this node's routes, or None without a next hop."""
    from gateway.service import school_address_test  # the composition root owns the school test

    if router is None:
        return None
    return ReleaseRoute(router, signer, school_address_test(settings))


async def release(settings: Settings, message_id: str, *, recipients: Sequence[str] | None = None,
                  actor: str, reason: str, detail: dict | None = None) -> dict:
    """For the CLI: the same routes and signing as the running gateway."""
    from gateway.service import make_next_hop, open_store, school_address_test
    from quarantine.review import ReleaseError, release_from_store

    signer = DkimSigner.from_settings(settings)
    route = release_route(settings, make_next_hop(settings), signer)
    if route is None:
        raise ReleaseError("[gateway] next_hop is not set: nowhere to release to")
    store = await open_store(settings).open()
    try:
        return await release_from_store(store, route, message_id, recipients=recipients, actor=actor,
                                        reason=reason, detail=detail,
                                        findings_header=settings.quarantine.release_findings_header,
                                        is_internal=school_address_test(settings))
    finally:
        await route.close()
        await store.close()

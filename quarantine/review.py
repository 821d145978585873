"""Review actions on held mail: release (exactly once, filters not re-run) and delete, audited."""
from __future__ import annotations

import logging
from typing import Any, Protocol, Sequence

from config.schema import Settings
from filters.errors import SchoolgateError
from quarantine.store import QuarantineStore, StoreError

log = logging.getLogger(__name__)


class ReleaseError(SchoolgateError):
    """Nothing was released; the message says why."""


class Deliverer(Protocol):
    """What a release needs: gateway.routing.Router (each recipient's route) or one NextHop."""

    async def deliver(self, mail_from: str, rcpt_tos: Sequence[str], data: bytes) -> Any: ...


async def release_from_store(store: QuarantineStore, next_hop: Deliverer, message_id: str, *,
                             recipients: Sequence[str] | None, actor: str, reason: str) -> dict:
    """Claim the held copies atomically, deliver them, then mark them released.

    A second release (or a concurrent one) claims nothing and is refused. The
    recipients the next hop refuses go back to 'held' (the failure is audited),
    the ones it took are released; whatever goes wrong in between, no recipient
    is left in 'releasing'. A held bounce (null sender) is released as `MAIL FROM:<>`.
    """
    try:
        held = await store.get(message_id)
    except StoreError as exc:
        raise ReleaseError(str(exc)) from None
    if not held.path:
        raise ReleaseError(f"message {message_id} has no stored content to release")
    if held.locked:  # an indecent image is never delivered to anyone (docs/images.md)
        raise ReleaseError(f"message {message_id} is a locked indecent-image hold: it is never released")
    claimed = await store.run(store.claim_for_release_sync, message_id, recipients)
    if not claimed:
        states = ", ".join(f"{a}: {i['status']}" for a, i in held.recipients.items())
        raise ReleaseError(f"message {message_id} has nothing held to release ({states})")
    try:
        raw = await store.run(store.raw_sync, held)
        result = await next_hop.deliver(held.mail_from, claimed, raw)
    except BaseException as exc:
        # a bug or a cancelled request must not strand the copies in 'releasing'
        log.exception("release of %s failed before the next hop answered", message_id)
        await store.run(store.finish_release_sync, message_id, claimed, False, actor, reason,
                        {"reply": f"error: {type(exc).__name__}"})
        if isinstance(exc, Exception):
            raise ReleaseError(f"release failed ({type(exc).__name__}); still held") from exc
        raise
    refused = dict(result.refused) if result.ok else {}
    released = [r for r in claimed if result.ok and r not in refused]
    kept = [r for r in claimed if r not in released]
    if released:
        await store.run(store.finish_release_sync, message_id, released, True, actor, reason,
                        {"reply": f"{result.code} {result.message}"})
    if kept:
        detail = "; ".join(f"<{r}>: {c} {m}" for r, (c, m) in refused.items()) or \
            f"{result.code} {result.message}"
        await store.run(store.finish_release_sync, message_id, kept, False, actor, reason, {"reply": detail})
    if not released:
        raise ReleaseError(f"next hop refused the release ({result.code} {result.message}); still held")
    out = {"id": message_id, "recipients": released, "reply": f"{result.code} {result.message}"}
    if kept:
        out["still_held"] = {r: f"{c} {m}" for r, (c, m) in refused.items()}
    return out


async def release(settings: Settings, message_id: str, *, recipients: Sequence[str] | None = None,
                  actor: str, reason: str) -> dict:
    """From the CLI: the same routes as the running gateway (next_hop / outbound_next_hop)."""
    from gateway.service import make_next_hop  # the composition root: built here, not imported at the top

    router = make_next_hop(settings)
    if router is None:
        raise ReleaseError("[gateway] next_hop is not set: nowhere to release to")
    store = await QuarantineStore.for_settings(settings.quarantine).open()
    try:
        return await release_from_store(store, router, message_id, recipients=recipients,
                                        actor=actor, reason=reason)
    finally:
        await router.close()
        await store.close()

"""Review actions on held mail: release (exactly once, filters not re-run) and delete, audited."""
from __future__ import annotations

from typing import Sequence

from config.schema import Settings, split_host_port
from gateway.relay import NextHop
from quarantine.store import QuarantineStore, StoreError


class ReleaseError(Exception):
    """Nothing was released; the message says why."""


async def release_from_store(store: QuarantineStore, next_hop: NextHop, message_id: str, *,
                             recipients: Sequence[str] | None, actor: str, reason: str) -> dict:
    """Claim the held copies atomically, deliver them, then mark them released.

    A second release (or a concurrent one) claims nothing and is refused. If the
    next hop refuses, the copies go back to 'held' and the failure is audited.
    """
    try:
        held = await store.get(message_id)
    except StoreError as exc:
        raise ReleaseError(str(exc)) from None
    if not held.path:
        raise ReleaseError(f"message {message_id} has no stored content to release")
    claimed = await store.run(store.claim_for_release_sync, message_id, recipients)
    if not claimed:
        states = ", ".join(f"{a}: {i['status']}" for a, i in held.recipients.items())
        raise ReleaseError(f"message {message_id} has nothing held to release ({states})")
    try:
        raw = await store.run(store.raw_sync, held)
        result = await next_hop.deliver(held.mail_from, claimed, raw)
    except Exception as exc:
        # never leave claimed copies 'releasing' for ever: they go back to held, audited
        await store.run(store.finish_release_sync, message_id, claimed, False, actor, reason,
                        {"reply": f"error: {type(exc).__name__}"})
        raise ReleaseError(f"release of {message_id} failed ({type(exc).__name__}); still held") from exc
    await store.run(store.finish_release_sync, message_id, claimed, result.ok, actor, reason,
                    {"reply": f"{result.code} {result.message}"})
    if not result.ok:
        raise ReleaseError(f"next hop refused the release ({result.code} {result.message}); still held")
    return {"id": message_id, "recipients": claimed, "reply": f"{result.code} {result.message}"}


async def release(settings: Settings, message_id: str, *, recipients: Sequence[str] | None = None,
                  actor: str, reason: str) -> dict:
    if not settings.gateway.next_hop:
        raise ReleaseError("[gateway] next_hop is not set: nowhere to release to")
    host, port = split_host_port(settings.gateway.next_hop)
    next_hop = NextHop(host, port, pool_size=1, timeout=settings.gateway.next_hop_timeout,
                       local_hostname=settings.gateway.hostname, tls=settings.gateway.next_hop_tls)
    store = await QuarantineStore(settings.quarantine.path, settings.quarantine.database_url).open()
    try:
        return await release_from_store(store, next_hop, message_id, recipients=recipients,
                                         actor=actor, reason=reason)
    finally:
        await next_hop.close()
        await store.close()

"""Review actions on held mail: release (exactly once, filters not re-run) and delete, audited."""
from __future__ import annotations

import logging
from typing import Any, Callable, Protocol, Sequence

from filters.errors import SchoolgateError
from filters.base import SAFEGUARDING_CATEGORIES
from filters.policy import needs_tls_codes, tls_reason
from quarantine.store import HeldMessage, QuarantineStore, StoreError

log = logging.getLogger(__name__)


class ReleaseError(SchoolgateError):
    """Nothing was released; the message says why."""


class Deliverer(Protocol):
    """What a release needs: gateway.routing.Router (each recipient's route) or one NextHop."""

    async def deliver(self, mail_from: str, rcpt_tos: Sequence[str], data: bytes) -> Any: ...
    # and, for a copy carrying pupil data to outside the school (issue 21 clause 4), the keyword
    # require_tls=<reason>: sent only over verified TLS, else a 451 (gateway/relay.py)


async def release_from_store(store: QuarantineStore, next_hop: Deliverer, message_id: str, *,
                             recipients: Sequence[str] | None, actor: str, reason: str,
                             findings_header: str = "school", detail: dict | None = None,
                             is_internal: Callable[[str], bool] | None = None) -> dict:
    """Claim the held copies atomically, deliver them, then mark them released.

    A second release (or a concurrent one) claims nothing and is refused. The
    recipients the next hop refuses go back to 'held' (the failure is audited),
    the ones it took are released; whatever goes wrong in between, no recipient
    is left in 'releasing'. A held bounce (null sender) is released as `MAIL FROM:<>`.
    Copies for the school and for the outside world are handed over separately
    (release_copies): the findings header is for the school's eyes only. `next_hop`
    is the gateway's release route, which routes and DKIM-signs as for any copy.
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
    extra = dict(detail or {})
    released: list[str] = []
    refused: dict[str, str] = {}  # recipient -> the next hop's answer
    replies: list[str] = []

    async def settle() -> None:
        done = set(released)
        kept = [r for r in claimed if r not in done]
        if released:
            await store.run(store.finish_release_sync, message_id, released, True, actor, reason,
                            {**extra, "reply": "; ".join(replies)})
        if kept:
            text = "; ".join(f"<{r}>: {refused[r]}" for r in kept if r in refused) or "; ".join(replies)
            await store.run(store.finish_release_sync, message_id, kept, False, actor, reason,
                            {**extra, "reply": text or "not attempted"})

    try:
        raw = await store.run(store.raw_sync, held)
        inside = internal_test(held, is_internal)
        for rcpts, data in release_copies(raw, held, claimed, findings_header, is_internal):
            # issue 21 clause 4: a release is checked as a delivery is - pupil data leaves the
            # school only over a connection that negotiates verified TLS now
            codes = list(dict.fromkeys(c for r in rcpts if not inside(r) for c in needs_tls_codes(held.findings, r)))
            if codes:
                result = await next_hop.deliver(held.mail_from, rcpts, data, require_tls=tls_reason(codes))
            else:
                result = await next_hop.deliver(held.mail_from, rcpts, data)
            replies.append(f"{result.code} {result.message}")
            gone = dict(result.refused) if result.ok else {}
            for r in rcpts:
                if result.ok and r not in gone:
                    released.append(r)
                else:
                    code, text = gone.get(r, (result.code, result.message))
                    refused[r] = f"{code} {text}"
    except BaseException as exc:
        # a bug, a cancelled request or a dead next hop must not strand copies in 'releasing'
        log.exception("release of %s failed before the next hop answered", message_id)
        replies.append(f"error: {type(exc).__name__}")
        await settle()
        if isinstance(exc, Exception):
            raise ReleaseError(f"release failed ({type(exc).__name__}); still held") from exc
        raise
    await settle()
    if not released:
        raise ReleaseError(f"next hop refused the release ({'; '.join(replies)}); still held")
    out = {"id": message_id, "recipients": released, "reply": "; ".join(replies)}
    if refused:
        out["still_held"] = dict(refused)
    return out


INTERNAL_ROLES = ("staff", "student")  # filters.base.Role values of the school's own people


def release_copies(raw: bytes, held: HeldMessage, rcpts: Sequence[str], findings_header: str = "school",
                   is_internal: Callable[[str], bool] | None = None) -> list[tuple[list[str], bytes]]:
    """The copies a release hands over: (recipients, bytes), one for the school and one for the rest.

    The stored copy carries `X-Schoolgate-Findings` for reviewers. Outside the school
    it would tell a stranger (or a parent's mailbox) what we suspected, so it goes;
    inside, `findings_header = "school"` keeps the non-safeguarding codes only (a
    pupil must never see SAFEGUARDING_SELF_HARM on their own message), "never" drops it.
    """
    body = strip_header(raw, FINDINGS_HEADER)
    is_internal = internal_test(held, is_internal)
    inside = [r for r in rcpts if is_internal(r)]
    outside = [r for r in rcpts if r not in inside]
    out: list[tuple[list[str], bytes]] = []
    if inside:
        codes = [f.code for f in held.findings if str(f.category) not in SAFEGUARDING_NAMES]
        codes = list(dict.fromkeys(codes))
        data = body
        if findings_header == "school" and codes:
            data = f"{FINDINGS_HEADER}: {' '.join(codes)}\r\n".encode("ascii", "replace") + body
        out.append((inside, data))
    if outside:
        out.append((outside, body))
    return out


def internal_test(held: HeldMessage, is_internal: Callable[[str], bool] | None) -> Callable[[str], bool]:
    """`is_internal`, or without the school's domains: the directory role, or the message's direction."""
    if is_internal is not None:
        return is_internal

    def by_role(r: str) -> bool:
        return (held.recipients.get(r, {}).get("role") in INTERNAL_ROLES
                or held.direction in ("inbound", "internal"))
    return by_role


FINDINGS_HEADER = "X-Schoolgate-Findings"
SAFEGUARDING_NAMES = frozenset(str(c) for c in SAFEGUARDING_CATEGORIES)


def strip_header(raw: bytes, name: str) -> bytes:
    """`raw` without every field called `name` (and its folded continuation lines)."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        cut = raw.find(sep)
        if cut != -1:
            head, rest = raw[:cut + len(sep) // 2], raw[cut + len(sep) // 2:]
            break
    else:
        head, rest = raw, b""
    lines = head.splitlines(keepends=True)
    kept: list[bytes] = []
    dropping = False
    want = name.lower().encode()
    for line in lines:
        if line[:1] in (b" ", b"\t") and dropping:
            continue  # RFC 5322 2.2.3: a folded line belongs to the field above
        field_name, colon, _ = line.partition(b":")
        dropping = bool(colon) and field_name.strip().lower() == want
        if not dropping:
            kept.append(line)
    return b"".join(kept) + rest


def school_address_test(domains: Sequence[str]) -> Callable[[str], bool]:
    """address -> in one of the school's domains or a subdomain (as filters/directory.py decides)."""
    wanted = tuple(d.lower() for d in domains)

    def inside(address: str) -> bool:
        domain = address.rpartition("@")[2].lower()
        return any(domain == d or domain.endswith("." + d) for d in wanted)
    return inside

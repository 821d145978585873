"""Carries out a Verdict: quarantine the held copies, deliver the rest, pick the SMTP reply.

The rule for one message with mixed outcomes (documented in docs/delivery.md):
- any recipient TEMPFAIL -> 451 for the whole message, nothing stored or delivered;
- every recipient REJECT -> 554 (a metadata-only record is kept for reports);
- otherwise: REJECT recipients are held with the HOLD ones (we already said 250
  to RCPT, so a silent drop would lose mail); held copies are stored (fsync)
  first, then PASS and TAG copies are delivered; if delivery fails the stored
  copies are discarded and the next hop's answer class goes back to the client,
  who retries the whole message. 250 only when every copy is safe.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from email.utils import formatdate
from typing import Callable

from filters.base import Action, Verdict
from filters.message import MessageView
from gateway.relay import DeliveryResult, NextHop
from quarantine.store import QuarantineStore, Status

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    reply: str  # the full SMTP reply line for our client
    stored_id: str | None = None
    delivered: tuple[str, ...] = ()
    held: tuple[str, ...] = ()


def findings_header(verdict: Verdict) -> bytes:
    codes = " ".join(verdict.codes) or "NONE"
    return f"X-Schoolgate-Findings: {codes}\r\n".encode("ascii", "replace")


def received_header(view: MessageView, hostname: str) -> bytes:
    env = view.envelope
    helo = (env.helo or "unknown").replace("\r", "").replace("\n", "")[:200]
    return (f"Received: from {helo} ([{env.client_ip or 'unknown'}])\r\n\tby {hostname} (schoolgate) "
            f"with ESMTP id {view.id};\r\n\t{formatdate(localtime=False)}\r\n").encode("utf-8", "replace")


def _smtp_safe(text: str) -> str:
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())[:300]


class Dispatcher:
    def __init__(self, store: QuarantineStore, next_hop: NextHop | None, hostname: str, signer=None, *,
                 on_hold: Callable[[str], None] | None = None) -> None:
        # told the id of each stored hold (quarantine.notify.Notifier.held): schedules, never blocks
        self._on_hold = on_hold
        self._store = store
        self._next_hop = next_hop
        self._hostname = hostname
        self._signer = signer  # optional outbound DKIM signer (gateway.dkim_signing.DkimSigner)

    async def _deliver(self, view: MessageView, rcpts: list[str], data: bytes) -> DeliveryResult:
        if self._next_hop is None:
            return DeliveryResult(False, 451, "no next hop configured")
        # sign after filtering and after our own headers, and only what leaves
        # the school (RFC 6376 5: the signer is the last to touch the message)
        if self._signer is not None and any(not self._is_internal(view, r) for r in rcpts):
            data = await self._signer.sign(data)
        return await self._next_hop.deliver(view.envelope.mail_from, rcpts, data)

    @staticmethod
    def _is_internal(view: MessageView, address: str) -> bool:
        party = view.recipient(address)
        return party is not None and party.internal

    async def dispatch(self, view: MessageView, verdict: Verdict, raw: bytes | None = None) -> Outcome:
        """`raw`: the bytes to deliver or hold (the view's, plus any filter annotations)."""
        actions = verdict.actions
        if any(a == Action.TEMPFAIL for a in actions.values()):
            return Outcome(f"451 4.7.1 Message {view.id} could not be checked now; please try again later")
        if actions and all(a == Action.REJECT for a in actions.values()):
            await self._store.add(
                message_id=view.id, raw=None, mail_from=view.envelope.mail_from,
                from_header=view.header("From"), subject=view.subject, direction=str(view.direction),
                sender_role=str(view.sender.role), client_ip=view.envelope.client_ip, sha256=view.sha256,
                size=len(view.raw), recipients=[(r.address, str(r.role), "reject") for r in view.recipients],
                findings=verdict.findings, failures=[f.as_dict() for f in verdict.failures],
                alerts=verdict.alerts, status=Status.REJECTED)
            reason = _smtp_safe(verdict.reject_reason or "Message refused by the school's e-mail policy")
            return Outcome(f"554 5.7.1 {reason}")

        base = received_header(view, self._hostname) + (view.raw if raw is None else raw)
        tagged = findings_header(verdict) + base
        hold = [r for r, a in actions.items() if a in (Action.HOLD, Action.REJECT)]
        plain = [r for r, a in actions.items() if a == Action.PASS]
        tag = [r for r, a in actions.items() if a == Action.TAG]

        stored_id = None
        if hold:
            roles = {r.address: str(r.role) for r in view.recipients}
            stored_id = await self._store.add(
                message_id=view.id, raw=tagged, mail_from=view.envelope.mail_from,
                from_header=view.header("From"), subject=view.subject, direction=str(view.direction),
                sender_role=str(view.sender.role), client_ip=view.envelope.client_ip, sha256=view.sha256,
                size=len(view.raw), recipients=[(r, roles.get(r, ""), actions[r].label) for r in hold],
                findings=verdict.findings, failures=[f.as_dict() for f in verdict.failures],
                alerts=verdict.alerts)
        delivered: list[str] = []
        for rcpts, data in ((plain, base), (tag, tagged)):
            if not rcpts:
                continue
            result = await self._deliver(view, rcpts, data)
            if not result.ok:
                if stored_id is not None and not delivered:
                    await self._store.discard(stored_id)
                    stored_id = None
                if delivered:
                    # Part went out already: the retry after our 4xx may duplicate
                    # those copies; a duplicate is better than a loss.
                    log.warning("message %s: partial delivery before failure: %s", view.id, delivered)
                return Outcome(result.smtp_reply, None, tuple(delivered), ())
            delivered.extend(rcpts)
        if stored_id is not None and self._on_hold is not None:
            try:
                self._on_hold(stored_id)
            except Exception:  # notices are never a reason to fail a safely stored message
                log.exception("message %s: hold hook failed", view.id)
        return Outcome(f"250 2.0.0 Ok: {view.id}", stored_id, tuple(delivered), tuple(hold))


def role_action_counts(view: MessageView, verdict: Verdict) -> dict[str, int]:
    """{"student:hold": 2, ...} for the decision log: counts by role, never addresses."""
    roles = {r.address: str(r.role) for r in view.recipients}
    return dict(Counter(f"{roles.get(r, 'external')}:{a.label}" for r, a in verdict.actions.items()))


def elapsed_since(start: float) -> float:
    return time.perf_counter() - start

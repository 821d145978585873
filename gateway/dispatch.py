"""Carries out a Verdict: quarantine the held copies, deliver the rest, pick the SMTP reply.

The rule for one message with mixed outcomes (documented in docs/delivery.md):
- any recipient TEMPFAIL -> 451 for the whole message, nothing stored or delivered;
- every recipient REJECT -> 554 (a metadata-only record is kept for reports);
- otherwise: REJECT recipients are held with the HOLD ones (we already said 250
  to RCPT, so a silent drop would lose mail); held copies are stored (fsync)
  first, then PASS and TAG copies are handed to their routes together
  (gateway/routing.py). If nothing could be delivered the stored copies are
  discarded and the next hop's answer class goes back to the client, who
  retries the whole message (so no hold is left behind per retry). Once some
  copy was accepted, a recipient the next hop refused is kept in the
  quarantine (NEXT_HOP_REFUSED_RECIPIENT, fsync'd, releasable) and the client
  is told 250: never a bounce or 4xx for a recipient that got the message.
  250 only when every copy is delivered or safely stored.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from email.utils import formatdate
from typing import Callable

from filters.base import Action, Category, Finding, Severity, Verdict
from filters.message import MessageView
from config.schema import Settings
from filters.policy import needs_tls_codes, tls_reason, unencrypted_finding
from filters.tenancy import Tenancy
from gateway.routing import Leftover, Parcel, Router
from quarantine.store import QuarantineStore, Status, new_message_id

log = logging.getLogger(__name__)

# A recipient the next hop refused while the others were delivered (stable: reports and audit use it).
REFUSED_CODE = "NEXT_HOP_REFUSED_RECIPIENT"


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
    def __init__(self, store: QuarantineStore, next_hop: Router | None, hostname: str, signer=None, *,
                 on_hold: Callable[[str], None] | None = None,
                 on_tempfail: Callable[[MessageView, Verdict], None] | None = None,
                 on_alert: Callable[[MessageView, Verdict, str | None], None] | None = None,
                 tenancy: Tenancy | None = None) -> None:
        # which school owns each held copy (filters/tenancy.py): one hold row per school's group
        self.tenancy = tenancy or Tenancy.from_settings(Settings())
        # told of every message whose verdict alerts IT or records filter failures
        # (quarantine.notify.Notifier.it_event): schedules, never blocks
        self._on_alert = on_alert
        # told of a policy tempfail (a pupil over a rate limit: quarantine.notify.Notifier.tempfailed)
        self._on_tempfail = on_tempfail
        # told the id of each stored hold (quarantine.notify.Notifier.held): schedules, never blocks
        self._on_hold = on_hold
        self._store = store
        self._router = next_hop
        self._hostname = hostname
        self._signer = signer  # optional outbound DKIM signer (gateway.dkim_signing.DkimSigner)

    async def _parcels(self, view: MessageView, variants: list[tuple[list[str], bytes]],
                       verdict: Verdict | None = None) -> list[Parcel]:
        assert self._router is not None
        parcels = []
        needs = verdict.tls_required if verdict is not None else {}
        for rcpts, data in variants:
            if not rcpts:
                continue
            for _hop, group in self._router.split(rcpts):
                # sign after filtering and after our own headers, and only what leaves
                # the school (RFC 6376 5: the signer is the last to touch the message)
                signed = data
                if self._signer is not None and any(not self._is_internal(view, r) for r in group):
                    signed = await self._signer.sign(data)
                # issue 21 clause 4: copies carrying pupil data go apart, only over verified TLS
                plain = tuple(r for r in group if r not in needs)
                if plain:
                    parcels.append(Parcel(plain, signed))
                for action in (Action.TEMPFAIL, Action.HOLD):
                    secure = tuple(r for r in group if needs.get(r) == action)
                    if secure:
                        codes = dict.fromkeys(c for r in secure for c in needs_tls_codes(verdict.findings, r))
                        parcels.append(Parcel(secure, signed, tls_reason(list(codes)), action == Action.HOLD))
        return parcels

    @staticmethod
    def _is_internal(view: MessageView, address: str) -> bool:
        party = view.recipient(address)
        return party is not None and party.internal

    async def dispatch(self, view: MessageView, verdict: Verdict, raw: bytes | None = None) -> Outcome:
        """`raw`: the bytes to deliver or hold (the view's, plus any filter annotations)."""
        outcome = await self._dispatch(view, verdict, raw)
        if self._on_alert is not None and ("it" in verdict.alerts or verdict.failures):
            try:
                self._on_alert(view, verdict, outcome.stored_id)
            except Exception:  # an alert is never a reason to change the reply
                log.exception("message %s: alert hook failed", view.id)
        return outcome

    async def _dispatch(self, view: MessageView, verdict: Verdict, raw: bytes | None) -> Outcome:
        actions = verdict.actions
        if any(a == Action.TEMPFAIL for a in actions.values()):
            if verdict.tempfail_reason and not verdict.failures:
                # a policy decision (issue 21: rate limits), not a fault: say why (RFC 3463 4.7.1)
                if self._on_tempfail is not None:
                    try:
                        self._on_tempfail(view, verdict)
                    except Exception:  # a notice is never a reason to change the reply
                        log.exception("message %s: tempfail hook failed", view.id)
                return Outcome(f"451 4.7.1 {_smtp_safe(verdict.tempfail_reason)} Please try again later.")
            return Outcome(f"451 4.7.1 Message {view.id} could not be checked now; please try again later")
        if actions and all(a == Action.REJECT for a in actions.values()):
            await self._store.add(
                message_id=view.id, raw=None, mail_from=view.envelope.mail_from,
                from_header=view.header("From"), subject=view.subject, direction=str(view.direction),
                sender_role=str(view.sender.role), client_ip=view.envelope.client_ip, sha256=view.sha256,
                size=len(view.raw), recipients=[(r.address, str(r.role), "reject") for r in view.recipients],
                findings=verdict.findings, failures=[f.as_dict() for f in verdict.failures],
                alerts=verdict.alerts, status=Status.REJECTED, school_id=self.tenancy.message_schools(view)[0],
                schools=self.tenancy.message_schools(view))
            reason = _smtp_safe(verdict.reject_reason or "Message refused by the school's e-mail policy")
            return Outcome(f"554 5.7.1 {reason}")

        base = received_header(view, self._hostname) + (view.raw if raw is None else raw)
        hold = [r for r, a in actions.items() if a in (Action.HOLD, Action.REJECT)]
        plain = [r for r, a in actions.items() if a == Action.PASS]
        tag = [r for r, a in actions.items() if a == Action.TAG]
        incident = [r for r in verdict.incident_recipients if r in tag or r in plain]
        # the tagged copy is a second copy of the whole message: made only when some recipient
        # gets it (held, tagged, incident) - not for the plain newsletter
        tagged = findings_header(verdict) + base if hold or tag or incident else b""
        if (plain or tag) and self._router is None:
            return Outcome("451 4.4.1 no next hop configured; please try again later")

        held_ids: list[str] = []  # one row per school's group of copies (docs/trust.md)
        if hold:
            held_ids = await self._add_groups(view, verdict, view.id, tagged, hold, verdict.findings,
                                              verdict.alerts)
        stored_id = held_ids[0] if held_ids else None
        incident_ids: list[str] = []
        if incident:
            # the report's record is durable before the report is delivered, as a hold is
            incident_ids = await self._add_groups(view, verdict, new_message_id(), tagged, incident,
                                                  verdict.findings, verdict.alerts, Status.INCIDENT)
        stored = held_ids + incident_ids
        delivered: tuple[str, ...] = ()
        kept: list[str] = []
        if plain or tag:
            handover = await self._router.handover(  # type: ignore[union-attr]
                view.envelope.mail_from, await self._parcels(view, [(plain, base), (tag, tagged)], verdict))
            if handover.failure is not None:
                # nothing went out: the client retries the whole message, so the held
                # copy stored above would be stored again - drop this one
                for unused in stored:
                    await self._store.discard(unused)
                return Outcome(handover.failure.smtp_reply)
            delivered = handover.delivered
            try:
                for leftover in handover.left:
                    await self._keep(view, verdict, leftover)
                    kept.extend(leftover.refused)
                for leftover in handover.insecure:  # issue 21 clause 4, hold per config
                    insecure_ids = await self._keep_insecure(view, verdict, leftover)
                    kept.extend(leftover.refused)
                    for insecure_id in insecure_ids if self._on_hold is not None else ():
                        try:
                            self._on_hold(insecure_id)
                        except Exception:
                            log.exception("message %s: hold hook failed", view.id)
            except Exception:
                # the delivered copies cannot be taken back, and the others could not be
                # kept: only the client's retry can still save them (duplicates for some
                # recipients; better than a loss)
                log.exception("message %s: refused copies could not be stored after delivery to %s",
                              view.id, list(delivered))
                for unused in held_ids:
                    await self._store.discard(unused)
                return Outcome(f"451 4.3.0 Message {view.id} could not be stored; please try again later",
                               None, delivered, ())
        for kept_id in stored:
            if self._on_hold is not None:
                try:  # an incident's hook alerts the DSL; no sender notice ("dsl" is in its alerts)
                    self._on_hold(kept_id)
                except Exception:  # notices are never a reason to fail a safely stored message
                    log.exception("message %s: hold hook failed", view.id)
        return Outcome(f"250 2.0.0 Ok: {view.id}", stored_id, delivered, tuple(hold + kept))

    def _hold_record(self, view: MessageView, verdict: Verdict, message_id: str, data: bytes,
                     rcpts: list[str], findings, alerts) -> dict:
        roles = {r.address: str(r.role) for r in view.recipients}
        actions = verdict.actions
        return dict(
            message_id=message_id, raw=data, mail_from=view.envelope.mail_from,
            from_header=view.header("From"), subject=view.subject, direction=str(view.direction),
            sender_role=str(view.sender.role), client_ip=view.envelope.client_ip, sha256=view.sha256,
            size=len(view.raw),
            recipients=[(r, roles.get(r, ""), actions[r].label if r in actions else "hold") for r in rcpts],
            findings=findings, failures=[f.as_dict() for f in verdict.failures], alerts=alerts)

    async def _add_groups(self, view: MessageView, verdict: Verdict, first_id: str, data: bytes, rcpts: list[str],
                          findings, alerts, status: Status = Status.HELD) -> list[str]:
        """Store the copies for `rcpts`, one row per school's group (docs/trust.md); the first row
        keeps `first_id`. A failure removes the rows already stored, so the 4xx leaves nothing."""
        ids: list[str] = []
        try:
            for n, group in enumerate(self.tenancy.view_groups(view, rcpts)):
                record = self._hold_record(view, verdict, first_id if n == 0 else new_message_id(), data,
                                           list(group.recipients), findings, alerts)
                ids.append(await self._store.add(**record, status=status, school_id=group.school,
                                                 schools=group.owners))
        except BaseException:
            for done in ids:
                await self._store.discard(done)
            raise
        return ids

    async def _keep_insecure(self, view: MessageView, verdict: Verdict, leftover: Leftover) -> list[str]:
        """Hold the copies whose connection was not verified TLS (issue 21 clause 4), saying why;
        their release is checked again (quarantine/review.py)."""
        rcpts = list(leftover.refused)
        codes = dict.fromkeys(c for r in rcpts for c in needs_tls_codes(verdict.findings, r))
        why = next(iter(leftover.refused.values()))[1]  # the relay's reason, with what was negotiated
        finding = unencrypted_finding(list(codes), rcpts, leftover.route, why)
        data = leftover.data
        if b"X-Schoolgate-Findings:" not in data.partition(b"\r\n\r\n")[0]:  # held mail carries the codes
            data = findings_header(verdict) + data
        ids = await self._add_groups(view, verdict, new_message_id(), data, rcpts,
                                     (*verdict.findings, finding), verdict.alerts)  # one per school
        log.warning("message %s: %d copy(ies) held as %s: no verified TLS to %s", view.id, len(rcpts),
                    " ".join(ids), leftover.route)
        return ids

    async def _keep(self, view: MessageView, verdict: Verdict, leftover: Leftover) -> str:
        """Store the copy the next hop refused (fsync'd before our 250), for a reviewer to release."""
        evidence = tuple(f"<{r}>: {c} {_smtp_safe(m)}" for r, (c, m) in leftover.refused.items())
        finding = Finding(
            code=REFUSED_CODE, filter="delivery", category=Category.DELIVERY, severity=Severity.MEDIUM,
            evidence=evidence + (f"route {leftover.route}", f"message {view.id}"),
            reason=(f"The next hop ({leftover.route}) did not take this copy although the other recipients "
                    f"got theirs: {'; '.join(evidence)}. Kept here so nothing is lost; release it once "
                    f"the problem is fixed, or delete it."),
            recipients=tuple(leftover.refused))
        # no alerts or sender notice: the findings were acted on with the delivered copy
        keep_id = (await self._add_groups(view, verdict, new_message_id(), leftover.data, list(leftover.refused),
                                          (*verdict.findings, finding), ()))[0]
        log.warning("message %s: %d recipient(s) refused by %s, kept as %s", view.id, len(leftover.refused),
                    leftover.route, keep_id)
        return keep_id


def role_action_counts(view: MessageView, verdict: Verdict) -> dict[str, int]:
    """{"student:hold": 2, ...} for the decision log: counts by role, never addresses."""
    roles = {r.address: str(r.role) for r in view.recipients}
    return dict(Counter(f"{roles.get(r, 'external')}:{a.label}" for r, a in verdict.actions.items()))


def elapsed_since(start: float) -> float:
    return time.perf_counter() - start

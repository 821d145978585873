"""Which next hop takes each recipient's copy, and handing one message to all of its routes.

`[gateway] next_hop` takes mail for the school's own domains; `outbound_next_hop`
(the school's smarthost: a Microsoft 365 / Google Workspace outbound connector
or the ISP's relay) takes mail for everyone else. Without `outbound_next_hop`
every copy goes to `next_hop`, as before the key existed.

The handover rule (docs/delivery.md), without a queue of our own:
1. every route is connected and offered its recipients (MAIL, RCPT) before any
   copy is handed over; a route that cannot be reached, refuses TLS or the
   sender answers for the whole message and nothing is delivered;
2. then DATA, route by route. A failure before the first copy was accepted is
   still the answer for the whole message;
3. once a copy was accepted, nothing can be taken back: a recipient refused at
   RCPT, or a later copy that fails, is returned as `left` so the caller keeps
   that copy in the quarantine (fsync'd) instead of telling the client 4xx,
   which would duplicate the copies already accepted.
Routes are leased in one fixed order, so two messages never wait on each
other's connection pools.

Issue 21 clause 4 ("Personal data sent over the Internet ... will be encrypted"):
a parcel with `require_tls` goes only over a connection that negotiated TLS
with a verified certificate, judged per delivery from the live connection
(gateway/relay.py connection_security), after every route is leased and before
any MAIL. Without it the parcel is either the 451 for the whole message
(nothing delivered yet, the client retries) or, with `hold_insecure`, returned
as `insecure` for the dispatcher to hold with the reason.
"""
from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from gateway.relay import DeliveryResult, Lease, NextHop, NextHopError, combined_refusal, insecure_refusal


@dataclass(frozen=True, slots=True)
class Parcel:
    """One variant of the message (e.g. plain or tagged) for some recipients."""
    rcpts: tuple[str, ...]
    data: bytes
    # issue 21 clause 4: why this copy may leave only over verified TLS ("" = no such need)
    require_tls: str = ""
    hold_insecure: bool = False  # without verified TLS: held (Handover.insecure), not a 451


@dataclass(frozen=True, slots=True)
class Leftover:
    """A copy that could not be handed over although others were: it must be kept."""
    data: bytes
    refused: dict[str, tuple[int, str]]  # recipient -> the next hop's (code, text)
    route: str  # the route's label, for the reviewer


@dataclass(frozen=True, slots=True)
class Handover:
    failure: DeliveryResult | None  # set: nothing was delivered; the answer for the whole message
    delivered: tuple[str, ...] = ()
    left: tuple[Leftover, ...] = field(default_factory=tuple)
    # copies not sent because their connection was not verified TLS (Parcel.hold_insecure):
    # refused = recipient -> (451, the reason with what the connection negotiated)
    insecure: tuple[Leftover, ...] = ()


class Router:
    """The routes of one gateway node; `deliver` has NextHop's shape, so releases,
    notices and reports (which are handed "something with deliver") route too."""

    def __init__(self, inbound: NextHop | None, outbound: NextHop | None,
                 is_school_address: Callable[[str], bool]) -> None:
        self.inbound = inbound
        self.outbound = outbound
        self._is_school = is_school_address

    @property
    def hops(self) -> tuple[NextHop, ...]:
        """Every configured route, in the fixed leasing order."""
        return tuple(h for h in (self.inbound, self.outbound) if h is not None)

    def route_of(self, address: str) -> NextHop | None:
        if self.outbound is None or self._is_school(address):
            return self.inbound
        return self.outbound

    def split(self, rcpts: Sequence[str]) -> list[tuple[NextHop | None, tuple[str, ...]]]:
        groups: dict[int, tuple[NextHop | None, list[str]]] = {}
        for rcpt in rcpts:
            hop = self.route_of(rcpt)
            groups.setdefault(id(hop), (hop, []))[1].append(rcpt)
        order = {id(h): i for i, h in enumerate(self.hops)}
        return [(hop, tuple(r)) for hop, r in sorted(groups.values(), key=lambda g: order.get(id(g[0]), -1))]

    async def handover(self, mail_from: str, parcels: Sequence[Parcel]) -> Handover:
        plan: dict[int, tuple[NextHop, list[Parcel]]] = {}
        for parcel in parcels:
            for hop, rcpts in self.split(parcel.rcpts):
                if hop is None:
                    which = "next_hop" if self.outbound is not None else "next_hop (nor outbound_next_hop)"
                    return Handover(DeliveryResult(False, 451, f"no [gateway] {which} is set for <{rcpts[0]}>",
                                                   status="4.4.1"))
                plan.setdefault(id(hop), (hop, []))[1].append(
                    Parcel(rcpts, parcel.data, parcel.require_tls, parcel.hold_insecure))
        routes = [plan[id(h)] for h in self.hops if id(h) in plan]
        if not routes:
            return Handover(DeliveryResult(False, 451, "nothing to deliver", status="4.4.1"))
        async with AsyncExitStack() as stack:
            leases: list[Lease] = []
            for hop, _ in routes:
                try:
                    leases.append(await stack.enter_async_context(hop.lease()))
                except NextHopError as exc:
                    return Handover(hop.unreachable(exc))
            insecure: list[Leftover] = []
            secured: list[tuple[Lease, tuple[NextHop, list[Parcel]]]] = []
            for lease, (hop, parcels) in zip(leases, routes):
                fine: list[Parcel] = []
                for parcel in parcels:
                    refusal = insecure_refusal(lease, parcel.require_tls) if parcel.require_tls else None
                    if refusal is None:
                        fine.append(parcel)
                    elif not parcel.hold_insecure:  # before any MAIL: still all or nothing
                        return Handover(refusal)
                    else:
                        insecure.append(Leftover(parcel.data, {r: (refusal.code, refusal.message)
                                                               for r in parcel.rcpts}, hop.label))
                if fine:
                    secured.append((lease, (hop, fine)))
            if not secured:
                return Handover(None, (), (), tuple(insecure))
            result = await self._handover(mail_from, [r for _, r in secured], [lease for lease, _ in secured])
            return replace(result, insecure=tuple(insecure)) if insecure and result.failure is None else result

    async def _handover(self, mail_from: str, routes: list[tuple[NextHop, list[Parcel]]],
                        leases: list[Lease]) -> Handover:
        refused: list[Leftover] = []  # recipient refusals, kept only if something is delivered
        # 1. open the first transaction of every route
        opened: list[tuple[Lease, Parcel, DeliveryResult]] = []
        for lease, (hop, parcels) in zip(leases, routes):
            result = await lease.begin(mail_from, parcels[0].rcpts, parcels[0].data)
            if not result.ok and not result.refused:  # the route itself said no
                for other, _, _ in opened:
                    await other.abort()
                hop.count("4xx" if result.temporary else "5xx")
                return Handover(result)
            if result.refused:
                refused.append(Leftover(parcels[0].data, dict(result.refused), hop.label))
            if result.ok:
                opened.append((lease, parcels[0], result))
        # 2. hand the opened copies over
        delivered: list[str] = []
        left: list[Leftover] = []
        for index, (lease, parcel, result) in enumerate(opened):
            done = await lease.commit(result, parcel.data)
            if done.ok:
                delivered.extend(done.accepted)
                continue
            if not delivered:  # nothing went out yet: still all or nothing
                for other, _, _ in opened[index + 1:]:
                    await other.abort()
                return Handover(done)
            left.append(Leftover(parcel.data, {r: (done.code, done.message) for r in result.accepted},
                                 lease.hop.label))
        # 3. further variants on the same route (plain then tagged): one connection, in turn
        for lease, (hop, parcels) in zip(leases, routes):
            for parcel in parcels[1:]:
                done = await lease.begin(mail_from, parcel.rcpts, parcel.data)
                if done.ok:
                    opened_refused = dict(done.refused)
                    done = await lease.commit(done, parcel.data)
                    if done.ok:
                        delivered.extend(done.accepted)
                        if opened_refused:
                            refused.append(Leftover(parcel.data, opened_refused, hop.label))
                        continue
                if not delivered and not done.refused:
                    return Handover(done)
                failed = done.refused or {r: (done.code, done.message) for r in parcel.rcpts}
                (left if delivered else refused).append(Leftover(parcel.data, dict(failed), hop.label))
        if not delivered:  # every recipient refused: the next hop's answer for all (4xx if any temporary)
            everyone: dict[str, tuple[int, str]] = {}
            for item in refused + left:
                everyone.update(item.refused)
            return Handover(combined_refusal(everyone))
        return Handover(None, tuple(delivered), tuple(refused + left))

    async def deliver(self, mail_from: str, rcpt_tos: Sequence[str], data: bytes, *,
                      require_tls: str = "") -> DeliveryResult:
        """One copy to each recipient's route. ok with `refused`: those were not delivered.
        `require_tls` (a release of pupil data): only over verified TLS, else 451 with the reason."""
        result = await self.handover(mail_from, [Parcel(tuple(rcpt_tos), data, require_tls)])
        if result.failure is not None:
            return result.failure
        refused: dict[str, tuple[int, str]] = {}
        for item in result.left:
            refused.update(item.refused)
        return DeliveryResult(True, 250, "delivered", refused=refused, accepted=result.delivered)

    async def probe(self) -> str:
        """For `config check`: every route answers (NextHopError naming the first that does not)."""
        return "; ".join([await hop.probe() for hop in self.hops])

    async def close(self) -> None:
        for hop in self.hops:
            await hop.close()

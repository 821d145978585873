"""Mail about holds, sent through the next hop: sender notices, the reviewer digest, DSL alerts.

- Sender notices per audience (student / staff / external) and category, from
  templates a site can override; never for safeguarding or virus holds, nor
  when the sender address may be forged (authentication/spoofing findings).
- The reviewer digest lists new holds with signed, expiring, single-use links
  that still need a logged-in reviewer to confirm; the tutor digest lists a
  tutor's pupils' mail waiting for approval (issue 21 clause 2).
- DSL alerts go at once, carry no message content, and go to the deputy when
  nobody has acknowledged them within `escalate_after_minutes`.

The hold step does not wait for any of this: `held(id)` schedules the work.
"""
from __future__ import annotations

import asyncio
import logging
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

from config.schema import Settings
from filters.approval import approvers
from filters.base import SAFEGUARDING_CATEGORIES, Category
from filters.levels import urgency
from filters.tenancy import Tenancy
from gateway.tasks import stop_task
from quarantine.links import LinkSigner, load_secret
from quarantine.review_store import ReviewStore, WebAction, is_safeguarding
from quarantine.store import HeldMessage, QuarantineStore, StoreError
from quarantine.users import Role, UserStore

log = logging.getLogger(__name__)

SEEN_FOREVER = 10 * 365 * 86400.0  # "was it ever in a tutor digest": the seen store's window

SHIPPED_TEMPLATES = Path(__file__).resolve().parent / "web" / "templates" / "mail"
# Never tell the sender: a groomer must not learn they were caught, and a virus
# sender address is nearly always forged.
NO_SENDER_NOTICE = frozenset(str(c) for c in SAFEGUARDING_CATEGORIES | {Category.VIRUS})
# A sender address that may be forged: a notice would be backscatter to a stranger.
FORGED_HINTS = frozenset({str(Category.AUTHENTICATION), str(Category.SPOOFING)})


def _one_line(text: str) -> str:
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())[:200]


class Notifier:
    def __init__(self, settings: Settings, store: QuarantineStore, next_hop: Callable[[], Any],
                 signer: LinkSigner | None = None) -> None:
        self.settings = settings
        self.cfg = settings.notify
        self.store = store
        self.review = ReviewStore(store)
        self._next_hop = next_hop
        self.lease: Any = None  # quarantine.leases.Lease, set by the gateway; None = always run
        self.signer = signer or LinkSigner(load_secret(Path(settings.quarantine.path), store), self.cfg.link_hours * 3600)
        loaders = [FileSystemLoader(SHIPPED_TEMPLATES)]
        if self.cfg.templates_dir is not None:
            loaders.insert(0, FileSystemLoader(self.cfg.templates_dir))
        # plain text mail: nothing to escape, but a missing variable is a bug, not a blank
        self.env = Environment(loader=ChoiceLoader(loaders), autoescape=False, undefined=StrictUndefined,
                               keep_trailing_newline=True)
        self.env.filters["time"] = lambda ts: time.strftime("%d %b %Y %H:%M", time.localtime(ts))
        self.base_url = (settings.web.base_url or f"http://{settings.web.listen}").rstrip("/")
        self._tasks: set[asyncio.Task] = set()
        self._timer: asyncio.Task | None = None
        self._last_digest = time.time()
        # "once per window" checks then records in the shared store; this makes the pair atomic
        # within the node (across nodes two alerts in the same instant are possible, and harmless)
        self._once_lock = asyncio.Lock()
        self.tenancy = Tenancy.from_settings(settings)  # whose DSL hears of a hold (docs/trust.md)

    # -- the hook the dispatcher calls ------------------------------------------------------
    def held(self, message_id: str) -> None:
        """Called right after a hold is stored: schedules the notices, never blocks or raises."""
        if not self.cfg.enabled:
            return
        task = asyncio.get_running_loop().create_task(self._guard(self.on_hold(message_id), message_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, coro, message_id: str) -> None:
        try:
            await coro
        except Exception:  # a notice must never disturb mail flow; it is logged (no content) and counted
            log.exception("notification for %s failed", message_id)

    async def drain(self) -> None:
        """Wait for scheduled notices (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def on_hold(self, message_id: str) -> None:
        try:
            held = await self.store.get(message_id)
        except StoreError:
            return
        if is_safeguarding(held.categories) or "dsl" in held.alerts:
            await self.alert_dsl(held.id, why="safeguarding")
        if self.cfg.sender_notices:
            await self.notify_sender(held)
        # APPROVAL_REQUIRED: the pupil's notice above; the tutor hears in their digest (send_tutor_digests)

    async def send_tutor_digests(self) -> int:
        """Issue 21 clause 2: one mail per tutor listing their tutees' mail waiting for approval
        (not yet in a digest), each with signed, single-use Approve / Decline links bound to the
        tutor (quarantine/web/approval.py). Holds without a tutor are the reviewers' (queue and
        digest). Returns how many holds were listed."""
        waiting = await self.store.run(lambda: self.store.list_sync(status="held", category="approval", limit=500,
                                                                    newest_first=False))
        by_tutor: dict[str, list[HeldMessage]] = {}
        for held in waiting:
            tutors = approvers(held.findings)
            # a hold with other findings (offensive words, pupil data) is for a reviewer to decide
            if not tutors or any(str(f.category) != str(Category.APPROVAL) for f in held.findings):
                continue
            if await self.store.seen.count("approval_digest", held.id, SEEN_FOREVER):
                continue
            by_tutor.setdefault(tutors[0], []).append(held)
        listed = 0
        for tutor, holds in by_tutor.items():
            items = [{"m": h, "to": [a for a, i in h.recipients.items() if i["status"] == "held"],
                      "approve": f"{self.base_url}/approval/{self.signer.make(h.id, 'approve', who=tutor)}",
                      "decline": f"{self.base_url}/approval/{self.signer.make(h.id, 'decline', who=tutor)}"}
                     for h in holds]
            # a tutor's tutees are at the tutor's school: the notice names it
            subject, body = self._render(["approval_tutor.txt"], items=items, hours=int(self.cfg.link_hours),
                                         school_of=tutor, school_id=holds[0].school_id)
            if not await self.send("approval_tutor", [tutor], subject, body, None):
                continue  # not sent: listed again next time
            for held in holds:
                await self.store.seen.record("approval_digest", held.id, tutor)
            listed += len(holds)
        return listed

    # -- policy tempfails (issue 21 clause 3: rate limits) -------------------------------------
    def tempfailed(self, view: Any, verdict: Any) -> None:
        """Called when the policy (not a fault) answered 451: a pupil over a rate limit gets one
        notice per day, on the first excess; their mail server only sees the 451 and retries."""
        if not self.cfg.enabled:
            return
        reasons = [f.reason for f in verdict.findings if str(f.category) == str(Category.RATE_LIMIT)]
        if not reasons or str(view.sender.role) != "student" or not view.sender.address:
            return
        task = asyncio.get_running_loop().create_task(
            self._guard(self.rate_limit_notice(view.sender.address, reasons), view.id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def rate_limit_notice(self, address: str, reasons: Sequence[str]) -> bool:
        # "first excess" is shared by every node: the seen table (or the site's shared store)
        if not await self._once("rate_limit_notice", address, 86400.0):
            return False
        subject, body = self._render(["rate_limit.txt"], reasons=list(dict.fromkeys(reasons)), school_of=address)
        return await self.send("rate_limit", [address], subject, body, None)

    # -- IT alerts (issue 21 clause 6) -------------------------------------------------------------
    def it_event(self, view: Any, verdict: Any, stored_id: str | None) -> None:
        """Called for a verdict that alerts IT (policy alert = ["it"]) or has filter failures."""
        if not self.cfg.enabled:
            return
        task = asyncio.get_running_loop().create_task(self._guard(self._it_event(view, verdict, stored_id), view.id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _it_event(self, view: Any, verdict: Any, stored_id: str | None) -> None:
        facts = [f"message id: {stored_id or view.id}", f"direction: {view.direction}",
                 f"sender role: {view.sender.role}", f"client: {view.envelope.client_ip or 'unknown'}"]
        if "it" in verdict.alerts:
            codes = list(verdict.codes)
            await self.alert_it("codes " + " ".join(codes), f"{', '.join(codes)} ({view.direction} mail)",
                                [*facts, *(f"{f.code}: {_one_line(f.reason)}" for f in verdict.findings)],
                                stored_id)
        window = self.cfg.it_failure_minutes * 60
        for failure in verdict.failures:
            # counted in the shared store, so every node's failures add up
            await self.store.seen.record("filter_failure", failure.filter, view.id)
            count = await self.store.seen.count("filter_failure", failure.filter, window)
            if count >= self.cfg.it_failure_count:
                await self.alert_it(
                    f"failure {failure.filter}",
                    f"the {failure.filter} filter failed {count} times in {self.cfg.it_failure_minutes:g} minutes",
                    [f"last failure: {failure.kind}: {_one_line(failure.detail)}",
                     f"mail affected is answered {failure.on_error.label} (never passed unchecked)"], None)

    async def _once(self, kind: str, key: str, window: float) -> bool:
        """True the first time (kind, key) is seen within `window` seconds."""
        async with self._once_lock:
            if await self.store.seen.count(kind, key, window):
                return False
            await self.store.seen.record(kind, key, str(time.time()))
            return True

    async def alert_it(self, key: str, what: str, lines: Sequence[str], stored_id: str | None) -> bool:
        """One mail per `key` per it_repeat_minutes, to [notify] it_addresses and admin accounts."""
        if not await self._once("it_alert", key, self.cfg.it_repeat_minutes * 60):
            return False
        to = await self.store.run(self._emails, self.cfg.it_addresses, Role.ADMIN)
        link = f"{self.base_url}/m/{stored_id}" if stored_id else ""
        subject, body = self._render(["it_alert.txt"], what=what, lines=list(lines), link=link,
                                     minutes=int(self.cfg.it_repeat_minutes))
        return await self.send("it_alert", to, subject, body, stored_id)

    # -- sending --------------------------------------------------------------------------------
    def _render(self, names: Sequence[str], **ctx: Any) -> tuple[str, str]:
        template = self.env.select_template(list(names))
        text = template.render(base_url=self.base_url, school=self._school_name(ctx), **ctx)
        head, _, body = text.partition("\n\n")
        subject = head.removeprefix("Subject:").strip() if head.startswith("Subject:") else "Schoolgate"
        return _one_line(subject), body

    def _school_name(self, ctx: dict[str, Any]) -> str:
        """In a trust, a notice names the school that owns what it is about: the hold's (`m`), a
        school id given (`school_id`), or the school of the address it is about (`school_of`); the
        trust when none. A single school: [school] name."""
        if not self.tenancy.is_trust:
            return self.settings.school.name
        held = ctx.get("m")
        if isinstance(held, HeldMessage):
            school = held.school_id
        else:
            school = ctx.get("school_id") or self.tenancy.school_of(ctx.get("school_of", ""))
        found = self.tenancy.get(school or "")
        return found.name if found else self.tenancy.trust_name

    async def send(self, kind: str, to: Iterable[str], subject: str, body: str, message_id: str | None,
                   headers: dict[str, str] | None = None) -> bool:
        rcpts = sorted({a.strip().lower() for a in to if a and "@" in a})
        if not rcpts or not self.cfg.from_address:
            return False
        hop = self._next_hop()
        if hop is None:
            log.warning("notice %s for %s not sent: no next hop", kind, message_id)
            return False
        msg = EmailMessage()
        msg["From"] = self.cfg.from_address
        msg["To"] = ", ".join(rcpts)
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain=self.settings.gateway.hostname)
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
        msg["X-Schoolgate-Notice"] = kind
        for name, value in (headers or {}).items():
            msg[name] = value
        msg.set_content(body)
        # the gateway's router: each recipient's route (school server or smarthost, docs/delivery.md)
        result = await hop.deliver(self.cfg.from_address, rcpts, msg.as_bytes())
        refused = sorted(getattr(result, "refused", {}) or {}) if result.ok else []
        await self.store.run(self.review.audit, "notifier", WebAction.NOTIFY, message_id,
                             "" if result.ok else f"not sent: {result.code}",
                             {"kind": kind, "recipients": len(rcpts), "ok": result.ok,
                              **({"refused": len(refused)} if refused else {})})
        if refused:
            log.warning("notice %s for %s: %d recipient(s) refused by the next hop", kind, message_id, len(refused))
        if not result.ok:
            log.warning("notice %s for %s refused by next hop: %s", kind, message_id, result.code)
        return result.ok

    # -- sender notices ------------------------------------------------------------------------------
    def sender_notice_allowed(self, held: HeldMessage) -> bool:
        cats = set(held.categories)
        return bool(held.mail_from) and not (cats & NO_SENDER_NOTICE) and not (cats & FORGED_HINTS) \
            and "dsl" not in held.alerts

    async def notify_sender(self, held: HeldMessage) -> bool:
        if not self.sender_notice_allowed(held):
            return False
        audience = held.sender_role if held.sender_role in ("student", "staff") else "external"
        categories, extra = list(held.categories), {}
        # [chain_letter] notify_student_sender / student_notice: the pupil's kind notice, or none
        chain = self.settings.filter_options.get("chain_letter")
        if audience == "student" and str(Category.CHAIN_LETTER) in categories and chain is not None:
            if not chain.notify_student_sender:
                categories.remove(str(Category.CHAIN_LETTER))
                if not categories:
                    return False
            extra["chain_letter_notice"] = chain.student_notice
        names = [f"sender_{audience}_{c}.txt" for c in categories] + [f"sender_{audience}.txt"]
        link = ""
        if audience != "external":  # school accounts may ask a reviewer to release it
            link = f"{self.base_url}/request/{self.signer.make(held.id, 'request', who=held.mail_from)}"
        reasons = list(dict.fromkeys(f.reason for f in held.findings if f.reason))
        subject, body = self._render(names, m=held, request_link=link, reasons=reasons,
                                     categories=[c.replace("_", " ") for c in held.categories], **extra)
        return await self.send(f"sender_{audience}", [held.mail_from], subject, body, held.id)

    # -- DSL alerts ------------------------------------------------------------------------------------
    def _emails(self, extra: Iterable[str], *roles: Role) -> list[str]:
        accounts = UserStore(self.store.engine).emails_for(*roles)
        return list(dict.fromkeys([*extra, *accounts]))

    def _dsl_emails(self, held: HeldMessage) -> list[str]:
        """A hold's DSLs: in a trust, its schools' DSL addresses and DSL accounts, the trust
        safeguarding lead's accounts and [notify] dsl_addresses (trust-wide); else as before."""
        if not self.tenancy.is_trust:
            return self._emails(self.cfg.dsl_addresses, Role.DSL, Role.TRUST_DSL)
        school = [a for s in held.schools if (t := self.tenancy.get(s)) for a in t.dsl_addresses]
        accounts = [u.email for u in UserStore(self.store.engine).list() if u.email and not u.disabled and (
            u.role == Role.TRUST_DSL or (u.role == Role.DSL and set(u.schools) & set(held.schools)))]
        return list(dict.fromkeys([*school, *self.cfg.dsl_addresses, *accounts]))

    def _deputies(self, held: HeldMessage) -> list[str]:
        school = [a for s in held.schools if (t := self.tenancy.get(s)) for a in t.deputy_dsl_addresses]
        return list(dict.fromkeys([*school, *self.cfg.deputy_dsl_addresses]))

    async def alert_dsl(self, message_id: str, why: str = "safeguarding") -> bool:
        """At once, no message content: what kind of hold, when, and a link that needs a DSL login.
        The hold's risk level sets the urgency (filters/levels.py): the subject's prefix, the
        X-Priority/Importance headers mail clients show, and at level 5 the deputy DSL is
        copied on the first alert rather than after the escalation wait."""
        held = await self.store.get(message_id)
        await self.store.run(self.review.add_alert_sync, message_id, why)
        if not self.cfg.enabled:
            return False
        level = held.level
        how = urgency(level)
        to = await self.store.run(self._dsl_emails, held)
        if how.deputy_at_once:
            to = [*to, *self._deputies(held)]
        subject, body = self._render(["dsl_alert.txt"], m=held, why=why, link=f"{self.base_url}/m/{held.id}",
                                     categories=[c.replace("_", " ") for c in held.categories], deputy=False,
                                     level=level, urgency=how)
        if how.subject_prefix:
            subject = f"{how.subject_prefix} {subject}"
        return await self.send("dsl_alert", to, subject, body, held.id,
                               headers={"X-Priority": how.priority, "Importance": how.importance,
                                        "X-Schoolgate-Level": str(level)})

    async def escalate_overdue(self) -> int:
        """Alerts nobody acknowledged in time go to the deputy DSL (once)."""
        cutoff = time.time() - self.cfg.escalate_after_minutes * 60
        sent = 0
        for alert in await self.store.run(self.review.overdue_alerts_sync, cutoff):
            if not await self.store.run(self.review.mark_alert_escalated_sync, alert["id"]):
                continue
            try:
                held = await self.store.get(alert["message_id"])
            except StoreError:
                continue
            subject, body = self._render(
                ["dsl_alert.txt"], m=held, why=alert["why"], link=f"{self.base_url}/m/{held.id}",
                categories=[c.replace("_", " ") for c in held.categories], deputy=True,
                minutes=int(self.cfg.escalate_after_minutes), level=held.level, urgency=urgency(held.level))
            await self.store.run(self.review.audit, "notifier", WebAction.DSL_ESCALATED, held.id,
                                 f"not acknowledged within {int(self.cfg.escalate_after_minutes)} minutes")
            if await self.send("dsl_escalation", self._deputies(held), subject, body, held.id):
                sent += 1
        return sent

    # -- reviewer digest -----------------------------------------------------------------------------------
    def _digest_audiences(self, holds: list[HeldMessage]) -> list[tuple[list[str], list[HeldMessage]]]:
        """Who gets which holds: everyone everything at one school; in a trust, each school's
        reviewer and admin accounts their school's holds, and [notify] reviewer_addresses and
        trust_it accounts every hold (docs/trust.md)."""
        if not self.tenancy.is_trust:
            return [(self._emails(self.cfg.reviewer_addresses, Role.REVIEWER, Role.ADMIN, Role.TRUST_IT), holds)]
        people = [u for u in UserStore(self.store.engine).list() if u.email and not u.disabled]
        out = [(list(dict.fromkeys([*self.cfg.reviewer_addresses,
                                    *(u.email for u in people if u.role == Role.TRUST_IT)])), holds)]
        for school in self.tenancy.ids:
            mine = [h for h in holds if school in h.schools]
            to = [u.email for u in people if u.role in (Role.REVIEWER, Role.ADMIN) and school in u.schools]
            if mine and to:
                out.append((list(dict.fromkeys(to)), mine))
        return out

    async def send_digest(self) -> int:
        """New holds since the last digest; returns how many were listed."""
        holds = await self.store.run(self.review.undigested_holds_sync)
        if not holds:
            return 0
        listed = 0
        for n, (to, group) in enumerate(await self.store.run(self._digest_audiences, holds)):
            if n and not to:
                continue
            items, safeguarding = [], 0
            for held in group:
                if is_safeguarding(held.categories):
                    safeguarding += 1  # the DSL is alerted separately; reviewers get no link
                    continue
                items.append({"m": held, "open": f"{self.base_url}/m/{held.id}",
                              "release": f"{self.base_url}/l/{self.signer.make(held.id, 'release')}",
                              "delete": f"{self.base_url}/l/{self.signer.make(held.id, 'delete')}"})
            if items or safeguarding:
                subject, body = self._render(["digest.txt"], items=items, safeguarding=safeguarding,
                                             hours=int(self.cfg.link_hours), queue=f"{self.base_url}/queue")
                if not await self.send("digest", to, subject, body, None) and to:
                    return 0  # not sent: try again next time (a school sent already gets it twice)
            listed = max(listed, len(items)) if n else len(items)
        await self.store.run(self.review.mark_digested_sync, [h.id for h in holds])
        return listed

    # -- timers --------------------------------------------------------------------------------------------------
    async def tick(self) -> None:
        await self.escalate_overdue()
        if time.time() - self._last_digest >= self.cfg.digest_minutes * 60:
            self._last_digest = time.time()
            await self.send_digest()
            await self.send_tutor_digests()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.check_seconds)
            try:
                # several nodes on one database: only the lease holder sends digests and escalations
                if self.lease is not None and not await self.lease.held():
                    continue
                await self.tick()
            except Exception:
                log.exception("notification timers failed; retrying at the next tick")

    async def start(self) -> None:
        if self.cfg.enabled and self._timer is None:
            self._timer = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await stop_task(self._timer)
        self._timer = None
        await self.drain()


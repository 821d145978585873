"""The escalation tree: the highest-risk alerts go down an ordered list of people until one acknowledges.

DfE's monitoring standard asks that incidents of concern are picked up urgently; UK
monitoring services call an ordered list of at least two contacts, one reachable at
any hour. A hold whose level (the highest Finding.level) is `[escalation] min_level`
or more (5 by default: an indecent-image match, a plan to end a life) starts a run:
the first contact in hours now is e-mailed and, with a phone number, called or texted
through the school's SMS/phone service webhook - at once, whatever the hour. Every
`step_minutes` without an acknowledgement the next contact in hours is tried; past the
last the tree starts again at the top, until someone acknowledges (the link in the
mail/SMS, or the Acknowledge button in the review UI) or `max_rounds` is spent.

Where it runs: inside the gateway process, one asyncio task (the primary's, as the
notifier's timers), with every run's state in the store's database (`escalations`),
so a restart resumes where it stopped and several nodes share the work: each step is
claimed by a compare-and-set on the run's step count, so it is sent once. Every step,
skip, failure and acknowledgement is an audit row. The clock is passed in (`clock`),
so tests drive the tree with a fake one.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import Column, Float, Integer, String, Table, and_, insert, select, update

from config.schema import EscalationContact, Settings, parse_hours
from filters.errors import SchoolgateError
from gateway.tasks import stop_task
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only a type here; importing links at run time closes a cycle through the store
    from quarantine.links import LinkSigner
from quarantine.store import QuarantineStore, StoreError, messages, metadata

log = logging.getLogger(__name__)

escalations = Table(
    "escalations", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(40), nullable=False, unique=True),
    Column("level", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("steps", Integer, nullable=False, default=0),  # steps taken (the compare-and-set key)
    Column("position", Integer, nullable=False, default=0),  # next contact index to try
    Column("round", Integer, nullable=False, default=0),
    Column("next_at", Float, nullable=False, index=True),
    Column("acked_at", Float),
    Column("acked_by", String(128)),
    Column("ended_at", Float),  # acknowledged, or max_rounds spent
)

# audit actions (each one row: who "escalation", what, why)
STEP = "escalation_step"
SKIPPED = "escalation_skipped"
FAILED = "escalation_failed"
ACKED = "escalation_ack"
ENDED = "escalation_ended"

class EscalationError(SchoolgateError):
    """The tree cannot run as configured (an unreadable webhook secret)."""


# how far back a start looks for level-5 holds that never got a run (see recover_sync)
RECOVER_HOURS = 24

SendMail = Callable[[str, Sequence[str], str, str, str | None], Awaitable[bool]]  # Notifier.send


@dataclass(frozen=True, slots=True)
class StepResult:
    message_id: str
    at: float
    step: int
    contact: str
    channels: tuple[str, ...]  # "email:ok", "webhook:ok", "webhook:failed 503" ...


def in_hours(contact: EscalationContact, moment: datetime) -> bool:
    windows = parse_hours(contact.hours)
    if not windows:
        return True
    minute = moment.hour * 60 + moment.minute
    day = moment.weekday()
    for days, start, end in windows:
        if start <= end:
            if day in days and start <= minute < end:
                return True
        else:  # past midnight: 22:00-07:00 on Friday covers Friday 22:00 to Saturday 07:00
            if (day in days and minute >= start) or ((day - 1) % 7 in days and minute < end):
                return True
    return False


class Escalator:
    def __init__(self, settings: Settings, store: QuarantineStore, send_mail: SendMail, signer: LinkSigner,
                 *, clock: Callable[[], float] = time.time, transport: Any = None) -> None:
        self.cfg = settings.escalation
        self.settings = settings
        self.store = store
        self._send_mail = send_mail
        self.signer = signer
        self.clock = clock
        self._transport = transport  # httpx transport for tests' odd servers; None = real sockets
        self._tz = ZoneInfo(self.cfg.timezone)
        # a trust's school with its own tree ([[schools]] escalation_contacts, docs/trust.md)
        self._school_trees = {s.id: tuple(s.escalation_contacts) for s in settings.schools if s.escalation_contacts}
        from filters.tenancy import Tenancy

        self._tenancy = Tenancy.from_settings(settings)  # the call names the hold's school (docs/trust.md)
        if any(c.email for c in self.cfg.contacts) and self.cfg.enabled and not settings.notify.from_address:
            raise EscalationError("[escalation] contacts have e-mail addresses but [notify] from_address is not "
                                  "set, so no escalation e-mail could be sent")
        self._secret = b""
        if self.cfg.webhook_secret_file:
            try:
                self._secret = Path(self.cfg.webhook_secret_file).read_bytes().strip()
            except OSError as exc:
                raise EscalationError(f"[escalation] webhook_secret_file: {self.cfg.webhook_secret_file}: "
                                      f"{exc.strerror}") from None
        self.base_url = (settings.web.base_url or f"http://{settings.web.listen}").rstrip("/")
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._pending: set[asyncio.Task] = set()

    # -- starting a run -------------------------------------------------------------------------
    def begin_sync(self, message_id: str, level: int, now: float) -> bool:
        """A run for this hold, due at once; False when it has one already (or its level is below)."""
        if not self.cfg.enabled or level < self.cfg.min_level:
            return False
        with self.store.engine.begin() as conn:
            if conn.execute(select(escalations.c.id).where(escalations.c.message_id == message_id)).first():
                return False
            conn.execute(insert(escalations).values(message_id=message_id, level=level, started_at=now,
                                                    steps=0, position=0, round=0, next_at=now))
        return True

    async def held(self, message_id: str) -> None:
        """The dispatcher's hook after a hold is stored: start a run if the level asks, and take its
        first step now (not at the next tick: 'within 5 minutes at any hour' is a maximum)."""
        if not self.cfg.enabled:
            return
        try:
            held = await self.store.get(message_id)
        except StoreError:
            return
        if await self.store.run(self.begin_sync, message_id, held.level, self.clock()):
            await self.tick()

    def hook(self, message_id: str) -> None:
        """Synchronous form for Dispatcher(on_hold=...): schedules `held`, never blocks or raises."""
        if not self.cfg.enabled:
            return
        task = asyncio.get_running_loop().create_task(self._guard(self.held(message_id)))
        self._pending.add(task)  # a reference, or the loop may collect the task mid-way
        task.add_done_callback(self._pending.discard)

    async def _guard(self, coro) -> None:
        try:
            await coro
        except Exception:
            log.exception("escalation could not start")

    def recover_sync(self, now: float) -> list[str]:
        """Holds of the last RECOVER_HOURS at min_level or above that have no run and no acknowledged
        alert: the process died between storing one and starting its run. Started now."""
        if not self.cfg.enabled:
            return []
        started = []
        for held in self.store.list_sync(status="held", since=time.time() - RECOVER_HOURS * 3600, limit=2000):
            if held.level >= self.cfg.min_level and not self._acked_in_ui_sync({"message_id": held.id}) \
                    and self.begin_sync(held.id, held.level, now):
                started.append(held.id)
        return started

    # -- the steps --------------------------------------------------------------------------------
    def _due_sync(self, now: float) -> list[dict]:
        with self.store.engine.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(select(escalations).where(and_(
                escalations.c.ended_at.is_(None), escalations.c.next_at <= now)).order_by(escalations.c.next_at))]

    def _acked_in_ui_sync(self, row: dict) -> str | None:
        """Acknowledged in the review UI (the hold's DSL alert, dsl_alerts.acked_*): who."""
        from quarantine.review_store import dsl_alerts

        with self.store.engine.begin() as conn:
            hit = conn.execute(select(dsl_alerts.c.acked_by).where(and_(
                dsl_alerts.c.message_id == row["message_id"], dsl_alerts.c.acked_at.is_not(None)))).first()
        return hit.acked_by if hit else None

    def _claim_sync(self, row: dict, position: int, round_: int, next_at: float) -> bool:
        with self.store.engine.begin() as conn:
            return conn.execute(update(escalations).where(and_(
                escalations.c.id == row["id"], escalations.c.steps == row["steps"],
                escalations.c.ended_at.is_(None))).values(
                steps=row["steps"] + 1, position=position, round=round_, next_at=next_at)).rowcount == 1

    def _end_sync(self, message_id: str, now: float, acked_by: str | None) -> bool:
        values: dict[str, Any] = {"ended_at": now}
        if acked_by is not None:
            values.update(acked_at=now, acked_by=acked_by[:128])
        with self.store.engine.begin() as conn:
            return conn.execute(update(escalations).where(and_(
                escalations.c.message_id == message_id, escalations.c.ended_at.is_(None))).values(**values)).rowcount == 1

    def _audit_sync(self, action: str, message_id: str, reason: str, detail: dict) -> None:
        from quarantine.review_store import ReviewStore
        ReviewStore(self.store).audit("escalation", action, message_id, reason, detail)

    def _school_sync(self, message_id: str) -> str:
        with self.store.engine.begin() as conn:
            return conn.execute(select(messages.c.school_id).where(messages.c.id == message_id)).scalar() or ""

    def _school_name(self, school_id: str) -> str:
        """The hold's school's name in a trust (a hold of no school: the trust's); else [school] name."""
        if not self._tenancy.is_trust:
            return self.settings.school.name
        school = self._tenancy.get(school_id)
        return school.name if school else self._tenancy.trust_name

    def _contacts_sync(self, message_id: str) -> Sequence[EscalationContact]:
        """The hold's school's tree when it has one, else [escalation] contacts."""
        if self._school_trees:
            school = self._school_sync(message_id)
            if school in self._school_trees:
                return self._school_trees[school]
        return self.cfg.contacts

    def _next_contact(self, row: dict, now: float,
                      contacts: Sequence[EscalationContact] | None = None) -> tuple[int | None, int, list[str]]:
        """(index of the next contact in hours, its round, the names skipped as out of hours)."""
        contacts = self.cfg.contacts if contacts is None else contacts
        moment = datetime.fromtimestamp(now, self._tz)
        position, round_ = row["position"], row["round"]
        skipped = []
        for _ in range(len(contacts)):
            if position >= len(contacts):
                position, round_ = 0, round_ + 1
            if self.cfg.max_rounds and round_ >= self.cfg.max_rounds:
                return None, round_, skipped
            if in_hours(contacts[position], moment):
                return position, round_, skipped
            skipped.append(contacts[position].name)
            position += 1
        return None, round_, skipped  # nobody in hours (config check forbids it: one is "always")

    async def tick(self) -> list[StepResult]:
        """Take every step that is due; returns what was sent (for tests and logs)."""
        async with self._lock:  # one tick at a time in this process; the claim guards other nodes
            now = self.clock()
            done: list[StepResult] = []
            for row in await self.store.run(self._due_sync, now):
                who = await self.store.run(self._acked_in_ui_sync, row)
                if who is not None:
                    if await self.store.run(self._end_sync, row["message_id"], now, who):
                        await self.store.run(self._audit_sync, ACKED, row["message_id"],
                                             f"acknowledged by {who} in the review UI", {"steps": row["steps"]})
                    continue
                contacts = await self.store.run(self._contacts_sync, row["message_id"])
                index, round_, skipped = self._next_contact(row, now, contacts)
                if skipped:
                    await self.store.run(self._audit_sync, SKIPPED, row["message_id"], "out of hours",
                                         {"contacts": skipped, "at": now})
                if index is None:
                    if await self.store.run(self._end_sync, row["message_id"], now, None):
                        await self.store.run(self._audit_sync, ENDED, row["message_id"],
                                             f"not acknowledged after {round_} rounds", {"steps": row["steps"]})
                    continue
                if not await self.store.run(self._claim_sync, row, index + 1, round_,
                                            now + self.cfg.step_minutes * 60):
                    continue  # another node took this step
                done.append(await self._step(row, contacts[index], now))
            return done

    async def _step(self, row: dict, contact: EscalationContact, now: float) -> StepResult:
        message_id = row["message_id"]
        link = f"{self.base_url}/ack/{self.signer.make(message_id, 'ack', who=contact.name)}"
        step = row["steps"] + 1
        channels: list[str] = []
        school_id = await self.store.run(self._school_sync, message_id)
        school = self._school_name(school_id)
        text = (f"Schoolgate URGENT safeguarding alert (level {row['level']}) at {school}: "
                f"a message is held for the DSL. No content is included. Acknowledge: {link}")
        if contact.email:
            subject = f"URGENT safeguarding alert (level {row['level']}): acknowledge now"
            body = (f"{text}\n\nThis is step {step} of the escalation tree. If nobody acknowledges within "
                    f"{self.cfg.step_minutes:g} minutes the next contact is called.\n\n"
                    f"Review it (DSL login): {self.base_url}/m/{message_id}\n")
            try:
                ok = await self._send_mail("escalation", [contact.email], subject, body, message_id)
            except Exception as exc:  # the next hop down: the webhook and the next step still happen
                log.warning("escalation e-mail for %s failed: %s", message_id, type(exc).__name__)
                ok = False
            channels.append(f"email:{'ok' if ok else 'failed'}")
        if contact.phone and self.cfg.webhook_url:
            channels.append(await self._webhook(contact, message_id, row["level"], step, text, link, now,
                                                (school_id, school)))
        result = StepResult(message_id, now, step, contact.name, tuple(channels))
        failed = all(not c.endswith(":ok") for c in channels)
        await self.store.run(self._audit_sync, FAILED if failed else STEP, message_id,
                             f"step {step}: {contact.name}",
                             {"contact": contact.name, "channels": list(channels), "at": now, "step": step,
                              "level": row["level"]})
        return result

    async def _webhook(self, contact: EscalationContact, message_id: str, level: int, step: int, text: str,
                       link: str, now: float, school: tuple[str, str]) -> str:
        import httpx

        # "school": the hold's school's name (in a trust; else [school] name); "school_id" its id
        payload = {"to": contact.phone, "name": contact.name, "text": text, "ack_url": link, "level": level,
                   "step": step, "message_id": message_id, "school": school[1], "school_id": school[0], "at": now}
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"content-type": "application/json", "user-agent": "schoolgate-escalation"}
        if self._secret:  # the service can tell our calls from anyone's
            headers["x-schoolgate-signature"] = "sha256=" + hmac.new(self._secret, body, hashlib.sha256).hexdigest()
        try:
            async with httpx.AsyncClient(timeout=self.cfg.webhook_timeout, transport=self._transport) as client:
                reply = await client.post(self.cfg.webhook_url, content=body, headers=headers)
            return "webhook:ok" if 200 <= reply.status_code < 300 else f"webhook:failed {reply.status_code}"
        except httpx.HTTPError as exc:
            return f"webhook:failed {type(exc).__name__}"

    # -- acknowledging ---------------------------------------------------------------------------------
    async def acknowledge(self, message_id: str, who: str, how: str) -> bool:
        """Ends the run (True if this call ended it) and acknowledges the hold's DSL alerts."""
        from quarantine.review_store import ReviewStore

        now = self.clock()
        ended = await self.store.run(self._end_sync, message_id, now, who)
        await self.store.run(ReviewStore(self.store).ack_alerts_sync, message_id, who[:64])
        if ended:
            await self.store.run(self._audit_sync, ACKED, message_id, f"acknowledged by {who} ({how})", {"at": now})
        return ended

    def state_sync(self, message_id: str) -> dict | None:
        with self.store.engine.begin() as conn:
            row = conn.execute(select(escalations).where(escalations.c.message_id == message_id)).first()
            return dict(row._mapping) if row else None

    # -- the loop ------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("escalation tick failed; retrying at the next one")
            await asyncio.sleep(self.cfg.check_seconds)

    async def start(self) -> None:
        if self.cfg.enabled and self._task is None:
            for message_id in await self.store.run(self.recover_sync, self.clock()):
                log.warning("escalation for %s started at start-up: it had none (a crash before its run?)",
                            message_id)
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        await stop_task(self._task)
        self._task = None

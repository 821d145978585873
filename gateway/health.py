"""Honest health: clamd, the store and every route checked for /healthz and the metrics.

- clamd: PING and VERSION answered now, and a signature date within
  `[virus] signature_max_age_days`. Test-only (undated) or stale signatures
  fail, except with `[virus] allow_test_signatures = true`, where they make the
  gateway "degraded": 200 with `"status": "degraded"` (docs/health.md says why).
- store: a probe file written, fsync'd and removed, and the index read, now.
- each route (next_hop, outbound_next_hop): it answered - a delivery or a
  probe - within the window, and nothing failed since. The monitor probes
  (connect + EHLO + QUIT) a route that has not answered for
  `next_hop_probe_seconds`, so a quiet night still has a fresh answer.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import platform
import time
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from typing import Any

from sqlalchemy import func, select

from config.schema import Settings
from filters.virus import ClamdAddress, ClamdClient, ClamdError, parse_version
from gateway.metrics import Metrics
from gateway.routing import Router
from gateway.tasks import stop_task
from quarantine.review_store import dsl_alerts
from quarantine.store import QuarantineStore, Status, messages

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 5.0  # seconds for each live check: a health check must answer before Docker's timeout
CACHE_SECONDS = 1.0  # /healthz and /metrics in the same second share one round of checks
HELD_STATUSES = (str(Status.HELD), str(Status.PARTIAL))


@dataclass(frozen=True, slots=True)
class Check:
    component: str  # clamd | store | next_hop | outbound_next_hop
    ok: bool
    detail: str
    degraded: bool = False  # ok only because the site allowed it (evaluation mode)


@dataclass(frozen=True, slots=True)
class HealthReport:
    checks: tuple[Check, ...]
    signature_age_seconds: float | None = None

    @property
    def failing(self) -> tuple[str, ...]:
        return tuple(c.component for c in self.checks if not c.ok)

    @property
    def status(self) -> str:
        if self.failing:
            return "failing"
        return "degraded" if any(c.degraded for c in self.checks) else "ok"

    @property
    def http_status(self) -> int:
        return 503 if self.failing else 200

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "failing": list(self.failing),
                "components": {c.component: {"ok": c.ok, "detail": c.detail,
                                             **({"degraded": True} if c.degraded else {})}
                               for c in self.checks}}


def build_version() -> str:
    try:
        return importlib_metadata.version("schoolgate")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


class HealthMonitor:
    def __init__(self, settings: Settings, store: QuarantineStore, router: Router | None,
                 metrics: Metrics) -> None:
        self.settings = settings
        self.store = store
        self.router = router
        self.metrics = metrics
        self.probe_seconds = settings.gateway.next_hop_probe_seconds
        # a route is up if it answered within two probe rounds plus one slow connection
        self.window = 2 * self.probe_seconds + settings.gateway.next_hop_timeout
        virus = settings.filter_options.get("virus") if "virus" in settings.filters.chain else None
        self._virus = virus
        self._clamd = ClamdClient(ClamdAddress.parse(virus.clamd), min(virus.timeout, CHECK_TIMEOUT)) \
            if virus is not None else None
        self._last: tuple[float, HealthReport] | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self.degraded_reason = ""  # shown as the review UI's banner
        metrics.build_info.labels(build_version(), platform.python_version()).set(1)

    # -- the checks ---------------------------------------------------------------------
    async def _check_clamd(self) -> tuple[Check, float | None]:
        if self._clamd is None or self._virus is None:
            return Check("clamd", True, "virus filter not in [filters] chain"), None
        where = str(self._clamd.address)
        try:
            pong = await self._clamd.ping()
            if pong != "PONG":
                return Check("clamd", False, f"clamd at {where} answered PING with {pong!r}"), None
            version = parse_version(await self._clamd.version())
        except ClamdError as exc:
            return Check("clamd", False, str(exc)), None
        allowed = bool(getattr(self._virus, "allow_test_signatures", False))
        max_days = self._virus.signature_max_age_days
        if version.signature_date is None:
            detail = f"clamd at {where} has test signatures only ({version.text!r}: no daily database)"
            if allowed:
                return Check("clamd", True, detail + "; allowed by [virus] allow_test_signatures: "
                                                     "EVALUATION ONLY, real viruses are not detected",
                             degraded=True), None
            return Check("clamd", False, detail), None
        age = (dt.datetime.now(dt.timezone.utc) - version.signature_date).total_seconds()
        if age > max_days * 86400:
            detail = (f"clamd at {where} has signatures from {version.signature_date:%Y-%m-%d} "
                      f"({age / 86400:.1f} days old, limit {max_days:g}); check that freshclam runs")
            if allowed:
                return Check("clamd", True, detail + "; allowed by [virus] allow_test_signatures",
                             degraded=True), age
            return Check("clamd", False, detail), age
        return Check("clamd", True, f"{version.text} ({age / 3600:.1f} hours old)"), age

    async def _check_store(self) -> Check:
        try:
            await self.store.run(self.store.check_writable)
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            return Check("store", False, f"quarantine store {self.store.root} is not writable: {exc}")
        return Check("store", True, f"{self.store.root} writable")

    def _check_routes(self) -> list[Check]:
        if self.router is None or not self.router.hops:
            return [Check("next_hop", False, "[gateway] next_hop is not set: nothing can be delivered")]
        now = time.time()
        checks = []
        for hop in self.router.hops:
            error = hop.last_error
            if hop.last_ok is None:
                detail = f"{hop.label}: " + (f"no answer ({error[1]})" if error else "not checked yet")
                checks.append(Check(hop.name, False, detail))
            elif error is not None and error[0] >= hop.last_ok:
                checks.append(Check(hop.name, False, f"{hop.label}: {error[1]} ({now - error[0]:.0f}s ago)"))
            elif now - hop.last_ok > self.window:
                checks.append(Check(hop.name, False, f"{hop.label}: no answer for {now - hop.last_ok:.0f}s"))
            else:
                checks.append(Check(hop.name, True, f"{hop.label} answered {now - hop.last_ok:.0f}s ago"))
        return checks

    async def _queue_stats(self) -> tuple[int, float | None, int]:
        def query() -> tuple[int, float | None, int]:
            with self.store.engine.begin() as conn:
                count, oldest = conn.execute(select(func.count(), func.min(messages.c.received_at))
                                             .where(messages.c.status.in_(HELD_STATUSES))).one()
                alerts = conn.execute(select(func.count()).select_from(dsl_alerts)
                                      .where(dsl_alerts.c.acked_at.is_(None))).scalar_one()
            return int(count), oldest, int(alerts)
        return await self.store.run(query)

    @staticmethod
    async def _timed(component: str, check):
        try:
            return await asyncio.wait_for(check, CHECK_TIMEOUT)
        except TimeoutError:
            failed = Check(component, False, f"no answer within {CHECK_TIMEOUT:g}s")
            return (failed, None) if component == "clamd" else failed

    async def check(self) -> HealthReport:
        """One round of checks (shared by callers within CACHE_SECONDS); updates the metrics."""
        async with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < CACHE_SECONDS:
                return self._last[1]
            (clamd, age), store = await asyncio.gather(self._timed("clamd", self._check_clamd()),
                                                       self._timed("store", self._check_store()))
            report = HealthReport((clamd, store, *self._check_routes()), age)
            self._publish(report)
            try:
                self._publish_queue(*await self._queue_stats())
            except Exception:  # noqa: BLE001 - the store check above already says why
                log.debug("queue statistics unavailable", exc_info=True)
            self._last = (time.monotonic(), report)
            return report

    def _publish(self, report: HealthReport) -> None:
        m = self.metrics
        for check in report.checks:
            m.component_up.labels(check.component).set(1 if check.ok else 0)
        m.degraded.set(1 if report.status == "degraded" else 0)
        if report.signature_age_seconds is not None:
            m.signature_age.set(report.signature_age_seconds)
        degraded = [c for c in report.checks if c.degraded]
        self.degraded_reason = "; ".join(c.detail for c in degraded)

    def _publish_queue(self, held: int, oldest: float | None, alerts: int) -> None:
        self.metrics.held_messages.set(held)
        self.metrics.oldest_held_seconds.set(time.time() - oldest if oldest else 0)
        self.metrics.dsl_alerts_unacknowledged.set(alerts)

    # -- the background probe -----------------------------------------------------------------
    async def probe_quiet_routes(self) -> None:
        """connect + EHLO + QUIT for each route that has not answered for probe_seconds."""
        if self.router is None:
            return
        now = time.time()
        for hop in self.router.hops:
            if hop.last_ok is not None and now - hop.last_ok < self.probe_seconds and \
                    (hop.last_error is None or hop.last_error[0] < hop.last_ok):
                continue
            try:
                await asyncio.wait_for(hop.probe(), self.settings.gateway.next_hop_timeout)
            except Exception as exc:  # noqa: BLE001 - recorded on the hop; /healthz names it
                hop.note_error(str(exc) or type(exc).__name__)
                log.warning("health probe: %s", exc)

    async def _run(self) -> None:
        while True:
            try:
                await self.probe_quiet_routes()
                await self.check()
            except Exception:  # noqa: BLE001 - the monitor must outlive any one failure
                log.exception("health monitor round failed")
            await asyncio.sleep(self.probe_seconds)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="schoolgate-health")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None


class Banner:
    """The review UI's evaluation-mode banner: true (and its text) while degraded."""

    def __init__(self, monitor: HealthMonitor) -> None:
        self._monitor = monitor

    def __bool__(self) -> bool:
        return bool(self._monitor.degraded_reason)

    def __str__(self) -> str:
        return self._monitor.degraded_reason

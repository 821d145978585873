"""Wires one gateway node: store, scanner, next hop, SMTP server and HTTP, on one event loop."""
from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from config.schema import Settings, split_host_port
from filters.errors import SchoolgateError
from filters.directory import domain_of
from filters.scanner import Scanner
from filters.tenancy import Tenancy
from gateway.dispatch import Dispatcher
from gateway.dkim_signing import DkimSigner, DkimSigningError
from gateway.health import HealthMonitor
from gateway.http import create_app
from gateway.memory import HeapTrimmer
from gateway.metrics import Metrics
from gateway.relay import NextHop
from gateway.routing import Router
from gateway.scan_executor import ScanExecutor
from gateway.server import GatewayHandler, protocol_factory
from gateway.tasks import stop_task
from gateway.workers import claim_port
from quarantine.notify import Notifier
from quarantine.sender_lists import CachedSenderLists
from quarantine.store import QuarantineStore

log = logging.getLogger(__name__)


class StartupError(SchoolgateError):
    """The gateway must not start (clamd missing, store unwritable ...): a clear message."""


def school_address_test(settings: Settings):
    """address -> in one of the school's domains (or a subdomain), as filters/directory.py decides."""
    domains = tuple(d.lower() for d in settings.school.domains)

    def is_school(address: str) -> bool:
        domain = domain_of(address)
        return any(domain == d or domain.endswith("." + d) for d in domains)
    return is_school


def make_next_hop(settings: Settings, metrics: Metrics | None = None) -> Router | None:
    """The node's routes (gateway/routing.py): next_hop for the school, outbound_next_hop for the rest."""
    gw = settings.gateway
    hops: dict[str, NextHop] = {}
    for key, address, tls, ca_file in (("next_hop", gw.next_hop, gw.next_hop_tls, gw.next_hop_ca_file),
                                       ("outbound_next_hop", gw.outbound_next_hop, gw.outbound_next_hop_tls,
                                        gw.outbound_next_hop_ca_file)):
        if address:
            host, port = split_host_port(address)
            hops[key] = NextHop(host, port, pool_size=gw.next_hop_pool_size, timeout=gw.next_hop_timeout,
                                local_hostname=gw.hostname, tls=tls, ca_file=ca_file, name=key, metrics=metrics)
    if not hops:
        return None
    return Router(hops.get("next_hop"), hops.get("outbound_next_hop"), school_address_test(settings))


def open_store(settings: Settings) -> QuarantineStore:
    return QuarantineStore.for_settings(settings.quarantine)


@dataclass(frozen=True)
class Prepared:
    """What `schoolgate serve` builds once before forking its workers (gateway/workers.py),
    so the pages are shared: the Scanner (filters, lexicons, models, the compiled pattern
    database; ~40 MB a worker otherwise) and the Metrics it reports to. Each worker
    binds its own store to the Scanner when it starts."""
    metrics: Metrics
    scanner: Scanner

    def gateway(self, settings: Settings) -> "Gateway":
        return Gateway(settings, metrics=self.metrics, scanner=self.scanner)


def prepare_workers(settings: Settings) -> Prepared:
    """Raises StartupError (one line) when a filter cannot be built."""
    metrics = Metrics()
    try:
        return Prepared(metrics, Scanner.before_fork(settings, metrics=metrics))
    except (ValueError, OSError, SchoolgateError) as exc:
        raise StartupError(f"the filters cannot be built: {exc}") from exc


@dataclass
class Gateway:
    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    store: QuarantineStore | None = None
    scanner: Scanner | None = None
    shared_seen: Any = None  # RedisSeenStore when [redis] url is set
    _metrics_task: asyncio.Task | None = None
    timers_lease: Any = None  # quarantine.leases.Lease when the database is shared
    _sync_task: asyncio.Task | None = None  # [directory_sync] interval_minutes  # a non-primary worker's snapshot publisher
    next_hop: Router | None = None  # every route (gateway/routing.py)
    handler: GatewayHandler | None = None
    smtp_server: asyncio.base_events.Server | None = None
    web_server: uvicorn.Server | None = None
    _web_task: asyncio.Task | None = None
    _reports_task: asyncio.Task | None = None  # scheduled reports (quarantine/reports.py)
    _trust_task: asyncio.Task | None = None  # a trust's school and trust reports (quarantine/trust_report.py)
    _retention_task: asyncio.Task | None = None  # scheduled purge (quarantine/retention.py)
    notifier: Notifier | None = None
    escalator: object | None = None  # quarantine.escalation.Escalator
    health: HealthMonitor | None = None  # primary only: /healthz and the health metrics
    executor: ScanExecutor | None = None  # the loop's default executor (gateway/scan_executor.py)
    trimmer: HeapTrimmer | None = None  # gives freed heap back to the OS (gateway/memory.py)
    _port_claim: socket.socket | None = None  # gateway/workers.py claim_port
    warnings: list[str] = field(default_factory=list)
    release: object | None = None  # gateway.release_route.ReleaseRoute: what releases are handed

    @property
    def smtp_port(self) -> int:
        assert self.smtp_server is not None
        return self.smtp_server.sockets[0].getsockname()[1]

    async def start(self, *, web: bool | None = None, sock: socket.socket | None = None,
                    primary: bool = True) -> None:
        """primary=False for workers after the first (gateway/workers.py): SMTP only, no web
        UI and no timers, so digests and scheduled reports are sent once. Whatever fails
        is a StartupError of one line, with everything opened so far closed again."""
        try:
            await self._start(web=web, sock=sock, primary=primary)
        except BaseException:
            await self.stop(grace=0)
            raise

    async def _start(self, *, web: bool | None, sock: socket.socket | None, primary: bool) -> None:
        settings = self.settings
        # before anything runs in the default executor: a small message's CPU-only filter
        # work runs on this thread, the rest on its threads (gateway/scan_executor.py)
        self.executor = ScanExecutor()
        asyncio.get_running_loop().set_default_executor(self.executor)
        # one of a supervisor's workers shares the port its supervisor claimed (SO_REUSEPORT);
        # a gateway on its own claims the port and binds it exclusively
        worker = os.environ.get("SCHOOLGATE_WORKER") is not None
        if sock is None and not worker:
            try:
                self._port_claim = claim_port(settings.gateway.listen)
            except OSError as exc:
                raise StartupError(f"SMTP {settings.gateway.listen}: {exc.strerror}") from None
        try:
            self.store = await open_store(settings).open()
        except Exception as exc:
            raise StartupError(f"quarantine store at {settings.quarantine.path} cannot be opened: {exc}") from exc
        if settings.redis.url:  # several nodes: bulk and recurrence counts seen by all of them
            from quarantine.redis_counters import CountersUnavailable, RedisSeenStore

            self.shared_seen = RedisSeenStore(settings.redis.url, settings.retention.seen_days * 86400.0)
            try:
                await self.shared_seen.ping()
            except CountersUnavailable as exc:  # at start, say so; later outages go to on_error
                log.error("%s: filters that count across messages will apply their on_error", exc)
        seen, sender_lists = self.shared_seen or self.store.seen, CachedSenderLists(self.store)
        if self.scanner is None:
            self.scanner = Scanner(settings, seen=seen, metrics=self.metrics, sender_lists=sender_lists)
        else:  # built before the fork (prepare_workers): this worker's own stores
            self.scanner.bind_worker(seen, sender_lists)
        try:
            self.warnings = await self.scanner.self_test()
        except Exception as exc:
            raise StartupError(f"self-test failed: {exc}") from exc
        for warning in self.warnings:
            log.warning("self-test: %s", warning)
        if not settings.gateway.next_hop:
            log.warning("no [gateway] next_hop: every message for the school gets 451")
        self.next_hop = make_next_hop(settings, self.metrics)
        try:
            signer = DkimSigner.from_settings(settings)
        except DkimSigningError as exc:
            raise StartupError(str(exc)) from exc
        self.notifier = Notifier(settings, self.store, lambda: self.next_hop)
        from gateway.release_route import release_route  # routes + DKIM, as any delivered copy
        self.release = release_route(settings, self.next_hop, signer)
        from quarantine.escalation import EscalationError, Escalator  # the out-of-hours tree (docs/alerts.md)
        try:
            self.escalator = Escalator(settings, self.store, self.notifier.send, self.notifier.signer)
        except EscalationError as exc:
            raise StartupError(str(exc)) from None

        def on_hold(message_id: str) -> None:
            self.notifier.held(message_id)
            self.escalator.hook(message_id)
        dispatcher = Dispatcher(self.store, self.next_hop, settings.gateway.hostname, signer,
                                on_hold=on_hold, on_tempfail=self.notifier.tempfailed,
                                on_alert=self.notifier.it_event, tenancy=Tenancy.from_settings(settings))
        self.handler = GatewayHandler(settings, self.scanner, dispatcher, self.store, self.metrics)
        loop = asyncio.get_running_loop()
        factory = protocol_factory(self.handler, settings)
        if sock is not None:
            self.smtp_server = await loop.create_server(factory, sock=sock)
        else:
            host, port = split_host_port(settings.gateway.listen)
            try:
                self.smtp_server = await loop.create_server(factory, host=host or None, port=port,
                                                            reuse_address=True, reuse_port=worker)
            except OSError as exc:
                raise StartupError(f"SMTP {settings.gateway.listen}: cannot listen: {exc.strerror}") from None
        log.info("SMTP listening on %s", ", ".join(str(s.getsockname()) for s in self.smtp_server.sockets))
        self._share_metrics(primary)
        handler = self.handler
        self.trimmer = HeapTrimmer(lambda: handler.handled)  # every worker: each has its own heap
        self.trimmer.start()
        if not primary:
            return
        self.health = HealthMonitor(settings, self.store, self.next_hop, self.metrics)
        self.health.start()  # probes quiet routes in the background, feeds /healthz and the metrics
        if web if web is not None else settings.web.enabled:
            await self._start_web()
        if self.store.shared_database:  # several nodes may share it: one of them runs the timers
            from quarantine.leases import TIMERS, Lease, node_holder

            self.timers_lease = Lease(self.store, TIMERS, node_holder(settings.gateway.node_name),
                                      settings.gateway.timers_lease_seconds)
            self.notifier.lease = self.timers_lease
        await self.notifier.start()  # digest and DSL-escalation timers
        await self.escalator.start()  # the escalation tree's steps (state in the store: resumes)
        from quarantine.reports import start_reports  # config snapshot + scheduled reports
        self._reports_task = await start_reports(settings, self.store, lambda: self.next_hop, self.timers_lease)
        from quarantine.trust_report import start_trust_reports
        self._trust_task = start_trust_reports(settings, self.store, lambda: self.next_hop, self.timers_lease)
        sync_cfg = settings.directory_sync
        if sync_cfg.source != "none" and sync_cfg.interval_minutes > 0 and settings.directory.csv is not None:
            from gateway.directory_sync import run_schedule

            self._sync_task = asyncio.create_task(run_schedule(settings, self.timers_lease), name="directory-sync")
        from quarantine.retention import start_retention  # scheduled purge (issue 21 clause 7)
        self._retention_task = start_retention(settings, self.store, self.timers_lease)

    def _share_metrics(self, primary: bool) -> None:
        """Several workers (gateway/workers.py made the directory): the primary's /metrics shows
        the whole node; the others publish snapshots for it (gateway/metrics_share.py)."""
        from gateway.metrics_share import ENV_DIR, publish_forever

        directory = os.environ.get(ENV_DIR)
        if not directory:
            return
        if primary:
            self.metrics.share(Path(directory), self.settings.gateway.node_name or socket.gethostname())
        else:
            index = int(os.environ.get("SCHOOLGATE_WORKER", "1"))
            self._metrics_task = asyncio.create_task(
                publish_forever(Path(directory), index, self.metrics.render_own))

    async def _start_web(self) -> None:
        host, port = split_host_port(self.settings.web.listen)
        # bound here, not by uvicorn: a busy port is one line, not uvicorn's sys.exit traceback
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            web_sock = socket.create_server((host or "0.0.0.0", port), family=family, reuse_port=False)
        except OSError as exc:
            raise StartupError(f"web UI {self.settings.web.listen}: cannot listen: {exc.strerror}") from None
        from quarantine.web import review_routes  # the review UI under / (quarantine/web)
        assert self.health is not None
        app = create_app(self.metrics, review_routes(self.settings, self.store, next_hop=lambda: self.release,
                                                     notifier=self.notifier, escalator=self.escalator),
                         health=self.health)
        # forwarded headers count only from [web] trusted_proxies (uvicorn's default trusts 127.0.0.1);
        # log_config=None: uvicorn's lines go through our own (JSON) handlers
        proxies = self.settings.web.trusted_proxies
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, log_config=None,
                                proxy_headers=bool(proxies), forwarded_allow_ips=list(proxies) or None)
        self.web_server = uvicorn.Server(config)
        self.web_server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._web_task = asyncio.create_task(self.web_server.serve(sockets=[web_sock]))
        while not self.web_server.started and not self._web_task.done():
            await asyncio.sleep(0.02)
        if self._web_task.done():
            raise StartupError(f"web UI could not listen on {self.settings.web.listen}")
        log.info("HTTP listening on %s", self.settings.web.listen)

    @property
    def web_port(self) -> int:
        assert self.web_server is not None
        return self.web_server.servers[0].sockets[0].getsockname()[1]

    async def stop(self, grace: float = 30.0) -> None:
        """Graceful: stop accepting, let in-flight transactions finish, then close."""
        if self.smtp_server is not None:
            self.smtp_server.close()
        await stop_task(self._metrics_task)
        await stop_task(self._sync_task)
        if self.handler is not None and self.handler.in_flight and not await self.handler.wait_idle(grace):
            log.warning("shutdown: in-flight messages did not finish within %ss", grace)
        if self.web_server is not None:
            self.web_server.should_exit = True
            if self._web_task is not None:
                try:
                    await self._web_task
                except (Exception, SystemExit):  # uvicorn exits on its own errors; it is stopping anyway
                    log.debug("web server ended with an error", exc_info=True)
        if self.trimmer is not None:
            await self.trimmer.stop()
        if self.health is not None:
            await self.health.stop()
        if self.escalator is not None:
            await self.escalator.stop()
        if self.notifier is not None:
            await self.notifier.stop()
        from quarantine.reports import stop_reports
        await stop_reports(self._reports_task)
        await stop_reports(self._trust_task)
        from quarantine.retention import stop_retention
        await stop_retention(self._retention_task)
        if self.next_hop is not None:
            await self.next_hop.close()
        if self.scanner is not None:
            await self.scanner.close()
        if self.timers_lease is not None and self.store is not None:
            try:  # hand the timers over now rather than after the lease runs out
                await self.timers_lease.release()
            except Exception:
                log.warning("timers lease not released; another node takes over when it expires")
        if self.store is not None:
            await self.store.close()
        if self.shared_seen is not None:
            await self.shared_seen.close()
        if self._port_claim is not None:
            self._port_claim.close()
            self._port_claim = None

"""The SMTP face of the gateway (aiosmtpd): accepts, refuses, and hands DATA on. Never decides."""
from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import ssl
import time
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope as SmtpEnvelope, Session

from config.schema import Settings
from filters.directory import Directory, domain_of
from filters.message import Envelope
from filters.scanner import Scanner
from gateway.dispatch import Dispatcher, role_action_counts
from gateway.metrics import Metrics
from quarantine.store import QuarantineStore

log = logging.getLogger("schoolgate.smtp")
decision_log = logging.getLogger("schoolgate.message")

# A line that is only a dot, ended by anything but CRLF on both sides, is an
# end-of-data some MTA further on may honour: SMTP smuggling (CVE-2023-51766
# family). RFC 5321 2.3.8 forbids bare CR and LF; we refuse such a message.
_SMUGGLING = re.compile(rb"(?:\r\n|\n|\r)\.(?:\n|\r(?!\n))|(?<!\r)\n\.\r\n")

# aiosmtpd's own wording for the size limit, mapped to RFC 3463 enhanced codes.
_REPLY_REWRITES = {
    b"552 Error: Too much mail data": b"552 5.3.4 Message too big for this gateway",
    b"552 Error: message size exceeds fixed maximum message size":
        b"552 5.3.4 Message size exceeds the fixed maximum message size",
}


class GatewaySMTP(SMTP):
    """aiosmtpd's protocol with a connection limit and RFC 3463 codes on size errors."""

    def __init__(self, handler: "GatewayHandler", **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._gateway = handler
        self._counted = False
        self._started = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._gateway.connections >= self._gateway.settings.gateway.max_connections:
            transport.write(b"421 4.3.2 Too many connections, try again later\r\n")  # type: ignore[attr-defined]
            transport.close()
            return
        self._gateway.connections += 1
        self._counted = True
        self._gateway.metrics.connections.inc()
        self._started = True
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self._gateway.connections -= 1
            self._gateway.metrics.connections.dec()
        if self._started:  # a connection refused at connect never set up a session
            super().connection_lost(error)

    def _timeout_cb(self) -> None:
        # aiosmtpd just drops an idle session; say why first (RFC 5321 4.5.3.2)
        if getattr(self, "transport", None) is not None:
            self.transport.write(b"421 4.4.2 Idle too long, closing connection\r\n")
        super()._timeout_cb()

    async def push(self, status: Any) -> None:
        raw = status.encode("utf-8") if isinstance(status, str) else status
        await super().push(_REPLY_REWRITES.get(raw, raw))


class GatewayHandler:
    """aiosmtpd hooks. Relay control at RCPT, the filter chain and dispatch at DATA."""

    def __init__(self, settings: Settings, scanner: Scanner, dispatcher: Dispatcher, store: QuarantineStore,
                 metrics: Metrics) -> None:
        self.settings = settings
        self.scanner = scanner
        self.dispatcher = dispatcher
        self.store = store
        self.metrics = metrics
        self.directory: Directory = scanner.directory
        self.connections = 0
        self.in_flight = 0
        # Why a queue before the chain: the filters are CPU-bound, so scanning 100 messages
        # at once in one process only stretches each one past its filter timeouts (measured:
        # every message tempfailed at 100 sessions). Waiting here costs the client nothing.
        self._scan_slots = asyncio.Semaphore(settings.gateway.scan_concurrency)
        self._idle = asyncio.Event()
        self._idle.set()
        self._trusted = [ipaddress.ip_network(n, strict=False) for n in settings.gateway.trusted_networks]

    def is_trusted(self, peer: Any) -> bool:
        host = peer[0] if isinstance(peer, (tuple, list)) else str(peer)
        try:
            address = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in net for net in self._trusted)

    async def handle_exception(self, error: Exception) -> str:
        # Our own bug: temporary (the sender retries), and no internals leak to the peer.
        self.metrics.internal_errors.inc()
        log.exception("internal error in SMTP session: %s", error)
        return "451 4.3.0 Internal error, please try again later"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: SmtpEnvelope, address: str,
                          rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.settings.gateway.max_recipients:
            return "452 4.5.3 Too many recipients"
        if not self.directory.is_school_address(address) and not self.is_trusted(session.peer):
            log.info("relay denied: %s -> %s from %s", envelope.mail_from, address, session.peer)
            return "550 5.7.1 Relay denied: this gateway only accepts mail for the school's domains"
        if not domain_of(address):
            return "501 5.1.3 Bad recipient address syntax"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        started = time.perf_counter()
        self.in_flight += 1
        self._idle.clear()
        try:
            return await self._data(session, envelope, started)
        except Exception as exc:
            return await self.handle_exception(exc)
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.set()
            self.metrics.transaction_seconds.observe(time.perf_counter() - started)

    async def _data(self, session: Session, envelope: SmtpEnvelope, started: float) -> str:
        raw: bytes = envelope.original_content or b""
        if _SMUGGLING.search(raw):
            log.warning("refused bare-LF end-of-data sequence from %s", session.peer)
            return "550 5.5.2 Message refused: bare LF or CR in an end-of-data sequence (RFC 5321 2.3.8)"
        peer_ip = session.peer[0] if isinstance(session.peer, (tuple, list)) else str(session.peer)
        smtp_envelope = Envelope(mail_from=envelope.mail_from or "", rcpt_tos=tuple(envelope.rcpt_tos),
                                 client_ip=peer_ip, helo=session.host_name or "")
        self.metrics.scan_waiting.inc()
        try:
            async with asyncio.timeout(self.settings.gateway.scan_queue_timeout):
                await self._scan_slots.acquire()
        except TimeoutError:
            self.metrics.busy.inc()
            log.warning("scan queue full for %ss; told %s to retry", self.settings.gateway.scan_queue_timeout,
                        peer_ip)
            return "451 4.3.2 Gateway busy; please try again later"
        finally:
            self.metrics.scan_waiting.dec()
        try:
            result = await self.scanner.scan(raw, smtp_envelope)
        finally:
            self._scan_slots.release()
        view, verdict = result.view, result.verdict
        outcome = await self.dispatcher.dispatch(view, verdict, self.scanner.annotate(view, raw))
        seconds = time.perf_counter() - started
        action = verdict.action.label
        code = outcome.reply[:3]
        if code == "451" and verdict.action.label != "tempfail":
            action = "tempfail"
        self.metrics.messages.labels(action, str(view.direction)).inc()
        for act in verdict.actions.values():
            self.metrics.recipients.labels(act.label).inc()
        try:
            await self.store.record_decision(
                message_id=view.id, direction=str(view.direction), sender_role=str(view.sender.role),
                action=action, role_actions=role_action_counts(view, verdict), codes=verdict.codes,
                categories=[str(f.category) for f in verdict.findings],
                failures=[f"{f.filter}:{f.kind}" for f in verdict.failures], size=len(raw), seconds=seconds)
        except Exception:  # the decision log feeds reports; it must not turn a delivered message into a 451
            log.exception("message %s: decision log not written", view.id)
        decision_log.info(json.dumps({
            "event": "message", "id": view.id, "client": peer_ip, "helo": smtp_envelope.helo,
            "mail_from": smtp_envelope.mail_from,
            "recipients": {r: a.label for r, a in verdict.actions.items()},
            "direction": str(view.direction), "codes": list(verdict.codes),
            "failures": [f.as_dict() for f in verdict.failures], "size": len(raw),
            "reply": code, "stored": outcome.stored_id,
            "filter_ms": {k: round(v * 1000, 2) for k, v in result.chain.timings.items()},
            "ms": round(seconds * 1000, 2)}))
        return outcome.reply

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    cfg = settings.gateway
    if cfg.tls_cert is None or cfg.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cfg.tls_cert), str(cfg.tls_key))
    return context


def protocol_factory(handler: GatewayHandler, settings: Settings):
    context = tls_context(settings)
    cfg = settings.gateway

    def make() -> GatewaySMTP:
        return GatewaySMTP(handler, hostname=cfg.hostname, ident="schoolgate ESMTP",
                           data_size_limit=cfg.max_message_size, enable_SMTPUTF8=True,
                           decode_data=False, timeout=cfg.command_timeout,
                           tls_context=context, require_starttls=False)
    return make

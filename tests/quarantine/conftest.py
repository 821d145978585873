"""Review UI fixtures: a real gateway (SMTP + web on port 0) forwarding to the sink, with accounts."""
from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import dataclass

import httpx
import pytest

from filters.base import Category, Finding, Severity
from quarantine.store import new_message_id
from quarantine.users import UserStore
from tests.factories import SCHOOL_DOMAIN, make_message
from gateway.service import Gateway
from tests.factories import make_settings
from tests.gateway.conftest import RunningGateway

PASSWORD = "correct horse battery staple"
ROLES = ("admin", "reviewer", "dsl", "head", "auditor")
# the lowest argon2 cost the schema allows: tests log in many times on a shared machine
FAST_HASH = {"argon2_time_cost": 1, "argon2_memory_kib": 8192}
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Review:
    gw: object  # RunningGateway
    sink: object

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.gw.gateway.web_port}"

    @property
    def store(self):
        return self.gw.store

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, follow_redirects=False, timeout=30)

    async def login(self, name: str, password: str = PASSWORD) -> httpx.AsyncClient:
        client = self.client()
        page = await client.get("/login")
        token = CSRF_RE.search(page.text).group(1)
        reply = await client.post("/login", data={"username": name, "password": password, "csrf": token})
        assert reply.status_code == 303, reply.text[:500]
        return client

    async def hold(self, subject: str = "Invoice", body: str = "Please see the invoice attached.",
                   sender: str = "alice@example.com", rcpts=(f"bob@{SCHOOL_DOMAIN}",), html: str | None = None) -> str:
        """A real message through SMTP, held by the attachments filter (invoice.pdf.exe)."""
        raw = make_message(body, subject=subject, sender=sender, to=", ".join(rcpts), html=html,
                           attachments=[("invoice.pdf.exe", "application/octet-stream", b"MZ\x90\x00" + b"\0" * 64)])
        code, text = await self.gw.send(raw, mail_from=sender, rcpt_tos=list(rcpts))
        assert code == 250, text
        match = re.search(rb"Ok: (\S+)", text)
        return match.group(1).decode()

    async def add(self, *, category: Category = Category.GROOMING, code: str = "GROOMING_SECRECY",
                  evidence: tuple[str, ...] = ("don't tell your mum",), subject: str = "hi",
                  body: str = "hey, don't tell your mum we talk ok", sender: str = "stranger@example.net",
                  rcpt: str = f"pupil@{SCHOOL_DOMAIN}", html: str | None = None,
                  severity: Severity = Severity.HIGH, sender_role: str = "external",
                  reason: str = "Asks a child to keep contact secret.") -> str:
        """A held row written straight into the store (categories no shipped filter emits yet)."""
        raw = make_message(body, subject=subject, sender=sender, to=rcpt, html=html)
        finding = Finding(code, "test", category, severity, evidence, reason)
        mid = new_message_id()
        await self.store.run(lambda: self.store.add_sync(
            message_id=mid, raw=raw, mail_from=sender, from_header=sender, subject=subject, direction="inbound",
            sender_role=sender_role, client_ip="192.0.2.1", sha256=hashlib.sha256(raw).hexdigest(), size=len(raw),
            recipients=[(rcpt, "student", "hold")], findings=[finding], failures=[]))
        return mid


def csrf_of(html: str) -> str:
    return CSRF_RE.search(html).group(1)


@pytest.fixture
async def review_gateway(tmp_path, sink):
    """Like tests/gateway's make_gateway, with [web] and [notify] overrides."""
    started: list[Gateway] = []

    async def factory(web: dict | None = None, notify: dict | None = None, **overrides) -> RunningGateway:
        settings = make_settings(tmp_path, gateway={"listen": "127.0.0.1:0", "next_hop": sink.address,
                                                    **overrides.pop("gateway", {})},
                                 web={"listen": "127.0.0.1:0", **FAST_HASH, **(web or {})},
                                 notify={"enabled": False, **(notify or {})},
                                 # only the attachments filter: holds are predictable, no clamd needed
                                 filters=overrides.pop("filters", {"chain": ["attachments"]}), **overrides)
        gateway = Gateway(settings)
        await gateway.start(web=True)
        started.append(gateway)
        return RunningGateway(gateway)

    yield factory
    for gateway in started:
        await gateway.stop(grace=5)


@pytest.fixture
async def review(review_gateway, sink):
    gw = await review_gateway()
    accounts = UserStore.for_settings(gw.store.engine, gw.settings.web)

    def add_all() -> None:
        for role in ROLES:
            accounts.add(role, role, PASSWORD, email=f"{role}@{SCHOOL_DOMAIN}")
    await gw.store.run(add_all)
    return Review(gw, sink)


async def wait_for(predicate, timeout: float = 10.0) -> bool:
    """Poll without blocking the loop the gateway runs on."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())

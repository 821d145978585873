"""/healthz and the health metrics against real parts: a clamd we stop, a store we lock, refusing ports."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from gateway.health import HealthMonitor
from gateway.metrics import Metrics
from gateway.service import make_next_hop
from quarantine.store import QuarantineStore
from tests.clamd_server import ClamdServer, clamd_missing
from tests.conftest import Sink, free_port
from tests.factories import SCHOOL_DOMAIN, make_message, make_settings, shipped_chain

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64
NO_VIRUS = {"chain": [n for n in shipped_chain() if n != "virus"]}
FAST = {"next_hop_probe_seconds": 0.2, "next_hop_timeout": 2}


@pytest.fixture
def own_clamd(tmp_path):
    """A clamd this test may stop (the session's shared one must keep running)."""
    if shutil.which("clamd") is None and not Path("/usr/sbin/clamd").exists():
        clamd_missing()
    server = ClamdServer(tmp_path / "clamd")
    server.root.mkdir()
    server.start()
    yield server
    server.stop()


@contextlib.contextmanager
def unwritable(path: Path):
    """Really unwritable, also for root (tests run as root in CI): the immutable flag."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(0o555)
        try:
            yield
        finally:
            path.chmod(mode)


async def healthz(gw) -> tuple[int, dict]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{gw.gateway.web_port}/healthz", timeout=20)
    return response.status_code, response.json()


async def until(gw, predicate, timeout: float = 15.0) -> tuple[int, dict]:
    """/healthz until predicate(status, body) holds (the monitor probes in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = await healthz(gw)
        if predicate(status, body) or time.monotonic() > deadline:
            return status, body
        await asyncio.sleep(0.2)


async def metrics(gw) -> str:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"http://127.0.0.1:{gw.gateway.web_port}/metrics", timeout=20)).text


async def test_all_parts_up_is_200_ok(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address, web=True, filters=NO_VIRUS, gateway=FAST)
    status, body = await until(gw, lambda s, b: s == 200)
    assert status == 200 and body["status"] == "ok" and body["failing"] == [], body
    assert set(body["components"]) == {"clamd", "store", "next_hop"}
    text = await metrics(gw)
    assert 'schoolgate_component_up{component="next_hop"} 1.0' in text
    assert 'schoolgate_component_up{component="store"} 1.0' in text
    assert "schoolgate_build_info{" in text and 'version="' in text


async def test_clamd_stopped_is_503_naming_clamd(make_gateway, sink, own_clamd):
    gw = await make_gateway(next_hop=sink.address, web=True, gateway=FAST,
                            virus={"clamd": own_clamd.address, "allow_test_signatures": True})
    # test signatures only, allowed for evaluation: degraded, said on the page and in the metrics
    status, body = await until(gw, lambda s, b: s == 200)
    assert status == 200 and body["status"] == "degraded", body
    assert body["components"]["clamd"]["degraded"] is True
    assert "test signatures only" in body["components"]["clamd"]["detail"]
    assert "schoolgate_degraded 1.0" in await metrics(gw)
    async with httpx.AsyncClient() as client:
        page = (await client.get(f"http://127.0.0.1:{gw.gateway.web_port}/login", timeout=20)).text
    assert 'id="degraded-banner"' in page and "Evaluation mode" in page
    await asyncio.to_thread(own_clamd.stop)
    await asyncio.sleep(1.1)  # past the one-second cache
    status, body = await healthz(gw)
    print("\n/healthz with clamd stopped:", json.dumps(body, indent=2))
    assert status == 503 and body["status"] == "failing" and body["failing"] == ["clamd"], body
    assert "cannot connect to clamd" in body["components"]["clamd"]["detail"]
    assert 'schoolgate_component_up{component="clamd"} 0.0' in await metrics(gw)


async def test_store_unwritable_is_503_naming_store(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address, web=True, filters=NO_VIRUS, gateway=FAST)
    assert (await until(gw, lambda s, b: s == 200))[0] == 200
    with unwritable(gw.store.root / "tmp"):
        await asyncio.sleep(1.1)
        status, body = await healthz(gw)
    assert status == 503 and body["failing"] == ["store"], body
    assert "not writable" in body["components"]["store"]["detail"]


async def test_next_hop_refusing_is_503_naming_it(make_gateway):
    gw = await make_gateway(next_hop=f"127.0.0.1:{free_port()}", web=True, filters=NO_VIRUS, gateway=FAST)
    status, body = await until(gw, lambda s, b: "no answer" in b["components"]["next_hop"]["detail"])
    assert status == 503 and body["failing"] == ["next_hop"], body
    assert "cannot connect" in body["components"]["next_hop"]["detail"]


async def test_outbound_route_down_is_named_separately(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address, web=True, filters=NO_VIRUS,
                            gateway={**FAST, "outbound_next_hop": f"127.0.0.1:{free_port()}",
                                     "outbound_next_hop_tls": "none"})
    status, body = await until(gw, lambda s, b: b["components"]["next_hop"]["ok"]
                               and "no answer" in b["components"]["outbound_next_hop"]["detail"])
    assert status == 503 and body["failing"] == ["outbound_next_hop"], body


async def test_next_hop_going_down_is_noticed_by_the_background_probe(make_gateway):
    hop = Sink().start()  # not the fixture: this test stops it
    gw = await make_gateway(next_hop=hop.address, web=True, filters=NO_VIRUS, gateway=FAST)
    assert (await until(gw, lambda s, b: s == 200))[0] == 200
    # stopped from a thread: Controller.stop() blocks until the sink's loop ends, and this
    # loop must keep serving the gateway's side of the connections meanwhile
    await asyncio.to_thread(hop.stop)
    status, body = await until(gw, lambda s, b: s == 503)
    assert status == 503 and body["failing"] == ["next_hop"], body


async def test_queue_metrics(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address, web=True, filters=NO_VIRUS, gateway=FAST)
    raw = make_message("see attached", attachments=[("invoice.pdf.exe", "application/pdf", EXE)])
    assert (await gw.send(raw, "a@example.com", [f"bob@{SCHOOL_DOMAIN}"]))[0] == 250
    await asyncio.sleep(1.1)
    text = await metrics(gw)
    assert "schoolgate_held_messages 1.0" in text
    oldest = float(next(line for line in text.splitlines() if line.startswith("schoolgate_oldest_held_seconds "))
                   .split()[1])
    assert 0 < oldest < 60
    assert "schoolgate_dsl_alerts_unacknowledged 0.0" in text


async def test_test_signatures_without_the_setting_fail(tmp_path, sink):
    address = os.environ.get("SCHOOLGATE_TEST_CLAMD")
    if not address:
        clamd_missing()
    settings = make_settings(tmp_path, gateway={"next_hop": sink.address},
                             virus={"clamd": address, "allow_test_signatures": False})
    store = await QuarantineStore(settings.quarantine.path).open()
    router = make_next_hop(settings)
    try:
        await router.probe()
        report = await HealthMonitor(settings, store, router, Metrics()).check()
    finally:
        await router.close()
        await store.close()
    assert report.http_status == 503 and report.failing == ("clamd",)
    assert "test signatures only" in report.as_dict()["components"]["clamd"]["detail"]

"""Races on one hold, with real processes and real HTTP requests: exactly one copy ever reaches the
next hop, and a hold is never both released and deleted.

The next hop answers DATA slowly (a real aiosmtpd server that waits), so a release is still in
flight, its copies claimed, when the second actor arrives: the window a race needs."""
from __future__ import annotations

import asyncio
import hashlib
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from filters.base import Category, Finding, Severity
from quarantine.links import LinkSigner, load_secret
from quarantine.store import QuarantineStore, StoreError, new_message_id
from tests.conftest import SinkHandler, free_port
from tests.factories import SCHOOL_DOMAIN, make_message
from tests.quarantine.conftest import Review, csrf_of

ROOT = Path(__file__).resolve().parents[2]
RCPTS = [f"bob@{SCHOOL_DOMAIN}", f"carol@{SCHOOL_DOMAIN}"]


class SlowSink:
    """The next hop, answering each DATA after `delay` seconds or when `gate` opens, whichever
    is first (as a busy Exchange does): the test decides when the release may finish."""

    def __init__(self, delay: float) -> None:
        outer = self
        self.delay = delay
        self.handler = SinkHandler()
        self.started = threading.Event()  # set when the first DATA arrives
        self.gate = threading.Event()

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                outer.started.set()
                await asyncio.to_thread(outer.gate.wait, outer.delay)
                return await outer.handler.handle_DATA(server, session, envelope)

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=free_port())

    def __enter__(self) -> "SlowSink":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.controller.port}"

    def copies(self) -> int:
        """Deliveries counted per recipient: one release of two recipients is two copies."""
        with self.handler.lock:
            return sum(len(m.rcpt_tos) for m in self.handler.messages)


def hold(root: Path) -> str:
    """A held message written into the store as the gateway would (two held recipients)."""
    store = QuarantineStore(root)
    store.open_sync()
    raw = make_message("Invoice attached.", to=", ".join(RCPTS))
    mid = new_message_id()
    store.add_sync(message_id=mid, raw=raw, mail_from="alice@example.com", from_header="alice@example.com",
                   subject="Invoice", direction="inbound", sender_role="external", client_ip="192.0.2.1",
                   sha256=hashlib.sha256(raw).hexdigest(), size=len(raw),
                   recipients=[(r, "staff", "hold") for r in RCPTS],
                   findings=[Finding("ATTACHMENT_DOUBLE_EXTENSION", "attachments", Category.ATTACHMENT,
                                     Severity.HIGH, ("invoice.pdf.exe",), "A program dressed as a document.")],
                   failures=[])
    store.close_sync()
    return mid


def site(tmp_path: Path, next_hop: str) -> Path:
    config = tmp_path / "site.toml"
    config.write_text(f'[school]\ndomains = ["{SCHOOL_DOMAIN}"]\n[gateway]\nnext_hop = "{next_hop}"\n'
                      f'[quarantine]\npath = "{tmp_path / "q"}"\n', encoding="utf-8")
    return config


def cli(config: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "quarantine", *args, "--config", str(config)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def state(root: Path, mid: str):
    store = QuarantineStore(root)
    store.open_sync()
    try:
        return store.get_sync(mid), store.audit_sync(mid)
    finally:
        store.close_sync()


def test_concurrent_release_processes_deliver_exactly_one_copy(tmp_path):
    with SlowSink(delay=1.0) as sink:
        config = site(tmp_path, sink.address)
        mid = hold(tmp_path / "q")
        procs = [cli(config, "release", mid, "--reason", f"race {n}") for n in range(4)]
        results = [(p.wait(60), p.stdout.read(), p.stderr.read()) for p in procs]
        ok = [r for r in results if r[0] == 0]
        assert len(ok) == 1, results
        assert all("nothing held to release" in err for code, _, err in results if code != 0), results
        assert sink.copies() == len(RCPTS)  # one message, to both recipients, once
    held, audit = state(tmp_path / "q", mid)
    assert held.status == "released"
    assert {i["status"] for i in held.recipients.values()} == {"released"}
    assert [a["action"] for a in audit].count("release") == 1


def test_a_delete_while_a_release_is_in_flight_is_refused(tmp_path):
    with SlowSink(delay=60.0) as sink:
        config = site(tmp_path, sink.address)
        mid = hold(tmp_path / "q")
        release = cli(config, "release", mid, "--reason", "ok to send")
        assert sink.started.wait(30)  # the copies are claimed and on their way
        delete = cli(config, "delete", mid, "--reason", "spam")
        delete_code, delete_err = delete.wait(60), delete.stderr.read()
        sink.gate.set()  # only now may the next hop answer the release
        release_code = release.wait(60)
        assert release_code == 0, release.stderr.read()
        assert delete_code != 0 and "released" in delete_err, delete_err
        assert sink.copies() == len(RCPTS)
    held, audit = state(tmp_path / "q", mid)
    assert held.status == "released" and held.path  # the bytes were not deleted under the release
    assert "delete" not in [a["action"] for a in audit]


def test_a_release_after_a_delete_releases_nothing(tmp_path):
    with SlowSink(delay=0.0) as sink:
        config = site(tmp_path, sink.address)
        mid = hold(tmp_path / "q")
        assert cli(config, "delete", mid, "--reason", "spam").wait(60) == 0
        release = cli(config, "release", mid, "--reason", "too late")
        assert release.wait(60) != 0
        assert sink.copies() == 0
    held, _ = state(tmp_path / "q", mid)
    assert held.status == "deleted" and {i["status"] for i in held.recipients.values()} == {"deleted"}


@pytest.mark.parametrize("second", ["web release", "web delete", "digest link"])
async def test_web_release_racing_another_action_gives_one_outcome(review, second):
    mid = await review.hold(rcpts=tuple(RCPTS))
    first = await review.login("reviewer")
    other = await review.login("admin")
    token_first = csrf_of((await first.get(f"/m/{mid}")).text)
    token_other = csrf_of((await other.get(f"/m/{mid}")).text)
    release = first.post(f"/m/{mid}/act", data={"csrf": token_first, "action": "release", "reason": "fine",
                                                 "confirm": "yes"})
    if second == "digest link":
        link = LinkSigner(load_secret(review.gw.settings.quarantine.path), 3600).make(mid, "release")
        page = await other.get(f"/l/{link}")
        assert page.status_code == 200
        racing = other.post(f"/l/{link}", data={"csrf": csrf_of(page.text), "confirm": "yes"})
    else:
        action = "release" if second == "web release" else "delete"
        racing = other.post(f"/m/{mid}/act", data={"csrf": token_other, "action": action, "reason": "race",
                                                   "confirm": "yes"})
    replies = await asyncio.gather(release, racing)
    codes = sorted(r.status_code for r in replies)
    assert codes == [303, 409], [(r.status_code, r.text[:200]) for r in replies]
    held = await review.store.get(mid)
    delivered = sum(len(m.rcpt_tos) for m in review.sink.messages)
    if held.status == "released":
        assert delivered == len(RCPTS)  # exactly one copy per recipient
    else:
        assert held.status == "deleted" and delivered == 0
    assert {i["status"] for i in held.recipients.values()} <= {"released", "deleted"}  # none stuck 'releasing'
    actions = [a["action"] for a in await review.store.run(review.store.audit_sync, mid)]
    assert actions.count("release") + actions.count("delete") == 1

"""Real faults on the save and delivery paths: a full or read-only quarantine filesystem, the
store's SQLite locked by another process, the next hop dying mid-DATA, clamd killed mid-stream.
Each time the client is told 4xx, nothing reaches the next hop, nothing half-written stays behind,
and once the fault is gone the retry is accepted exactly once."""
from __future__ import annotations

import asyncio
import re
import smtplib
import sqlite3
from pathlib import Path

import pytest

from tests.clamd_server import ClamdProxy, ClamdServer, clamd_missing
from tests.factories import SCHOOL_DOMAIN, make_message
from tests.faults import DyingNextHop, SqliteLock, files_under, fill, remount, tmpfs

PUPIL = f"pupil@pupils.{SCHOOL_DOMAIN}"
TEACHER = f"teacher@{SCHOOL_DOMAIN}"
ROLES = {"domain_roles": {f"pupils.{SCHOOL_DOMAIN}": "student", SCHOOL_DOMAIN: "staff"}}
# the attachments filter holds a program dressed as an invoice (no clamd needed for these)
HELD = [("invoice.pdf.exe", "application/octet-stream", b"MZ\x90\x00" + b"\0" * 64)]


def held_message(n: int = 0) -> bytes:
    return make_message(f"Invoice {n} attached.", subject=f"invoice {n}", attachments=HELD)


def smtp_send(port: int, raw: bytes, rcpts: list[str], mail_from: str = "alice@example.com",
              timeout: float = 120) -> tuple[int, bytes]:
    """smtplib with a long timeout: a locked store makes the gateway wait for SQLite's busy timeout."""
    raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as client:
        client.ehlo("client.test")
        client.mail(mail_from)
        for rcpt in rcpts:
            code, text = client.rcpt(rcpt)
            assert code == 250, text
        try:
            return client.data(raw)
        except smtplib.SMTPDataError as exc:  # pragma: no cover - smtplib returns, not raises, for DATA
            return exc.smtp_code, exc.smtp_error


async def send(gw, raw: bytes, rcpts: list[str], **kw) -> tuple[int, bytes]:
    return await asyncio.to_thread(smtp_send, gw.port, raw, rcpts, **kw)


def index_rows(root: Path, db: Path | None = None) -> int:
    with sqlite3.connect(f"file:{db or root / 'index.sqlite3'}?mode=ro", uri=True) as conn:
        return conn.execute("select count(*) from messages").fetchone()[0]


def assert_nothing_half_written(root: Path, db: Path | None = None) -> None:
    assert files_under(root / "tmp", "*.tmp") == []
    assert files_under(root / "messages", "*.eml") == []
    assert index_rows(root, db) == 0


# -- the quarantine's filesystem -----------------------------------------------------------------------
async def test_full_quarantine_filesystem_gives_4xx_and_leaves_nothing_behind(make_gateway, sink, tmp_path):
    with tmpfs(tmp_path / "q", size="4m") as root:
        gw = await make_gateway(next_hop=sink.address, filters={"chain": ["attachments"]},
                                quarantine={"path": str(root)})
        filler = fill(root)
        code, reply = await send(gw, held_message(1), [f"bob@{SCHOOL_DOMAIN}"])
        assert 400 <= code < 500, (code, reply)
        assert not sink.messages
        assert_nothing_half_written(root)

        filler.unlink()  # space again: the sender's retry is held, once
        code, reply = await send(gw, held_message(1), [f"bob@{SCHOOL_DOMAIN}"])
        assert code == 250, reply
        assert len(files_under(root / "messages", "*.eml")) == 1 and index_rows(root) == 1
        assert files_under(root / "tmp", "*.tmp") == [] and not sink.messages
        await gw.gateway.stop(grace=5)


async def test_read_only_quarantine_filesystem_gives_4xx_and_leaves_nothing_behind(make_gateway, sink, tmp_path):
    # the index lives elsewhere here: Linux refuses to remount a filesystem read-only while a
    # file on it is open for writing, and SQLite keeps its database open
    db = tmp_path / "index.sqlite3"
    with tmpfs(tmp_path / "q", size="16m") as root:
        gw = await make_gateway(next_hop=sink.address, filters={"chain": ["attachments"]},
                                quarantine={"path": str(root), "database_url": f"sqlite:///{db}"})
        remount(root, "ro")  # as the kernel does after an I/O error on the disk
        try:
            code, reply = await send(gw, held_message(2), [f"bob@{SCHOOL_DOMAIN}"])
        finally:
            remount(root, "rw")
        assert 400 <= code < 500, (code, reply)
        assert not sink.messages
        assert_nothing_half_written(root, db)

        code, reply = await send(gw, held_message(2), [f"bob@{SCHOOL_DOMAIN}"])
        assert code == 250, reply
        assert index_rows(root, db) == 1 and len(files_under(root / "messages", "*.eml")) == 1
        await gw.gateway.stop(grace=5)


# -- the index database -----------------------------------------------------------------------------------
async def test_store_database_locked_by_another_process_gives_4xx(make_gateway, sink, tmp_path):
    gw = await make_gateway(next_hop=sink.address, filters={"chain": ["attachments"]},
                            quarantine={"lock_wait_seconds": 3})
    root = Path(gw.settings.quarantine.path)
    lock = SqliteLock(root / "index.sqlite3")
    try:
        # the gateway waits out SQLite's busy timeout ([quarantine] lock_wait_seconds), then gives up: 4xx
        code, reply = await send(gw, held_message(3), [f"bob@{SCHOOL_DOMAIN}"])
    finally:
        lock.release()
    assert 400 <= code < 500, (code, reply)
    assert not sink.messages
    assert_nothing_half_written(root)  # the message file written before the index row is gone too

    code, reply = await send(gw, held_message(3), [f"bob@{SCHOOL_DOMAIN}"])
    assert code == 250, reply
    assert index_rows(root) == 1


# -- the next hop -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rcpts", [[TEACHER], [PUPIL, TEACHER]], ids=["delivered", "held-and-delivered"])
async def test_next_hop_dying_mid_data_gives_4xx(make_gateway, tmp_path, rcpts):
    hop = DyingNextHop(die_after=256)
    try:
        # pupils' copies of the invoice are held, staff's delivered: one message, both paths
        rules = [{"category": "attachment", "recipient_roles": ["student"], "action": "hold"},
                 {"category": "attachment", "action": "pass"}]
        gw = await make_gateway(next_hop=hop.address, filters={"chain": ["attachments"]},
                                directory=ROLES, policy={"rules": rules})
        root = Path(gw.settings.quarantine.path)
        raw = make_message("Invoice attached. " + "line of text\n" * 200, attachments=HELD, to=", ".join(rcpts))
        code, reply = await send(gw, raw, rcpts)
        assert 400 <= code < 500, (code, reply)
        assert hop.deaths == 1 and hop.messages == []
        assert_nothing_half_written(root)  # the held copy stored first was discarded again
        # counted as what the client was told (a tempfail), not as what the policy said
        metrics = gw.gateway.metrics.render().decode()
        assert re.search(r'schoolgate_messages_total\{action="tempfail",direction="\w+"\} 1\.0', metrics), metrics
        assert not re.search(r'schoolgate_messages_total\{action="(pass|hold)"', metrics)

        hop.dying = False  # back up: the sender's retry goes through once
        code, reply = await send(gw, raw, rcpts)
        assert code == 250, reply
        assert len(hop.messages) == 1 and b"line of text" in hop.messages[0]
        assert index_rows(root) == (1 if PUPIL in rcpts else 0)
    finally:
        hop.close()


# -- clamd ------------------------------------------------------------------------------------------------------
async def test_clamd_killed_mid_stream_gives_4xx(make_gateway, sink, tmp_path, shared_clamd):
    if shared_clamd is None:
        clamd_missing()
    clamd = ClamdServer(tmp_path / "clamd")
    clamd.root.mkdir()
    clamd.start()
    proxy = ClamdProxy(clamd, kill_after=256 * 1024)  # SIGKILL once a quarter MiB has been streamed
    try:
        gw = await make_gateway(next_hop=sink.address, virus={"clamd": proxy.address})
        root = Path(gw.settings.quarantine.path)
        # a big, otherwise harmless message: streamed to clamd in 64 KiB chunks
        attachment = [("scan.txt", "text/plain", b"harmless words of a long report\n" * 20_000)]
        raw = make_message("Report attached.", attachments=attachment)
        code, reply = await send(gw, raw, [f"bob@{SCHOOL_DOMAIN}"])
        assert proxy.killed.is_set() and clamd.process.poll() is not None  # clamd really died
        assert 400 <= code < 500, (code, reply)
        assert not sink.messages
        assert_nothing_half_written(root)

        clamd.socket_path.unlink(missing_ok=True)
        clamd.start()  # clamd restarted (systemd would): the retry is scanned and delivered, once
        proxy.kill_after = None
        code, reply = await send(gw, raw, [f"bob@{SCHOOL_DOMAIN}"])
        assert code == 250, reply
        assert len(sink.messages) == 1
    finally:
        proxy.close()
        clamd.stop()

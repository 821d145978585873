"""No loss under a crash: SIGKILL the gateway mid-stream; every 250 must be at the sink or in quarantine."""
from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from quarantine.store import QuarantineStore
from tests.conftest import free_port
from tests.factories import SCHOOL_DOMAIN, make_message, site_toml_virus

ROOT = Path(__file__).resolve().parents[2]
EXE = b"MZ\x90\x00" + b"\x00" * 60
TOTAL = 240
CLIENTS = 6


def start_gateway(config: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)],
                            cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT)


def wait_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(100).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"gateway did not listen on {port}")


@pytest.mark.slow
def test_sigkill_mid_stream_loses_nothing_acknowledged(tmp_path, sink):
    port = free_port()
    config = tmp_path / "site.toml"
    config.write_text(f"""
[school]
domains = ["{SCHOOL_DOMAIN}"]
[gateway]
listen = "127.0.0.1:{port}"
workers = 1  # one process: the test kills or traces it
next_hop = "{sink.address}"
[quarantine]
path = "q"
[web]
enabled = false
[logging]
level = "warning"
{site_toml_virus()}
""", encoding="utf-8")
    log = tmp_path / "gateway.log"
    proc = start_gateway(config, log)
    wait_listening(port)

    acked: set[int] = set()
    lock = threading.Lock()
    queue = list(range(TOTAL))

    def client() -> None:
        while True:
            with lock:
                if not queue:
                    return
                n = queue.pop(0)
            attach = [("invoice.pdf.exe", "application/pdf", EXE)] if n % 5 == 0 else []
            raw = make_message(f"numbered message {n}", subject=f"msg-{n:05d}",
                               attachments=attach).replace(b"\n", b"\r\n")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # like a real MTA: retry until a 250
                try:
                    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                        smtp.sendmail("sender@example.com", [f"rcpt{n}@{SCHOOL_DOMAIN}"], raw)
                    with lock:
                        acked.add(n)
                    break
                except (OSError, smtplib.SMTPException):
                    time.sleep(0.1)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    while True:  # kill it in the middle of the stream
        with lock:
            if len(acked) >= TOTAL // 3:
                break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = len(acked)
    time.sleep(0.5)
    proc = start_gateway(config, log)
    try:
        wait_listening(port)
        for t in threads:
            t.join(timeout=120)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert killed_at < TOTAL
    assert len(acked) == TOTAL, "clients gave up on some messages"

    delivered = set()
    for message in sink.messages:
        for line in message.data.split(b"\r\n"):
            if line.startswith(b"Subject: msg-"):
                delivered.add(int(line.split(b"-")[1]))
    store = QuarantineStore(tmp_path / "q").open_sync()
    held = {int(h.subject.split("-")[1]) for h in store.list_sync(limit=10_000)}
    store.close_sync()
    missing = sorted(acked - delivered - held)
    assert missing == [], f"acknowledged but lost: {missing}"
    assert held == {n for n in range(TOTAL) if n % 5 == 0}

"""[gateway] workers: forked gateways share the SMTP port; the supervisor restarts and stops them."""
from __future__ import annotations

import json
import os
import re
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.factories import SCHOOL_DOMAIN, make_message, site_toml_virus

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, sink_address: str, *, workers: int = 2, web_port: int | None = None,
                 virus: str | None = None) -> Path:
    config = tmp_path / "site.toml"
    web = f'enabled = true\nlisten = "127.0.0.1:{web_port}"' if web_port else "enabled = false"
    config.write_text(f"""
[school]
domains = ["{SCHOOL_DOMAIN}"]
[gateway]
listen = "127.0.0.1:0"
next_hop = "{sink_address}"
workers = {workers}
[quarantine]
path = "q"
[web]
{web}
[logging]
level = "info"
{virus if virus is not None else _evaluation_virus()}
""", encoding="utf-8")
    return config


def _evaluation_virus() -> str:
    # the test clamd has test signatures only: /healthz is 200 (degraded) only when allowed
    text = site_toml_virus()
    if not text.startswith("[virus]") or "allow_test_signatures" in text:
        return text
    return text + "allow_test_signatures = true\n"


def start(config: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(config),
                             "--grace", "5"], cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT)


def wait_for(log: Path, pattern: str, proc: subprocess.Popen, timeout: float = 90) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text(errors="replace"))
        if found:
            return found
        if proc.poll() is not None:
            raise AssertionError(f"gateway exited {proc.returncode}:\n{log.read_text()}")
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} not logged within {timeout}s:\n{log.read_text()}")


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                out.append(int(entry))
    return out


def send(port: int, n: int) -> None:
    raw = make_message(f"message {n}", subject=f"msg-{n}").replace(b"\n", b"\r\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:  # one connection per message
        client.sendmail("alice@example.com", [f"bob@{SCHOOL_DOMAIN}"], raw)


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(60)


@pytest.mark.slow
def test_two_workers_share_the_port_both_deliver_and_stop_cleanly(tmp_path, sink):
    web_port = free_port()
    log = tmp_path / "gateway.log"
    proc = start(write_config(tmp_path, sink.address, web_port=web_port), log)
    try:
        port = int(wait_for(log, r"2 workers share 127\.0\.0\.1:(\d+)", proc).group(1))
        assert len(children(proc.pid)) == 2
        for n in range(60):
            send(port, n)
        subjects = sorted(re.search(rb"Subject: (msg-\d+)", m.data).group(1).decode() for m in sink.messages)
        assert subjects == sorted(f"msg-{n}" for n in range(60))
        text = log.read_text()
        # SO_REUSEPORT hashes each connection's ports: with 60 connections both workers take some
        # (the log is JSON lines, gateway/logs.py: each names the worker that wrote it)
        assert {json.loads(line).get("worker") for line in text.splitlines()
                if line.startswith("{") and '"schoolgate.message"' in line} == {0, 1}
        # the web UI and its timers run in worker 0 only: one listener, no "address in use"
        assert httpx.get(f"http://127.0.0.1:{web_port}/healthz", timeout=10).status_code == 200
        assert "could not listen" not in text and "Traceback" not in text
        kids = children(proc.pid)
    finally:
        code = stop(proc)
    assert code == 0
    assert all(not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
               for pid in kids)


@pytest.mark.slow
def test_a_worker_that_dies_is_restarted_and_mail_keeps_flowing(tmp_path, sink):
    log = tmp_path / "gateway.log"
    proc = start(write_config(tmp_path, sink.address), log)
    try:
        port = int(wait_for(log, r"2 workers share 127\.0\.0\.1:(\d+)", proc).group(1))
        victim = children(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        wait_for(log, r"worker \d exited \(-9\); restarting", proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the replacement runs its self-test, then listens
            kids = children(proc.pid)
            if len(kids) == 2 and victim not in kids and log.read_text().count("SMTP on") >= 3:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"worker not replaced:\n{log.read_text()}")
        for n in range(20):
            send(port, n)
        assert len(sink.messages) == 20
    finally:
        assert stop(proc) == 0


def test_a_worker_that_cannot_start_stops_them_all_with_a_clear_message(tmp_path, sink):
    log = tmp_path / "gateway.log"
    missing = tmp_path / "no-clamd.sock"
    proc = start(write_config(tmp_path, sink.address, virus=f'[virus]\nclamd = "unix:{missing}"'), log)
    code = proc.wait(120)
    text = log.read_text()
    assert code == 1
    assert "cannot start" in text and "could not start" in text
    assert "Traceback" not in text
    assert children(proc.pid) == []


def test_workers_die_with_a_sigkilled_supervisor(tmp_path, sink):
    """kill -9 of the supervisor (OOM killer): no orphan worker keeps taking mail on the port."""
    log = tmp_path / "gateway.log"
    proc = start(write_config(tmp_path, sink.address), log)
    port = int(wait_for(log, r"2 workers share 127\.0\.0\.1:(\d+)", proc, timeout=240).group(1))
    workers = children(proc.pid)
    assert len(workers) == 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() and
                                              "Z" not in Path(f"/proc/{w}/stat").read_text().split()[2]
                                              for w in workers if Path(f"/proc/{w}").exists()):
        time.sleep(0.1)
    alive = [w for w in workers if Path(f"/proc/{w}").exists()
             and Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    assert not alive, f"workers {alive} outlived their supervisor"
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", port, timeout=5)


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def test_the_supervisor_lets_go_of_the_filters_once_its_workers_listen(tmp_path, sink):
    """Issue 19's memory: kept as it was, the supervisor would hold the originals of every
    page its workers have written since the fork. Once they listen it re-executes itself
    small (same pid, same port claim); mail flows, a second gateway is still refused the
    port, and SIGTERM still stops everything cleanly."""
    log = tmp_path / "gateway.log"
    proc = start(write_config(tmp_path, sink.address), log)
    try:
        port = int(wait_for(log, r"2 workers share 127\.0\.0\.1:(\d+)", proc).group(1))
        deadline = time.monotonic() + 30
        while b"light_main" not in Path(f"/proc/{proc.pid}/cmdline").read_bytes():
            assert time.monotonic() < deadline, "the supervisor did not re-execute itself"
            time.sleep(0.1)
        assert b"schoolgate\0serve\0--config" in Path(f"/proc/{proc.pid}/cmdline").read_bytes()  # for ps
        workers = children(proc.pid)
        assert len(workers) == 2
        time.sleep(0.5)
        assert rss_mb(proc.pid) < 40 < min(rss_mb(w) for w in workers)
        for n in range(4):
            send(port, n)
        assert len(sink.messages) == 4
        other_dir = tmp_path / "other"
        other_dir.mkdir()
        other_log = other_dir / "gateway.log"
        other = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config",
                                  str(write_config(other_dir, sink.address, workers=1)), "--listen",
                                  f"127.0.0.1:{port}"], cwd=ROOT, stdout=open(other_log, "ab"), stderr=subprocess.STDOUT)
        assert other.wait(120) != 0  # the port is still held
        assert "in use" in other_log.read_text()
    finally:
        code = stop(proc)
    assert code == 0
    assert not [w for w in workers if Path(f"/proc/{w}").exists()
                and Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]


def test_a_replacement_worker_dies_with_a_sigkilled_supervisor_too(tmp_path, sink):
    """The worker started for a dead one is a new `schoolgate serve` process (the supervisor
    has let go of the filters): it takes mail, and it dies with its supervisor as a forked
    worker does, so no orphan keeps the port."""
    log = tmp_path / "gateway.log"
    proc = start(write_config(tmp_path, sink.address), log)
    port = int(wait_for(log, r"2 workers share 127\.0\.0\.1:(\d+)", proc, timeout=240).group(1))
    victim = children(proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        kids = children(proc.pid)
        if len(kids) == 2 and victim not in kids and log.read_text().count("SMTP on") >= 3:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"worker not replaced:\n{log.read_text()}")
    replacement = set(kids) - {victim}
    for n in range(10):
        send(port, n)
    assert len(sink.messages) == 10
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 20

    def alive() -> list[int]:
        return [w for w in kids if Path(f"/proc/{w}").exists()
                and Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    while time.monotonic() < deadline and alive():
        time.sleep(0.1)
    assert replacement and not alive(), f"workers {alive()} outlived their supervisor"


def test_a_sigterm_as_the_supervisor_re_executes_itself_is_a_clean_stop(tmp_path, sink):
    """The supervisor says the workers share the port just before it re-executes itself
    small; a SIGTERM sent the moment that line appears (during the exec, or just after) is
    kept pending across it: every worker is stopped and the exit is 0."""
    log = tmp_path / "gateway.log"
    proc = start(write_config(tmp_path, sink.address), log)
    deadline = time.monotonic() + 120
    while b"workers share" not in log.read_bytes():
        assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
        time.sleep(0.005)
    workers = children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0, log.read_text()
    assert not [w for w in workers if Path(f"/proc/{w}").exists()
                and Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    assert "Traceback" not in log.read_text()

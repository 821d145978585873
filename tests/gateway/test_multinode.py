"""Two gateway nodes on one PostgreSQL: what one holds, the other lists, shows and releases once;
a release raced from both nodes goes out once; SIGKILL of one node mid-burst loses nothing."""
from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from quarantine.store import QuarantineStore
from tests.conftest import free_port
from tests.factories import SCHOOL_DOMAIN, make_message, site_toml_virus
from tests.gateway.test_crash import start_gateway, wait_listening
from tests.servers import pg_url, redis_url  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[2]
EXE = b"MZ\x90\x00" + b"\x00" * 60


def node_config(tmp_path: Path, name: str, pg: str, sink_address: str, extra: str = "") -> tuple[Path, int]:
    port = free_port()
    directory = tmp_path / name
    directory.mkdir()
    config = directory / "site.toml"
    config.write_text(f"""
[school]
domains = ["{SCHOOL_DOMAIN}"]
[gateway]
listen = "127.0.0.1:{port}"
next_hop = "{sink_address}"
workers = 1
[quarantine]
path = "{directory / 'q'}"
database_url = "{pg}"
[web]
enabled = false
[logging]
level = "warning"
{site_toml_virus()}
{extra}
""", encoding="utf-8")
    return config, port


def cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args, "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def send(port: int, n: int, exe: bool) -> None:
    attach = [("invoice.pdf.exe", "application/pdf", EXE)] if exe else []
    raw = make_message(f"numbered message {n}", subject=f"msg-{n:05d}", attachments=attach)
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.sendmail("sender@example.com", [f"rcpt{n}@{SCHOOL_DOMAIN}"], raw.replace(b"\n", b"\r\n"))


def delivered_subjects(sink) -> list[str]:
    out = []
    for message in sink.messages:
        for line in message.data.split(b"\r\n"):
            if line.startswith(b"Subject: msg-"):
                out.append(line.split(b": ", 1)[1].decode())
    return out


@pytest.fixture
def shared_redis(request) -> str:
    """Empty unless a test asks for Redis too (indirect parametrize): then both nodes share it."""
    if getattr(request, "param", None) != "redis":
        return ""
    return request.getfixturevalue("redis_url")


@pytest.fixture
def two_nodes(tmp_path, pg_url, sink, shared_redis):
    extra = f'[redis]\nurl = "{shared_redis}"\n' if shared_redis else ""
    (config_a, port_a), (config_b, port_b) = (node_config(tmp_path, n, pg_url, sink.address, extra)
                                              for n in "ab")
    procs = {"a": start_gateway(config_a, tmp_path / "a.log"), "b": start_gateway(config_b, tmp_path / "b.log")}
    try:
        wait_listening(port_a, 180)  # two nodes load every model at once on a shared machine
        wait_listening(port_b, 180)
        yield {"a": (config_a, port_a), "b": (config_b, port_b), "procs": procs, "pg": pg_url}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)


def test_held_on_one_node_is_listed_shown_and_released_on_the_other(two_nodes, sink):
    config_a, port_a = two_nodes["a"]
    config_b, _ = two_nodes["b"]
    send(port_a, 1, exe=True)
    listed = cli(config_b, "quarantine", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    rows = rows["messages"] if isinstance(rows, dict) else rows
    assert [r["subject"] for r in rows] == ["msg-00001"]
    message_id = rows[0]["id"]
    shown = cli(config_b, "quarantine", "show", message_id, "--json", "--raw", "--reason", "checking")
    assert shown.returncode == 0, shown.stderr
    assert "numbered message 1" in shown.stdout
    released = cli(config_b, "quarantine", "release", message_id, "--reason", "expected invoice", "--json")
    assert released.returncode == 0, released.stderr
    assert delivered_subjects(sink) == ["msg-00001"]
    again = cli(config_a, "quarantine", "release", message_id, "--reason", "twice?")
    assert again.returncode != 0 and "Traceback" not in again.stderr
    assert delivered_subjects(sink) == ["msg-00001"]  # exactly once, whichever node is asked


def test_a_release_raced_from_both_nodes_goes_out_once(two_nodes, sink):
    config_a, port_a = two_nodes["a"]
    config_b, _ = two_nodes["b"]
    for n in range(5):
        send(port_a, n, exe=True)
    store = QuarantineStore(Path(str(config_a.parent / "q")), two_nodes["pg"]).open_sync()
    ids = [h.id for h in store.list_sync(limit=100)]
    store.close_sync()
    assert len(ids) == 5
    for message_id in ids:  # both nodes' CLIs at the same moment
        procs = [subprocess.Popen([sys.executable, "-m", "gateway.cli", "quarantine", "release", message_id,
                                   "--reason", "race", "--config", str(c)], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for c in (config_a, config_b)]
        results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
        assert sorted(r[2] == 0 for r in results) == [False, True], results
        assert not any("Traceback" in r[1] for r in results)
    subjects = delivered_subjects(sink)
    assert sorted(subjects) == sorted(set(subjects)) and len(subjects) == 5


@pytest.mark.slow
def test_sigkill_one_node_mid_burst_loses_nothing_acknowledged(two_nodes, sink):
    total, clients = 200, 6
    ports = [two_nodes["a"][1], two_nodes["b"][1]]
    acked: set[int] = set()
    lock = threading.Lock()
    queue = list(range(total))

    def client() -> None:  # a retrying MTA with two MX records: on failure try the other
        while True:
            with lock:
                if not queue:
                    return
                n = queue.pop(0)
            deadline = time.monotonic() + 90
            attempt = n
            while time.monotonic() < deadline:
                try:
                    send(ports[attempt % 2], n, exe=n % 4 == 0)
                    with lock:
                        acked.add(n)
                    break
                except (OSError, smtplib.SMTPException):
                    attempt += 1
                    time.sleep(0.05)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    while True:
        with lock:
            if len(acked) >= total // 3:
                break
        time.sleep(0.005)
    os.kill(two_nodes["procs"]["a"].pid, signal.SIGKILL)
    two_nodes["procs"]["a"].wait()
    for t in threads:
        t.join(timeout=180)
    assert len(acked) == total, "clients gave up on some messages"
    delivered = {int(s.split("-")[1]) for s in delivered_subjects(sink)}
    store = QuarantineStore(Path(str(two_nodes["b"][0].parent / "q")), two_nodes["pg"]).open_sync()
    held = {int(h.subject.split("-")[1]) for h in store.list_sync(limit=10_000)}
    for h in store.list_sync(limit=10_000):  # bytes readable from the surviving node
        assert b"numbered message" in store.raw_sync(h)
    store.close_sync()
    assert sorted(acked - delivered - held) == []


CHAIN = ("Subject: FW: send this on\n\nThis is a chain letter. Forward this message to 10 people within "
         "24 hours or you will have bad luck for 7 years. Do not break the chain! It really works, my "
         "friend sent it to 10 people and got good luck the next day. If you ignore it something bad will "
         "happen to you.\n")


@pytest.mark.parametrize("shared_redis", [pytest.param("redis", id="redis")], indirect=True)
def test_the_bulk_signal_counts_senders_across_both_nodes(two_nodes, sink, redis_url):
    import redis

    ports = [two_nodes["a"][1], two_nodes["b"][1], two_nodes["a"][1]]
    for n, port in enumerate(ports):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.sendmail(f"sender{n}@elsewhere.example", [f"pupil{n}@{SCHOOL_DOMAIN}"],
                          CHAIN.replace("\n", "\r\n").encode())
    client = redis.Redis.from_url(redis_url)
    counts = [client.zcard(k) for k in client.scan_iter("schoolgate:seen:d:chain_letter_body:*")]
    client.close()
    assert counts and max(counts) == 3  # three senders, counted by whichever node took each
    store = QuarantineStore(Path(str(two_nodes["a"][0].parent / "q")), two_nodes["pg"]).open_sync()
    reasons = [f.reason for h in store.list_sync(limit=10) for f in h.findings if h.mail_from == "sender2@elsewhere.example"]
    store.close_sync()
    assert any("3 senders" in r for r in reasons), reasons


"""Several nodes on PostgreSQL against the embedded SQLite default: held-heavy throughput, release
latency across nodes, and what one PostgreSQL takes of our write pattern.

    python bench/multinode.py                  # 600 messages per contender, 8 sessions
    python bench/multinode.py -n 300 -c 4      # shorter

Contenders (each a real `schoolgate serve` process; a real aiosmtpd sink as next hop):
  sqlite/1 node   the embedded default (files + SQLite)
  pg/1 node       [quarantine] database_url on this machine's PostgreSQL (held bytes in the database)
  pg/2 nodes      two processes on different ports, one database; the sessions alternate
Half the messages carry an executable attachment and are held, so the store is on the hot
path; the chain is the attachments filter only ([filters] chain), so what is measured is the
store and the SMTP path, not the content filters (bench/throughput.py measures those).
Then: release latency (a hold taken by node A released through node B's configuration, from the
call to the sink's 250) and the store's own write rate (holds/s from T threads calling add_sync
straight, no SMTP), which is what sizes one database for many schools. Installs nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import Sink, free_port  # noqa: E402  (the same sink the tests use)

SCHOOL = "school.example"
EXE = b"MZ\x90\x00" + b"\x00" * 60
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def message(n: int, held: bool) -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "sender@example.org", f"staff{n}@{SCHOOL}", f"msg-{n:06d}"
    msg.set_content(("Dear colleague, the minutes of the meeting are below. " * 80)[:4500])
    if held:
        msg.add_attachment(EXE, maintype="application", subtype="octet-stream", filename="invoice.pdf.exe")
    return msg.as_bytes().replace(b"\n", b"\r\n")


def make_db() -> str:
    import psycopg

    name = f"schoolgate_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_db(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def node_config(work: Path, name: str, sink: str, url: str | None) -> tuple[Path, int]:
    port = free_port()
    directory = work / name
    directory.mkdir(parents=True)
    db = f'database_url = "{url}"\n' if url else ""
    config = directory / "site.toml"
    config.write_text(f"""
[school]
domains = ["{SCHOOL}"]
[gateway]
listen = "127.0.0.1:{port}"
next_hop = "{sink}"
next_hop_tls = "none"
verify_recipients = false
[quarantine]
path = "{directory / 'q'}"
{db}
[filters]
chain = ["attachments"]
[web]
enabled = false
[notify]
enabled = false
[logging]
level = "warning"
""", encoding="utf-8")
    return config, port


def start(config: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=open(config.parent / "log", "ab"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=5):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"{config}: gateway exited: {(config.parent / 'log').read_text()[-2000:]}")
            time.sleep(0.1)
    raise SystemExit(f"{config}: gateway did not listen")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


def blast(ports: list[int], total: int, sessions: int) -> tuple[float, int]:
    """msg/s and replies other than 250 (one message per connection, as MTAs mostly do)."""
    queue = list(range(total))
    lock = threading.Lock()
    failures = [0]

    def client(k: int) -> None:
        while True:
            with lock:
                if not queue:
                    return
                n = queue.pop()
            try:
                with smtplib.SMTP("127.0.0.1", ports[n % len(ports)], timeout=60) as smtp:
                    smtp.sendmail("sender@example.org", [f"staff{n}@{SCHOOL}"], message(n, held=n % 2 == 0))
            except (OSError, smtplib.SMTPException):
                with lock:
                    failures[0] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return total / (time.perf_counter() - started), failures[0]


def release_latency(config_b: Path, ids: list[str], sink: Sink) -> list[float]:
    from config.loader import load_settings
    from gateway.release_route import release  # routes and signs as the running gateway

    settings = load_settings(config_b)
    out = []
    for message_id in ids:
        before = len(sink.handler.messages)
        t0 = time.perf_counter()
        asyncio.run(release(settings, message_id, actor="bench", reason="bench"))
        while len(sink.handler.messages) == before:
            time.sleep(0.0005)
        out.append(time.perf_counter() - t0)
    return out


def store_write_rate(url: str | None, work: Path, threads: int, seconds: float) -> float:
    """holds/s of add_sync (5 KB held, one recipient) from `threads` threads, no SMTP."""
    from filters.base import Category, Finding, Severity
    from quarantine.store import QuarantineStore, new_message_id

    finding = Finding("ATTACHMENT_EXECUTABLE", "attachments", Category.ATTACHMENT, Severity.HIGH, ("a.exe",), "x")
    raw = message(0, held=True)
    store = QuarantineStore(work, url).open_sync()
    stop_at = time.perf_counter() + seconds
    counts = [0] * threads

    def writer(k: int) -> None:
        while time.perf_counter() < stop_at:
            store.add_sync(message_id=new_message_id(), raw=raw, mail_from="a@example.org", from_header="a",
                           subject="s", direction="inbound", sender_role="external", client_ip="127.0.0.1",
                           sha256="", size=len(raw), recipients=[(f"b@{SCHOOL}", "staff", "hold")],
                           findings=[finding], failures=[])
            counts[k] += 1

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(writer, range(threads)))
    store.close_sync()
    return sum(counts) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=600, help="messages per contender")
    parser.add_argument("-c", type=int, default=8, help="concurrent SMTP sessions")
    parser.add_argument("--releases", type=int, default=20)
    parser.add_argument("--write-seconds", type=float, default=5.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="schoolgate-multinode-"))
    sink = Sink()
    sink.start()
    rows = []
    db = make_db()
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
    try:
        for label, urls in (("sqlite/1 node", [None]), ("pg/1 node", [url]), ("pg/2 nodes", [url, url])):
            configs = [node_config(work / label.replace("/", "-").replace(" ", ""), f"n{i}", sink.address, u)
                       for i, u in enumerate(urls)]
            procs = [start(c, p) for c, p in configs]
            try:
                blast([p for _, p in configs], 40, args.c)  # warm-up (imports, pools)
                rate, failed = blast([p for _, p in configs], args.n, args.c)
                rows.append((label, rate, failed))
                print(f"{label:14s} {rate:7.1f} msg/s  ({args.n} messages, half held, {args.c} sessions; "
                      f"not 250: {failed})", flush=True)
                if label == "pg/2 nodes":
                    from quarantine.store import QuarantineStore

                    store = QuarantineStore(configs[0][0].parent / "q", url).open_sync()
                    ids = [h.id for h in store.list_sync(status="held", limit=args.releases)]
                    store.close_sync()
                    lat = sorted(release_latency(configs[1][0], ids, sink))
                    print(f"release across nodes: p50 {statistics.median(lat) * 1000:.1f} ms, "
                          f"max {lat[-1] * 1000:.1f} ms over {len(lat)} releases (CLI path: opens the store "
                          f"and a next-hop connection each time)", flush=True)
            finally:
                for proc in procs:
                    stop(proc)
        for label, target in (("sqlite", None), ("postgresql", url)):
            for threads in (1, 4):
                rate = store_write_rate(target, work / f"w-{label}-{threads}", threads, args.write_seconds)
                print(f"store writes, {label:10s} {threads} thread(s): {rate:7.1f} holds/s (5 KB, in the "
                      f"database for postgresql, file + fsync for sqlite)", flush=True)
        if rows[0][1]:
            print("ratios: " + ", ".join(f"{label} {rate / rows[0][1]:.2f}x sqlite" for label, rate, _ in rows))
    finally:
        sink.stop()
        drop_db(db)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Corpus replay: every corpus message through a live gateway over SMTP; replies by class, delivered/held, lost.

    .venv/bin/python bench/corpus_replay.py                  # every message, 8 sessions
    .venv/bin/python bench/corpus_replay.py --limit 500 --sessions 16

The gateway runs as a site runs it (`schoolgate serve`, the shipped chain with a
real clamd, bench/throughput.py's site config and helpers); its next hop is a
recording aiosmtpd sink on 127.0.0.1. Each message of the mail folders of
../shared/corpora (mbox files split, their "From " envelope line dropped, line
ends made CRLF as any MTA sends them) goes in its own transaction from a unique
envelope sender, so the sink and the quarantine can say where it went. Lost =
answered 250 but neither at the sink nor in the quarantine: it must be 0.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from throughput import (PUPILS, SCHOOL, check_tools, free_port, site_config, start_clamd,  # noqa: E402
                        start_schoolgate)

# The envelope varies by message: inbound to a pupil, inbound to staff, staff writing out.
ENVELOPES = (("replay-{n}@example.org", f"pupil@{PUPILS}"),
             ("replay-{n}@example.org", f"teacher@{SCHOOL}"),
             ("replay-{n}@" + SCHOOL, "parent@example.org"))
_SENDER = re.compile(r"replay-(\d+)@")


class RecordingSink:
    """The next hop: an aiosmtpd server in a thread that accepts everything and records
    each transaction's envelope sender (SMTPUTF8 and long lines accepted, as Postfix does)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import SMTP

        self.senders: list[str] = []
        self._lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with sink._lock:
                    sink.senders.append(envelope.mail_from)
                return "250 2.0.0 sink accepted"

        class LongLines(SMTP):
            line_length_limit = 10_000_000

        class Sink(Controller):
            def factory(self):
                return LongLines(self.handler, enable_SMTPUTF8=True, data_size_limit=None)

        self.port = free_port()
        self._controller = Sink(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> "RecordingSink":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def numbers(self) -> set[int]:
        with self._lock:
            return {int(m.group(1)) for s in self.senders if (m := _SENDER.match(s))}


def corpus_cases(limit: int | None) -> list[tuple[str, bytes]]:
    from tests.filters.test_corpus_parse import corpus_messages  # the same walk as the tests

    cases = []
    for name, raw in corpus_messages():
        if raw.startswith(b"From ") and b"\n" in raw:
            raw = raw.split(b"\n", 1)[1]  # the mbox envelope line is not part of the message
        raw = re.sub(rb"\r?\n", b"\r\n", raw)
        cases.append((name, raw))
        if limit and len(cases) >= limit:
            break
    return cases


async def replay(port: int, cases: list[tuple[str, bytes]], sessions: int) -> dict[int, tuple[int, str]]:
    """Send each case; the final reply per case: (code, text), code 0 for a broken connection."""
    import aiosmtplib

    slots = asyncio.Semaphore(sessions)
    replies: dict[int, tuple[int, str]] = {}

    async def one(n: int, raw: bytes) -> None:
        mail_from, rcpt = (part.format(n=n) for part in ENVELOPES[n % len(ENVELOPES)])
        async with slots:
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=300, start_tls=False,
                                     local_hostname="client.replay")
            try:
                await client.connect()
                _errors, text = await client.sendmail(mail_from, [rcpt], raw)
                replies[n] = (250, text)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                refusal = exc.recipients[0]
                replies[n] = (refusal.code, refusal.message)
            except aiosmtplib.SMTPResponseException as exc:
                replies[n] = (exc.code, exc.message)
            except (aiosmtplib.SMTPException, OSError) as exc:
                replies[n] = (0, f"{type(exc).__name__}: {exc}")
            finally:
                try:
                    await client.quit()
                except Exception:
                    client.close()

    await asyncio.gather(*(one(n, raw) for n, (_name, raw) in enumerate(cases)))
    return replies


def quarantine_path(config: Path) -> Path:
    """Where the site config puts the quarantine (bench/throughput.py names it per server)."""
    import tomllib

    return Path(tomllib.loads(config.read_text())["quarantine"]["path"])


def quarantined(path: Path) -> dict[int, str]:
    """Message number -> status of what the quarantine holds (held, rejected copies ...)."""
    from quarantine.store import QuarantineStore

    if not (path / "index.sqlite3").exists():  # opening would make an empty one: every hold "lost"
        raise SystemExit(f"no quarantine index at {path}")
    store = QuarantineStore(path).open_sync()
    try:
        out = {}
        for held in store.list_sync(limit=1_000_000):
            match = _SENDER.match(held.mail_from or "")
            if match:
                out[int(match.group(1))] = str(held.status)
        return out
    finally:
        store.close_sync()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="replay only the first N messages")
    parser.add_argument("--sessions", type=int, default=8, help="concurrent SMTP sessions")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, quarantine)")
    args = parser.parse_args()
    missing = [m for m in check_tools(argparse.Namespace(servers=["schoolgate"], haraka=None)) if "clamd" in m]
    if missing:
        print("\n".join(missing), file=sys.stderr)
        return 2
    cases = corpus_cases(args.limit)
    work = Path(tempfile.mkdtemp(prefix="corpus-replay-"))
    sink = RecordingSink().start()
    clamd = start_clamd(work)
    port = free_port()
    config = site_config(work, port, sink.port, clamd.address, workers=1)
    server = start_schoolgate(work, config, port)
    try:
        started = time.monotonic()
        replies = asyncio.run(replay(port, cases, args.sessions))
        elapsed = time.monotonic() - started
    finally:
        server.stop()  # graceful: in-flight deliveries finish before the counts are read
        clamd.stop()
    delivered = sink.numbers()
    sink.stop()
    held = quarantined(quarantine_path(config))
    report(cases, replies, delivered, held, elapsed, args.sessions)
    if args.keep:
        print(f"work directory kept: {work}")
    lost = [n for n, (code, _) in replies.items() if code == 250 and n not in delivered and n not in held]
    return 1 if lost else 0


def report(cases, replies, delivered: set[int], held: dict[int, str], elapsed: float, sessions: int) -> None:
    by_class = collections.Counter(f"{code // 100}xx" if code else "no reply" for code, _ in replies.values())
    texts = collections.Counter((code, re.sub(r"[0-9a-f]{12,}", "ID", text.strip())[:70])
                                for code, text in replies.values() if code != 250)
    acked = [n for n, (code, _) in replies.items() if code == 250]
    lost = [n for n in acked if n not in delivered and n not in held]
    statuses = collections.Counter(held[n] for n in acked if n in held)
    print(f"corpus replay: {len(cases)} messages, {sessions} sessions, {elapsed:.0f} s "
          f"({len(cases) / elapsed:.1f} msg/s), shipped chain + clamd, next hop a recording sink")
    print("replies: " + ", ".join(f"{k} {v}" for k, v in sorted(by_class.items())))
    for (code, text), count in texts.most_common(8):
        print(f"  {count:5d} x {code} {text}")
    print(f"acknowledged 250: {len(acked)}; delivered to the sink: {len([n for n in acked if n in delivered])}; "
          f"in quarantine: {len([n for n in acked if n in held])} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))})")
    print(f"lost (250 but neither delivered nor quarantined): {len(lost)}")
    for n in lost[:10]:
        print(f"  lost: {cases[n][0]}")


if __name__ == "__main__":
    raise SystemExit(main())

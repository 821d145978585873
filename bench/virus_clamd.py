"""What a clamd scan costs, and asyncio INSTREAM client vs the `clamd` package in a thread pool.

Starts its own clamd (tests/clamd_server.py: a tiny local database, so the
numbers are transport + ClamAV's MIME/archive parsing, not signature matching
against the full daily.cvd). Prints ms per scan by message size, throughput
at the filter's concurrency, and what happens to a worker when clamd never answers.

    .venv/bin/python bench/virus_clamd.py [--messages N] [--concurrency C] [--rounds R]
"""
from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import clamd  # noqa: E402

from filters.base import FilterContext  # noqa: E402
from filters.virus import EICAR, ClamdTimeout, Options, VirusFilter  # noqa: E402
from tests.clamd_server import ClamdServer  # noqa: E402
from tests.factories import make_message  # noqa: E402

LIMIT = 32 * 1024 * 1024


def message(size: int, infected: bool = False) -> bytes:
    payload = (b"The quick brown fox jumps over the lazy dog.\n" * (size // 45 + 1))[:size]
    attachments = [("notes.txt", "text/plain", payload)]
    if infected:
        attachments.append(("eicar.com", "application/octet-stream", EICAR))
    return make_message("Report attached.", attachments=attachments)


async def async_latency(flt: VirusFilter, raw: bytes, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await flt.scan(raw)
        times.append((time.perf_counter() - started) * 1000)
    return times


def pkg_latency(client: clamd.ClamdUnixSocket, raw: bytes, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.instream(io.BytesIO(raw))
        times.append((time.perf_counter() - started) * 1000)
    return times


async def async_throughput(flt: VirusFilter, raws: list[bytes]) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(flt.scan(raw) for raw in raws))
    return len(raws) / (time.perf_counter() - started)


async def pkg_throughput(path: str, raws: list[bytes], concurrency: int) -> float:
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(concurrency) as pool:
        started = time.perf_counter()
        await asyncio.gather(*(loop.run_in_executor(
            pool, lambda r=raw: clamd.ClamdUnixSocket(path, timeout=30).instream(io.BytesIO(r)))
            for raw in raws))
        return len(raws) / (time.perf_counter() - started)


async def silent_clamd(tmp: Path) -> None:
    """clamd hung: does the deadline free the worker?"""
    import socket
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp / "silent.sock"))
    sock.listen(64)
    flt = VirusFilter(Options(clamd=f"unix:{tmp}/silent.sock", timeout=0.5), FilterContext(None, None))
    started = time.perf_counter()
    try:
        await flt.scan(b"x" * 1000)
    except ClamdTimeout:
        pass
    print(f"  asyncio client: gave up after {time.perf_counter() - started:.2f}s, socket closed, no thread held")

    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(1)
    before = threading.active_count()
    started = time.perf_counter()
    future = loop.run_in_executor(pool, lambda: clamd.ClamdUnixSocket(str(tmp / "silent.sock"), timeout=5)
                                  .instream(io.BytesIO(b"x" * 1000)))
    try:
        async with asyncio.timeout(0.5):
            await asyncio.shield(future)
    except TimeoutError:
        pass
    print(f"  clamd package: asyncio deadline hit after {time.perf_counter() - started:.2f}s, but the "
          f"worker thread is still blocked in recv() ({threading.active_count() - before} thread busy)")
    try:
        await future
    except Exception as exc:  # socket.timeout from the package's own timeout
        print(f"  clamd package: the thread came back only after {time.perf_counter() - started:.2f}s "
              f"({type(exc).__name__}); until then that pool slot is gone")
    pool.shutdown()
    sock.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clamd-bench-") as tmp:
        server = ClamdServer(Path(tmp), stream_max_length=LIMIT, max_file_size=LIMIT)
        started = time.perf_counter()
        server.start()
        print(f"clamd (local test database) ready in {time.perf_counter() - started:.2f}s")
        try:
            flt = VirusFilter(Options(clamd=server.address, max_scan_bytes=LIMIT,
                                      max_concurrent_scans=args.concurrency), FilterContext(None, None))
            pkg = clamd.ClamdUnixSocket(str(server.socket_path), timeout=30)
            print("ms per scan (median / p95), one at a time:      asyncio client | clamd package")
            for size in (2_000, 100_000, 1_000_000, 10_000_000):
                for infected in (False, True):
                    raw = message(size, infected)
                    repeat = args.repeat if size < 5_000_000 else max(3, args.repeat // 4)
                    await async_latency(flt, raw, 2)  # warm up both paths
                    pkg_latency(pkg, raw, 2)
                    a = sorted(await async_latency(flt, raw, repeat))
                    p = sorted(pkg_latency(pkg, raw, repeat))
                    label = f"{len(raw) / 1e6:6.2f} MB {'EICAR' if infected else 'clean'}"
                    print(f"  {label}: {statistics.median(a):8.2f} / {a[int(len(a) * .95) - 1]:8.2f}"
                          f"   | {statistics.median(p):8.2f} / {p[int(len(p) * .95) - 1]:8.2f}")
            raws = [message(20_000, i % 10 == 0) for i in range(args.messages)]
            # alternate the two, several rounds: the machine is shared, single runs are noisy
            a_runs, p_runs = [], []
            for _ in range(args.rounds):
                a_runs.append(await async_throughput(flt, raws))
                p_runs.append(await pkg_throughput(str(server.socket_path), raws, args.concurrency))
            print(f"throughput, {args.messages} x 20 KB messages (1 in 10 EICAR), {args.concurrency} in flight, "
                  f"median of {args.rounds} alternating rounds: asyncio {statistics.median(a_runs):.0f} msg/s | "
                  f"clamd package in {args.concurrency} threads {statistics.median(p_runs):.0f} msg/s")
            print("clamd never answers (listening socket, no reply), deadline 0.5s:")
            await silent_clamd(Path(tmp))
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())

"""CPU per message through the whole shipped chain, in one process: what a worker spends on a message.

    .venv/bin/python bench/chain_cost.py                       # news5KB, 300 scans, every filter
    .venv/bin/python bench/chain_cost.py --sizes news5KB 5KB --count 500
    .venv/bin/python bench/chain_cost.py --per-filter          # + each filter's own CPU, run alone
                                                               #   (fresh views, min of 3 rounds)
    .venv/bin/python bench/chain_cost.py --profile /tmp/p.prof # cProfile of the scans (pstats file)

The figure is process CPU time (time.process_time: every thread, the executor
included) over `Scanner.scan` of the sample, the way `schoolgate serve` builds
its Scanner: bench/throughput.py's site config (every shipped filter, the
1,760-person directory, `[offensive] cache_size = 0`, no cross-message cache),
a real clamd (tests/clamd_server.py), the quarantine store's seen store and
sender lists, and a loopback DNS for the authentication filter. CPU time is
far less disturbed by other load on the machine than wall time; clamd's own
CPU is reported apart (from /proc). Under `valgrind --tool=callgrind` the
instruction count is repeatable even on a loaded machine:

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.out \
        .venv/bin/python bench/chain_cost.py --callgrind --count 40 --rounds 2 --warmup 5
    grep -h totals: /tmp/cg.out.*      # instructions of each round's 40 scans (all threads)
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.throughput import (SCHOOLGATE, cpu_seconds, free_port, make_samples, site_config,  # noqa: E402,F401
                              start_clamd)


_CALLGRIND_C = r"""
#include <valgrind/callgrind.h>
void region_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void region_stop(const char *name) { CALLGRIND_DUMP_STATS_AT(name); CALLGRIND_STOP_INSTRUMENTATION; }
"""


def callgrind_region(work: Path):
    """(start, stop(name)) for --callgrind: callgrind client requests from a helper built with the
    system cc and valgrind's headers. Run under `valgrind --tool=callgrind --instr-atstart=no`,
    only the measured scans are instrumented (start-up runs at full speed) and each round is
    dumped with its own name, so one run gives instructions per scan without a baseline run."""
    import ctypes
    import subprocess
    source, library = work / "cg_region.c", work / "cg_region.so"
    source.write_text(_CALLGRIND_C, encoding="utf-8")
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(library), str(source)], check=True)
    helper = ctypes.CDLL(str(library))
    helper.region_stop.argtypes = [ctypes.c_char_p]
    return helper.region_start, lambda name: helper.region_stop(name.encode())


class InlineExecutor(ThreadPoolExecutor):
    """--inline: run_in_executor work runs in the calling thread, so a profile sees all of it
    and the difference to the threaded figure is what the thread hand-offs cost."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            future.set_exception(exc)
        return future


async def measure(args, work: Path) -> None:
    if args.inline:
        asyncio.get_running_loop().set_default_executor(InlineExecutor())
    elif args.threads:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(args.threads))
    from config.loader import load_settings
    from filters.message import Envelope
    from filters.scanner import Scanner
    from gateway.service import open_store
    from quarantine.sender_lists import CachedSenderLists
    from tests.dns_server import DnsServer

    samples = make_samples(work)
    region = callgrind_region(work) if args.callgrind else None
    clamd = start_clamd(work)
    dns = DnsServer({("_dmarc.example.sch.uk", "TXT"): ["v=DMARC1; p=quarantine"],
                     ("example.sch.uk", "TXT"): ["v=spf1 ip4:192.0.2.0/24 -all"]}).start()
    try:
        config = site_config(work, free_port(), free_port(), clamd.address, 1, "chain_cost",
                             dns_address=dns.address)
        if args.clamd_pool is not None:  # [virus] connection_pool (default 4)
            config.write_text(config.read_text().replace(
                "[virus]\n", f"[virus]\nconnection_pool = {args.clamd_pool}\n", 1), encoding="utf-8")
        settings = load_settings(config)
        store = await open_store(settings).open()
        started = time.process_time()
        scanner = Scanner(settings, seen=store.seen, sender_lists=CachedSenderLists(store),
                          executor=InlineExecutor() if args.inline else None)
        await scanner.self_test()
        print(f"Scanner built in {1000 * (time.process_time() - started):.0f} ms CPU; "
              f"chain: {', '.join(scanner.chain.names)}; load {os.getloadavg()[0]:.2f}")
        for label in args.sizes:
            sample = samples[label]
            # as bench/throughput.py's smtp-source: a loopback client, in [gateway] trusted_networks
            envelope = Envelope(sample.mail_from, (sample.rcpt,), "127.0.0.1", "localhost", client_trusted=True)
            first = await scanner.scan(sample.data, envelope)
            print(f"\n{label} ({sample.size:,} bytes, {sample.mail_from} -> {sample.rcpt}): "
                  f"{first.verdict.action.label} {list(first.verdict.codes)}")
            for _ in range(args.warmup):
                await scanner.scan(sample.data, envelope)
            # process CPU time as the profiler's clock: time waiting on clamd or SQLite is not counted
            profiler = cProfile.Profile(time.process_time) if args.profile else None
            per_round = []
            # --count 0: build, warm up and stop (callgrind's baseline: N scans minus none)
            for number in range(args.rounds if args.count else 0):
                clamd_before = cpu_seconds([clamd.process.pid])
                cpu0, wall0 = time.process_time(), time.perf_counter()
                if profiler:
                    profiler.enable()
                if region:
                    region[0]()
                if args.concurrency > 1:  # as a worker's [gateway] scan_concurrency slots
                    for _ in range(args.count // args.concurrency):
                        await asyncio.gather(*(scanner.scan(sample.data, envelope)
                                               for _ in range(args.concurrency)))
                else:
                    for _ in range(args.count):
                        await scanner.scan(sample.data, envelope)
                if profiler:
                    profiler.disable()
                if region:
                    region[1](f"{label}-round{number + 1}-{args.count}-scans")
                cpu = (time.process_time() - cpu0) / args.count
                wall = (time.perf_counter() - wall0) / args.count
                clamd_ms = 1000 * (cpu_seconds([clamd.process.pid]) - clamd_before) / args.count
                per_round.append(cpu)
                print(f"  {args.count} scans: {1000 * cpu:6.2f} ms CPU/msg (process), wall {1000 * wall:6.2f} ms, "
                      f"clamd {clamd_ms:.2f} ms; load {os.getloadavg()[0]:.2f}", flush=True)
            if per_round:
                print(f"  median {1000 * statistics.median(per_round):.2f} ms CPU/msg")
            if profiler:
                out = args.profile.with_name(f"{args.profile.stem}-{label}{args.profile.suffix}")
                profiler.dump_stats(str(out))
                print(f"  profile: {out}")
            if args.per_filter and args.count:
                # min of --per-filter-rounds: other load only ever adds CPU time
                parse = []
                for number in range(args.per_filter_rounds):
                    if region:
                        region[0]()
                    cpu0 = time.process_time()
                    for _ in range(args.count):
                        scanner.build_view(sample.data, envelope)
                    parse.append((time.process_time() - cpu0) / args.count)
                    if region:
                        region[1](f"{label}-parse-round{number + 1}-{args.count}")
                print(f"  {'parse (build_view)':<22} {1000 * min(parse):6.2f} ms")
                for flt, _options in scanner.filters:
                    spent = []
                    for number in range(args.per_filter_rounds):
                        # a fresh view per check, built outside the clock: the message's shared
                        # text analysis (view.analysis) is then paid by this filter, as by the
                        # first filter to ask in a scan, not memoised from the check before
                        views = [scanner.build_view(sample.data, envelope) for _ in range(args.count)]
                        if region:
                            region[0]()
                        cpu0 = time.process_time()
                        for view in views:
                            await flt.check(view)
                        spent.append((time.process_time() - cpu0) / args.count)
                        if region:
                            region[1](f"{label}-{flt.name}-round{number + 1}-{args.count}")
                        del views
                    print(f"  {flt.name:<22} {1000 * min(spent):6.2f} ms")
        await scanner.close()
        await store.close()
    finally:
        dns.stop()
        clamd.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["news5KB"], choices=["news5KB", "5KB", "200KB", "2MB"])
    parser.add_argument("--count", type=int, default=300, help="scans per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--per-filter", action="store_true", help="each filter's check() alone, CPU per message")
    parser.add_argument("--per-filter-rounds", type=int, default=3,
                        help="--per-filter: rounds of --count checks, the least CPU reported")
    parser.add_argument("--concurrency", type=int, default=1, help="scans at once (the server: scan_concurrency 4)")
    parser.add_argument("--clamd-pool", type=int, help="[virus] connection_pool (0: a connection per scan)")
    parser.add_argument("--threads", type=int, help="the default executor's threads (default: asyncio's)")
    parser.add_argument("--inline", action="store_true", help="executor work in the event loop's thread")
    parser.add_argument("--profile", type=Path, help="cProfile the measured scans into this pstats file")
    parser.add_argument("--callgrind", action="store_true",
                        help="under valgrind --tool=callgrind --instr-atstart=no: instrument only the "
                             "measured rounds (and --per-filter's), one dump each: its Ir / --count")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="schoolgate-chain-cost-"))
    try:
        asyncio.run(measure(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Memory and CPU per message of one schoolgate gateway: PSS by process and by mapping, CPU ms per message.

    .venv/bin/python bench/gateway_memory.py                  # shipped chain, workers = cores, news5KB
    .venv/bin/python bench/gateway_memory.py --chain none     # the SMTP path alone ([filters] chain = [])
    .venv/bin/python bench/gateway_memory.py --rounds 3 --count 600 --mappings 20

The gateway is started as bench/throughput.py starts it (the same site config:
every shipped filter, the 1,760-person directory, a real clamd, a loopback DNS,
no cross-message cache) and fed by `smtp-source`. Printed:

* PSS / RSS / private memory of every gateway process (supervisor and workers)
  after start and after each round, and the total PSS (the figure
  bench/throughput.py reports as the gateway's peak PSS, here sampled at rest).
  PSS splits a library's pages with every process that maps it, other users'
  Pythons of the same venv included, so on a shared machine it moves with what
  else runs; as root the distinct physical pages of the gateway's processes are
  printed too (/proc/PID/pagemap), which does not;
* with --mappings N, the N mappings holding most PSS, summed over the processes
  and grouped by file (shared libraries, model files) or kind (heap, anonymous);
* per round, CPU ms per message (utime + stime from /proc/PID/stat) of each
  gateway process and of clamd, which a loaded machine disturbs far less than
  msg/s; the load average beside it.

With --callgrind the gateway (one worker) runs under `valgrind --tool=callgrind`
with instrumentation off until the first measured round; each round is then
counted alone (callgrind_control zeroes, switches on, dumps) and printed as
instructions per message of the gateway process: a figure the other load on the
machine does not move, for A/B of the SMTP path. Fewer sessions and messages
(e.g. `--chain none --sessions 10 --count 200 --warmup 20`) keep it to minutes.
The dumps stay in the given directory for callgrind_annotate.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import shutil
import struct
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput as tp  # noqa: E402  (the bench's samples, config and process helpers)


def smaps(pid: int) -> list[tuple[str, dict[str, int]]]:
    """[(mapping name, {field: kB})] from /proc/PID/smaps; anonymous mappings are named "[anon]"."""
    out: list[tuple[str, dict[str, int]]] = []
    try:
        text = Path(f"/proc/{pid}/smaps").read_text()
    except OSError:
        return out
    current: dict[str, int] | None = None
    for line in text.splitlines():
        head = line.split(None, 5)
        if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            name = head[5].strip() if len(head) == 6 else "[anon]"
            current = {}
            out.append((name, current))
        elif current is not None and line.endswith(" kB"):
            key, value = line.split(":", 1)
            current[key] = int(value.split()[0])
    return out


def rollup(pid: int) -> dict[str, int]:
    fields: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.endswith(" kB"):
                key, value = line.split(":", 1)
                fields[key] = int(value.split()[0])
    except OSError:
        pass
    return fields


def frames(pid: int) -> set[int]:
    """The physical page frames `pid` maps (/proc/PID/pagemap; needs root, else empty)."""
    out: set[int] = set()
    try:
        maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
        with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
            for line in maps:
                parts = line.split()
                if len(parts) > 5 and parts[5] == "[vsyscall]":
                    continue
                start, end = (int(x, 16) for x in parts[0].split("-"))
                pagemap.seek(start // tp.PAGE * 8)
                for (entry,) in struct.iter_unpack("Q", pagemap.read((end - start) // tp.PAGE * 8)):
                    if entry >> 63 and entry & ((1 << 55) - 1):  # present, and the frame number shown
                        out.add(entry & ((1 << 55) - 1))
    except OSError:
        return set()
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:60]
    except OSError:
        return "?"


def memory_table(pids: list[int], title: str) -> float:
    total = 0.0
    print(f"  {title}: load {os.getloadavg()[0]:.2f}")
    for pid in pids:
        r = rollup(pid)
        private = r.get("Private_Clean", 0) + r.get("Private_Dirty", 0)
        total += r.get("Pss", 0) / 1024
        print(f"    pid {pid:>7}  PSS {r.get('Pss', 0) / 1024:7.1f} MB  RSS {r.get('Rss', 0) / 1024:7.1f} MB  "
              f"private {private / 1024:7.1f} MB  (anon {r.get('Pss_Anon', 0) / 1024:.1f}, "
              f"file {r.get('Pss_File', 0) / 1024:.1f})")
    unique = set().union(*(frames(pid) for pid in pids))
    print(f"    total PSS {total:.1f} MB" + (f"; distinct pages of these processes {len(unique) * tp.PAGE / 2**20:.1f} MB "
                                             "(shared libraries counted whole, whoever else maps them)"
                                             if unique else ""))
    return total


def mapping_table(pids: list[int], top: int, each: bool = False) -> None:
    if each and len(pids) > 1:
        for pid in pids:
            print(f"    pid {pid}:")
            mapping_table([pid], top)
        return
    pss: dict[str, float] = defaultdict(float)
    private: dict[str, float] = defaultdict(float)
    for pid in pids:
        for name, fields in smaps(pid):
            key = name if name.startswith("[") else name.rsplit("/", 2)[-2] + "/" + name.rsplit("/", 1)[-1] \
                if "/" in name else name
            pss[key] += fields.get("Pss", 0) / 1024
            private[key] += (fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)) / 1024
    print(f"    largest mappings by PSS (all {len(pids)} processes):")
    for key, value in sorted(pss.items(), key=lambda kv: -kv[1])[:top]:
        print(f"      {value:7.1f} MB PSS  {private[key]:7.1f} MB private  {key}")


def cpu_of(pid: int) -> float:
    return tp.cpu_seconds([pid])


def system_cpu_of(pids: list[int]) -> float:
    """stime alone (kernel work on the processes' behalf: sockets, futexes, fsync), summed."""
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[12])
        except OSError:
            continue
    return total / tp.CLK_TCK


def with_timeouts(text: str, seconds: float) -> str:
    """The site config with every shipped filter's `timeout` and the gateway's `scan_timeout` set to
    `seconds`: into a table the site config has, else as a new table (TOML allows a table once)."""
    from tests.factories import shipped_chain  # noqa: PLC0415
    text = text.replace("[gateway]\n", f"[gateway]\nscan_timeout = {seconds:g}\n", 1)
    for name in shipped_chain():
        if f"\n[{name}]\n" in text:
            text = text.replace(f"\n[{name}]\n", f"\n[{name}]\ntimeout = {seconds:g}\n", 1)
        else:
            text += f"\n[{name}]\ntimeout = {seconds:g}\n"
    return text


def callgrind_control(pid: int, *options: str) -> str:
    done = subprocess.run(["callgrind_control", *options, str(pid)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"callgrind_control {' '.join(options)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def callgrind_dump(pid: int, directory: Path, name: str) -> int:
    """Dump the counts since the last zeroing; the instructions (Ir) of that dump."""
    known = set(directory.glob(f"callgrind.out.{pid}*"))
    callgrind_control(pid, "-d", name)
    for _ in range(600):
        new = [p for p in directory.glob(f"callgrind.out.{pid}*") if p not in known]
        for path in new:
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("totals:"):
                    return int(line.split()[1])
        time.sleep(0.5)
    raise RuntimeError("callgrind wrote no dump")


def blast(port: int, sample, sessions: int, count: int) -> float:
    cmd = ["smtp-source", "-s", str(sessions), "-m", str(count), "-f", sample.mail_from, "-t", sample.rcpt,
           "-M", "client.bench", "-F", str(sample.path), f"127.0.0.1:{port}"]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError("smtp-source: " + done.stderr.decode(errors="replace")[-300:])
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=tp.CORES)
    parser.add_argument("--sample", default=tp.HEADLINE, choices=["news5KB", "5KB", "200KB", "2MB"])
    parser.add_argument("--count", type=int, default=600, help="messages per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=100, help="messages before the first figure")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--chain", help="comma-separated [filters] chain; 'none' = no filter (the SMTP path)")
    parser.add_argument("--event-loop", default="auto", choices=["auto", "uvloop", "asyncio"])
    parser.add_argument("--extra", action="append", default=[], help="TOML appended to the site config")
    parser.add_argument("--gateway", action="append", default=[], metavar="KEY=VALUE",
                        help="a line for the site config's [gateway] table, e.g. scan_on_loop_bytes=0")
    parser.add_argument("--mappings", type=int, default=0, help="show the N largest mappings by PSS")
    parser.add_argument("--each", action="store_true", help="the mappings of each process apart")
    parser.add_argument("--hold", type=float, default=0, help="seconds to keep the gateway up at the end")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--timeouts", type=float, metavar="SECONDS",
                        help="every shipped filter's timeout and [gateway] scan_timeout set to SECONDS, for a "
                             "measurement under valgrind only (a filter 50x slower outlasts its 5-30 s deadline)")
    parser.add_argument("--callgrind", type=Path, metavar="DIR",
                        help="run the gateway (workers = 1) under callgrind; instructions per message per round")
    args = parser.parse_args()
    if args.callgrind:
        args.workers = 1  # a supervisor re-executes itself outside valgrind
        args.callgrind.mkdir(parents=True, exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix="schoolgate-mem-"))
    sink = clamd = dns = gateway = None
    try:
        samples = tp.make_samples(work)
        sample = samples[args.sample]
        sink = tp.start_sink(work)
        clamd = tp.start_clamd(work)
        from tests.dns_server import DnsServer
        dns = DnsServer({(f"_dmarc.{tp.SCHOOL}", "TXT"): ["v=DMARC1; p=quarantine"],
                         (tp.SCHOOL, "TXT"): ["v=spf1 ip4:192.0.2.0/24 -all"]}).start()
        port = tp.free_port()
        config = tp.site_config(work, port, sink.port, clamd.address, args.workers, "schoolgate",
                                args.event_loop, dns_address=dns.address)
        if args.gateway:  # [gateway] is already a table of the site config: add to it, not after it
            config.write_text(config.read_text().replace(
                "[gateway]\n", "[gateway]\n" + "".join(f"{line}\n" for line in args.gateway), 1))
        if args.timeouts:
            config.write_text(with_timeouts(config.read_text(), args.timeouts))
        extra = "\n".join(args.extra)
        if args.chain:
            chain = [] if args.chain == "none" else [c.strip() for c in args.chain.split(",") if c.strip()]
            extra += "\n[filters]\nchain = [" + ", ".join(f'"{c}"' for c in chain) + "]\n"
        if extra:
            config.write_text(config.read_text() + "\n" + extra + "\n")
        wrapper = None
        if args.callgrind:
            wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                       f"--callgrind-out-file={args.callgrind.resolve()}/callgrind.out.%p"]
        gateway = tp.start_schoolgate(work, config, port, wrapper=wrapper,
                                      start_timeout=1800 if args.callgrind else 180)
        pids = gateway.pids()
        print(f"machine: {tp.CORES} CPUs; workers {args.workers}; chain {args.chain or 'shipped'}; "
              f"sample {sample.label} ({sample.size:,} bytes); {args.sessions} sessions; processes {pids}")
        memory_table(pids, "after start")
        if args.mappings:
            mapping_table(pids, args.mappings, args.each)
        if args.warmup:
            blast(port, sample, min(args.sessions, args.warmup), args.warmup)
            time.sleep(0.5)
            memory_table(pids, f"after {args.warmup} warm-up messages")
        for rnd in range(1, args.rounds + 1):
            if args.callgrind:
                callgrind_control(pids[0], "-z")
                callgrind_control(pids[0], "--instr=on")
            before = {pid: cpu_of(pid) for pid in pids}
            system_before = system_cpu_of(pids)
            clamd_before = cpu_of(clamd.process.pid)
            load = os.getloadavg()[0]
            seconds = blast(port, sample, args.sessions, args.count)
            time.sleep(0.2)
            if args.callgrind:
                time.sleep(1.0)  # the last decision rows are written 0.5 s later
                callgrind_control(pids[0], "--instr=off")
                instructions = callgrind_dump(pids[0], args.callgrind, f"round{rnd}")
                print(f"  round {rnd}: callgrind {instructions / args.count / 1e6:.3f} M instructions/msg "
                      f"({instructions:,} for {args.count})", flush=True)
            per = {pid: (cpu_of(pid) - before[pid]) * 1000 / args.count for pid in pids}
            clamd_ms = (cpu_of(clamd.process.pid) - clamd_before) * 1000 / args.count
            total = sum(per.values())
            system_ms = (system_cpu_of(pids) - system_before) * 1000 / args.count
            print(f"  round {rnd}: {args.count} messages in {seconds:.1f} s, load {load:.2f} -> "
                  f"{os.getloadavg()[0]:.2f}; CPU ms/msg: gateway {total:.2f} ("
                  + ", ".join(f"{pid}: {ms:.2f}" for pid, ms in per.items())
                  + f"; of it system {system_ms:.2f}) + clamd {clamd_ms:.2f} = {total + clamd_ms:.2f}", flush=True)
            memory_table(pids, f"after round {rnd}")
        if args.mappings:
            mapping_table(pids, args.mappings, args.each)
        if args.hold:
            print(f"  holding {args.hold:g} s for inspection (processes {pids})", flush=True)
            time.sleep(args.hold)
    finally:
        for server in (gateway, sink):
            if server is not None:
                server.stop()
        if clamd is not None:
            clamd.stop()
        if dns is not None:
            dns.stop()
        if args.keep:
            print(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

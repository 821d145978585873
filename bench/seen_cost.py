"""Cost of the seen store per outbound message of one (sender, recipient) pair, as the pair's
history grows (issue 19: the gateway's msg/s fell round after round in bench/throughput.py).

What personal_address does for every outbound message to a personal address, run through the
filter's own methods on a real QuarantineStore (SQLite in a temporary directory, the embedded
default): `_other_senders` (are other school senders writing to this address? the reads, which
first write what is queued) then `_remember` (this message's rows), then the queue written, as
the next message's read would. Timed per message after 0, 600, 3,000 and 12,000 earlier
messages of the same pair (every bench message is office@ -> one parent).

Those reads run only where the filter asks the store: a forward or attachment to a personal
address (the recurring-target signal) or an initial-and-surname likeness. bench/throughput.py's
newsletter (no attachment, no likeness) takes neither: for it the store is written, not read.
So a second column times the filter's whole check() of that newsletter (bench/throughput.py's
news5KB, office@ -> parent.of.ava@gmail.com) at the same levels.

The same script runs on older code (it only uses the filter's methods), so before/after is:
    git -C /work/wt/seen archive <commit> | tar -x -C /tmp/seen_base
    PYTHONPATH=/tmp/seen_base .venv/bin/python bench/seen_cost.py   # from /tmp/seen_base
It prints numbers only.

Run: .venv/bin/python bench/seen_cost.py [--measure N] [--levels 0 600 3000 12000]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.loader import load_settings  # noqa: E402
from bench.throughput import _weekly_message  # noqa: E402
from filters.base import FilterContext  # noqa: E402
from filters.directory import Directory  # noqa: E402
from filters.message import Envelope, build_view  # noqa: E402
from filters.personal_address import PersonalAddressFilter  # noqa: E402
from quarantine.store import QuarantineStore  # noqa: E402

SCHOOL = "example.sch.uk"  # bench/throughput.py's
SENDER = f"office@{SCHOOL}"
RCPT = "parent.of.ava@gmail.com"


# _remember reads only these of the view and of a recipient (filters/personal_address.py)
@dataclass(frozen=True, slots=True)
class _Sender:
    address: str


@dataclass(frozen=True, slots=True)
class _View:
    id: str
    sender: _Sender


@dataclass(frozen=True, slots=True)
class _Rcpt:
    address: str


def _rows(store: QuarantineStore) -> int:
    from sqlalchemy import func, select

    from quarantine.store import seen

    with store.engine.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(seen)).scalar_one())


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--measure", type=int, default=200, help="messages timed at each level")
    parser.add_argument("--levels", type=int, nargs="+", default=[0, 600, 3000, 12000])
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="seen-cost-"))
    directory_csv = tmp / "directory.csv"
    directory_csv.write_text(f"email,role,name,personal_email\n{SENDER},staff,School Office,\n")
    settings = load_settings(overrides={"school": {"name": "Hillside Academy", "domains": [SCHOOL]},
                                        "directory": {"csv": str(directory_csv)},
                                        "quarantine": {"path": str(tmp / "q")}}, base_dir=tmp)
    store = await QuarantineStore(tmp / "q").open()
    directory = Directory(directory_csv, {}, (SCHOOL,))
    flt = PersonalAddressFilter(settings.filter_options["personal_address"],
                                FilterContext(settings=settings, directory=directory, seen=store.seen))
    newsletter = _weekly_message().as_bytes()
    rcpt = _Rcpt(RCPT)
    done = 0

    async def message(n: int) -> None:
        await flt._other_senders(RCPT, SENDER)
        await flt._remember(_View(f"m{n}", _Sender(SENDER)), [rcpt], "")

    print(f"sqlite {store.url}; one pair {SENDER} -> {RCPT}; {args.measure} messages timed per level")
    # wall time includes each commit's fsync (the disk, and the other processes on the machine);
    # CPU time (this process: the loop and the store's thread) is the part that grew
    print(f"{'earlier messages':>17} {'reads+write: wall ms median':>28} {'mean':>7} {'CPU ms':>7} "
          f"{'newsletter check(): wall ms median':>35} {'CPU ms':>7} {'seen rows':>10}")
    for level in args.levels:
        # fill to the level the way the messages themselves would (writes only: the reads are
        # what is timed), in the store's batches
        while done < level:
            await flt._remember(_View(f"m{done}", _Sender(SENDER)), [rcpt], "")
            done += 1
        await store.flush_seen()
        times = []
        cpu = time.process_time()
        for _ in range(args.measure):
            start = time.perf_counter()
            await message(done)
            times.append((time.perf_counter() - start) * 1000)
            done += 1
        start = time.perf_counter()
        await store.flush_seen()  # the last message's rows, which the next read would write
        times[-1] += (time.perf_counter() - start) * 1000
        cpu = (time.process_time() - cpu) * 1000 / args.measure
        views = [build_view(newsletter, Envelope(SENDER, (RCPT,), "127.0.0.1", "bench"), directory)
                 for _ in range(args.measure)]
        checks = []
        check_cpu = time.process_time()
        for view in views:
            start = time.perf_counter()
            await flt.check(view)
            await store.flush_seen()  # what the next message's first read (or the timer) writes
            checks.append((time.perf_counter() - start) * 1000)
            done += 1
        check_cpu = (time.process_time() - check_cpu) * 1000 / args.measure
        print(f"{level:>17} {statistics.median(times):>28.3f} {statistics.fmean(times):>7.3f} {cpu:>7.3f} "
              f"{statistics.median(checks):>35.3f} {check_cpu:>7.3f} {_rows(store):>10}")
    await store.close()


if __name__ == "__main__":
    asyncio.run(main())

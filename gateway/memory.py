"""Hands heap memory the gateway has freed back to the operating system (glibc malloc_trim).

Why: in the soak (docs/smtp.md) a live gateway's RSS kept rising although no Python
object count did. glibc keeps freed memory inside its heaps and per-thread arenas
(the filters run on executor threads) unless the top of a heap is free, so a burst
of large messages leaves the process at its high-water mark. Calling malloc_trim(0)
on a live gateway (gdb, during a corpus replay) gave back 14 MB of 276 MB at once.
So each process trims its heap once a minute when it has handled mail since the
last trim: a few milliseconds, on an executor thread, never on the SMTP path.
Not glibc (musl, macOS): nothing to do, and nothing is done.

A debug aid rides on the same timer: with SCHOOLGATE_TRACEMALLOC=DIR in the
environment, each process runs tracemalloc and, at every tick after activity,
appends to DIR/tracemalloc-PID.txt the Python allocations grown since its first
tick (by source line), the traced total and its RSS; how the soak's RSS was
read with it is in docs/smtp.md. Off by default (tracemalloc slows allocation).
"""
from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import time
import tracemalloc
from pathlib import Path
from typing import Callable

from gateway.tasks import stop_task

log = logging.getLogger(__name__)

TRIM_SECONDS = 60.0
TRACE_ENV = "SCHOOLGATE_TRACEMALLOC"


def trim_heap() -> bool:
    """malloc_trim(0): True when the C library has it (glibc) and it was called."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    trim(0)
    return True


def _rss_mib() -> float:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return 0.0


class AllocationTrace:
    """tracemalloc in this process; each tick writes what grew since the first tick."""

    def __init__(self, directory: Path, top: int = 25) -> None:
        self.path = directory / f"tracemalloc-{os.getpid()}.txt"
        self._top = top
        self._base: tracemalloc.Snapshot | None = None
        self.ticks = 0

    @classmethod
    def from_env(cls) -> "AllocationTrace | None":
        where = os.environ.get(TRACE_ENV, "").strip()
        if not where:
            return None
        directory = Path(where)
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory)

    def start(self) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(1)  # one frame: grouped by line, cheap enough for a live soak

    def tick(self, handled: int) -> None:
        """Synchronous (an executor thread): a snapshot takes a while on a big heap."""
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>")])
        traced, peak = tracemalloc.get_traced_memory()
        lines = [f"== {time.strftime('%H:%M:%S')} handled {handled} traced {traced / 2**20:.1f} MiB "
                 f"(peak {peak / 2**20:.1f}) rss {_rss_mib():.1f} MiB"]
        if self._base is None:
            self._base = snap  # growth is measured from here: after warm-up and the first mail
        else:
            lines += [f"  {stat.size_diff / 1024:+9.0f} KiB {stat.count_diff:+8d} blocks  "
                      f"{stat.traceback[0].filename}:{stat.traceback[0].lineno}"
                      for stat in snap.compare_to(self._base, "lineno")[:self._top]]
        with self.path.open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        self.ticks += 1


class HeapTrimmer:
    """Trims every `interval` seconds while `activity()` (e.g. messages handled) has moved."""

    def __init__(self, activity: Callable[[], int], interval: float = TRIM_SECONDS) -> None:
        self._activity = activity
        self._interval = interval
        self._last = activity()
        self._task: asyncio.Task | None = None
        self.trims = 0
        self.trace = AllocationTrace.from_env()

    def start(self) -> None:
        if self.trace is not None:
            self.trace.start()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._interval)
            now = self._activity()
            if now == self._last:
                continue  # idle: nothing new was freed
            self._last = now
            try:
                if self.trace is not None:
                    await loop.run_in_executor(None, self.trace.tick, now)
                if await loop.run_in_executor(None, trim_heap):
                    self.trims += 1
            except Exception:  # never let housekeeping take the gateway down
                log.debug("malloc_trim failed", exc_info=True)

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

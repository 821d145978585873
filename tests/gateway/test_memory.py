"""gateway/memory.py: freed heap goes back to the OS; the trimmer runs only after activity."""
from __future__ import annotations

import asyncio
import ctypes.util

import pytest

from gateway.memory import HeapTrimmer, trim_heap


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_trim_gives_freed_fragmented_heap_back():
    if "libc.so" not in (ctypes.util.find_library("c") or ""):
        pytest.skip("not glibc: malloc_trim does not exist here")
    # 60 MB of malloc'd (over 512 bytes: not Python's own allocator) blocks, every
    # 64th kept: the heap top is in use, so free() alone returns almost nothing
    blocks = [bytes(2000) + n.to_bytes(4, "little") for n in range(30_000)]
    kept = blocks[::64]
    del blocks
    before = _rss_kib()
    assert trim_heap() is True
    after = _rss_kib()
    assert before - after > 20_000, (before, after)  # KiB: most of the 60 MB came back
    assert len(kept) == 469


async def test_trimmer_trims_after_activity_only():
    handled = [0]
    trimmer = HeapTrimmer(lambda: handled[0], interval=0.05)
    trimmer.start()
    try:
        await asyncio.sleep(0.3)
        assert trimmer.trims == 0  # idle: nothing to give back
        handled[0] = 5
        await asyncio.sleep(0.3)
        assert trimmer.trims == 1
    finally:
        await trimmer.stop()


async def test_allocation_trace_reports_what_grew(tmp_path, monkeypatch):
    """SCHOOLGATE_TRACEMALLOC=DIR: each tick after activity writes the growth since the first."""
    import tracemalloc

    monkeypatch.setenv("SCHOOLGATE_TRACEMALLOC", str(tmp_path))
    handled = [0]
    trimmer = HeapTrimmer(lambda: handled[0], interval=0.05)
    was_tracing = tracemalloc.is_tracing()
    trimmer.start()
    kept = []
    try:
        handled[0] = 1
        while trimmer.trace.ticks < 1:
            await asyncio.sleep(0.02)
        kept.append([bytearray(1000) for _ in range(3000)])  # ~3 MB held: a "leak" on this line
        handled[0] = 2
        while trimmer.trace.ticks < 2:
            await asyncio.sleep(0.02)
    finally:
        await trimmer.stop()
        if not was_tracing:
            tracemalloc.stop()
    [report] = tmp_path.glob("tracemalloc-*.txt")
    text = report.read_text()
    assert text.count("== ") == 2 and "handled 2" in text and "rss" in text
    first = text.split("== ")[2].splitlines()[1]  # the biggest growth, first
    assert "test_memory.py" in first and int(first.split()[0]) > 2500, text  # KiB


async def test_no_trace_without_the_variable(monkeypatch):
    monkeypatch.delenv("SCHOOLGATE_TRACEMALLOC", raising=False)
    assert HeapTrimmer(lambda: 0).trace is None

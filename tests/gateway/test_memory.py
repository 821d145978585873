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

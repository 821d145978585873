"""Hands heap memory the gateway has freed back to the operating system (glibc malloc_trim).

Why: in the soak (docs/smtp.md) a live gateway's RSS kept rising although no Python
object count did. glibc keeps freed memory inside its heaps and per-thread arenas
(the filters run on executor threads) unless the top of a heap is free, so a burst
of large messages leaves the process at its high-water mark. Calling malloc_trim(0)
on a live gateway (gdb, during a corpus replay) gave back 14 MB of 276 MB at once.
So each process trims its heap once a minute when it has handled mail since the
last trim: a few milliseconds, on an executor thread, never on the SMTP path.
Not glibc (musl, macOS): nothing to do, and nothing is done.
"""
from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from typing import Callable

log = logging.getLogger(__name__)

TRIM_SECONDS = 60.0


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


class HeapTrimmer:
    """Trims every `interval` seconds while `activity()` (e.g. messages handled) has moved."""

    def __init__(self, activity: Callable[[], int], interval: float = TRIM_SECONDS) -> None:
        self._activity = activity
        self._interval = interval
        self._last = activity()
        self._task: asyncio.Task | None = None
        self.trims = 0

    def start(self) -> None:
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
                if await loop.run_in_executor(None, trim_heap):
                    self.trims += 1
            except Exception:  # never let housekeeping take the gateway down
                log.debug("malloc_trim failed", exc_info=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

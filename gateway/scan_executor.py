"""The worker's default executor: a small message's CPU-only filter work runs on the event loop's thread.

Why: the filters hand their CPU work to `run_in_executor(None, ...)` so a long scan does not
stall the event loop. For an ordinary message that hand-off costs more than it saves: with
one worker per core there is no idle core for the thread to use, the filters' Python holds the
GIL anyway, and each hand-off is a thread wake-up, a future and a GIL switch against the loop
thread (measured: docs/performance.md, sixth pass). So while a message of at most
`[gateway] scan_on_loop_bytes` is scanned (`inline_scan`), work from the modules in
`CPU_ONLY` runs where it is submitted. Everything else keeps the thread pool: larger
messages (their scan would hold up every other session of the worker), work from any other
module (the authentication filter's DNS lookups block; an unknown filter may too), and
every call outside a scan.

Work run here cannot be interrupted by its deadline; filters/chain.py checks the time a
filter took when it returns, so an overrun is still a timeout and its `on_error` (never a
pass), and gateway/server.py does the same for the whole scan's `scan_timeout`.
"""
from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterator

# Modules whose executor work is pure CPU over the message (no I/O, no sleeping): parsing,
# and the text filters. A module not named here keeps its thread (fail safe by default).
CPU_ONLY = frozenset({
    "filters.scanner",        # Scanner.build_view: MIME parse + text extraction
    "filters.chain_letter",   # assess_text
    "filters.chain_letter_signals",  # band_keys (chain_letter hands it over by itself: its module is this one)
    "filters.offensive",
    "filters.risk",
    "filters.disclosure",
    "filters.pupil_data",     # personal_address's assess()
})

_inline = contextvars.ContextVar("schoolgate_inline_scan", default=False)


@contextmanager
def inline_scan(enabled: bool = True) -> Iterator[None]:
    """Within this block (and the tasks it starts), CPU_ONLY work runs on the calling thread."""
    token = _inline.set(enabled)
    try:
        yield
    finally:
        _inline.reset(token)


class ScanExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor (asyncio's default executor must be one) that runs CPU_ONLY work
    inline during an inline_scan; `inline` and `threaded` count the two (tests, the bench)."""

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="scan")
        self.inline = 0
        self.threaded = 0

    def submit(self, fn, /, *args, **kwargs) -> "Future | asyncio.Future":
        if _inline.get() and getattr(fn, "__module__", None) in CPU_ONLY:
            self.inline += 1
            try:
                loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            # run_in_executor wraps what submit returns with asyncio.wrap_future, which passes an
            # asyncio future through as it is. A done one is awaited without suspending; a done
            # concurrent future would instead be copied over by call_soon_threadsafe: a wake-up
            # write to the loop and one more loop pass for the awaiting task, per hand-off. Off the
            # loop's thread (no running loop) a concurrent future, as a pool gives.
            future: "Future | asyncio.Future" = loop.create_future() if loop is not None else Future()
            try:
                future.set_result(fn(*args, **kwargs))
            except StopIteration as exc:  # an asyncio future refuses it (a coroutine would turn it into this)
                error = RuntimeError(f"{fn!r} raised StopIteration")
                error.__cause__ = exc
                future.set_exception(error)
            except BaseException as exc:  # noqa: BLE001 - raised again where the work is awaited
                future.set_exception(exc)
            return future
        self.threaded += 1
        return super().submit(fn, *args, **kwargs)

"""A small message's CPU-only filter work runs on the worker's loop thread (gateway/scan_executor.py),
and a filter or scan that overruns there still fails as a timeout, never a pass."""
from __future__ import annotations

import asyncio
import contextvars
import threading
import time

from filters.base import FilterOptions
from filters.chain import FilterChain
from gateway.scan_executor import CPU_ONLY, ScanExecutor, inline_scan
from tests.factories import SCHOOL_DOMAIN, make_message, make_view

BODY = ("Dear parents,\nThe Year 7 trip to the science museum is on Friday. Please send a packed lunch "
        "and a coat. Letters are on the portal.\n") * 20


def _message() -> bytes:
    return make_message(BODY, subject="Year 7 trip").replace(b"\n", b"\r\n")


async def test_small_message_scanned_on_the_loop_thread_and_delivered(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address)
    executor = gw.gateway.executor
    assert asyncio.get_running_loop()._default_executor is executor  # what run_in_executor(None) uses
    code, text = await gw.send(_message())
    assert code == 250, text
    assert len(sink.messages) == 1
    assert executor.inline >= 3  # the parse and the text filters' work at least


async def test_chain_letter_band_keys_run_inline():
    # the executor decides by the module of the function handed over, not of the filter:
    # chain_letter hands over filters.chain_letter_signals.band_keys, which must be named
    # itself or every message with a bulk fingerprint pays a thread hand-off (tenth pass)
    import filters.chain_letter_signals as signals
    executor = ScanExecutor(max_workers=1)
    tokens = BODY.lower().split()
    try:
        with inline_scan():
            keys = await asyncio.get_running_loop().run_in_executor(executor, signals.band_keys, tokens)
        assert keys == signals.band_keys(tokens)
        assert (executor.inline, executor.threaded) == (1, 0)
    finally:
        executor.shutdown()


async def test_off_or_too_large_keeps_every_hand_off_on_threads(make_gateway, sink):
    for gateway in ({"scan_on_loop_bytes": 0}, {"scan_on_loop_bytes": 1000}):  # the message is ~4 KB
        before = len(sink.messages)
        gw = await make_gateway(next_hop=sink.address, gateway=gateway)
        executor = gw.gateway.executor
        code, text = await gw.send(_message())
        assert code == 250, text
        assert len(sink.messages) == before + 1
        assert executor.inline == 0 and executor.threaded >= 3, gateway


async def test_work_outside_cpu_only_modules_or_a_scan_keeps_its_thread():
    executor = ScanExecutor(max_workers=1)
    loop = asyncio.get_running_loop()
    here = threading.get_ident()
    try:
        with inline_scan():  # a scan, but not a CPU_ONLY module (the way a blocking DNS lookup is)
            assert await loop.run_in_executor(executor, threading.get_ident) != here
        import filters.disclosure as cpu_module  # in CPU_ONLY: inline only inside a scan
        assert cpu_module.__name__ in CPU_ONLY
        probe = _module_function(cpu_module.__name__)
        assert await loop.run_in_executor(executor, probe) != here
        with inline_scan():
            assert await loop.run_in_executor(executor, probe) == here
        with inline_scan(False):
            assert await loop.run_in_executor(executor, probe) != here
        assert (executor.inline, executor.threaded) == (1, 3)
    finally:
        executor.shutdown()


def _module_function(module: str):
    """threading.get_ident, as if defined in `module` (the executor decides by the function's module)."""
    def probe() -> int:
        return threading.get_ident()
    probe.__module__ = module
    return probe


async def test_inline_error_reaches_the_awaiting_filter():
    executor = ScanExecutor(max_workers=1)

    def fails():
        raise ValueError("bad part")
    fails.__module__ = "filters.offensive"
    try:
        with inline_scan():
            future = asyncio.get_running_loop().run_in_executor(executor, fails)
            try:
                await future
            except ValueError as exc:
                assert str(exc) == "bad part"
            else:
                raise AssertionError("the error was lost")
        assert executor.inline == 1
    finally:
        executor.shutdown()


async def test_inline_hand_off_is_awaited_without_a_loop_pass():
    # a done asyncio future: the awaiting coroutine goes on at once, with no call_soon_threadsafe
    # wake-up of the loop and no extra loop pass (a done concurrent future needs both)
    executor = ScanExecutor(max_workers=1)
    loop = asyncio.get_running_loop()
    probe = _module_function("filters.risk")
    passes = 0

    def count_pass() -> None:
        nonlocal passes
        passes += 1
    try:
        with inline_scan():
            future = loop.run_in_executor(executor, probe)
            assert isinstance(future, asyncio.Future) and future.done()
            loop.call_soon(count_pass)  # runs at the next loop pass: only if the await below yields
            assert await future == threading.get_ident()
            assert passes == 0
        # submitted from a thread with no running loop (not what run_in_executor does): a concurrent
        # future, still run where it was submitted
        with inline_scan():
            context = contextvars.copy_context()
        outside = await asyncio.to_thread(context.run, executor.submit, probe)
        assert not isinstance(outside, asyncio.Future) and outside.result() != threading.get_ident()
        assert executor.inline == 2 and executor.threaded == 0
    finally:
        executor.shutdown()


async def test_inline_stop_iteration_is_an_error_not_a_hang():
    executor = ScanExecutor(max_workers=1)

    def stops():
        raise StopIteration
    stops.__module__ = "filters.chain_letter"
    try:
        with inline_scan():
            try:
                await asyncio.get_running_loop().run_in_executor(executor, stops)
            except RuntimeError as exc:
                assert isinstance(exc.__cause__, StopIteration)
            else:
                raise AssertionError("StopIteration was swallowed")
    finally:
        executor.shutdown()


async def test_a_filter_that_overruns_without_yielding_is_a_timeout():
    class Blocks:  # what a filter's inline work looks like to the loop: no await until it is done
        name = "blocks"

        async def check(self, view):
            time.sleep(0.2)
            return []
    chain = FilterChain([(Blocks(), FilterOptions(timeout=0.05, on_error="tempfail"))])
    result = await chain.run(make_view("hello"))
    assert [(f.filter, f.kind) for f in result.failures] == [("blocks", "timeout")]


async def test_inline_filter_overrun_tempfails_end_to_end(make_gateway, sink):
    # the shipped offensive filter, run on the loop thread, against a deadline it cannot meet
    gw = await make_gateway(next_hop=sink.address, offensive={"timeout": 0.0001, "on_error": "tempfail"})
    code, text = await gw.send(_message(), "alice@example.com", [f"bob@{SCHOOL_DOMAIN}"])
    assert code == 451, text
    assert sink.messages == []
    assert gw.gateway.executor.inline >= 1


async def test_inline_scan_over_scan_timeout_is_451(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address, gateway={"scan_timeout": 0.0001})
    code, text = await gw.send(_message())
    assert code == 451 and b"4.7.1" in text, text
    assert sink.messages == []

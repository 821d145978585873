"""The chain: all filters run, failures and timeouts recorded, never a silent pass."""
from __future__ import annotations

import asyncio

import pytest

from filters.base import Action, Category, FilterOptions, Finding, Severity
from filters.chain import FilterChain
from filters.policy import Policy
from gateway.metrics import Metrics
from tests.factories import make_settings, make_view


class Finds:
    name = "finds"

    async def check(self, view):
        return [Finding("TEST_FOUND", self.name, Category.ATTACHMENT, Severity.MEDIUM, ("x",), "found x")]


class Raises:
    name = "raises"

    async def check(self, view):
        raise RuntimeError("database on fire")


class Sleeps:
    name = "sleeps"

    def __init__(self) -> None:
        self.cancelled = False

    async def check(self, view):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled = True  # asyncio.timeout cancels the work itself
            raise
        return []


@pytest.mark.parametrize("on_error,expected", [("tempfail", Action.TEMPFAIL), ("hold", Action.HOLD)])
async def test_failures_become_on_error_never_pass(on_error, expected):
    class Tags:  # a finding the policy only tags: the failures alone must make `expected`
        name = "finds"

        async def check(self, view):
            return [Finding("TEST_FOUND", self.name, Category.ATTACHMENT, Severity.LOW, ("x",), "found x")]

    sleeper = Sleeps()
    metrics = Metrics()
    chain = FilterChain([(Tags(), FilterOptions()), (Raises(), FilterOptions(on_error=on_error)),
                         (sleeper, FilterOptions(timeout=0.05, on_error=on_error))], metrics)
    view = make_view("hello")
    result = await chain.run(view)
    assert [f.code for f in result.findings] == ["TEST_FOUND"]  # the others' findings still count
    kinds = {f.filter: f.kind for f in result.failures}
    assert kinds == {"raises": "error", "sleeps": "timeout"}
    assert "database on fire" in result.failures[0].detail
    assert sleeper.cancelled
    policy = Policy(make_settings())
    assert policy.decide(view, result.findings).action == Action.TAG  # the finding alone: no more
    verdict = policy.decide(view, result.findings, result.failures)
    assert verdict.action == expected
    assert {f.filter for f in verdict.failures} == {"raises", "sleeps"}  # recorded for the reviewer
    # each failure on its own decides too (not only the pair)
    for failure in result.failures:
        assert policy.decide(view, result.findings, [failure]).action == expected
    text = metrics.render().decode()
    assert 'schoolgate_filter_failures_total{filter="raises",kind="error"} 1.0' in text
    assert 'schoolgate_filter_failures_total{filter="sleeps",kind="timeout"} 1.0' in text
    await chain.run(view)  # the second run counts into the same series (the labelled child is kept)
    text = metrics.render().decode()
    for name in ("finds", "raises", "sleeps"):
        assert f'schoolgate_filter_seconds_count{{filter="{name}"}} 2.0' in text
    assert 'schoolgate_filter_failures_total{filter="raises",kind="error"} 2.0' in text


async def test_filters_run_concurrently():
    class Slow:
        def __init__(self, name): self.name = name
        async def check(self, view):
            await asyncio.sleep(0.2)
            return []
    chain = FilterChain([(Slow(f"s{i}"), FilterOptions()) for i in range(5)])
    loop = asyncio.get_running_loop()
    start = loop.time()
    await chain.run(make_view("x"))
    assert loop.time() - start < 0.6  # 5 x 0.2 s in series would be 1 s


async def test_a_cancelled_message_is_cancelled_not_passed():
    # a client hanging up or shutdown cancels the scan: it must propagate, never become
    # "no findings, no failure" (which the policy would read as a clean message)
    sleeper = Sleeps()
    chain = FilterChain([(Finds(), FilterOptions()), (sleeper, FilterOptions(timeout=30))])
    task = asyncio.ensure_future(chain.run(make_view("hello")))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sleeper.cancelled


def test_names_are_the_run_order():
    chain = FilterChain([(Finds(), FilterOptions()), (Raises(), FilterOptions())])
    assert chain.names == ["finds", "raises"]


async def test_filters_sharing_a_timeout_each_time_out_alone():
    """One deadline per distinct timeout: each filter still over it is a timeout failure with
    its own on_error, its work is cancelled, and a filter with a longer timeout finishes."""
    class Late:
        def __init__(self, name, seconds):
            self.name, self.seconds, self.cancelled = name, seconds, False

        async def check(self, view):
            try:
                await asyncio.sleep(self.seconds)
            except asyncio.CancelledError:
                self.cancelled = True
                raise
            return [Finding("LATE_FOUND", self.name, Category.ATTACHMENT, Severity.LOW, ("x",), "late")]
    a, b, c = Late("a", 5), Late("b", 5), Late("c", 0.2)
    chain = FilterChain([(a, FilterOptions(timeout=0.1)), (Finds(), FilterOptions(timeout=0.1)),
                         (b, FilterOptions(timeout=0.1, on_error="hold")), (c, FilterOptions(timeout=2))])
    result = await chain.run(make_view("x"))
    assert [(f.filter, f.kind, f.on_error) for f in result.failures] == [
        ("a", "timeout", Action.TEMPFAIL), ("b", "timeout", Action.HOLD)]
    assert a.cancelled and b.cancelled and not c.cancelled
    assert [f.filter for f in result.findings] == ["finds", "c"]


async def test_a_deadline_and_a_cancel_together_are_a_cancel():
    """The message cancelled at the moment a filter's deadline passes: still a cancel (as
    asyncio.timeout), never a recorded timeout that the policy could act on."""
    sleeper = Sleeps()
    chain = FilterChain([(sleeper, FilterOptions(timeout=0.05))])
    task = asyncio.ensure_future(chain.run(make_view("hello")))
    loop = asyncio.get_running_loop()
    loop.call_at(loop.time() + 0.05, task.cancel)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sleeper.cancelled


async def test_a_finished_chain_leaves_no_deadline_behind():
    """Timers of a finished run are cancelled: a later run of the same chain is not cut short."""
    class Quick:
        name = "quick"

        async def check(self, view):
            await asyncio.sleep(0.02)
            return []
    chain = FilterChain([(Quick(), FilterOptions(timeout=0.15))])
    await chain.run(make_view("x"))
    await asyncio.sleep(0.1)
    result = await chain.run(make_view("x"))  # its own deadline, not the first run's
    assert result.failures == ()
    loop = asyncio.get_running_loop()
    assert all(handle.cancelled() for handle in loop._scheduled if "_expire" in repr(handle))

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

"""Runs every configured filter concurrently, each under its own deadline."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Sequence

from filters.base import Action, Filter, FilterFailure, FilterOptions, Finding
from filters.message import MessageView

log = logging.getLogger(__name__)

# `on_error` -> the floor the policy applies to every recipient. "tag" is offered only
# by filters whose Options allow it (authentication: a DNS outage must not stop mail);
# the failure is still logged, counted and recorded in the verdict.
_ON_ERROR = {"tempfail": Action.TEMPFAIL, "hold": Action.HOLD, "tag": Action.TAG}


@dataclass(frozen=True, slots=True)
class ChainResult:
    findings: tuple[Finding, ...]
    failures: tuple[FilterFailure, ...]
    timings: dict[str, float]  # filter name -> seconds


class FilterChain:
    """Collect, then decide: all filters run before the policy sees anything, so a
    reviewer gets every reason. A filter that raises or overruns its deadline is
    a FilterFailure whose `on_error` action the policy applies - never a pass."""

    def __init__(self, filters: Sequence[tuple[Filter, FilterOptions]], metrics=None) -> None:
        self._filters = list(filters)
        self._metrics = metrics

    @property
    def names(self) -> list[str]:
        return [f.name for f, _ in self._filters]

    async def _run_one(self, flt: Filter, options: FilterOptions, view: MessageView,
                       expired: set) -> tuple[list[Finding], FilterFailure | None, float]:
        started = time.perf_counter()
        failure: FilterFailure | None = None
        findings: list[Finding] = []
        on_error = _ON_ERROR[options.on_error]
        try:
            try:
                findings = list(await flt.check(view))
            except asyncio.CancelledError:
                # our deadline cancelled the filter's work (run() below); as asyncio.timeout does,
                # it is a timeout only when nothing else also cancelled this task
                task = asyncio.current_task()
                if task in expired and task.uncancel() == 0:
                    raise TimeoutError from None
                raise
            # work run on the event loop's own thread (gateway/scan_executor.py) cannot be
            # interrupted: an overrun is found when it returns, and fails all the same
            if time.perf_counter() - started > options.timeout:
                raise TimeoutError
        except TimeoutError:
            failure = FilterFailure(flt.name, "timeout", f"no answer within {options.timeout:g}s", on_error)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any bug or outage in a filter is a recorded failure
            failure = FilterFailure(flt.name, "error", f"{type(exc).__name__}: {exc}", on_error)
        elapsed = time.perf_counter() - started
        if failure is not None:
            log.error("message %s: filter %s failed (%s): %s -> %s", view.id, flt.name, failure.kind,
                      failure.detail, failure.on_error.label)
        if self._metrics is not None:
            self._metrics.observe_filter(flt.name, elapsed, failure.kind if failure else None)
        return findings, failure, elapsed

    async def run(self, view: MessageView) -> ChainResult:
        # Every filter starts now, so filters with the same `timeout` share one deadline: one
        # timer per distinct timeout cancels those still running (what an `asyncio.timeout`
        # per filter did, with a timer, a Timeout and its bookkeeping for each of ~15 filters:
        # about a third of the chain's own cost per message).
        loop = asyncio.get_running_loop()
        expired: set = set()
        tasks = [loop.create_task(self._run_one(f, o, view, expired)) for f, o in self._filters]
        groups: dict[float, list] = {}
        for (_, options), task in zip(self._filters, tasks):
            groups.setdefault(options.timeout, []).append(task)
        now = loop.time()
        timers = [loop.call_at(now + timeout, _expire, members, expired) for timeout, members in groups.items()]
        try:
            results = await asyncio.gather(*tasks)
        finally:
            for timer in timers:
                timer.cancel()
        findings: list[Finding] = []
        failures: list[FilterFailure] = []
        timings: dict[str, float] = {}
        for (flt, _), (found, failure, elapsed) in zip(self._filters, results):
            findings.extend(found)
            if failure is not None:
                failures.append(failure)
            timings[flt.name] = elapsed
        return ChainResult(tuple(findings), tuple(failures), timings)


def _expire(tasks: list, expired: set) -> None:
    """A deadline passed: cancel its filters that are still running (their work too)."""
    for task in tasks:
        if not task.done():
            expired.add(task)
            task.cancel()

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

    async def _run_one(self, flt: Filter, options: FilterOptions, view: MessageView
                       ) -> tuple[list[Finding], FilterFailure | None, float]:
        started = time.perf_counter()
        failure: FilterFailure | None = None
        findings: list[Finding] = []
        on_error = _ON_ERROR[options.on_error]
        try:
            # asyncio.timeout cancels the filter's work, not just our wait for it
            async with asyncio.timeout(options.timeout):
                findings = list(await flt.check(view))
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
        results = await asyncio.gather(*(self._run_one(f, o, view) for f, o in self._filters))
        findings: list[Finding] = []
        failures: list[FilterFailure] = []
        timings: dict[str, float] = {}
        for (flt, _), (found, failure, elapsed) in zip(self._filters, results):
            findings.extend(found)
            if failure is not None:
                failures.append(failure)
            timings[flt.name] = elapsed
        return ChainResult(tuple(findings), tuple(failures), timings)

"""One code path from raw bytes to a Verdict, shared by the SMTP server and `schoolgate scan`."""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Sequence

from config.schema import Settings
from filters.base import FilterContext, SeenStore, SenderLists, Verdict
from filters.chain import ChainResult, FilterChain
from filters.directory import Directory
from filters.extract import AttachmentExtractor
from filters.message import Envelope, MessageView, build_view
from filters.policy import Policy
from filters.registry import filter_class
from filters.text.matcher import PatternDatabase

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScanResult:
    view: MessageView
    chain: ChainResult
    verdict: Verdict


def make_directory(settings: Settings) -> Directory:
    from filters.directory import YearRule, compile_year_pattern
    cfg = settings.directory
    rule = YearRule(compile_year_pattern(cfg.year_pattern), cfg.entry_year) if cfg.year_pattern else None
    if any(s.directory for s in settings.schools):  # a trust's schools keep their own CSVs (docs/trust.md)
        from filters.tenancy import TrustDirectory, directory_paths
        return TrustDirectory(directory_paths(settings), cfg.domain_roles, tuple(settings.school.domains),
                              year_rule=rule)
    return Directory(cfg.csv, cfg.domain_roles, tuple(settings.school.domains), year_rule=rule)


class WorkerStores:
    """The seen store and sender lists of the process a Scanner runs in, bound after it was built.

    Why: `schoolgate serve` with several workers builds one Scanner before it forks
    (filters, lexicons, models, the pattern database: ~40 MB a process), so every
    worker shares those pages instead of building its own copy. The stores, though,
    are each worker's own (its database connections, its thread): each worker binds
    them once at start, before any message. Until then a filter that asks is a bug."""

    def __init__(self) -> None:
        self._seen: SeenStore | None = None
        self._lists: SenderLists | None = None
        self.seen = _BoundSeen(self)
        self.sender_lists = _BoundSenderLists(self)

    def bind(self, seen: SeenStore, sender_lists: SenderLists | None) -> None:
        self._seen, self._lists = seen, sender_lists

    def _target(self, which: str):
        target = self._seen if which == "seen" else self._lists
        if target is None:
            raise RuntimeError(f"Scanner used before its worker bound its {which} (gateway/service.py)")
        return target


class _BoundSeen:
    """A SeenStore that forwards to the worker's own (WorkerStores)."""

    def __init__(self, stores: WorkerStores) -> None:
        self._stores = stores

    async def record(self, kind: str, key: str, value: str) -> None:
        return await self._stores._target("seen").record(kind, key, value)

    async def record_many(self, rows: Sequence[tuple[str, str, str]]) -> None:
        return await self._stores._target("seen").record_many(rows)

    async def refresh_many(self, rows: Sequence[tuple[str, str, str]]) -> None:
        return await self._stores._target("seen").refresh_many(rows)

    async def distinct_values(self, kind: str, key: str, since_seconds: float) -> int:
        return await self._stores._target("seen").distinct_values(kind, key, since_seconds)

    async def has_value(self, kind: str, key: str, value: str, since_seconds: float) -> bool:
        return await self._stores._target("seen").has_value(kind, key, value, since_seconds)

    async def count(self, kind: str, key: str, since_seconds: float) -> int:
        return await self._stores._target("seen").count(kind, key, since_seconds)

    async def observe(self, kind: str, keys, value: str, since_seconds: float) -> int:
        return await self._stores._target("seen").observe(kind, keys, value, since_seconds)


class _BoundSenderLists:
    """SenderLists that forward to the worker's own (WorkerStores); none bound: no entry."""

    def __init__(self, stores: WorkerStores) -> None:
        self._stores = stores

    async def status(self, address: str, school: str = "") -> str | None:
        if self._stores._lists is None and self._stores._seen is not None:
            return None  # the worker bound a seen store and no lists (as Scanner(sender_lists=None))
        return await self._stores._target("sender lists").status(address, school)


class Scanner:
    """Builds the configured filters once; `scan()` parses once, runs the chain, decides."""

    def __init__(self, settings: Settings, *, directory: Directory | None = None,
                 seen: SeenStore | None = None, metrics=None, executor: Executor | None = None,
                 sender_lists: SenderLists | None = None, worker_stores: WorkerStores | None = None) -> None:
        """worker_stores: the stores are bound later, in the process that scans (`before_fork`)."""
        self.settings = settings
        self.worker_stores = worker_stores
        if worker_stores is not None:
            seen, sender_lists = worker_stores.seen, worker_stores.sender_lists
        self.directory = directory or make_directory(settings)
        self._executor = executor
        self._extractor = AttachmentExtractor()
        # one multi-pattern database for every filter's patterns (filters/text/matcher.py)
        self.patterns = PatternDatabase()
        context = FilterContext(settings=settings, directory=self.directory, seen=seen, metrics=metrics,
                                sender_lists=sender_lists, patterns=self.patterns)
        filters = []
        for name in settings.filters.chain:
            options = settings.filter_options[name]
            filters.append((filter_class(name)(options, context), options))
        self.patterns.compile()
        self.filters = filters
        self.chain = FilterChain(filters, metrics)
        self.policy = Policy(settings)

    @classmethod
    def before_fork(cls, settings: Settings, metrics=None) -> "Scanner":
        """A Scanner to build before forking workers; each worker then calls bind_worker()."""
        return cls(settings, metrics=metrics, worker_stores=WorkerStores())

    def bind_worker(self, seen: SeenStore, sender_lists: SenderLists | None) -> None:
        """In the worker, before any scan: its own seen store and sender lists."""
        if self.worker_stores is None:
            raise RuntimeError("bind_worker() is for a Scanner built with before_fork()")
        self.worker_stores.bind(seen, sender_lists)

    async def self_test(self) -> list[str]:
        """Each filter's start-up check. Returns warnings; raises on what must stop the start."""
        warnings: list[str] = []
        for flt, _ in self.filters:
            test = getattr(flt, "self_test", None)
            if test is not None:
                warnings.extend(await test())
        return warnings

    @property
    def signals_off(self) -> list[str]:
        """Signals the filters cannot use in this process, by design (e.g. chain_letter's
        bulk signal without a seen store, as in `schoolgate scan`): printed by scan."""
        return [signal for flt, _ in self.filters for signal in getattr(flt, "signals_off", ())]

    def annotate(self, view: MessageView, raw: bytes) -> bytes:
        """Headers filters add for the next hop (e.g. Authentication-Results),
        applied after the verdict to the bytes that will be delivered or held."""
        for flt, _ in self.filters:
            hook = getattr(flt, "annotate", None)
            if hook is not None:
                raw = hook(view, raw)
        return raw

    async def close(self) -> None:
        for flt, _ in self.filters:
            closer = getattr(flt, "close", None)
            if closer is not None:
                await closer()

    def build_view(self, raw: bytes, envelope: Envelope, message_id: str | None = None) -> MessageView:
        return build_view(raw, envelope, self.directory, extractor=self._extractor, message_id=message_id)

    async def scan(self, raw: bytes, envelope: Envelope, message_id: str | None = None) -> ScanResult:
        loop = asyncio.get_running_loop()
        # parsing and text extraction are CPU work: off the event loop
        view = await loop.run_in_executor(self._executor, self.build_view, raw, envelope, message_id)
        chain = await self.chain.run(view)
        verdict = self.policy.decide(view, chain.findings, chain.failures)
        return ScanResult(view, chain, verdict)

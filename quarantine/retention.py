"""Retention: purge what the school no longer needs, per category, on a schedule, audited with counts.

Lees Brook: "Files held on the School's network will be regularly checked and
cleared"; UK GDPR Art. 5(1)(e): kept no longer than necessary. Each decided
message (released, deleted, rejected, an incident record) is kept for the
longest period any of its categories asks (safeguarding for years, a released
ordinary hold for 30 days), counted from its last change. Its bytes, index and
recipient rows and the review rows about it (notes, alerts, marks) go; the
append-only audit stays (who did what, no content) plus one `purge` row per run
with the counts. Never purged: a hold still open (held, releasing, partially
released) and any message exported as evidence within `evidence_days`.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import and_, delete, select

from config.schema import Settings
from gateway.tasks import stop_task
from filters.base import SAFEGUARDING_CATEGORIES
from quarantine.store import QuarantineStore, Status, audit, decisions, messages, metadata, recipient_rows, seen

log = logging.getLogger(__name__)

DAY = 86400.0
OPEN = (Status.HELD, Status.RELEASING, Status.PARTIAL)
EXPORT_ACTION = "export_bundle"  # quarantine/review_store.py WebAction.EXPORT
PURGE_ACTION = "purge"
SAFEGUARDING = frozenset(str(c) for c in SAFEGUARDING_CATEGORIES)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    messages: dict[str, int] = field(default_factory=dict)  # retention class -> messages purged
    decisions: int = 0
    seen: int = 0
    kept_open: int = 0  # past their time but still open: never purged
    kept_evidence: int = 0  # past their time but exported as evidence recently

    @property
    def total(self) -> int:
        return sum(self.messages.values())

    def as_dict(self) -> dict:
        return {"messages": dict(self.messages), "decisions": self.decisions, "seen": self.seen,
                "kept_open": self.kept_open, "kept_evidence": self.kept_evidence}


def retention_class(status: str, categories: list[str], cfg) -> tuple[str, float]:
    """(class name, days) for one decided message: the longest period that applies."""
    candidates: list[tuple[float, str]] = []
    by_status = {Status.RELEASED: cfg.released_days, Status.DELETED: cfg.deleted_days,
                 Status.REJECTED: cfg.rejected_days, Status.INCIDENT: cfg.incident_days}
    candidates.append((by_status.get(status, cfg.released_days), str(status)))
    for category in categories:
        if category in cfg.by_category:
            candidates.append((cfg.by_category[category], category))
        if category in SAFEGUARDING:
            candidates.append((cfg.safeguarding_days, "safeguarding"))
    days, name = max(candidates)
    return name, days


def _review_tables() -> list:
    """Every table holding rows about one message, except the audit (kept) and messages itself."""
    return [t for t in metadata.sorted_tables
            if "message_id" in t.c and t.name not in ("audit", "messages", "decisions")]


def purge_sync(store: QuarantineStore, settings: Settings, now: float | None = None,
               dry_run: bool = False) -> PurgeResult:
    cfg = settings.retention
    now = time.time() if now is None else now
    engine = store.engine
    with engine.begin() as conn:
        exported = set(conn.execute(select(audit.c.message_id).where(and_(
            audit.c.action == EXPORT_ACTION, audit.c.at >= now - cfg.evidence_days * DAY))).scalars())
        rows = conn.execute(select(messages.c.id, messages.c.status, messages.c.categories,
                                   messages.c.updated_at, messages.c.path)).all()
    purge: list[tuple[str, str | None]] = []
    counts: Counter = Counter()
    kept_open = kept_evidence = 0
    for row in rows:
        name, days = retention_class(row.status, row.categories.split(), cfg)
        if row.updated_at > now - days * DAY:
            continue
        if row.status in OPEN:
            kept_open += 1
            continue
        if row.id in exported:
            kept_evidence += 1
            continue
        purge.append((row.id, row.path))
        counts[name] += 1
    decision_cut = now - cfg.decisions_days * DAY
    seen_cut = now - cfg.seen_days * DAY
    if dry_run:
        with engine.begin() as conn:
            n_decisions = len(conn.execute(select(decisions.c.id).where(decisions.c.at < decision_cut)).all())
            n_seen = len(conn.execute(select(seen.c.id).where(seen.c.at < seen_cut)).all())
        return PurgeResult(dict(counts), n_decisions, n_seen, kept_open, kept_evidence)
    ids = [mid for mid, _ in purge]
    with engine.begin() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for table in _review_tables():
                conn.execute(delete(table).where(table.c.message_id.in_(chunk)))
            # re-checked in the DELETE itself: a release or re-hold since the read is never purged
            conn.execute(delete(messages).where(and_(messages.c.id.in_(chunk),
                                                     messages.c.status.notin_([str(s) for s in OPEN]))))
        n_decisions = conn.execute(delete(decisions).where(decisions.c.at < decision_cut)).rowcount or 0
        n_seen = conn.execute(delete(seen).where(seen.c.at < seen_cut)).rowcount or 0
        result = PurgeResult(dict(counts), n_decisions, n_seen, kept_open, kept_evidence)
        conn.execute(audit.insert().values(at=now, actor="retention", action=PURGE_ACTION, message_id=None,
                                           reason=f"{result.total} message(s) past their retention period",
                                           detail=json.dumps(result.as_dict())))
    for _, path in purge:  # after the rows are gone: a file without a row is only an orphan, never a loss
        if path:
            (Path(store.root) / path).unlink(missing_ok=True)
    log.info("retention: purged %s", json.dumps(result.as_dict()))
    return result


async def purge(store: QuarantineStore, settings: Settings, now: float | None = None,
                dry_run: bool = False) -> PurgeResult:
    return await store.run(purge_sync, store, settings, now, dry_run)


async def _schedule(store: QuarantineStore, settings: Settings, lease=None) -> None:
    while True:
        try:
            # several nodes on one database: only the holder of the timers lease purges
            if lease is None or await lease.held():
                await purge(store, settings)
        except Exception:  # a failed purge keeps everything; tried again at the next run
            log.exception("retention purge failed; retrying in %s hours", settings.retention.check_hours)
        await asyncio.sleep(settings.retention.check_hours * 3600)


def start_retention(settings: Settings, store: QuarantineStore, lease=None) -> asyncio.Task | None:
    """The primary node's purge timer (gateway/service.py); None when retention is off.
    `lease`: quarantine.leases.Lease when several nodes share the database."""
    if not settings.retention.enabled:
        return None
    return asyncio.create_task(_schedule(store, settings, lease), name="schoolgate-retention")


async def stop_retention(task: asyncio.Task | None) -> None:
    await stop_task(task)

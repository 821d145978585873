"""The reports' own tables: each report sent, and a snapshot of the resolved config at each gateway start.

Both live on quarantine.store's `metadata`, so the store's `create_all` makes them
with the others. Snapshots let a report say what changed in the policy during its
period without keeping any message content.
"""
from __future__ import annotations

import hashlib
import json
import re
import socket
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Column, Float, Integer, String, Table, Text, insert, select
from sqlalchemy.engine import Engine

from quarantine.store import metadata

report_runs = Table(
    "report_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("trigger", String(64), nullable=False),  # "cli" or "schedule:<name>"
    Column("period", String(16), nullable=False),  # day | week | month | term | custom
    Column("start", Float, nullable=False),
    Column("end", Float, nullable=False),
    Column("format", String(8), nullable=False),
    Column("recipients", Text, nullable=False, default=""),  # who it went to (staff and governors)
    Column("ok", Boolean, nullable=False),
    Column("reply", Text, nullable=False, default=""),  # the next hop's answer
)

config_snapshots = Table(
    "config_snapshots", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("node", String(255), nullable=False, default=""),
    Column("sha256", String(64), nullable=False),
    Column("config", Text, nullable=False),  # JSON, secrets redacted; "" = same as the last one
)

# Values under these keys never go into a snapshot (or a report's diff).
_SECRET = re.compile(r"password|secret|token|private|database_url|signing_key", re.I)


def create_tables(engine: Engine) -> None:
    """Idempotent; for engines opened before this module was imported."""
    metadata.create_all(engine, tables=[report_runs, config_snapshots])


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "(redacted)" if _SECRET.search(str(k)) else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _list_files(data: Any, out: dict[str, str]) -> None:
    """Hash every list file the config points at, so an edited list shows as a change."""
    if isinstance(data, dict):
        for value in data.values():
            _list_files(value, out)
    elif isinstance(data, list):
        for value in data:
            _list_files(value, out)
    elif isinstance(data, str) and data.endswith((".txt", ".csv")) and "/" in data:
        path = Path(data)
        try:
            if path.is_file() and path.stat().st_size < 20_000_000:
                out[data] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        except OSError:
            pass


def resolved_config(settings: Any) -> dict[str, Any]:
    """The settings as the gateway runs them (filter options included), secrets redacted."""
    from config.loader import LISTS_DIR

    data = settings.model_dump(mode="json", exclude={"filter_options", "source"})
    data["filter_options"] = {name: opts.model_dump(mode="json") for name, opts in settings.filter_options.items()}
    data = _redact(data)
    files: dict[str, str] = {}
    _list_files(data, files)
    for path in sorted(Path(LISTS_DIR).rglob("*")):
        if path.is_file():
            files[f"lists/{path.relative_to(LISTS_DIR)}"] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    data["list_files"] = files
    return data


def snapshot_config_sync(engine: Engine, settings: Any, now: float | None = None) -> bool:
    """Record one gateway start with its resolved config (the text only when it changed:
    reports count starts for uptime and diff the texts). True when the config changed."""
    create_tables(engine)
    data = resolved_config(settings)
    text = json.dumps(data, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()
    with engine.begin() as conn:
        last = conn.execute(select(config_snapshots.c.sha256).where(config_snapshots.c.config != "")
                            .order_by(config_snapshots.c.id.desc()).limit(1)).first()
        changed = last is None or last.sha256 != digest
        conn.execute(insert(config_snapshots).values(at=now or time.time(), node=socket.gethostname(),
                                                     sha256=digest, config=text if changed else ""))
    return changed


def record_run_sync(engine: Engine, *, trigger: str, period: str, start: float, end: float, fmt: str,
                    recipients: list[str], ok: bool, reply: str) -> None:
    create_tables(engine)
    with engine.begin() as conn:
        conn.execute(insert(report_runs).values(at=time.time(), trigger=trigger, period=period, start=start,
                                                end=end, format=fmt, recipients=", ".join(recipients), ok=ok,
                                                reply=reply[:1000]))


def was_sent_sync(engine: Engine, trigger: str, start: float, end: float) -> bool:
    create_tables(engine)
    with engine.begin() as conn:
        return conn.execute(select(report_runs.c.id).where(
            report_runs.c.trigger == trigger, report_runs.c.start == start, report_runs.c.end == end,
            report_runs.c.ok.is_(True)).limit(1)).first() is not None


def runs_sync(engine: Engine, limit: int = 100) -> list[dict]:
    create_tables(engine)
    with engine.begin() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(report_runs).order_by(report_runs.c.id.desc()).limit(limit))]

"""The quarantine store: held bytes on disk (fsync'd), an index and an append-only audit in SQL.

Durability order (the never-lose-mail rule): bytes to a temporary file, fsync,
rename into place, fsync the directory, then the index row; only after that
may the gateway answer 250. SQLite is the embedded default; the same SQLAlchemy
Core tables run on PostgreSQL for several gateway nodes.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, TypeVar

from sqlalchemy import (Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, Text, and_,
                        bindparam, create_engine, delete, event, func, insert, or_, select, update)
from sqlalchemy.engine import Engine

from config.schema import IMPLICIT_SCHOOL_ID
from filters.base import LOCKED_CATEGORIES, Finding
from filters.errors import SchoolgateError

T = TypeVar("T")
log = logging.getLogger(__name__)

DECISION_BATCH = 256  # decision rows per transaction at most
DECISION_FLUSH_SECONDS = 0.5  # and at most this late
SEEN_BATCH = 1024  # queued seen rows (SqlSeenStore.record_many/refresh_many) per transaction at most

metadata = MetaData()

messages = Table(
    "messages", metadata,
    Column("id", String(40), primary_key=True),
    Column("received_at", Float, nullable=False, index=True),
    Column("updated_at", Float, nullable=False),
    Column("mail_from", String(320), nullable=False, index=True),
    Column("from_header", String(998), nullable=False, default=""),
    Column("subject", Text, nullable=False, default=""),
    Column("direction", String(16), nullable=False),
    Column("sender_role", String(16), nullable=False),
    Column("client_ip", String(64), nullable=False, default=""),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("path", String(512)),  # NULL: metadata-only record (e.g. a rejected virus)
    Column("status", String(24), nullable=False, index=True),
    Column("codes", Text, nullable=False, default=""),  # " CODE1 CODE2 " for LIKE search
    Column("categories", Text, nullable=False, default=""),
    Column("max_severity", Integer, nullable=False, default=0),
    Column("findings", Text, nullable=False, default="[]"),  # JSON list of Finding.as_dict
    Column("failures", Text, nullable=False, default="[]"),
    Column("alerts", Text, nullable=False, default=""),
    # the school whose copies these are, and every school owning them (" A B ": mail between two
    # schools of a trust is each one's); filters/tenancy.py, migration 0003
    Column("school_id", String(64), nullable=False, server_default=IMPLICIT_SCHOOL_ID, index=True),
    Column("schools", Text, nullable=False, server_default=f" {IMPLICIT_SCHOOL_ID} "),
)

# The highest risk level (1-5, filters/levels.py) of a stored message's findings: what
# orders the DSL's queue. A table of its own, not a column of `messages`, so an existing
# database gains it with create_all (no migration); a message with no row is level 0.
message_levels = Table(
    "message_levels", metadata,
    Column("message_id", String(40), primary_key=True),
    Column("level", Integer, nullable=False, index=True),
)

recipient_rows = Table(
    "recipients", metadata,
    Column("message_id", String(40), primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("action", String(16), nullable=False),  # the policy's action for this copy
    Column("status", String(24), nullable=False),  # held | releasing | released | deleted | rejected
    Column("updated_at", Float, nullable=False),
    Index("ix_recipients_address", "address"),
)

audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("actor", String(128), nullable=False),
    Column("action", String(32), nullable=False),
    Column("message_id", String(40), index=True),
    Column("reason", Text, nullable=False, default=""),
    Column("detail", Text, nullable=False, default="{}"),
    Column("school_id", String(64), nullable=False, server_default=IMPLICIT_SCHOOL_ID),  # "" = trust-wide
)

# One row per message the gateway decided on (delivered, held, rejected,
# tempfailed): what the reports count, without any content.
decisions = Table(
    "decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("message_id", String(40), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("sender_role", String(16), nullable=False),
    Column("action", String(16), nullable=False),
    Column("actions", Text, nullable=False, default="{}"),  # JSON {role: action} counts, no addresses
    Column("codes", Text, nullable=False, default=""),
    Column("categories", Text, nullable=False, default=""),
    Column("failures", Text, nullable=False, default=""),
    Column("size", Integer, nullable=False, default=0),
    Column("seconds", Float, nullable=False, default=0.0),
    Column("schools", Text, nullable=False, server_default=f" {IMPLICIT_SCHOOL_ID} "),  # every school it touched
)

seen = Table(
    "seen", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("key", String(256), nullable=False),
    Column("value", String(512), nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_seen_kind_key_at", "kind", "key", "at"),
)


# SqlSeenStore.refresh_many's write, built once (per message it is most of the statement's CPU):
# the later of the row's time and the queued one, since another node may have refreshed the row
# after this one was queued (SQLite's two-argument max() is PostgreSQL's greatest()).
_SAME_SEEN = and_(seen.c.kind == bindparam("k"), seen.c.key == bindparam("y"), seen.c.value == bindparam("v"))
_REFRESH_SQLITE = update(seen).where(_SAME_SEEN).values(at=func.max(seen.c.at, bindparam("t")))
_REFRESH_OTHER = update(seen).where(_SAME_SEEN).values(at=func.greatest(seen.c.at, bindparam("t")))

# Held bytes in the database (several nodes on PostgreSQL): every node can read what any node
# held, and the bytes commit in the same transaction as the index row, so the 250 waits for one
# commit (synchronous_commit on) instead of a file fsync plus a commit. Chunked so a 50 MB
# message never needs one 50 MB bytea parameter; each chunk carries its own SHA-256, checked on
# read, and the chunk count, so a lost or damaged chunk is an error, never silently short mail.
# Why not large objects or S3: see docs/multi_node.md (measured there).
message_blobs = Table(
    "message_blobs", metadata,
    Column("message_id", String(40), primary_key=True),
    Column("chunk", Integer, primary_key=True),
    Column("chunks", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
)
BLOB_CHUNK = 1 << 20

# Keys every node must share (the link-signing key): made by whichever node asks first.
site_secrets = Table(
    "site_secrets", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)
DB_PATH = "db:"
SCHEMA_LOCK = 0x5C600001  # pg_advisory_lock key: schema creation and migrations, one node at a time  # messages.path for bytes held in message_blobs


class Status(StrEnum):
    HELD = "held"
    RELEASING = "releasing"
    RELEASED = "released"
    DELETED = "deleted"
    REJECTED = "rejected"  # metadata-only record of a rejected message
    PARTIAL = "partially_released"
    # issue 21 clause 5: a report to a safeguarding channel, delivered and kept as a record for the
    # DSL (never releasable: no recipient is held)
    INCIDENT = "incident"


class ReviewAction(StrEnum):
    """Every review action writes one audit row with who, when, what and why."""

    HOLD = "hold"
    RECORD_REJECT = "record_reject"
    RECORD_INCIDENT = "record_incident"  # a delivered report to a safeguarding channel (issue 21)
    RELEASE = "release"
    RELEASE_FAILED = "release_failed"
    DELETE = "delete"
    VIEW = "view"


class StoreError(SchoolgateError):
    """The store cannot do what was asked (unknown id, nothing to release ...)."""


@dataclass(frozen=True, slots=True)
class HeldMessage:
    id: str
    received_at: float
    mail_from: str
    from_header: str
    subject: str
    direction: str
    sender_role: str
    client_ip: str
    size: int
    sha256: str
    path: str | None
    status: str
    findings: tuple[Finding, ...]
    failures: tuple[dict, ...]
    recipients: dict[str, dict] = field(default_factory=dict)  # address -> {role, action, status}
    alerts: tuple[str, ...] = ()
    school_id: str = IMPLICIT_SCHOOL_ID  # whose copies these are (filters/tenancy.py)
    schools: tuple[str, ...] = (IMPLICIT_SCHOOL_ID,)  # every school owning them

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.code for f in self.findings))

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(str(f.category) for f in self.findings))

    @property
    def locked(self) -> bool:
        """An indecent-image hold (filters/images.py): its images are never rendered,
        downloaded, released or exported, by anyone; only hashes leave (docs/images.md)."""
        return any(f.category in LOCKED_CATEGORIES for f in self.findings)

    @property
    def level(self) -> int:
        """The highest risk level (1-5) of its findings, 0 when none is graded."""
        return max((f.level for f in self.findings), default=0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "received_at": self.received_at, "mail_from": self.mail_from,
            "from": self.from_header, "subject": self.subject, "direction": self.direction,
            "sender_role": self.sender_role, "client_ip": self.client_ip, "size": self.size,
            "sha256": self.sha256, "status": self.status, "recipients": self.recipients,
            "findings": [f.as_dict() for f in self.findings], "failures": list(self.failures),
            "alerts": list(self.alerts), "school_id": self.school_id, "schools": list(self.schools),
        }


def _pack(schools: Iterable[str]) -> str:
    """(A, B) -> " A B ": LIKE '% A %' finds a school (the codes column's trick)."""
    return " " + " ".join(dict.fromkeys(s for s in schools if s)) + " "


def school_condition(column: Any, schools: Iterable[str]) -> Any:
    """SQL: a packed schools column names one of `schools`."""
    from sqlalchemy import false

    wanted = [s for s in schools if s]
    return or_(*(column.like(f"% {s} %") for s in wanted)) if wanted else false()


def _school_of(message_id: str | None) -> Any:
    """An audit row's school: its message's (a subquery, so no extra round trip); "" for rows
    about no message (logins), which only trust-wide roles see in a trust."""
    if not message_id:
        return ""
    return func.coalesce(select(messages.c.school_id).where(messages.c.id == message_id).scalar_subquery(), "")


def new_message_id(now: float | None = None) -> str:
    """Sortable by time, unguessable: 20261123T101500-3f9a1c2b7d."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now or time.time()))
    return f"{stamp}-{secrets.token_hex(5)}"


def _blob_rows(message_id: str, raw: bytes) -> list[dict[str, Any]]:
    pieces = [raw[i:i + BLOB_CHUNK] for i in range(0, len(raw), BLOB_CHUNK)] or [b""]
    return [dict(message_id=message_id, chunk=n, chunks=len(pieces), sha256=hashlib.sha256(piece).hexdigest(),
                 data=piece) for n, piece in enumerate(pieces)]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _WriteBehind:
    """Rows written together, in one transaction on the store's thread, at most
    DECISION_FLUSH_SECONDS after the first was queued or once `batch` are waiting.
    For rows that are statistics or heuristics' memory, never mail: a crash loses at most
    that interval's rows. A failed write is logged, as the callers did with its error."""

    def __init__(self, store: "QuarantineStore", write: Callable[[list[Any]], None], batch: int,
                 what: str) -> None:
        self._store, self._write, self._batch, self._what = store, write, batch, what
        self.rows: list[Any] = []
        self._timer: asyncio.Task | None = None

    async def add(self, rows: Iterable[Any]) -> None:
        self.rows.extend(rows)
        if len(self.rows) >= self._batch:
            await self.flush()
        elif self._timer is None or self._timer.done():
            self._timer = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(DECISION_FLUSH_SECONDS)
        await self.flush()

    async def flush(self) -> None:
        rows, self.rows = self.rows, []
        if rows:
            try:
                await self._store.run(self._write, rows)
            except Exception:
                log.exception("%d %s not written", len(rows), self._what)

    def stop_timer(self) -> None:
        if self._timer is not None and not self._timer.done():
            self._timer.cancel()


class SqlSeenStore:
    """SeenStore (filters/base.py) over the store's database.

    `record_many` (personal_address's targets, two or three rows for every outbound
    message) is queued and written with the other messages' rows at most
    DECISION_FLUSH_SECONDS later: its own transaction, commit, fsync and thread hand-off
    per message were the largest cost of the SMTP side left (docs/performance.md, tenth
    pass). Every read here writes what is queued first, so this process's reads see every
    row recorded before them, as before; another process (a second worker, the web UI)
    sees them up to that interval later. `record` (notify's once-only marks) stays
    immediate. `refresh_many` goes through the same queue, in order with the rest.

    No unique index on (kind, key, value): the table's rows from before refresh_many (one
    per message) would make adding one a migration that deletes data, and two nodes can
    still race to make the same row. A duplicate is harmless to every read here (EXISTS,
    count of distinct values), and the next refresh of that value folds it back into one."""

    def __init__(self, store: "QuarantineStore") -> None:
        self._store = store

    async def record(self, kind: str, key: str, value: str) -> None:
        await self._in_order(self._store._record_seen_many, [(kind, key, value, time.time(), False)])

    async def record_many(self, rows: Sequence[tuple[str, str, str]]) -> None:
        if rows:
            at = time.time()  # the time of the message, not of the write
            await self._store._seen_queue.add((kind, key, value, at, False) for kind, key, value in rows)

    async def refresh_many(self, rows: Sequence[tuple[str, str, str]]) -> None:
        if rows:
            at = time.time()
            await self._store._seen_queue.add((kind, key, value, at, True) for kind, key, value in rows)

    async def _in_order(self, fn: Callable[..., T], *args: Any) -> T:
        if self._store._seen_queue.rows:  # queued first: the store's one thread runs jobs in order
            await self._store._seen_queue.flush()
        return await self._store.run(fn, *args)

    async def distinct_values(self, kind: str, key: str, since_seconds: float) -> int:
        return await self._in_order(self._store._count_seen, kind, key, since_seconds, True)

    async def has_value(self, kind: str, key: str, value: str, since_seconds: float) -> bool:
        return await self._in_order(self._store._has_seen, kind, key, value, since_seconds)

    async def count(self, kind: str, key: str, since_seconds: float) -> int:
        return await self._in_order(self._store._count_seen, kind, key, since_seconds, False)

    async def observe(self, kind: str, keys: Sequence[str], value: str, since_seconds: float) -> int:
        return await self._in_order(self._store._observe_seen, kind, list(keys), value, since_seconds)


class QuarantineStore:
    """Files + index. Sync SQLAlchemy under the hood; async callers go through
    `run()`, which uses one worker thread so SQLite sees one writer at a time."""

    def __init__(self, root: Path, database_url: str | None = None, held_bytes: str = "auto",
                 lock_wait_seconds: float = 30.0) -> None:
        self.root = Path(root)
        # how long a write waits for another process's SQLite lock before the SMTP reply is a 4xx
        self._lock_wait = lock_wait_seconds
        self.messages_dir = self.root / "messages"
        self._tmp_dir = self.root / "tmp"
        self._url = database_url or f"sqlite:///{self.root / 'index.sqlite3'}"
        # auto: files beside an embedded SQLite index, the database when it is a server that
        # several nodes share (a file on node A is a FileNotFoundError on node B)
        self._upgrade = False
        self.upgraded: tuple[str | None, str] = (None, "")
        self.bytes_in_database = held_bytes == "database" or (
            held_bytes == "auto" and not self._url.startswith("sqlite"))
        self._engine: Engine | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.seen = SqlSeenStore(self)
        self._decision_queue = _WriteBehind(self, self._insert_decisions, DECISION_BATCH, "decision rows")
        self._seen_queue = _WriteBehind(self, self._record_seen_many, SEEN_BATCH, "seen rows")

    @classmethod
    def for_settings(cls, section: Any) -> "QuarantineStore":
        """The store a `[quarantine]` section describes (every command opens it this way)."""
        return cls(section.path, section.database_url, getattr(section, "held_bytes", "auto"),
                   getattr(section, "lock_wait_seconds", 30.0))

    # -- life cycle -------------------------------------------------------
    def open_sync(self) -> "QuarantineStore":
        self.messages_dir.mkdir(parents=True, exist_ok=True)
        self._tmp_dir.mkdir(parents=True, exist_ok=True)
        is_sqlite = self._url.startswith("sqlite")
        engine = create_engine(self._url, future=True,
                               connect_args={"timeout": self._lock_wait} if is_sqlite else {})
        if is_sqlite:
            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn, _record) -> None:  # WAL: readers (CLI, web) never block the gateway
                cursor = dbapi_conn.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=FULL")  # durability before the 250
                cursor.close()
        elif self._url.startswith("postgresql"):
            @event.listens_for(engine, "connect")
            def _durable(dbapi_conn, _record) -> None:  # a commit is on disk before the 250,
                cursor = dbapi_conn.cursor()          # whatever the server's default says
                cursor.execute("SET synchronous_commit = on")
                cursor.close()
                dbapi_conn.commit()
        if self._url.startswith("postgresql"):
            # Several nodes start at once on one database: one creates the schema, the
            # others wait for it (a session-level advisory lock), not race to CREATE TABLE.
            with engine.connect() as conn:
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({SCHEMA_LOCK})")
                try:
                    self._prepare_schema(conn)
                    conn.commit()
                except BaseException:
                    conn.rollback()
                    raise
                finally:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({SCHEMA_LOCK})")
                    conn.commit()
        else:
            with engine.begin() as conn:
                self._prepare_schema(conn)
        self._engine = engine
        return self

    def _prepare_schema(self, conn: Any) -> None:
        from quarantine.schema import prepare, upgrade

        if self._upgrade:
            self.upgraded = upgrade(conn, metadata)
        else:
            prepare(conn, metadata)

    def upgrade_sync(self) -> tuple[str | None, str]:
        """`schoolgate db upgrade`: open with migrations run (under the same lock), then close."""
        self._upgrade = True
        try:
            self.open_sync()
        finally:
            self._upgrade = False
        self.close_sync()
        return self.upgraded

    async def open(self) -> "QuarantineStore":
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quarantine-store")
        await self.run(self.open_sync)
        return self

    async def close(self) -> None:
        self._decision_queue.stop_timer()
        self._seen_queue.stop_timer()
        if self._executor is not None:
            await self.flush_decisions()
            await self._seen_queue.flush()
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def close_sync(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise StoreError("store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    @property
    def url(self) -> str:
        return self._url

    @property
    def shared_database(self) -> bool:
        """True when other nodes may use this database (anything but the embedded SQLite)."""
        return not self._url.startswith("sqlite")

    def shared_secret_sync(self, name: str) -> bytes:
        """A random key kept in the database, the same on every node; made on first use."""
        from sqlalchemy.exc import IntegrityError

        with self.engine.begin() as conn:
            value = conn.execute(select(site_secrets.c.value).where(site_secrets.c.name == name)).scalar()
        if value is not None:
            return bytes(value)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(site_secrets).values(name=name, value=secrets.token_bytes(32)))
        except IntegrityError:
            pass  # another node made it a moment ago: use theirs
        with self.engine.begin() as conn:
            return bytes(conn.execute(select(site_secrets.c.value).where(site_secrets.c.name == name)).scalar_one())

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise StoreError("store is not open")
        return self._engine

    def check_writable(self) -> None:
        """For `config check`: write, fsync and remove a probe file; touch the index."""
        probe = self._tmp_dir / f"probe-{secrets.token_hex(4)}"
        try:
            with open(probe, "wb") as handle:
                handle.write(b"probe")
                handle.flush()
                os.fsync(handle.fileno())
        finally:  # a full disk must not leave probes behind either
            probe.unlink(missing_ok=True)
        with self.engine.begin() as conn:
            conn.execute(select(func.count()).select_from(messages)).scalar_one()

    # -- writing ------------------------------------------------------------
    def _write_bytes(self, message_id: str, raw: bytes) -> Path:
        day = message_id[:8]
        target_dir = self.messages_dir / day[:4] / day[4:6]
        target_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp_dir / f"{message_id}.tmp"
        target = target_dir / f"{message_id}.eml"
        try:
            with open(tmp, "wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
            _fsync_dir(target_dir)
        except BaseException:
            # ENOSPC, EIO, a read-only remount: the caller answers 4xx and the sender retries,
            # so nothing half-written may stay behind (a partial tmp file, or a renamed file
            # whose directory entry was never made durable and has no index row)
            for leftover in (tmp, target):
                try:
                    leftover.unlink(missing_ok=True)
                except OSError as exc:  # e.g. EROFS: say so, and keep the first error
                    log.error("quarantine: could not remove %s after a failed write: %s", leftover, exc)
            raise
        return target

    def add_sync(self, *, message_id: str, raw: bytes | None, mail_from: str, from_header: str, subject: str,
                 direction: str, sender_role: str, client_ip: str, sha256: str, size: int,
                 recipients: Iterable[tuple[str, str, str]], findings: Sequence[Finding],
                 failures: Sequence[dict], alerts: Iterable[str] = (), status: Status = Status.HELD,
                 actor: str = "gateway", school_id: str = IMPLICIT_SCHOOL_ID,
                 schools: Sequence[str] = ()) -> str:
        """recipients: (address, role, action). raw None = metadata-only record. school_id: the school
        whose copies these are; schools: every school owning them (default just school_id)."""
        path = None
        if raw is not None and not self.bytes_in_database:
            path = str(self._write_bytes(message_id, raw).relative_to(self.root))
        elif raw is not None:
            path = DB_PATH + message_id
        now = time.time()
        rcpt_status = Status.HELD if status == Status.HELD else status
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(messages).values(
                    id=message_id, received_at=now, updated_at=now, mail_from=mail_from,
                    from_header=from_header[:998], subject=subject, direction=direction, sender_role=sender_role,
                    client_ip=client_ip, size=size, sha256=sha256, path=path, status=str(status),
                    codes=" " + " ".join(dict.fromkeys(f.code for f in findings)) + " ",
                    categories=" " + " ".join(dict.fromkeys(str(f.category) for f in findings)) + " ",
                    max_severity=max((int(f.severity) for f in findings), default=0),
                    findings=json.dumps([f.as_dict() for f in findings]),
                    failures=json.dumps(list(failures)), alerts=" ".join(sorted(set(alerts))),
                    school_id=school_id, schools=_pack([school_id, *schools])))
                level = max((f.level for f in findings), default=0)
                if level:
                    conn.execute(insert(message_levels).values(message_id=message_id, level=level))
                if raw is not None and self.bytes_in_database:
                    conn.execute(insert(message_blobs), _blob_rows(message_id, raw))
                for address, role, action in recipients:
                    conn.execute(insert(recipient_rows).values(
                        message_id=message_id, address=address, role=role, action=action,
                        status=str(rcpt_status), updated_at=now))
                conn.execute(insert(audit).values(
                    at=now, actor=actor,
                    action=str(ReviewAction.HOLD if status == Status.HELD else ReviewAction.RECORD_INCIDENT
                               if status == Status.INCIDENT else ReviewAction.RECORD_REJECT),
                    message_id=message_id, reason="policy", school_id=school_id, detail=json.dumps(
                        {"codes": [f.code for f in findings]})))
        except Exception:
            if path is not None and not path.startswith(DB_PATH):  # no index row: no orphan file
                (self.root / path).unlink(missing_ok=True)
            raise
        return message_id

    async def add(self, **kwargs: Any) -> str:
        return await self.run(lambda: self.add_sync(**kwargs))

    def discard_sync(self, message_id: str) -> None:
        """Undo an add whose SMTP transaction then failed (the sender will retry)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(messages.c.path).where(messages.c.id == message_id)).first()
            conn.execute(delete(recipient_rows).where(recipient_rows.c.message_id == message_id))
            conn.execute(delete(message_levels).where(message_levels.c.message_id == message_id))
            conn.execute(delete(message_blobs).where(message_blobs.c.message_id == message_id))
            conn.execute(delete(messages).where(messages.c.id == message_id))
            conn.execute(delete(audit).where(audit.c.message_id == message_id))
        if row and row.path and not row.path.startswith(DB_PATH):
            (self.root / row.path).unlink(missing_ok=True)

    async def discard(self, message_id: str) -> None:
        await self.run(self.discard_sync, message_id)

    def _decision_row(self, *, message_id: str, direction: str, sender_role: str, action: str,
                      role_actions: dict[str, int], codes: Iterable[str], categories: Iterable[str],
                      failures: Iterable[str], size: int, seconds: float,
                      schools: Iterable[str] = (IMPLICIT_SCHOOL_ID,)) -> dict[str, Any]:
        return dict(at=time.time(), message_id=message_id, direction=direction, sender_role=sender_role,
                    schools=_pack(schools),
                    action=action, actions=json.dumps(role_actions), codes=" ".join(dict.fromkeys(codes)),
                    categories=" ".join(dict.fromkeys(categories)), failures=" ".join(failures),
                    size=size, seconds=seconds)

    def _insert_decisions(self, rows: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(decisions), rows)

    async def record_decision(self, **kwargs: Any) -> None:
        """Queue one decision row; rows are written together at most DECISION_FLUSH_SECONDS
        later. Why: one transaction (one fsync) per message capped the gateway near 50 msg/s
        (bench/throughput.py profile). The rows are statistics for reports, not mail: a crash
        loses at most that interval's counts, never a message."""
        await self._decision_queue.add([self._decision_row(**kwargs)])

    async def flush_decisions(self) -> None:
        await self._decision_queue.flush()

    async def flush_seen(self) -> None:
        """Write the queued seen rows now (SqlSeenStore.record_many)."""
        await self._seen_queue.flush()

    # -- seen store -------------------------------------------------------------
    def _record_seen_many(self, rows: list[tuple[str, str, str, float, bool]]) -> None:
        """Queued seen rows (kind, key, value, time recorded, refresh) in one transaction: one
        commit and one fsync for all of them (measured ~0.5 ms CPU per commit). A refresh row
        moves its (kind, key, value)'s one row to that time instead of adding a row."""
        events = [dict(kind=kind, key=key[:256], value=value[:512], at=at)
                  for kind, key, value, at, refresh in rows if not refresh]
        latest: dict[tuple[str, str, str], float] = {}  # a batch holds many messages' repeats
        for kind, key, value, at, refresh in rows:
            if refresh:
                triple = (kind, key[:256], value[:512])
                latest[triple] = max(at, latest.get(triple, at))
        with self.engine.begin() as conn:
            if events:
                conn.execute(insert(seen), events)
            refresh = _REFRESH_SQLITE if conn.dialect.name == "sqlite" else _REFRESH_OTHER
            fresh = []
            for (kind, key, value), at in latest.items():
                moved = conn.execute(refresh, dict(k=kind, y=key, v=value, t=at)).rowcount
                if moved == 0:
                    fresh.append(dict(kind=kind, key=key, value=value, at=at))
                elif moved > 1:
                    # rows from before refresh_many (one per message) or a race between nodes:
                    # keep one, so reads over this key go back to costing its distinct values
                    same = and_(seen.c.kind == kind, seen.c.key == key, seen.c.value == value)
                    keep = select(func.min(seen.c.id)).where(same).scalar_subquery()
                    conn.execute(delete(seen).where(and_(same, seen.c.id != keep)))
            if fresh:
                conn.execute(insert(seen), fresh)

    def _observe_seen(self, kind: str, keys: list[str], value: str, since_seconds: float) -> int:
        """One row per (kind, key, value): a repeat refreshes its time instead of adding a row,
        so the count stays proportional to distinct senders, not to messages (measured: a
        row per message made each count slower than the last under a same-body burst).
        Only rows inside the window are looked up and refreshed: a key's older rows (a pupil's
        earlier messages, rate_limit.py's values being message ids) then cost nothing until
        retention removes them; a value back after the window gets a new row, which no read
        can tell from a refreshed one (both count once, only inside the window)."""
        if not keys:
            return 0
        now = time.time()
        keys = list(dict.fromkeys(k[:256] for k in keys))
        value = value[:512]
        same = and_(seen.c.kind == kind, seen.c.key.in_(keys), seen.c.value == value,
                    seen.c.at >= now - since_seconds)
        with self.engine.begin() as conn:  # one transaction, one fsync, for all of a message's keys
            present = set(conn.execute(select(seen.c.key).where(same)).scalars())
            if present:
                conn.execute(update(seen).where(and_(same, seen.c.key.in_(present))).values(at=now))
            fresh = [k for k in keys if k not in present]
            if fresh:
                conn.execute(insert(seen), [dict(kind=kind, key=k, value=value, at=now) for k in fresh])
            counts = conn.execute(
                select(func.count(func.distinct(seen.c.value))).select_from(seen)
                .where(and_(seen.c.kind == kind, seen.c.key.in_(keys), seen.c.at >= now - since_seconds))
                .group_by(seen.c.key)).scalars().all()
        return max(counts, default=0)

    def _has_seen(self, kind: str, key: str, value: str, since_seconds: float) -> bool:
        since = time.time() - since_seconds
        with self.engine.begin() as conn:
            return bool(conn.execute(select(select(seen.c.id).where(and_(
                seen.c.kind == kind, seen.c.key == key[:256], seen.c.value == value[:512],
                seen.c.at >= since)).exists())).scalar_one())

    def _count_seen(self, kind: str, key: str, since_seconds: float, distinct: bool) -> int:
        since = time.time() - since_seconds
        column = func.count(func.distinct(seen.c.value)) if distinct else func.count()
        with self.engine.begin() as conn:
            return int(conn.execute(select(column).select_from(seen).where(
                and_(seen.c.kind == kind, seen.c.key == key[:256], seen.c.at >= since))).scalar_one())

    # -- reading ---------------------------------------------------------------
    def _row_to_held(self, row: Any, rcpts: dict[str, dict]) -> HeldMessage:
        return HeldMessage(
            id=row.id, received_at=row.received_at, mail_from=row.mail_from, from_header=row.from_header,
            subject=row.subject, direction=row.direction, sender_role=row.sender_role,
            client_ip=row.client_ip, size=row.size, sha256=row.sha256, path=row.path, status=row.status,
            findings=tuple(Finding.from_dict(f) for f in json.loads(row.findings)),
            failures=tuple(json.loads(row.failures)), recipients=rcpts,
            alerts=tuple(a for a in row.alerts.split() if a), school_id=row.school_id,
            schools=tuple(row.schools.split()))

    def _recipients_of(self, conn: Any, ids: list[str]) -> dict[str, dict[str, dict]]:
        out: dict[str, dict[str, dict]] = {i: {} for i in ids}
        if not ids:
            return out
        for r in conn.execute(select(recipient_rows).where(recipient_rows.c.message_id.in_(ids))):
            out[r.message_id][r.address] = {"role": r.role, "action": r.action, "status": r.status}
        return out

    def get_sync(self, message_id: str) -> HeldMessage:
        with self.engine.begin() as conn:
            row = conn.execute(select(messages).where(messages.c.id == message_id)).first()
            if row is None:
                raise StoreError(f"no quarantined message with id {message_id}")
            return self._row_to_held(row, self._recipients_of(conn, [message_id])[message_id])

    async def get(self, message_id: str) -> HeldMessage:
        return await self.run(self.get_sync, message_id)

    def raw_sync(self, held: HeldMessage) -> bytes:
        if not held.path:
            raise StoreError(f"message {held.id} was recorded without its content")
        if held.path.startswith(DB_PATH):
            return self._read_blob(held.id)
        return (self.root / held.path).read_bytes()

    def _read_blob(self, message_id: str) -> bytes:
        with self.engine.begin() as conn:
            rows = conn.execute(select(message_blobs).where(message_blobs.c.message_id == message_id)
                                .order_by(message_blobs.c.chunk)).all()
        if not rows or len(rows) != rows[0].chunks or [r.chunk for r in rows] != list(range(len(rows))):
            raise StoreError(f"message {message_id}: its held bytes are incomplete in the database")
        for row in rows:
            if hashlib.sha256(row.data).hexdigest() != row.sha256:
                raise StoreError(f"message {message_id}: chunk {row.chunk} of its held bytes fails its "
                                 f"SHA-256 check")
        return b"".join(bytes(r.data) for r in rows)

    def list_sync(self, *, status: str | None = None, category: str | None = None, sender: str | None = None,
                  recipient: str | None = None, since: float | None = None, until: float | None = None,
                  subject: str | None = None, limit: int = 100, offset: int = 0,
                  newest_first: bool = True, schools: Iterable[str] | None = None) -> list[HeldMessage]:
        """schools: only rows one of these schools owns (None: every school)."""
        query = select(messages)
        conditions = []
        if schools is not None:
            conditions.append(school_condition(messages.c.schools, schools))
        if status:
            conditions.append(messages.c.status == status)
        if category:
            conditions.append(or_(messages.c.categories.like(f"% {category} %"),
                                  messages.c.codes.like(f"% {category.upper()} %")))
        if sender:
            conditions.append(messages.c.mail_from.like(f"%{sender.lower()}%"))
        if subject:
            conditions.append(messages.c.subject.like(f"%{subject}%"))
        if since is not None:
            conditions.append(messages.c.received_at >= since)
        if until is not None:
            conditions.append(messages.c.received_at < until)
        if recipient:
            sub = select(recipient_rows.c.message_id).where(recipient_rows.c.address.like(f"%{recipient.lower()}%"))
            conditions.append(messages.c.id.in_(sub))
        if conditions:
            query = query.where(and_(*conditions))
        order = messages.c.received_at.desc() if newest_first else messages.c.received_at.asc()
        query = query.order_by(order, messages.c.id).limit(limit).offset(offset)
        with self.engine.begin() as conn:
            rows = conn.execute(query).all()
            rcpts = self._recipients_of(conn, [r.id for r in rows])
            return [self._row_to_held(r, rcpts[r.id]) for r in rows]

    def audit_sync(self, message_id: str | None = None, limit: int = 1000) -> list[dict]:
        query = select(audit).order_by(audit.c.id)
        if message_id:
            query = query.where(audit.c.message_id == message_id)
        with self.engine.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(query.limit(limit))]

    def write_audit_sync(self, actor: str, action: ReviewAction, message_id: str | None, reason: str,
                         detail: dict | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(audit).values(at=time.time(), actor=actor, action=str(action),
                                              message_id=message_id, reason=reason,
                                              school_id=_school_of(message_id),
                                              detail=json.dumps(detail or {})))

    # -- state changes ----------------------------------------------------------
    def claim_for_release_sync(self, message_id: str, addresses: Sequence[str] | None) -> list[str]:
        """Atomically move held recipients to 'releasing'. Returns the claimed ones:
        a second, concurrent release finds nothing to claim (exactly once)."""
        now = time.time()
        with self.engine.begin() as conn:
            if conn.execute(select(messages.c.id).where(messages.c.id == message_id)).first() is None:
                raise StoreError(f"no quarantined message with id {message_id}")
            held = [r.address for r in conn.execute(select(recipient_rows.c.address).where(and_(
                recipient_rows.c.message_id == message_id, recipient_rows.c.status == Status.HELD)))]
            wanted = [a for a in held if addresses is None or a in {x.lower() for x in addresses}]
            claimed = []
            for address in wanted:
                result = conn.execute(update(recipient_rows).where(and_(
                    recipient_rows.c.message_id == message_id, recipient_rows.c.address == address,
                    recipient_rows.c.status == Status.HELD)).values(status=str(Status.RELEASING), updated_at=now))
                if result.rowcount == 1:
                    claimed.append(address)
            return claimed

    def finish_release_sync(self, message_id: str, addresses: Sequence[str], ok: bool, actor: str,
                            reason: str, detail: dict) -> None:
        now = time.time()
        new_status = Status.RELEASED if ok else Status.HELD
        with self.engine.begin() as conn:
            for address in addresses:
                conn.execute(update(recipient_rows).where(and_(
                    recipient_rows.c.message_id == message_id, recipient_rows.c.address == address,
                    recipient_rows.c.status == Status.RELEASING)).values(status=str(new_status), updated_at=now))
            self._refresh_status(conn, message_id, now)
            conn.execute(insert(audit).values(
                at=now, actor=actor, action=str(ReviewAction.RELEASE if ok else ReviewAction.RELEASE_FAILED),
                message_id=message_id, reason=reason, school_id=_school_of(message_id),
                detail=json.dumps({"recipients": list(addresses), **detail})))

    def _refresh_status(self, conn: Any, message_id: str, now: float) -> None:
        statuses = [r.status for r in conn.execute(
            select(recipient_rows.c.status).where(recipient_rows.c.message_id == message_id))]
        if not statuses:
            return
        if all(s == Status.RELEASED for s in statuses):
            status = Status.RELEASED
        elif all(s == Status.DELETED for s in statuses):
            status = Status.DELETED
        elif any(s == Status.RELEASED for s in statuses) and not any(s == Status.HELD for s in statuses):
            status = Status.RELEASED if not any(s == Status.RELEASING for s in statuses) else Status.RELEASING
        elif any(s == Status.RELEASED for s in statuses):
            status = Status.PARTIAL
        elif any(s == Status.RELEASING for s in statuses):
            status = Status.RELEASING
        else:
            status = Status.HELD
        conn.execute(update(messages).where(messages.c.id == message_id).values(status=str(status), updated_at=now))

    def delete_sync(self, message_id: str, actor: str, reason: str) -> None:
        """Delete the held bytes; the index row and audit stay (what happened is kept)."""
        now = time.time()
        with self.engine.begin() as conn:
            row = conn.execute(select(messages).where(messages.c.id == message_id)).first()
            if row is None:
                raise StoreError(f"no quarantined message with id {message_id}")
            if row.status in (Status.DELETED, Status.RELEASED, Status.RELEASING):
                raise StoreError(f"message {message_id} is {row.status}; nothing to delete")
            # Decided in the UPDATE itself, not by the read above: a release may have claimed
            # copies since (the claim marks recipients, not the message row), and deleting the
            # bytes under it would leave those copies 'releasing' for ever or audit a delete of
            # mail that went out. The UPDATE takes the write lock, so no claim slips in after it.
            releasing = select(recipient_rows.c.address).where(and_(
                recipient_rows.c.message_id == message_id, recipient_rows.c.status == Status.RELEASING))
            done = conn.execute(update(messages).where(and_(
                messages.c.id == message_id,
                messages.c.status.notin_([str(Status.DELETED), str(Status.RELEASED), str(Status.RELEASING)]),
                ~releasing.exists())).values(status=str(Status.DELETED), path=None, updated_at=now))
            if done.rowcount != 1:
                raise StoreError(f"message {message_id} is being released or was released; nothing deleted")
            conn.execute(update(recipient_rows).where(and_(recipient_rows.c.message_id == message_id,
                                                       recipient_rows.c.status == Status.HELD))
                         .values(status=str(Status.DELETED), updated_at=now))
            conn.execute(delete(message_blobs).where(message_blobs.c.message_id == message_id))
            conn.execute(insert(audit).values(at=now, actor=actor, action=str(ReviewAction.DELETE),
                                              message_id=message_id, reason=reason, detail="{}",
                                              school_id=row.school_id))
        if row.path and not row.path.startswith(DB_PATH):
            (self.root / row.path).unlink(missing_ok=True)



# The review tables (users, sessions, notes ...) share this metadata: importing
# them here means every open_sync() creates them too.
import quarantine.review_store  # noqa: E402,F401
import quarantine.report_tables  # noqa: E402,F401  (reports sent, config snapshots)
import quarantine.feedback  # noqa: E402,F401  (false-positive terms, the site allowlist)
import quarantine.leases  # noqa: E402,F401  (which node runs the timers)
import quarantine.escalation  # noqa: E402,F401  (escalation runs)

"""The review side's tables and queries: users, sessions, seen marks, notes, false positives,
sender lists, release requests, DSL alerts, single-use link tokens, and the queue/audit searches.

The tables live on the same `metadata` as quarantine.store, so one `create_all`
makes them all and they share the store's engine (SQLite or PostgreSQL).
Every function here is synchronous; async callers go through `store.run()`.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Iterable, Sequence

from sqlalchemy import (Boolean, Column, Float, Index, Integer, String, Table, Text, and_, delete, func, insert,
                        not_, or_, select, update)
from sqlalchemy.exc import IntegrityError

from config.schema import IMPLICIT_SCHOOL_ID
from filters.base import SAFEGUARDING_CATEGORIES
from quarantine.store import (QuarantineStore, _school_of, audit, message_levels, messages, metadata, recipient_rows,
                              school_condition)

users = Table(
    "users", metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("email", String(320), nullable=False, default=""),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # the account's schools (" A B "); empty: the one school of a single-school config, none in a
    # trust (trust-wide roles see every school whatever this says): quarantine/access.py
    Column("schools", Text, nullable=False, server_default=""),
)

# The cookie carries a random token; only its SHA-256 is stored, so a leaked
# database does not hand out live sessions.
sessions = Table(
    "sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user", String(64), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
)

seen_marks = Table(
    "review_seen", metadata,
    Column("message_id", String(40), primary_key=True),
    Column("user", String(64), primary_key=True),
    Column("at", Float, nullable=False),
)

notes = Table(
    "review_notes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(40), nullable=False, index=True),
    Column("user", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("text", Text, nullable=False),
)

# Per finding code: feeds the reports' false-positive rate.
false_positives = Table(
    "false_positives", metadata,
    Column("message_id", String(40), primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("user", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("reason", Text, nullable=False, default=""),
)

TRUST_ENTRY = ""  # sender_lists.school of an entry covering every school's mail

sender_lists = Table(
    "sender_lists", metadata,
    Column("address", String(320), primary_key=True),
    # the school whose mail the entry covers (docs/trust.md); "" = the trust's entry, every school's
    # mail (a trust-wide role's, and every entry of a single-school site). Migration 0004.
    Column("school", String(64), primary_key=True, default="", server_default=""),
    Column("kind", String(8), nullable=False),  # allow | block
    Column("user", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("reason", Text, nullable=False, default=""),
)

# When an allow/block entry stops applying (none: never). A table of its own so an
# existing store needs no column migration.
sender_list_expiry = Table(
    "sender_list_expiry", metadata,
    Column("address", String(320), primary_key=True),
    Column("school", String(64), primary_key=True, default="", server_default=""),
    Column("expires_at", Float, nullable=False),
)

release_requests = Table(
    "release_requests", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(40), nullable=False, index=True),
    Column("requester", String(320), nullable=False),
    Column("at", Float, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("status", String(16), nullable=False, default="pending"),  # pending | approved | declined
    Column("decided_by", String(64)),
    Column("decided_at", Float),
)

dsl_alerts = Table(
    "dsl_alerts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(40), nullable=False, index=True),
    Column("sent_at", Float, nullable=False),
    Column("why", String(32), nullable=False, default="safeguarding"),  # safeguarding | escalated
    Column("escalated_at", Float),
    Column("acked_by", String(64)),
    Column("acked_at", Float),
    Column("school_id", String(64), nullable=False, server_default=IMPLICIT_SCHOOL_ID),
)

# Single-use links (digest actions, release requests): the token's id once used.
used_tokens = Table(
    "used_tokens", metadata,
    Column("jti", String(64), primary_key=True),
    Column("at", Float, nullable=False),
)

# A DSL's reasoned access to a safeguarding hold's content, per session.
access_grants = Table(
    "access_grants", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("message_id", String(40), primary_key=True),
    Column("at", Float, nullable=False),
)

# Local tokens for `schoolgate quarantine ... --as NAME` (made by `schoolgate user token`,
# which asks for the password): the CLI's equivalent of a session; only the hash is kept.
cli_tokens = Table(
    "cli_tokens", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user", String(64), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

# Safeguarding cases (quarantine/cases.py): the DSL's record per safeguarding hold; no row = "new".
cases = Table(
    "safeguarding_cases", metadata,
    Column("message_id", String(40), primary_key=True),
    Column("status", String(8), nullable=False, default="new"),
    Column("action_taken", Text, nullable=False, default=""),
    Column("outcome", Text, nullable=False, default=""),
    Column("verdict", String(16), nullable=False, default=""),
    Column("updated_by", String(64), nullable=False, default=""),
    Column("updated_at", Float, nullable=False),
    Column("closed_at", Float),
)

# Which holds the reviewer digest has already covered.
digested = Table(
    "digested", metadata,
    Column("message_id", String(40), primary_key=True),
    Column("at", Float, nullable=False),
)

Index("ix_dsl_alerts_open", dsl_alerts.c.acked_at, dsl_alerts.c.escalated_at)


class WebAction(StrEnum):
    """Review actions beyond the store's own (ReviewAction); each is one audit row."""

    VIEW = "view"
    VIEW_SAFEGUARDING = "view_safeguarding"
    DOWNLOAD = "download_attachment"
    EXPORT = "export_bundle"
    NOTE = "note"
    FALSE_POSITIVE = "false_positive"
    ALLOW_SENDER = "allow_sender"
    BLOCK_SENDER = "block_sender"
    ESCALATE = "escalate"
    MARK_SEEN = "mark_seen"
    REQUEST_RELEASE = "request_release"
    DECLINE_REQUEST = "decline_request"
    DSL_ACK = "dsl_ack"
    DSL_ESCALATED = "dsl_escalated_to_deputy"
    NOTIFY = "notify"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    USER_ADD = "user_add"
    USER_PASSWD = "user_passwd"
    USER_DISABLE = "user_disable"
    USER_TOKEN = "user_token"
    USER_ENABLE = "user_enable"
    USER_ROLE = "user_role"
    REMOVE_SENDER = "remove_sender"


SAFEGUARDING = tuple(sorted(str(c) for c in SAFEGUARDING_CATEGORIES))

# The message's risk level (0 when it has none): the DSL's queue puts level 5 first and,
# within a level, the oldest first (the longest-waiting pupil is seen next).
_LEVEL = func.coalesce(select(message_levels.c.level).where(message_levels.c.message_id == messages.c.id)
                       .scalar_subquery(), 0)

SORTS = {
    "level": (_LEVEL.desc(), messages.c.received_at.asc()),
    "newest": (messages.c.received_at.desc(),),
    "oldest": (messages.c.received_at.asc(),),
    "severity": (messages.c.max_severity.desc(), messages.c.received_at.desc()),
    "sender": (messages.c.mail_from.asc(), messages.c.received_at.desc()),
    "subject": (messages.c.subject.asc(), messages.c.received_at.desc()),
}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _safeguarding_condition():
    return or_(*[messages.c.categories.like(f"% {c} %") for c in SAFEGUARDING])


@dataclass(frozen=True, slots=True)
class QueueQuery:
    status: str | None = "held"
    category: str | None = None
    sender: str | None = None
    recipient: str | None = None
    subject: str | None = None
    since: float | None = None
    until: float | None = None
    direction: str | None = None
    sort: str = "newest"
    page: int = 1
    per_page: int = 50
    include_safeguarding: bool = False
    only_safeguarding: bool = False
    schools: tuple[str, ...] | None = None  # the account's scope (quarantine/access.py); None: every school


class ReviewStore:
    """The review tables over a QuarantineStore's engine."""

    def __init__(self, store: QuarantineStore) -> None:
        self.store = store

    @property
    def engine(self):
        return self.store.engine

    async def run(self, fn, *args: Any):
        return await self.store.run(fn, *args)

    def audit(self, actor: str, action: str, message_id: str | None, reason: str = "",
              detail: dict | None = None) -> None:
        # the store types this as ReviewAction; any StrEnum value is written as its text
        self.store.write_audit_sync(actor, action, message_id, reason, detail)  # type: ignore[arg-type]

    # -- queue -----------------------------------------------------------------
    def _queue_conditions(self, q: QueueQuery) -> list:
        cond: list = []
        if q.schools is not None:
            cond.append(school_condition(messages.c.schools, q.schools))
        if q.status:
            cond.append(messages.c.status == q.status)
        else:
            cond.append(messages.c.status != "rejected")
        if q.category:
            cond.append(messages.c.categories.like(f"% {q.category} %"))
        if q.sender:
            like = f"%{q.sender.lower()}%"
            cond.append(or_(func.lower(messages.c.mail_from).like(like), func.lower(messages.c.from_header).like(like)))
        if q.subject:
            cond.append(func.lower(messages.c.subject).like(f"%{q.subject.lower()}%"))
        if q.direction:
            cond.append(messages.c.direction == q.direction)
        if q.since is not None:
            cond.append(messages.c.received_at >= q.since)
        if q.until is not None:
            cond.append(messages.c.received_at < q.until)
        if q.recipient:
            sub = select(recipient_rows.c.message_id).where(
                func.lower(recipient_rows.c.address).like(f"%{q.recipient.lower()}%"))
            cond.append(messages.c.id.in_(sub))
        if q.only_safeguarding:
            cond.append(_safeguarding_condition())
        elif not q.include_safeguarding:
            cond.append(not_(_safeguarding_condition()))
        return cond

    def queue_sync(self, q: QueueQuery, user: str) -> tuple[list, int]:
        """(page of HeldMessage with .seen_by, total matching)."""
        cond = self._queue_conditions(q)
        where = and_(*cond) if cond else True
        order = SORTS.get(q.sort, SORTS["newest"])
        page = max(1, q.page)
        with self.engine.begin() as conn:
            total = int(conn.execute(select(func.count()).select_from(messages).where(where)).scalar_one())
            rows = conn.execute(select(messages).where(where).order_by(*order, messages.c.id)
                                .limit(q.per_page).offset((page - 1) * q.per_page)).all()
            ids = [r.id for r in rows]
            rcpts = self.store._recipients_of(conn, ids)
            seen_by: dict[str, list[str]] = {i: [] for i in ids}
            if ids:
                for r in conn.execute(select(seen_marks).where(seen_marks.c.message_id.in_(ids))):
                    seen_by[r.message_id].append(r.user)
            requests: dict[str, int] = {}
            if ids:
                for r in conn.execute(select(release_requests.c.message_id, func.count()).where(and_(
                        release_requests.c.message_id.in_(ids), release_requests.c.status == "pending"))
                        .group_by(release_requests.c.message_id)):
                    requests[r[0]] = int(r[1])
        out = []
        for r in rows:
            held = self.store._row_to_held(r, rcpts[r.id])
            out.append(QueueRow(held, tuple(sorted(seen_by[r.id])), user in seen_by[r.id], requests.get(r.id, 0)))
        return out, total

    def category_counts_sync(self, *, status: str | None = "held", include_safeguarding: bool,
                             schools: tuple[str, ...] | None = None) -> dict[str, int]:
        q = QueueQuery(status=status, include_safeguarding=include_safeguarding, schools=schools)
        cond = self._queue_conditions(q)
        counts: dict[str, int] = {}
        with self.engine.begin() as conn:
            for (cats,) in conn.execute(select(messages.c.categories).where(and_(*cond))):
                for cat in cats.split():
                    counts[cat] = counts.get(cat, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def status_counts_sync(self, schools: tuple[str, ...] | None = None) -> dict[str, int]:
        query = select(messages.c.status, func.count())
        if schools is not None:
            query = query.where(school_condition(messages.c.schools, schools))
        with self.engine.begin() as conn:
            return {r[0]: int(r[1]) for r in conn.execute(query.group_by(messages.c.status))}

    def mark_seen_sync(self, message_ids: Iterable[str], user: str) -> int:
        now = time.time()
        n = 0
        with self.engine.begin() as conn:
            for mid in message_ids:
                exists = conn.execute(select(seen_marks.c.at).where(and_(
                    seen_marks.c.message_id == mid, seen_marks.c.user == user))).first()
                if exists is None:
                    conn.execute(insert(seen_marks).values(message_id=mid, user=user, at=now))
                    n += 1
        return n

    # -- notes, false positives, sender lists ------------------------------------
    def add_note_sync(self, message_id: str, user: str, text: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(notes).values(message_id=message_id, user=user, at=time.time(), text=text))
        self.audit(user, WebAction.NOTE, message_id, text[:500])

    def notes_sync(self, message_id: str) -> list[dict]:
        with self.engine.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(
                select(notes).where(notes.c.message_id == message_id).order_by(notes.c.id))]

    def mark_false_positive_sync(self, message_id: str, code: str, user: str, reason: str) -> bool:
        with self.engine.begin() as conn:
            try:
                conn.execute(insert(false_positives).values(message_id=message_id, code=code, user=user,
                                                            at=time.time(), reason=reason))
            except IntegrityError:
                return False
            # the terms (evidence spans) the reviewer says are not a problem: counted per term
            from quarantine.feedback import Feedback  # here: feedback imports the store, which imports us
            Feedback(self.store).record_terms_sync(conn, message_id, code, user)
        self.audit(user, WebAction.FALSE_POSITIVE, message_id, reason, {"code": code})
        return True

    def false_positives_sync(self, message_id: str | None = None) -> list[dict]:
        query = select(false_positives)
        if message_id:
            query = query.where(false_positives.c.message_id == message_id)
        with self.engine.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def false_positive_counts_sync(self, schools: tuple[str, ...] | None = None) -> dict[str, int]:
        query = select(false_positives.c.code, func.count())
        if schools is not None:
            query = query.where(false_positives.c.message_id.in_(
                select(messages.c.id).where(school_condition(messages.c.schools, schools))))
        with self.engine.begin() as conn:
            return {r[0]: int(r[1]) for r in conn.execute(query.group_by(false_positives.c.code))}

    @staticmethod
    def _entry_is(address: str, school: str):
        return and_(sender_lists.c.address == address, sender_lists.c.school == school)

    def set_sender_list_sync(self, address: str, kind: str, user: str, reason: str, message_id: str | None,
                             expires_at: float | None = None, school: str = TRUST_ENTRY) -> None:
        """`school`: whose mail the entry covers; TRUST_ENTRY (every school's) for a trust-wide role."""
        address = sender_entry(address)
        with self.engine.begin() as conn:
            conn.execute(delete(sender_lists).where(self._entry_is(address, school)))
            conn.execute(delete(sender_list_expiry).where(and_(sender_list_expiry.c.address == address,
                                                               sender_list_expiry.c.school == school)))
            conn.execute(insert(sender_lists).values(address=address, school=school, kind=kind, user=user,
                                                     at=time.time(), reason=reason))
            if expires_at is not None:
                conn.execute(insert(sender_list_expiry).values(address=address, school=school,
                                                               expires_at=expires_at))
        action = WebAction.ALLOW_SENDER if kind == "allow" else WebAction.BLOCK_SENDER
        detail: dict = {"address": address, "school": school}
        if expires_at is not None:
            detail["expires_at"] = expires_at
        self.audit(user, action, message_id, reason, detail)

    def remove_sender_sync(self, address: str, user: str, reason: str, school: str = TRUST_ENTRY) -> bool:
        address = sender_entry(address)
        with self.engine.begin() as conn:
            n = conn.execute(delete(sender_lists).where(self._entry_is(address, school))).rowcount
            conn.execute(delete(sender_list_expiry).where(and_(sender_list_expiry.c.address == address,
                                                               sender_list_expiry.c.school == school)))
        if n:
            self.audit(user, WebAction.REMOVE_SENDER, None, reason, {"address": address, "school": school})
        return bool(n)

    def sender_list_sync(self, kind: str | None = None, schools: Sequence[str] | None = None) -> list[dict]:
        """The entries, by address; `schools`: only the entries of these schools (and none of the
        trust's: pass TRUST_ENTRY among them for those); None: every entry."""
        query = (select(sender_lists, sender_list_expiry.c.expires_at)
                 .outerjoin(sender_list_expiry, and_(sender_list_expiry.c.address == sender_lists.c.address,
                                                     sender_list_expiry.c.school == sender_lists.c.school))
                 .order_by(sender_lists.c.address, sender_lists.c.school))
        if kind:
            query = query.where(sender_lists.c.kind == kind)
        if schools is not None:
            query = query.where(sender_lists.c.school.in_(list(schools)))
        with self.engine.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def sender_status_sync(self, address: str, school: str = TRUST_ENTRY) -> str | None:
        """The entry that applies to `address` in mail owned by `school` (the trust's entries and that school's)."""
        now = time.time()
        live = [(r["school"], r["address"], r["kind"]) for r in self.sender_list_sync()
                if r["expires_at"] is None or r["expires_at"] > now]
        return sender_status(entries_for(live, school), address)

    # -- release requests ---------------------------------------------------------
    def add_release_request_sync(self, message_id: str, requester: str, reason: str) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(insert(release_requests).values(
                message_id=message_id, requester=requester, at=time.time(), reason=reason, status="pending"))
            rid = int(result.inserted_primary_key[0])
        self.audit(f"sender:{requester}", WebAction.REQUEST_RELEASE, message_id, reason[:500])
        return rid

    def release_requests_sync(self, message_id: str | None = None, status: str | None = None,
                              schools: tuple[str, ...] | None = None) -> list[dict]:
        query = select(release_requests).order_by(release_requests.c.id)
        if schools is not None:
            query = query.where(release_requests.c.message_id.in_(
                select(messages.c.id).where(school_condition(messages.c.schools, schools))))
        if message_id:
            query = query.where(release_requests.c.message_id == message_id)
        if status:
            query = query.where(release_requests.c.status == status)
        with self.engine.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def decide_requests_sync(self, message_id: str, status: str, user: str) -> int:
        with self.engine.begin() as conn:
            return conn.execute(update(release_requests).where(and_(
                release_requests.c.message_id == message_id, release_requests.c.status == "pending"))
                .values(status=status, decided_by=user, decided_at=time.time())).rowcount

    # -- DSL alerts ----------------------------------------------------------------
    def add_alert_sync(self, message_id: str, why: str) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(insert(dsl_alerts).values(message_id=message_id, sent_at=time.time(), why=why,
                                                            school_id=_school_of(message_id)))
            return int(result.inserted_primary_key[0])

    def alerts_sync(self, message_id: str | None = None, open_only: bool = False,
                    schools: Iterable[str] | None = None) -> list[dict]:
        query = select(dsl_alerts).order_by(dsl_alerts.c.id)
        if schools is not None:  # an account's schools (quarantine/access.py scope)
            query = query.where(dsl_alerts.c.school_id.in_(list(schools)))
        if message_id:
            query = query.where(dsl_alerts.c.message_id == message_id)
        if open_only:
            query = query.where(dsl_alerts.c.acked_at.is_(None))
        with self.engine.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def overdue_alerts_sync(self, older_than: float) -> list[dict]:
        with self.engine.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(select(dsl_alerts).where(and_(
                dsl_alerts.c.acked_at.is_(None), dsl_alerts.c.escalated_at.is_(None),
                dsl_alerts.c.sent_at <= older_than)))]

    def mark_alert_escalated_sync(self, alert_id: int) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(update(dsl_alerts).where(and_(
                dsl_alerts.c.id == alert_id, dsl_alerts.c.escalated_at.is_(None)))
                .values(escalated_at=time.time())).rowcount == 1

    def ack_alerts_sync(self, message_id: str, user: str) -> int:
        with self.engine.begin() as conn:
            n = conn.execute(update(dsl_alerts).where(and_(
                dsl_alerts.c.message_id == message_id, dsl_alerts.c.acked_at.is_(None)))
                .values(acked_by=user, acked_at=time.time())).rowcount
        if n:
            self.audit(user, WebAction.DSL_ACK, message_id, "alert acknowledged")
        return n

    # -- single-use tokens and access grants ----------------------------------------------
    def use_token_sync(self, jti: str) -> bool:
        """True the first time only (single-use links)."""
        with self.engine.begin() as conn:
            try:
                conn.execute(insert(used_tokens).values(jti=jti, at=time.time()))
            except IntegrityError:
                return False
        return True

    def token_used_sync(self, jti: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(select(used_tokens.c.jti).where(used_tokens.c.jti == jti)).first() is not None

    def grant_access_sync(self, session_hash: str, message_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(access_grants).where(and_(access_grants.c.token_hash == session_hash,
                                                          access_grants.c.message_id == message_id)))
            conn.execute(insert(access_grants).values(token_hash=session_hash, message_id=message_id,
                                                      at=time.time()))

    def has_access_sync(self, session_hash: str, message_id: str, max_age: float) -> bool:
        with self.engine.begin() as conn:
            row = conn.execute(select(access_grants.c.at).where(and_(
                access_grants.c.token_hash == session_hash, access_grants.c.message_id == message_id))).first()
        return row is not None and time.time() - row.at <= max_age

    # -- digest ------------------------------------------------------------------------------
    def undigested_holds_sync(self, limit: int = 200) -> list:
        with self.engine.begin() as conn:
            done = select(digested.c.message_id)
            rows = conn.execute(select(messages).where(and_(
                messages.c.status == "held", messages.c.id.not_in(done))).order_by(messages.c.received_at)
                .limit(limit)).all()
            rcpts = self.store._recipients_of(conn, [r.id for r in rows])
            return [self.store._row_to_held(r, rcpts[r.id]) for r in rows]

    def mark_digested_sync(self, ids: Sequence[str]) -> None:
        now = time.time()
        with self.engine.begin() as conn:
            have = {r[0] for r in conn.execute(select(digested.c.message_id).where(digested.c.message_id.in_(ids)))}
            for mid in dict.fromkeys(ids):
                if mid not in have:
                    conn.execute(insert(digested).values(message_id=mid, at=now))

    # -- audit ----------------------------------------------------------------------------------
    def audit_query_sync(self, *, actor: str | None = None, action: str | None = None,
                         message_id: str | None = None, since: float | None = None, until: float | None = None,
                         limit: int = 200, offset: int = 0,
                         schools: tuple[str, ...] | None = None) -> tuple[list[dict], int]:
        cond = []
        if schools is not None:  # the account's schools: rows about no message ("") are trust-wide
            cond.append(audit.c.school_id.in_(list(schools) or [None]))
        if actor:
            cond.append(func.lower(audit.c.actor).like(f"%{actor.lower()}%"))
        if action:
            cond.append(audit.c.action == action)
        if message_id:
            cond.append(audit.c.message_id == message_id)
        if since is not None:
            cond.append(audit.c.at >= since)
        if until is not None:
            cond.append(audit.c.at < until)
        where = and_(*cond) if cond else True
        with self.engine.begin() as conn:
            total = int(conn.execute(select(func.count()).select_from(audit).where(where)).scalar_one())
            rows = [dict(r._mapping) for r in conn.execute(
                select(audit).where(where).order_by(audit.c.id.desc()).limit(limit).offset(offset))]
        for row in rows:
            try:
                row["detail"] = json.loads(row["detail"] or "{}")
            except ValueError:
                pass
        return rows, total

    def audit_actions_sync(self) -> list[str]:
        with self.engine.begin() as conn:
            return sorted(r[0] for r in conn.execute(select(audit.c.action).distinct()))


@dataclass(frozen=True, slots=True)
class QueueRow:
    held: Any  # HeldMessage
    seen_by: tuple[str, ...]
    seen_by_me: bool
    pending_requests: int

    @property
    def safeguarding(self) -> bool:
        return any(c in SAFEGUARDING for c in self.held.categories)


def is_safeguarding(categories: Iterable[str]) -> bool:
    return any(str(c) in SAFEGUARDING for c in categories)


def sender_entry(text: str) -> str:
    """An allow/block list key: a full address, or a domain as "@example.org" ("example.org" too)."""
    text = text.strip().lower()
    if "@" not in text:
        text = "@" + text
    local, _, domain = text.rpartition("@")
    if not domain or "." not in domain or any(c.isspace() for c in text) or local.count("@"):
        raise ValueError(f"{text.lstrip('@')!r} is neither an address (name@example.org) nor a domain (example.org)")
    return text


def entries_for(rows: Iterable[tuple[str, str, str]], school: str) -> dict[str, str]:
    """(school, address, kind) rows -> the entries that apply to mail owned by `school`: the trust's
    and that school's own. Both on one address: a block wins (fail safe; either may refuse a sender)."""
    out: dict[str, str] = {}
    for entry_school, address, kind in rows:
        if entry_school not in (TRUST_ENTRY, school):
            continue
        if out.get(address) != "block":
            out[address] = kind
    return out


def sender_status(entries: dict[str, str], address: str) -> str | None:
    """The list entry that applies to `address`: the address itself, else its domain, else a parent
    domain ("@example.org" covers mail.example.org). The most specific entry wins."""
    address = address.strip().lower()
    if address in entries:
        return entries[address]
    domain = address.rpartition("@")[2]
    while domain:
        if f"@{domain}" in entries:
            return entries[f"@{domain}"]
        domain = domain.partition(".")[2] if "." in domain else ""
    return None

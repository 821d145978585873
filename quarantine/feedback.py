"""Reviewers' feedback on findings: the terms marked "not a problem", their counts, and the site allowlist.

A reviewer's false-positive mark on a finding records each of its evidence
spans (the listed word, the pattern's phrase or the model's sentence) in
`fp_terms`, so the review UI can show which terms keep being wrong. An admin
can then add a term to the site allowlist (`site_allowlist`, audited); the
table is written out to `<quarantine path>/site_allowlist.txt`, the file the
offensive filter reads at start (filters/offensive.py `site_allowlist`). The
shipped lists in config/lists are never changed: the site file is separate and
the shipped allowlist file stays as released.

Synchronous functions over the store's engine; async callers use `store.run()`.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Iterable, Sequence

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text, delete, func, insert, select

from filters.base import SAFEGUARDING_CATEGORIES
from filters.lexicon import SITE_ALLOWLIST_FILE
from quarantine.store import QuarantineStore, messages, metadata

MAX_TERM_CHARS = 200
ALLOWLIST_ACTION = "site_allowlist_add"
ALLOWLIST_REMOVE_ACTION = "site_allowlist_remove"
_SAFEGUARDING = {str(c) for c in SAFEGUARDING_CATEGORIES}

fp_terms = Table(
    "fp_terms", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(40), nullable=False, index=True),
    Column("code", String(64), nullable=False),
    Column("category", String(32), nullable=False, default=""),
    Column("term", String(MAX_TERM_CHARS), nullable=False),  # lower case, one space between words
    Column("user", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_fp_terms_term", "term", "code"),
)

site_allowlist = Table(
    "site_allowlist", metadata,
    Column("term", String(MAX_TERM_CHARS), primary_key=True),
    Column("user", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("codes", Text, nullable=False, default=""),  # the codes it was marked wrong for, for the record
)


def normal_term(text: str) -> str:
    """How terms are counted: "Bloody" and "bloody " are one term."""
    return " ".join(text.lower().split())[:MAX_TERM_CHARS]


class Feedback:
    def __init__(self, store: QuarantineStore) -> None:
        self.store = store

    @property
    def path(self) -> Path:
        return Path(self.store.root) / SITE_ALLOWLIST_FILE

    # -- terms marked not a problem ----------------------------------------------
    def record_terms_sync(self, conn, message_id: str, code: str, user: str) -> int:
        """Inside the false-positive mark's transaction: one row per evidence span of the
        finding(s) with this code on the message."""
        row = conn.execute(select(messages.c.findings).where(messages.c.id == message_id)).first()
        if row is None:
            return 0
        now = time.time()
        n = 0
        seen: set[str] = set()
        for finding in json.loads(row.findings or "[]"):
            if finding.get("code") != code:
                continue
            for evidence in finding.get("evidence", ()):
                term = normal_term(str(evidence))
                if term and term not in seen:
                    seen.add(term)
                    conn.execute(insert(fp_terms).values(message_id=message_id, code=code,
                                                         category=finding.get("category", ""), term=term,
                                                         user=user, at=now))
                    n += 1
        return n

    def term_counts_sync(self, *, include_safeguarding: bool, limit: int = 500) -> list[dict]:
        """Per (term, code): how often marked, on how many messages, when last; most often first.
        Terms of safeguarding findings are a pupil's words: only for DSL-permitted users."""
        query = (select(fp_terms.c.term, fp_terms.c.code, fp_terms.c.category,
                        func.count().label("marks"), func.count(fp_terms.c.message_id.distinct()).label("messages"),
                        func.max(fp_terms.c.at).label("last_at"))
                 .group_by(fp_terms.c.term, fp_terms.c.code, fp_terms.c.category)
                 .order_by(func.count().desc(), fp_terms.c.term).limit(limit))
        with self.store.engine.begin() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
            allowed = {r.term for r in conn.execute(select(site_allowlist.c.term))}
        out = []
        for r in rows:
            r["safeguarding"] = r["category"] in _SAFEGUARDING
            if r["safeguarding"] and not include_safeguarding:
                continue
            r["allowlisted"] = r["term"] in allowed
            out.append(r)
        return out

    def term_info_sync(self, term: str) -> dict:
        """What the reviewers marked about one term: its codes and whether any is safeguarding."""
        with self.store.engine.begin() as conn:
            rows = conn.execute(select(fp_terms.c.code, fp_terms.c.category).where(
                fp_terms.c.term == term).distinct()).all()
        return {"codes": sorted({r.code for r in rows}),
                "safeguarding": any(r.category in _SAFEGUARDING for r in rows)}

    # -- the site allowlist ---------------------------------------------------------
    def allowlist_sync(self) -> list[dict]:
        with self.store.engine.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(select(site_allowlist).order_by(site_allowlist.c.term))]

    def add_sync(self, term: str, user: str, reason: str, codes: Sequence[str] = ()) -> bool:
        """Add a term (audited) and rewrite the site file; False when it was already there."""
        term = normal_term(term)
        with self.store.engine.begin() as conn:
            if conn.execute(select(site_allowlist.c.term).where(site_allowlist.c.term == term)).first():
                return False
            conn.execute(insert(site_allowlist).values(term=term, user=user, at=time.time(), reason=reason,
                                                       codes=" ".join(codes)))
        self.store.write_audit_sync(user, ALLOWLIST_ACTION, None, reason,  # type: ignore[arg-type]
                                    {"term": term, "codes": list(codes), "file": SITE_ALLOWLIST_FILE})
        self.write_file_sync()
        return True

    def remove_sync(self, term: str, user: str, reason: str) -> bool:
        term = normal_term(term)
        with self.store.engine.begin() as conn:
            gone = conn.execute(delete(site_allowlist).where(site_allowlist.c.term == term)).rowcount
        if gone:
            self.store.write_audit_sync(user, ALLOWLIST_REMOVE_ACTION, None, reason,  # type: ignore[arg-type]
                                        {"term": term, "file": SITE_ALLOWLIST_FILE})
            self.write_file_sync()
        return bool(gone)

    def write_file_sync(self) -> Path:
        """The table as the offensive filter's allowlist format (one phrase a line), replaced
        atomically: a gateway starting meanwhile reads the old file or the new, never half."""
        lines = ["# The site allowlist: terms reviewers marked as not a problem and an admin allowed.",
                 "# Written by the review UI (quarantine/feedback.py) from the database; edits here are",
                 "# overwritten. The offensive filter reads it at start ([offensive] site_allowlist).",
                 *(f"{r['term']}  # {r['user']}, {time.strftime('%Y-%m-%d', time.gmtime(r['at']))}"
                   for r in self.allowlist_sync())]
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        return self.path


def terms_of(findings: Iterable[dict], code: str) -> list[str]:
    return [normal_term(str(e)) for f in findings if f.get("code") == code for e in f.get("evidence", ())]

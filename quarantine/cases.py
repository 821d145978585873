"""Safeguarding cases: every safeguarding hold is a case (new, open, closed) with the DSL's
action, outcome and true/false-positive mark, and an export shaped for CPOMS / MyConcern.

A case exists from the moment the hold does (no row yet = status "new"); the DSL's first
change writes the row. The export carries no message content (no subject, text or
evidence): only what the DSL wrote (action, outcome, notes) and the finding codes.
"""
from __future__ import annotations

import csv
import io
import json
import time
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, delete, insert, select

from filters.errors import SchoolgateError
from quarantine.store import messages  # first: the store's end imports escalation -> links -> review_store
from quarantine.review_store import ReviewStore, _safeguarding_condition, cases, dsl_alerts, notes


class CaseStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


class Verdict(StrEnum):
    UNDECIDED = ""
    TRUE_POSITIVE = "true_positive"  # a real concern
    FALSE_POSITIVE = "false_positive"  # the filter was wrong


# the columns of the export, in the order CPOMS / MyConcern imports expect to map them
EXPORT_FIELDS = ("case_ref", "date_of_concern", "category", "finding_codes", "pupil_role", "direction",
                 "status", "alert_acknowledged_by", "alert_acknowledged_at", "action_taken", "outcome",
                 "true_or_false_positive", "dsl_notes", "recorded_by", "last_updated", "closed_at")


class CaseError(SchoolgateError, ValueError):
    """A bad status or verdict: the message says which."""


def _iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds") if ts else ""


class Cases:
    def __init__(self, review: ReviewStore) -> None:
        self.review = review

    @property
    def engine(self):
        return self.review.engine

    def get_sync(self, message_id: str) -> dict[str, Any]:
        with self.engine.begin() as conn:
            row = conn.execute(select(cases).where(cases.c.message_id == message_id)).first()
        if row is None:
            return {"message_id": message_id, "status": "new", "action_taken": "", "outcome": "", "verdict": "",
                    "updated_by": "", "updated_at": None, "closed_at": None}
        return dict(row._mapping)

    def update_sync(self, message_id: str, user: str, *, status: str, action_taken: str, outcome: str,
                    verdict: str) -> dict[str, Any]:
        try:
            status = CaseStatus(status)
            verdict = Verdict(verdict)
        except ValueError:
            raise CaseError("status must be new, open or closed; the mark true_positive, false_positive "
                            "or empty") from None
        before = self.get_sync(message_id)
        now = time.time()
        closed_at = (before["closed_at"] or now) if status == CaseStatus.CLOSED else None
        with self.engine.begin() as conn:
            conn.execute(delete(cases).where(cases.c.message_id == message_id))
            conn.execute(insert(cases).values(message_id=message_id, status=str(status), action_taken=action_taken,
                                              outcome=outcome, verdict=str(verdict), updated_by=user,
                                              updated_at=now, closed_at=closed_at))
        # the audit says what changed, not the DSL's text (that stays in the case)
        self.review.audit(user, "case_update", message_id, f"case {before['status']} -> {status}",
                          {"status": str(status), "verdict": str(verdict)})
        return self.get_sync(message_id)

    def list_sync(self, status: str | None = None, schools: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """Every safeguarding hold as a case, newest first, with its alert acknowledgement;
        schools: only these schools' (quarantine/access.py scope), None: every school."""
        from quarantine.store import school_condition

        scoped = school_condition(messages.c.schools, schools) if schools is not None else True
        with self.engine.begin() as conn:
            rows = conn.execute(select(messages.c.id, messages.c.received_at, messages.c.categories,
                                       messages.c.codes, messages.c.direction, messages.c.sender_role)
                                .where(and_(_safeguarding_condition(), messages.c.status != "rejected", scoped))
                                .order_by(messages.c.received_at.desc())).all()
            ids = [r.id for r in rows]
            saved = {r.message_id: dict(r._mapping) for r in conn.execute(
                select(cases).where(cases.c.message_id.in_(ids)))} if ids else {}
            acks: dict[str, tuple[str, float]] = {}
            for r in conn.execute(select(dsl_alerts).where(and_(dsl_alerts.c.message_id.in_(ids),
                                                                dsl_alerts.c.acked_at.is_not(None)))) if ids else []:
                if r.message_id not in acks or r.acked_at < acks[r.message_id][1]:
                    acks[r.message_id] = (r.acked_by or "", r.acked_at)
            dsl_notes: dict[str, list[str]] = {}
            for r in conn.execute(select(notes).where(notes.c.message_id.in_(ids)).order_by(notes.c.id)) if ids else []:
                dsl_notes.setdefault(r.message_id, []).append(f"{_iso(r.at)} {r.user}: {r.text}")
        out = []
        for r in rows:
            case = saved.get(r.id) or {"status": "new", "action_taken": "", "outcome": "", "verdict": "",
                                       "updated_by": "", "updated_at": None, "closed_at": None}
            if status and case["status"] != status:
                continue
            out.append({"message_id": r.id, "received_at": r.received_at, "categories": r.categories.split(),
                        "codes": r.codes.split(), "direction": r.direction, "sender_role": r.sender_role,
                        "acked_by": acks.get(r.id, ("", None))[0], "acked_at": acks.get(r.id, ("", None))[1],
                        "notes": dsl_notes.get(r.id, []), **case})
        return out


def export_rows(items: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One row per case, no message content: codes, times, and what the DSL wrote."""
    return [{
        "case_ref": f"SG-{c['message_id']}",
        "date_of_concern": _iso(c["received_at"]),
        "category": "; ".join(x.replace("_", " ") for x in c["categories"]),
        "finding_codes": " ".join(c["codes"]),
        "pupil_role": c["sender_role"],
        "direction": c["direction"],
        "status": c["status"],
        "alert_acknowledged_by": c["acked_by"],
        "alert_acknowledged_at": _iso(c["acked_at"]),
        "action_taken": c["action_taken"],
        "outcome": c["outcome"],
        "true_or_false_positive": c["verdict"].replace("_", " "),
        "dsl_notes": " | ".join(c["notes"]),
        "recorded_by": c["updated_by"],
        "last_updated": _iso(c["updated_at"]),
        "closed_at": _iso(c["closed_at"]),
    } for c in items]


def export_csv(items: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for row in export_rows(items):
        # a DSL's text must not become a spreadsheet formula
        writer.writerow({k: ("'" + v if v[:1] in ("=", "+", "-", "@") else v) for k, v in row.items()})
    return out.getvalue()


def export_json(items: list[dict[str, Any]]) -> str:
    return json.dumps({"format": "schoolgate-safeguarding-cases/1", "fields": list(EXPORT_FIELDS),
                       "cases": export_rows(items)}, indent=2)

"""Safeguarding cases: every safeguarding hold is a case (new, open, closed) with the DSL's
action, outcome and true/false-positive mark, and an export shaped for CPOMS / MyConcern.

A case exists from the moment the hold does (no row yet = status "new"); the DSL's first
change writes the row. Every hold the DSL was alerted for is one: a safeguarding category,
or a finding of risk level 4-5 (filters/policy.py DSL_LEVEL), the same messages the report
counts as incidents (docs/reports.md). The export carries no message content (no subject,
text or evidence): only what the DSL wrote (action, outcome, notes), codes and times, in the
columns of a profile ([cases] export_profile; docs/cases.md says what they are based on).
"""
from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from enum import StrEnum
from typing import Any, Mapping

from sqlalchemy import and_, delete, insert, or_, select

from config.schema import CASE_EXPORT_FIELDS
from filters.errors import SchoolgateError
from quarantine.store import message_levels, messages, recipient_rows  # first: the store's end imports escalation -> links -> review_store
from quarantine.review_store import (SAFEGUARDING, ReviewStore, _safeguarding_condition, cases, dsl_alerts,
                                     is_safeguarding, notes)

CASE_LEVEL = 4  # filters/policy.py DSL_LEVEL: a finding at or above it alerts the DSL, whatever its category


def is_case(categories: Any, level: int) -> bool:
    """A hold the DSL was alerted for, so a case: a safeguarding category or a level 4-5 finding."""
    return is_safeguarding(categories) or level >= CASE_LEVEL


class CaseStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


class CaseMark(StrEnum):
    """The DSL's mark on a case (not filters.base.Verdict, the policy's per-recipient decision)."""
    UNDECIDED = ""
    TRUE_POSITIVE = "true_positive"  # a real concern
    FALSE_POSITIVE = "false_positive"  # the filter was wrong


# the generic profile's columns (heading = field name): the contract of /cases.csv since issue 20
EXPORT_FIELDS = ("case_ref", "date_of_concern", "category", "finding_codes", "pupil_role", "direction",
                 "status", "alert_acknowledged_by", "alert_acknowledged_at", "action_taken", "outcome",
                 "true_or_false_positive", "dsl_notes", "recorded_by", "last_updated", "closed_at")

# Neither CPOMS nor MyConcern publishes an import file format (docs/cases.md). These follow what
# each records for a concern, as their schools' guides and the monitoring vendors' integration
# notes describe it: a date and time, the school's own categories, a summary, a risk level, the
# action taken and the outcome. UK dates (DD/MM/YYYY) and local times, as both show them.
PROFILES: dict[str, tuple[tuple[str, str], ...]] = {
    "generic": tuple((f, f) for f in EXPORT_FIELDS),
    "cpoms": (("Reference", "case_ref"), ("Date", "date"), ("Time", "time"), ("Categories", "category_name"),
              ("Incident", "summary"), ("Risk level", "risk_level"), ("Action taken", "action_taken"),
              ("Outcome", "outcome"), ("Status", "status"), ("True or false positive", "true_or_false_positive"),
              ("Recorded by", "recorded_by"), ("Source", "source"), ("Notes", "dsl_notes")),
    "myconcern": (("Reference", "case_ref"), ("Date of concern", "date"), ("Time of concern", "time"),
                  ("Category", "category_name"), ("Summary of concern", "summary"), ("Risk level", "risk_level"),
                  ("Actions taken", "action_taken"), ("Outcome", "outcome"), ("Status", "status"),
                  ("True or false positive", "true_or_false_positive"), ("DSL notes", "dsl_notes"),
                  ("Recorded by", "recorded_by"), ("Source", "source")),
}
CATEGORY_NAMES = {"meeting": "Meeting arrangements", "self_harm": "Self-harm", "grooming": "Grooming",
                  "extremism": "Extremism and radicalisation", "sextortion": "Sextortion and intimate images",
                  "coercive_control": "Coercive control", "exploitation": "Exploitation",
                  "indecent_image": "Indecent images"}
SOURCE = "Schoolgate e-mail filter"


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """Which columns, under which headings, with local dates in which zone."""
    profile: str
    columns: tuple[tuple[str, str], ...]  # (heading, field of CASE_EXPORT_FIELDS)
    tz: tzinfo = timezone.utc
    category_names: Mapping[str, str] | None = None

    @property
    def headings(self) -> list[str]:
        return [h for h, _ in self.columns]


def export_spec(settings: Any, profile: str | None = None) -> ExportSpec:
    """From [cases]: the profile (or `profile`, e.g. a download link's choice), its columns unless
    export_columns replaces them, and the school's category names."""
    from zoneinfo import ZoneInfo

    cfg = settings.cases
    name = profile if profile in PROFILES else cfg.export_profile
    columns = tuple(cfg.export_columns.items()) if cfg.export_columns and profile in (None, cfg.export_profile) \
        else PROFILES[name]
    return ExportSpec(name, columns, ZoneInfo(settings.reports.timezone),
                      {str(k): v for k, v in cfg.category_names.items()})


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
            verdict = CaseMark(verdict)
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
            alerted = select(message_levels.c.message_id).where(message_levels.c.level >= CASE_LEVEL)
            rows = conn.execute(select(messages.c.id, messages.c.received_at, messages.c.categories,
                                       messages.c.codes, messages.c.direction, messages.c.sender_role,
                                       messages.c.mail_from, message_levels.c.level)
                                .select_from(messages.outerjoin(message_levels,
                                                                message_levels.c.message_id == messages.c.id))
                                .where(and_(or_(_safeguarding_condition(), messages.c.id.in_(alerted)),
                                            messages.c.status != "rejected", scoped))
                                .order_by(messages.c.received_at.desc())).all()
            ids = [r.id for r in rows]
            pupils: dict[str, list[str]] = {}
            for r in conn.execute(select(recipient_rows.c.message_id, recipient_rows.c.address).where(and_(
                    recipient_rows.c.message_id.in_(ids), recipient_rows.c.role == "student"))) if ids else []:
                pupils.setdefault(r.message_id, []).append(r.address)
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
            # the pupil involved: the sender when a pupil wrote it, else the pupils it was sent to
            pupil = [r.mail_from] if r.sender_role == "student" else sorted(pupils.get(r.id, []))
            out.append({"message_id": r.id, "received_at": r.received_at, "categories": r.categories.split(),
                        "codes": r.codes.split(), "direction": r.direction, "sender_role": r.sender_role,
                        "level": r.level or 0, "pupil_accounts": pupil,
                        "acked_by": acks.get(r.id, ("", None))[0], "acked_at": acks.get(r.id, ("", None))[1],
                        "notes": dsl_notes.get(r.id, []), **case})
        return out


def _label(category: str, spec: ExportSpec) -> str:
    names = spec.category_names or {}
    return names.get(category) or CATEGORY_NAMES.get(category) or category.replace("_", " ").capitalize()


def _summary(c: dict[str, Any], spec: ExportSpec) -> str:
    """A sentence from codes and metadata only (the message's words never leave Schoolgate)."""
    cats = [_label(x, spec) for x in c["categories"] if x in SAFEGUARDING] or \
        [x.replace("_", " ") for x in c["categories"]]
    who = {"student": "a pupil", "staff": "a member of staff", "external": "outside the school"}.get(
        c["sender_role"], "an unknown sender")
    level = f", risk level {c['level']}" if c.get("level") else ""
    return (f"Schoolgate held an {c['direction'] or 'e-mail'} message from {who}: {', '.join(cats)}{level}. "
            f"Finding codes: {' '.join(c['codes'])}. Held in Schoolgate as SG-{c['message_id']}; "
            f"its content is not copied here.")


def _fields(c: dict[str, Any], spec: ExportSpec) -> dict[str, str]:
    local = datetime.fromtimestamp(c["received_at"], spec.tz)
    sg_cats = [x for x in c["categories"] if x in SAFEGUARDING]
    return {
        "case_ref": f"SG-{c['message_id']}",
        "date_of_concern": _iso(c["received_at"]),
        "date": f"{local:%d/%m/%Y}",
        "time": f"{local:%H:%M}",
        "category": "; ".join(x.replace("_", " ") for x in c["categories"]),
        "category_name": "; ".join(_label(x, spec) for x in (sg_cats or c["categories"])),
        "finding_codes": " ".join(c["codes"]),
        "risk_level": str(c.get("level") or ""),
        "summary": _summary(c, spec),
        "source": SOURCE,
        "pupil_role": c["sender_role"],
        "pupil_account": "; ".join(c.get("pupil_accounts", [])),
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
    }


GENERIC = ExportSpec("generic", PROFILES["generic"])


def export_rows(items: list[dict[str, Any]], spec: ExportSpec = GENERIC) -> list[dict[str, str]]:
    """One row per case, no message content: codes, times, and what the DSL wrote, under the
    profile's headings."""
    out = []
    for c in items:
        values = _fields(c, spec)
        out.append({heading: values[name] for heading, name in spec.columns})
    return out


def export_csv(items: list[dict[str, Any]], spec: ExportSpec = GENERIC) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=spec.headings, lineterminator="\r\n")
    writer.writeheader()
    for row in export_rows(items, spec):
        # a DSL's text must not become a spreadsheet formula
        writer.writerow({k: ("'" + v if v[:1] in ("=", "+", "-", "@") else v) for k, v in row.items()})
    return out.getvalue()


def export_json(items: list[dict[str, Any]], spec: ExportSpec = GENERIC) -> str:
    return json.dumps({"format": "schoolgate-safeguarding-cases/1", "profile": spec.profile,
                       "fields": spec.headings, "cases": export_rows(items, spec)}, indent=2)

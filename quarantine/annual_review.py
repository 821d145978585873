"""The governors' annual review of filtering and monitoring: one PDF for a school year. In a
trust, a school's account gets its school's pack, the trust-wide roles the whole trust's.

Counts and settings only, never mail content (the same rule as quarantine/reports.py):
who holds which role, what the filters cover, settings changes, safeguarding incidents by
severity tier, time to DSL acknowledgement, the DSL's true/false-positive marks and the
actions recorded on cases. Built from the report data (one definition of an incident,
docs/reports.md) and the cases (quarantine/cases.py).
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

from filters.base import SAFEGUARDING_CATEGORIES
from quarantine.cases import Cases
from quarantine.report_data import ReportData
from quarantine.review_store import ReviewStore
from quarantine.users import UserStore


def school_year(today: date) -> tuple[date, date]:
    """The English school year (1 September to 31 August) that ended most recently, or this one so far."""
    start_year = today.year if today.month >= 9 else today.year - 1
    return date(start_year, 9, 1), min(today, date(start_year + 1, 8, 31))


@dataclass(frozen=True, slots=True)
class AnnualPack:
    report: ReportData
    roles: dict[str, int]
    chain: list[str]
    safeguarding_categories: list[str]
    tiers: dict[str, int]
    verdicts: dict[str, int]
    case_status: dict[str, int]
    actions_recorded: int


def gather_pack_sync(review: ReviewStore, users: UserStore, report: ReportData, chain: list[str],
                     schools: tuple[str, ...] | None = None) -> AnnualPack:
    """`schools`: one school's pack (docs/trust.md; `report` from report_data.gather_schools_sync
    for the same schools): its cases, and the accounts that see its mail - its own and the
    trust-wide roles'. None: the whole gateway's."""
    from quarantine.users import TRUST_WIDE

    start, end = report.period.start_ts, report.period.end_ts
    roles = Counter(str(u.role) for u in users.list() if not u.disabled and (
        schools is None or u.role in TRUST_WIDE or set(u.schools) & set(schools)))
    items = [c for c in Cases(review).list_sync(None, schools) if start <= c["received_at"] < end]
    verdicts = Counter(c["verdict"] or "not decided" for c in items)
    tiers: Counter = Counter()
    sg = {str(c) for c in SAFEGUARDING_CATEGORIES}
    for c in report.categories:
        if c["category"] in sg:
            for tier in ("low", "medium", "high", "critical"):
                tiers[tier] += c[tier]
    return AnnualPack(report, dict(sorted(roles.items())), list(chain), sorted(sg),
                      {t: tiers.get(t, 0) for t in ("critical", "high", "medium", "low")},
                      dict(sorted(verdicts.items())), dict(Counter(c["status"] for c in items)),
                      sum(1 for c in items if c["action_taken"].strip()))


def false_positive_rate(pack: AnnualPack) -> float | None:
    marked = pack.verdicts.get("true_positive", 0) + pack.verdicts.get("false_positive", 0)
    return pack.verdicts.get("false_positive", 0) / marked if marked else None


def render_pack_pdf(pack: AnnualPack) -> bytes:
    from jinja2 import Environment, PackageLoader, select_autoescape
    from weasyprint import HTML

    env = Environment(loader=PackageLoader("quarantine", "templates"), autoescape=select_autoescape(default=True))
    from quarantine.report_render import change

    html = env.get_template("annual_review.html").render(p=pack, d=pack.report, fp_rate=false_positive_rate(pack),
                                                         json=json, change=change)
    return HTML(string=html).write_pdf()

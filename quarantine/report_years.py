"""The report's breakdown by year group (issue 21 clause 1): pupils' held and rejected mail per year.

Which pupil a message concerns is the policy's rule (filters/policy.py
pupil_concerned): the sender when a pupil, else each pupil it was addressed to
(one message to pupils in two years counts once in each). The year is the one
the pupil was in when the message arrived: the directory answers for today
(CSV `year`, else [directory] year_pattern), and each 1 September since the
message's school year is taken off again.

Only the holds index is read (sender and recipient addresses, roles,
categories, statuses): the decision log keeps no addresses on purpose, so mail
that was simply delivered cannot be split by year, and the report says so.
No address leaves this module: the rows carry counts only.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, datetime
from typing import Any, Callable, Iterator

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine

from filters.directory import school_year_start
from quarantine.report_data import is_incident, risk_level
from quarantine.store import messages, recipient_rows

UNKNOWN = "unknown"  # a pupil the directory gives no year (not in the CSV, no year_pattern match)
NOTE = ("Year groups: held and rejected mail only, by the year the pupil was in when it arrived; "
        "delivered mail is not split by year (the decision log keeps no addresses).")

YearOf = Callable[[str], "int | None"]  # address -> year group today (filters.directory.Directory.year_of)


def year_then(year_now: int | None, received: date, today: date) -> int | None:
    """The year group on `received` of a pupil in `year_now` today (rolls over on 1 September)."""
    if year_now is None:
        return None
    year = year_now - (school_year_start(today) - school_year_start(received))
    return year if year >= 0 else None


def years_sync(engine: Engine, start: float, end: float, year_of: YearOf, today: date, tz: Any = None) -> dict:
    """{"rows": [{year, label, messages, released, deleted, waiting, rejected, safeguarding,
    top: [(category, n)]}], "pupil_messages": n} for holds received in [start, end)."""
    rows: dict[str, dict[str, Any]] = {}
    categories: dict[str, Counter] = defaultdict(Counter)
    with engine.begin() as conn:
        held = conn.execute(select(messages.c.id, messages.c.received_at, messages.c.status, messages.c.sender_role,
                                   messages.c.mail_from, messages.c.categories, messages.c.findings)
                            .where(and_(messages.c.received_at >= start, messages.c.received_at < end))).all()
        pupils_to: dict[str, list[str]] = defaultdict(list)
        ids = [h.id for h in held if h.sender_role != "student"]
        for i in range(0, len(ids), 500):
            for mid, address in conn.execute(select(recipient_rows.c.message_id, recipient_rows.c.address).where(
                    and_(recipient_rows.c.message_id.in_(ids[i:i + 500]), recipient_rows.c.role == "student"))):
                pupils_to[mid].append(address)
    pupil_messages = 0
    for h in held:
        pupils = [h.mail_from] if h.sender_role == "student" else pupils_to.get(h.id, [])
        if not pupils:
            continue
        pupil_messages += 1
        received = datetime.fromtimestamp(h.received_at, tz).date()
        years = {year_then(year_of(p), received, today) for p in pupils}
        cats = [c for c in (h.categories or "").split() if c]
        level = risk_level(json.loads(h.findings or "[]"))
        for year in years:
            key = UNKNOWN if year is None else str(year)
            row = rows.setdefault(key, {"year": key, "label": "Year not known" if year is None else f"Year {year}",
                                        "messages": 0, "released": 0, "deleted": 0, "waiting": 0, "rejected": 0,
                                        "safeguarding": 0})
            row["messages"] += 1
            if h.status == "rejected":
                row["rejected"] += 1
            elif h.status in ("released", "partially_released"):
                row["released"] += 1
            elif h.status == "deleted":
                row["deleted"] += 1
            else:
                row["waiting"] += 1
            if is_incident(set(cats), level):  # the one incident definition (docs/reports.md)
                row["safeguarding"] += 1
            categories[key].update(set(cats))
    order = sorted(rows, key=lambda k: (k == UNKNOWN, int(k) if k != UNKNOWN else 0))
    out = []
    for key in order:
        row = rows[key]
        row["top"] = sorted(categories[key].items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        row["categories"] = dict(sorted(categories[key].items()))
        out.append(row)
    return {"rows": out, "pupil_messages": pupil_messages}


def csv_rows(years: dict) -> Iterator[tuple[str, str, str, Any]]:
    """(section, item, breakdown, value) rows for quarantine/report_render.csv_rows."""
    for row in years.get("rows", ()):
        for key in ("messages", "released", "deleted", "waiting", "rejected", "safeguarding"):
            yield "year_group", row["year"], key, row[key]
        for category, n in row["categories"].items():
            yield "year_group", row["year"], f"category/{category}", n


def add_years(data: Any, engine: Engine, year_of: YearOf, today: date) -> None:
    """Fill ReportData.years for the report's period (called after gather_sync)."""
    period = data.period
    data.years = years_sync(engine, period.start_ts, period.end_ts, year_of, today, period.start.tzinfo)
    if data.years["rows"] and NOTE not in data.notes:
        data.notes.append(NOTE)


def add_years_for(settings: Any, engine: Engine, data: Any, today: date) -> None:
    """add_years with the site's directory; nothing when the school keeps no years (no CSV, no
    year_pattern). A directory that cannot be read is a note in the report, not a failed report."""
    from filters.directory import Directory, DirectoryError, YearRule, compile_year_pattern

    cfg = settings.directory
    if cfg.csv is None and not cfg.year_pattern:
        return
    try:
        rule = YearRule(compile_year_pattern(cfg.year_pattern), cfg.entry_year) if cfg.year_pattern else None
        directory = Directory(cfg.csv, cfg.domain_roles, tuple(settings.school.domains), year_rule=rule,
                              today=lambda: today)
    except (DirectoryError, OSError, ValueError) as exc:
        data.notes.append(f"Year groups not shown: the directory could not be read ({exc}).")
        return
    add_years(data, engine, directory.year_of, today)

"""The numbers in a report, gathered from the decision log, the holds index and the audit trail.

Nothing here reads a message's subject, body, evidence or recipient addresses:
the report shows counts, times and statuses only. Sender addresses are read to
rank top senders and shown only when `show_names` is set; otherwise each is
replaced by its role and a letter.
"""
from __future__ import annotations

import json
import string
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine

from filters.base import Category, SAFEGUARDING_CATEGORIES, Severity
from filters.errors import SchoolgateError
from quarantine.report_tables import config_snapshots, create_tables, report_runs
from quarantine.store import audit, decisions, messages

ACTIONS = ("pass", "tag", "hold", "reject", "tempfail")
DIRECTIONS = ("inbound", "outbound", "internal", "external")
ROLES = ("staff", "student", "external")
PERIODS = ("day", "week", "month", "term")

# How the report groups categories (filters/base.py Category is the contract).
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Security", ("virus", "scan_incomplete", "attachment", "authentication", "spoofing", "parse_error")),
    ("Conduct and data", ("chain_letter", "personal_account", "pupil_data", "disclosure")),
    ("Offensive content", ("profanity", "hate", "threat", "bullying", "sexual", "drugs", "gambling", "fraud")),
    ("Safeguarding", tuple(sorted(str(c) for c in SAFEGUARDING_CATEGORIES))),
)
CATEGORY_LABELS = {
    "virus": "Viruses", "scan_incomplete": "Could not be fully scanned", "attachment": "Attachments blocked",
    "authentication": "Failed sender checks", "spoofing": "Spoofed school senders", "parse_error": "Unreadable mail",
    "chain_letter": "Chain letters and hoaxes", "personal_account": "Staff and personal accounts",
    "pupil_data": "Pupil data sent out", "disclosure": "Pupils disclosing personal details",
    "profanity": "Profanity", "hate": "Hate", "threat": "Threats", "bullying": "Bullying", "sexual": "Sexual content",
    "meeting": "Meeting arrangements", "self_harm": "Self-harm", "grooming": "Grooming", "extremism": "Extremism",
    "sextortion": "Sextortion and intimate images", "coercive_control": "Coercive control",
    "exploitation": "Exploitation (sexual or criminal)", "drugs": "Drugs and substances", "gambling": "Gambling",
    "fraud": "Fraud and money mules", "indecent_image": "Indecent images",
}
LEVEL_LABELS = {5: "5: plan, weapon at school, secret meeting", 4: "4: disclosure or explicit threat",
                3: "3: concerning mood, bullying", 2: "2: abuse aimed at someone", 1: "1: language only",
                0: "not graded"}
DECIDED = ("release", "delete")  # audit actions that end a hold
BACKLOG_BUCKETS = ((4 * 3600, "under 4 hours"), (86400, "4 to 24 hours"), (3 * 86400, "1 to 3 days"),
                   (7 * 86400, "3 to 7 days"), (float("inf"), "over 7 days"))


# -- periods ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Period:
    kind: str  # day | week | month | term | custom
    label: str
    start: datetime  # aware, inclusive
    end: datetime  # aware, exclusive
    current: bool = False  # the period in progress, cut at "now" (its baselines are cut the same way)

    @property
    def start_ts(self) -> float:
        return self.start.timestamp()

    @property
    def end_ts(self) -> float:
        return self.end.timestamp()

    @property
    def until_text(self) -> str:
        """The last day included ('7 Dec 2026'), or the time when the period ends mid-day."""
        if self.end.time() == dtime.min:
            return f"{self.end - timedelta(days=1):%-d %b %Y}"
        return f"{self.end:%-d %b %Y %H:%M}"

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    def previous(self) -> "Period":
        """The trend baseline: the day, week or calendar month before (the same stretch of it when
        this one is in progress: Monday to Tuesday 15:00 against last Monday to Tuesday 15:00),
        otherwise the period of the same length just before this one."""
        tz = self.start.tzinfo
        if self.kind in ("day", "week"):
            step = timedelta(days=1 if self.kind == "day" else 7)
            start, end = self.start - step, self.end - step  # wall-clock arithmetic: DST-safe
        elif self.kind == "month":
            start = _midnight((self.start.date() - timedelta(days=1)).replace(day=1), tz)
            end = min(start + (self.end - self.start), self.start) if self.current else self.start
        else:
            start, end = self.start - (self.end - self.start), self.start
        return Period(self.kind, "previous period", start, end, self.current)

    def last_year(self) -> "Period":
        """The same period a year earlier: 52 weeks back for a day or week (the same weekdays,
        so a Monday compares with a Monday), the same dates otherwise (29 February -> 28th)."""
        if self.kind in ("day", "week"):
            step = timedelta(days=364)
            return Period(self.kind, "same period last year", self.start - step, self.end - step, self.current)
        return Period(self.kind, "same period last year", _year_earlier(self.start), _year_earlier(self.end),
                      self.current)


class PeriodError(SchoolgateError, ValueError):
    """A period that cannot be worked out (no term contains today, --to before --from ...)."""


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, dtime.min, tzinfo=tz)


def _year_earlier(at: datetime) -> datetime:
    try:
        return at.replace(year=at.year - 1)
    except ValueError:  # 29 February
        return at.replace(year=at.year - 1, day=28)


def default_terms(year: int) -> list[tuple[str, date, date]]:
    """English school terms, roughly: for sites that have not set [reports] terms."""
    return [(f"Spring {year}", date(year, 1, 1), date(year, 3, 31)),
            (f"Summer {year}", date(year, 4, 1), date(year, 7, 31)),
            (f"Autumn {year}", date(year, 9, 1), date(year, 12, 31))]


def _terms(terms: Sequence[Any], around: date) -> list[tuple[str, date, date]]:
    if terms:
        return sorted(((t.name, t.start, t.end) for t in terms), key=lambda t: t[1])
    return [t for y in (around.year - 1, around.year) for t in default_terms(y)]


def period_for(kind: str, now: datetime, *, terms: Sequence[Any] = (), current: bool = False) -> Period:
    """The last complete day/week/month/term before `now` (aware), or with `current`
    the one containing `now`, up to `now`."""
    tz = now.tzinfo
    today = now.date()
    if kind == "day":
        start_day = today if current else today - timedelta(days=1)
        start, end = _midnight(start_day, tz), _midnight(start_day + timedelta(days=1), tz)
        label = f"{start_day:%A %-d %B %Y}"
    elif kind == "week":  # Monday to Sunday
        monday = today - timedelta(days=today.weekday())
        if not current:
            monday -= timedelta(days=7)
        start, end = _midnight(monday, tz), _midnight(monday + timedelta(days=7), tz)
        label = f"Week of {monday:%-d %B %Y}"
    elif kind == "month":
        first = today.replace(day=1)
        if not current:
            first = (first - timedelta(days=1)).replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        start, end = _midnight(first, tz), _midnight(nxt, tz)
        label = f"{first:%B %Y}"
    elif kind == "term":
        known = _terms(terms, today)
        if current:
            found = [t for t in known if t[1] <= today <= t[2]]
            if not found:
                raise PeriodError(f"no term contains {today}; set [reports] terms or use --from/--to")
        else:
            found = [t for t in known if t[2] < today]
            if not found:
                raise PeriodError("no term has ended yet; set [reports] terms or use --from/--to")
        name, first, last = found[-1]
        start, end = _midnight(first, tz), _midnight(last + timedelta(days=1), tz)
        label = name
    else:
        raise PeriodError(f"unknown period {kind!r} (one of {', '.join(PERIODS)})")
    if current:
        end = min(end, now)
        label += " (so far)"
    return Period(kind, label, start, end, current)


def custom_period(first: date, last: date, tz: ZoneInfo) -> Period:
    """--from D --to D, both days included."""
    if last < first:
        raise PeriodError(f"--to {last} is before --from {first}")
    label = f"{first:%-d %b %Y} to {last:%-d %b %Y}" if first != last else f"{first:%A %-d %B %Y}"
    return Period("custom", label, _midnight(first, tz), _midnight(last + timedelta(days=1), tz))


# -- helpers --------------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (q in 0..1)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _split(text: str | None) -> list[str]:
    return [t for t in (text or "").split() if t]


def _category_order(names: Iterable[str]) -> list[str]:
    order = {str(c): i for i, c in enumerate(Category)}
    return sorted(set(names), key=lambda c: (order.get(c, 999), c))


def group_of(category: str) -> str:
    for name, members in GROUPS:
        if category in members:
            return name
    return "Other"


# -- the data -----------------------------------------------------------------------------------------
@dataclass
class ReportData:
    period: Period
    previous: Period
    generated_at: datetime
    school: str
    show_names: bool
    volume: dict[str, Any] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    categories: list[dict[str, Any]] = field(default_factory=list)
    safeguarding: dict[str, Any] = field(default_factory=dict)
    review: dict[str, Any] = field(default_factory=dict)
    who: dict[str, Any] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    trends: dict[str, Any] = field(default_factory=dict)  # against the previous period and last year
    notes: list[str] = field(default_factory=list)  # what the data cannot tell (said, not hidden)
    attention: list[str] = field(default_factory=list)  # the few things the reader should act on
    years: dict[str, Any] = field(default_factory=dict)  # by year group (quarantine/report_years.py)


def _review_tables() -> dict[str, Any]:
    """The review UI's tables (quarantine/review_store.py), when that module is present."""
    try:
        from quarantine import review_store
    except ImportError:  # pragma: no cover - the review UI ships with the store
        return {}
    return {name: getattr(review_store, name) for name in ("false_positives", "dsl_alerts", "users", "cases")
            if hasattr(review_store, name)}


def gather_sync(engine: Engine, period: Period, *, school: str = "", show_names: bool = False,
                now: datetime | None = None, clamd: dict | None = None) -> ReportData:
    """Every number in the report, in one read transaction."""
    create_tables(engine)
    now = now or datetime.now(period.start.tzinfo)
    data = ReportData(period, period.previous(), now, school, show_names)
    start, end = period.start_ts, period.end_ts
    prev = data.previous
    tables = _review_tables()
    if tables:  # a store the review UI never opened has none of its tables yet
        next(iter(tables.values())).metadata.create_all(engine, tables=list(tables.values()))
    seen: Lost = {}
    with engine.begin() as conn:
        _volume(conn, data, start, end, prev.start_ts, seen)
        holds = _holds(conn, start, end)
        decided = _decisions_by_message(conn, end_before=None)
        _outcomes(data, holds)
        _categories(conn, data, holds, start, end)
        _safeguarding(conn, data, holds, tables, start, end)
        _closed_by(conn, data, holds, decided, tables)
        _review(conn, data, holds, decided, tables, start, end)
        _who(conn, data, holds, start, end, show_names, seen)
        _health(conn, data, start, end, clamd, now)
        _policy(conn, data, start, end)
        _trends(conn, data, seen)
    data.attention = attention(data)
    return data


def gather_schools_sync(engine: Engine, period: Period, schools: Sequence[str], *, school: str = "",
                        now: datetime | None = None) -> ReportData:
    """The sections a school's annual review pack shows (quarantine/annual_review.py), counting
    only the mail of `schools` (docs/trust.md), by the same definitions as gather_sync:
    categories, safeguarding incidents, the settings changes (the trust's one config, which is
    the school's too) and the incidents of the same dates a year earlier (`trends`, that row only).
    The other sections stay empty: this is not the full report."""
    create_tables(engine)
    now = now or datetime.now(period.start.tzinfo)
    data = ReportData(period, period.previous(), now, school, False)
    start, end = period.start_ts, period.end_ts
    tables = _review_tables()
    if tables:
        next(iter(tables.values())).metadata.create_all(engine, tables=list(tables.values()))
    with engine.begin() as conn:
        holds = _holds(conn, start, end, schools)
        _categories(conn, data, holds, start, end, schools)
        _safeguarding(conn, data, holds, tables, start, end, schools)
        _policy(conn, data, start, end)
        first = min((t for t in (conn.execute(select(func.min(decisions.c.at))).scalar(),
                                 conn.execute(select(func.min(messages.c.received_at))).scalar()) if t is not None),
                    default=None)
        other = period.last_year()
        cover = coverage(first, other)
        before = (len(incident_categories(conn, _holds(conn, other.start_ts, other.end_ts, schools),
                                          other.start_ts, other.end_ts, schools)) if cover != "none" else None)
    data.trends = {"rows": [{"key": "incidents", "label": "Safeguarding incidents", "indent": False,
                             "now": data.safeguarding["total"], "last_year": before, "shown": True}],
                   "last_year": {"period": other, "coverage": cover}}
    return data


def attention(data: ReportData) -> list[str]:
    """Plain sentences for the top of the report; empty when all is well."""
    out = []
    sg, review, health = data.safeguarding, data.review, data.health
    if sg["open"]:
        out.append(f"{sg['open']} safeguarding incident{'s' if sg['open'] != 1 else ''} still open "
                   f"(held, not yet released or deleted).")
    old = sum(n for label, n in review["backlog"].items() if label in ("3 to 7 days", "over 7 days"))
    if old:
        out.append(f"{old} held message{'s' if old != 1 else ''} had waited more than 3 days at the end of the period.")
    if health["filter_failures_total"]:
        n = health["filter_failures_total"]
        out.append(f"Filters failed or timed out {n} time{'s' if n != 1 else ''}; "
                   f"those messages were deferred, not passed.")
    if health["tempfail_delivery"] or health["release_failed"]:
        out.append(f"The school's mail server did not take {health['tempfail_delivery']} message(s) "
                   f"and refused {health['release_failed']} release(s).")
    clamd = health.get("clamd")
    if clamd and clamd.get("age_days") is not None and clamd["age_days"] > 3:
        out.append(f"Virus signatures are {clamd['age_days']} days old: check that freshclam runs.")
    elif clamd and clamd.get("age_days") is None and "not answering" in clamd.get("status", ""):
        out.append("The virus scanner (clamd) did not answer when this report was made.")
    if health["reports_failed"]:
        out.append(f"{health['reports_failed']} report(s) could not be sent.")
    return out


def once_per_message(start: float, end: float) -> Any:
    """Decision rows that count a message once: its last row in the period (a copy the next hop
    refused later, or a retry, writes another row for the same message id)."""
    in_period = and_(decisions.c.at >= start, decisions.c.at < end)
    latest = select(func.max(decisions.c.id)).where(in_period).group_by(decisions.c.message_id)
    return and_(in_period, decisions.c.id.in_(latest))


Lost = dict  # (start, end) -> _lost_holds rows: one gather asks for a period's several times


def _lost_holds(conn: Any, start: float, end: float, seen: Lost | None = None) -> list[tuple[str, str, str, float]]:
    """Held/rejected records of the period with no decision row in it (lost in a crash inside the
    decision log's flush interval): (direction, sender role, action, received_at). They still count.
    `seen`: this gather's answers so far (the NOT IN is the dear part of counting messages)."""
    if seen is not None:
        if (start, end) not in seen:
            seen[(start, end)] = _lost_holds(conn, start, end)
        return seen[(start, end)]
    logged = select(decisions.c.message_id).where(and_(decisions.c.at >= start, decisions.c.at < end))
    return [(r.direction, r.sender_role, "reject" if r.status == "rejected" else "hold", r.received_at)
            for r in conn.execute(select(messages.c.direction, messages.c.sender_role, messages.c.status,
                                         messages.c.received_at)
                                  .where(and_(messages.c.received_at >= start, messages.c.received_at < end,
                                              messages.c.id.not_in(logged))))]


def message_actions(conn: Any, start: float, end: float, seen: Lost | None = None) -> Counter:
    """THE message count of Volume, Who and Trends (docs/reports.md): (direction, action) -> messages,
    each message once, the same messages message_categories counts."""
    out: Counter = Counter()
    for direction, action, n in conn.execute(
            select(decisions.c.direction, decisions.c.action, func.count()).where(once_per_message(start, end))
            .group_by(decisions.c.direction, decisions.c.action)):
        out[(direction, action)] += n
    for direction, _, action, _ in _lost_holds(conn, start, end, seen):
        out[(direction, action)] += 1
    return out


def _volume(conn: Any, data: ReportData, start: float, end: float, prev_start: float, seen: Lost) -> None:
    by_dir: dict[str, Counter] = defaultdict(Counter)
    by_action: Counter = Counter()
    for (direction, action), n in message_actions(conn, start, end, seen).items():
        by_dir[direction][action] += n
        by_action[action] += n
    prev_action: Counter = Counter()
    for (_, action), n in message_actions(conn, prev_start, data.previous.end_ts, seen).items():
        prev_action[action] += n
    copies: Counter = Counter()
    # few distinct {role:action} mixes: let the database count them, parse each once
    # (recipient copies per decision row: a refused copy logged again is a second copy)
    for actions_json, times in conn.execute(
            select(decisions.c.actions, func.count()).where(and_(decisions.c.at >= start, decisions.c.at < end))
            .group_by(decisions.c.actions)):
        for key, n in json.loads(actions_json or "{}").items():
            copies[key] += int(n) * times
    # chart buckets: days for up to two months, then weeks
    tz = data.period.start.tzinfo
    step = timedelta(days=1) if data.period.days <= 62 else timedelta(days=7)
    buckets: list[tuple[datetime, datetime]] = []
    cursor = data.period.start
    while cursor < data.period.end:
        nxt = datetime.combine((cursor + step).date(), dtime.min, tzinfo=tz)  # DST-safe local midnights
        buckets.append((cursor, min(nxt, data.period.end)))
        cursor = nxt
    series = [Counter() for _ in buckets]
    edges = [b[0].timestamp() for b in buckets]
    rows = conn.execute(select(decisions.c.at, decisions.c.action).where(once_per_message(start, end))).all()
    for at, action in [*rows, *((at, action) for _, _, action, at in _lost_holds(conn, start, end, seen))]:
        series[_bisect(edges, at)][action] += 1
    fmt = "%a %-d" if step.days == 1 else "%-d %b"
    data.volume = {
        "total": sum(by_action.values()),
        "previous_total": sum(prev_action.values()),
        "by_action": {a: by_action.get(a, 0) for a in ACTIONS},
        "previous_by_action": {a: prev_action.get(a, 0) for a in ACTIONS},
        "by_direction": {d: {a: by_dir[d].get(a, 0) for a in ACTIONS} for d in DIRECTIONS if by_dir.get(d)},
        "copies": dict(sorted(copies.items())),
        "series": [{"label": b[0].strftime(fmt), "counts": {a: c.get(a, 0) for a in ACTIONS}}
                   for b, c in zip(buckets, series)],
        "bucket": "day" if step.days == 1 else "week",
    }


def _bisect(edges: list[float], at: float) -> int:
    lo, hi = 0, len(edges) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if edges[mid] <= at:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass(frozen=True, slots=True)
class _Hold:
    id: str
    received_at: float
    status: str
    direction: str
    sender_role: str
    mail_from: str
    categories: tuple[str, ...]
    codes: tuple[str, ...]
    severity_by_category: dict[str, int]
    level: int = 0  # the highest risk level 1-5 of its findings (filters/levels.py), 0 = none


def risk_level(findings: list[dict]) -> int:
    """The highest risk level 1-5 among a hold's stored findings (filters/levels.py), 0 = none."""
    return max((int(f.get("level", 0) or 0) for f in findings), default=0)


def is_incident(categories: set[str] | frozenset[str], level: int) -> bool:
    """THE incident rule for one hold (incident_categories applies it to a period): a finding in a
    safeguarding category, or any finding of level 4-5 (the DSL was alerted for it)."""
    return bool(set(categories) & {str(c) for c in SAFEGUARDING_CATEGORIES}) or level >= 4


def _in_schools(column: Any, schools: Sequence[str] | None) -> Any:
    """True, or: the packed schools column names one of `schools` (one school's figures)."""
    from sqlalchemy import true

    from quarantine.store import school_condition

    return true() if schools is None else school_condition(column, schools)


def _holds(conn: Any, start: float, end: float, schools: Sequence[str] | None = None) -> list[_Hold]:
    """Held and rejected records received in the period (findings read for category/severity only);
    `schools`: only those schools' records (None: every school)."""
    out = []
    for r in conn.execute(select(messages.c.id, messages.c.received_at, messages.c.status, messages.c.direction,
                                 messages.c.sender_role, messages.c.mail_from, messages.c.categories,
                                 messages.c.codes, messages.c.findings)
                          .where(and_(messages.c.received_at >= start, messages.c.received_at < end,
                                      _in_schools(messages.c.schools, schools)))):
        severity: dict[str, int] = {}
        stored = json.loads(r.findings or "[]")
        risk = risk_level(stored)
        for f in stored:
            try:
                level = int(Severity.parse(f.get("severity", "low")))
            except KeyError:
                level = 1
            cat = f.get("category", "")
            severity[cat] = max(severity.get(cat, 0), level)
        out.append(_Hold(r.id, r.received_at, r.status, r.direction, r.sender_role, r.mail_from,
                         tuple(_split(r.categories)), tuple(_split(r.codes)), severity, risk))
    return out


def _decisions_by_message(conn: Any, end_before: float | None) -> dict[str, tuple[float, str, str]]:
    """message id -> (time, action, actor) of the first release or delete."""
    out: dict[str, tuple[float, str, str]] = {}
    query = select(audit.c.message_id, audit.c.at, audit.c.action, audit.c.actor).where(
        audit.c.action.in_(DECIDED)).order_by(audit.c.at)
    for mid, at, action, actor in conn.execute(query):
        if mid and mid not in out:
            out[mid] = (at, action, actor)
    return out


def _is_released(status: str) -> bool:
    return status in ("released", "partially_released")


def _outcomes(data: ReportData, holds: list[_Hold]) -> None:
    counts = Counter()
    for h in holds:
        if h.status == "rejected":
            counts["rejected"] += 1
            continue
        counts["held"] += 1
        if _is_released(h.status):
            counts["released"] += 1
        elif h.status == "deleted":
            counts["deleted"] += 1
        else:  # held or releasing
            counts["waiting"] += 1
    data.outcomes = {k: counts.get(k, 0) for k in ("held", "rejected", "released", "deleted", "waiting")}


def message_categories(conn: Any, holds: list[_Hold], start: float, end: float,
                       schools: Sequence[str] | None = None) -> dict[str, tuple[set, str]]:
    """THE definition of a message for every section (docs/reports.md): one message id the
    gateway decided in the period (the decision log) or whose hold/reject record was received
    in it (the holds index), counted once however many recipients or findings it had.
    -> id -> (its categories, its action). An *incident* is such a message with a finding
    in a safeguarding category."""
    out: dict[str, tuple[set, str]] = {}
    for mid, cats, action in conn.execute(
            select(decisions.c.message_id, decisions.c.categories, decisions.c.action)
            .where(and_(decisions.c.at >= start, decisions.c.at < end, _in_schools(decisions.c.schools, schools)))
            .order_by(decisions.c.id)):
        before = out.get(mid, (set(), action))[0]
        out[mid] = (before | set(_split(cats)), action)
    for h in holds:
        before, action = out.get(h.id, (set(), "reject" if h.status == "rejected" else "hold"))
        out[h.id] = (before | set(h.categories), action)
    return out


def incident_categories(conn: Any, holds: list[_Hold], start: float, end: float,
                        schools: Sequence[str] | None = None) -> dict[str, set[str]]:
    """THE definition of an incident (docs/reports.md), for every section and every trend:
    a message of message_categories with a finding in a safeguarding category -> those
    categories; plus any hold with a finding of level 4-5 (the DSL was alerted for it: an
    explicit threat, a weapon at school; filters/policy.py DSL_LEVEL) -> no category, so it
    counts in the total and by level only."""
    names = {str(c) for c in SAFEGUARDING_CATEGORIES}
    # rows without a category cannot make an incident: leave them in the database (a term of
    # plain traffic is most of the log). What remains is message_categories' own union.
    out: dict[str, set[str]] = {}
    for mid, cats in conn.execute(
            select(decisions.c.message_id, decisions.c.categories)
            .where(and_(decisions.c.at >= start, decisions.c.at < end, _in_schools(decisions.c.schools, schools),
                        func.coalesce(decisions.c.categories, "") != ""))):
        found = set(_split(cats)) & names
        if found:
            out.setdefault(mid, set()).update(found)
    for h in holds:
        found = set(h.categories) & names
        if found:
            out.setdefault(h.id, set()).update(found)
    for h in holds:
        if h.level >= 4 and h.id not in out:
            out[h.id] = set()
    return out


def _categories(conn: Any, data: ReportData, holds: list[_Hold], start: float, end: float,
                schools: Sequence[str] | None = None) -> None:
    seen: dict[str, Counter] = defaultdict(Counter)
    for cats, action in message_categories(conn, holds, start, end, schools).values():
        for cat in cats:
            seen[cat][action] += 1
            seen[cat]["messages"] += 1
    held: dict[str, Counter] = defaultdict(Counter)
    for h in holds:
        for cat in h.categories:
            c = held[cat]
            c[f"sev_{h.severity_by_category.get(cat, 0)}"] += 1
            c["records"] += 1
            if h.status == "rejected":
                continue
            c["held"] += 1
            c["released" if _is_released(h.status) else "deleted" if h.status == "deleted" else "waiting"] += 1
    rows = []
    for cat in _category_order([*seen, *held]):
        s, h = seen.get(cat, Counter()), held.get(cat, Counter())
        decided = h["released"] + h["deleted"]
        rows.append({
            "category": cat, "label": CATEGORY_LABELS.get(cat, cat.replace("_", " ").capitalize()),
            "group": group_of(cat), "safeguarding": cat in {str(c) for c in SAFEGUARDING_CATEGORIES},
            "messages": s["messages"],  # message_categories: the one definition
            **{a: s.get(a, 0) for a in ACTIONS},
            "low": h["sev_1"], "medium": h["sev_2"], "high": h["sev_3"], "critical": h["sev_4"],
            "released": h["released"], "deleted": h["deleted"], "waiting": h["waiting"],
            "release_rate": (h["released"] / decided) if decided else None,
            # a high release share hints "too strict" only where reviewers judge the filter;
            # a safeguarding hold is released after the DSL dealt with it, which says nothing of the filter
            "strictness_hint": cat not in {str(c) for c in SAFEGUARDING_CATEGORIES},
        })
    data.categories = rows


def _safeguarding(conn: Any, data: ReportData, holds: list[_Hold], tables: dict, start: float, end: float,
                  schools: Sequence[str] | None = None) -> None:
    names = {str(c) for c in SAFEGUARDING_CATEGORIES}
    by_id = {h.id: h for h in holds}
    # the same messages the categories table counts (message_categories), so the two agree
    incident_cats = incident_categories(conn, holds, start, end, schools)
    incidents = [by_id.get(mid) or _Hold(mid, start, "unknown", "", "", "", tuple(cats), (), {})
                 for mid, cats in incident_cats.items()]
    ids = [h.id for h in incidents]
    alerted: set[str] = set()
    acked: dict[str, float] = {}
    escalated: set[str] = set()
    sent_at: dict[str, float] = {}
    if ids and "dsl_alerts" in tables:
        t = tables["dsl_alerts"]
        for r in conn.execute(select(t).where(t.c.message_id.in_(ids))):
            alerted.add(r.message_id)
            sent_at[r.message_id] = min(sent_at.get(r.message_id, r.sent_at), r.sent_at)
            if r.acked_at is not None:
                acked[r.message_id] = min(acked.get(r.message_id, r.acked_at), r.acked_at)
            if r.escalated_at is not None or r.why == "escalated":
                escalated.add(r.message_id)
    if ids:
        for mid, action in conn.execute(select(audit.c.message_id, audit.c.action).where(and_(
                audit.c.message_id.in_(ids), audit.c.action.in_(("escalate", "dsl_escalated_to_deputy"))))):
            escalated.add(mid)
        for mid, at in conn.execute(select(audit.c.message_id, audit.c.at).where(and_(
                audit.c.message_id.in_(ids), audit.c.action == "dsl_ack"))):
            acked[mid] = min(acked.get(mid, at), at)
    rows = []
    for cat in sorted(names):
        mine = [h for h in incidents if cat in incident_cats[h.id]]
        rows.append({
            "category": cat, "label": CATEGORY_LABELS.get(cat, cat), "incidents": len(mine),
            "alerted": sum(h.id in alerted for h in mine),
            "acknowledged": sum(h.id in acked for h in mine),
            "escalated": sum(h.id in escalated for h in mine),
            "closed": sum(h.status in ("released", "partially_released", "deleted", "rejected") for h in mine),
            "open": sum(h.status in ("held", "releasing") for h in mine),
        })
    ack_minutes = [(acked[i] - sent_at.get(i, h.received_at)) / 60 for h in incidents for i in [h.id] if i in acked]
    by_level = Counter(h.level for h in incidents)
    data.safeguarding = {
        "rows": rows, "total": len(incidents),
        # what the Head's report counts (issue 17): incidents by risk level, 5 first; 0 = not graded
        "by_level": [{"level": n, "label": LEVEL_LABELS[n], "incidents": by_level.get(n, 0),
                      "open": sum(h.status in ("held", "releasing") for h in incidents if h.level == n)}
                     for n in (5, 4, 3, 2, 1, 0)],
        "acknowledged": sum(h.id in acked for h in incidents),
        "escalated": sum(h.id in escalated for h in incidents),
        "open": sum(h.status in ("held", "releasing") for h in incidents),
        "median_ack_minutes": percentile(ack_minutes, 0.5),
        "cases": _case_status(conn, ids, tables),
    }
    if "dsl_alerts" not in tables:
        data.notes.append("DSL alert acknowledgements are not recorded by this installation.")


CASE_STATES = ("new", "open", "closed")
CASE_MARKS = ("true_positive", "false_positive", "not_marked")


def _case_status(conn: Any, ids: list[str], tables: dict) -> dict[str, Any]:
    """The DSL's own record of the same incidents (quarantine/cases.py): status, outcome and
    true/false-positive mark, counted, never read out. An incident without a case row is
    "new", so each state and each mark adds up to the incident total."""
    saved: dict[str, Any] = {}
    if ids and "cases" in tables:
        t = tables["cases"]
        for chunk in _chunks(ids, 500):
            for r in conn.execute(select(t.c.message_id, t.c.status, t.c.verdict, t.c.outcome, t.c.action_taken)
                                  .where(t.c.message_id.in_(chunk))):
                saved[r.message_id] = r
    status: Counter = Counter()
    marks: Counter = Counter()
    outcome = action = 0
    for mid in ids:
        r = saved.get(mid)
        status[r.status if r is not None and r.status in CASE_STATES else "new"] += 1
        marks[r.verdict if r is not None and r.verdict in CASE_MARKS else "not_marked"] += 1
        outcome += bool(r is not None and (r.outcome or "").strip())
        action += bool(r is not None and (r.action_taken or "").strip())
    marked = marks["true_positive"] + marks["false_positive"]
    return {"status": {k: status.get(k, 0) for k in CASE_STATES},
            "marks": {k: marks.get(k, 0) for k in CASE_MARKS},
            "outcome_recorded": outcome, "action_recorded": action,
            "false_positive_rate": marks["false_positive"] / marked if marked else None,
            "recorded": "cases" in tables}


CLI_NO_ACCOUNT = "command line (no account)"


def role_of_actor(actor: str, roles: dict[str, str]) -> str:
    """The role an audit actor acted in: an account name (or the older "web:NAME") -> its role;
    a console command without --as says so; never "the DSL" unless a dsl account did it."""
    name = actor[4:] if actor.startswith("web:") else actor
    if name in roles:
        return roles[name]
    if actor.startswith("cli:"):
        return CLI_NO_ACCOUNT
    return actor.split(":", 1)[0] if ":" in actor else "other"


def _closed_by(conn: Any, data: ReportData, holds: list, decided: dict, tables: dict) -> None:
    """Safeguarding incidents closed (first release or delete), counted by the closer's role."""
    names = {str(c) for c in SAFEGUARDING_CATEGORIES}
    roles: dict[str, str] = {}
    if "users" in tables:
        t = tables["users"]
        roles = {r.name: r.role for r in conn.execute(select(t.c.name, t.c.role))}
    counts: Counter = Counter()
    for h in holds:
        if names & set(h.categories) and h.id in decided:
            counts[role_of_actor(decided[h.id][2], roles)] += 1
    data.safeguarding["closed_by"] = dict(sorted(counts.items()))


def _review(conn: Any, data: ReportData, holds: list[_Hold], decided: dict, tables: dict,
            start: float, end: float) -> None:
    # time from hold to first release/delete, for decisions made in the period
    hold_at: dict[str, tuple[float, bool]] = {}
    ids_decided = [mid for mid, (at, _, _) in decided.items() if start <= at < end]
    safeguarding = {str(c) for c in SAFEGUARDING_CATEGORIES}
    for chunk in _chunks(ids_decided, 500):
        for r in conn.execute(select(messages.c.id, messages.c.received_at, messages.c.categories)
                              .where(messages.c.id.in_(chunk))):
            hold_at[r.id] = (r.received_at, bool(safeguarding & set(_split(r.categories))))
    times_all, times_sg, times_other = [], [], []
    actor_counts: Counter = Counter()
    for mid in ids_decided:
        if mid not in hold_at:
            continue
        at, action, actor = decided[mid]
        hours = max(0.0, at - hold_at[mid][0]) / 3600
        times_all.append(hours)
        (times_sg if hold_at[mid][1] else times_other).append(hours)
        actor_counts[(actor, action)] += 1
    # who decided: by account role unless names may be shown
    roles: dict[str, str] = {}
    if "users" in tables:
        t = tables["users"]
        roles = {r.name: r.role for r in conn.execute(select(t.c.name, t.c.role))}
    by_reviewer: Counter = Counter()
    for (actor, action), n in actor_counts.items():
        # by role unless names may be shown; "cli:jsmith", "link:..." -> how, not who
        who = actor if data.show_names else role_of_actor(actor, roles)
        by_reviewer[(who, action)] += n
    reviewers = defaultdict(lambda: {"release": 0, "delete": 0})
    for (who, action), n in by_reviewer.items():
        reviewers[who][action] += n
    # backlog at the end of the period, by age
    backlog = Counter()
    for r in conn.execute(select(messages.c.id, messages.c.received_at, messages.c.status)
                          .where(and_(messages.c.received_at < end, messages.c.status != "rejected"))):
        first = decided.get(r.id)
        still = (first is None and r.status in ("held", "releasing", "partially_released")) or \
            (first is not None and first[0] >= end)
        if not still:
            continue
        age = end - r.received_at
        for limit, label in BACKLOG_BUCKETS:
            if age < limit:
                backlog[label] += 1
                break
    # finding codes marked false positive in the period
    fp_codes: list[dict] = []
    if "false_positives" in tables:
        t = tables["false_positives"]
        held_codes = Counter(code for h in holds if h.status != "rejected" for code in h.codes)
        for code, n in conn.execute(select(t.c.code, func.count()).where(and_(t.c.at >= start, t.c.at < end))
                                    .group_by(t.c.code).order_by(func.count().desc(), t.c.code).limit(10)):
            fp_codes.append({"code": code, "marked": int(n), "held": held_codes.get(code, 0)})
    else:
        data.notes.append("False-positive marks are not recorded; the release rate stands in for them.")
    data.review = {
        "decisions": len(times_all),
        "median_hours": percentile(times_all, 0.5), "p90_hours": percentile(times_all, 0.9),
        "safeguarding_median_hours": percentile(times_sg, 0.5), "safeguarding_p90_hours": percentile(times_sg, 0.9),
        "other_median_hours": percentile(times_other, 0.5), "other_p90_hours": percentile(times_other, 0.9),
        "backlog": {label: backlog.get(label, 0) for _, label in BACKLOG_BUCKETS},
        "backlog_total": sum(backlog.values()),
        "reviewers": dict(sorted(reviewers.items())),
        "false_positive_codes": fp_codes,
        "release_rates": [{"label": c["label"], "category": c["category"], "released": c["released"],
                           "deleted": c["deleted"], "rate": c["release_rate"]}
                          for c in data.categories if c["release_rate"] is not None],
    }


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _who(conn: Any, data: ReportData, holds: list[_Hold], start: float, end: float, show_names: bool,
         seen: Lost | None = None) -> None:
    by_role: dict[str, Counter] = defaultdict(Counter)
    for role, action, n in conn.execute(
            select(decisions.c.sender_role, decisions.c.action, func.count())
            .where(once_per_message(start, end))  # each message once, as in Volume
            .group_by(decisions.c.sender_role, decisions.c.action)):
        by_role[role or "unknown"][action] += n
    for _, role, action, _ in _lost_holds(conn, start, end, seen):
        by_role[role or "unknown"][action] += 1
    copies: dict[str, Counter] = defaultdict(Counter)
    for key, n in data.volume.get("copies", {}).items():
        role, _, action = key.partition(":")
        copies[role][action] += n
    senders: Counter = Counter()
    sender_role: dict[str, str] = {}
    for h in holds:
        if h.status == "rejected":
            continue
        senders[h.mail_from.lower()] += 1
        sender_role[h.mail_from.lower()] = h.sender_role
    top = []
    letters: Counter = Counter()
    for address, n in sorted(senders.items(), key=lambda kv: (-kv[1], kv[0]))[:10]:
        role = sender_role[address] or "unknown"
        if show_names:
            name = address or "(empty sender)"
        elif role == "external":
            domain = address.rpartition("@")[2]
            name = f"External sender at {domain}" if domain else "External sender (no address)"
        else:  # pupils and staff by role and a letter only: the default report names nobody
            name = f"{role.capitalize()} {_letter(letters[role])}"
            letters[role] += 1
        top.append({"sender": name, "role": role, "held": n})
    data.who = {
        "by_role": {r: {a: by_role[r].get(a, 0) for a in ACTIONS} for r in [*ROLES, *sorted(set(by_role) - set(ROLES))]
                    if r in by_role},
        "copies": {r: {a: copies[r].get(a, 0) for a in ACTIONS} for r in sorted(copies)},
        "held_by_role": dict(Counter(h.sender_role for h in holds if h.status != "rejected")),
        "top_senders": top,
    }
    data.notes.append("Year groups are not in the directory (email, role, name), so counts are by role only.")


def _letter(n: int) -> str:
    letters = string.ascii_uppercase
    return letters[n] if n < 26 else letters[n // 26 - 1] + letters[n % 26]


def _health(conn: Any, data: ReportData, start: float, end: float, clamd: dict | None, now: datetime) -> None:
    failures: Counter = Counter()
    tempfail_filter = tempfail_delivery = 0
    in_period = and_(decisions.c.at >= start, decisions.c.at < end)
    for action, fails, n in conn.execute(select(decisions.c.action, decisions.c.failures, func.count())
                                         .where(in_period).group_by(decisions.c.action, decisions.c.failures)):
        for f in _split(fails):
            failures[f] += n
        if action == "tempfail":
            if _split(fails):
                tempfail_filter += n
            else:  # the filters decided; the next hop could not take it (451 passed back)
                tempfail_delivery += n
    seconds = [secs or 0.0 for (secs,) in conn.execute(select(decisions.c.seconds).where(in_period))]
    release_failed = int(conn.execute(select(func.count()).select_from(audit).where(and_(
        audit.c.action == "release_failed", audit.c.at >= start, audit.c.at < end))).scalar_one())
    starts = [r.at for r in conn.execute(select(config_snapshots.c.at).where(and_(
        config_snapshots.c.at >= start, config_snapshots.c.at < end)).order_by(config_snapshots.c.at))]
    last_start = conn.execute(select(func.max(config_snapshots.c.at))
                              .where(config_snapshots.c.at < end)).scalar_one()
    sends = [dict(r._mapping) for r in conn.execute(select(report_runs).where(and_(
        report_runs.c.at >= start, report_runs.c.at < end)).order_by(report_runs.c.at))]
    data.health = {
        "filter_failures": [{"filter": k.partition(":")[0], "kind": k.partition(":")[2] or "error", "count": n}
                            for k, n in sorted(failures.items(), key=lambda kv: (-kv[1], kv[0]))],
        "filter_failures_total": sum(failures.values()),
        "tempfail": data.volume["by_action"].get("tempfail", 0),
        "tempfail_filter": tempfail_filter, "tempfail_delivery": tempfail_delivery,
        "release_failed": release_failed,
        "median_ms": (percentile(seconds, 0.5) or 0) * 1000 if seconds else None,
        "p95_ms": (percentile(seconds, 0.95) or 0) * 1000 if seconds else None,
        "starts": len(starts),
        "last_start": datetime.fromtimestamp(last_start, now.tzinfo) if last_start else None,
        "clamd": clamd,
        "reports_sent": sum(1 for s in sends if s["ok"]), "reports_failed": sum(1 for s in sends if not s["ok"]),
    }
    if last_start is None:
        data.notes.append("No gateway start is recorded before the end of this period, so uptime is unknown.")


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            out.update(_flatten(v, f"{prefix}[{i + 1}]"))
    else:
        out[prefix] = value
    return out


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def diff_config(old: dict, new: dict) -> list[dict[str, str]]:
    """Human-sized differences: a list shows what was added and removed, anything else old -> new."""
    a, b = _flatten(old), _flatten(new)
    changes = []
    for key in sorted(set(a) | set(b)):
        before, after = a.get(key, None), b.get(key, None)
        if before == after:
            continue
        if isinstance(before, list) or isinstance(after, list):
            old_items = [json.dumps(x) if not isinstance(x, str) else x for x in (before or [])]
            new_items = [json.dumps(x) if not isinstance(x, str) else x for x in (after or [])]
            added = [x for x in new_items if x not in old_items]
            removed = [x for x in old_items if x not in new_items]
            parts = []
            if added:
                parts.append(f"added {len(added)}: " + ", ".join(added[:5]) + (" ..." if len(added) > 5 else ""))
            if removed:
                parts.append(f"removed {len(removed)}: " + ", ".join(removed[:5]) + (" ..." if len(removed) > 5 else ""))
            change = "; ".join(parts) or "reordered"
        elif key.startswith("list_files."):
            change = "list file edited" if before and after else "list file added" if after else "list file removed"
        else:
            change = f"{_short(before) if key in a else '(not set)'} -> {_short(after) if key in b else '(not set)'}"
        changes.append({"key": key, "change": change})
    return changes


def _policy(conn: Any, data: ReportData, start: float, end: float) -> None:
    base = conn.execute(select(config_snapshots.c.at, config_snapshots.c.config)
                        .where(and_(config_snapshots.c.at < start, config_snapshots.c.config != ""))
                        .order_by(config_snapshots.c.at.desc()).limit(1)).first()
    during = conn.execute(select(config_snapshots.c.at, config_snapshots.c.config)
                          .where(and_(config_snapshots.c.at >= start, config_snapshots.c.at < end,
                                      config_snapshots.c.config != ""))
                          .order_by(config_snapshots.c.at)).all()
    tz = data.period.start.tzinfo
    changes = []
    previous = json.loads(base.config) if base else None
    for row in during:
        current = json.loads(row.config)
        if previous is not None:
            changes.append({"at": datetime.fromtimestamp(row.at, tz), "changes": diff_config(previous, current)})
        previous = current
    data.policy = {"changes": changes, "baseline": base is not None, "snapshots": len(during)}
    if base is None and during:
        data.notes.append("The first configuration recorded is from within this period; earlier changes are unknown.")
    elif base is None:
        data.notes.append("No configuration was recorded for this period (the gateway records it at each start).")


# -- trends -----------------------------------------------------------------------------------------
TREND_ACTIONS = (("messages", "All messages"), ("delivered", "Delivered"), ("held", "Held for review"),
                 ("rejected", "Rejected"), ("deferred", "Deferred"))


def _counts(conn: Any, start: float, end: float, seen: Lost | None = None) -> dict[str, int]:
    """The trend measures of one period, by the definitions every section uses: volume from
    the decision log (as the Volume section), incidents from incident_categories (as the
    Safeguarding section), by category and by risk level."""
    by_action: Counter = Counter()
    for (_, action), n in message_actions(conn, start, end, seen).items():
        by_action[action] += n
    out = {"messages": sum(by_action.values()), "delivered": by_action["pass"] + by_action["tag"],
           "held": by_action["hold"], "rejected": by_action["reject"], "deferred": by_action["tempfail"]}
    holds = _holds(conn, start, end)
    level_of = {h.id: h.level for h in holds}
    incidents = incident_categories(conn, holds, start, end)
    out["incidents"] = len(incidents)
    for cat in sorted(str(c) for c in SAFEGUARDING_CATEGORIES):
        out[f"incidents/{cat}"] = sum(cat in cats for cats in incidents.values())
    levels = Counter(level_of.get(mid, 0) for mid in incidents)
    for n in (5, 4, 3, 2, 1, 0):
        out[f"incidents/level_{n}"] = levels.get(n, 0)
    return out


def _current_counts(data: ReportData) -> dict[str, int]:
    """This period's measures, read from the sections themselves (so a trend and its
    section can never disagree)."""
    v, sg = data.volume["by_action"], data.safeguarding
    out = {"messages": data.volume["total"], "delivered": v["pass"] + v["tag"], "held": v["hold"],
           "rejected": v["reject"], "deferred": v["tempfail"], "incidents": sg["total"]}
    for row in sg["rows"]:
        out[f"incidents/{row['category']}"] = row["incidents"]
    for row in sg["by_level"]:
        out[f"incidents/level_{row['level']}"] = row["incidents"]
    return out


def coverage(first_record: float | None, period: Period) -> str:
    """Whether the store can speak for a comparison period: "full", "partial" (the gateway's
    first record falls inside it) or "none" (before the gateway, or purged: [retention]
    decisions_days). A comparison without data says so; it is never a 0 to divide by."""
    if first_record is None or first_record >= period.end_ts:
        return "none"
    return "partial" if first_record > period.start_ts else "full"


def _trends(conn: Any, data: ReportData, seen: Lost | None = None) -> None:
    first = min((t for t in (conn.execute(select(func.min(decisions.c.at))).scalar(),
                             conn.execute(select(func.min(messages.c.received_at))).scalar()) if t is not None),
                default=None)
    tz = data.period.start.tzinfo
    now = _current_counts(data)
    comparisons = {}
    for key, other in (("previous", data.previous), ("last_year", data.period.last_year())):
        cover = coverage(first, other)
        comparisons[key] = {
            "period": other, "coverage": cover,
            "counts": _counts(conn, other.start_ts, other.end_ts, seen) if cover != "none" else None,
            "first_record": datetime.fromtimestamp(first, tz) if first is not None else None,
        }
    rows = [{"key": k, "label": label, "indent": False} for k, label in TREND_ACTIONS]
    rows.append({"key": "incidents", "label": "Safeguarding incidents", "indent": False})
    for cat in sorted(str(c) for c in SAFEGUARDING_CATEGORIES):
        rows.append({"key": f"incidents/{cat}", "label": CATEGORY_LABELS.get(cat, cat), "indent": True})
    for n in (5, 4, 3, 2, 1, 0):
        rows.append({"key": f"incidents/level_{n}", "label": f"risk level {LEVEL_LABELS[n]}" if n else
                     "risk level not graded", "indent": True})
    for row in rows:
        row["now"] = now.get(row["key"], 0)
        for key, comp in comparisons.items():
            row[key] = None if comp["counts"] is None else comp["counts"].get(row["key"], 0)
        # a category or level row that is zero everywhere says nothing: the table shows the rest
        row["shown"] = not row["indent"] or bool(row["now"] or row["previous"] or row["last_year"])
    data.trends = {"rows": rows, **comparisons}
    for key, what in (("previous", "the previous period"), ("last_year", "the same period last year")):
        comp = comparisons[key]
        if comp["coverage"] == "none":
            data.notes.append(f"No data for {what} ({comp['period'].start:%-d %b %Y} to "
                              f"{comp['period'].until_text}): the gateway's records begin later, so there "
                              f"is no trend against it.")
        elif comp["coverage"] == "partial":
            data.notes.append(f"The gateway's records begin on {comp['first_record']:%-d %b %Y}, part way "
                              f"through {what}: its counts cover only part of it.")

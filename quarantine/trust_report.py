"""The trust report: the schools of a multi-academy trust side by side, and each school's own
report for its Head (docs/trust.md). Counts and times only: no pupil or staff names, no
addresses, no subjects, no message content.

Per school, for a period: messages decided (by direction and by action), holds, safeguarding
holds by risk level (filters/levels.py, 1-5; 0 = not graded), time to review (first release or
delete after the hold: median and 90th percentile), and the false-positive rate (the share of
reviewed holds a reviewer marked as a false positive). A message two schools own (mail between
them) counts for each; the trust's total counts it once.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Awaitable, Callable, Iterator, Sequence

from jinja2 import Environment, select_autoescape
from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine

from filters.base import SAFEGUARDING_CATEGORIES
from filters.tenancy import Tenancy
from quarantine.report_data import ACTIONS, DIRECTIONS, DECIDED, LEVEL_LABELS, Period, percentile
from quarantine.reports import report_message
from quarantine.review_store import false_positives
from quarantine.store import audit, decisions, message_levels, messages, school_condition

TRUST = "trust"  # the id of the totals row
_SAFEGUARDING = frozenset(str(c) for c in SAFEGUARDING_CATEGORIES)


@dataclass(frozen=True, slots=True)
class SchoolFigures:
    school_id: str
    name: str
    messages: int
    by_direction: dict[str, int]
    by_action: dict[str, int]
    held: int
    safeguarding: int
    by_level: dict[int, int]  # level -> safeguarding holds
    reviewed: int
    waiting: int
    review_median_hours: float | None
    review_p90_hours: float | None
    false_positives: int

    @property
    def false_positive_rate(self) -> float | None:
        return self.false_positives / self.reviewed if self.reviewed else None


@dataclass(frozen=True, slots=True)
class TrustReport:
    trust: str
    period: Period
    made_at: datetime
    schools: tuple[SchoolFigures, ...]
    total: SchoolFigures | None = None  # None: a single school's report
    levels: tuple[int, ...] = field(default=(5, 4, 3, 2, 1, 0))

    @property
    def rows(self) -> tuple[SchoolFigures, ...]:
        return self.schools + ((self.total,) if self.total else ())


def _figures(conn: Any, school_id: str, name: str, start: float, end: float,
             schools: Sequence[str] | None) -> SchoolFigures:
    """One school's figures (schools=None: every school, each message once)."""
    in_period = and_(decisions.c.at >= start, decisions.c.at < end)
    where = in_period if schools is None else and_(in_period, school_condition(decisions.c.schools, schools))
    by_direction = {d: 0 for d in DIRECTIONS}
    by_action = {a: 0 for a in ACTIONS}
    total = 0
    for direction, action, n in conn.execute(select(decisions.c.direction, decisions.c.action, func.count())
                                             .where(where).group_by(decisions.c.direction, decisions.c.action)):
        total += n
        by_direction[direction] = by_direction.get(direction, 0) + n
        by_action[action] = by_action.get(action, 0) + n
    held_where = and_(messages.c.received_at >= start, messages.c.received_at < end,
                      messages.c.status.notin_(["rejected", "incident"]))
    if schools is not None:
        held_where = and_(held_where, school_condition(messages.c.schools, schools))
    holds = conn.execute(select(messages.c.id, messages.c.received_at, messages.c.categories, message_levels.c.level)
                         .select_from(messages.outerjoin(message_levels, message_levels.c.message_id == messages.c.id))
                         .where(held_where)).all()
    ids = [h.id for h in holds]
    first: dict[str, float] = {}
    marked: set[str] = set()
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        for mid, at in conn.execute(select(audit.c.message_id, func.min(audit.c.at)).where(and_(
                audit.c.message_id.in_(chunk), audit.c.action.in_(DECIDED))).group_by(audit.c.message_id)):
            first[mid] = at
        marked.update(r[0] for r in conn.execute(select(false_positives.c.message_id).distinct()
                                                 .where(false_positives.c.message_id.in_(chunk))))
    by_level = {level: 0 for level in LEVEL_LABELS}
    safeguarding = 0
    waits = []
    for h in holds:
        if _SAFEGUARDING & set(h.categories.split()):
            safeguarding += 1
            by_level[h.level or 0] = by_level.get(h.level or 0, 0) + 1
        if h.id in first:
            waits.append(max(0.0, first[h.id] - h.received_at) / 3600)
    median, p90 = percentile(waits, 0.5), percentile(waits, 0.9)
    return SchoolFigures(school_id, name, total, by_direction, by_action, len(holds), safeguarding, by_level,
                         len(first), len(holds) - len(first), median, p90, len(marked & set(first)))


def gather_trust_sync(engine: Engine, period: Period, tenancy: Tenancy, *,
                      schools: Sequence[str] | None = None, now: datetime | None = None) -> TrustReport:
    """The trust report; schools: only these (a school's own report, or a scoped account's view),
    without the trust's total."""
    start, end = period.start_ts, period.end_ts
    wanted = [s for s in tenancy.schools if schools is None or s.id in schools]
    with engine.begin() as conn:
        rows = tuple(_figures(conn, s.id, s.name, start, end, [s.id]) for s in wanted)
        total = None
        if schools is None and tenancy.is_trust:
            total = _figures(conn, TRUST, f"{tenancy.trust_name} (all schools)", start, end, None)
    return TrustReport(tenancy.trust_name, period, now or datetime.now(period.start.tzinfo), rows, total)


# -- rendering ------------------------------------------------------------------------------------
def _hours(value: float | None) -> str:
    return "-" if value is None else (f"{value * 60:.0f} min" if value < 1 else f"{value:.1f} h")


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: .3em .6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.total td { font-weight: bold; background: #f3f3f3; }
p.note { color: #555; font-size: .9em; }
</style></head><body>
<h1>{{ title }}</h1>
<p>{{ r.period.label }}. Made {{ r.made_at.strftime("%d %b %Y %H:%M") }}. Counts and times only: no names,
addresses or message content.</p>
<h2>Volumes</h2>
<table><tr><th>School</th><th>Messages</th>{% for d in directions %}<th>{{ d }}</th>{% endfor %}
{% for a in actions %}<th>{{ a }}</th>{% endfor %}</tr>
{% for s in r.rows %}<tr{% if s.school_id == "trust" %} class="total"{% endif %}><td>{{ s.name }}</td>
<td>{{ s.messages }}</td>{% for d in directions %}<td>{{ s.by_direction.get(d, 0) }}</td>{% endfor %}
{% for a in actions %}<td>{{ s.by_action.get(a, 0) }}</td>{% endfor %}</tr>{% endfor %}</table>
<h2>Safeguarding holds by risk level</h2>
<table><tr><th>School</th><th>All</th>{% for l in r.levels %}<th>{{ labels[l] }}</th>{% endfor %}</tr>
{% for s in r.rows %}<tr{% if s.school_id == "trust" %} class="total"{% endif %}><td>{{ s.name }}</td>
<td>{{ s.safeguarding }}</td>{% for l in r.levels %}<td>{{ s.by_level.get(l, 0) }}</td>{% endfor %}</tr>{% endfor %}
</table>
<h2>Review</h2>
<table><tr><th>School</th><th>Held</th><th>Reviewed</th><th>Waiting</th><th>Time to review (median)</th>
<th>(90th percentile)</th><th>False positives</th><th>False-positive rate</th></tr>
{% for s in r.rows %}<tr{% if s.school_id == "trust" %} class="total"{% endif %}><td>{{ s.name }}</td>
<td>{{ s.held }}</td><td>{{ s.reviewed }}</td><td>{{ s.waiting }}</td><td>{{ hours(s.review_median_hours) }}</td>
<td>{{ hours(s.review_p90_hours) }}</td><td>{{ s.false_positives }}</td><td>{{ rate(s.false_positive_rate) }}</td>
</tr>{% endfor %}</table>
<p class="note">Mail between two schools of the trust counts for each of them; the trust's row counts it once.
Time to review: from the hold to its first release or delete. False-positive rate: reviewed holds a
reviewer marked as a false positive.</p>
</body></html>
"""


def _title(report: TrustReport) -> str:
    if report.total is None and len(report.schools) == 1:
        return f"{report.schools[0].name}: e-mail filtering, school report"
    return f"{report.trust}: e-mail filtering, schools compared"


def render_trust_html(report: TrustReport) -> str:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(_TEMPLATE).render(r=report, title=_title(report), directions=DIRECTIONS, actions=ACTIONS,
                                             labels=LEVEL_LABELS, hours=_hours, rate=_rate)


def csv_rows(report: TrustReport) -> Iterator[tuple[str, str, str, str, Any]]:
    """(school id, school, metric, breakdown, value)."""
    for s in report.rows:
        yield s.school_id, s.name, "messages", "", s.messages
        for d, n in s.by_direction.items():
            yield s.school_id, s.name, "messages", f"direction:{d}", n
        for a, n in s.by_action.items():
            yield s.school_id, s.name, "messages", f"action:{a}", n
        yield s.school_id, s.name, "held", "", s.held
        yield s.school_id, s.name, "safeguarding", "", s.safeguarding
        for level in report.levels:
            yield s.school_id, s.name, "safeguarding", f"level:{level}", s.by_level.get(level, 0)
        yield s.school_id, s.name, "reviewed", "", s.reviewed
        yield s.school_id, s.name, "waiting", "", s.waiting
        yield s.school_id, s.name, "time_to_review_hours", "median", \
            "" if s.review_median_hours is None else round(s.review_median_hours, 3)
        yield s.school_id, s.name, "time_to_review_hours", "p90", \
            "" if s.review_p90_hours is None else round(s.review_p90_hours, 3)
        yield s.school_id, s.name, "false_positives", "", s.false_positives
        yield s.school_id, s.name, "false_positive_rate", "", \
            "" if s.false_positive_rate is None else round(s.false_positive_rate, 4)


def render_trust_csv(report: TrustReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["school_id", "school", "metric", "breakdown", "value"])
    writer.writerows(csv_rows(report))
    return out.getvalue()


def render_trust_pdf(report: TrustReport) -> bytes:
    from weasyprint import HTML

    return HTML(string=render_trust_html(report)).write_pdf()


def render_trust(report: TrustReport, fmt: str) -> bytes:
    if fmt == "pdf":
        return render_trust_pdf(report)
    if fmt == "csv":
        return render_trust_csv(report).encode("utf-8")
    return render_trust_html(report).encode("utf-8")


# -- mail ------------------------------------------------------------------------------------------
def build_trust_mail(report: TrustReport, *, from_address: str, recipients: Sequence[str], attach: str = "pdf",
                     hostname: str = "schoolgate.local") -> bytes:
    msg = report_message(from_address, recipients, f"{_title(report)}: {report.period.label}", hostname)
    lines = [f"{s.name}: {s.messages} messages, {s.held} held, {s.safeguarding} safeguarding, "
             f"review median {_hours(s.review_median_hours)}, false positives {_rate(s.false_positive_rate)}"
             for s in report.rows]
    msg.set_content(f"{_title(report)}, {report.period.label}\n\n" + "\n".join(lines)
                    + "\n\nCounts only: no names, addresses or message content.\n")
    msg.add_alternative(render_trust_html(report), subtype="html")
    if attach in ("pdf", "csv"):
        body = render_trust(report, attach)
        maintype, subtype = ("application", "pdf") if attach == "pdf" else ("text", "csv")
        msg.add_attachment(body, maintype=maintype, subtype=subtype,
                           filename=f"schoolgate-trust-{report.period.start:%Y-%m-%d}.{attach}")
    return msg.as_bytes()


Deliver = Callable[[str, list[str], bytes], Awaitable[Any]]  # NextHop.deliver: -> result with .ok


def trust_jobs(tenancy: Tenancy, trust_recipients: Sequence[str]) -> list[tuple[str, tuple[str, ...],
                                                                              tuple[str, ...] | None]]:
    """(label, recipients, schools): each school with head_addresses, then the trust's comparison."""
    jobs: list[tuple[str, tuple[str, ...], tuple[str, ...] | None]] = [
        (s.id, tuple(s.head_addresses), (s.id,)) for s in tenancy.schools if s.head_addresses]
    if trust_recipients:
        jobs.append((TRUST, tuple(trust_recipients), None))
    return jobs


async def send_one(engine: Engine, period: Period, tenancy: Tenancy, deliver: Deliver, recipients: Sequence[str],
                   schools: Sequence[str] | None, *, from_address: str, attach: str, hostname: str) -> Any:
    import asyncio

    loop = asyncio.get_running_loop()  # reads for seconds and renders a PDF: off the event loop
    report = await loop.run_in_executor(None, lambda: gather_trust_sync(engine, period, tenancy, schools=schools))
    raw = await loop.run_in_executor(None, lambda: build_trust_mail(
        report, from_address=from_address, recipients=recipients, attach=attach, hostname=hostname))
    return await deliver(from_address, list(recipients), raw)


async def send_trust_reports(engine: Engine, period: Period, tenancy: Tenancy, deliver: Deliver, *,
                             from_address: str, trust_recipients: Sequence[str], attach: str = "pdf",
                             hostname: str = "schoolgate.local") -> list[tuple[str, Sequence[str], Any]]:
    """Each school's report to its Head (head_addresses), the comparison to trust_recipients.
    Returns (school id or "trust", recipients, delivery result) per mail sent."""
    return [(label, recipients, await send_one(engine, period, tenancy, deliver, recipients, schools,
                                               from_address=from_address, attach=attach, hostname=hostname))
            for label, recipients, schools in trust_jobs(tenancy, trust_recipients)]


class TrustReportScheduler:
    """The school and trust reports on [reports] schedule, from the node running the timers:
    each (label, period) is sent once, recorded with the other reports' sends (report_runs,
    trigger "trust:LABEL"), and a failed send is tried again at the next check."""

    def __init__(self, settings: Any, store: Any, next_hop: Callable[[], Any]) -> None:
        self.settings = settings
        self.store = store
        self.next_hop = next_hop
        self.tenancy = Tenancy.from_settings(settings)

    async def run_once(self, now: datetime | None = None) -> list[str]:
        from quarantine.report_data import period_for
        from quarantine.report_tables import record_run_sync, was_sent_sync
        from quarantine.reports import SCHEDULE_PERIOD, first_message_sync, local_now

        cfg = self.settings.reports
        now = now or local_now(self.settings)
        try:
            period = period_for(SCHEDULE_PERIOD[cfg.schedule], now, terms=cfg.terms)
        except ValueError:  # no term has ended yet
            return []
        first = await self.store.run(first_message_sync, self.store.engine)
        if now < period.end.replace(hour=cfg.send_hour) or first is None or first >= period.end_ts:
            return []
        hop = self.next_hop()
        sent = []
        for label, recipients, schools in trust_jobs(self.tenancy, self.settings.trust.report_recipients):
            trigger = f"trust:{label}"
            if hop is None or await self.store.run(was_sent_sync, self.store.engine, trigger, period.start_ts,
                                                   period.end_ts):
                continue
            result = await send_one(self.store.engine, period, self.tenancy, hop.deliver, recipients, schools,
                                    from_address=cfg.from_address or self.settings.notify.from_address
                                    or f"schoolgate@{self.settings.gateway.hostname}",
                                    attach=cfg.attach, hostname=self.settings.gateway.hostname)
            await self.store.run(lambda: record_run_sync(
                self.store.engine, trigger=trigger, period=period.kind, start=period.start_ts, end=period.end_ts,
                fmt=cfg.attach, recipients=list(recipients), ok=result.ok, reply=f"{result.code} {result.message}"))
            if result.ok:
                sent.append(trigger)
        return sent

    async def run(self, lease: Any = None) -> None:
        import asyncio
        import logging

        while True:
            try:
                if lease is None or await lease.held():  # several nodes: the timers' holder only
                    await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a report bug must not take the gateway down; try again next time
                logging.getLogger(__name__).exception("scheduled trust reports failed")
            await asyncio.sleep(self.settings.reports.check_minutes * 60)


def start_trust_reports(settings: Any, store: Any, next_hop: Callable[[], Any], lease: Any = None) -> Any:
    """At gateway start: the scheduler's task when this is a trust with a report schedule, else None."""
    import asyncio

    if not settings.schools or settings.reports.schedule == "off" or not trust_jobs(
            Tenancy.from_settings(settings), settings.trust.report_recipients):
        return None
    return asyncio.create_task(TrustReportScheduler(settings, store, next_hop).run(lease), name="schoolgate-trust")

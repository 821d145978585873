"""Reports to the Head of Centre and governors: build one for a period, render it, mail it, and send
scheduled ones from the running gateway, recording each send.

The data comes from quarantine/report_data.py (counts only), the output from
quarantine/report_render.py. Mail goes through the next hop like every other
notice the gateway sends; the hold path never sends mail itself.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Callable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from config.schema import Settings
from gateway.tasks import stop_task
from gateway.relay import DeliveryResult, NextHop
from quarantine.report_data import Period, ReportData, gather_sync, period_for
from quarantine.report_render import render_csv, render_html, render_pdf
from quarantine.report_tables import record_run_sync, snapshot_config_sync, was_sent_sync
from quarantine.store import QuarantineStore, decisions

log = logging.getLogger(__name__)

FORMATS = ("html", "pdf", "csv")
SCHEDULE_PERIOD = {"daily": "day", "weekly": "week", "monthly": "month", "termly": "term"}


def local_now(settings: Settings) -> dt.datetime:
    return dt.datetime.now(ZoneInfo(settings.reports.timezone))


async def clamd_status(settings: Settings, now: dt.datetime | None = None) -> dict | None:
    """clamd's signature date, asked at report time (None when the virus filter is not chained)."""
    opts = settings.filter_options.get("virus")
    if opts is None:
        return None
    from filters.virus import ClamdAddress, ClamdClient, parse_version

    try:
        reply = await ClamdClient(ClamdAddress.parse(opts.clamd), timeout=5.0).version()
    except Exception as exc:  # a report must still be made when clamd is down: say so in it
        return {"status": f"clamd not answering ({type(exc).__name__})", "age_days": None}
    version = parse_version(reply)
    if version.signature_date is None:
        return {"status": f"ClamAV {version.engine}, no signature date", "age_days": None}
    age = ((now or dt.datetime.now(dt.timezone.utc)) - version.signature_date).days
    return {"status": f"ClamAV {version.engine}", "age_days": max(0, age)}


async def build_report(settings: Settings, store: QuarantineStore, period: Period, *,
                       show_names: bool | None = None, now: dt.datetime | None = None) -> ReportData:
    now = now or local_now(settings)
    clamd = await clamd_status(settings, now)
    gather = functools.partial(gather_sync, store.engine, period, school=settings.school.name,
                               show_names=settings.reports.show_names if show_names is None else show_names,
                               now=now, clamd=clamd)
    # Not store.run(): that one thread is the gateway's writer, and a term's report reads
    # for seconds. A separate reader is safe (SQLite WAL; PostgreSQL MVCC).
    data = await asyncio.get_running_loop().run_in_executor(None, gather)
    from quarantine.report_years import add_years_for  # issue 21 clause 1: by year group
    await asyncio.get_running_loop().run_in_executor(None, add_years_for, settings, store.engine, data, now.date())
    return data


async def render(data: ReportData, fmt: str) -> bytes:
    """CPU-heavy (WeasyPrint takes a second or two): off the event loop."""
    def work() -> bytes:
        if fmt == "pdf":
            return render_pdf(data)
        if fmt == "csv":
            return render_csv(data).encode("utf-8")
        return render_html(data).html.encode("utf-8")
    return await asyncio.get_running_loop().run_in_executor(None, work)


def file_name(data: ReportData, fmt: str) -> str:
    return f"schoolgate-report-{data.period.start:%Y-%m-%d}-{data.period.kind}.{fmt}"


def summary_text(data: ReportData) -> str:
    """The plain-text part of the mail: the headline numbers."""
    v, o, sg = data.volume, data.outcomes, data.safeguarding
    return (f"{data.school}: e-mail filtering report, {data.period.label}\n\n"
            f"Messages: {v['total']:,} (previous period {v['previous_total']:,})\n"
            f"Held for review: {o['held']:,} ({o['released']} released, {o['deleted']} deleted, "
            f"{o['waiting']} still waiting)\n"
            f"Rejected: {o['rejected']:,}\n"
            f"Safeguarding incidents: {sg['total']} ({sg['open']} still open){_incident_trend(data)}\n"
            f"Filter failures: {data.health['filter_failures_total']}\n\n"
            + "".join(f"Needs attention: {line}\n" for line in data.attention)
            + "\nThe full report is in the HTML part of this message. It holds counts only, no message content.\n")


def _incident_trend(data: ReportData) -> str:
    """'; previous period 3, same period last year no data' for the plain-text headline."""
    rows = {r["key"]: r for r in data.trends.get("rows", [])}
    if "incidents" not in rows:
        return ""
    row = rows["incidents"]
    parts = [f"{what} {'no data' if row[key] is None else row[key]}"
             for key, what in (("previous", "previous period"), ("last_year", "same period last year"))]
    return "; " + ", ".join(parts)


def report_message(from_address: str, recipients: Sequence[str], subject: str, hostname: str) -> EmailMessage:
    """The headers every report mail carries (the school's and the trust's)."""
    msg = EmailMessage()
    msg["From"] = from_address
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=hostname)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to a report
    return msg


def build_mail(data: ReportData, *, from_address: str, recipients: Sequence[str], attach: str = "pdf",
               attachment: bytes | None = None, hostname: str = "schoolgate.local") -> bytes:
    """multipart/mixed: (text | HTML with the charts as cid: PNGs) + the PDF or CSV."""
    rendered = render_html(data, images="cid")
    msg = report_message(from_address, recipients,
                         f"E-mail filtering report: {data.period.label} ({data.school})", hostname)
    msg.set_content(summary_text(data))
    msg.add_alternative(rendered.html, subtype="html")
    html_part = msg.get_payload()[1]
    for cid, png in rendered.images.items():
        html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>",
                              filename=cid.split("@")[0] + ".png")
    if attach in ("pdf", "csv") and attachment is not None:
        maintype, subtype = ("application", "pdf") if attach == "pdf" else ("text", "csv")
        msg.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=file_name(data, attach))
    return msg.as_bytes()


async def send_report(settings: Settings, store: QuarantineStore, next_hop: NextHop, data: ReportData, *,
                      recipients: Sequence[str], attach: str, trigger: str) -> DeliveryResult:
    """Mail the report through the next hop and record the send (failed ones too)."""
    attachment = None
    if attach in ("pdf", "csv"):
        try:
            attachment = await render(data, attach)
        except (ImportError, OSError) as exc:  # WeasyPrint without Pango: the HTML still goes
            log.warning("report %s: no %s attached (%s); see docs/reports.md", trigger, attach, exc)
    from_address = (settings.reports.from_address or settings.notify.from_address
                    or f"schoolgate@{settings.gateway.hostname}")
    loop = asyncio.get_running_loop()
    raw = await loop.run_in_executor(None, functools.partial(
        build_mail, data, from_address=from_address, recipients=recipients, attach=attach,
        attachment=attachment, hostname=settings.gateway.hostname))
    result = await next_hop.deliver(from_address, list(recipients), raw)
    await store.run(functools.partial(
        record_run_sync, store.engine, trigger=trigger, period=data.period.kind, start=data.period.start_ts,
        end=data.period.end_ts, fmt=attach, recipients=list(recipients), ok=result.ok,
        reply=f"{result.code} {result.message}"))
    return result


# -- scheduled sending ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Job:
    trigger: str  # recorded with each send; with the period it makes a send happen once
    period: str  # day | week | month | term
    recipients: tuple[str, ...]
    attach: str
    show_names: bool


def jobs(settings: Settings) -> list[Job]:
    cfg = settings.reports
    out = []
    if cfg.schedule != "off" and cfg.recipients:
        out.append(Job("schedule:main", SCHEDULE_PERIOD[cfg.schedule], tuple(cfg.recipients), cfg.attach,
                       cfg.show_names))
    for extra in cfg.extra:
        out.append(Job(f"schedule:{extra.name}", SCHEDULE_PERIOD[extra.schedule], tuple(extra.recipients),
                       extra.attach, extra.show_names))
    return out


def first_message_sync(engine: Engine) -> float | None:
    """When the gateway decided on its first message (None: not yet). Scheduled reports start
    with the period that holds it: a report for a time before the gateway existed is all zeros
    and tells the Head nothing but that the gateway is new."""
    with engine.begin() as conn:
        return conn.execute(select(func.min(decisions.c.at))).scalar()


class ReportScheduler:
    """Every check_minutes: for each job, the period that ended most recently; if it is
    past send_hour on the day after, the gateway had its first message before the period
    ended, and no successful send is recorded, send it.
    Restart-safe (the record decides), and a failed send is tried again next check."""

    def __init__(self, settings: Settings, store: QuarantineStore, next_hop: Callable[[], NextHop | None]) -> None:
        self.settings = settings
        self.store = store
        self.next_hop = next_hop

    async def run_once(self, now: dt.datetime | None = None) -> list[str]:
        """The triggers sent this time."""
        now = now or local_now(self.settings)
        sent = []
        for job in jobs(self.settings):
            try:
                period = period_for(job.period, now, terms=self.settings.reports.terms)
            except ValueError:  # no term has ended yet
                continue
            due = period.end.replace(hour=self.settings.reports.send_hour)
            if now < due:
                continue
            first = await self.store.run(first_message_sync, self.store.engine)
            if first is None or first >= period.end_ts:
                log.debug("report %s for %s not sent: the gateway's first message came after it",
                          job.trigger, period.label)
                continue
            if await self.store.run(was_sent_sync, self.store.engine, job.trigger, period.start_ts, period.end_ts):
                continue
            hop = self.next_hop()
            if hop is None:
                log.warning("report %s due but no [gateway] next_hop to send it through", job.trigger)
                continue
            data = await build_report(self.settings, self.store, period, show_names=job.show_names, now=now)
            result = await send_report(self.settings, self.store, hop, data, recipients=job.recipients,
                                       attach=job.attach, trigger=job.trigger)
            if result.ok:
                log.info("report %s for %s sent to %d recipient(s)", job.trigger, period.label, len(job.recipients))
                sent.append(job.trigger)
            else:
                log.warning("report %s for %s not sent: %s %s", job.trigger, period.label, result.code,
                            result.message)
        return sent

    async def run(self, lease: Any = None) -> None:
        while True:
            try:
                # several nodes on one database: only the holder of the timers lease sends reports
                if lease is None or await lease.held():
                    await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a report bug must not take the gateway down; try again next time
                log.exception("scheduled reports failed")
            await asyncio.sleep(self.settings.reports.check_minutes * 60)


async def start_reports(settings: Settings, store: QuarantineStore,
                        next_hop: Callable[[], NextHop | None], lease: Any = None) -> asyncio.Task | None:
    """At gateway start: record the resolved config (policy changes, uptime), then start
    the scheduler when any report is scheduled. Returns the task to cancel on stop."""
    try:
        await store.run(snapshot_config_sync, store.engine, settings)
    except Exception:
        log.exception("config snapshot for reports not recorded")
    if not jobs(settings):
        return None
    return asyncio.create_task(ReportScheduler(settings, store, next_hop).run(lease), name="schoolgate-reports")


async def stop_reports(task: asyncio.Task | None) -> None:
    await stop_task(task)

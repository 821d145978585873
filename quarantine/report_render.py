"""Report output: HTML (saved, web or mailed with cid: charts), PDF via WeasyPrint, and CSV of the counts."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from jinja2 import Environment, FileSystemLoader, select_autoescape

from quarantine.report_charts import Chart, paired_bars, stacked_bars
from quarantine.report_data import ACTIONS, GROUPS, ReportData

TEMPLATES = Path(__file__).resolve().parent / "templates"
ACTION_LABELS = {"pass": "Delivered", "tag": "Delivered, tagged", "hold": "Held", "reject": "Rejected",
                 "tempfail": "Deferred"}


def hours(value: float | None) -> str:
    """1.5 -> '1.5 hours'; small values in minutes, large in days."""
    if value is None:
        return "–"
    if value < 1:
        return f"{value * 60:.0f} min"
    if value < 48:
        return f"{value:.1f} hours"
    return f"{value / 24:.1f} days"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def change(now: int, before: int) -> str:
    """'+12%' against the previous period; 'new' when there was nothing before."""
    if before == 0:
        return "no change" if now == 0 else "new"
    delta = (now - before) / before
    if abs(delta) < 0.005:
        return "no change"
    return f"{delta * 100:+.0f}%"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(hours=hours, percent=percent, thousands=lambda n: f"{n:,}")
    env.globals.update(change=change, ACTION_LABELS=ACTION_LABELS, ACTIONS=ACTIONS, GROUPS=GROUPS)
    return env


def charts_for(data: ReportData) -> dict[str, Chart]:
    vol = data.volume
    series = {
        "delivered": [s["counts"]["pass"] + s["counts"]["tag"] for s in vol["series"]],
        "held": [s["counts"]["hold"] for s in vol["series"]],
        "rejected": [s["counts"]["reject"] for s in vol["series"]],
        "deferred": [s["counts"]["tempfail"] for s in vol["series"]],
    }
    now, before = vol["by_action"], vol["previous_by_action"]
    rows = [("All messages", vol["total"], vol["previous_total"]),
            ("Delivered", now["pass"] + now["tag"], before["pass"] + before["tag"]),
            ("Held", now["hold"], before["hold"]), ("Rejected", now["reject"], before["reject"]),
            ("Deferred", now["tempfail"], before["tempfail"])]
    return {
        "volume": stacked_bars(f"Messages per {vol['bucket']}", [s["label"] for s in vol["series"]], series),
        "trend": paired_bars("This period against the one before", rows),
    }


@dataclass
class RenderedHtml:
    html: str
    images: dict[str, bytes] = field(default_factory=dict)  # cid -> PNG, for mail


def render_html(data: ReportData, *, images: str = "svg", nav: str = "") -> RenderedHtml:
    """images: "svg" (inline, for files, the web and the PDF) or "cid" (PNG parts, for mail)."""
    charts = charts_for(data)
    markup: dict[str, str] = {}
    pngs: dict[str, bytes] = {}
    for name, chart in charts.items():
        if images == "cid":
            cid = f"chart-{name}@schoolgate"
            pngs[cid] = chart.png()
            markup[name] = (f'<img src="cid:{cid}" alt="{chart.title}" width="{chart.width}" '
                            f'style="width:100%;max-width:{chart.width}px;height:auto;display:block">')
        else:
            markup[name] = chart.svg()
    # nav: the web page's period picker and downloads (already-escaped markup from quarantine/web)
    html = _environment().get_template("report.html").render(d=data, charts=markup, for_print=False, nav=nav)
    return RenderedHtml(html, pngs)


def render_pdf(data: ReportData) -> bytes:
    from weasyprint import HTML

    html = _environment().get_template("report.html").render(
        d=data, charts={name: c.svg() for name, c in charts_for(data).items()}, for_print=True)
    return HTML(string=html, base_url=str(TEMPLATES)).write_pdf()


def csv_rows(data: ReportData) -> Iterator[tuple[str, str, str, Any]]:
    """(section, item, breakdown, value): the numbers behind every table and chart."""
    p = data.period
    yield "period", "start", "", p.start.isoformat()
    yield "period", "end", "", p.end.isoformat()
    yield "period", "label", "", p.label
    vol = data.volume
    yield "volume", "messages", "total", vol["total"]
    yield "volume", "messages", "previous_period", vol["previous_total"]
    for action in ACTIONS:
        yield "volume", "action", action, vol["by_action"][action]
        yield "volume", "previous_action", action, vol["previous_by_action"][action]
    for direction, counts in vol["by_direction"].items():
        for action in ACTIONS:
            yield "volume", "direction", f"{direction}/{action}", counts[action]
    for key, n in vol["copies"].items():
        yield "volume", "recipient_copies", key.replace(":", "/"), n
    for s in vol["series"]:
        for action in ACTIONS:
            yield "volume", f"per_{vol['bucket']}", f"{s['label']}/{action}", s["counts"][action]
    for key, n in data.outcomes.items():
        yield "outcomes", key, "", n
    for c in data.categories:
        for key in ("messages", *ACTIONS, "low", "medium", "high", "critical", "released", "deleted", "waiting"):
            yield "category", c["category"], key, c[key]
        yield "category", c["category"], "release_rate", "" if c["release_rate"] is None else round(c["release_rate"], 4)
    sg = data.safeguarding
    for row in sg["rows"]:
        for key in ("incidents", "alerted", "acknowledged", "escalated", "closed", "open"):
            yield "safeguarding", row["category"], key, row[key]
    yield "safeguarding", "total", "incidents", sg["total"]
    for who, n in sg.get("closed_by", {}).items():
        yield "safeguarding", "closed_by", who, n
    for row in sg.get("by_level", []):
        yield "safeguarding", f"level_{row['level']}", "incidents", row["incidents"]
        yield "safeguarding", f"level_{row['level']}", "open", row["open"]
    cs = sg.get("cases")
    if cs:
        for key, n in cs["status"].items():
            yield "safeguarding", "case_status", key, n
        for key, n in cs["marks"].items():
            yield "safeguarding", "case_mark", key, n
        yield "safeguarding", "case_outcome_recorded", "", cs["outcome_recorded"]
    yield from trend_rows(data)
    r = data.review
    yield "review", "decisions", "", r["decisions"]
    for key in ("median_hours", "p90_hours", "safeguarding_median_hours", "safeguarding_p90_hours",
                "other_median_hours", "other_p90_hours"):
        yield "review", key, "", "" if r[key] is None else round(r[key], 3)
    for label, n in r["backlog"].items():
        yield "review", "backlog_at_end", label, n
    for who, counts in r["reviewers"].items():
        for action, n in counts.items():
            yield "review", "decided_by", f"{who}/{action}", n
    for fp in r["false_positive_codes"]:
        yield "review", "false_positive", fp["code"], fp["marked"]
    for role, counts in data.who["by_role"].items():
        for action in ACTIONS:
            yield "who", "sender_role", f"{role}/{action}", counts[action]
    for role, n in sorted(data.who["held_by_role"].items()):
        yield "who", "held_by_sender_role", role, n
    for i, t in enumerate(data.who["top_senders"], 1):
        yield "who", "top_sender", f"{i}/{t['sender']}", t["held"]
    h = data.health
    for f in h["filter_failures"]:
        yield "health", "filter_failure", f"{f['filter']}/{f['kind']}", f["count"]
    for key in ("filter_failures_total", "tempfail", "tempfail_filter", "tempfail_delivery", "release_failed",
                "starts", "reports_sent", "reports_failed"):
        yield "health", key, "", h[key]
    for key in ("median_ms", "p95_ms"):
        yield "health", key, "", "" if h[key] is None else round(h[key], 1)
    if h["clamd"]:
        yield "health", "clamd_signature_age_days", "", h["clamd"].get("age_days", "")
    for batch in data.policy["changes"]:
        for c in batch["changes"]:
            yield "policy", batch["at"].isoformat(), c["key"], c["change"]
    from quarantine.report_years import csv_rows as year_rows  # issue 21 clause 1
    yield from year_rows(data.years)


def trend_rows(data: ReportData) -> Iterator[tuple[str, str, str, Any]]:
    """trend,<measure>,this_period|previous_period|last_year|..._change,<n or text>: a comparison
    without data reads "no data" (never 0, never a percentage of nothing)."""
    tr = data.trends
    if not tr:
        return
    for key, name in (("previous", "previous_period"), ("last_year", "last_year")):
        comp = tr[key]
        yield "trend", name, "start", comp["period"].start.isoformat()
        yield "trend", name, "end", comp["period"].end.isoformat()
        yield "trend", name, "coverage", comp["coverage"]
    for row in tr["rows"]:
        yield "trend", row["key"], "this_period", row["now"]
        for key, name in (("previous", "previous_period"), ("last_year", "last_year")):
            before = row[key]
            yield "trend", row["key"], name, "no data" if before is None else before
            yield "trend", row["key"], f"{name}_change", "no data" if before is None else change(row["now"], before)


def render_csv(data: ReportData) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(("section", "item", "breakdown", "value"))
    writer.writerows(csv_rows(data))
    return out.getvalue()

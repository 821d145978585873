"""Trends: this period against the previous one and the same period last year, for volume and for
safeguarding incidents by category and risk level, by the same definitions as the sections
(docs/reports.md "Trends"); a comparison the store cannot speak for says "no data", never 0%.
Also the Head's view of case status (new/open/closed, marks), which adds up to the incidents."""
from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date, datetime

from sqlalchemy import insert, update

from quarantine.report_data import custom_period, gather_sync, period_for
from quarantine.report_render import csv_rows, render_html, render_pdf
from quarantine.review_store import cases
from quarantine.store import QuarantineStore, messages
from tests.quarantine.test_reports import LONDON, put_decision, put_hold

NOW = datetime(2026, 11, 9, 7, tzinfo=LONDON)  # Monday morning: last week is Mon 2 - Sun 8 Nov 2026
WEEK = period_for("week", NOW)


def when(y: int, m: int, d: int, hour: float = 9) -> float:
    return datetime(y, m, d, int(hour), int(hour % 1 * 60), tzinfo=LONDON).timestamp()


def incident(conn, mid: str, at: float, cats: list[str], level: int, status: str = "held") -> None:
    put_hold(conn, mid, at, direction="internal", role="student", sender=f"{mid}@pupils.example",
             findings=[(f"{c.upper()}_X", c, "high") for c in cats], status=status)
    rows = [{"code": f"{c.upper()}_X", "category": c, "severity": "high", "level": level} for c in cats]
    conn.execute(update(messages).where(messages.c.id == mid).values(findings=json.dumps(rows)))


def seed_week(conn, monday: date, prefix: str, *, plain: int, self_harm: int, grooming: int, threat5: int) -> None:
    """One week of traffic: plain deliveries, self-harm (level 4) and grooming (level 5) incidents,
    and level-5 threats with no safeguarding category (incidents by level only)."""
    y, m, d = monday.year, monday.month, monday.day
    day = lambda i: when(y, m, d) + i * 86400  # noqa: E731 - Mon 09:00 + i days
    for i in range(plain):
        put_decision(conn, day(i % 5) + i, "inbound", "external", "pass")
    for i in range(self_harm):
        incident(conn, f"{prefix}sh{i}", day(1) + i, ["self_harm"], 4)
    for i in range(grooming):
        incident(conn, f"{prefix}gr{i}", day(2) + i, ["grooming"], 5, status="deleted")
    for i in range(threat5):
        incident(conn, f"{prefix}th{i}", day(3) + i, ["threat"], 5)


def seeded(tmp_path, *, last_year: bool) -> QuarantineStore:
    store = QuarantineStore(tmp_path / "q").open_sync()
    with store.engine.begin() as conn:
        seed_week(conn, date(2026, 11, 2), "n", plain=20, self_harm=3, grooming=1, threat5=1)
        seed_week(conn, date(2026, 10, 26), "p", plain=10, self_harm=1, grooming=1, threat5=0)
        if last_year:  # 52 weeks before Mon 2 Nov 2026 is Mon 3 Nov 2025; running since September
            put_decision(conn, when(2025, 9, 1), "inbound", "external", "pass")
            seed_week(conn, date(2025, 11, 3), "y", plain=40, self_harm=2, grooming=0, threat5=0)
    return store


def rows_of(data) -> dict[str, dict]:
    return {r["key"]: r for r in data.trends["rows"]}


def test_trends_agree_with_the_sections_of_each_period(tmp_path):
    store = seeded(tmp_path, last_year=True)
    data = gather_sync(store.engine, WEEK, school="Hillside", now=NOW)
    previous = gather_sync(store.engine, data.previous, school="Hillside", now=NOW)
    last_year = gather_sync(store.engine, WEEK.last_year(), school="Hillside", now=NOW)
    store.close_sync()
    assert data.trends["last_year"]["period"].start == datetime(2025, 11, 3, tzinfo=LONDON)
    assert data.trends["previous"]["coverage"] == "full" and data.trends["last_year"]["coverage"] == "full"
    r = rows_of(data)
    # this period: 20 plain + 5 held; incidents 3 self-harm + 1 grooming + 1 level-5 threat
    assert (r["messages"]["now"], r["messages"]["previous"], r["messages"]["last_year"]) == (25, 12, 42)
    assert (r["incidents"]["now"], r["incidents"]["previous"], r["incidents"]["last_year"]) == (5, 2, 2)
    assert (r["incidents/self_harm"]["now"], r["incidents/self_harm"]["previous"],
            r["incidents/self_harm"]["last_year"]) == (3, 1, 2)
    assert (r["incidents/grooming"]["now"], r["incidents/grooming"]["last_year"]) == (1, 0)
    assert (r["incidents/level_5"]["now"], r["incidents/level_5"]["previous"], r["incidents/level_5"]["last_year"]) \
        == (2, 1, 0)
    assert r["incidents/level_4"]["now"] == 3
    # one definition: each comparison column is what that period's own report says
    for other, key in ((previous, "previous"), (last_year, "last_year")):
        assert r["messages"][key] == other.volume["total"]
        assert r["held"][key] == other.volume["by_action"]["hold"]
        assert r["incidents"][key] == other.safeguarding["total"]
        for row in other.safeguarding["rows"]:
            assert r[f"incidents/{row['category']}"][key] == row["incidents"]
        for row in other.safeguarding["by_level"]:
            assert r[f"incidents/level_{row['level']}"][key] == row["incidents"]
    # and the "now" column is this report's own sections
    assert r["incidents"]["now"] == data.safeguarding["total"] and r["messages"]["now"] == data.volume["total"]
    csv = {(s, i, b): v for s, i, b, v in csv_rows(data)}
    assert csv[("trend", "incidents/self_harm", "last_year")] == 2
    assert csv[("trend", "incidents/self_harm", "last_year_change")] == "+50%"
    assert csv[("trend", "incidents", "previous_period_change")] == "+150%"
    assert csv[("trend", "incidents/grooming", "last_year_change")] == "new"
    assert csv[("trend", "last_year", "coverage")] == "full"
    html = render_html(data).html
    assert 'id="trends"' in html and "Same period last year" in html and "+150%" in html
    assert "Self-harm" in html.split('id="trends"')[1]
    assert not [n for n in data.notes if "last year" in n]
    from quarantine.reports import summary_text
    assert "Safeguarding incidents: 5 (4 still open); previous period 2, same period last year 2" in summary_text(data)


def test_no_data_last_year_says_so_instead_of_a_percentage(tmp_path):
    store = seeded(tmp_path, last_year=False)
    data = gather_sync(store.engine, WEEK, school="Hillside", now=NOW)
    store.close_sync()
    assert data.trends["last_year"]["coverage"] == "none" and data.trends["last_year"]["counts"] is None
    assert all(row["last_year"] is None for row in data.trends["rows"])
    assert data.trends["previous"]["coverage"] == "partial"  # the first record is in it (Tue 27 Oct)
    csv = {(s, i, b): v for s, i, b, v in csv_rows(data)}
    assert csv[("trend", "incidents", "last_year")] == "no data"
    assert csv[("trend", "incidents", "last_year_change")] == "no data"
    assert csv[("trend", "last_year", "coverage")] == "none"
    assert any(n.startswith("No data for the same period last year") for n in data.notes)
    assert any("part way through the previous period" in n for n in data.notes)
    from quarantine.reports import summary_text
    assert "same period last year no data" in summary_text(data)
    section = render_html(data).html.split('id="trends"')[1].split("</table>")[0]
    for row in section.split("<tr>")[2:]:  # every measure's last-year cell
        cells = row.split("<td")
        assert "no data" in cells[-1] and "%" not in cells[-1] and "new" not in cells[-1]


def test_trends_and_case_status_in_the_pdf(tmp_path):
    store = seeded(tmp_path, last_year=True)
    with store.engine.begin() as conn:
        conn.execute(insert(cases).values(message_id="nsh0", status="closed", action_taken="spoke to pupil",
                                          outcome="early help", verdict="true_positive", updated_by="dave",
                                          updated_at=NOW.timestamp(), closed_at=NOW.timestamp()))
        conn.execute(insert(cases).values(message_id="ngr0", status="open", action_taken="", outcome="",
                                          verdict="false_positive", updated_by="dave", updated_at=NOW.timestamp()))
    data = gather_sync(store.engine, WEEK, school="Hillside", now=NOW)
    store.close_sync()
    cs = data.safeguarding["cases"]
    total = data.safeguarding["total"]
    assert cs["status"] == {"new": total - 2, "open": 1, "closed": 1}
    assert cs["marks"] == {"true_positive": 1, "false_positive": 1, "not_marked": total - 2}
    assert sum(cs["status"].values()) == sum(cs["marks"].values()) == total
    assert cs["outcome_recorded"] == 1 and cs["false_positive_rate"] == 0.5
    csv = {(s, i, b): v for s, i, b, v in csv_rows(data)}
    assert sum(csv[("safeguarding", "case_status", k)] for k in ("new", "open", "closed")) == \
        csv[("safeguarding", "total", "incidents")]
    assert shutil.which("pdftotext"), "pdftotext (poppler-utils) is installed by scripts/setup --test"
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(render_pdf(data))
    text = " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())
    for part in ("Trends", "Same period last year", "Case status", "a false positive", "+150%"):
        assert part in text, part
    for secret in ("spoke to pupil", "early help", "pupils.example"):  # counted, never shown
        assert secret not in text


def test_a_custom_term_compares_with_the_same_dates_last_year(tmp_path):
    store = seeded(tmp_path, last_year=True)
    period = custom_period(date(2026, 10, 26), date(2026, 11, 8), LONDON)
    data = gather_sync(store.engine, period, school="Hillside", now=NOW)
    store.close_sync()
    assert data.trends["last_year"]["period"].start == datetime(2025, 10, 26, tzinfo=LONDON)
    r = rows_of(data)
    assert r["incidents/self_harm"]["now"] == 4 and r["incidents/self_harm"]["last_year"] == 2

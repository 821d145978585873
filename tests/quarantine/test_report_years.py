"""Issue 21 clause 1: the report breaks pupils' held mail down by year group (page, PDF, CSV), seeded store."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from datetime import date, datetime

import pytest
from sqlalchemy import insert

from quarantine.report_data import custom_period
from quarantine.report_render import render_csv, render_html, render_pdf
from quarantine.report_years import NOTE, year_then
from quarantine.reports import build_report
from quarantine.store import QuarantineStore, messages, recipient_rows
from quarantine.users import UserStore
from tests.factories import SCHOOL_DOMAIN, make_settings
from tests.quarantine.conftest import PASSWORD
from tests.quarantine.test_reports import LONDON, csv_values

PUPILS = f"students.{SCHOOL_DOMAIN}"
AMY, BEN, CARA, ZED = (f"{n}@{PUPILS}" for n in ("amy", "ben", "24cdiaz", "zz"))
STAFF = f"teacher@{SCHOOL_DOMAIN}"
# June to November 2026: the school year rolls over on 1 September inside it
PERIOD = custom_period(date(2026, 6, 1), date(2026, 11, 30), LONDON)
NOW = datetime(2026, 12, 1, 9, tzinfo=LONDON)


def at(y: int, m: int, d: int) -> float:
    return datetime(y, m, d, 10, tzinfo=LONDON).timestamp()


def put(conn, mid: str, when: float, sender: str, role: str, rcpts: list[tuple[str, str]], cats: list[str],
        status: str = "held", level: int = 0) -> None:
    findings = [{"code": c.upper(), "filter": "t", "category": c, "severity": "medium", "evidence": [],
                 "reason": "t", **({"level": level} if level else {})} for c in cats]
    conn.execute(insert(messages).values(
        id=mid, received_at=when, updated_at=when, mail_from=sender, from_header=sender, subject="Private words",
        direction="outbound" if role == "student" else "inbound", sender_role=role, client_ip="192.0.2.1",
        size=100, sha256=hashlib.sha256(mid.encode()).hexdigest(), path=None, status=status,
        codes=" " + " ".join(c.upper() for c in cats) + " ", categories=" " + " ".join(cats) + " ",
        max_severity=2, findings=json.dumps(findings), failures="[]", alerts=""))
    for address, rrole in rcpts:
        conn.execute(insert(recipient_rows).values(message_id=mid, address=address, role=rrole, action="hold",
                                                   status=status, updated_at=when))


@pytest.fixture
def settings(tmp_path):
    csv = tmp_path / "directory.csv"
    csv.write_text("email,role,name,year\n"
                   f"{AMY},student,Amy Jones,9\n{BEN},student,Ben Cole,Year 10\n{STAFF},staff,T Eacher,\n",
                   encoding="utf-8")
    return make_settings(tmp_path, directory={"csv": str(csv), "domain_roles": {PUPILS: "student"},
                                              "year_pattern": "{yy}{initial}{surname}@" + PUPILS})


@pytest.fixture
def store(settings):
    s = QuarantineStore.for_settings(settings.quarantine).open_sync()
    with s.engine.begin() as conn:
        put(conn, "h1", at(2026, 11, 3), AMY, "student", [("hr@garage.example", "external")], ["approval"])
        # June: Amy was in Year 8 then (Year 9 since 1 September)
        put(conn, "h2", at(2026, 6, 15), AMY, "student", [("friend@example.org", "external")], ["profanity"],
            status="released")
        # to two pupils: Ben (Year 10 in the CSV) and Cara (Year 9 from her address: started 2024)
        put(conn, "h3", at(2026, 10, 5), "stranger@example.net", "external",
            [(BEN, "student"), (CARA, "student")], ["grooming"], status="deleted")
        put(conn, "h4", at(2026, 10, 6), "x@example.net", "external", [(STAFF, "staff")], ["attachment"])
        put(conn, "h5", at(2026, 10, 7), ZED, "student", [("a@example.org", "external")], ["chain_letter"],
            status="rejected")
        put(conn, "old", at(2026, 5, 1), AMY, "student", [("a@example.org", "external")], ["profanity"])
    yield s
    s.close_sync()


def test_year_then_rolls_over_on_1_september():
    assert year_then(9, date(2026, 11, 3), date(2026, 12, 1)) == 9
    assert year_then(9, date(2026, 8, 31), date(2026, 12, 1)) == 8
    assert year_then(9, date(2025, 9, 1), date(2026, 12, 1)) == 8
    assert year_then(None, date(2026, 11, 3), date(2026, 12, 1)) is None


async def test_report_breaks_down_by_year_on_the_page_pdf_and_csv(settings, store, tmp_path):
    data = await build_report(settings, store, PERIOD, now=NOW)
    rows = {r["year"]: r for r in data.years["rows"]}
    assert list(rows) == ["8", "9", "10", "unknown"]  # in year order, unknown last; staff mail not counted
    assert rows["9"]["messages"] == 2 and rows["9"]["waiting"] == 1 and rows["9"]["deleted"] == 1
    assert rows["9"]["safeguarding"] == 1 and rows["9"]["categories"] == {"approval": 1, "grooming": 1}
    assert rows["8"]["messages"] == 1 and rows["8"]["released"] == 1 and rows["8"]["categories"] == {"profanity": 1}
    assert rows["10"]["messages"] == 1 and rows["10"]["safeguarding"] == 1
    assert rows["unknown"]["rejected"] == 1
    assert data.years["pupil_messages"] == 4 and NOTE in data.notes

    html = render_html(data).html
    assert "Pupils&#39; held mail by year group" in html or "Pupils' held mail by year group" in html
    for label in ("Year 8", "Year 9", "Year 10", "Year not known"):
        assert f"<td>{label}</td>" in html
    # counts only: no pupil address or subject
    for secret in ("amy@", "24cdiaz", "Private words", "stranger@"):
        assert secret not in html

    values = csv_values(render_csv(data))
    assert values[("year_group", "9", "messages")] == "2"
    assert values[("year_group", "9", "category/grooming")] == "1"
    assert values[("year_group", "8", "released")] == "1"
    assert values[("year_group", "unknown", "rejected")] == "1"

    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed: scripts/setup --test installs it")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render_pdf(data))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "by year group" in text and "Year 8" in text and "Year 10" in text and "grooming (1)" in text


async def test_a_level_4_threat_is_an_incident_in_the_year_table_as_in_the_heads_report(settings, store):
    # a threat graded level 4 in a category that is not a safeguarding one: the DSL was alerted,
    # so the one incident definition (docs/reports.md) counts it, and the year table must agree
    with store.engine.begin() as conn:
        put(conn, "t1", at(2026, 11, 10), BEN, "student", [("x@example.org", "external")], ["threat"], level=4)
    data = await build_report(settings, store, PERIOD, now=NOW)
    rows = {r["year"]: r for r in data.years["rows"]}
    assert rows["10"]["safeguarding"] == 2  # h3 (grooming) and t1 (a level 4 threat)
    assert any(row["level"] == 4 and row["incidents"] == 1 for row in data.safeguarding["by_level"])


async def test_no_years_kept_no_section(tmp_path):
    plain = make_settings(tmp_path)  # no CSV, no year_pattern
    s = QuarantineStore.for_settings(plain.quarantine).open_sync()
    with s.engine.begin() as conn:
        put(conn, "h1", at(2026, 11, 3), AMY, "student", [("hr@garage.example", "external")], ["approval"])
    data = await build_report(plain, s, PERIOD, now=NOW)
    s.close_sync()
    assert data.years == {} and "by year group" not in render_html(data).html


async def test_the_web_report_shows_the_years(review_gateway, sink, tmp_path, settings, store):
    gw = await review_gateway(directory=settings.directory.model_dump())
    await gw.store.run(lambda: UserStore.for_settings(gw.store.engine, gw.settings.web).add("head", "head", PASSWORD))
    # the gateway's own store is this test's seeded store (same tmp_path)
    from tests.quarantine.conftest import Review
    c = await Review(gw, sink).login("head")
    page = await c.get("/report", params={"period": "custom", "from": "2026-06-01", "to": "2026-11-30"})
    assert page.status_code == 200 and 'id="years"' in page.text and "<td>Year 10</td>" in page.text
    csv_text = (await c.get("/report.csv", params={"period": "custom", "from": "2026-06-01",
                                                   "to": "2026-11-30"})).text
    assert "year_group,9,messages,2" in csv_text
    await c.aclose()

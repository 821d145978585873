"""quarantine/trust_report.py: the schools compared and each school's own report, from rows with
known times, as HTML, CSV and PDF, and mailed to each Head and the trust through a real SMTP sink."""
from __future__ import annotations

import csv
import hashlib
import io
from datetime import date
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, update

from config.loader import load_settings
from filters.base import Category, Finding, Severity
from filters.tenancy import Tenancy
from gateway.relay import NextHop
from quarantine.report_data import custom_period
from quarantine.review_store import false_positives
from quarantine.store import QuarantineStore, audit, message_levels, messages
from quarantine.trust_report import (gather_trust_sync, render_trust_csv, render_trust_html, render_trust_pdf,
                                     send_trust_reports)
from tests.gateway.test_tenancy import TRUST

PERIOD = custom_period(date(2026, 11, 2), date(2026, 11, 8), ZoneInfo("Europe/London"))
T0 = PERIOD.start_ts + 86400  # Tuesday 00:00
PUPIL_NAME = "Jamie Pupil-Name"


@pytest.fixture
def store(tmp_path):
    store = QuarantineStore(tmp_path / "q").open_sync()
    yield store
    store.close_sync()


def _hold(store, mid: str, school: str, owners=(), *, received: float, decided: tuple[str, float] | None = None,
          category: Category = Category.ATTACHMENT, level: int = 0, false_positive: bool = False) -> None:
    raw = f"From: {PUPIL_NAME} <p@x.sch.uk>\r\nSubject: about {PUPIL_NAME}\r\n\r\nbody".encode()
    finding = Finding("TEST_CODE", "test", category, Severity.HIGH, (PUPIL_NAME,), "because")
    store.add_sync(message_id=mid, raw=raw, mail_from="p@x.sch.uk", from_header=PUPIL_NAME,
                   subject=f"about {PUPIL_NAME}", direction="inbound", sender_role="external", client_ip="",
                   sha256=hashlib.sha256(raw).hexdigest(), size=len(raw), recipients=[("r@x.sch.uk", "student", "hold")],
                   findings=[finding], failures=[], school_id=school, schools=owners)
    with store.engine.begin() as conn:
        conn.execute(update(messages).where(messages.c.id == mid).values(received_at=received))
        if level:
            conn.execute(insert(message_levels).values(message_id=mid, level=level))
        if decided:
            conn.execute(insert(audit).values(at=received + decided[1] * 3600, actor="rev", action=decided[0],
                                              message_id=mid, reason="r", detail="{}", school_id=school))
        if false_positive:
            conn.execute(insert(false_positives).values(message_id=mid, code="TEST_CODE", user="rev", at=received))


def _decision(store, schools: list[str], direction: str, action: str, at: float) -> None:
    row = store._decision_row(message_id="m", direction=direction, sender_role="external", action=action,
                              role_actions={}, codes=[], categories=[], failures=[], size=1, seconds=0.1,
                              schools=schools)
    store._insert_decisions([{**row, "at": at}])


@pytest.fixture
def trust_data(store):
    _hold(store, "h1", "hillside", received=T0, decided=("release", 1), false_positive=True)
    _hold(store, "h2", "hillside", received=T0, decided=("delete", 3))
    _hold(store, "h3", "hillside", received=T0)
    _hold(store, "sg1", "hillside", received=T0, category=Category.GROOMING, level=4)
    _hold(store, "v1", "valley", received=T0, decided=("release", 2))
    # Hillside staff to Valley staff: Valley holds it, Hillside owns it too
    _hold(store, "x1", "valley", ("valley", "hillside"), received=T0, decided=("release", 5))
    _hold(store, "old", "oak", received=PERIOD.start_ts - 86400, decided=("release", 1))  # before the period
    _decision(store, ["hillside"], "inbound", "pass", T0)
    _decision(store, ["hillside"], "inbound", "hold", T0)
    _decision(store, ["valley"], "outbound", "pass", T0)
    _decision(store, ["valley", "hillside"], "internal", "hold", T0)
    _decision(store, ["oak"], "inbound", "pass", PERIOD.end_ts + 10)  # after the period
    return store


def test_the_schools_compared(trust_data):
    report = gather_trust_sync(trust_data.engine, PERIOD, Tenancy.from_settings(load_settings(TRUST)))
    rows = {s.school_id: s for s in report.rows}
    assert list(rows) == ["hillside", "valley", "oak", "trust"]
    hill, valley, oak, total = rows["hillside"], rows["valley"], rows["oak"], rows["trust"]
    assert (hill.messages, hill.by_direction["inbound"], hill.by_direction["internal"]) == (3, 2, 1)
    assert (hill.by_action["pass"], hill.by_action["hold"]) == (1, 2)
    assert (hill.held, hill.safeguarding, hill.by_level[4], hill.reviewed, hill.waiting) == (5, 1, 1, 3, 2)
    assert hill.review_median_hours == pytest.approx(3.0)  # 1, 3, 5 hours
    assert hill.review_p90_hours == pytest.approx(4.6)
    assert (hill.false_positives, hill.false_positive_rate) == (1, pytest.approx(1 / 3))
    assert (valley.messages, valley.held, valley.reviewed, valley.false_positive_rate) == (2, 2, 2, 0.0)
    assert valley.review_median_hours == pytest.approx(3.5)
    assert (oak.messages, oak.held, oak.reviewed, oak.false_positive_rate, oak.review_median_hours) == (
        0, 0, 0, None, None)
    # the shared message counts for each school, once for the trust
    assert (total.messages, total.held, total.reviewed, total.safeguarding) == (4, 6, 4, 1)
    assert total.review_median_hours == pytest.approx(2.5) and total.false_positive_rate == pytest.approx(0.25)


def test_a_schools_own_report_has_only_that_school(trust_data):
    report = gather_trust_sync(trust_data.engine, PERIOD, Tenancy.from_settings(load_settings(TRUST)),
                               schools=["valley"])
    assert [s.school_id for s in report.rows] == ["valley"] and report.total is None
    assert "Valley Primary: e-mail filtering, school report" in render_trust_html(report)


def test_html_csv_pdf_carry_no_names_addresses_or_content(trust_data):
    report = gather_trust_sync(trust_data.engine, PERIOD, Tenancy.from_settings(load_settings(TRUST)))
    html, table = render_trust_html(report), render_trust_csv(report)
    for text in (html, table):
        assert PUPIL_NAME not in text and "x.sch.uk" not in text and "because" not in text
    assert "Hillside Academy" in html and "Riverside Learning Trust (all schools)" in html
    parsed = list(csv.DictReader(io.StringIO(table)))
    assert {"school_id", "school", "metric", "breakdown", "value"} == set(parsed[0])
    rate = next(r for r in parsed if r["school_id"] == "hillside" and r["metric"] == "false_positive_rate")
    assert float(rate["value"]) == pytest.approx(0.3333, abs=1e-4)
    assert render_trust_pdf(report).startswith(b"%PDF")


async def test_each_head_gets_their_school_and_the_trust_gets_the_comparison(trust_data, sink):
    tenancy = Tenancy.from_settings(load_settings(TRUST))
    host, _, port = sink.address.rpartition(":")
    hop = NextHop(host, int(port), tls="none")
    try:
        sent = await send_trust_reports(trust_data.engine, PERIOD, tenancy, hop.deliver,
                                        from_address="schoolgate@riverside.org.uk",
                                        trust_recipients=["ceo@riverside.org.uk"], attach="csv")
    finally:
        await hop.close()
    assert [(label, list(to), result.ok) for label, to, result in sent] == [
        ("hillside", ["head@hillside.sch.uk"], True), ("valley", ["head@valley.sch.uk"], True),
        ("oak", ["head@oakpark.sch.uk"], True), ("trust", ["ceo@riverside.org.uk"], True)]
    by_rcpt = {m.rcpt_tos[0]: message_from_bytes(m.data, policy=policy.default) for m in sink.messages}
    valley = by_rcpt["head@valley.sch.uk"]
    assert str(valley["Subject"]).strip().startswith("Valley Primary: e-mail filtering, school report")
    attached = next(p for p in valley.walk() if p.get_filename())
    schools = {r["school_id"] for r in csv.DictReader(io.StringIO(attached.get_payload(decode=True).decode()))}
    assert schools == {"valley"}
    ceo = by_rcpt["ceo@riverside.org.uk"]
    assert str(ceo["Subject"]).strip().startswith("Riverside Learning Trust: e-mail filtering, schools compared")
    for m in sink.messages:
        assert PUPIL_NAME.encode() not in m.data


def test_the_command_sends_each_school_and_the_trust_and_says_so(tmp_path, sink):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    site = tmp_path / "trust.toml"
    site.write_text(TRUST.read_text() + f'\n[quarantine]\npath = "{tmp_path / "q"}"\n[filters]\nchain = []\n'
                    f'[gateway]\nnext_hop = "{sink.address}"\nnext_hop_tls = "none"\n')

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "gateway.cli", "trust-report", "--config", str(site), *args],
                              cwd=root, capture_output=True, text=True, timeout=120)
    sent = run("--send", "--format", "csv")
    assert sent.returncode == 0, sent.stderr
    assert sent.stderr.splitlines()[-1].startswith("trust: ceo@riverside.org.uk: 250")
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == ["ceo@riverside.org.uk", "head@hillside.sch.uk",
                                                           "head@oakpark.sch.uk", "head@valley.sch.uk"]
    one = run("--school", "oak", "--format", "csv")
    assert one.returncode == 0 and {r["school_id"] for r in csv.DictReader(io.StringIO(one.stdout))} == {"oak"}
    bad = run("--school", "elm")
    assert bad.returncode == 1 and bad.stderr.strip() == (
        "schoolgate: --school elm: the config's schools are hillside, valley, oak")


async def test_the_schedule_sends_each_report_once_per_period(tmp_path, sink):
    from datetime import datetime

    from quarantine.trust_report import TrustReportScheduler

    site = tmp_path / "trust.toml"
    site.write_text(TRUST.read_text() + f'\n[quarantine]\npath = "{tmp_path / "aq"}"\n[filters]\nchain = []\n'
                    '[reports]\nschedule = "weekly"\nsend_hour = 7\nattach = "csv"\n')
    settings = load_settings(site)
    store = await QuarantineStore.for_settings(settings.quarantine).open()
    host, _, port = sink.address.rpartition(":")
    hop = NextHop(host, int(port), tls="none")
    try:
        _decision(store, ["valley"], "inbound", "pass", T0)
        scheduler = TrustReportScheduler(settings, store, lambda: hop)
        tz = ZoneInfo("Europe/London")
        assert await scheduler.run_once(datetime(2026, 11, 9, 6, 0, tzinfo=tz)) == []  # before send_hour
        sent = await scheduler.run_once(datetime(2026, 11, 9, 8, 0, tzinfo=tz))
        assert sent == ["trust:hillside", "trust:valley", "trust:oak", "trust:trust"]
        assert len(sink.messages) == 4
        assert await scheduler.run_once(datetime(2026, 11, 9, 9, 0, tzinfo=tz)) == []  # once per period
        assert len(sink.messages) == 4
    finally:
        await hop.close()
        await store.close()

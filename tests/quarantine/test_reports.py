"""Reports: numbers from a known, back-dated store; HTML sections; the PDF renders; no content leaks;
sending through a real SMTP sink; the scheduler sends each period once."""
from __future__ import annotations

import csv
import email
import email.policy
import hashlib
import io
import itertools
import json
import shutil
import subprocess
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from gateway.cli import main as cli_main
from quarantine.report_data import custom_period, diff_config, gather_sync, percentile, period_for
from quarantine.report_render import render_csv, render_html, render_pdf
from quarantine.report_tables import config_snapshots, runs_sync, snapshot_config_sync
from quarantine.reports import ReportScheduler, build_report, start_reports
from quarantine.review_store import dsl_alerts, false_positives, users
from quarantine.store import QuarantineStore, audit, decisions, messages, recipient_rows
from tests.factories import SCHOOL_DOMAIN, make_settings

LONDON = ZoneInfo("Europe/London")
# The week under report: Monday 2 to Sunday 8 November 2026 (GMT, no clock change inside it).
PERIOD = custom_period(date(2026, 11, 2), date(2026, 11, 8), LONDON)
PUPIL = f"jessica.smith@{SCHOOL_DOMAIN}"
SECRETS = ("Jessica", "jessica.smith", "Meet me by the canal", "canal at 6", "tom.jones", "teacher@",
           "Invoice overdue", "spam@bad.example")


def at(day: int, hour: float, month: int = 11) -> float:
    return datetime(2026, month, day, int(hour), int(hour % 1 * 60), tzinfo=LONDON).timestamp()


_SEQ = itertools.count()  # each plain decision its own message (two at the same second are two messages)


def put_decision(conn, when: float, direction: str, role: str, action: str, *, cats: str = "", codes: str = "",
                 failures: str = "", copies: dict | None = None, mid: str = "") -> None:
    conn.execute(insert(decisions).values(
        at=when, message_id=mid or f"d{next(_SEQ)}", direction=direction, sender_role=role, action=action,
        actions=json.dumps(copies or {f"{'staff' if direction == 'inbound' else 'student'}:{action}": 1}),
        codes=codes, categories=cats, failures=failures, size=1000, seconds=0.05))


def put_hold(conn, mid: str, when: float, *, direction: str, role: str, sender: str, findings: list[tuple],
             status: str = "held", subject: str = "Invoice overdue") -> None:
    """findings: (code, category, severity). Writes the index row, the recipient and the hold audit row."""
    f = [{"code": c, "filter": "test", "category": cat, "severity": sev, "evidence": ["Meet me by the canal at 6"],
          "reason": "test"} for c, cat, sev in findings]
    conn.execute(insert(messages).values(
        id=mid, received_at=when, updated_at=when, mail_from=sender, from_header=f"Jessica Smith <{sender}>",
        subject=subject, direction=direction, sender_role=role, client_ip="192.0.2.1", size=1000,
        sha256=hashlib.sha256(mid.encode()).hexdigest(), path=None, status=status,
        codes=" " + " ".join(c for c, _, _ in findings) + " ",
        categories=" " + " ".join(dict.fromkeys(cat for _, cat, _ in findings)) + " ",
        max_severity=4, findings=json.dumps(f), failures="[]", alerts=""))
    conn.execute(insert(recipient_rows).values(message_id=mid, address=f"x@{SCHOOL_DOMAIN}", role="student",
                                               action="reject" if status == "rejected" else "hold",
                                               status=status, updated_at=when))
    conn.execute(insert(audit).values(at=when, actor="gateway", action="record_reject" if status == "rejected"
                                      else "hold", message_id=mid, reason="policy", detail="{}"))
    put_decision(conn, when, direction, role, "reject" if status == "rejected" else "hold",
                 cats=" ".join(dict.fromkeys(cat for _, cat, _ in findings)),
                 codes=" ".join(c for c, _, _ in findings), mid=mid)


def put_audit(conn, when: float, actor: str, action: str, mid: str, reason: str = "") -> None:
    conn.execute(insert(audit).values(at=when, actor=actor, action=action, message_id=mid, reason=reason,
                                      detail="{}"))


def seed(store: QuarantineStore) -> None:
    """A known week: 32 decisions, 8 holds (3 released, 3 deleted, 2 waiting), 2 virus rejects."""
    with store.engine.begin() as conn:
        for name, role in (("rita", "reviewer"), ("dave", "dsl"), ("ann", "admin")):
            conn.execute(insert(users).values(name=name, role=role, password_hash="x", email="", disabled=False,
                                              created_at=0, updated_at=0))
        # plain traffic: 10 inbound + 5 outbound + 3 internal delivered, 2 tagged chain letters
        for i in range(10):
            put_decision(conn, at(2 + i % 7, 8 + i % 5), "inbound", "external", "pass")
        for i in range(5):
            put_decision(conn, at(3 + i, 9), "outbound", "staff", "pass")
        for i in range(3):
            put_decision(conn, at(4, 10 + i), "internal", "staff", "pass")
        for i in range(2):
            put_decision(conn, at(5, 9 + i), "inbound", "external", "tag", cats="chain_letter",
                         codes="CHAIN_LETTER_HOAX")
        put_decision(conn, at(6, 9), "inbound", "external", "tempfail", failures="virus:timeout")
        put_decision(conn, at(6, 10), "inbound", "external", "tempfail")  # next hop said 4xx
        # the previous week, for the trend: 6 delivered, 1 held
        for i in range(6):
            put_decision(conn, at(27 + i % 5, 9, month=10), "inbound", "external", "pass")
        put_decision(conn, at(28, 9, month=10), "inbound", "external", "hold", cats="attachment")

        put_hold(conn, "m1", at(2, 9), direction="inbound", role="external", sender="spam@bad.example",
                 findings=[("ATTACHMENT_EXECUTABLE", "attachment", "high")], status="released")
        put_audit(conn, at(2, 10), "rita", "release", "m1")
        put_hold(conn, "m2", at(2, 12), direction="inbound", role="external", sender="spam@bad.example",
                 findings=[("ATTACHMENT_EXECUTABLE", "attachment", "high")], status="deleted")
        put_audit(conn, at(3, 12), "rita", "delete", "m2")
        put_hold(conn, "m3", at(3, 9), direction="inbound", role="external", sender="chain@letters.example",
                 findings=[("CHAIN_LETTER_HOAX", "chain_letter", "medium")], status="released")
        put_audit(conn, at(3, 9.5), "dave", "release", "m3")
        put_hold(conn, "m4", at(4, 10), direction="outbound", role="staff", sender=f"teacher@{SCHOOL_DOMAIN}",
                 findings=[("PERSONAL_ACCOUNT_WORK", "personal_account", "medium")], status="released")
        put_audit(conn, at(4, 14), "ann", "release", "m4")
        conn.execute(insert(false_positives).values(message_id="m4", code="PERSONAL_ACCOUNT_WORK", user="ann",
                                                    at=at(4, 14), reason="own laptop"))
        put_hold(conn, "m5", at(4, 11), direction="outbound", role="staff", sender=f"teacher@{SCHOOL_DOMAIN}",
                 findings=[("PERSONAL_ACCOUNT_WORK", "personal_account", "medium")])
        put_audit(conn, at(5, 9), "ann", "release_failed", "m5")
        put_hold(conn, "m6", at(5, 13), direction="internal", role="student", sender=f"tom.jones@{SCHOOL_DOMAIN}",
                 findings=[("PROFANITY_STRONG", "profanity", "low"), ("BULLYING_INSULT", "bullying", "high")],
                 status="deleted")
        put_audit(conn, at(5, 15), "rita", "delete", "m6")
        put_hold(conn, "m7", at(6, 10), direction="internal", role="student", sender=PUPIL,
                 findings=[("GROOMING_MEETING", "grooming", "high")], status="deleted",
                 subject="Meet me by the canal at 6")
        conn.execute(insert(dsl_alerts).values(message_id="m7", sent_at=at(6, 10), why="safeguarding",
                                               acked_by="dave", acked_at=at(6, 10 + 20 / 60)))
        put_audit(conn, at(6, 16), "dave", "delete", "m7")
        put_hold(conn, "m8", at(7, 20), direction="outbound", role="student", sender=PUPIL,
                 findings=[("SELF_HARM_INTENT", "self_harm", "critical")], subject="Meet me by the canal at 6")
        conn.execute(insert(dsl_alerts).values(message_id="m8", sent_at=at(7, 20), why="safeguarding",
                                               escalated_at=at(7, 20.5)))
        put_hold(conn, "r1", at(2, 8), direction="inbound", role="external", sender="spam@bad.example",
                 findings=[("VIRUS_FOUND", "virus", "critical")], status="rejected")
        put_hold(conn, "r2", at(5, 8), direction="inbound", role="external", sender="spam@bad.example",
                 findings=[("VIRUS_FOUND", "virus", "critical")], status="rejected")
        # policy: the config in force before the week, and a change on Wednesday
        before = {"chain_letter": {"hold_score": 6.0, "extra_phrases": ["send this to"]}, "gateway": {"x": 1}}
        after = {"chain_letter": {"hold_score": 5.0, "extra_phrases": ["send this to", "forward to 10"]},
                 "gateway": {"x": 1}}
        for when, cfg in ((at(20, 9, month=10), before), (at(4, 8), after)):
            conn.execute(insert(config_snapshots).values(at=when, node="gw1", sha256="h", config=json.dumps(cfg)))


@pytest.fixture
def store(tmp_path):
    s = QuarantineStore(tmp_path / "q").open_sync()
    seed(s)
    yield s
    s.close_sync()


@pytest.fixture
def data(store):
    return gather_sync(store.engine, PERIOD, school="Hillside Academy", now=datetime(2026, 11, 10, 9, tzinfo=LONDON))


def csv_values(text: str) -> dict[tuple[str, str, str], str]:
    return {(r["section"], r["item"], r["breakdown"]): r["value"] for r in csv.DictReader(io.StringIO(text))}


@pytest.mark.parametrize("key, expected", [
    (("volume", "messages", "total"), "32"),
    (("volume", "messages", "previous_period"), "7"),
    (("volume", "action", "pass"), "18"),
    (("volume", "action", "tag"), "2"),
    (("volume", "action", "hold"), "8"),
    (("volume", "action", "reject"), "2"),
    (("volume", "action", "tempfail"), "2"),
    (("volume", "previous_action", "hold"), "1"),
    (("volume", "direction", "inbound/pass"), "10"),
    (("volume", "direction", "outbound/hold"), "3"),
    (("volume", "direction", "internal/hold"), "2"),
    (("volume", "per_day", "Mon 2/hold"), "2"),
    (("outcomes", "held", ""), "8"),
    (("outcomes", "rejected", ""), "2"),
    (("outcomes", "released", ""), "3"),
    (("outcomes", "deleted", ""), "3"),
    (("outcomes", "waiting", ""), "2"),
    (("category", "attachment", "hold"), "2"),
    (("category", "attachment", "release_rate"), "0.5"),
    (("category", "chain_letter", "messages"), "3"),
    (("category", "chain_letter", "tag"), "2"),
    (("category", "chain_letter", "release_rate"), "1.0"),
    (("category", "personal_account", "waiting"), "1"),
    (("category", "bullying", "high"), "1"),
    (("category", "profanity", "low"), "1"),
    (("category", "virus", "reject"), "2"),
    (("category", "virus", "critical"), "2"),
    (("category", "self_harm", "release_rate"), ""),
    (("safeguarding", "grooming", "acknowledged"), "1"),
    (("safeguarding", "grooming", "closed"), "1"),
    (("safeguarding", "self_harm", "escalated"), "1"),
    (("safeguarding", "self_harm", "open"), "1"),
    (("safeguarding", "meeting", "incidents"), "0"),
    (("safeguarding", "total", "incidents"), "2"),
    (("review", "decisions", ""), "6"),
    (("review", "median_hours", ""), "3.0"),  # 0.5 1 2 4 6 24 hours
    (("review", "p90_hours", ""), "15.0"),
    (("review", "safeguarding_median_hours", ""), "6.0"),
    (("review", "backlog_at_end", "1 to 3 days"), "1"),
    (("review", "backlog_at_end", "3 to 7 days"), "1"),
    (("review", "backlog_at_end", "under 4 hours"), "0"),
    (("review", "decided_by", "reviewer/delete"), "2"),
    (("review", "decided_by", "dsl/release"), "1"),
    (("review", "decided_by", "admin/release"), "1"),
    (("review", "false_positive", "PERSONAL_ACCOUNT_WORK"), "1"),
    (("who", "sender_role", "external/pass"), "10"),
    (("who", "sender_role", "staff/hold"), "2"),
    (("who", "sender_role", "student/hold"), "3"),
    (("who", "held_by_sender_role", "student"), "3"),
    (("who", "top_sender", "1/Student A"), "2"),
    (("who", "top_sender", "2/External sender at bad.example"), "2"),
    (("who", "top_sender", "5/Student B"), "1"),
    (("health", "filter_failure", "virus/timeout"), "1"),
    (("health", "tempfail_filter", ""), "1"),
    (("health", "tempfail_delivery", ""), "1"),
    (("health", "release_failed", ""), "1"),
])
def test_csv_numbers(data, key, expected):
    assert csv_values(render_csv(data))[key] == expected


def test_policy_changes_are_diffed(data):
    [batch] = data.policy["changes"]
    changes = {c["key"]: c["change"] for c in batch["changes"]}
    assert changes == {"chain_letter.hold_score": "6.0 -> 5.0",
                       "chain_letter.extra_phrases": "added 1: forward to 10"}


def test_attention_lists_what_to_act_on(data):
    assert data.attention[:4] == [
        "1 safeguarding incident still open (held, not yet released or deleted).",
        "1 held message had waited more than 3 days at the end of the period.",
        "Filters failed or timed out 1 time; those messages were deferred, not passed.",
        "The school's mail server did not take 1 message(s) and refused 1 release(s).",
    ]


def test_html_has_every_section_and_no_content(data):
    html = render_html(data).html
    for section in ('id="summary"', 'id="attention"', 'id="volume"', 'id="held"', 'id="categories"', 'id="safeguarding"',
                    'id="review"', 'id="who"', 'id="health"', 'id="policy"', "<svg"):
        assert section in html, section
    for heading in ("Safeguarding incidents", "Time from hold to decision", "Policy changes", "Viruses",
                    "Chain letters and hoaxes", "Staff and personal accounts", "Bullying", "Grooming",
                    "PERSONAL_ACCOUNT_WORK", "chain_letter.hold_score"):
        assert heading in html, heading
    for secret in SECRETS:
        assert secret.lower() not in html.lower(), secret
    assert "rita" not in html and "dave" not in html  # reviewers by role unless names are allowed


def test_show_names_names_the_senders(store):
    data = gather_sync(store.engine, PERIOD, school="Hillside Academy", show_names=True)
    html = render_html(data).html
    assert PUPIL in html and "rita" in html
    assert "canal" not in html.lower()  # subjects and evidence never, even with names


def test_pdf_renders_readable_pages(data, tmp_path):
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed: scripts/setup --test installs it")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render_pdf(data))
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert 1 <= pages <= 6
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    for expected in ("Hillside Academy", "Safeguarding incidents", "Messages per day", "Policy changes",
                     f"page 1 of {pages}"):
        assert expected in text, expected
    for secret in SECRETS:
        assert secret.lower() not in text.lower(), secret


@pytest.mark.parametrize("kind, now, current, start, end", [
    ("day", datetime(2026, 11, 11, 8, tzinfo=LONDON), False, datetime(2026, 11, 10), datetime(2026, 11, 11)),
    ("week", datetime(2026, 11, 11, 8, tzinfo=LONDON), False, datetime(2026, 11, 2), datetime(2026, 11, 9)),
    ("week", datetime(2026, 11, 9, 0, tzinfo=LONDON), False, datetime(2026, 11, 2), datetime(2026, 11, 9)),
    ("month", datetime(2026, 1, 15, tzinfo=LONDON), False, datetime(2025, 12, 1), datetime(2026, 1, 1)),
    ("month", datetime(2026, 3, 30, 12, tzinfo=LONDON), False, datetime(2026, 2, 1), datetime(2026, 3, 1)),
    ("term", datetime(2026, 11, 11, tzinfo=LONDON), False, datetime(2026, 4, 1), datetime(2026, 8, 1)),
    ("term", datetime(2026, 11, 11, 8, tzinfo=LONDON), True, datetime(2026, 9, 1), datetime(2026, 11, 11, 8)),
])
def test_periods(kind, now, current, start, end):
    period = period_for(kind, now, current=current)
    assert period.start == start.replace(tzinfo=LONDON) and period.end == end.replace(tzinfo=LONDON)
    prev = period.previous()
    assert prev.end == period.start
    if kind == "month":  # the calendar month before, not "the 31 days before"
        assert prev.start.day == 1 and prev.start.month == (period.start.month - 2) % 12 + 1
    else:
        assert prev.end - prev.start == period.end - period.start
    last = period.last_year()
    if kind in ("day", "week"):  # 52 weeks: Monday against Monday
        assert last.start.weekday() == period.start.weekday() and (period.start - last.start).days == 364
    else:
        assert (last.start.year, last.start.month, last.start.day) == (period.start.year - 1, period.start.month,
                                                                       period.start.day)


def test_a_period_in_progress_compares_with_the_same_stretch_before():
    now = datetime(2026, 11, 10, 15, 30, tzinfo=LONDON)  # Tuesday afternoon
    week = period_for("week", now, current=True)
    prev = week.previous()
    assert prev.start == datetime(2026, 11, 2, tzinfo=LONDON) and prev.end == datetime(2026, 11, 3, 15, 30,
                                                                                      tzinfo=LONDON)
    month = period_for("month", now, current=True).previous()
    assert month.start == datetime(2026, 10, 1, tzinfo=LONDON) and month.end == datetime(2026, 10, 10, 15, 30,
                                                                                       tzinfo=LONDON)
    leap = custom_period(date(2028, 2, 29), date(2028, 2, 29), LONDON).last_year()
    assert leap.start == datetime(2027, 2, 28, tzinfo=LONDON)


def test_configured_terms_and_percentiles():
    settings = make_settings(reports={"terms": [{"name": "Autumn 2026", "start": "2026-09-03", "end": "2026-12-18"}]})
    period = period_for("term", datetime(2027, 1, 5, tzinfo=LONDON), terms=settings.reports.terms)
    assert period.label == "Autumn 2026" and period.end == datetime(2026, 12, 19, tzinfo=LONDON)
    assert percentile([], 0.5) is None and percentile([4.0], 0.9) == 4.0
    assert percentile([1, 2, 3, 4], 0.5) == 2.5


def test_config_snapshot_only_keeps_changes(tmp_path):
    store = QuarantineStore(tmp_path / "q").open_sync()
    try:
        first = make_settings(tmp_path)
        assert snapshot_config_sync(store.engine, first) is True
        assert snapshot_config_sync(store.engine, first) is False  # a restart: counted, text not kept again
        changed = make_settings(tmp_path, reports={"send_hour": 9})
        assert snapshot_config_sync(store.engine, changed) is True
        with store.engine.begin() as conn:
            rows = conn.execute(config_snapshots.select().order_by(config_snapshots.c.id)).all()
        assert [bool(r.config) for r in rows] == [True, False, True]
        assert diff_config(json.loads(rows[0].config), json.loads(rows[2].config)) == [
            {"key": "reports.send_hour", "change": "7 -> 9"}]
    finally:
        store.close_sync()


def _site_config(tmp_path: Path, sink, **reports) -> Path:
    lines = ["[school]", 'name = "Hillside Academy"', f'domains = ["{SCHOOL_DOMAIN}"]',
             "[quarantine]", f'path = "{tmp_path / "q"}"', "[gateway]", f'next_hop = "{sink.address}"',
             "[reports]"] + [f"{k} = {json.dumps(v)}" for k, v in reports.items()]
    path = tmp_path / "site.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _parts(raw: bytes) -> dict[str, list]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    out: dict[str, list] = {}
    for part in msg.walk():
        out.setdefault(part.get_content_type(), []).append(part)
    return out


def test_cli_send_through_the_sink(store, tmp_path, sink, capsys):
    config = _site_config(tmp_path, sink, recipients=["head@school.sch.uk"])
    out = tmp_path / "week.csv"
    assert cli_main(["report", "--config", str(config), "--from", "2026-11-02", "--to", "2026-11-08",
                     "--format", "pdf", "--out", str(tmp_path / "week.pdf"), "--send"]) == 0
    assert cli_main(["report", "--config", str(config), "--from", "2026-11-02", "--to", "2026-11-08",
                     "--format", "csv", "--out", str(out)]) == 0
    assert csv_values(out.read_text())[("volume", "messages", "total")] == "32"
    [mail] = sink.messages
    assert mail.rcpt_tos == ["head@school.sch.uk"]
    parts = _parts(mail.data)
    html = parts["text/html"][0].get_content()
    assert "Safeguarding incidents" in html and 'src="cid:chart-volume@schoolgate"' in html
    assert len(parts["image/png"]) == 2 and parts["image/png"][0]["Content-ID"] == "<chart-volume@schoolgate>"
    assert parts["application/pdf"][0].get_content()[:5] == b"%PDF-"
    for secret in SECRETS:
        assert secret.lower().encode() not in mail.data.lower(), secret
    [run] = runs_sync(store.engine)
    assert run["ok"] and run["trigger"] == "cli" and run["recipients"] == "head@school.sch.uk"


def test_cli_send_refused_is_an_error_and_recorded(store, tmp_path, sink, capsys):
    sink.handler.data_reply = "554 5.7.1 no reports here"
    config = _site_config(tmp_path, sink, recipients=["head@school.sch.uk"])
    assert cli_main(["report", "--config", str(config), "--period", "week", "--send"]) == 1
    assert "554" in capsys.readouterr().err
    [run] = runs_sync(store.engine)
    assert not run["ok"] and run["reply"].startswith("554")


async def test_scheduler_sends_each_period_once(tmp_path, sink):
    settings = make_settings(tmp_path, gateway={"next_hop": sink.address},
                             reports={"recipients": ["head@school.sch.uk"], "schedule": "weekly", "attach": "csv",
                                      "extra": [{"name": "governors", "schedule": "termly",
                                                 "recipients": ["governors@school.sch.uk"], "attach": "none"}]})
    store = await QuarantineStore(settings.quarantine.path).open()
    await store.run(seed, store)
    with store.engine.begin() as conn:  # the gateway already ran in the summer term
        put_decision(conn, at(1, 10, month=7), "inbound", "staff", "pass")
    from gateway.service import make_next_hop
    hop = make_next_hop(settings)
    try:
        scheduler = ReportScheduler(settings, store, lambda: hop)
        assert await scheduler.run_once(datetime(2026, 11, 9, 6, tzinfo=LONDON)) == ["schedule:governors"]
        assert await scheduler.run_once(datetime(2026, 11, 9, 7, 5, tzinfo=LONDON)) == ["schedule:main"]
        assert await scheduler.run_once(datetime(2026, 11, 10, 7, 5, tzinfo=LONDON)) == []
        assert [m.rcpt_tos for m in sink.messages] == [["governors@school.sch.uk"], ["head@school.sch.uk"]]
        weekly = _parts(sink.messages[1].data)
        report = weekly["text/csv"][0].get_content()
        assert csv_values(report)[("volume", "messages", "total")] == "32"
        assert "Week of 2 November 2026" in weekly["text/html"][0].get_content()
        assert {r["trigger"] for r in runs_sync(store.engine)} == {"schedule:main", "schedule:governors"}
    finally:
        await hop.close()
        await store.close()


async def test_start_reports_records_config_and_only_runs_when_scheduled(tmp_path, sink):
    settings = make_settings(tmp_path)
    store = await QuarantineStore(settings.quarantine.path).open()
    try:
        assert await start_reports(settings, store, lambda: None) is None
        data = await build_report(settings, store, PERIOD, now=datetime(2026, 11, 10, tzinfo=LONDON))
        assert data.volume["total"] == 0 and data.health["last_start"] is None  # before this start
        now = datetime.now(LONDON)
        today = await build_report(settings, store, period_for("day", now, current=True), now=now)
        assert today.health["starts"] == 1
    finally:
        await store.close()


async def test_running_gateway_records_its_config_and_schedules(review_gateway, sink):
    gw = await review_gateway(reports={"recipients": ["head@school.sch.uk"], "schedule": "weekly"})
    task = gw.gateway._reports_task
    assert task is not None and not task.done()
    with gw.store.engine.begin() as conn:
        [snapshot] = conn.execute(config_snapshots.select()).all()
    assert json.loads(snapshot.config)["reports"]["schedule"] == "weekly"
    await gw.gateway.stop(grace=1)
    assert task.cancelled()


async def test_no_scheduled_report_for_a_period_before_the_first_message(tmp_path, sink):
    """Issue 15, item 12: a new gateway does not mail the Head an all-zero report for the week
    (or term) before it existed; the first report is for the period holding its first message."""
    settings = make_settings(tmp_path, gateway={"next_hop": sink.address},
                             reports={"recipients": ["head@school.sch.uk"], "schedule": "weekly", "attach": "none",
                                      "extra": [{"name": "governors", "schedule": "termly",
                                                 "recipients": ["governors@school.sch.uk"], "attach": "none"}]})
    store = await QuarantineStore(settings.quarantine.path).open()
    from gateway.service import make_next_hop
    hop = make_next_hop(settings)
    try:
        scheduler = ReportScheduler(settings, store, lambda: hop)
        # no message yet: the week of 2 November ended, but nothing is sent for it
        assert await scheduler.run_once(datetime(2026, 11, 9, 8, tzinfo=LONDON)) == []
        # the first message comes on Wednesday 11 November: the week before it is still not reported,
        # nor the summer term (both ended before it)
        with store.engine.begin() as conn:
            put_decision(conn, at(11, 9), "inbound", "staff", "pass")
        assert await scheduler.run_once(datetime(2026, 11, 12, 8, tzinfo=LONDON)) == []
        assert sink.messages == []
        # the week holding the first message is reported when it ends
        assert await scheduler.run_once(datetime(2026, 11, 16, 8, tzinfo=LONDON)) == ["schedule:main"]
        [mail] = sink.messages
        assert mail.rcpt_tos == ["head@school.sch.uk"] and b"Week of 9 November 2026" in mail.data
        assert [r["trigger"] for r in runs_sync(store.engine)] == ["schedule:main"]
    finally:
        await hop.close()
        await store.close()

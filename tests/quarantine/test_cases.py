"""Safeguarding cases: every safeguarding hold is one, the DSL records status, action, outcome and
the true/false-positive mark, and the CPOMS/MyConcern export carries no message content."""
from __future__ import annotations

import csv
import io
import json
import re

from filters.base import Category
from quarantine.cases import EXPORT_FIELDS
from tests.quarantine.conftest import csrf_of


async def test_a_case_per_safeguarding_hold_recorded_and_exported_without_content(review):
    mid = await review.add(subject="meet me saturday")
    other = await review.add(subject="another one")
    await review.hold(subject="Ordinary invoice")
    dsl = await review.login("dsl")
    listing = await dsl.get("/cases")
    assert listing.status_code == 200 and mid in listing.text and other in listing.text
    assert "Ordinary invoice" not in listing.text and "meet me saturday" not in listing.text
    page = await dsl.get(f"/m/{mid}")
    csrf = csrf_of(page.text)
    bad = await dsl.post(f"/m/{mid}/case", data={"csrf": csrf, "status": "maybe"})
    assert bad.status_code == 400
    r = await dsl.post(f"/m/{mid}/case", data={"csrf": csrf, "status": "closed", "verdict": "true_positive",
                                               "action_taken": "=spoke to the pupil and parents",
                                               "outcome": "referred to early help"})
    assert r.status_code == 303
    await dsl.post(f"/m/{mid}/act", data={"csrf": csrf, "action": "note", "text": "mum called back"})
    exported = await dsl.get("/cases.csv")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert tuple(rows[0]) == EXPORT_FIELDS and len(rows) == 2
    mine = next(r for r in rows if r["case_ref"] == f"SG-{mid}")
    assert mine["status"] == "closed" and mine["true_or_false_positive"] == "true positive"
    assert mine["action_taken"] == "'=spoke to the pupil and parents"  # never a spreadsheet formula
    assert "mum called back" in mine["dsl_notes"] and mine["closed_at"]
    assert next(r for r in rows if r["case_ref"] == f"SG-{other}")["status"] == "new"
    data = json.loads((await dsl.get("/cases.json?status=closed")).text)
    assert [c["case_ref"] for c in data["cases"]] == [f"SG-{mid}"]
    for body in (exported.text, json.dumps(data)):
        for secret in ("meet me saturday", "tell your mum", "we talk ok", "stranger@example.net"):
            assert secret not in body
    audit = await review.store.run(review.store.audit_sync)
    assert any(a["action"] == "case_update" and a["actor"] == "dsl" for a in audit)
    assert any(a["action"] == "case_export" and a["actor"] == "dsl" for a in audit)
    for role in ("admin", "reviewer", "head", "auditor"):
        c = await review.login(role)
        assert (await c.get("/cases")).status_code == 403
        assert (await c.get("/cases.csv")).status_code == 403


async def test_annual_review_pack_for_governors(review, tmp_path):
    import shutil
    import subprocess

    mid = await review.add(subject="meet me saturday")
    dsl = await review.login("dsl")
    csrf = csrf_of((await dsl.get(f"/m/{mid}")).text)
    await dsl.post(f"/m/{mid}/case", data={"csrf": csrf, "status": "closed", "verdict": "false_positive",
                                           "action_taken": "checked: a film title", "outcome": "no concern"})
    head = await review.login("head")
    pdf = await head.get("/annual-review.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert shutil.which("pdftotext"), "pdftotext (poppler-utils) is installed by scripts/setup --test"
    path = tmp_path / "pack.pdf"
    path.write_bytes(pdf.content)
    text = " ".join(subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout.split())
    for part in ("annual review of filtering and monitoring", "1. Roles", "2. What the filtering covers",
                 "3. Settings changes", "4. Safeguarding incidents", "By severity tier",
                 "False-positive rate among marked cases: 100%", "Cases with an action recorded: 1",
                 "The same dates a year earlier", "no data (the gateway's records begin later)"):
        assert part in text, part
    for secret in ("meet me saturday", "tell your mum", "stranger@example.net", "a film title"):
        assert secret not in text
    assert (await (await review.login("auditor")).get("/annual-review.pdf")).status_code == 403


async def _level_five_threat(review) -> str:
    """A level-5 threat (a weapon at school) in no safeguarding category: the DSL is alerted, so a case."""
    import hashlib

    from filters.base import Category, Finding, Severity
    from quarantine.store import new_message_id
    from tests.factories import SCHOOL_DOMAIN
    from tests.factories import make_message

    raw = make_message("i will bring a knife to school tomorrow", subject="tomorrow", sender=f"kid@{SCHOOL_DOMAIN}",
                       to=f"pal@{SCHOOL_DOMAIN}")
    mid = new_message_id()
    finding = Finding("THREAT_WEAPON_SCHOOL", "test", Category.THREAT, Severity.CRITICAL, ("a knife to school",),
                      "A threat to bring a weapon to school.", level=5)
    await review.store.run(lambda: review.store.add_sync(
        message_id=mid, raw=raw, mail_from=f"kid@{SCHOOL_DOMAIN}", from_header="kid", subject="tomorrow",
        direction="internal", sender_role="student", client_ip="192.0.2.1", sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw), recipients=[(f"pal@{SCHOOL_DOMAIN}", "student", "hold")], findings=[finding], failures=[]))
    return mid


async def test_export_profiles_for_cpoms_and_myconcern_without_content(review):
    from tests.factories import SCHOOL_DOMAIN

    mid = await review.add(subject="meet me saturday")
    threat = await _level_five_threat(review)
    dsl = await review.login("dsl")
    listing = await dsl.get("/cases")
    assert threat in listing.text and "CPOMS columns" in listing.text  # a level-5 alert is a case too
    csrf = csrf_of((await dsl.get(f"/m/{threat}")).text)
    assert (await dsl.post(f"/m/{threat}/case", data={"csrf": csrf, "status": "open", "verdict": "true_positive",
                                                      "action_taken": "head of year told",
                                                      "outcome": ""})).status_code == 303
    cpoms = list(csv.DictReader(io.StringIO((await dsl.get("/cases.csv?profile=cpoms")).text)))
    assert list(cpoms[0]) == ["Reference", "Date", "Time", "Categories", "Incident", "Risk level", "Action taken",
                              "Outcome", "Status", "True or false positive", "Recorded by", "Source", "Notes"]
    row = next(r for r in cpoms if r["Reference"] == f"SG-{threat}")
    assert row["Risk level"] == "5" and row["Status"] == "open" and row["Action taken"] == "head of year told"
    assert re.fullmatch(r"\d\d/\d\d/\d{4}", row["Date"]) and re.fullmatch(r"\d\d:\d\d", row["Time"])
    assert "THREAT_WEAPON_SCHOOL" in row["Incident"] and "content is not copied" in row["Incident"]
    assert next(r for r in cpoms if r["Reference"] == f"SG-{mid}")["Categories"] == "Grooming"
    mc = json.loads((await dsl.get("/cases.json?profile=myconcern")).text)
    assert mc["profile"] == "myconcern" and mc["fields"][:4] == ["Reference", "Date of concern", "Time of concern",
                                                                 "Category"]
    assert {c["Reference"] for c in mc["cases"]} == {f"SG-{mid}", f"SG-{threat}"}
    for body in (json.dumps(cpoms), json.dumps(mc)):
        for secret in ("meet me saturday", "tell your mum", "knife", "stranger@example.net", f"kid@{SCHOOL_DOMAIN}",
                       f"pupil@{SCHOOL_DOMAIN}"):
            assert secret not in body, secret
    audit = await review.store.run(review.store.audit_sync)
    assert any(a["action"] == "case_export" and "cpoms" in json.dumps(a, default=str) for a in audit)


async def test_configured_columns_and_category_names(review_gateway, tmp_path):
    """[cases] export_columns replaces the profile's columns; the pupil's account appears only when
    the DSL lists it; category_names gives the school's own CPOMS categories."""
    from quarantine.users import UserStore
    from tests.factories import SCHOOL_DOMAIN
    from tests.quarantine.conftest import PASSWORD, Review

    gw = await review_gateway(cases={"export_profile": "cpoms",
                                     "export_columns": {"Student": "pupil_account", "Date": "date",
                                                        "Category": "category_name", "Ref": "case_ref"},
                                     "category_names": {"grooming": "Child Sexual Exploitation"}})
    await gw.store.run(lambda: UserStore.for_settings(gw.store.engine, gw.settings.web).add(
        "dsl", "dsl", PASSWORD, email=f"dsl@{SCHOOL_DOMAIN}"))
    review = Review(gw, None)
    mid = await review.add()
    dsl = await review.login("dsl")
    rows = list(csv.DictReader(io.StringIO((await dsl.get("/cases.csv")).text)))
    assert list(rows[0]) == ["Student", "Date", "Category", "Ref"]
    assert rows[0] == {"Student": f"pupil@{SCHOOL_DOMAIN}", "Date": rows[0]["Date"],
                       "Category": "Child Sexual Exploitation", "Ref": f"SG-{mid}"}
    # a link's own profile still gives that profile's columns, without the pupil
    generic = list(csv.DictReader(io.StringIO((await dsl.get("/cases.csv?profile=generic")).text)))
    assert tuple(generic[0]) == EXPORT_FIELDS and f"pupil@{SCHOOL_DOMAIN}" not in json.dumps(generic)


def test_export_columns_are_validated_naming_the_key(tmp_path):
    import pytest
    from pydantic import ValidationError

    from config.loader import load_settings
    from config.schema import CASE_EXPORT_FIELDS, CasesSection
    from filters.errors import SchoolgateError
    from quarantine.cases import GENERIC, PROFILES, _fields

    with pytest.raises(ValidationError, match="'Body' = 'subject' is not a case field"):
        CasesSection(export_columns={"Body": "subject"})
    site = tmp_path / "site.toml"
    site.write_text('[cases]\nexport_columns = { "Body" = "subject" }\n')
    with pytest.raises(SchoolgateError) as failed:
        load_settings(site)
    assert str(failed.value).startswith(f"{site}: [cases] export_columns: 'Body' = 'subject' is not a case field")
    assert "\n" not in str(failed.value)
    with pytest.raises(ValidationError):
        CasesSection(export_profile="sims")
    # every field a column may name is filled, and every profile names only those
    case = {"message_id": "x", "received_at": 0.0, "categories": ["self_harm"], "codes": ["A"], "direction": "inbound",
            "sender_role": "external", "level": 4, "pupil_accounts": [], "acked_by": "", "acked_at": None,
            "action_taken": "", "outcome": "", "verdict": "", "notes": [], "updated_by": "", "updated_at": None,
            "closed_at": None, "status": "new"}
    assert set(_fields(case, GENERIC)) == set(CASE_EXPORT_FIELDS)
    for columns in PROFILES.values():
        assert {f for _, f in columns} <= set(CASE_EXPORT_FIELDS) and "pupil_account" not in {f for _, f in columns}


async def test_heads_report_case_status_agrees_with_the_cases(review):
    """The Head's report counts the DSL's cases (no names, no text): the same incidents the
    /cases list holds, by status and mark, adding up to the incident total."""
    first, second = await review.add(), await review.add(category=Category.SELF_HARM, code="SELF_HARM_INTENT")
    threat = await _level_five_threat(review)
    dsl = await review.login("dsl")
    for mid, status, verdict, outcome in ((first, "closed", "true_positive", "parents informed"),
                                          (threat, "open", "false_positive", "")):
        csrf = csrf_of((await dsl.get(f"/m/{mid}")).text)
        assert (await dsl.post(f"/m/{mid}/case", data={"csrf": csrf, "status": status, "verdict": verdict,
                                                       "action_taken": "x", "outcome": outcome})).status_code == 303
    listed = list(csv.DictReader(io.StringIO((await dsl.get("/cases.csv")).text)))
    by_status = {s: sum(r["status"] == s for r in listed) for s in ("new", "open", "closed")}
    assert by_status == {"new": 1, "open": 1, "closed": 1} and second in json.dumps(listed)
    head = await review.login("head")
    report = {(r["section"], r["item"], r["breakdown"]): r["value"]
              for r in csv.DictReader(io.StringIO((await head.get("/report.csv")).text))}
    assert {s: int(report[("safeguarding", "case_status", s)]) for s in by_status} == by_status
    assert int(report[("safeguarding", "total", "incidents")]) == len(listed) == 3
    assert int(report[("safeguarding", "case_mark", "false_positive")]) == 1
    assert int(report[("safeguarding", "case_mark", "not_marked")]) == 1
    page = (await head.get("/report")).text
    assert "Case status" in page and "parents informed" not in page and "pupil@" not in page

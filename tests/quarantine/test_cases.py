"""Safeguarding cases: every safeguarding hold is one, the DSL records status, action, outcome and
the true/false-positive mark, and the CPOMS/MyConcern export carries no message content."""
from __future__ import annotations

import csv
import io
import json

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
                 "False-positive rate among marked cases: 100%", "Cases with an action recorded: 1"):
        assert part in text, part
    for secret in ("meet me saturday", "tell your mum", "stranger@example.net", "a film title"):
        assert secret not in text
    assert (await (await review.login("auditor")).get("/annual-review.pdf")).status_code == 403

"""Roles scoped to schools (quarantine/access.py), route by route, in a three-school trust:
a school's DSL, reviewer, Head and auditor see only their school; trust_dsl, trust_it and
trust_ceo see across schools; the DSL-only rule for safeguarding content holds at every scope."""
from __future__ import annotations

import csv
import hashlib
import io
import re

import pytest

from filters.base import Category, Finding, Severity
from quarantine.links import LinkSigner, load_secret
from quarantine.store import new_message_id
from quarantine.users import UserStore
from tests.factories import make_message
from tests.gateway.test_tenancy import A_PUPIL, B_STAFF, EXE, PARENT, trust_overrides
from tests.quarantine.conftest import PASSWORD, Review, csrf_of

SG_SUBJECT, SG_BODY = "meet me saturday", "don't tell your mum we talk ok"
ACCOUNTS = [  # name, role, schools
    ("dsl-hill", "dsl", ["hillside"]), ("dsl-valley", "dsl", ["valley"]), ("reviewer-hill", "reviewer", ["hillside"]),
    ("head-hill", "head", ["hillside"]), ("auditor-hill", "auditor", ["hillside"]), ("admin-hill", "admin", ["hillside"]),
    ("nobody", "reviewer", []), ("trust-dsl", "trust_dsl", []), ("trust-it", "trust_it", []),
    ("trust-ceo", "trust_ceo", []),
]
CONTENT_ROUTES = [  # every route that shows or decides one hold, with a legitimate user's form
    ("GET", "/m/{id}", None),
    ("POST", "/m/{id}/attachment", {"index": "0", "reason": "check"}),
    ("POST", "/m/{id}/image", {"index": "0", "reason": "check"}),
    ("POST", "/m/{id}/bundle", {"reason": "incident 7"}),
    ("POST", "/m/{id}/act", {"action": "release", "reason": "fine", "confirm": "yes"}),
    ("POST", "/m/{id}/act", {"action": "delete", "reason": "fine", "confirm": "yes"}),
    ("POST", "/m/{id}/act", {"action": "false_positive", "code": "GROOMING_SECRECY", "reason": "x"}),
    ("POST", "/m/{id}/open", {"reason": "curious"}),
    ("POST", "/m/{id}/case", {"status": "open", "action_taken": "x", "outcome": "", "verdict": ""}),
    ("POST", "/m/{id}/chain-letter", {"reason": "x"}),
]


class Trust(Review):
    ids: dict[str, str]


async def _hold(review: Review, rcpt: str, subject: str) -> str:
    raw = make_message("see attached", subject=subject, sender=PARENT, to=rcpt, attachments=EXE)
    code, text = await review.gw.send(raw, mail_from=PARENT, rcpt_tos=[rcpt])
    assert code == 250, text
    return re.search(rb"Ok: (\S+)", text).group(1).decode()


async def _sg(review: Review, rcpt: str, school: str) -> str:
    raw = make_message(SG_BODY, subject=SG_SUBJECT, sender=PARENT, to=rcpt)
    finding = Finding("GROOMING_SECRECY", "test", Category.GROOMING, Severity.HIGH, ("tell your mum",), "secret")
    mid = new_message_id()
    await review.store.run(lambda: review.store.add_sync(
        message_id=mid, raw=raw, mail_from=PARENT, from_header=PARENT, subject=SG_SUBJECT, direction="inbound",
        sender_role="external", client_ip="192.0.2.1", sha256=hashlib.sha256(raw).hexdigest(), size=len(raw),
        recipients=[(rcpt, "student", "hold")], findings=[finding], failures=[], school_id=school))
    return mid


@pytest.fixture
async def trust(review_gateway, sink) -> Trust:
    data = trust_overrides()
    gw = await review_gateway(school=data["school"], trust=data["trust"], schools=data["schools"])
    accounts = UserStore.for_settings(gw.store.engine, gw.settings.web)

    def add_all() -> None:
        for name, role, schools in ACCOUNTS:
            accounts.add(name, role, PASSWORD, email=f"{name}@riverside.org.uk", schools=schools)
    await gw.store.run(add_all)
    review = Trust(gw, sink)
    review.ids = {
        "hill": await _hold(review, A_PUPIL, "Invoice Hill"),
        "valley": await _hold(review, B_STAFF, "Invoice Valley"),
        "valley2": await _hold(review, B_STAFF, "Invoice Valley two"),
        "sg_hill": await _sg(review, A_PUPIL, "hillside"),
        "sg_valley": await _sg(review, B_STAFF, "valley"),
    }
    return review


async def _csrf(client) -> str:
    return csrf_of((await client.get("/", follow_redirects=True)).text)


async def test_the_queue_shows_each_account_its_schools(trust):
    ids = trust.ids
    seen = {}
    for name in ("dsl-hill", "dsl-valley", "reviewer-hill", "nobody", "trust-dsl", "trust-it"):
        c = await trust.login(name)
        text = (await c.get("/queue")).text
        seen[name] = {k for k, mid in ids.items() if mid in text}
    assert seen == {
        "dsl-hill": {"hill", "sg_hill"}, "dsl-valley": {"valley", "valley2", "sg_valley"},
        "reviewer-hill": {"hill"}, "nobody": set(),
        "trust-dsl": {"hill", "valley", "valley2", "sg_hill", "sg_valley"},
        "trust-it": {"hill", "valley", "valley2"},  # trust IT: across schools, still no safeguarding
    }


@pytest.mark.parametrize("name, target", [("dsl-valley", "sg_hill"), ("dsl-valley", "hill"),
                                          ("reviewer-hill", "valley"), ("nobody", "hill"),
                                          ("admin-hill", "valley")])
async def test_another_schools_hold_is_not_found_on_every_route(trust, name, target):
    mid = trust.ids[target]
    c = await trust.login(name)
    csrf = await _csrf(c)
    for method, path, form in CONTENT_ROUTES:
        url = path.format(id=mid)
        reply = await (c.get(url) if method == "GET" else c.post(url, data={**form, "csrf": csrf}))
        # 404 (not your school's); 403 where the route is not for the role anyway (/open, /case)
        assert reply.status_code == 404 or (reply.status_code == 403 and path.endswith(("/open", "/case"))), \
            (name, method, url, reply.status_code)
        for text in (SG_SUBJECT, SG_BODY, "Invoice", "tell your mum"):
            assert text not in reply.text, (url, text)
    held = await trust.store.get(mid)
    assert held.status == "held" and not trust.sink.messages
    denied = [r for r in await trust.store.run(trust.store.audit_sync, mid) if r["action"] == "view_denied"]
    assert denied and all(r["actor"] == name and r["reason"].startswith("school") for r in denied)
    assert {r["school_id"] for r in denied} == {held.school_id}


async def test_digest_links_and_bulk_actions_stay_in_the_school(trust):
    c = await trust.login("reviewer-hill")
    csrf = await _csrf(c)
    token = LinkSigner(load_secret(trust.gw.settings.quarantine.path), 3600).make(trust.ids["valley"], "release")
    assert (await c.get(f"/l/{token}")).status_code == 404
    reply = await c.post(f"/l/{token}", data={"csrf": csrf, "confirm": "yes", "reason": "digest"})
    assert reply.status_code == 404
    bulk = await c.post("/bulk", data={"csrf": csrf, "id": [trust.ids["valley"], trust.ids["hill"]],
                                       "action": "release", "reason": "tidy", "confirm": "yes"})
    assert bulk.status_code in (200, 303)
    assert (await trust.store.get(trust.ids["valley"])).status == "held"
    assert (await trust.store.get(trust.ids["hill"])).status == "released"
    assert [m.rcpt_tos for m in trust.sink.messages] == [[A_PUPIL]]


async def test_the_trust_safeguarding_lead_still_opens_with_a_reason(trust):
    mid = trust.ids["sg_valley"]
    c = await trust.login("trust-dsl")
    page = await c.get(f"/m/{mid}")
    assert page.status_code == 200 and SG_BODY not in page.text  # metadata only, until opened
    assert '<span class="school">Valley Primary</span>' in page.text  # whose hold it is
    csrf = csrf_of(page.text)
    early = await c.post(f"/m/{mid}/bundle", data={"csrf": csrf, "reason": "x"})
    assert early.status_code in (400, 403) and "Open the message first" in early.text
    assert SG_BODY not in early.text and early.headers["content-type"].startswith("text/html")
    assert (await c.post(f"/m/{mid}/open", data={"csrf": csrf, "reason": "trust review"})).status_code == 303
    assert "we talk ok" in (await c.get(f"/m/{mid}")).text
    opened = [r for r in await trust.store.run(trust.store.audit_sync, mid) if r["action"] == "view_safeguarding"]
    assert [(r["actor"], r["reason"], r["school_id"]) for r in opened] == [("trust-dsl", "trust review", "valley")]


@pytest.mark.parametrize("name", ["trust-it", "trust-ceo", "reviewer-hill", "head-hill"])
async def test_no_trust_or_school_role_but_a_dsl_gets_safeguarding_content(trust, name):
    mid = trust.ids["sg_hill"]
    c = await trust.login(name)
    csrf = await _csrf(c)
    for method, path, form in CONTENT_ROUTES[:-2]:
        url = path.format(id=mid)
        reply = await (c.get(url) if method == "GET" else c.post(url, data={**form, "csrf": csrf}))
        assert reply.status_code == 403, (name, url, reply.status_code)
        assert SG_BODY not in reply.text and SG_SUBJECT not in reply.text


async def test_cases_audit_and_counts_follow_the_scope(trust):
    dsl = await trust.login("dsl-hill")
    cases = (await dsl.get("/cases")).text
    assert trust.ids["sg_hill"] in cases and trust.ids["sg_valley"] not in cases
    exported = (await dsl.get("/cases.csv")).text
    assert trust.ids["sg_hill"] in exported and trust.ids["sg_valley"] not in exported
    lead = await trust.login("trust-dsl")
    assert trust.ids["sg_valley"] in (await lead.get("/cases")).text

    auditor = await trust.login("auditor-hill")
    page = (await auditor.get("/audit")).text
    assert trust.ids["hill"] in page and trust.ids["valley"] not in page
    rows = list(csv.DictReader(io.StringIO((await auditor.get("/audit.csv")).text)))
    assert rows and not any(trust.ids["valley"] in ",".join(r.values()) for r in rows)

    head = await trust.login("head-hill")
    assert "<b>2</b> waiting for review" in (await head.get("/counts")).text  # Hillside: 1 + 1 safeguarding
    ceo = await trust.login("trust-ceo")
    assert "<b>5</b> waiting for review" in (await ceo.get("/counts")).text
    assert (await ceo.get("/queue")).status_code == 403  # a Head's permissions, across schools


async def test_reports_a_school_head_gets_their_school_the_trust_gets_the_comparison(trust):
    head = await trust.login("head-hill")
    page = await head.get("/report?period=week&current=1")
    assert page.status_code == 200
    assert "Hillside Academy" in page.text and "Valley Primary" not in page.text
    rows = list(csv.DictReader(io.StringIO((await head.get("/report.csv?period=week&current=1")).text)))
    assert {r["school_id"] for r in rows} == {"hillside"}
    held = next(r for r in rows if r["metric"] == "held")
    assert held["value"] == "2"
    assert (await head.get("/trust-report?period=week&current=1")).text.count("Valley") == 0

    ceo = await trust.login("trust-ceo")
    report = await ceo.get("/trust-report?period=week&current=1")
    for name in ("Hillside Academy", "Valley Primary", "Oak Park School", "Riverside Learning Trust (all schools)"):
        assert name in report.text
    for private in (A_PUPIL, B_STAFF, PARENT, "Invoice", SG_SUBJECT):
        assert private not in report.text
    pdf = await ceo.get("/trust-report.pdf?period=week&current=1")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    table = list(csv.DictReader(io.StringIO((await ceo.get("/trust-report.csv?period=week&current=1")).text)))
    held = {r["school_id"]: r["value"] for r in table if r["metric"] == "held"}
    assert held == {"hillside": "2", "valley": "3", "oak": "0", "trust": "5"}
    sg = {r["school_id"]: r["value"] for r in table if r["metric"] == "safeguarding" and not r["breakdown"]}
    assert sg == {"hillside": "1", "valley": "1", "oak": "0", "trust": "2"}
    # the full single-school report stays for the trust-wide roles
    assert (await ceo.get("/report?period=week&current=1")).status_code == 200


async def test_sso_groups_give_a_new_account_its_role_and_schools(review_gateway, sink, tmp_path):
    from tests.oidc_provider import OidcProvider
    from tests.quarantine.conftest import FAST_HASH
    from tests.quarantine.test_sso import sign_in

    provider = OidcProvider().start()
    try:
        secret = tmp_path / "client.secret"
        secret.write_text(provider.client_secret)
        data = trust_overrides()
        gw = await review_gateway(school=data["school"], trust=data["trust"], schools=data["schools"], web={
            "sso": [{"name": "entra", "issuer": provider.issuer, "client_id": provider.client_id,
                     "client_secret_file": str(secret), "role_groups": {"SG-Valley-DSL": "dsl"},
                     "school_groups": {"SG-Valley-DSL": "valley"}}], **FAST_HASH})
        review = Review(gw, sink)
        valley_sg = await _sg(review, B_STAFF, "valley")
        hill_sg = await _sg(review, A_PUPIL, "hillside")
        provider.claims = {"email": "new.dsl@valley.sch.uk", "email_verified": True, "groups": ["SG-Valley-DSL"]}
        reply = await sign_in(review, provider)
        assert reply.status_code == 303, reply.text[:300]
        made = await gw.store.run(lambda: UserStore(gw.store.engine).get("new.dsl@valley.sch.uk"))
        assert (str(made.role), made.schools) == ("dsl", ("valley",))
        client = reply.client
        queue = (await client.get("/queue")).text
        assert valley_sg in queue and hill_sg not in queue
        assert (await client.get(f"/m/{hill_sg}")).status_code == 404
        await client.aclose()
    finally:
        provider.stop()


async def test_a_school_admin_manages_only_their_schools_accounts(trust):
    admin = await trust.login("admin-hill")
    page = await admin.get("/admin")
    assert page.status_code == 200
    assert "dsl-hill" in page.text and "dsl-valley" not in page.text and "trust-dsl" not in page.text
    csrf = csrf_of(page.text)
    other = await admin.post("/admin/users", data={"csrf": csrf, "action": "disable", "name": "dsl-valley"})
    assert other.status_code == 404
    lead = await admin.post("/admin/users", data={"csrf": csrf, "action": "passwd", "name": "trust-dsl",
                                                  "password": "a new password here"})
    assert lead.status_code == 404
    promote = await admin.post("/admin/users", data={"csrf": csrf, "action": "role", "name": "dsl-hill",
                                                     "role": "trust_dsl"})
    assert promote.status_code == 403
    added = await admin.post("/admin/users", data={"csrf": csrf, "action": "add", "name": "new-rev", "role": "reviewer",
                                                   "password": PASSWORD, "email": "new@hillside.sch.uk"})
    assert added.status_code == 303
    users = UserStore(trust.store.engine)
    made = await trust.store.run(users.get, "new-rev")
    assert made.schools == ("hillside",)  # the admin's own school
    valley = await trust.store.run(users.get, "dsl-valley")
    assert not valley.disabled
    assert (await admin.post("/admin/users", data={"csrf": csrf, "action": "disable", "name": "dsl-hill"})
            ).status_code == 303
    # trust IT manages every school's accounts
    it = await trust.login("trust-it")
    page = (await it.get("/admin")).text
    assert "dsl-valley" in page and "trust-dsl" in page


async def test_the_queue_narrows_to_one_school_but_never_widens(trust):
    lead = await trust.login("trust-dsl")
    page = (await lead.get("/queue?school=valley")).text
    assert '<option value="valley" selected>Valley Primary</option>' in page
    assert trust.ids["valley"] in page and trust.ids["sg_valley"] in page and trust.ids["hill"] not in page
    rev = await trust.login("reviewer-hill")
    widened = (await rev.get("/queue?school=valley")).text
    assert trust.ids["valley"] not in widened and trust.ids["hill"] in widened


async def test_sender_lists_a_school_admin_sees_and_edits_only_their_schools(trust):
    from quarantine.review_store import ReviewStore

    review = ReviewStore(trust.store)

    def seed() -> None:
        review.set_sender_list_sync("valley-only@example.com", "block", "dsl-valley", "valley's", None, school="valley")
        review.set_sender_list_sync("@trust-wide.example", "block", "trust-it", "everyone's", None)
    await trust.store.run(seed)
    admin = await trust.login("admin-hill")
    page = (await admin.get("/admin")).text
    assert "valley-only@example.com" not in page  # another school's entry is not shown
    assert "trust-wide.example" in page and "whole trust" in page  # the trust's, which covers Hillside, to read
    csrf = csrf_of(page)
    added = await admin.post("/admin/senders", data={"csrf": csrf, "action": "add", "address": "pest@example.net",
                                                     "kind": "block", "reason": "spam"})
    assert added.status_code == 303
    entries = {(r["address"], r["school"]) for r in await trust.store.run(review.sender_list_sync)}
    assert ("pest@example.net", "hillside") in entries  # the admin's own school
    for school, address in (("valley", "valley-only@example.com"), ("", "@trust-wide.example")):
        gone = await admin.post("/admin/senders", data={"csrf": csrf, "action": "remove", "address": address,
                                                        "school": school, "reason": "mine now"})
        assert gone.status_code == 404
        wider = await admin.post("/admin/senders", data={"csrf": csrf, "action": "add", "address": "x@example.org",
                                                         "kind": "allow", "school": school, "reason": "x"})
        assert wider.status_code == 403
    assert {(r["address"], r["school"]) for r in await trust.store.run(review.sender_list_sync)} == entries
    # a block from a Hillside hold's page is Hillside's
    dsl = await trust.login("dsl-hill")
    csrf = await _csrf(dsl)
    done = await dsl.post(f"/m/{trust.ids['hill']}/act", data={"csrf": csrf, "action": "block", "reason": "spam",
                                                               "confirm": "yes"})
    assert done.status_code == 303
    assert await trust.store.run(review.sender_status_sync, PARENT, "hillside") == "block"
    assert await trust.store.run(review.sender_status_sync, PARENT, "valley") is None
    # trust IT sees every entry, and its own are the trust's unless it picks a school
    it = await trust.login("trust-it")
    page = (await it.get("/admin")).text
    assert "valley-only@example.com" in page and "pest@example.net" in page
    csrf = csrf_of(page)
    assert (await it.post("/admin/senders", data={"csrf": csrf, "action": "add", "address": "@all.example",
                                                  "kind": "block", "reason": "trust"})).status_code == 303
    assert (await it.post("/admin/senders", data={"csrf": csrf, "action": "remove", "address": "pest@example.net",
                                                  "school": "hillside", "reason": "tidy"})).status_code == 303
    entries = {(r["address"], r["school"]) for r in await trust.store.run(review.sender_list_sync)}
    assert ("@all.example", "") in entries and ("pest@example.net", "hillside") not in entries


def _pdf_text(pdf: bytes, tmp_path, name: str) -> str:
    import shutil
    import subprocess

    assert shutil.which("pdftotext"), "pdftotext (poppler-utils) is installed by scripts/setup --test"
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    return " ".join(subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout.split())


async def test_the_annual_review_pack_is_a_schools_for_its_accounts_and_the_trusts_for_trust_roles(trust, tmp_path):
    from quarantine.cases import Cases
    from quarantine.review_store import ReviewStore

    review = ReviewStore(trust.store)
    await trust.store.run(lambda: Cases(review).update_sync(trust.ids["sg_valley"], "dsl-valley", status="closed",
                                                            verdict="false_positive", action_taken="", outcome=""))
    head = await trust.login("head-hill")
    pdf = await head.get("/annual-review.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    hill = _pdf_text(pdf.content, tmp_path, "hill")
    assert "Hillside Academy: annual review of filtering and monitoring" in hill
    assert "1 incident (" in hill  # Hillside's safeguarding hold, not Valley's
    assert "Riverside" not in hill and "Valley" not in hill
    assert "false positive" not in hill  # Valley's DSL's mark is Valley's
    for private in (A_PUPIL, B_STAFF, PARENT, SG_SUBJECT, SG_BODY):
        assert private not in hill
    ceo = await trust.login("trust-ceo")
    whole = _pdf_text((await ceo.get("/annual-review.pdf")).content, tmp_path, "trust")
    assert "Riverside Learning Trust: annual review" in whole and "2 incidents (" in whole
    assert "false positive 1" in whole
    audit = await trust.store.run(lambda: review.audit_query_sync(action="annual_review_export"))
    assert sorted(r["detail"]["schools"] for r in audit[0]) == [["*"], ["hillside"]]

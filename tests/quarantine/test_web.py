"""HTTP tests of the review UI against a real gateway: login, roles, queue, message, actions, audit."""
from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import re
import zipfile

import httpx
import pytest

from filters.base import Category
from quarantine.review_store import QueueQuery, ReviewStore
from quarantine.users import UserStore
from tests.factories import SCHOOL_DOMAIN
from tests.quarantine.conftest import PASSWORD, Review, csrf_of


# -- login, sessions, headers ----------------------------------------------------------------
async def test_login_sets_hardened_session_cookie_and_logout_ends_it(review):
    c = await review.login("reviewer")
    cookie = c.cookies.jar
    session = next(k for k in cookie if k.name == "sg_session")
    assert session.has_nonstandard_attr("HttpOnly")
    assert session.get_nonstandard_attr("SameSite", "").lower() == "lax"
    page = await c.get("/queue")
    assert page.status_code == 200
    reply = await c.post("/logout", data={"csrf": csrf_of(page.text)})
    assert reply.status_code == 303
    again = await c.get("/queue")
    assert again.status_code == 303 and again.headers["location"].startswith("/login")


async def test_secure_cookie_when_base_url_is_https(review_gateway):
    from http.cookies import SimpleCookie

    gw = await review_gateway(web={"base_url": "https://review.school.sch.uk"})
    await gw.store.run(lambda: UserStore.for_settings(gw.store.engine, gw.settings.web).add(
        "reviewer", "reviewer", PASSWORD))
    c = Review(gw, None).client()
    page = await c.get("/login")
    assert "; secure" in page.headers["set-cookie"].lower()
    # log in (the Secure login cookie sent by hand: httpx keeps it off plain http) and read
    # the flags of the session cookie itself, the one that carries the login
    reply = await c.post("/login", data={"username": "reviewer", "password": PASSWORD, "csrf": csrf_of(page.text)},
                         headers={"cookie": f"sg_login={page.cookies['sg_login']}"})
    assert reply.status_code == 303
    jar = SimpleCookie()
    for header in reply.headers.get_list("set-cookie"):
        jar.load(header)
    session = jar["sg_session"]
    assert session.value and session["secure"] is True
    assert session["httponly"] is True and session["samesite"].lower() == "lax"


@pytest.mark.parametrize("name,password,status", [
    ("reviewer", "wrong password!!", 401),
    ("nobody", PASSWORD, 401),
])
async def test_bad_login_is_refused_and_audited(review, name, password, status):
    c = review.client()
    page = await c.get("/login")
    reply = await c.post("/login", data={"username": name, "password": password, "csrf": csrf_of(page.text)})
    assert reply.status_code == status
    assert "sg_session" not in reply.headers.get("set-cookie", "")
    rows = await review.store.run(review.store.audit_sync)
    assert any(r["action"] == "login_failed" and r["actor"] == name for r in rows)


async def test_login_without_csrf_token_is_refused(review):
    c = review.client()
    await c.get("/login")
    reply = await c.post("/login", data={"username": "reviewer", "password": PASSWORD, "csrf": "forged"})
    assert reply.status_code == 403


async def test_login_rate_limit_blocks_even_the_right_password(review):
    c = review.client()
    for _ in range(review.gw.settings.web.login_attempts):
        page = await c.get("/login")
        r = await c.post("/login", data={"username": "dsl", "password": "not it at all", "csrf": csrf_of(page.text)})
        assert r.status_code == 401
    page = await c.get("/login")
    r = await c.post("/login", data={"username": "dsl", "password": PASSWORD, "csrf": csrf_of(page.text)})
    assert r.status_code == 429


async def _failed_logins(review, client, count: int, headers_for) -> list[httpx.Response]:
    """`count` failed logins, each under a new user name, with headers_for(i) added."""
    replies = []
    for i in range(count):
        page = await client.get("/login")
        replies.append(await client.post(
            "/login", headers=headers_for(i),
            data={"username": f"guess{i}", "password": "not it at all", "csrf": csrf_of(page.text)}))
    return replies


async def _audited_addresses(review) -> list[str]:
    rows = await review.store.run(review.store.audit_sync)
    return [json.loads(r["detail"])["address"] for r in rows if r["action"] == "login_failed"]


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(review):
    """No [web] trusted_proxies (the default): a client on 127.0.0.1 forging X-Forwarded-For
    neither dodges the per-address login limit nor writes its made-up address into the audit."""
    per_address = review.gw.settings.web.login_attempts * 4
    c = review.client()
    replies = await _failed_logins(review, c, per_address + 1,
                                   lambda i: {"X-Forwarded-For": f"203.0.113.{i + 1}", "X-Forwarded-Proto": "https"})
    assert [r.status_code for r in replies] == [401] * per_address + [429]
    assert set(await _audited_addresses(review)) == {"127.0.0.1"}
    # X-Forwarded-Proto is ignored too: no Secure cookie for a plain-http request
    assert "; secure" not in replies[0].headers["set-cookie"].lower()


async def test_forwarded_for_from_a_trusted_proxy_is_honoured(review_gateway):
    gw = await review_gateway(web={"trusted_proxies": ["127.0.0.0/8"]})
    review = Review(gw, None)
    per_address = gw.settings.web.login_attempts * 4
    c = review.client()
    # each forwarded client has its own count: more failures than one address may have, none blocked
    replies = await _failed_logins(review, c, per_address + 1,
                                   lambda i: {"X-Forwarded-For": f"198.51.100.7, 203.0.113.{i + 1}",
                                              "X-Forwarded-Proto": "https"})
    assert [r.status_code for r in replies] == [401] * (per_address + 1)
    # the client the proxy names (the rightmost untrusted hop) is audited, and https counts
    assert await _audited_addresses(review) == [f"203.0.113.{i + 1}" for i in range(per_address + 1)]
    assert "; secure" in replies[0].headers["set-cookie"].lower()
    # one forwarded client repeating itself is limited by its own address
    again = await _failed_logins(review, c, per_address + 1, lambda i: {"X-Forwarded-For": "192.0.2.99"})
    assert again[-1].status_code == 429


async def test_disabled_account_cannot_log_in_and_its_session_ends(review):
    c = await review.login("reviewer")
    assert (await c.get("/queue")).status_code == 200
    await review.store.run(lambda: UserStore(review.store.engine).set_disabled("reviewer"))
    assert (await c.get("/queue")).status_code == 303
    c2 = review.client()
    page = await c2.get("/login")
    r = await c2.post("/login", data={"username": "reviewer", "password": PASSWORD, "csrf": csrf_of(page.text)})
    assert r.status_code == 401


async def test_idle_session_expires(review_gateway):
    gw = await review_gateway(web={"session_idle_minutes": 0.0001})
    await gw.store.run(lambda: UserStore.for_settings(gw.store.engine, gw.settings.web).add(
        "rev", "reviewer", PASSWORD))
    c = await Review(gw, None).login("rev")
    await asyncio.sleep(0.05)
    assert (await c.get("/queue")).status_code == 303


async def test_security_headers_and_csp_forbid_inline_script(review):
    c = await review.login("reviewer")
    page = await c.get("/queue")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert "<script" not in page.text and "style=" not in page.text
    # the gateway's own endpoints still answer next to the review UI
    assert (await c.get("/healthz")).status_code == 200
    assert (await c.get("/metrics")).status_code == 200


async def test_post_without_csrf_token_is_refused(review):
    mid = await review.hold()
    c = await review.login("reviewer")
    r = await c.post(f"/m/{mid}/act", data={"action": "note", "text": "hello"})
    assert r.status_code == 403
    assert not await review.store.run(ReviewStore(review.store).notes_sync, mid)


# -- roles ---------------------------------------------------------------------------------------
ROUTES = ["/queue", "/m/{mid}", "/audit", "/audit.csv", "/counts", "/admin"]
ALLOWED = {
    "admin": set(ROUTES),
    "reviewer": {"/queue", "/m/{mid}", "/counts"},
    "dsl": {"/queue", "/m/{mid}", "/counts"},
    "head": {"/counts"},
    "auditor": {"/audit", "/audit.csv"},
}


@pytest.mark.parametrize("role", sorted(ALLOWED))
async def test_every_route_checks_the_role(review, role):
    mid = await review.hold()
    c = await review.login(role)
    for route in ROUTES:
        reply = await c.get(route.format(mid=mid))
        expected = 200 if route in ALLOWED[role] else 403
        assert reply.status_code == expected, (role, route)


@pytest.mark.parametrize("route", ROUTES + ["/"])
async def test_anonymous_is_sent_to_login(review, route):
    c = review.client()
    reply = await c.get(route.format(mid="20260101T000000-abc"))
    assert reply.status_code == 303 and reply.headers["location"].startswith("/login")


async def test_head_sees_counts_but_no_content(review):
    await review.hold(subject="Secret salary review")
    c = await review.login("head")
    page = await c.get("/counts")
    assert page.status_code == 200 and "attachment" in page.text
    assert "Secret salary review" not in page.text


async def test_head_report_page_counts_without_content(review):
    await review.hold(subject="Secret salary review")
    c = await review.login("head")
    page = await c.get("/report?period=week&current=1")
    assert page.status_code == 200
    assert "Secret salary review" not in page.text
    assert "<script" not in page.text.lower()
    csp = page.headers.get_list("content-security-policy")
    assert len(csp) == 1 and "script-src" not in csp[0] and "default-src 'none'" in csp[0]
    rows = await review.store.run(review.store.audit_sync)
    assert any(r["action"] == "report_view" and r["actor"] == "head" for r in rows)
    auditor = await review.login("auditor")  # audit only: no counts, no report
    assert (await auditor.get("/report")).status_code == 403


# -- safeguarding ----------------------------------------------------------------------------------
async def test_reviewer_cannot_see_or_open_a_safeguarding_hold(review):
    mid = await review.add(subject="meet me saturday")
    c = await review.login("reviewer")
    queue = await c.get("/queue")
    assert mid not in queue.text and "meet me saturday" not in queue.text
    page = await c.get(f"/m/{mid}")
    assert page.status_code == 403
    assert "don't tell your mum" not in page.text
    r = await c.post(f"/m/{mid}/open", data={"csrf": csrf_of(page.text), "reason": "curious"})
    assert r.status_code == 403
    rows = await review.store.run(review.store.audit_sync, mid)
    assert any(row["action"] == "view_denied" and row["actor"] == "reviewer" for row in rows)


async def test_dsl_body_collapsed_until_opened_with_a_reason(review):
    mid = await review.add()
    c = await review.login("dsl")
    queue = await c.get("/queue?view=safeguarding")
    assert mid in queue.text
    page = await c.get(f"/m/{mid}")
    assert page.status_code == 200
    assert "Content hidden" in page.text and "we talk ok" not in page.text
    r = await c.post(f"/m/{mid}/open", data={"csrf": csrf_of(page.text), "reason": ""})
    assert r.status_code == 400
    r = await c.post(f"/m/{mid}/open", data={"csrf": csrf_of(page.text), "reason": "DSL alert review"})
    assert r.status_code == 303
    page = await c.get(f"/m/{mid}")
    assert "we talk ok" in page.text
    assert '<mark class="evidence">don&#39;t tell your mum</mark>' in page.text
    rows = await review.store.run(review.store.audit_sync, mid)
    assert [r["reason"] for r in rows if r["action"] == "view_safeguarding"] == ["DSL alert review"]


# -- queue --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("query,expect", [
    ("sender=carol", {"Carol's invoice"}),
    ("subject=bank", {"Bank details"}),
    (f"recipient=dan@{SCHOOL_DOMAIN}", {"Bank details"}),
    ("category=attachment", {"Carol's invoice", "Bank details"}),
    ("category=chain_letter", set()),
    ("status=released", set()),
])
async def test_queue_search(review, query, expect):
    await review.hold(subject="Carol's invoice", sender="carol@example.com")
    await review.hold(subject="Bank details", sender="mallory@example.org", rcpts=(f"dan@{SCHOOL_DOMAIN}",))
    c = await review.login("reviewer")
    page = await c.get(f"/queue?{query}")
    assert page.status_code == 200
    shown = {s for s in ("Carol&#39;s invoice", "Bank details") if s in page.text}
    assert {s.replace("&#39;", "'") for s in shown} == expect


async def test_queue_counts_sort_pagination_and_seen_marks(review_gateway):
    gw = await review_gateway(web={"page_size": 2})
    r = Review(gw, None)
    await gw.store.run(lambda: UserStore.for_settings(gw.store.engine, gw.settings.web).add(
        "rev", "reviewer", PASSWORD))
    ids = [await r.hold(subject=f"Message {i}") for i in range(3)]
    c = await r.login("rev")
    page1 = await c.get("/queue?sort=oldest")
    assert "Page 1 of 2" in page1.text and "attachment <b>3</b>" in page1.text
    assert page1.text.index("Message 0") < page1.text.index("Message 1") and "Message 2" not in page1.text
    page2 = await c.get("/queue?sort=oldest&page=2")
    assert "Message 2" in page2.text
    reply = await c.post("/bulk", data={"csrf": csrf_of(page1.text), "id": ids[:2], "action": "mark_seen"})
    assert reply.status_code == 303
    rows, _ = await gw.store.run(lambda: ReviewStore(gw.store).queue_sync(QueueQuery(), "rev"))
    assert {row.held.id for row in rows if row.seen_by_me} == set(ids[:2])


# -- message page ---------------------------------------------------------------------------------------
async def test_message_page_highlights_evidence_and_escapes_everything(review):
    html = ('<p>Hello <script>alert(1)</script><img src="http://tracker.example/x.png" onerror="alert(2)">'
            '<b>pay now</b></p>')
    mid = await review.hold(subject="<b>bold</b> subject", body="Open invoice.pdf.exe today", html=html)
    c = await review.login("reviewer")
    page = await c.get(f"/m/{mid}")
    assert page.status_code == 200
    assert '<mark class="evidence">invoice.pdf.exe</mark>' in page.text
    assert "&lt;b&gt;bold&lt;/b&gt; subject" in page.text
    assert "<script>alert" not in page.text and "tracker.example/x.png\"" not in page.text
    assert "<img" not in page.text
    assert "2 scripts or event handlers removed" in page.text and "1 remote image or frame not loaded" in page.text
    assert "Download" in page.text


async def test_attachment_download_is_an_audited_explicit_action(review):
    mid = await review.hold()
    c = await review.login("reviewer")
    page = await c.get(f"/m/{mid}")
    r = await c.post(f"/m/{mid}/attachment", data={"csrf": csrf_of(page.text), "index": "0", "reason": ""})
    assert r.status_code == 400
    r = await c.post(f"/m/{mid}/attachment", data={"csrf": csrf_of(page.text), "index": "0",
                                                    "reason": "check with the supplier"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.content.startswith(b"MZ")
    rows = await review.store.run(review.store.audit_sync, mid)
    assert any(x["action"] == "download_attachment" and x["reason"] == "check with the supplier" for x in rows)


# -- actions ----------------------------------------------------------------------------------------------
async def test_release_needs_reason_and_confirmation_then_arrives_exactly_once(review):
    mid = await review.hold(subject="Release me")
    c = await review.login("reviewer")
    page = await c.get(f"/m/{mid}")
    token = csrf_of(page.text)
    r = await c.post(f"/m/{mid}/act", data={"csrf": token, "action": "release", "reason": "fine"})
    assert r.status_code == 400
    assert review.sink.messages == []
    r = await c.post(f"/m/{mid}/act", data={"csrf": token, "action": "release", "reason": "known supplier",
                                             "confirm": "yes"})
    assert r.status_code == 303
    assert len(review.sink.messages) == 1 and b"Release me" in review.sink.messages[0].data
    again = await c.post(f"/m/{mid}/act", data={"csrf": token, "action": "release", "reason": "again",
                                                 "confirm": "yes"})
    assert again.status_code == 409
    assert len(review.sink.messages) == 1
    rows = await review.store.run(review.store.audit_sync, mid)
    assert [x["reason"] for x in rows if x["action"] == "release"] == ["known supplier"]


async def test_release_to_chosen_recipients_only(review):
    a, b = f"amy@{SCHOOL_DOMAIN}", f"ben@{SCHOOL_DOMAIN}"
    mid = await review.hold(rcpts=(a, b))
    c = await review.login("reviewer")
    page = await c.get(f"/m/{mid}")
    r = await c.post(f"/m/{mid}/act", data={"csrf": csrf_of(page.text), "action": "release", "reason": "ok",
                                             "confirm": "yes", "recipient": [b]})
    assert r.status_code == 303
    assert [m.rcpt_tos for m in review.sink.messages] == [[b]]
    held = await review.store.get(mid)
    assert held.recipients[a]["status"] == "held" and held.recipients[b]["status"] == "released"


@pytest.mark.parametrize("action,extra,check", [
    ("delete", {"confirm": "yes"}, lambda h, rs: h.status == "deleted"),
    ("block", {"confirm": "yes"}, lambda h, rs: rs.sender_status_sync("alice@example.com") == "block"),
    ("release_allow", {"confirm": "yes"}, lambda h, rs: rs.sender_status_sync("alice@example.com") == "allow"
     and h.status == "released"),
    ("note", {"text": "phoned the supplier"}, lambda h, rs: rs.notes_sync(h.id)[0]["text"] == "phoned the supplier"),
    ("false_positive", {"code": "ATTACHMENT_DOUBLE_EXTENSION"},
     lambda h, rs: rs.false_positive_counts_sync() == {"ATTACHMENT_DOUBLE_EXTENSION": 1}),
    ("escalate", {}, lambda h, rs: [a["why"] for a in rs.alerts_sync(h.id)] == ["escalated"]),
])
async def test_actions(review, action, extra, check):
    mid = await review.hold()
    held = await review.store.get(mid)
    if action == "false_positive":
        extra = {"code": held.codes[0]}
        check = (lambda code: lambda h, rs: rs.false_positive_counts_sync() == {code: 1})(held.codes[0])
    c = await review.login("reviewer")
    page = await c.get(f"/m/{mid}")
    r = await c.post(f"/m/{mid}/act", data={"csrf": csrf_of(page.text), "action": action,
                                             "reason": "reviewed", **extra})
    assert r.status_code == 303, r.text
    held = await review.store.get(mid)
    rs = ReviewStore(review.store)
    assert await review.store.run(lambda: check(held, rs))
    page = await c.get(r.headers["location"])
    assert page.status_code == 200


async def test_bulk_release_and_delete_write_one_audit_row_per_message(review):
    ids = [await review.hold(subject=f"bulk {i}") for i in range(3)]
    c = await review.login("reviewer")
    page = await c.get("/queue")
    r = await c.post("/bulk", data={"csrf": csrf_of(page.text), "id": ids[:2], "action": "release",
                                    "reason": "end of term newsletters", "confirm": "yes"})
    assert r.status_code == 200 and "Released 2 of 2" in r.text
    assert len(review.sink.messages) == 2
    r = await c.post("/bulk", data={"csrf": csrf_of(page.text), "id": ids[2:], "action": "delete",
                                    "reason": "spam", "confirm": "yes"})
    assert "Deleted 1 of 1" in r.text
    rows = await review.store.run(review.store.audit_sync)
    assert sorted(x["message_id"] for x in rows if x["action"] == "release") == sorted(ids[:2])
    assert [x["message_id"] for x in rows if x["action"] == "delete"] == ids[2:]


async def test_bulk_skips_safeguarding_holds_for_reviewers(review):
    sg = await review.add()
    c = await review.login("reviewer")
    page = await c.get("/queue")
    r = await c.post("/bulk", data={"csrf": csrf_of(page.text), "id": [sg], "action": "delete",
                                    "reason": "x", "confirm": "yes"})
    assert "Deleted 0 of 1" in r.text
    assert (await review.store.get(sg)).status == "held"


# -- audit and evidence --------------------------------------------------------------------------------------
async def test_audit_page_filters_and_csv_export(review):
    mid = await review.hold()
    c = await review.login("reviewer")
    page = await c.get(f"/m/{mid}")
    await c.post(f"/m/{mid}/act", data={"csrf": csrf_of(page.text), "action": "note", "text": "=HYPERLINK(1)"})
    a = await review.login("auditor")
    page = await a.get("/audit?action=note")
    assert page.status_code == 200 and mid in page.text and "login" not in re.findall(r'class="act (\w+)"', page.text)
    export = await a.get("/audit.csv?actor=reviewer")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert rows and all(r["actor"] == "reviewer" for r in rows)
    assert any(r["action"] == "note" and r["reason"] == "'=HYPERLINK(1)" for r in rows)


async def test_evidence_bundle(review):
    mid = await review.hold()
    c = await review.login("reviewer")
    page = await c.get(f"/m/{mid}")
    r = await c.post(f"/m/{mid}/bundle", data={"csrf": csrf_of(page.text), "reason": "incident 42"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(r.content))
    eml = z.read(f"{mid}.eml")
    assert z.read("sha256.txt").decode().startswith(hashlib.sha256(eml).hexdigest())
    assert json.loads(z.read("findings.json"))[0]["filter"] == "attachments"
    assert any(x["action"] == "export_bundle" for x in json.loads(z.read("audit.json")))


# -- digest links and release requests ---------------------------------------------------------------------------
async def test_signed_digest_link_needs_login_and_is_single_use(review):
    from quarantine.links import LinkSigner, load_secret
    mid = await review.hold(subject="via digest")
    signer = LinkSigner(load_secret(review.gw.settings.quarantine.path), 3600)
    token = signer.make(mid, "release")
    anon = review.client()
    assert (await anon.get(f"/l/{token}")).status_code == 303
    c = await review.login("reviewer")
    page = await c.get(f"/l/{token}")
    assert page.status_code == 200 and "Release this message?" in page.text
    r = await c.post(f"/l/{token}", data={"csrf": csrf_of(page.text), "confirm": "yes"})
    assert r.status_code == 303 and len(review.sink.messages) == 1
    assert (await c.get(f"/l/{token}")).status_code == 410
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert (await c.get(f"/l/{forged}")).status_code == 400


async def test_student_requests_release_and_reviewer_approves(review):
    from quarantine.links import LinkSigner, load_secret
    student = f"sam@{SCHOOL_DOMAIN}"
    mid = await review.hold(sender=student, rcpts=("friend@example.com",))
    signer = LinkSigner(load_secret(review.gw.settings.quarantine.path), 3600)
    token = signer.make(mid, "request", who=student)
    anon = review.client()
    page = await anon.get(f"/request/{token}")
    assert page.status_code == 200 and "Ask for your message" in page.text
    r = await anon.post(f"/request/{token}", data={"reason": "it is my homework"})
    assert r.status_code == 200 and "Thank you" in r.text
    assert review.sink.messages == []  # the student never self-releases
    again = await anon.post(f"/request/{token}", data={"reason": "again"})
    assert again.status_code == 410
    c = await review.login("reviewer")
    queue = await c.get("/queue")
    assert "release requested" in queue.text
    page = await c.get(f"/m/{mid}")
    assert "it is my homework" in page.text
    r = await c.post(f"/m/{mid}/act", data={"csrf": csrf_of(page.text), "action": "approve_request",
                                             "reason": "homework", "confirm": "yes"})
    assert r.status_code == 303 and len(review.sink.messages) == 1
    reqs = await review.store.run(lambda: ReviewStore(review.store).release_requests_sync(mid))
    assert reqs[0]["status"] == "approved" and reqs[0]["decided_by"] == "reviewer"


async def test_no_release_request_for_safeguarding_hold(review):
    from quarantine.links import LinkSigner, load_secret
    mid = await review.add(category=Category.SELF_HARM, code="SELF_HARM_INTENT")
    token = LinkSigner(load_secret(review.gw.settings.quarantine.path), 3600).make(mid, "request")
    r = await review.client().get(f"/request/{token}")
    assert r.status_code == 410


async def test_safeguarding_hold_is_released_only_after_reading_and_never_allow_listed(review):
    mid = await review.add()
    c = await review.login("dsl")
    page = await c.get(f"/m/{mid}")
    token = csrf_of(page.text)
    form = {"csrf": token, "action": "release", "reason": "ok", "confirm": "yes"}
    assert (await c.post(f"/m/{mid}/act", data=form)).status_code == 400
    assert (await c.post("/bulk", data={**form, "id": [mid]})).text.count("one by one") == 1
    await c.post(f"/m/{mid}/open", data={"csrf": token, "reason": "checking"})
    assert (await c.post(f"/m/{mid}/act", data={**form, "action": "release_allow"})).status_code == 400
    assert (await c.post(f"/m/{mid}/act", data=form)).status_code == 303
    assert len(review.sink.messages) == 1

"""Security details of the review UI and the outbound path, each on the real gateway: CSRF on every
state-changing route, the session cookie's own flags, the reasoned open before safeguarding content
leaves, and the outbound DKIM signature verified at the sink."""
from __future__ import annotations

import re
from http.cookies import SimpleCookie

import dkim
import pytest
from starlette.routing import Mount, Route

from filters.base import Category
from gateway.dkim_signing import keygen, write_private_key
from quarantine.links import LinkSigner, load_secret
from quarantine.users import UserStore
from tests.factories import SCHOOL_DOMAIN, make_message, make_settings
from tests.quarantine.conftest import FAST_HASH, PASSWORD, Review, csrf_of

# POST routes that are not behind the session's CSRF token, and why:
#   /login          its own double-submit token (the login cookie); tested below
#   /request/{token} a sender's release request, no session at all: the signed, single-use
#                   link in the notice is the key, so a forged cross-site post has nothing to ride on
#   /ack/{token}    an escalation contact's acknowledge (quarantine/escalation.py), no session: the
#                   signed link in the alert mail/SMS is the key; acknowledging reveals nothing
NOT_SESSION_FORMS = {"/login", "/request/{token}", "/ack/{token}"}


def post_routes(app) -> set[str]:
    """Every POST route of the running web app, read from the app itself (a new route shows up)."""
    paths: set[str] = set()

    def walk(node, prefix: str) -> None:
        while not hasattr(node, "routes") and hasattr(node, "app"):
            node = node.app  # middleware (SecurityHeaders) wraps the Starlette app
        for route in getattr(node, "routes", ()):
            if isinstance(route, Mount):
                walk(route.app, prefix + route.path)
            elif isinstance(route, Route) and "POST" in (route.methods or ()):
                paths.add(prefix + route.path)
    walk(app, "")
    return paths


def session_cookie(reply) -> SimpleCookie:
    """The sg_session Set-Cookie of a reply, parsed (raw header: flags are on the cookie itself)."""
    for header in reply.headers.get_list("set-cookie"):
        jar = SimpleCookie()
        jar.load(header)
        if "sg_session" in jar and jar["sg_session"].value:
            return jar
    raise AssertionError(f"no session cookie in {reply.headers.get_list('set-cookie')}")


async def login_raw(review: Review, name: str):
    """Log in, sending the login cookie by hand (httpx keeps a Secure cookie off plain http)."""
    client = review.client()
    page = await client.get("/login")
    token = page.cookies["sg_login"]
    reply = await client.post("/login", data={"username": name, "password": PASSWORD, "csrf": csrf_of(page.text)},
                              headers={"cookie": f"sg_login={token}"})
    await client.aclose()
    assert reply.status_code == 303, reply.text[:300]
    return page, reply


async def test_the_state_changing_routes_are_the_ones_this_file_covers(review):
    # if this fails a route was added or renamed: add it to FORMS below (or to NOT_SESSION_FORMS, saying why)
    assert post_routes(review.gw.gateway.web_server.config.app) == set(FORMS) | NOT_SESSION_FORMS


# route -> the form a legitimate user would post (with the right token it is accepted)
FORMS = {
    "/logout": {},
    "/bulk": {"action": "delete", "ids": "{id}", "reason": "spam", "confirm": "yes"},
    "/m/{id}/open": {"reason": "incident 7"},
    "/m/{id}/act": {"action": "delete", "reason": "spam", "confirm": "yes"},
    "/m/{id}/attachment": {"index": "0", "reason": "check"},
    "/m/{id}/image": {"index": "0", "reason": "check"},
    "/m/{id}/bundle": {"reason": "incident 7"},
    "/m/{id}/chain-letter": {"reason": "the luck chain again"},
    "/l/{token}": {"confirm": "yes", "reason": "from the digest"},
    "/m/{id}/case": {"status": "open", "action_taken": "", "outcome": "", "verdict": ""},
    "/admin/users": {"action": "add", "name": "newbie", "role": "reviewer", "password": "a long enough password"},
    "/admin/senders": {"action": "add", "address": "spam.example", "kind": "block", "reason": "spam"},
    "/feedback/allow": {"term": "damn", "reason": "Yorkshire for quite", "dsl_agreed": "yes"},
    "/feedback/remove": {"term": "damn", "reason": "no longer"},
    # issue 21 clause 2 (quarantine/web/approval.py)
    "/m/{id}/approval": {"decision": "decline", "reason": "not suitable", "confirm": "yes"},
    "/approval/{token}": {"decision": "decline", "confirm": "yes"},
}


@pytest.mark.parametrize("path", sorted(FORMS))
@pytest.mark.parametrize("forgery", ["made-up", "empty", "missing", "another-session"])
async def test_a_forged_csrf_token_is_refused_on_every_state_changing_route(review, path, forgery):
    mid = await review.hold()
    # dsl: every message route is open to it (admins cannot /open); the admin pages are the admin's
    admin = await review.login("admin" if path.startswith(("/admin", "/feedback")) else "dsl")
    other = await review.login("reviewer")
    mine = csrf_of((await admin.get("/queue")).text)
    theirs = csrf_of((await other.get("/queue")).text)
    assert mine != theirs
    token = LinkSigner(load_secret(review.gw.settings.quarantine.path), 3600).make(mid, "delete")
    url = path.replace("{id}", mid).replace("{token}", token)
    form = {k: v.replace("{id}", mid) for k, v in FORMS[path].items()}
    token_field = {"made-up": {"csrf": "forged"}, "empty": {"csrf": ""}, "missing": {},
                   "another-session": {"csrf": theirs}}[forgery]
    audit_before = await review.store.run(review.store.audit_sync)

    reply = await admin.post(url, data={**form, **token_field})
    assert reply.status_code == 403, (path, forgery, reply.status_code)
    assert reply.headers["content-type"].startswith("text/html")
    # nothing happened: the hold is still held, no audit row, nothing delivered, still logged in
    assert (await review.store.get(mid)).status == "held"
    assert await review.store.run(review.store.audit_sync) == audit_before
    assert not review.sink.messages
    assert (await admin.get("/queue")).status_code == 200

    # the same form with the session's own token is not refused (so the 403 above was the token)
    reply = await admin.post(url, data={**form, "csrf": mine})
    assert reply.status_code != 403, (path, reply.text[:300])


async def test_a_forged_login_token_is_refused(review):
    client = review.client()
    page = await client.get("/login")
    reply = await client.post("/login", data={"username": "admin", "password": PASSWORD,
                                              "csrf": csrf_of(page.text) + "x"})
    assert reply.status_code == 403
    assert "sg_session" not in reply.headers.get("set-cookie", "")


@pytest.mark.parametrize("base_url, secure", [("", False), ("https://review.school.sch.uk", True)])
async def test_session_cookie_flags(review_gateway, sink, base_url, secure):
    gw = await review_gateway(web={"base_url": base_url} if base_url else None)
    await gw.store.run(lambda: UserStore.for_settings(gw.store.engine, gw.settings.web).add(
        "reviewer", "reviewer", PASSWORD))
    page, reply = await login_raw(Review(gw, sink), "reviewer")
    cookie = session_cookie(reply)["sg_session"]
    assert cookie["httponly"] is True  # no script can read it
    assert cookie["samesite"].lower() == "lax"  # not sent on cross-site posts
    assert cookie["path"] == "/"
    assert bool(cookie["secure"]) is secure  # Secure exactly when the UI is served over https
    login = SimpleCookie()
    login.load(page.headers["set-cookie"])
    assert bool(login["sg_login"]["secure"]) is secure and login["sg_login"]["samesite"].lower() == "strict"


async def test_safeguarding_attachment_and_bundle_need_the_reasoned_open(review):
    mid = await review.add(category=Category.GROOMING)
    # (the attachment route refuses before it looks for the attachment: no content leaves)
    dsl = await review.login("dsl")
    page = await dsl.get(f"/m/{mid}")
    token = csrf_of(page.text)
    for path, form in ((f"/m/{mid}/bundle", {"reason": "police request"}),
                       (f"/m/{mid}/attachment", {"index": "0", "reason": "police request"})):
        reply = await dsl.post(path, data={"csrf": token, **form})
        assert reply.status_code == 403, (path, reply.status_code)
        assert "opened with a reason" in reply.text
    rows = await review.store.run(review.store.audit_sync, mid)
    assert not [r for r in rows if r["action"] in ("export_bundle", "download_attachment")]

    reply = await dsl.post(f"/m/{mid}/open", data={"csrf": token, "reason": "police request"})
    assert reply.status_code == 303
    reply = await dsl.post(f"/m/{mid}/bundle", data={"csrf": token, "reason": "police request"})
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/zip"
    rows = await review.store.run(review.store.audit_sync, mid)
    actions = [r["action"] for r in rows]
    assert actions.index("view_safeguarding") < actions.index("export_bundle")


async def test_outbound_mail_is_dkim_signed_and_verifies_at_the_sink(review_gateway, sink, tmp_path):
    pem, record = keygen("gw2024", SCHOOL_DOMAIN)
    key_file = tmp_path / "gw2024.pem"
    write_private_key(key_file, pem)
    name = record.split()[0]
    published = "".join(re.findall(r'"([^"]*)"', record)).encode()

    def resolver(qname, timeout=5):  # the test's DNS: only the published selector record
        qname = qname.decode() if isinstance(qname, bytes) else qname
        return published if qname == name else None

    gw = await review_gateway(authentication={"signing_selector": "gw2024", "signing_key": str(key_file)})
    raw = make_message("The trip letter is attached.", sender=f"head@{SCHOOL_DOMAIN}", to="parent@example.com",
                       subject="Trip")
    code, reply = await gw.send(raw, mail_from=f"head@{SCHOOL_DOMAIN}", rcpt_tos=["parent@example.com"])
    assert code == 250, reply
    [delivered] = sink.messages
    assert delivered.data.startswith(b"DKIM-Signature:")
    assert dkim.verify(delivered.data, dnsfunc=resolver)
    assert f"d={SCHOOL_DOMAIN}".encode() in delivered.data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"")
    # a byte changed in transit breaks it: the verification is real
    assert not dkim.verify(delivered.data.replace(b"trip letter", b"trip lettor"), dnsfunc=resolver)

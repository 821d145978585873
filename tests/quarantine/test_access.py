"""The one access rule (quarantine/access.py), route by route and role by role, web and CLI.

A safeguarding hold's content (subject, body, evidence, attachments, bundle) and every
decision on it need a `dsl` account and a reasoned open; nobody else gets a byte of it.
"""
from __future__ import annotations

import asyncio
import json
import zipfile
import io

import pytest

from filters.base import Category, Severity
from quarantine.links import LinkSigner, load_secret
from quarantine.users import UserStore
from tests.factories import SCHOOL_DOMAIN
from tests.quarantine.conftest import PASSWORD, ROLES, csrf_of

SECRET = "we talk ok"  # from the body of review.add()'s grooming hold
EVIDENCE = "tell your mum"
SUBJECT = "meet me saturday"


async def _sg_hold(review) -> str:
    return await review.add(subject=SUBJECT)


async def _no_content(reply) -> None:
    for text in (SECRET, EVIDENCE, SUBJECT):
        assert text not in reply.text, text


# every content or decision route on a safeguarding hold, with the form a legitimate user posts
CONTENT_ROUTES = [
    ("GET", "/m/{id}", None),
    ("POST", "/m/{id}/attachment", {"index": "0", "reason": "check"}),
    ("POST", "/m/{id}/bundle", {"reason": "incident 7"}),
    ("POST", "/m/{id}/act", {"action": "release", "reason": "fine", "confirm": "yes"}),
    ("POST", "/m/{id}/act", {"action": "delete", "reason": "fine", "confirm": "yes"}),
    ("POST", "/m/{id}/act", {"action": "false_positive", "code": "GROOMING_SECRECY", "reason": "x"}),
    ("POST", "/m/{id}/open", {"reason": "curious"}),
]


@pytest.mark.parametrize("role", [r for r in ROLES if r != "dsl"])
async def test_no_role_but_dsl_gets_any_safeguarding_content_on_any_route(review, role):
    mid = await _sg_hold(review)
    c = await review.login(role)
    home = await c.get("/", follow_redirects=True)
    csrf = csrf_of(home.text)
    queue = await c.get("/queue")
    assert mid not in queue.text and SUBJECT not in queue.text
    for method, path, form in CONTENT_ROUTES:
        url = path.format(id=mid)
        reply = await (c.get(url) if method == "GET" else c.post(url, data={**form, "csrf": csrf}))
        assert reply.status_code == 403, (role, method, url, form, reply.status_code)
        await _no_content(reply)
    assert (await review.store.get(mid)).status == "held"
    assert not review.sink.messages
    rows = await review.store.run(review.store.audit_sync, mid)
    assert not any(r["action"] == "view_safeguarding" for r in rows)


async def test_dsl_needs_the_reasoned_open_for_every_content_route(review):
    mid = await _sg_hold(review)
    c = await review.login("dsl")
    page = await c.get(f"/m/{mid}")
    assert page.status_code == 200  # metadata and the "open" form
    await _no_content(page)
    csrf = csrf_of(page.text)
    for method, path, form in CONTENT_ROUTES[1:-1]:
        reply = await c.post(path.format(id=mid), data={**form, "csrf": csrf})
        assert reply.status_code in (400, 403), (path, form, reply.status_code)
        assert reply.headers["content-type"].startswith("text/html")  # an error page, not a download
        await _no_content(reply)
    assert (await review.store.get(mid)).status == "held" and not review.sink.messages

    # open with a reason: the audit names the person and the role
    assert (await c.post(f"/m/{mid}/open", data={"csrf": csrf, "reason": "DSL alert"})).status_code == 303
    rows = await review.store.run(review.store.audit_sync, mid)
    opened = [r for r in rows if r["action"] == "view_safeguarding"]
    assert [(r["actor"], r["reason"]) for r in opened] == [("dsl", "DSL alert")]
    assert json.loads(opened[0]["detail"]) == {"role": "dsl", "via": "web"}
    page = await c.get(f"/m/{mid}")
    assert SECRET in page.text
    bundle = await c.post(f"/m/{mid}/bundle", data={"csrf": csrf, "reason": "for the police"})
    assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/zip"
    assert f"{mid}.eml" in zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    # another DSL session has not opened it
    other = await review.login("dsl")
    again = await other.post(f"/m/{mid}/bundle", data={"csrf": csrf_of((await other.get("/queue")).text),
                                                       "reason": "x"})
    assert again.status_code == 403


async def test_admin_sees_ordinary_holds_and_manages_but_no_safeguarding(review):
    ordinary = await review.hold(subject="Invoice 42")
    sg = await _sg_hold(review)
    admin = await review.login("admin")
    queue = await admin.get("/queue")
    assert "Invoice 42" in queue.text and sg not in queue.text
    assert (await admin.get(f"/m/{ordinary}")).status_code == 200
    assert (await admin.get("/admin")).status_code == 200
    assert (await admin.get("/queue?view=safeguarding")).status_code == 200
    assert sg not in (await admin.get("/queue?view=safeguarding")).text


async def test_a_school_may_let_its_admins_be_dsl(review_gateway, sink):
    gw = await review_gateway(web={"admins_are_dsl": True})
    await gw.store.run(lambda: UserStore.for_settings(gw.store.engine, gw.settings.web).add(
        "head-admin", "admin", PASSWORD))
    from tests.quarantine.conftest import Review
    review = Review(gw, sink)
    mid = await _sg_hold(review)
    c = await review.login("head-admin")
    page = await c.get(f"/m/{mid}")
    assert page.status_code == 200
    await _no_content(page)  # still only after the reasoned open
    assert (await c.post(f"/m/{mid}/open", data={"csrf": csrf_of(page.text), "reason": "I am the DSL"})
            ).status_code == 303
    assert SECRET in (await c.get(f"/m/{mid}")).text


async def test_digest_link_cannot_release_a_safeguarding_hold_without_the_open(review):
    mid = await _sg_hold(review)
    token = LinkSigner(load_secret(review.gw.settings.quarantine.path), 3600).make(mid, "release")
    c = await review.login("dsl")
    csrf = csrf_of((await c.get("/queue")).text)
    reply = await c.post(f"/l/{token}", data={"csrf": csrf, "confirm": "yes", "reason": "digest"})
    assert reply.status_code == 400
    assert (await review.store.get(mid)).status == "held" and not review.sink.messages


# -- reports name roles truthfully ---------------------------------------------------------------------
async def test_report_says_who_closed_safeguarding_incidents_by_role(review):
    from datetime import datetime

    from quarantine.report_data import period_for
    from quarantine.reports import build_report

    by_dsl = await _sg_hold(review)
    by_cli = await _sg_hold(review)
    c = await review.login("dsl")
    csrf = csrf_of((await c.get("/queue")).text)
    await c.post(f"/m/{by_dsl}/open", data={"csrf": csrf, "reason": "alert"})
    r = await c.post(f"/m/{by_dsl}/act", data={"csrf": csrf, "action": "delete", "reason": "dealt with",
                                               "confirm": "yes"})
    assert r.status_code == 303
    await review.store.run(review.store.delete_sync, by_cli, "cli:root", "tidy up")
    now = datetime.now().astimezone()
    data = await build_report(review.gw.settings, review.store, period_for("week", now, current=True), now=now)
    sg = data.safeguarding
    assert sg["closed_by"] == {"dsl": 1, "command line (no account)": 1}
    from quarantine.report_render import render_html
    html = render_html(data).html
    assert "closed (released or deleted) by the DSL" not in html


# -- the CLI -----------------------------------------------------------------------------------------------
def _site(tmp_path, sink) -> str:
    path = tmp_path / "site.toml"
    path.write_text(f"""
[school]
name = "Hillside Academy"
domains = ["{SCHOOL_DOMAIN}"]

[gateway]
listen = "127.0.0.1:0"
next_hop = "{sink.address}"

[quarantine]
path = "q"

[web]
enabled = false
argon2_time_cost = 1
argon2_memory_kib = 8192

[filters]
chain = ["attachments"]
""", encoding="utf-8")
    return str(path)


@pytest.fixture
def cli_store(tmp_path, sink):
    """A store with a safeguarding hold, an ordinary one and an account per role, and a CLI on it."""
    from tests.factories import make_message
    from tests.gateway.test_cli import schoolgate
    from quarantine.store import QuarantineStore, new_message_id
    from filters.base import Finding
    import hashlib

    config = _site(tmp_path, sink)
    store = QuarantineStore(tmp_path / "q").open_sync()
    accounts = UserStore(store.engine, __import__("argon2").PasswordHasher(time_cost=1, memory_cost=8192))
    for role in ROLES:
        accounts.add(role, role, PASSWORD)
    ids = {}
    for kind, finding, body, subject in (
            ("sg", Finding("SAFEGUARDING_SELF_HARM", "risk", Category.SELF_HARM, Severity.HIGH, ("cut myself",),
                           "Self-harm."), "i cut myself again last night", "tonight"),
            ("ordinary", Finding("ATTACHMENT_DOUBLE_EXTENSION", "attachments", Category.ATTACHMENT,
                                 Severity.HIGH, ("invoice.pdf.exe",), "Double extension."),
             "see the invoice", "Invoice")):
        raw = make_message(body, subject=subject, sender=f"pupil@{SCHOOL_DOMAIN}", to=f"friend@{SCHOOL_DOMAIN}")
        mid = new_message_id()
        store.add_sync(message_id=mid, raw=raw, mail_from=f"pupil@{SCHOOL_DOMAIN}", from_header="", subject=subject,
                       direction="internal", sender_role="student", client_ip="192.0.2.1",
                       sha256=hashlib.sha256(raw).hexdigest(), size=len(raw),
                       recipients=[(f"friend@{SCHOOL_DOMAIN}", "student", "hold")], findings=[finding], failures=[])
        ids[kind] = mid
    store.close_sync()

    def cli(*args: str, stdin: str | None = None, env: dict | None = None):
        import os
        import subprocess
        import sys
        from pathlib import Path
        return subprocess.run([sys.executable, "-m", "gateway.cli", *args, "--config", config],
                              capture_output=True, text=True, input=stdin, timeout=120,
                              cwd=Path(__file__).resolve().parents[2], env={**os.environ, **(env or {})})
    return cli, ids, tmp_path / "q"


def _audit(path) -> list[dict]:
    from quarantine.store import QuarantineStore
    store = QuarantineStore(path).open_sync()
    try:
        return store.audit_sync()
    finally:
        store.close_sync()


async def test_cli_show_of_a_safeguarding_hold_is_metadata_only_without_as_and_reason(cli_store):
    cli, ids, path = cli_store
    for args, stdin in ((("show", ids["sg"]), None), (("show", ids["sg"], "--reason", "curious"), None),
                        (("show", ids["sg"], "--as", "dsl"), PASSWORD + "\n"),
                        (("show", ids["sg"], "--json"), None)):
        out = await asyncio.to_thread(cli, "quarantine", *args, stdin=stdin)
        assert out.returncode == 0, out.stderr
        assert "cut myself" not in out.stdout and "tonight" not in out.stdout, args
        assert "SAFEGUARDING_SELF_HARM" in out.stdout
    # the ordinary hold shows in full as before
    out = await asyncio.to_thread(cli, "quarantine", "show", ids["ordinary"])
    assert "see the invoice" in out.stdout


@pytest.mark.parametrize("role", ["admin", "reviewer", "head", "auditor"])
async def test_cli_refuses_safeguarding_content_to_other_roles(cli_store, role):
    cli, ids, path = cli_store
    out = await asyncio.to_thread(cli, "quarantine", "show", ids["sg"], "--as", role, "--reason", "look",
                                  stdin=PASSWORD + "\n")
    assert out.returncode == 1 and "cut myself" not in out.stdout
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1
    rel = await asyncio.to_thread(cli, "quarantine", "release", ids["sg"], "--as", role, "--reason", "ok",
                                  stdin=PASSWORD + "\n")
    assert rel.returncode == 1
    assert any(r["action"] == "view_denied" and r["actor"] == role for r in _audit(path))


async def test_cli_dsl_opens_with_reason_and_password_and_the_audit_names_them(cli_store, sink):
    cli, ids, path = cli_store
    wrong = await asyncio.to_thread(cli, "quarantine", "show", ids["sg"], "--as", "dsl", "--reason", "alert",
                                    stdin="not the password\n")
    assert wrong.returncode == 1 and "does not match" in wrong.stderr
    out = await asyncio.to_thread(cli, "quarantine", "show", ids["sg"], "--as", "dsl", "--reason", "alert",
                                  stdin=PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    assert "cut myself" in out.stdout
    opened = [r for r in _audit(path) if r["action"] == "view_safeguarding"]
    assert [(r["actor"], r["reason"]) for r in opened] == [("dsl", "alert")]
    assert json.loads(opened[0]["detail"]) == {"role": "dsl", "via": "cli"}


async def test_cli_release_of_a_safeguarding_hold_needs_as_dsl_and_reason(cli_store, sink):
    cli, ids, path = cli_store
    bare = await asyncio.to_thread(cli, "quarantine", "release", ids["sg"], "--reason", "fine")
    assert bare.returncode == 1 and "--as" in bare.stderr and not sink.messages
    no_reason = await asyncio.to_thread(cli, "quarantine", "release", ids["sg"], "--as", "dsl",
                                        stdin=PASSWORD + "\n")
    assert no_reason.returncode == 1 and "--reason" in no_reason.stderr and not sink.messages
    forged = await asyncio.to_thread(cli, "quarantine", "delete", ids["sg"], "--reason", "x", "--actor", "dsl")
    assert forged.returncode == 1  # --actor is a label, never an account
    # a local token instead of the password
    token = await asyncio.to_thread(cli, "user", "token", "dsl", stdin=PASSWORD + "\n")
    assert token.returncode == 0, token.stderr
    value = token.stdout.split()[0]
    assert value.startswith("sgt_")
    ok = await asyncio.to_thread(cli, "quarantine", "release", ids["sg"], "--as", "dsl", "--reason",
                                 "spoke to the pupil; safe to deliver", env={"SCHOOLGATE_TOKEN": value})
    assert ok.returncode == 0, ok.stderr
    assert len(sink.messages) == 1
    rows = [r for r in _audit(path) if r["message_id"] == ids["sg"]]
    release = [r for r in rows if r["action"] == "release"]
    assert release[0]["actor"] == "dsl" and json.loads(release[0]["detail"])["role"] == "dsl"
    bad_token = await asyncio.to_thread(cli, "quarantine", "show", ids["sg"], "--as", "reviewer", "--reason", "x",
                                        env={"SCHOOLGATE_TOKEN": value})
    assert bad_token.returncode == 1 and "not a live token" in bad_token.stderr

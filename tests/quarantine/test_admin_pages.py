"""Accounts and sender lists in the browser's admin page: every change audited, the last admin kept."""
from __future__ import annotations

import time

from quarantine.sender_lists import CachedSenderLists
from tests.quarantine.conftest import PASSWORD, csrf_of

NEW_PASSWORD = "another long passphrase"


async def _post(c, path: str, **form):
    page = await c.get("/admin")
    return await c.post(path, data={"csrf": csrf_of(page.text), **form})


async def test_admin_adds_changes_resets_and_disables_accounts(review):
    admin = await review.login("admin")
    r = await _post(admin, "/admin/users", action="add", name="mrs.k", role="reviewer", password=NEW_PASSWORD,
                    email="k@school.sch.uk")
    assert r.status_code == 303
    k = await review.login("mrs.k", NEW_PASSWORD)
    assert (await k.get("/queue")).status_code == 200 and (await k.get("/admin")).status_code == 403
    assert (await _post(admin, "/admin/users", action="role", name="mrs.k", role="dsl")).status_code == 303
    assert (await k.get("/queue?view=safeguarding")).status_code == 200
    r = await _post(admin, "/admin/users", action="passwd", name="mrs.k", password="short")
    assert r.status_code == 400 and "at least 10" in r.text
    assert (await _post(admin, "/admin/users", action="passwd", name="mrs.k", password=PASSWORD)).status_code == 303
    assert (await k.get("/queue")).status_code == 303  # the reset ended her session
    k = await review.login("mrs.k", PASSWORD)
    assert (await _post(admin, "/admin/users", action="disable", name="mrs.k")).status_code == 303
    assert (await k.get("/queue")).status_code == 303
    rows = await review.store.run(review.store.audit_sync)
    actions = [(r["actor"], r["action"]) for r in rows if r["actor"] == "admin" and r["action"].startswith("user_")]
    assert actions == [("admin", "user_add"), ("admin", "user_role"), ("admin", "user_passwd"),
                       ("admin", "user_disable")]
    # other roles cannot
    reviewer = await review.login("reviewer")
    csrf = csrf_of((await reviewer.get("/queue")).text)
    assert (await reviewer.post("/admin/users", data={"csrf": csrf, "action": "add", "name": "x", "role": "admin",
                                                      "password": NEW_PASSWORD})).status_code == 403


async def test_the_last_admin_cannot_be_removed(review):
    admin = await review.login("admin")
    for form in ({"action": "disable"}, {"action": "role", "role": "reviewer"}):
        r = await _post(admin, "/admin/users", name="admin", **form)
        assert r.status_code == 400 and "last active admin" in r.text
    assert (await admin.get("/admin")).status_code == 200  # still an admin
    await _post(admin, "/admin/users", action="add", name="second", role="admin", password=NEW_PASSWORD)
    assert (await _post(admin, "/admin/users", action="role", name="admin", role="reviewer")).status_code == 303


async def test_sender_list_entries_address_domain_expiry_and_removal(review):
    admin = await review.login("admin")
    r = await _post(admin, "/admin/senders", action="add", address="Spam.Example", kind="block", reason="phishing wave")
    assert r.status_code == 303
    r = await _post(admin, "/admin/senders", action="add", address="friend@spam.example", kind="allow",
                    reason="the PTA treasurer", expires="2099-01-01")
    assert r.status_code == 303
    r = await _post(admin, "/admin/senders", action="add", address="old@example.org", kind="block", reason="x",
                    expires="2001-01-01")
    assert r.status_code == 303
    bad = await _post(admin, "/admin/senders", action="add", address="not an address", kind="block", reason="x")
    assert bad.status_code == 400 and "neither an address" in bad.text
    page = await admin.get("/admin")
    assert "spam.example" in page.text and "phishing wave" in page.text and "expired" in page.text
    lists = CachedSenderLists(review.store, ttl_seconds=0)
    assert await lists.status("anyone@mail.spam.example") == "block"  # the domain covers subdomains
    assert await lists.status("friend@spam.example") == "allow"  # the most specific entry wins
    assert await lists.status("old@example.org") is None  # expired
    r = await _post(admin, "/admin/senders", action="remove", address="@spam.example", reason="wave over")
    assert r.status_code == 303
    assert await lists.status("anyone@mail.spam.example") is None
    rows = await review.store.run(review.store.audit_sync)
    assert [r["action"] for r in rows if r["actor"] == "admin" and "sender" in r["action"]] == [
        "block_sender", "allow_sender", "block_sender", "remove_sender"]
    no_reason = await _post(admin, "/admin/senders", action="add", address="a@b.example", kind="block", reason="")
    assert no_reason.status_code == 400


async def test_admin_page_shows_the_per_term_false_positive_counts(review):
    """Issue 20: the feedback's per-term counts appear on the admin page too; a safeguarding term
    (a pupil's words) only for an account that may see safeguarding content."""
    from filters.base import Category, Severity
    from tests.quarantine.test_feedback import _mark

    mild = await review.add(category=Category.PROFANITY, code="OFFENSIVE_PROFANITY_MILD", evidence=("Bloody",),
                            body="the bloody printer again", sender_role="staff", severity=Severity.MEDIUM,
                            reason="Mild swearing.")
    await _mark(await review.login("reviewer"), mild, "OFFENSIVE_PROFANITY_MILD")
    sg = await review.add()  # grooming: "don't tell your mum"
    dsl = await review.login("dsl")
    await dsl.post(f"/m/{sg}/open", data={"csrf": csrf_of((await dsl.get(f"/m/{sg}")).text), "reason": "alert"})
    await _mark(dsl, sg, "GROOMING_SECRECY", "a surprise party")
    page = (await (await review.login("admin")).get("/admin")).text
    terms = page.split('id="admin-fp-terms"')[1].split("</table>")[0]
    assert "bloody" in terms and "OFFENSIVE_PROFANITY_MILD" in terms and "<td>1</td>" in terms
    assert "tell your mum" not in page and 'href="/feedback"' in page

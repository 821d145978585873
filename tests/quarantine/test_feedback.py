"""Reviewer feedback (issue 17 item 6): "not a problem" records the terms, the UI counts them per term,
an admin adds one to the site allowlist (audited) and the offensive filter honours it at its next start.
Real gateway and sink; the browser test drives Debian's Chromium."""
from __future__ import annotations

import re

import pytest

from filters.base import Category, FilterContext, Role, Severity
from filters.offensive import OffensiveFilter, Options
from quarantine.feedback import Feedback
from tests.factories import SCHOOL_DOMAIN
from tests.quarantine.conftest import Review, csrf_of
from tests.quarantine.test_browser import browser, login, shoot  # noqa: F401  (fixtures)



async def _mark(client, mid: str, code: str, reason: str = "local word, harmless") -> None:
    page = await client.get(f"/m/{mid}")
    reply = await client.post(f"/m/{mid}/act", data={"csrf": csrf_of(page.text), "action": "false_positive",
                                                     "code": code, "reason": reason})
    assert reply.status_code == 303, reply.text[:300]


async def test_false_positive_records_terms_and_counts_them(review: Review) -> None:
    ids = [await review.add(category=Category.PROFANITY, code="OFFENSIVE_PROFANITY_MILD", evidence=("Bloody",),
                            body="the bloody printer again", sender_role="staff", severity=Severity.MEDIUM,
                            reason="Mild swearing.") for _ in range(2)]
    reviewer = await review.login("reviewer")
    for mid in ids:
        await _mark(reviewer, mid, "OFFENSIVE_PROFANITY_MILD")
    counts = await review.store.run(lambda: Feedback(review.store).term_counts_sync(include_safeguarding=False))
    assert [(c["term"], c["code"], c["marks"], c["messages"]) for c in counts] == [
        ("bloody", "OFFENSIVE_PROFANITY_MILD", 2, 2)]
    page = await reviewer.get("/feedback")
    assert page.status_code == 200 and "bloody" in page.text
    assert "Add to the site allowlist" not in page.text  # reviewers see counts; admins allow
    # a reviewer cannot add to the allowlist
    reply = await reviewer.post("/feedback/allow", data={"csrf": csrf_of(page.text), "term": "bloody",
                                                         "reason": "x"})
    assert reply.status_code == 403


async def test_safeguarding_terms_only_for_the_dsl_and_need_agreement(review: Review) -> None:
    mid = await review.add()  # a grooming hold: evidence "don't tell your mum"
    dsl = await review.login("dsl")
    page = await dsl.get(f"/m/{mid}")
    opened = await dsl.post(f"/m/{mid}/open", data={"csrf": csrf_of(page.text), "reason": "checking alert"})
    assert opened.status_code == 303
    await _mark(dsl, mid, "GROOMING_SECRECY", "a parent's surprise party")
    reviewer = await review.login("reviewer")
    assert "tell your mum" not in (await reviewer.get("/feedback")).text  # a pupil's words stay with the DSL
    admin = await review.login("admin")
    page = await admin.get("/feedback")
    # admins see no safeguarding words unless [web] admins_are_dsl (quarantine/access.py, docs/roles.md);
    # the DSL tells the admin the term, and the admin records that the DSL agreed
    assert "tell your mum" not in page.text
    # an admin who is not also the DSL cannot allow a safeguarding term, agreement ticked or not
    refused = await admin.post("/feedback/allow", data={"csrf": csrf_of(page.text), "term": "don't tell your mum",
                                                        "reason": "surprise parties", "dsl_agreed": "yes"})
    assert refused.status_code == 403 and "DSL only" in refused.text


async def test_an_admin_who_is_the_dsl_allows_a_safeguarding_term_only_with_agreement(review_gateway, sink) -> None:
    from quarantine.users import UserStore
    from tests.quarantine.conftest import PASSWORD

    gw = await review_gateway(web={"admins_are_dsl": True})
    accounts = UserStore.for_settings(gw.store.engine, gw.settings.web)
    await gw.store.run(lambda: [accounts.add(r, r, PASSWORD) for r in ("admin", "dsl")])
    review = Review(gw, sink)
    mid = await review.add()
    dsl = await review.login("dsl")
    page = await dsl.get(f"/m/{mid}")
    await dsl.post(f"/m/{mid}/open", data={"csrf": csrf_of(page.text), "reason": "checking alert"})
    await _mark(dsl, mid, "GROOMING_SECRECY", "a parent's surprise party")
    admin = await review.login("admin")
    page = await admin.get("/feedback")
    assert "don&#39;t tell your mum" in page.text or "don't tell your mum" in page.text
    refused = await admin.post("/feedback/allow", data={"csrf": csrf_of(page.text), "term": "don't tell your mum",
                                                        "reason": "surprise parties"})
    assert refused.status_code == 400 and "DSL agreed" in refused.text
    allowed = await admin.post("/feedback/allow", data={"csrf": csrf_of(page.text), "term": "don't tell your mum",
                                                        "reason": "surprise parties", "dsl_agreed": "yes"})
    assert allowed.status_code == 303


async def test_browser_admin_allows_a_term_and_the_filter_reads_it_at_start(browser, review, shoot) -> None:  # noqa: F811
    settings = review.gw.settings
    before = OffensiveFilter(Options(model=False), FilterContext(settings=settings, directory=None))
    assert {f.code for f in before.analyse(["what a shite mess"], Role.STUDENT)} == {"OFFENSIVE_PROFANITY_MILD"}
    mid = await review.add(category=Category.PROFANITY, code="OFFENSIVE_PROFANITY_MILD", evidence=("shite",),
                           subject="Rain", body="what a shite mess the field is", sender_role="staff",
                           severity=Severity.MEDIUM, reason="Moderate swearing.")
    page = await login(browser, review, "reviewer")
    await page.goto(f"{review.base}/m/{mid}")
    await page.click("details.fp summary")
    await page.fill("details.fp input[name=reason]", "Yorkshire for 'quite'")
    await page.click("details.fp button[value=false_positive]")
    await page.wait_for_load_state()
    assert "Marked as a false positive." in await page.inner_text("main")
    await page.click("nav >> text=False positives")
    await page.wait_for_load_state()
    row = page.locator("#fp-terms tbody tr", has_text="shite")
    assert await row.count() == 1
    assert (await row.locator("td.n").first.inner_text()).strip() == "1"
    assert await page.locator("form.allow").count() == 0
    await shoot(page, "10-fp-terms-reviewer")

    admin = await login(browser, review, "admin")
    await admin.goto(f"{review.base}/feedback")
    await admin.click("#fp-terms tr:has-text('shite') summary")
    await admin.fill("#fp-terms tr:has-text('shite') input[name=reason]", "Local usage, staff agreed")
    await admin.click("#fp-terms tr:has-text('shite') button[type=submit]")
    await admin.wait_for_load_state()
    assert "Added to the site allowlist" in await admin.inner_text("main")
    assert "Local usage, staff agreed" in await admin.inner_text("#site-allowlist")
    assert await admin.locator("#fp-terms tr:has-text('shite') .tag", has_text="allowed").count() == 1
    await shoot(admin, "11-site-allowlist")

    audit = await review.store.run(review.store.audit_sync, None)
    [entry] = [a for a in audit if a["action"] == "site_allowlist_add"]
    assert entry["actor"] == "admin" and entry["reason"] == "Local usage, staff agreed"
    assert '"shite"' in entry["detail"]
    site = Feedback(review.store).path
    assert re.search(r"^shite\s", site.read_text(encoding="utf-8"), re.M)
    # the running filter is unchanged (read at start); a new one honours the site list
    assert before.analyse(["what a shite mess"], Role.STUDENT)
    after = OffensiveFilter(Options(model=False), FilterContext(settings=settings, directory=None))
    assert after.analyse(["what a shite mess"], Role.STUDENT) == []
    assert {f.code for f in after.analyse(["fuck this"], Role.STUDENT)} == {"OFFENSIVE_PROFANITY_STRONG"}

"""Issue 21 clause 2 in real headless Chromium: the tutor follows the digest's link, signs in, reads, approves."""
from __future__ import annotations

import re

from tests.quarantine.conftest import PASSWORD, wait_for
from tests.quarantine.test_approval import AMY, TUTOR, _gateway, _links, _send
from tests.quarantine.test_browser import browser, login, shoot  # noqa: F401 - fixtures and helper
from tests.quarantine.test_notify import notices
from tests.quarantine.test_phone import AXE, _check


async def test_tutor_approves_from_the_digest_link_in_a_browser(browser, review_gateway, sink, tmp_path, shoot):
    r = await _gateway(review_gateway, sink, tmp_path)
    mid = await _send(r, AMY, "hr@garage.example", "work experience")
    assert await r.gw.gateway.notifier.send_tutor_digests() == 1
    [digest] = notices(sink, "approval_tutor")
    [(approve, _)] = _links(digest)
    # a phone (tutors read mail there); bypass_csp only so the test can inject axe-core
    context = await browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=AXE.exists())
    page = await context.new_page()
    await page.goto(r.base + approve)
    # not signed in: the login page, then back to the link
    await page.fill("input[name=username]", "tutor")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    assert re.search(r"/approval/", page.url), page.url
    assert await page.locator("#approval pre.body").first.inner_text() != ""
    assert "work experience week" in await page.locator("#approval").inner_text()
    await shoot(page, "approval-01-letter")
    if AXE.exists():  # fits the phone and passes axe, as every review page (tests/quarantine/test_phone.py)
        problems: list[str] = []
        await _check(page, "approval page", problems)
        assert problems == []
    await page.check("input[name=confirm]")
    await page.fill("input[name=reason]", "checked the letter")
    await page.click("button[value=approve]")
    await page.wait_for_load_state()
    assert "Approved" in await page.locator("h1").inner_text()
    await shoot(page, "approval-02-approved")
    assert await wait_for(lambda: any(m.rcpt_tos == ["hr@garage.example"] for m in sink.messages))
    assert (await r.store.get(mid)).status == "released"
    await context.close()


async def test_reviewer_declines_with_the_message_page_button(browser, review_gateway, sink, tmp_path, shoot):
    r = await _gateway(review_gateway, sink, tmp_path)
    mid = await _send(r, AMY, "boss@shop.example", "second placement")
    page = await login(browser, r, "reviewer")
    await page.goto(f"{r.base}/m/{mid}")
    box = page.locator("section#approval")
    assert "Waiting for approval" in await box.inner_text()
    await box.locator("input[name=confirm]").check()
    await box.locator("input[name=reason]").fill("not a suitable placement")
    await box.locator("button[value=decline]").click()
    await page.wait_for_load_state()
    assert (await r.store.get(mid)).status == "deleted"
    await shoot(page, "approval-03-declined")
    assert not any(m.rcpt_tos == ["boss@shop.example"] for m in sink.messages)
    await page.context.close()

"""Real-browser tests: Playwright driving Debian's Chromium against a real gateway and sink.

Screenshots go to tmp_path (and to $SCHOOLGATE_SCREENSHOTS when set, to look at them).
"""
from __future__ import annotations

import asyncio
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from filters.base import Category
from tests.factories import SCHOOL_DOMAIN
from tests.quarantine.conftest import PASSWORD, wait_for

CHROMIUM = "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing (apt-get install chromium)")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
async def browser():
    async with playwright_api.async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        await b.close()


@pytest.fixture
def shoot(tmp_path):
    extra = os.environ.get("SCHOOLGATE_SCREENSHOTS")

    async def take(page, name: str) -> Path:
        path = tmp_path / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(extra) / path.name)
        assert path.stat().st_size > 1000
        return path
    return take


async def login(browser, review, name: str):
    context = await browser.new_context(viewport={"width": 1360, "height": 900})
    page = await context.new_page()
    await page.goto(f"{review.base}/login")
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    return page


async def test_find_by_search_see_evidence_release_and_it_arrives(browser, review, shoot):
    for i in range(3):
        await review.hold(subject=f"Weekly newsletter {i}", sender=f"news{i}@example.org")
    await review.add(category=Category.CHAIN_LETTER, code="CHAIN_LETTER_PASS_ON", subject="Send this to 10 friends",
                     body="Send this to 10 friends or you will have bad luck for 7 years!",
                     evidence=("Send this to 10 friends", "bad luck"), sender=f"pupil@{SCHOOL_DOMAIN}",
                     severity=__import__("filters.base").base.Severity.MEDIUM, sender_role="student",
                     reason="Asks the reader to forward it to many people with a threat of bad luck.")
    mid = await review.hold(subject="Invoice from Brightwater Supplies", sender="accounts@brightwater.example",
                            body="Dear school office,\nPlease open the attached invoice.pdf.exe to see what you owe.\n")
    page = await login(browser, review, "reviewer")
    await shoot(page, "01-queue")
    await page.fill("input[name=subject]", "brightwater")
    await page.click("form.filters button[type=submit]")
    await page.wait_for_load_state()
    rows = page.locator("table.queue tbody tr")
    assert await rows.count() == 1
    await page.click("text=Invoice from Brightwater Supplies")
    await page.wait_for_load_state()
    marks = page.locator("pre.body mark.evidence")
    assert await marks.count() >= 1
    assert await marks.first.inner_text() == "invoice.pdf.exe"
    assert await marks.first.is_visible()
    await shoot(page, "02-message")
    await page.fill("aside form:has(button[value=release]) input[name=reason]", "Known supplier, checked by phone")
    await page.check("aside form:has(button[value=release]) input[name=confirm]")
    await page.click("button[value=release]")
    await page.wait_for_load_state()
    assert "Released to the recipients." in await page.inner_text("p.alert.ok")
    await shoot(page, "03-released")
    assert await wait_for(lambda: any(b"Brightwater" in m.data for m in review.sink.messages))
    assert [m.rcpt_tos for m in review.sink.messages] == [[f"bob@{SCHOOL_DOMAIN}"]]
    assert (await review.store.get(mid)).status == "released"


class _Tracker(BaseHTTPRequestHandler):
    hits: list[str]

    def do_GET(self) -> None:  # noqa: N802
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("content-type", "image/png")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def tracker():
    """A real HTTP server standing in for a remote image host: any hit means content was loaded."""
    hits: list[str] = []
    handler = type("Tracker", (_Tracker,), {"hits": hits})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()


async def test_stored_xss_runs_nothing_and_loads_nothing(browser, review, shoot, tracker):
    remote, hits = tracker
    html = (f'<html><head><script>window.__pwned = 1; fetch("{remote}/fetch")</script>'
            f'<link rel="stylesheet" href="{remote}/style.css"></head><body>'
            f'<p>Hello <b>there</b></p><img src="{remote}/pixel.png" onerror="window.__pwned = 2">'
            f'<iframe src="{remote}/frame"></iframe><a href="javascript:window.__pwned=3">click</a>'
            f'<svg onload="window.__pwned=4"></svg><form action="{remote}/steal"><input name=p></form></body></html>')
    subject = f'<img src="{remote}/subject.png" onerror="window.__pwned=5"><script>window.__pwned=6</script>'
    mid = await review.hold(subject=subject, body=f"<script>window.__pwned=7</script> see {remote}/body.png",
                            html=html)
    page = await login(browser, review, "reviewer")
    dialogs, requests = [], []
    page.on("dialog", lambda d: dialogs.append(d.message))
    page.on("request", lambda r: requests.append(r.url))
    await page.goto(f"{review.base}/queue")
    await page.goto(f"{review.base}/m/{mid}")
    await page.wait_for_load_state("networkidle")
    await asyncio.sleep(0.5)
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []
    assert hits == []
    assert all(u.startswith(review.base) for u in requests), requests
    assert await page.locator("img, iframe, svg, object, embed").count() == 0
    text = await page.inner_text("main")
    assert "<script>window.__pwned=6</script>" in text  # shown as text, harmlessly
    assert "scripts or event handlers removed" in text and "remote image" in text
    await shoot(page, "04-xss-held")


async def test_reviewer_cannot_open_a_safeguarding_hold_but_the_dsl_can(browser, review, shoot):
    mid = await review.add(category=Category.GROOMING, code="GROOMING_SECRECY",
                           subject="our secret", body="You're so mature for your age. Don't tell your mum we talk, ok?",
                           evidence=("Don't tell your mum", "so mature for your age"))
    await review.hold(subject="Ordinary hold")
    page = await login(browser, review, "reviewer")
    assert await page.locator(f"a[href='/m/{mid}']").count() == 0
    response = await page.goto(f"{review.base}/m/{mid}")
    assert response.status == 403
    assert "Only DSL accounts can open it" in await page.inner_text("main")
    assert "mum" not in await page.content()
    await shoot(page, "05-reviewer-denied")

    dsl = await login(browser, review, "dsl")
    await dsl.goto(f"{review.base}/queue?view=safeguarding")
    await shoot(dsl, "06-dsl-queue")
    await dsl.click(f"a[href='/m/{mid}']")
    await dsl.wait_for_load_state()
    assert "Content hidden" in await dsl.inner_text("#content")
    assert "mum" not in await dsl.inner_text("#content")
    await shoot(dsl, "07-dsl-collapsed")
    await dsl.fill("#content input[name=reason]", "Reviewing alert for Year 8 pupil")
    await dsl.click("#content button[type=submit]")
    await dsl.wait_for_load_state()
    marks = dsl.locator("pre.body mark.evidence")
    assert [await marks.nth(i).inner_text() for i in range(await marks.count())] == [
        "so mature for your age", "Don't tell your mum"]
    await shoot(dsl, "08-dsl-open")
    rows = await review.store.run(review.store.audit_sync, mid)
    assert [r["reason"] for r in rows if r["action"] == "view_safeguarding"] == ["Reviewing alert for Year 8 pupil"]
    assert any(r["action"] == "view_denied" and r["actor"] == "reviewer" for r in rows)


async def test_works_without_javascript(browser, review, shoot):
    mid = await review.hold(subject="No script needed")
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(f"{review.base}/login")
    await page.fill("input[name=username]", "admin")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.goto(f"{review.base}/m/{mid}")
    await page.fill("form.note textarea", "Checked with the office")
    await page.click("button[value=note]")
    await page.wait_for_load_state()
    assert "Checked with the office" in await page.inner_text("main")
    await page.goto(f"{review.base}/audit")
    assert "note" in await page.inner_text("table.audit")
    await shoot(page, "09-audit")

"""Every page, for every role, on a phone: real Chromium at 360 and 390 px must not scroll
sideways, and axe-core (tests/js, from the npm registry; scripts/setup --test installs it)
finds no serious or critical accessibility violation. The pages carry no JavaScript."""
from __future__ import annotations

from pathlib import Path

import pytest

from filters.base import Category
from quarantine.links import LinkSigner, load_secret
from tests.factories import SCHOOL_DOMAIN
from tests.quarantine.conftest import PASSWORD
from tests.quarantine.test_browser import CHROMIUM, browser  # noqa: F401 - the shared Chromium fixture

AXE = Path(__file__).resolve().parents[1] / "js" / "node_modules" / "axe-core" / "axe.min.js"
pytestmark = [pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing"),
              pytest.mark.skipif(not AXE.exists(), reason="axe-core missing: run scripts/setup --test")]
WIDTHS = (360, 390)
LONG = "a.very.long.address.of.the.parents.association.treasurer@hillside-primary-friends.example.org"


async def _seed(review) -> dict[str, str]:
    ids = {"ordinary": await review.hold(
        subject="Invoice for the summer fair bouncy castle and the PTA raffle prizes (second reminder, overdue)",
        sender=LONG, rcpts=(f"bursar.and.finance.office@{SCHOOL_DOMAIN}", f"head@{SCHOOL_DOMAIN}"))}
    for i in range(3):
        await review.hold(subject=f"Newsletter {i}", sender=f"news{i}@example.org")
    ids["sg"] = await review.add(category=Category.SELF_HARM, code="SELF_HARM_INTENT",
                                 evidence=("i cut myself", "cut myself"), subject="tonight",
                                 body="i cut myself again last night and nobody knows " * 5)
    return ids


def _pages(review, ids: dict[str, str]) -> dict[str, list[str]]:
    signer = LinkSigner(load_secret(review.gw.settings.quarantine.path), 3600)
    release = signer.make(ids["ordinary"], "release")
    request = signer.make(ids["ordinary"], "request", who=LONG)
    return {
        None: ["/login", f"/request/{request}"],
        "reviewer": ["/queue", f"/m/{ids['ordinary']}", "/counts", "/report", f"/l/{release}",
                     f"/m/{ids['sg']}"],  # the last: the "held for the DSL" error page
        "dsl": ["/queue", "/queue?view=safeguarding", f"/m/{ids['sg']}", "open", f"/m/{ids['ordinary']}",
                "/cases", "/queue?bulk=reason&sel=x"],
        "admin": ["/queue", "/admin", "/audit", "/audit?actor=dsl"],
        "head": ["/counts", "/report", "/report?period=month"],
        "auditor": ["/audit"],
    }


async def _check(page, label: str, problems: list[str]) -> None:
    html = await page.content()
    if "<script" in html.lower().replace('<script src="/static', ""):
        problems.append(f"{label}: has a script")
    size = await page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    if size[0] > size[1]:
        wide = await page.evaluate("""(w) => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > w + 1)
            .slice(-3).map(e => e.tagName + '.' + e.className.baseVal === undefined ? e.className : '')""", size[1])
        problems.append(f"{label}: {size[0]} px wide in a {size[1]} px screen ({wide})")
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                           .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
    }""")
    problems.extend(f"{label}: axe {v}" for v in result)


async def test_every_page_fits_a_phone_and_passes_axe(browser, review):
    ids = await _seed(review)
    problems: list[str] = []
    for role, paths in _pages(review, ids).items():
        for width in WIDTHS:
            # bypass_csp: only so the test can inject axe-core; the pages themselves run no script
            context = await browser.new_context(viewport={"width": width, "height": 780}, bypass_csp=True)
            page = await context.new_page()
            if role is not None:
                await page.goto(f"{review.base}/login")
                await page.fill("input[name=username]", role)
                await page.fill("input[name=password]", PASSWORD)
                await page.click("button[type=submit]")
                await page.wait_for_load_state()
            for path in paths:
                if path == "open":  # the DSL opens the safeguarding hold: the content page on a phone
                    await page.goto(f"{review.base}/m/{ids['sg']}")
                    await page.fill("form[action$='/open'] input[name=reason]", "alert on my phone")
                    await page.click("form[action$='/open'] button[type=submit]")
                    await page.wait_for_load_state()
                    assert "nobody knows" in await page.content()
                else:
                    await page.goto(f"{review.base}{path}")
                await _check(page, f"{role or 'anonymous'} {path.split('?')[0][:40]} @{width}", problems)
            await context.close()
    assert not problems, "\n".join(problems)

"""The smaller review-page fixes: bulk errors keep the ticks, history in plain words, evidence chips
without repeats, and the DSL's "what to do next" panel with the school's own procedure."""
from __future__ import annotations

import re
from html import unescape

import pytest

from filters.base import Category
from quarantine.users import UserStore
from quarantine.web.wording import merge_evidence
from tests.quarantine.conftest import PASSWORD, Review, csrf_of


async def test_bulk_release_without_a_reason_keeps_the_ticks_and_says_why_beside_the_buttons(review):
    ids = [await review.hold(subject=f"Newsletter {i}", sender=f"n{i}@example.org") for i in range(3)]
    c = await review.login("reviewer")
    page = await c.get("/queue?sort=oldest")
    r = await c.post("/bulk", data={"csrf": csrf_of(page.text), "id": ids[:2], "action": "release", "reason": "",
                                    "back": "sort=oldest"})
    assert r.status_code == 303
    again = await c.get(r.headers["location"].split("#")[0])
    assert again.status_code == 200
    ticked = set(re.findall(r'name="id" value="([^"]+)"[^>]*checked', again.text))
    assert ticked == set(ids[:2])
    assert "need a reason" in again.text and 'role="alert"' in again.text
    assert 'value="oldest" selected' in again.text  # the same queue view
    assert not review.sink.messages


async def test_history_reads_as_plain_words(review):
    mid = await review.hold()
    c = await review.login("reviewer")
    page = unescape((await c.get(f"/m/{mid}")).text)
    assert "The gateway held this message under the school's policy." in page
    assert "gateway hold" not in page


@pytest.mark.parametrize("items, expect", [
    (("i cut myself", "cut myself"), ["i cut myself"]),
    (("Cut myself", "cut myself", "I cut MYSELF tonight"), ["I cut MYSELF tonight"]),
    (("meet me", "saturday"), ["meet me", "saturday"]),
    (("bad luck", "bad luck", ""), ["bad luck"]),
])
def test_evidence_chips_are_merged(items, expect):
    assert merge_evidence(items) == expect


async def test_what_to_do_next_links_the_schools_procedure(review_gateway, sink):
    gw = await review_gateway(web={"safeguarding_procedure_url": "https://intranet.school.example/safeguarding"})
    await gw.store.run(lambda: UserStore.for_settings(gw.store.engine, gw.settings.web).add("dsl", "dsl", PASSWORD))
    review = Review(gw, sink)
    mid = await review.add(category=Category.SELF_HARM, code="SELF_HARM_INTENT",
                           evidence=("i cut myself", "cut myself"), body="i cut myself again")
    c = await review.login("dsl")
    page = await c.get(f"/m/{mid}")
    assert "What to do next" in page.text
    assert 'href="https://intranet.school.example/safeguarding"' in page.text
    await c.post(f"/m/{mid}/open", data={"csrf": csrf_of(page.text), "reason": "alert"})
    opened = (await c.get(f"/m/{mid}")).text
    findings = opened.split("Why it was held")[1].split("</ul>")[0]
    assert findings.count('<mark class="evidence">i cut myself</mark>') == 1
    assert '<mark class="evidence">cut myself</mark>' not in findings

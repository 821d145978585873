"""The report page in the review UI: a period picker, previous/next, PDF and CSV downloads."""
from __future__ import annotations

import re
from html import unescape


def _links(html: str) -> dict[str, str]:
    return {unescape(text).strip(): unescape(href) for href, text in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', html)}


async def test_report_page_picker_navigation_and_downloads(review):
    await review.add()  # one safeguarding incident this week
    head = await review.login("head")
    page = await head.get("/report")
    assert page.status_code == 200
    assert "so far" in page.text.lower() or "this week" in page.text.lower()
    assert '<select name="period">' in page.text and 'value="custom"' in page.text
    links = _links(page.text)
    assert "Next week →" not in links  # this week is still in progress
    previous = await head.get(links["← Previous week"])
    assert previous.status_code == 200
    assert "Next week →" in _links(previous.text)
    # previous, then next: back to this week
    back = await head.get(_links(previous.text)["Next week →"])
    assert back.status_code == 200
    pdf = await head.get(links["Download PDF"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and pdf.headers["content-type"] == "application/pdf"
    csv = await head.get(links["Download CSV"])
    assert csv.status_code == 200 and csv.text.startswith("section,item,breakdown,value")
    assert "safeguarding,total,incidents,1" in csv.text
    month = await head.get("/report?period=month")
    assert month.status_code == 200 and "Previous month" in month.text
    custom = await head.get("/report?period=custom&from=2026-09-01&to=2026-10-31")
    assert custom.status_code == 200 and "1 Sep 2026 to 31 Oct 2026" in custom.text
    bad = await head.get("/report?period=custom&from=tuesday&to=")
    assert bad.status_code == 400 and bad.text.count("\n") == 0 and "From and To" in bad.text
    rows = await review.store.run(review.store.audit_sync)
    assert any(r["action"] == "report_download" and r["actor"] == "head" for r in rows)
    auditor = await review.login("auditor")
    assert (await auditor.get("/report.pdf")).status_code == 403

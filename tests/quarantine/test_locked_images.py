"""Locked indecent-image holds in the review UI and CLI: never rendered, downloaded, released or exported.

Over SMTP through a real gateway (chain: images) with a hash list of pictures the test
drew, the review UI on port 0, httpx for the routes and headless Chromium for the page
the DSL sees. Any image of a (non-locked) safeguarding hold shows only on a reasoned,
audited click.
"""
from __future__ import annotations

import email
import email.policy
import hashlib
import io
import re
import zipfile
from pathlib import Path

import pytest

from filters.base import Category, Finding, Severity
from quarantine.store import new_message_id
from quarantine.users import UserStore
from tests.factories import SCHOOL_DOMAIN, make_message
from tests.filters.image_fixtures import drawn, encoded, hash_list_for, resized_jpeg
from tests.quarantine.conftest import PASSWORD, ROLES, Review, csrf_of, wait_for

PUPIL = f"pupil@pupils.{SCHOOL_DOMAIN}"
LISTED = drawn(1)
LISTED_PNG = encoded(LISTED)
SENT_JPEG = resized_jpeg(LISTED)  # what arrives is a resized copy of the listed picture
CHROMIUM = "/usr/bin/chromium"


def notices(sink, kind: str) -> list:
    out = []
    for m in sink.messages:
        msg = email.message_from_bytes(m.data, policy=email.policy.default)
        if msg["X-Schoolgate-Notice"] == kind:
            out.append((m, msg))
    return out


@pytest.fixture
async def images_review(review_gateway, sink, tmp_path):
    hashes = tmp_path / "hashes.txt"
    hashes.write_text(hash_list_for(LISTED_PNG))

    async def start(**images) -> Review:
        gw = await review_gateway(
            filters={"chain": ["images"]}, images={"hash_list": str(hashes), **images},
            directory={"domain_roles": {f"pupils.{SCHOOL_DOMAIN}": "student", SCHOOL_DOMAIN: "staff"}},
            notify={"enabled": True, "from_address": f"schoolgate@{SCHOOL_DOMAIN}",
                    "dsl_addresses": [f"dsl@{SCHOOL_DOMAIN}"], "sender_notices": True})
        accounts = UserStore.for_settings(gw.store.engine, gw.settings.web)
        await gw.store.run(lambda: [accounts.add(r, r, PASSWORD, email=f"{r}@{SCHOOL_DOMAIN}") for r in ROLES])
        return Review(gw, sink)
    return start


async def send_image(review: Review, data: bytes, name: str = "IMG_0001.jpg", sender: str = "stranger@example.net",
                     to: str = PUPIL) -> str:
    raw = make_message("you know what to do", subject="for you", sender=sender, to=to,
                       attachments=[(name, "image/jpeg", data)])
    code, text = await review.gw.send(raw, mail_from=sender, rcpt_tos=[to])
    assert code == 250, text
    return re.search(rb"Ok: (\S+)", text).group(1).decode()


async def opened(review: Review, client, mid: str) -> str:
    page = await client.get(f"/m/{mid}")
    reply = await client.post(f"/m/{mid}/open", data={"csrf": csrf_of(page.text), "reason": "DSL reviewing alert"})
    assert reply.status_code == 303
    return (await client.get(f"/m/{mid}")).text


async def test_hash_match_is_locked_for_everyone_and_exports_hashes_only(images_review) -> None:
    review = await images_review()
    mid = await send_image(review, SENT_JPEG)
    held = await review.store.get(mid)
    assert held.locked and held.codes == ("IMAGE_HASH_MATCH",) and held.level == 5
    # the immediate DSL alert: no content, no image; the sender is not told (a groomer must not learn)
    assert await wait_for(lambda: notices(review.sink, "dsl_alert"))
    (alert, msg), = notices(review.sink, "dsl_alert")
    assert alert.rcpt_tos == [f"dsl@{SCHOOL_DOMAIN}"] and "you know what" not in msg.get_content()
    assert not msg.is_multipart() and SENT_JPEG[:64] not in alert.data
    assert "LOCKED: nobody can view or download the" in msg.get_content()
    assert notices(review.sink, "sender_external") == []

    reviewer = await review.login("reviewer")
    assert (await reviewer.get(f"/m/{mid}")).status_code == 403  # safeguarding: DSL only
    dsl = await review.login("dsl")
    page = await opened(review, dsl, mid)
    assert "Locked hold" in page and "Download" not in page and "Show image" not in page and "<img" not in page
    csrf = csrf_of(page)
    # both routes refuse a locked hold first, with or without a reason, and audit each refusal
    for route, reason in (("attachment", "need to see it"), ("image", "need to see it"), ("attachment", ""),
                          ("image", "")):
        reply = await dsl.post(f"/m/{mid}/{route}", data={"csrf": csrf, "index": "0", "reason": reason})
        assert reply.status_code == 403 and "Locked hold" in reply.text
        assert SENT_JPEG[:64] not in reply.content
    reply = await dsl.post(f"/m/{mid}/act", data={"csrf": csrf, "action": "release", "reason": "x", "confirm": "yes"})
    assert reply.status_code == 409 and "never released" in reply.text
    assert review.sink.messages == [alert]  # nothing but the alert went out

    reply = await dsl.post(f"/m/{mid}/bundle", data={"csrf": csrf, "reason": "Police ref 12/3456"})
    assert reply.status_code == 200
    with zipfile.ZipFile(io.BytesIO(reply.content)) as z:
        names = set(z.namelist())
        assert not any(n.endswith(".eml") for n in names)
        members = {n: z.read(n) for n in names}
    assert f"sha256:{hashlib.sha256(SENT_JPEG).hexdigest()}".encode() in members["image_hashes.txt"]
    assert b"pdq:" in members["image_hashes.txt"] and b"phash:" in members["image_hashes.txt"]
    for data in members.values():
        assert SENT_JPEG[:64] not in data and b"you know what" not in data and b"/9j/" not in data  # no JPEG, no base64
    actions = [(r["actor"], r["action"]) for r in await review.store.run(review.store.audit_sync, mid)]
    assert ("dsl", "locked_refused") in actions and ("dsl", "police_export") in actions
    assert sum(1 for a in actions if a == ("dsl", "locked_refused")) == 4


async def test_cli_show_prints_no_content_of_a_locked_hold(images_review, capsys) -> None:
    from gateway.cli import main

    review = await images_review()
    mid = await send_image(review, SENT_JPEG)
    site = Path(review.gw.settings.quarantine.path).parent / "site.toml"
    site.write_text(f'[quarantine]\npath = "{review.gw.settings.quarantine.path}"\n[filters]\nchain = ["images"]\n')
    code = await __import__("asyncio").to_thread(main, ["quarantine", "show", mid, "--config", str(site),
                                                        "--json", "--raw"])
    out = capsys.readouterr().out
    assert code == 0 and '"raw"' not in out and "you know what" not in out and "IMAGE_HASH_MATCH" in out


async def test_image_of_a_safeguarding_hold_shows_only_on_a_reasoned_audited_click(images_review) -> None:
    review = await images_review()
    picture = encoded(drawn(7))
    raw = make_message("hey, don't tell your mum", sender="stranger@example.net", to=PUPIL,
                       attachments=[("me.png", "image/png", picture)])
    mid = new_message_id()
    finding = Finding("GROOMING_SECRECY", "test", Category.GROOMING, Severity.HIGH, ("don't tell your mum",),
                      "Asks a child to keep contact secret.")
    await review.store.run(lambda: review.store.add_sync(
        message_id=mid, raw=raw, mail_from="stranger@example.net", from_header="stranger@example.net",
        subject="hi", direction="inbound", sender_role="external", client_ip="192.0.2.1",
        sha256=hashlib.sha256(raw).hexdigest(), size=len(raw), recipients=[(PUPIL, "student", "hold")],
        findings=[finding], failures=[]))
    dsl = await review.login("dsl")
    page = await dsl.get(f"/m/{mid}")
    csrf = csrf_of(page.text)
    assert "<img" not in page.text
    reply = await dsl.post(f"/m/{mid}/image", data={"csrf": csrf, "index": "0", "reason": "see it"})
    assert reply.status_code == 403  # not before the hold was opened with a reason
    page = await opened(review, dsl, mid)
    assert "Show image" in page and "<img" not in page  # a button, never an inline picture
    reply = await dsl.post(f"/m/{mid}/image", data={"csrf": csrf, "index": "0", "reason": ""})
    assert reply.status_code == 400
    reply = await dsl.post(f"/m/{mid}/image", data={"csrf": csrf, "index": "0", "reason": "checking the photo"})
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/png" and reply.content == picture
    rows = [r for r in await review.store.run(review.store.audit_sync, mid) if r["action"] == "view_image"]
    assert [(r["actor"], r["reason"]) for r in rows] == [("dsl", "checking the photo")]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing (apt-get install chromium)")
async def test_nudity_at_threshold_zero_locked_alerted_and_never_rendered_in_chromium(images_review, tmp_path) -> None:
    playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
    review = await images_review(nudity_threshold=0.0)  # every image in pupil mail counts
    mid = await send_image(review, encoded(drawn(11)), name="selfie.png", sender=f"other@pupils.{SCHOOL_DOMAIN}")
    held = await review.store.get(mid)
    assert held.codes == ("IMAGE_NUDITY",) and held.locked
    assert await wait_for(lambda: notices(review.sink, "dsl_alert"))
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = await (await browser.new_context()).new_page()
            image_requests: list[str] = []
            page.on("request", lambda r: image_requests.append(r.url) if r.resource_type == "image" else None)
            await page.goto(f"{review.base}/login")
            await page.fill("input[name=username]", "dsl")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.goto(f"{review.base}/m/{mid}")
            await page.fill("#content input[name=reason]", "Reviewing the alert")
            await page.click("#content button[type=submit]")
            await page.wait_for_load_state()
            assert "Locked hold" in await page.inner_text("#locked")
            assert await page.locator("img").count() == 0
            assert await page.locator("form[action$='/attachment'], form[action$='/image']").count() == 0
            assert await page.locator("button[value=release]").count() == 0
            assert "selfie.png" in await page.inner_text("#content")  # listed by name, never shown
            await page.screenshot(path=str(tmp_path / "locked.png"), full_page=True)
            assert image_requests == []
        finally:
            await browser.close()

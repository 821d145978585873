"""Released copies over real SMTP (aiosmtpd sink as the next hop): no findings header outside
the school, only non-safeguarding codes inside, DKIM-signed like any delivered copy, and a
release that fails (next hop down) leaves the hold releasable and the digest link alive."""
from __future__ import annotations

import hashlib

import dkim
import pytest
from aiosmtpd.controller import Controller

from filters.base import Category, Finding, Severity
from gateway.dkim_signing import keygen, write_private_key
from quarantine.links import LinkSigner, load_secret
from quarantine.review import strip_header
from quarantine.store import new_message_id
from quarantine.users import UserStore
from tests.factories import SCHOOL_DOMAIN, make_message
from tests.quarantine.conftest import PASSWORD, ROLES, Review, csrf_of

PUPIL = f"friend@{SCHOOL_DOMAIN}"
PARENT = "parent@example.com"
SENDER = f"head@{SCHOOL_DOMAIN}"


@pytest.fixture(scope="module")
def key():
    return keygen("gw2024", SCHOOL_DOMAIN)


def _dns(record: str):
    import re
    name = record.split()[0]
    txt = "".join(re.findall(r'"([^"]*)"', record)).encode()
    return lambda q, timeout=5: txt if (q.decode() if isinstance(q, bytes) else q) == name else None


async def _review(review_gateway, sink, tmp_path, key, **web) -> Review:
    key_file = tmp_path / "dkim.pem"
    write_private_key(key_file, key[0])
    gw = await review_gateway(authentication={"signing_selector": "gw2024", "signing_key": str(key_file)}, **web)
    accounts = UserStore.for_settings(gw.store.engine, gw.settings.web)
    await gw.store.run(lambda: [accounts.add(r, r, PASSWORD) for r in ROLES])
    return Review(gw, sink)


async def _stored(review: Review, codes: list[tuple[str, Category]]) -> str:
    """A hold stored as the dispatcher stores it: the findings header on top."""
    body = make_message("Your child's trip form is attached.", subject="Trip", sender=SENDER,
                        to=f"{PUPIL}, {PARENT}")
    raw = f"X-Schoolgate-Findings: {' '.join(c for c, _ in codes)}\r\n".encode() + body
    findings = [Finding(code, "test", cat, Severity.HIGH, ("trip",), "test finding") for code, cat in codes]
    mid = new_message_id()
    await review.store.run(lambda: review.store.add_sync(
        message_id=mid, raw=raw, mail_from=SENDER, from_header=SENDER, subject="Trip", direction="outbound",
        sender_role="staff", client_ip="192.0.2.1", sha256=hashlib.sha256(body).hexdigest(), size=len(raw),
        recipients=[(PUPIL, "student", "hold"), (PARENT, "external", "hold")], findings=findings, failures=[]))
    return mid


async def _release_as_dsl(review: Review, mid: str) -> None:
    c = await review.login("dsl")
    csrf = csrf_of((await c.get(f"/m/{mid}")).text)
    await c.post(f"/m/{mid}/open", data={"csrf": csrf, "reason": "checked with the pupil"})
    r = await c.post(f"/m/{mid}/act", data={"csrf": csrf, "action": "release", "reason": "fine",
                                            "confirm": "yes"})
    assert r.status_code == 303, r.text[:400]


async def test_released_copies_inside_and_outside_the_school(review_gateway, sink, tmp_path, key):
    review = await _review(review_gateway, sink, tmp_path, key)
    # (not a disclosure code: those leave only over verified TLS, issue 21 clause 4, and this sink is plain)
    mid = await _stored(review, [("SAFEGUARDING_SELF_HARM", Category.SELF_HARM),
                                 ("CHAIN_LETTER", Category.CHAIN_LETTER)])
    await _release_as_dsl(review, mid)
    by_rcpt = {tuple(m.rcpt_tos): m.data for m in sink.messages}
    assert set(by_rcpt) == {(PUPIL,), (PARENT,)}
    inside, outside = by_rcpt[(PUPIL,)], by_rcpt[(PARENT,)]
    # inside: the non-safeguarding codes only
    assert b"X-Schoolgate-Findings: CHAIN_LETTER\r\n" in inside
    assert b"SAFEGUARDING" not in inside
    # outside: no findings header at all, and signed as any copy leaving the school is
    assert b"X-Schoolgate-Findings" not in outside
    assert outside.startswith(b"DKIM-Signature:")
    assert dkim.verify(outside, dnsfunc=_dns(key[1]))
    assert b"DKIM-Signature" not in inside  # internal copies are not signed (as gateway/dispatch.py)
    assert (await review.store.get(mid)).status == "released"


async def test_only_safeguarding_codes_means_no_header_inside_either(review_gateway, sink, tmp_path, key):
    review = await _review(review_gateway, sink, tmp_path, key)
    mid = await _stored(review, [("SAFEGUARDING_SELF_HARM", Category.SELF_HARM)])
    await _release_as_dsl(review, mid)
    assert len(sink.messages) == 2
    assert all(b"X-Schoolgate-Findings" not in m.data for m in sink.messages)


async def test_release_findings_header_never(review_gateway, sink, tmp_path, key):
    review = await _review(review_gateway, sink, tmp_path, key, quarantine={"release_findings_header": "never"})
    mid = await review.hold(rcpts=(PUPIL,))  # a real hold through SMTP: the attachments filter
    c = await review.login("reviewer")
    csrf = csrf_of((await c.get(f"/m/{mid}")).text)
    await c.post(f"/m/{mid}/act", data={"csrf": csrf, "action": "release", "reason": "ok", "confirm": "yes"})
    assert len(sink.messages) == 1 and b"X-Schoolgate-Findings" not in sink.messages[0].data


async def test_a_release_while_the_next_hop_is_down_stays_releasable_and_the_link_works(
        review_gateway, sink, tmp_path, key):
    review = await _review(review_gateway, sink, tmp_path, key)
    mid = await review.hold(rcpts=(PUPIL,))
    token = LinkSigner(load_secret(review.gw.settings.quarantine.path), 3600).make(mid, "release")
    c = await review.login("reviewer")
    csrf = csrf_of((await c.get("/queue")).text)
    port = sink.port
    sink.stop()  # the school's mail server is down: connections are refused
    try:
        r = await c.post(f"/l/{token}", data={"csrf": csrf, "confirm": "yes", "reason": "digest"})
        assert r.status_code == 409 and "can be used again" in r.text
        held = await review.store.get(mid)
        assert held.status == "held" and all(i["status"] == "held" for i in held.recipients.values())
        rows = await review.store.run(review.store.audit_sync, mid)
        assert [r["action"] for r in rows][-1] == "release_failed"
    finally:
        sink.controller = Controller(sink.handler, hostname="127.0.0.1", port=port)
        sink.start()
    # back up: the same digest link releases it, exactly once
    r = await c.post(f"/l/{token}", data={"csrf": csrf, "confirm": "yes", "reason": "digest"})
    assert r.status_code == 303, r.text[:300]
    assert len(sink.messages) == 1 and (await review.store.get(mid)).status == "released"
    again = await c.post(f"/l/{token}", data={"csrf": csrf, "confirm": "yes", "reason": "digest"})
    assert again.status_code == 410 and len(sink.messages) == 1


@pytest.mark.parametrize("raw, expect", [
    (b"X-Schoolgate-Findings: A B\r\nSubject: x\r\n\r\nX-Schoolgate-Findings: in the body\r\n",
     b"Subject: x\r\n\r\nX-Schoolgate-Findings: in the body\r\n"),
    (b"Subject: x\r\nx-schoolgate-findings: A\r\n B\r\nTo: y\r\n\r\nbody", b"Subject: x\r\nTo: y\r\n\r\nbody"),
    (b"Subject: x\nX-Schoolgate-Findings : A\n\nbody", b"Subject: x\n\nbody"),
    (b"X-Schoolgate-Findings-Other: keep\r\n\r\n", b"X-Schoolgate-Findings-Other: keep\r\n\r\n"),
])
def test_strip_header(raw, expect):
    assert strip_header(raw, "X-Schoolgate-Findings") == expect

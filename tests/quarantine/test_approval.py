"""Issue 21 clause 2: approval before sending, over SMTP and the review UI (real gateway, real web)."""
from __future__ import annotations

import re
import tomllib

from config.loader import DEFAULT_CONFIG
from quarantine.users import UserStore
from tests.factories import SCHOOL_DOMAIN, make_message
from tests.quarantine.conftest import PASSWORD, Review, csrf_of, wait_for
from tests.quarantine.test_notify import body, notices

PUPILS = f"students.{SCHOOL_DOMAIN}"
TUTOR = f"mr.tutor@{SCHOOL_DOMAIN}"
AMY = f"amy@{PUPILS}"
NOTIFY = {"enabled": True, "from_address": f"schoolgate@{SCHOOL_DOMAIN}", "check_seconds": 3600}
APPROVAL = {"years": [7, 8, 9, 10, 11], "approved_domains": ["aqa.org.uk"]}


def _csv(tmp_path) -> str:
    csv = tmp_path / "directory.csv"
    csv.write_text("email,role,name,year,form,tutor_email,group\n"
                   f"{AMY},student,Amy Jones,8,8A,{TUTOR},\n"
                   f"sam@{PUPILS},student,Sam Lee,12,12S,{TUTOR},sixth_form\n"
                   f"{TUTOR},staff,Mr Tutor,,,,\n", encoding="utf-8")
    return str(csv)


async def _gateway(review_gateway, sink, tmp_path, approval=APPROVAL, chain=("approval",), users=True):
    gw = await review_gateway(notify=NOTIFY, filters={"chain": list(chain)}, approval=approval,
                              directory={"csv": _csv(tmp_path), "domain_roles": {PUPILS: "student"}})
    accounts = UserStore.for_settings(gw.store.engine, gw.settings.web)

    def add() -> None:
        # the tutor is no reviewer: a "head" account (reports only) that carries the tutor's e-mail
        accounts.add("tutor", "head", PASSWORD, email=TUTOR)
        accounts.add("other", "head", PASSWORD, email=f"someone.else@{SCHOOL_DOMAIN}")
        accounts.add("reviewer", "reviewer", PASSWORD, email=f"reviewer@{SCHOOL_DOMAIN}")
    if users:  # (the gateways of one test share one store)
        await gw.store.run(add)
    return Review(gw, sink)


async def _send(r: Review, sender: str, to: str, subject: str) -> str:
    raw = make_message("Dear Sir or Madam, I would like to ask about a work experience week.", subject=subject,
                       sender=sender, to=to)
    code, text = await r.gw.send(raw, mail_from=sender, rcpt_tos=[to])
    assert code == 250, text
    return re.search(rb"Ok: (\S+)", text).group(1).decode()


def _links(mail) -> list[tuple[str, str]]:
    """[(approve path, decline path)] of a tutor digest, in its order."""
    text = body(mail)
    return list(zip(re.findall(r"Approve \(send it\):\s+https?://[^/]+(/approval/\S+)", text),
                    re.findall(r"Decline:\s+https?://[^/]+(/approval/\S+)", text)))


async def test_clause2_tutor_digest_signed_links_approve_and_decline(review_gateway, sink, tmp_path):
    r = await _gateway(review_gateway, sink, tmp_path)
    notifier = r.gw.gateway.notifier
    first = await _send(r, AMY, "hr@garage.example", "work experience")
    second = await _send(r, AMY, "boss@shop.example", "second placement")
    # the pupil is told at once that it waits
    assert await wait_for(lambda: len(notices(sink, "sender_student")) == 2)
    pupil_notice = notices(sink, "sender_student")[0]
    assert pupil_notice["To"] == AMY and "waiting for approval" in pupil_notice["Subject"]
    for mid in (first, second):
        held = await r.store.get(mid)
        assert held.status == "held" and held.codes == ("APPROVAL_REQUIRED",)
    # the tutor gets ONE digest listing both, with signed links bound to them
    assert notices(sink, "approval_tutor") == []
    assert await notifier.send_tutor_digests() == 2
    [digest] = notices(sink, "approval_tutor")
    assert digest["To"] == TUTOR and "2 pupil e-mails are waiting" in digest["Subject"]
    assert AMY in body(digest) and "work experience" in body(digest)
    (approve, _), (_, decline) = _links(digest)
    assert await notifier.send_tutor_digests() == 0  # listed once only

    # another member of staff (not the tutor, not a reviewer) cannot use the tutor's link
    other = await r.login("other")
    assert (await other.get(approve)).status_code == 403
    await other.aclose()

    # the tutor reads the letter and approves
    c = await r.login("tutor")
    page = await c.get(approve)
    assert page.status_code == 200 and "Dear Sir or Madam" in page.text and "Approve (send it)" in page.text
    reply = await c.post(approve, data={"csrf": csrf_of(page.text), "decision": "approve", "confirm": "yes",
                                        "reason": "a good letter"})
    assert reply.status_code == 200 and "Approved" in reply.text
    assert [m.rcpt_tos for m in sink.messages if b"work experience" in m.data
            and b"X-Schoolgate-Notice" not in m.data] == [["hr@garage.example"]]
    assert (await r.store.get(first)).status == "released"
    audit = await r.store.run(r.store.audit_sync, first)
    # who decided, in which capacity and why: the append-only audit
    assert any(row["action"] == "release" and row["actor"] == "tutor" and row["reason"] == "a good letter"
               for row in audit)
    assert any(row["action"] == "approve" and row["actor"] == "tutor" and '"as": "tutor"' in row["detail"]
               for row in audit)
    # single use
    assert (await c.get(approve)).status_code == 410

    # declined: deleted, never sent
    page = await c.get(decline)
    reply = await c.post(decline, data={"csrf": csrf_of(page.text), "decision": "decline", "confirm": "yes",
                                        "reason": "not suitable"})
    assert reply.status_code == 200 and "Declined" in reply.text
    assert (await r.store.get(second)).status == "deleted"
    assert not any(m.rcpt_tos == ["boss@shop.example"] for m in sink.messages)
    assert any(row["action"] == "decline" and row["actor"] == "tutor"
               for row in await r.store.run(r.store.audit_sync, second))
    await c.aclose()


async def test_clause2_reviewer_buttons_on_the_message_page(review_gateway, sink, tmp_path):
    r = await _gateway(review_gateway, sink, tmp_path)
    mid = await _send(r, AMY, "hr@garage.example", "work experience")
    c = await r.login("reviewer")
    page = await c.get(f"/m/{mid}")
    assert page.status_code == 200 and "Waiting for approval" in page.text and "Approve (send it)" in page.text
    reply = await c.post(f"/m/{mid}/approval", data={"csrf": csrf_of(page.text), "decision": "approve",
                                                      "confirm": "yes", "reason": "fine"})
    assert reply.status_code == 303 and reply.headers["location"] == f"/m/{mid}?done=released"
    assert (await r.store.get(mid)).status == "released"
    assert any(row["action"] == "approve" and row["actor"] == "reviewer" and '"as": "reviewer"' in row["detail"]
               for row in await r.store.run(r.store.audit_sync, mid))
    # without the confirmation box nothing happens
    again = await _send(r, AMY, "boss@shop.example", "second")
    reply = await c.post(f"/m/{again}/approval", data={"csrf": csrf_of(page.text), "decision": "decline"})
    assert reply.status_code == 400 and (await r.store.get(again)).status == "held"
    # a tutor may decide only mail held for approval alone; a head without the tutor's e-mail never
    other = await r.login("other")
    csrf = csrf_of((await other.get("/counts")).text)
    reply = await other.post(f"/m/{again}/approval", data={"csrf": csrf, "decision": "approve", "confirm": "yes"})
    assert reply.status_code == 403 and (await r.store.get(again)).status == "held"
    await c.aclose()
    await other.aclose()


async def test_clause2_approved_domains_other_years_and_school_mail_go_straight(review_gateway, sink, tmp_path):
    r = await _gateway(review_gateway, sink, tmp_path)
    await _send(r, AMY, "entries@aqa.org.uk", "exam entry")  # approved list
    await _send(r, f"sam@{PUPILS}", "hr@garage.example", "sixth form")  # Year 12: not in years
    await _send(r, AMY, TUTOR, "to my tutor")  # inside the school
    await _send(r, f"newpupil@{PUPILS}", "hr@garage.example", "year unknown")  # unknown_year = false
    assert r.store.list_sync() == []
    assert len([m for m in sink.messages if b"X-Schoolgate-Notice" not in m.data]) == 4


async def test_clause2_shipped_chain_has_approval_off_until_years_are_set(review_gateway, sink, tmp_path):
    with open(DEFAULT_CONFIG, "rb") as handle:
        shipped = tomllib.load(handle)
    assert "approval" in shipped["filters"]["chain"] and shipped["approval"]["years"] == []
    # the shipped [approval] (no years): a pupil's external mail is not held
    r = await _gateway(review_gateway, sink, tmp_path, approval={})
    await _send(r, AMY, "hr@garage.example", "not configured")
    assert r.store.list_sync() == []
    # unknown_year = true: a pupil with no known year waits too
    r2 = await _gateway(review_gateway, sink, tmp_path, approval={**APPROVAL, "unknown_year": True},
                        users=False)
    mid = await _send(r2, f"newpupil@{PUPILS}", "hr@garage.example", "year unknown")
    assert "APPROVAL_REQUIRED" in (await r2.store.get(mid)).codes


async def test_clause2_mail_held_for_more_than_approval_is_a_reviewers(review_gateway, sink, tmp_path):
    r = await _gateway(review_gateway, sink, tmp_path, chain=("attachments", "approval"))
    raw = make_message("Here is my CV.", subject="my cv", sender=AMY, to="hr@garage.example",
                       attachments=[("cv.pdf.exe", "application/octet-stream", b"MZ\x90\x00" + b"\0" * 64)])
    code, text = await r.gw.send(raw, mail_from=AMY, rcpt_tos=["hr@garage.example"])
    assert code == 250, text
    mid = re.search(rb"Ok: (\S+)", text).group(1).decode()
    held = await r.store.get(mid)
    assert "APPROVAL_REQUIRED" in held.codes and len(held.codes) > 1
    # not in the tutor's digest, and the tutor's account may not decide it
    assert await r.gw.gateway.notifier.send_tutor_digests() == 0
    tutor = await r.login("tutor")
    csrf = csrf_of((await tutor.get("/counts")).text)
    reply = await tutor.post(f"/m/{mid}/approval", data={"csrf": csrf, "decision": "approve", "confirm": "yes"})
    assert reply.status_code == 403 and (await r.store.get(mid)).status == "held"
    await tutor.aclose()

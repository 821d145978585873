"""Issue 21 clause 2: approval before sending, over SMTP and the review UI (real gateway, real web)."""
from __future__ import annotations

import re

from quarantine.users import UserStore
from tests.factories import SCHOOL_DOMAIN, make_message
from tests.quarantine.conftest import FAST_HASH, PASSWORD, Review, csrf_of, wait_for
from tests.quarantine.test_notify import body, notices

PUPILS = f"students.{SCHOOL_DOMAIN}"
TUTOR = f"mr.tutor@{SCHOOL_DOMAIN}"
NOTIFY = {"enabled": True, "from_address": f"schoolgate@{SCHOOL_DOMAIN}", "check_seconds": 3600}


async def _gateway(review_gateway, sink, tmp_path):
    csv = tmp_path / "directory.csv"
    csv.write_text("email,role,name,year,form,tutor_email,group\n"
                   f"amy@{PUPILS},student,Amy Jones,8,8A,{TUTOR},\n"
                   f"sam@{PUPILS},student,Sam Lee,12,12S,{TUTOR},sixth_form\n"
                   f"{TUTOR},staff,Mr Tutor,,,,\n", encoding="utf-8")
    gw = await review_gateway(notify=NOTIFY, filters={"chain": ["approval"]},
                              approval={"years": [7, 8, 9, 10, 11], "approved_domains": ["aqa.org.uk"]},
                              directory={"csv": str(csv), "domain_roles": {PUPILS: "student"}})
    accounts = UserStore.for_settings(gw.store.engine, gw.settings.web)
    await gw.store.run(lambda: accounts.add("tutor", "reviewer", PASSWORD, email=TUTOR))
    return Review(gw, sink)


async def _send(r: Review, sender: str, to: str, subject: str) -> str:
    raw = make_message("Dear Sir or Madam, I would like to ask about a work experience week.", subject=subject,
                       sender=sender, to=to)
    code, text = await r.gw.send(raw, mail_from=sender, rcpt_tos=[to])
    assert code == 250, text
    return re.search(rb"Ok: (\S+)", text).group(1).decode()


async def test_clause2_held_for_the_tutor_who_approves_or_declines_by_signed_link(review_gateway, sink, tmp_path):
    r = await _gateway(review_gateway, sink, tmp_path)
    amy = f"amy@{PUPILS}"
    first = await _send(r, amy, "hr@garage.example", "work experience")
    assert await wait_for(lambda: notices(sink, "approval_tutor") and notices(sink, "sender_student"))
    held = await r.store.get(first)
    assert held.status == "held" and "APPROVAL_REQUIRED" in held.codes
    [pupil_notice] = notices(sink, "sender_student")
    assert pupil_notice["To"] == amy and "waiting for approval" in pupil_notice["Subject"]
    [ask] = notices(sink, "approval_tutor")
    assert ask["To"] == TUTOR and amy in body(ask)
    approve = re.search(r"Approve \(send it\):\s+https?://[^/]+(/l/\S+)", body(ask)).group(1)
    c = await r.login("tutor")
    page = await c.get(approve)
    assert page.status_code == 200
    reply = await c.post(approve, data={"csrf": csrf_of(page.text), "confirm": "yes", "reason": "approved"})
    assert reply.status_code == 303
    assert [m.rcpt_tos for m in sink.messages if b"work experience" in m.data] == [["hr@garage.example"]]
    assert (await r.store.get(first)).status == "released"
    audit = await r.store.run(r.store.audit_sync, first)
    # who decided and why, in the append-only audit
    assert any(row["action"] == "release" and row["actor"] == "tutor" and row["reason"] == "approved"
               for row in audit)

    # declined: the second one is deleted by the tutor's decline link, never sent
    second = await _send(r, amy, "boss@shop.example", "second placement")
    assert await wait_for(lambda: len(notices(sink, "approval_tutor")) == 2)
    decline = re.search(r"Decline:\s+https?://[^/]+(/l/\S+)", body(notices(sink, "approval_tutor")[1])).group(1)
    page = await c.get(decline)
    reply = await c.post(decline, data={"csrf": csrf_of(page.text), "confirm": "yes", "reason": "not suitable"})
    assert reply.status_code == 303 and (await r.store.get(second)).status == "deleted"
    assert not any(b"second placement" in m.data for m in sink.messages if m.rcpt_tos == ["boss@shop.example"])
    await c.aclose()


async def test_clause2_approved_domains_other_years_and_school_mail_go_straight(review_gateway, sink, tmp_path):
    r = await _gateway(review_gateway, sink, tmp_path)
    await _send(r, f"amy@{PUPILS}", "entries@aqa.org.uk", "exam entry")  # approved list
    await _send(r, f"sam@{PUPILS}", "hr@garage.example", "sixth form")  # Year 12: not in years
    await _send(r, f"amy@{PUPILS}", TUTOR, "to my tutor")  # inside the school
    assert r.store.list_sync() == []
    assert len([m for m in sink.messages if b"X-Schoolgate-Notice" not in m.data]) == 3

"""Notifications through the real next hop (the sink): sender notices, DSL alerts and escalation, digest."""
from __future__ import annotations

import email
import email.policy
import re
import time

import pytest

from filters.base import Category
from quarantine.review_store import ReviewStore
from quarantine.users import UserStore
from tests.factories import SCHOOL_DOMAIN
from tests.quarantine.conftest import PASSWORD, Review, csrf_of, wait_for

DSL = f"dsl@{SCHOOL_DOMAIN}"
DEPUTY = f"deputy@{SCHOOL_DOMAIN}"
IT = f"it@{SCHOOL_DOMAIN}"
NOTIFY = {"enabled": True, "from_address": f"schoolgate@{SCHOOL_DOMAIN}", "dsl_addresses": [DSL],
          "deputy_dsl_addresses": [DEPUTY], "reviewer_addresses": [IT], "check_seconds": 3600}


@pytest.fixture
async def notifying(review_gateway, sink):
    gw = await review_gateway(notify=NOTIFY)
    await gw.store.run(lambda: UserStore.for_settings(gw.store.engine, gw.settings.web).add(
        "rev", "reviewer", PASSWORD))
    return Review(gw, sink)


def notices(sink, kind: str | None = None) -> list[email.message.EmailMessage]:
    out = []
    for m in sink.messages:
        msg = email.message_from_bytes(m.data, policy=email.policy.default)
        if msg["X-Schoolgate-Notice"] and (kind is None or msg["X-Schoolgate-Notice"] == kind):
            out.append(msg)
    return out


def body(msg) -> str:
    return msg.get_body(("plain",)).get_content()


@pytest.mark.parametrize("role,category,kind,phrase,link", [
    ("student", Category.CHAIN_LETTER, "sender_student", "Chain letters are never true", True),
    ("student", Category.DISCLOSURE, "sender_student", "held it so that a member of staff", True),
    ("staff", Category.PUPIL_DATA, "sender_staff", "Policy tip", True),
    ("external", Category.ATTACHMENT, "sender_external", "replies to it are not read", False),
])
async def test_sender_notice_per_audience_and_category(notifying, role, category, kind, phrase, link):
    sender = f"sam@{SCHOOL_DOMAIN}" if role != "external" else "supplier@example.com"
    mid = await notifying.add(category=category, code="X_CODE", sender=sender, sender_role=role,
                              reason="It looks like a chain letter.")
    await notifying.gw.gateway.notifier.on_hold(mid)
    [notice] = notices(notifying.sink)
    assert notice["X-Schoolgate-Notice"] == kind and notice["To"] == sender
    assert notice["Auto-Submitted"] == "auto-generated"
    assert phrase in body(notice)
    assert ("/request/" in body(notice)) is link


@pytest.mark.parametrize("category", [Category.GROOMING, Category.SELF_HARM, Category.EXTREMISM, Category.MEETING,
                                      Category.VIRUS, Category.SPOOFING])
async def test_never_a_sender_notice_for_safeguarding_virus_or_forged_senders(notifying, category):
    mid = await notifying.add(category=category, sender=f"sam@{SCHOOL_DOMAIN}", sender_role="student")
    await notifying.gw.gateway.notifier.on_hold(mid)
    assert not [n for n in notices(notifying.sink) if n["X-Schoolgate-Notice"].startswith("sender")]


async def test_dsl_alert_at_once_without_content_then_deputy_once(notifying):
    mid = await notifying.add(category=Category.SELF_HARM, code="SELF_HARM_INTENT", subject="private subject",
                              body="nobody would miss me", evidence=("nobody would miss me",))
    notifier = notifying.gw.gateway.notifier
    await notifier.on_hold(mid)
    [alert] = notices(notifying.sink, "dsl_alert")
    text = alert.as_string()
    assert alert["To"] == DSL
    assert "self harm" in text and f"/m/{mid}" in text
    assert "nobody would miss me" not in text and "private subject" not in text
    assert await notifier.escalate_overdue() == 0  # not overdue yet
    rs = ReviewStore(notifying.store)
    # make the alert overdue: the same clock the escalation reads
    from sqlalchemy import update
    from quarantine.review_store import dsl_alerts
    def age() -> None:
        with notifying.store.engine.begin() as conn:
            conn.execute(update(dsl_alerts).values(sent_at=time.time() - 3600))
    await notifying.store.run(age)
    assert await notifier.escalate_overdue() == 1
    [escalated] = notices(notifying.sink, "dsl_escalation")
    assert escalated["To"] == DEPUTY and "[Escalated]" in escalated["Subject"]
    assert "nobody would miss me" not in escalated.as_string()
    assert await notifier.escalate_overdue() == 0  # once
    rows = await notifying.store.run(notifying.store.audit_sync, mid)
    assert any(r["action"] == "dsl_escalated_to_deputy" for r in rows)
    assert (await notifying.store.run(lambda: rs.alerts_sync(mid)))[0]["escalated_at"]


async def test_acknowledged_alert_is_not_escalated(notifying):
    mid = await notifying.add()
    notifier = notifying.gw.gateway.notifier
    await notifier.on_hold(mid)
    assert await notifying.store.run(lambda: ReviewStore(notifying.store).ack_alerts_sync(mid, "dsl"))
    from sqlalchemy import update
    from quarantine.review_store import dsl_alerts
    def age() -> None:
        with notifying.store.engine.begin() as conn:
            conn.execute(update(dsl_alerts).values(sent_at=time.time() - 3600))
    await notifying.store.run(age)
    assert await notifier.escalate_overdue() == 0
    assert notices(notifying.sink, "dsl_escalation") == []


async def test_digest_lists_new_holds_once_with_working_single_use_links(notifying):
    first = await notifying.hold(subject="digest one")
    second = await notifying.hold(subject="digest two")
    await notifying.add()  # safeguarding: counted, never linked
    notifier = notifying.gw.gateway.notifier
    await notifier.drain()
    before = len(notifying.sink.messages)
    assert await notifier.send_digest() == 2
    [digest] = notices(notifying.sink, "digest")
    text = body(digest)
    assert digest["To"] == IT and first in text and second in text
    assert "1 further hold went to the DSL" in text
    assert "digest one" not in text  # no content: ids, addresses and codes only
    assert await notifier.send_digest() == 0 and len(notices(notifying.sink, "digest")) == 1
    release_link = re.search(rf"release:\s+(\S+)", text.split(first, 1)[1]).group(1)
    path = re.match(r"https?://[^/]+(/l/\S+)$", release_link).group(1)
    c = await notifying.login("rev")
    page = await c.get(path)
    assert page.status_code == 200
    r = await c.post(path, data={"csrf": csrf_of(page.text), "confirm": "yes"})
    assert r.status_code == 303
    assert len(notifying.sink.messages) == before + 2  # the digest and the released message
    assert (await notifying.store.get(first)).status == "released"


async def test_hold_through_smtp_sends_the_notice(review_gateway, sink):
    gw = await review_gateway(notify=NOTIFY, directory={"domain_roles": {SCHOOL_DOMAIN: "student"}})
    r = Review(gw, sink)
    mid = await r.hold(sender=f"pupil@{SCHOOL_DOMAIN}", rcpts=("friend@example.com",))
    assert await wait_for(lambda: notices(sink, "sender_student"))
    [notice] = notices(sink, "sender_student")
    assert notice["To"] == f"pupil@{SCHOOL_DOMAIN}"
    assert mid not in [m for m in notice.as_string().split() if "/request/" in m]  # the id is signed, not bare
    rows = await gw.store.run(gw.store.audit_sync, mid)
    assert any(x["action"] == "notify" for x in rows)


async def test_site_templates_override_the_shipped_ones(review_gateway, sink, tmp_path):
    templates = tmp_path / "mail"
    templates.mkdir()
    (templates / "sender_external.txt").write_text("Subject: Held at {{ school }}\n\nCustom words.\n")
    gw = await review_gateway(notify={**NOTIFY, "templates_dir": str(templates)})
    r = Review(gw, sink)
    mid = await r.add(category=Category.ATTACHMENT, sender="x@example.com")
    await gw.gateway.notifier.on_hold(mid)
    [notice] = notices(sink)
    assert notice["Subject"] == "Held at Hillside Academy" and "Custom words." in body(notice)


async def test_nothing_is_mailed_without_a_from_address(review_gateway, sink):
    gw = await review_gateway(notify={**NOTIFY, "from_address": ""})
    r = Review(gw, sink)
    mid = await r.add()
    await gw.gateway.notifier.on_hold(mid)
    assert sink.messages == []
    # the alert is still recorded for the web UI
    assert await gw.store.run(lambda: ReviewStore(gw.store).alerts_sync(mid, open_only=True))

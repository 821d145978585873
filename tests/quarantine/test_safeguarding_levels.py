"""The issue's examples sent through the gateway over SMTP (offensive filter, shipped policy): what is held,
what passes, the DSL alert's urgency by level, the DSL's queue order and the Head's report by level."""
from __future__ import annotations

import email
import email.policy
import re

import pytest

from quarantine.report_data import period_for
from quarantine.reports import build_report, local_now
from quarantine.users import UserStore
from tests.factories import SCHOOL_DOMAIN, make_message
from tests.quarantine.conftest import PASSWORD, Review

PUPILS = f"pupils.{SCHOOL_DOMAIN}"
PUPIL = f"amy@{PUPILS}"
FRIEND = f"ben@{PUPILS}"
DSL = f"dsl@{SCHOOL_DOMAIN}"
DEPUTY = f"deputy@{SCHOOL_DOMAIN}"
NOTIFY = {"enabled": True, "from_address": f"schoolgate@{SCHOOL_DOMAIN}", "dsl_addresses": [DSL],
          "deputy_dsl_addresses": [DEPUTY], "sender_notices": False, "check_seconds": 3600}


@pytest.fixture
async def gate(review_gateway, sink) -> Review:
    gw = await review_gateway(notify=NOTIFY, filters={"chain": ["offensive"]},
                              school={"domains": [SCHOOL_DOMAIN, PUPILS]},
                              directory={"domain_roles": {PUPILS: "student", SCHOOL_DOMAIN: "staff"}})
    await gw.store.run(lambda: UserStore.for_settings(gw.store.engine, gw.settings.web).add(
        "dsl", "dsl", PASSWORD, email=DSL))
    return Review(gw, sink)


async def send(gate: Review, text: str, sender: str, rcpt: str) -> str | None:
    """The held id, or None when the message was delivered."""
    raw = make_message(text, subject="hi", sender=sender, to=rcpt)
    code, reply = await gate.gw.send(raw, mail_from=sender, rcpt_tos=[rcpt])
    assert code == 250, reply
    match = re.search(rb"Ok: (\S+)", reply)
    held = match.group(1).decode() if match else None
    if held:
        try:
            await gate.store.get(held)
        except Exception:
            return None  # the id of a delivered message
    return held


def alerts(sink) -> list[email.message.EmailMessage]:
    out = []
    for m in sink.messages:
        msg = email.message_from_bytes(m.data, policy=email.policy.default)
        if msg["X-Schoolgate-Notice"] == "dsl_alert":
            out.append(msg)
    return out


@pytest.mark.parametrize("text, sender", [
    ("add me on snapchat lol", FRIEND),  # two pupils: not grooming
    ("Order number 1488 has been dispatched. Thank you for shopping with us.", "orders@shop.example"),
])
async def test_the_issues_false_alarms_now_pass(gate: Review, text: str, sender: str) -> None:
    assert await send(gate, text, sender, PUPIL) is None
    [delivered] = [m for m in gate.sink.messages if text.split(".")[0].encode() in m.data]
    assert b"SAFEGUARDING_" not in delivered.data
    assert alerts(gate.sink) == []


async def test_self_harm_secrecy_between_friends_is_self_harm_only(gate: Review) -> None:
    mid = await send(gate, "i cut myself again, dont tell anyone", FRIEND, PUPIL)
    held = await gate.store.get(mid)
    assert held.codes == ("SAFEGUARDING_SELF_HARM",) and held.level == 4
    await gate.gw.gateway.notifier.drain()
    [alert] = alerts(gate.sink)
    assert alert["Subject"].startswith("[Level 4] ") and alert["X-Priority"] == "2"
    assert alert["To"] == DSL  # the deputy only if nobody acknowledges in time
    assert "Level:     4 of 5" in alert.get_body(("plain",)).get_content()
    assert "cut" not in alert.as_string()  # no message content in an alert


async def test_plan_is_level_five_urgent_and_first_in_the_dsl_queue(gate: Review) -> None:
    plan = await send(gate, "i want to kill myself tonight. i have saved up the pills", FRIEND, PUPIL)
    disclosure = await send(gate, "i have been self harming again and cut my arms", FRIEND, PUPIL)
    await gate.gw.gateway.notifier.drain()
    by_level = {(await gate.store.get(mid)).level: mid for mid in (plan, disclosure)}
    assert by_level == {5: plan, 4: disclosure}
    urgent = [a for a in alerts(gate.sink) if a["X-Schoolgate-Level"] == "5"]
    assert len(urgent) == 1 and urgent[0]["Subject"].startswith("[URGENT level 5] ")
    assert urgent[0]["X-Priority"] == "1" and urgent[0]["Importance"] == "high"
    assert set(a.strip() for a in urgent[0]["To"].split(",")) == {DSL, DEPUTY}  # the deputy at once
    # the DSL's queue: level 5 first although it arrived first (newest-first would put it second)
    client = await gate.login("dsl")
    page = (await client.get("/queue?view=safeguarding")).text
    assert page.index(f"/m/{plan}") < page.index(f"/m/{disclosure}")
    assert "level 5" in page and "level 4" in page
    newest = (await client.get("/queue?view=safeguarding&sort=newest")).text
    assert newest.index(f"/m/{disclosure}") < newest.index(f"/m/{plan}")


async def test_heads_report_counts_incidents_by_level(gate: Review) -> None:
    await send(gate, "i want to kill myself tonight. i have saved up the pills", FRIEND, PUPIL)
    await send(gate, "i cut myself again last week", FRIEND, PUPIL)
    await send(gate, "im going to stab you after school", FRIEND, PUPIL)  # a threat: level 4, DSL alerted
    await send(gate, "you are such a loser", FRIEND, PUPIL)  # bullying, level 2: held, not an incident
    settings = gate.gw.settings
    now = local_now(settings)
    data = await build_report(settings, gate.store, period_for("week", now, current=True), now=now)
    counts = {row["level"]: row["incidents"] for row in data.safeguarding["by_level"]}
    assert counts == {5: 1, 4: 2, 3: 0, 2: 0, 1: 0, 0: 0}
    assert data.safeguarding["total"] == 3
    from quarantine.report_render import csv_rows, render_html
    html = render_html(data).html
    assert "Incidents by risk level" in html and "5: plan, weapon at school, secret meeting" in html
    assert ("safeguarding", "level_5", "incidents", 1) in set(csv_rows(data))

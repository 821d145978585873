"""A three-school trust over SMTP: each held copy belongs to its school-side party's school
(the recipient's inbound, the sender's outbound, each school's for mail between two), on the
hold, its audit rows, the decision log and the DSL alert; one hold row per school's group."""
from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import select

from filters.base import Category, Finding, Severity
from quarantine.review import release_from_store
from quarantine.store import decisions, new_message_id
from tests.factories import make_message, make_settings
from tests.gateway.conftest import RunningGateway
from tests.quarantine.conftest import wait_for
from tests.quarantine.test_escalation import webhook  # noqa: F401  (fixture: the SMS/phone service)

TRUST = Path(__file__).resolve().parents[1] / "data" / "trust" / "riverside.toml"
EXE = [("invoice.pdf.exe", "application/octet-stream", b"MZ\x90\x00" + b"\0" * 64)]
A_PUPIL, A_STAFF = "pupil@hillside.sch.uk", "teacher@hillside.sch.uk"
B_STAFF, C_PUPIL = "head@valley.sch.uk", "pupil@oakpark.sch.uk"
PARENT = "parent@example.com"


def trust_overrides(**notify) -> dict:
    data = tomllib.loads(TRUST.read_text())
    return {"school": data["school"], "trust": data["trust"], "schools": data["schools"],
            "filters": {"chain": ["attachments"]}, "notify": {"enabled": False, **notify}}


@pytest.fixture
async def trust_gateway(tmp_path, sink):
    from gateway.service import Gateway

    started = []

    async def factory(**notify) -> RunningGateway:
        settings = make_settings(tmp_path, gateway={"listen": "127.0.0.1:0", "next_hop": sink.address},
                                 **trust_overrides(**notify))
        gateway = Gateway(settings)
        await gateway.start(web=False)
        started.append(gateway)
        return RunningGateway(gateway)

    yield factory
    for gateway in started:
        await gateway.stop(grace=5)


async def _hold(gw: RunningGateway, sender: str, rcpts: list[str], subject: str = "Invoice") -> str:
    raw = make_message("see attached", subject=subject, sender=sender, to=", ".join(rcpts), attachments=EXE)
    code, text = await gw.send(raw, mail_from=sender, rcpt_tos=rcpts)
    assert code == 250, text
    return re.search(rb"Ok: (\S+)", text).group(1).decode()


async def _rows(gw: RunningGateway):
    return sorted(await gw.store.run(gw.store.list_sync), key=lambda h: h.school_id)


async def test_inbound_to_school_a_is_held_as_school_a(trust_gateway):
    gw = await trust_gateway()
    mid = await _hold(gw, PARENT, [A_PUPIL])
    held = await gw.store.get(mid)
    assert (held.school_id, held.schools, list(held.recipients)) == ("hillside", ("hillside",), [A_PUPIL])
    [row] = [r for r in await gw.store.run(gw.store.audit_sync, mid) if r["action"] == "hold"]
    assert row["school_id"] == "hillside"
    await gw.store.flush_decisions()
    with gw.store.engine.connect() as conn:
        [decision] = conn.execute(select(decisions.c.schools, decisions.c.action)).all()
    assert decision == (" hillside ", "hold")


async def test_outbound_from_school_b_is_school_b(trust_gateway):
    gw = await trust_gateway()
    mid = await _hold(gw, B_STAFF, [PARENT])
    held = await gw.store.get(mid)
    assert (held.direction, held.school_id, held.schools) == ("outbound", "valley", ("valley",))


async def test_mail_between_two_schools_is_internal_to_each(trust_gateway):
    gw = await trust_gateway()
    mid = await _hold(gw, A_STAFF, [B_STAFF])
    held = await gw.store.get(mid)
    # the recipient's school holds the copy; the sender's school owns it too
    assert (held.direction, held.school_id, held.schools) == ("internal", "valley", ("valley", "hillside"))


async def test_recipients_in_three_schools_are_three_holds_and_releases_stay_in_their_school(trust_gateway, sink):
    gw = await trust_gateway()
    mid = await _hold(gw, PARENT, [A_PUPIL, B_STAFF, C_PUPIL, A_STAFF])
    rows = await _rows(gw)
    assert [(h.school_id, sorted(h.recipients)) for h in rows] == [
        ("hillside", [A_PUPIL, A_STAFF]), ("oak", [C_PUPIL]), ("valley", [B_STAFF])]
    assert next(h for h in rows if h.school_id == "hillside").id == mid  # the SMTP reply's id is the first group's
    assert len({h.sha256 for h in rows}) == 1 and len({h.id for h in rows}) == 3
    # Valley's reviewer releases Valley's copy: only Valley's recipient gets it
    valley = next(h for h in rows if h.school_id == "valley")
    await release_from_store(gw.store, gw.gateway.next_hop, valley.id, recipients=None, actor="dsl-valley",
                             reason="fine")
    assert [m.rcpt_tos for m in sink.messages] == [[B_STAFF]]
    assert {h.school_id: h.status for h in await _rows(gw)} == {"hillside": "held", "oak": "held",
                                                               "valley": "released"}
    release = [r for r in await gw.store.run(gw.store.audit_sync, valley.id) if r["action"] == "release"]
    assert [r["school_id"] for r in release] == ["valley"]
    await gw.store.flush_decisions()
    with gw.store.engine.connect() as conn:
        [schools] = conn.execute(select(decisions.c.schools)).scalars().all()
    assert set(schools.split()) == {"hillside", "valley", "oak"}  # the message touched all three


async def test_a_delivered_copy_and_a_held_copy_in_different_schools(trust_gateway, sink):
    gw = await trust_gateway()
    raw = make_message("hello", sender=PARENT, to=A_PUPIL)
    code, _ = await gw.send(raw, mail_from=PARENT, rcpt_tos=[A_PUPIL, B_STAFF])
    assert code == 250 and [m.rcpt_tos for m in sink.messages] == [[A_PUPIL, B_STAFF]]
    assert await gw.store.run(gw.store.list_sync) == []


async def test_a_single_school_config_keeps_working_as_one_school(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address, filters={"chain": ["attachments"]})
    mid = await _hold(gw, PARENT, ["bob@school.sch.uk", "carol@school.sch.uk", "x@elsewhere.example"])
    [held] = await gw.store.run(gw.store.list_sync)
    assert held.id == mid and (held.school_id, held.schools) == ("school", ("school",))
    assert len(held.recipients) == 3


async def test_the_dsl_alert_goes_to_the_hold_schools_dsl_only(trust_gateway, sink):
    gw = await trust_gateway(enabled=True, from_address="schoolgate@riverside.org.uk", sender_notices=False)
    raw = make_message("don't tell your mum", sender=PARENT, to=C_PUPIL)
    finding = Finding("GROOMING_SECRECY", "test", Category.GROOMING, Severity.HIGH, ("don't tell",), "secret")
    mid = new_message_id()
    await gw.store.run(lambda: gw.store.add_sync(
        message_id=mid, raw=raw, mail_from=PARENT, from_header=PARENT, subject="hi", direction="inbound",
        sender_role="external", client_ip="192.0.2.1", sha256=hashlib.sha256(raw).hexdigest(), size=len(raw),
        recipients=[(C_PUPIL, "student", "hold")], findings=[finding], failures=[], school_id="oak"))
    assert await gw.gateway.notifier.alert_dsl(mid)
    assert await wait_for(lambda: sink.messages)
    [alert] = sink.messages
    assert alert.rcpt_tos == ["dsl@oakpark.sch.uk"]
    assert b"Oak Park School" in alert.data and b"don't tell" not in alert.data
    [row] = await gw.store.run(gw.gateway.notifier.review.alerts_sync, mid)
    assert row["school_id"] == "oak"
    rows = await gw.store.run(gw.store.audit_sync, mid)  # the hold's row and the alert's
    assert len(rows) >= 2 and {r["school_id"] for r in rows} == {"oak"}


async def test_the_reviewer_digest_lists_each_school_its_own_holds(trust_gateway, sink):
    from email import message_from_bytes, policy

    from quarantine.users import UserStore

    gw = await trust_gateway(enabled=True, from_address="schoolgate@riverside.org.uk", sender_notices=False,
                             reviewer_addresses=["it@riverside.org.uk"])
    accounts = UserStore(gw.store.engine)
    await gw.store.run(lambda: [accounts.add("rev-hill", "reviewer", "correct horse battery", "rev@hillside.sch.uk",
                                             ["hillside"]),
                                accounts.add("rev-valley", "reviewer", "correct horse battery", "rev@valley.sch.uk",
                                             ["valley"])])
    await _hold(gw, PARENT, [A_PUPIL], subject="Invoice for Hillside")
    await _hold(gw, PARENT, [B_STAFF], subject="Invoice for Valley")
    assert await gw.gateway.notifier.send_digest() == 2
    assert await wait_for(lambda: len(sink.messages) == 3)
    bodies = {tuple(m.rcpt_tos): message_from_bytes(m.data, policy=policy.default).get_body(("plain",)).get_content()
              for m in sink.messages}
    assert set(bodies) == {("it@riverside.org.uk",), ("rev@hillside.sch.uk",), ("rev@valley.sch.uk",)}
    # the digest names the held copy's recipient (no subject): each school only its own
    assert A_PUPIL in bodies[("rev@hillside.sch.uk",)] and B_STAFF not in bodies[("rev@hillside.sch.uk",)]
    assert B_STAFF in bodies[("rev@valley.sch.uk",)] and A_PUPIL not in bodies[("rev@valley.sch.uk",)]
    assert A_PUPIL in bodies[("it@riverside.org.uk",)] and B_STAFF in bodies[("it@riverside.org.uk",)]


async def test_a_schools_own_escalation_tree_is_called_for_its_level_5_holds(tmp_path, sink, webhook):
    from datetime import datetime
    from email import message_from_bytes, policy
    from zoneinfo import ZoneInfo

    from gateway.service import Gateway

    trust_tree = [{"name": "Trust on-call", "email": "oncall@riverside.org.uk", "phone": "+447700900009",
                   "hours": "always"},
                  {"name": "Trust CEO", "email": "ceo@riverside.org.uk", "hours": "always"}]
    data = trust_overrides(enabled=True, from_address="schoolgate@riverside.org.uk", sender_notices=False)
    data["schools"][2]["escalation_contacts"] = [
        {"name": "Oak DSL", "email": "dsl@oakpark.sch.uk", "phone": "+447700900001", "hours": "always"},
        {"name": "Oak Head", "email": "head@oakpark.sch.uk", "hours": "always"}]
    settings = make_settings(tmp_path, gateway={"listen": "127.0.0.1:0", "next_hop": sink.address},
                             escalation={"enabled": True, "contacts": trust_tree, "check_seconds": 60,
                                         "webhook_url": webhook.url}, **data)
    gateway = Gateway(settings)
    await gateway.start(web=False)
    try:
        gw = RunningGateway(gateway)
        esc = gateway.escalator
        esc.clock = lambda: datetime(2026, 11, 28, 2, 0, tzinfo=ZoneInfo("Europe/London")).timestamp()
        ids = {}
        for school, rcpt in (("oak", C_PUPIL), ("hillside", A_PUPIL)):
            raw = make_message("see you saturday, come alone", sender=PARENT, to=rcpt)
            finding = Finding("MEETING_SECRET", "test", Category.MEETING, Severity.CRITICAL, ("come alone",),
                              "a secret meeting", level=5)
            mid = ids[school] = new_message_id()
            await gw.store.run(lambda: gw.store.add_sync(
                message_id=mid, raw=raw, mail_from=PARENT, from_header=PARENT, subject="hi", direction="inbound",
                sender_role="external", client_ip="", sha256=hashlib.sha256(raw).hexdigest(), size=len(raw),
                recipients=[(rcpt, "student", "hold")], findings=[finding], failures=[], school_id=school))
            await esc.held(mid)
        assert await wait_for(lambda: len(sink.messages) >= 2)
        firsts = {m.rcpt_tos[0] for m in sink.messages}
        assert firsts == {"dsl@oakpark.sch.uk", "oncall@riverside.org.uk"}  # Oak's own tree; Hillside: the trust's
        # each call names the hold's school, not the trust (mail and the SMS/phone webhook alike)
        bodies = {m.rcpt_tos[0]: message_from_bytes(m.data, policy=policy.default).get_content()
                  for m in sink.messages}
        assert "at Oak Park School:" in bodies["dsl@oakpark.sch.uk"]
        assert "at Hillside Academy:" in bodies["oncall@riverside.org.uk"]
        assert await wait_for(lambda: len(webhook.calls) >= 2)
        calls = {c["json"]["to"]: c["json"] for c in webhook.calls}
        assert (calls["+447700900001"]["school"], calls["+447700900001"]["school_id"]) == ("Oak Park School", "oak")
        assert "at Oak Park School:" in calls["+447700900001"]["text"]
        assert (calls["+447700900009"]["school"], calls["+447700900009"]["school_id"]) == ("Hillside Academy",
                                                                                           "hillside")
        assert "Riverside" not in calls["+447700900009"]["text"]
    finally:
        await gateway.stop(grace=5)


def test_a_schools_escalation_tree_follows_the_trees_rules(tmp_path):
    from config.loader import ConfigError, load_settings

    site = tmp_path / "trust.toml"
    site.write_text(TRUST.read_text().replace('head_addresses = ["head@oakpark.sch.uk"]',
                                              'head_addresses = ["head@oakpark.sch.uk"]\n'
                                              'escalation_contacts = [{ name = "Oak DSL", email = "dsl@oakpark.sch.uk", '
                                              'hours = "mon-fri 08:00-17:00" }]')
                    + '\n[notify]\nfrom_address = "sg@riverside.org.uk"\n[escalation]\nenabled = true\n'
                    'contacts = [{ name = "A", email = "a@riverside.org.uk" }, { name = "B", email = "b@riverside.org.uk" }]\n')
    with pytest.raises(ConfigError) as info:
        load_settings(site)
    assert info.value.problems == [f"{site}: [schools][2].escalation_contacts: the tree needs at least two contacts"]


async def test_notices_name_the_owning_school_not_the_trust(trust_gateway, sink):
    """The pupil's, the sender's, the tutor's and the rate-limit notices sign off with the school
    that owns the mail ([school] name is the trust's here)."""
    from email import message_from_bytes, policy

    gw = await trust_gateway(enabled=True, from_address="schoolgate@riverside.org.uk", sender_notices=True)

    def notice(kind: str) -> tuple[list[str], str]:
        for m in sink.messages:
            msg = message_from_bytes(m.data, policy=policy.default)
            if msg["X-Schoolgate-Notice"] == kind:
                return m.rcpt_tos, msg["Subject"] + "\n" + msg.get_content()
        return [], ""

    await _hold(gw, PARENT, [B_STAFF])  # an outside sender's mail to Valley is held: the sender hears
    assert await wait_for(lambda: notice("sender_external")[0])
    to, text = notice("sender_external")
    assert to == [PARENT] and "Valley Primary" in text and "Riverside" not in text
    # a rate-limited Oak pupil
    assert await gw.gateway.notifier.rate_limit_notice("kid@oakpark.sch.uk", ["over 20 messages an hour"])
    to, text = notice("rate_limit")
    assert to == ["kid@oakpark.sch.uk"] and "Oak Park School" in text and "Riverside" not in text
    # a Hillside tutor's approval list
    raw = make_message("my homework", sender=A_PUPIL, to=PARENT)
    finding = Finding("APPROVAL_REQUIRED", "approval", Category.APPROVAL, Severity.MEDIUM,
                      ("approver: tutor@hillside.sch.uk",), "a tutor approves mail out")
    mid = new_message_id()
    await gw.store.run(lambda: gw.store.add_sync(
        message_id=mid, raw=raw, mail_from=A_PUPIL, from_header=A_PUPIL, subject="hw", direction="outbound",
        sender_role="student", client_ip="127.0.0.1", sha256=hashlib.sha256(raw).hexdigest(), size=len(raw),
        recipients=[(PARENT, "external", "hold")], findings=[finding], failures=[], school_id="hillside"))
    assert await gw.gateway.notifier.send_tutor_digests() == 1
    to, text = notice("approval_tutor")
    assert to == ["tutor@hillside.sch.uk"] and "Hillside Academy" in text and "Riverside" not in text

"""The escalation tree (quarantine/escalation.py) against a local webhook server, with a fake clock.

The SMS/phone service is on the public internet, so a real local HTTP server speaks
its part (JSON POST in, 2xx out, or 503 when told); e-mail goes through the gateway's
next hop (the aiosmtpd sink). The clock is the test's: it is set to 2 a.m. on a
Saturday and moved on minute by minute, and each step's time is printed and asserted.
"""
from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import re
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest

from config.loader import ConfigError
from filters.base import Category, Finding, Severity
from quarantine.escalation import Escalator, escalations, in_hours
from quarantine.store import new_message_id
from quarantine.users import UserStore
from tests.factories import SCHOOL_DOMAIN, make_message, make_settings
from tests.filters.image_fixtures import drawn, encoded, hash_list_for
from tests.quarantine.conftest import PASSWORD, ROLES, csrf_of

LONDON = ZoneInfo("Europe/London")
PUPIL = f"pupil@pupils.{SCHOOL_DOMAIN}"
SECRET = b"webhook-shared-secret"
LISTED_PNG = encoded(drawn(1))


class Webhook:
    """The SMS/phone service: records each POST; `status` is what it answers."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.calls.append({"path": self.path, "json": json.loads(body), "body": body,
                                    "signature": self.headers.get("x-schoolgate-signature", "")})
                self.send_response(outer.status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/send"


@pytest.fixture
def webhook():
    hook = Webhook()
    hook.thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


class FakeClock:
    def __init__(self, moment: datetime) -> None:
        self.now = moment.timestamp()
        self.start = self.now

    def __call__(self) -> float:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += minutes * 60

    def minute(self) -> float:
        return (self.now - self.start) / 60


CONTACTS = [
    {"name": "DSL Ms Khan", "email": f"dsl@{SCHOOL_DOMAIN}", "phone": "+447700900001", "hours": "mon-fri 08:00-17:00"},
    {"name": "Deputy Mr Lee", "email": f"deputy@{SCHOOL_DOMAIN}", "hours": "mon-fri 08:00-17:00"},
    {"name": "On-call SLT", "email": f"oncall@{SCHOOL_DOMAIN}", "phone": "+447700900003", "hours": "always"},
    {"name": "Head", "email": f"head@{SCHOOL_DOMAIN}", "hours": "always"},
]


@pytest.fixture
async def tree(review_gateway, sink, webhook, tmp_path):
    secret = tmp_path / "webhook.secret"
    secret.write_bytes(SECRET + b"\n")
    hashes = tmp_path / "hashes.txt"
    hashes.write_text(hash_list_for(LISTED_PNG))

    async def start(moment: datetime, **escalation):
        gw = await review_gateway(
            filters={"chain": ["images"]}, images={"hash_list": str(hashes), "nudity": False},
            directory={"domain_roles": {f"pupils.{SCHOOL_DOMAIN}": "student", SCHOOL_DOMAIN: "staff"}},
            notify={"enabled": True, "from_address": f"schoolgate@{SCHOOL_DOMAIN}",
                    "dsl_addresses": [f"dsl@{SCHOOL_DOMAIN}"]},
            # check_seconds at its maximum: the test's ticks drive the tree, not the background loop
            escalation={"enabled": True, "webhook_url": webhook.url, "webhook_secret_file": str(secret),
                        "check_seconds": 60, "contacts": CONTACTS, **escalation})
        accounts = UserStore.for_settings(gw.store.engine, gw.settings.web)
        await gw.store.run(lambda: [accounts.add(r, r, PASSWORD, email=f"{r}@{SCHOOL_DOMAIN}") for r in ROLES])
        clock = FakeClock(moment)
        gw.gateway.escalator.clock = clock
        return gw, clock
    return start


def escalation_mail(sink) -> list[tuple[list[str], str]]:
    out = []
    for m in sink.messages:
        msg = email.message_from_bytes(m.data, policy=email.policy.default)
        if msg["X-Schoolgate-Notice"] == "escalation":
            out.append((m.rcpt_tos, msg.get_content()))
    return out


async def send_listed_image(gw) -> str:
    raw = make_message("for you", sender="stranger@example.net", to=PUPIL,
                       attachments=[("IMG_1.png", "image/png", LISTED_PNG)])
    code, text = await gw.send(raw, mail_from="stranger@example.net", rcpt_tos=[PUPIL])
    assert code == 250, text
    return re.search(rb"Ok: (\S+)", text).group(1).decode()


async def wait_state(gw, mid: str, steps: int) -> dict:
    """Until `steps` steps are done (audited: the claim comes before the sending)."""
    import asyncio
    for _ in range(300):
        rows = await gw.store.run(gw.store.audit_sync, mid)
        if sum(1 for r in rows if r["action"] in ("escalation_step", "escalation_failed")) >= steps:
            return await gw.store.run(gw.gateway.escalator.state_sync, mid)
        await asyncio.sleep(0.05)
    raise AssertionError(f"escalation of {mid} did not reach {steps} steps")


async def test_level_5_at_2am_goes_down_the_tree_every_5_minutes_until_acknowledged(tree, webhook, sink) -> None:
    from tests.quarantine.conftest import Review

    saturday_2am = datetime(2026, 11, 28, 2, 0, tzinfo=LONDON)
    gw, clock = await tree(saturday_2am)
    mid = await send_listed_image(gw)
    esc = gw.gateway.escalator
    steps: list[tuple[float, str, tuple[str, ...]]] = []

    # the first step happens as the hold is stored, not at a later tick: minute 0
    await wait_state(gw, mid, 1)
    assert len(webhook.calls) == 1
    first = webhook.calls[0]
    assert first["json"]["to"] == "+447700900003" and first["json"]["level"] == 5  # on-call: the DSL is off at 2am
    assert first["signature"] == "sha256=" + hmac.new(SECRET, first["body"], hashlib.sha256).hexdigest()
    assert "for you" not in first["json"]["text"]  # no content of the message, ever
    steps.append((clock.minute(), "On-call SLT", ("email:ok", "webhook:ok")))

    clock.advance(4)
    assert await esc.tick() == []  # not yet due
    clock.advance(1)
    for result in await esc.tick():  # minute 5: the next contact in hours
        steps.append((clock.minute(), result.contact, result.channels))
    clock.advance(5)
    for result in await esc.tick():  # minute 10: past the end of the tree, round two from the top
        steps.append((clock.minute(), result.contact, result.channels))
    print("\nescalation steps (minutes after the hold, Saturday 02:00 Europe/London):")
    for minute, who, channels in steps:
        print(f"  +{minute:4.1f} min  {who:<12} {', '.join(channels)}")
    assert steps == [(0.0, "On-call SLT", ("email:ok", "webhook:ok")),
                     (5.0, "Head", ("email:ok",)),
                     (10.0, "On-call SLT", ("email:ok", "webhook:ok"))]
    mails = escalation_mail(sink)
    assert [r for r, _ in mails] == [[f"oncall@{SCHOOL_DOMAIN}"], [f"head@{SCHOOL_DOMAIN}"],
                                      [f"oncall@{SCHOOL_DOMAIN}"]]
    assert all("for you" not in body and "/ack/" in body for _, body in mails)

    # the acknowledge link from the SMS: GET only asks (SMS apps preview links), POST acknowledges
    review = Review(gw, sink)
    path = webhook.calls[-1]["json"]["ack_url"].split(str(review.base), 1)[-1]
    path = path[path.index("/ack/"):]
    async with review.client() as client:
        forged = await client.post("/ack/" + "x" * 40)
        assert forged.status_code == 400 and (await gw.store.run(esc.state_sync, mid))["acked_at"] is None
        page = await client.get(path)
        assert page.status_code == 200 and "Acknowledge this safeguarding alert" in page.text
        assert (await gw.store.run(esc.state_sync, mid))["acked_at"] is None
        done = await client.post(path)
        assert done.status_code == 200 and "Acknowledged" in done.text
    state = await gw.store.run(esc.state_sync, mid)
    assert state["acked_by"] == "On-call SLT" and state["ended_at"] is not None
    clock.advance(30)
    assert await esc.tick() == []  # nobody else is called
    audit = [(r["action"], r["reason"]) for r in await gw.store.run(gw.store.audit_sync, mid)]
    assert [a for a in audit if a[0] == "escalation_step"] == [
        ("escalation_step", "step 1: On-call SLT"), ("escalation_step", "step 2: Head"),
        ("escalation_step", "step 3: On-call SLT")]
    assert ("escalation_skipped", "out of hours") in audit
    assert ("escalation_ack", "acknowledged by On-call SLT (acknowledge link)") in audit
    alerts = await gw.store.run(lambda: __import__("quarantine.review_store").review_store.ReviewStore(
        gw.store).alerts_sync(mid))
    assert alerts and all(a["acked_by"] == "On-call SLT" for a in alerts)  # the UI shows it acknowledged


async def test_in_hours_the_dsl_first_a_failed_call_moves_on_and_a_ui_ack_stops_it(tree, webhook, sink) -> None:
    from tests.quarantine.conftest import Review

    tuesday_10am = datetime(2026, 11, 24, 10, 0, tzinfo=LONDON)
    gw, clock = await tree(tuesday_10am)
    webhook.status = 503  # the SMS service is down
    mid = await send_listed_image(gw)
    esc = gw.gateway.escalator
    await wait_state(gw, mid, 1)
    assert webhook.calls[0]["json"]["to"] == "+447700900001"  # the DSL, in hours
    audit = await gw.store.run(gw.store.audit_sync, mid)
    first = [r for r in audit if r["action"] == "escalation_step"][0]
    assert json.loads(first["detail"])["channels"] == ["email:ok", "webhook:failed 503"]
    clock.advance(5)
    assert [(r.contact, r.channels) for r in await esc.tick()] == [("Deputy Mr Lee", ("email:ok",))]
    review = Review(gw, sink)
    dsl = await review.login("dsl")
    page = await dsl.get(f"/m/{mid}")
    reply = await dsl.post(f"/m/{mid}/act", data={"csrf": csrf_of(page.text), "action": "ack"})
    assert reply.status_code == 303
    clock.advance(5)
    assert await esc.tick() == []
    state = await gw.store.run(esc.state_sync, mid)
    assert state["acked_by"] == "dsl" and state["steps"] == 2


async def test_a_restart_resumes_and_two_nodes_send_each_step_once(tree, webhook) -> None:
    gw, clock = await tree(datetime(2026, 11, 28, 2, 0, tzinfo=LONDON))
    mid = await send_listed_image(gw)
    await wait_state(gw, mid, 1)
    old = gw.gateway.escalator
    # "restart": new escalators on the same store, as a new process (or a second node) makes them
    a = Escalator(gw.settings, gw.store, old._send_mail, old.signer, clock=clock)
    b = Escalator(gw.settings, gw.store, old._send_mail, old.signer, clock=clock)
    clock.advance(5)
    import asyncio
    results = await asyncio.gather(a.tick(), b.tick())
    assert sorted(r.contact for rs in results for r in rs) == ["Head"]  # once, the right next contact
    assert len([c for c in webhook.calls]) == 1  # Head has no phone: still the one call of step 1


async def test_a_level_5_hold_without_a_run_is_picked_up_at_start(tree, webhook) -> None:
    gw, clock = await tree(datetime(2026, 11, 28, 2, 0, tzinfo=LONDON))
    raw = make_message("goodbye", to=PUPIL)
    mid = new_message_id()
    finding = Finding("RISK_SELF_HARM", "test", Category.SELF_HARM, Severity.CRITICAL, ("x",), "r", level=5)
    # stored, but the process "died" before the hook ran: no run
    await gw.store.run(lambda: gw.store.add_sync(
        message_id=mid, raw=raw, mail_from="p@example.com", from_header="p@example.com", subject="hi",
        direction="internal", sender_role="student", client_ip="192.0.2.1", sha256="0" * 64, size=len(raw),
        recipients=[(PUPIL, "student", "hold")], findings=[finding], failures=[]))
    old = gw.gateway.escalator
    fresh = Escalator(gw.settings, gw.store, old._send_mail, old.signer, clock=clock)
    assert await gw.store.run(fresh.recover_sync, clock()) == [mid]
    assert await gw.store.run(fresh.recover_sync, clock()) == []  # once
    assert [r.contact for r in await fresh.tick()] == ["On-call SLT"]
    assert webhook.calls[-1]["json"]["message_id"] == mid


async def test_below_min_level_no_tree(tree, webhook) -> None:
    gw, clock = await tree(datetime(2026, 11, 28, 2, 0, tzinfo=LONDON))
    raw = make_message("hey, don't tell your mum", to=PUPIL)
    mid = new_message_id()
    finding = Finding("GROOMING_SECRECY", "test", Category.GROOMING, Severity.HIGH, ("x",), "r", level=3)
    await gw.store.run(lambda: gw.store.add_sync(
        message_id=mid, raw=raw, mail_from="a@example.com", from_header="a@example.com", subject="hi",
        direction="inbound", sender_role="external", client_ip="192.0.2.1", sha256="0" * 64, size=len(raw),
        recipients=[(PUPIL, "student", "hold")], findings=[finding], failures=[]))
    await gw.gateway.escalator.held(mid)
    assert await gw.store.run(gw.gateway.escalator.state_sync, mid) is None and webhook.calls == []


@pytest.mark.parametrize("hours, moment, expected", [
    ("always", datetime(2026, 11, 28, 2, 0), True),
    ("mon-fri 08:00-17:00", datetime(2026, 11, 24, 8, 0), True),
    ("mon-fri 08:00-17:00", datetime(2026, 11, 24, 17, 0), False),
    ("mon-fri 08:00-17:00", datetime(2026, 11, 28, 10, 0), False),  # Saturday
    ("fri 22:00-07:00", datetime(2026, 11, 28, 3, 0), True),  # Friday night runs into Saturday
    ("fri 22:00-07:00", datetime(2026, 11, 27, 3, 0), False),  # Friday early morning is Thursday's night
    ("sat,sun 09:00-12:00; mon 07:00-08:00", datetime(2026, 11, 30, 7, 30), True),
])
def test_hours(hours, moment, expected) -> None:
    from config.schema import EscalationContact
    assert in_hours(EscalationContact(name="x", email="x@school.sch.uk", hours=hours), moment) is expected


@pytest.mark.parametrize("escalation, message", [
    ({"enabled": True, "contacts": CONTACTS[:1]}, "contacts: the tree needs at least two contacts"),
    ({"enabled": True, "contacts": CONTACTS[:2], "webhook_url": "http://x"},
     'contacts: one contact needs hours = "always"'),
    ({"enabled": True, "contacts": CONTACTS}, "webhook_url: contacts have phone numbers"),
    ({"contacts": [{"name": "x", "email": "x@s.uk", "hours": "weekdays"}]}, "hours 'weekdays'"),
    ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
])
def test_config_errors_are_one_line_naming_the_key(escalation, message) -> None:
    with pytest.raises(ConfigError) as err:
        make_settings(filters={"chain": []}, escalation=escalation)
    lines = str(err.value).splitlines()
    assert len(lines) == 1 and "[escalation]" in lines[0] and message in lines[0], lines

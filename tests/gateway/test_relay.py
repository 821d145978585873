"""Delivery to the next hop over loopback: the null sender, SMTPUTF8, partial refusals, TLS."""
from __future__ import annotations

import asyncio
import smtplib
import subprocess

import pytest

from gateway.relay import NextHop
from quarantine.review import ReleaseError, release_from_store
from tests.conftest import free_port
from tests.factories import SCHOOL_DOMAIN, make_message

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64
BOB, CAROL, DAVE = (f"{n}@{SCHOOL_DOMAIN}" for n in ("bob", "carol", "dave"))


def _bounce() -> bytes:
    return make_message("This is the mail system. Your message could not be delivered.",
                        subject="Undelivered Mail Returned to Sender",
                        sender=f"MAILER-DAEMON@{SCHOOL_DOMAIN}")


def _send_utf8(port: int, mail_from: str, rcpts: list[str], raw: bytes) -> tuple[int, bytes]:
    """smtplib with MAIL ... SMTPUTF8 (RFC 6531): the DATA reply or the first refusal."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.test")
        assert client.has_extn("smtputf8")
        code, text = client.mail(mail_from, ["SMTPUTF8", "BODY=8BITMIME"])
        if code != 250:
            return code, text
        for rcpt in rcpts:
            code, text = client.rcpt(rcpt)
            if code != 250:
                return code, text
        return client.data(raw.replace(b"\n", b"\r\n"))


def _utf8_message(to: str) -> bytes:
    return (f"From: José <josé@example.org>\nTo: {to}\nSubject: Café trip — thank you\n"
            f"Message-ID: <utf8@example.org>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
            f"Content-Transfer-Encoding: 8bit\n\nMerci beaucoup, the café visit was très bien.\n").encode("utf-8")


# --- the null sender (issue 16 item 1) ------------------------------------------------------

async def test_null_sender_bounce_is_delivered(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address)
    code, text = await gw.send(_bounce(), "", [BOB])
    assert code == 250, text
    [delivered] = sink.messages
    assert delivered.mail_from in ("", "<>") and delivered.rcpt_tos == [BOB]


async def test_null_sender_with_swaks(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address)
    proc = await asyncio.create_subprocess_exec(
        "swaks", "--server", f"127.0.0.1:{gw.port}", "--from", "<>", "--to", BOB,
        "--header", "Subject: Delivery Status Notification", "--body", "Your message was delivered.",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    assert b"<-  250 2.0.0 Ok" in out
    [delivered] = sink.messages
    assert delivered.mail_from in ("", "<>")


async def test_null_sender_held_then_released(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address)
    raw = make_message("Returned mail", subject="Undelivered Mail", sender=f"MAILER-DAEMON@{SCHOOL_DOMAIN}",
                       attachments=[("invoice.pdf.exe", "application/pdf", EXE)])
    code, text = await gw.send(raw, "", [BOB])
    assert code == 250, text
    assert sink.messages == []
    [held] = await gw.store.run(gw.store.list_sync)
    assert held.status == "held" and held.mail_from in ("", "<>")
    result = await release_from_store(gw.store, gw.gateway.next_hop, held.id, recipients=None,
                                      actor="test", reason="a real bounce")
    assert result["recipients"] == [BOB]
    [delivered] = sink.messages
    assert delivered.mail_from in ("", "<>")
    after = await gw.store.get(held.id)
    assert after.status == "released" and after.recipients[BOB]["status"] == "released"


async def test_failed_release_never_leaves_releasing(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address)
    raw = make_message("x", attachments=[("invoice.pdf.exe", "application/pdf", EXE)])
    assert (await gw.send(raw, "", [BOB]))[0] == 250
    [held] = await gw.store.run(gw.store.list_sync)
    sink.handler.data_reply = "451 4.3.0 try later"
    with pytest.raises(ReleaseError, match="still held"):
        await release_from_store(gw.store, gw.gateway.next_hop, held.id, recipients=None, actor="t", reason="r")
    assert (await gw.store.get(held.id)).recipients[BOB]["status"] == "held"
    # the stored file gone (disk trouble): an error, and still not stranded in 'releasing'
    (gw.store.root / held.path).unlink()
    sink.handler.data_reply = None
    with pytest.raises(ReleaseError, match="still held"):
        await release_from_store(gw.store, gw.gateway.next_hop, held.id, recipients=None, actor="t", reason="r")
    assert (await gw.store.get(held.id)).recipients[BOB]["status"] == "held"
    audit = await gw.store.run(gw.store.audit_sync, held.id)
    assert [a["action"] for a in audit].count("release_failed") == 2


MIXED_POLICY = {"rules": [
    {"code": "ATTACHMENT_DOUBLE_EXTENSION", "recipient_roles": ["student"], "action": "hold"},
    {"code": "ATTACHMENT_DOUBLE_EXTENSION", "recipient_roles": ["staff"], "action": "tag"},
]}
ROLES = {"domain_roles": {f"pupils.{SCHOOL_DOMAIN}": "student", SCHOOL_DOMAIN: "staff"}}
PUPIL = f"pat@pupils.{SCHOOL_DOMAIN}"


async def test_held_and_delivered_copy_leaves_no_orphan_hold_per_retry(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address, policy=MIXED_POLICY, directory=ROLES)
    raw = make_message("see attached", attachments=[("invoice.pdf.exe", "application/pdf", EXE)])
    sink.handler.data_reply = "451 4.3.0 busy"
    for _ in range(3):  # the client's retries while the next hop is busy
        code, _ = await gw.send(raw, "", [PUPIL, BOB])
        assert code == 451
    assert await gw.store.run(gw.store.list_sync) == []
    sink.handler.data_reply = None
    code, text = await gw.send(raw, "", [PUPIL, BOB])
    assert code == 250, text
    [held] = await gw.store.run(gw.store.list_sync)
    assert list(held.recipients) == [PUPIL]
    [delivered] = sink.messages
    assert delivered.rcpt_tos == [BOB] and b"X-Schoolgate-Findings: ATTACHMENT_DOUBLE_EXTENSION" in delivered.data


# --- SMTPUTF8 (issue 16 item 2, relay side) ------------------------------------------------------

async def test_smtputf8_sender_and_recipient_delivered(make_gateway, make_sink):
    hop = make_sink(smtputf8=True)
    gw = await make_gateway(next_hop=hop.address)
    rcpt = f"zoë@{SCHOOL_DOMAIN}"
    code, text = await asyncio.to_thread(_send_utf8, gw.port, "josé@example.org", [rcpt], _utf8_message(rcpt))
    assert code == 250, text
    [delivered] = hop.messages
    assert delivered.mail_from == "josé@example.org" and delivered.rcpt_tos == [rcpt]
    assert "très bien".encode() in delivered.data and "Café trip".encode() in delivered.data


async def test_smtputf8_to_a_next_hop_without_it_is_a_clear_5xx(make_gateway, make_sink):
    hop = make_sink(smtputf8=False)
    gw = await make_gateway(next_hop=hop.address)
    code, text = await asyncio.to_thread(_send_utf8, gw.port, "josé@example.org", [BOB], _utf8_message(BOB))
    # refused at MAIL/RCPT by the server when it knows the next hop lacks SMTPUTF8, else by the relay
    assert code == 553 and b"5.6.7" in text, text
    assert hop.messages == []


async def test_ascii_envelope_with_8bit_body_to_a_next_hop_without_smtputf8(make_gateway, make_sink):
    hop = make_sink(smtputf8=False)
    gw = await make_gateway(next_hop=hop.address)
    code, text = await asyncio.to_thread(_send_utf8, gw.port, "jose@example.org", [BOB], _utf8_message(BOB))
    assert code == 250, text
    [delivered] = hop.messages
    assert "très bien".encode() in delivered.data


# --- one refused recipient (issue 16 item 6, delivery side) -------------------------------------

async def test_one_refused_recipient_is_kept_the_others_delivered(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address)
    sink.handler.rcpt_reply[CAROL] = "550 5.1.1 no such user here"
    code, text = await gw.send(make_message("Parents evening is on Thursday"), "head@example.com",
                               [BOB, CAROL, DAVE])
    assert code == 250, text
    [delivered] = sink.messages
    assert delivered.rcpt_tos == [BOB, DAVE]  # each accepted recipient exactly once
    [kept] = await gw.store.run(gw.store.list_sync)
    assert kept.status == "held" and list(kept.recipients) == [CAROL]
    assert "NEXT_HOP_REFUSED_RECIPIENT" in kept.codes
    finding = next(f for f in kept.findings if f.code == "NEXT_HOP_REFUSED_RECIPIENT")
    assert any("550 5.1.1 no such user here" in e for e in finding.evidence)
    assert (gw.store.root / kept.path).read_bytes() == delivered.data  # the copy Carol would have had
    # once the mailbox exists, a reviewer releases it: Carol gets it, nobody else twice
    sink.handler.rcpt_reply.clear()
    result = await release_from_store(gw.store, gw.gateway.next_hop, kept.id, recipients=None,
                                      actor="reviewer", reason="mailbox created")
    assert result["recipients"] == [CAROL]
    assert [m.rcpt_tos for m in sink.messages] == [[BOB, DAVE], [CAROL]]


async def test_every_recipient_refused_is_the_next_hops_answer(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address)
    sink.handler.rcpt_reply[BOB] = "550 5.1.1 no such user"
    sink.handler.rcpt_reply[CAROL] = "450 4.2.1 mailbox busy"
    code, text = await gw.send(make_message("hello"), "a@example.com", [BOB, CAROL])
    assert code == 450, text  # a temporary refusal: the retry may succeed for both
    assert sink.messages == [] and await gw.store.run(gw.store.list_sync) == []


async def test_release_to_one_refused_recipient_keeps_it_held(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address)
    raw = make_message("x", attachments=[("invoice.pdf.exe", "application/pdf", EXE)])
    assert (await gw.send(raw, "a@example.com", [BOB, CAROL]))[0] == 250
    [held] = await gw.store.run(gw.store.list_sync)
    sink.handler.rcpt_reply[CAROL] = "550 5.1.1 left the school"
    result = await release_from_store(gw.store, gw.gateway.next_hop, held.id, recipients=None,
                                      actor="t", reason="r")
    assert result["recipients"] == [BOB] and "5.1.1" in result["still_held"][CAROL]
    after = await gw.store.get(held.id)
    assert after.recipients[BOB]["status"] == "released" and after.recipients[CAROL]["status"] == "held"
    assert after.status == "partially_released"


# --- next-hop TLS (issue 15 item 5) ----------------------------------------------------------------

async def test_tls_verified_with_the_ca_file(make_gateway, make_sink, tls_material):
    hop = make_sink(tls_context=tls_material.server_context)
    gw = await make_gateway(next_hop=hop.address, gateway={"next_hop_tls": "required",
                                                           "next_hop_ca_file": str(tls_material.ca_file)})
    code, text = await gw.send(make_message("over TLS"))
    assert code == 250, text
    [delivered] = hop.messages
    assert b"over TLS" in delivered.data


@pytest.mark.parametrize("mode", ["required", "opportunistic", "starttls"])
async def test_untrusted_certificate_is_a_4xx_never_plain_text(make_gateway, make_sink, tls_material, mode,
                                                               caplog):
    hop = make_sink(tls_context=tls_material.server_context)
    gw = await make_gateway(next_hop=hop.address, gateway={"next_hop_tls": mode,
                                                           "next_hop_ca_file": str(tls_material.other_ca_file)})
    code, text = await gw.send(make_message("secret"))
    assert code == 451 and b"4.7.5" in text and b"certificate" in text, text
    assert hop.messages == []
    assert any("certificate not trusted" in r.getMessage() and "next_hop" in r.getMessage()
               for r in caplog.records)


async def test_system_cas_do_not_trust_a_private_ca(make_gateway, make_sink, tls_material):
    hop = make_sink(tls_context=tls_material.server_context)
    gw = await make_gateway(next_hop=hop.address, gateway={"next_hop_tls": "opportunistic"})
    code, text = await gw.send(make_message("secret"))
    assert code == 451 and b"certificate" in text, text


async def test_required_tls_without_starttls_is_a_4xx(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address, gateway={"next_hop_tls": "required"})
    code, text = await gw.send(make_message("secret"))
    assert code == 451 and b"4.7.5" in text and b"STARTTLS" in text, text
    assert sink.messages == []


async def test_opportunistic_without_starttls_sends_plain(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address, gateway={"next_hop_tls": "opportunistic"})
    assert (await gw.send(make_message("hello")))[0] == 250
    assert len(sink.messages) == 1


async def test_tls_none_ignores_the_certificate(make_gateway, make_sink, tls_material):
    hop = make_sink(tls_context=tls_material.server_context)
    gw = await make_gateway(next_hop=hop.address, gateway={"next_hop_tls": "none"})
    assert (await gw.send(make_message("hello")))[0] == 250


async def test_probe_of_a_refusing_port_names_the_route():
    hop = NextHop("127.0.0.1", free_port(), name="outbound_next_hop")
    with pytest.raises(Exception, match="outbound_next_hop 127.0.0.1"):
        await hop.probe()
    assert hop.last_error is not None and hop.last_ok is None


def test_data_payload_is_what_aiosmtplib_would_send():
    """gateway.relay.data_payload skips aiosmtplib's two regexes for a message whose lines all
    end in CRLF: the same bytes as its normalize_message_line_endings + dot doubling + ".",
    on random messages (dots at line starts, a missing last CRLF); None when a CR or LF is bare."""
    import random

    from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

    from gateway.relay import data_payload

    rng = random.Random(19)
    pieces = [b"a", b"word ", b".", b"..", b"\r\n", b"\r\n", b"\r\n.", b"\r", b"\n", b"\xc3\xa9"]
    fast = 0
    for _ in range(5000):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 40)))
        expected = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(data)) + b".\r\n"
        got = data_payload(data)
        if got is None:
            assert data.replace(b"\r\n", b"").count(b"\r") + data.replace(b"\r\n", b"").count(b"\n") > 0
        else:
            fast += 1
            assert got == expected, data
    assert fast > 500  # both paths were taken


@pytest.mark.parametrize("raw", [
    b"Subject: dots\r\n\r\n.\r\n..\r\n.leading dot\r\nlast line without CRLF",
    b".Subject-less first line\r\n\r\nbody\r\n",
    b"Subject: bare\r\n\r\nbare LF\nand bare CR\rend\r\n.\r\n",  # aiosmtplib's own path
])
async def test_next_hop_receives_the_message_as_aiosmtplib_delivers_it(sink, raw):
    from aiosmtplib.protocol import normalize_message_line_endings

    hop = NextHop("127.0.0.1", sink.port, tls="none")
    try:
        result = await hop.deliver("a@example.com", [BOB], raw)
        assert result.ok and result.code == 250, result
        [got] = sink.messages
        assert got.data == normalize_message_line_endings(raw)
        # and a second message on the same pooled connection
        assert (await hop.deliver("a@example.com", [BOB], raw)).ok
        assert len(sink.messages) == 2
    finally:
        await hop.close()

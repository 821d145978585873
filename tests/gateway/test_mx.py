"""What a real MX must take and refuse (issue 16): long lines, malformed and non-ASCII
addresses at MAIL/RCPT, source routes, the DATA deadlines, RCPT-time recipient checks,
and direction from the client's trust. Real clients over loopback, a real next hop."""
from __future__ import annotations

import asyncio
import smtplib
import socket
import time

import pytest

from tests.factories import SCHOOL_DOMAIN, make_message, write_directory

UNTRUSTED = {"trusted_networks": ["192.0.2.0/24"]}  # loopback is then an outside client
PUPIL = f"pupil@{SCHOOL_DOMAIN}"
TEACHER = f"teacher@{SCHOOL_DOMAIN}"


class Wire:
    """A bare SMTP client on a socket: sends exactly the bytes given (NUL, bad UTF-8 ...)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.file = self.sock.makefile("rwb")
        self.reply()

    def reply(self) -> bytes:
        lines = []
        while True:
            line = self.file.readline()
            lines.append(line)
            if not line or line[3:4] != b"-":
                return b"".join(lines)

    def cmd(self, line: bytes) -> bytes:
        self.file.write(line + b"\r\n")
        self.file.flush()
        return self.reply()

    def close(self) -> None:
        self.sock.close()


def wire_session(port: int, commands: list[bytes]) -> list[bytes]:
    wire = Wire(port)
    try:
        wire.cmd(b"EHLO client.test")
        return [wire.cmd(c) for c in commands]
    finally:
        wire.close()


async def wire(port: int, *commands: bytes) -> list[bytes]:
    return await asyncio.to_thread(wire_session, port, list(commands))


def _send(port: int, mail_from: str, rcpts: list[str], raw: bytes, **kw) -> dict:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        return client.sendmail(mail_from, rcpts, raw, **kw)


async def send(port: int, mail_from: str, rcpts: list[str], raw: bytes, **kw) -> dict:
    return await asyncio.to_thread(_send, port, mail_from, rcpts, raw, **kw)


def crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# --- long lines (item 3) ---------------------------------------------------------------------
async def test_100k_character_lines_in_header_and_body_are_delivered_intact(make_gateway, mx_sink):
    gw = await make_gateway(next_hop=mx_sink.address)
    header_line = b"X-Tracking: " + b"h" * 100_000
    body_line = b"<p>" + b"newsletter " * 9_100 + b"</p>"
    assert len(body_line) > 100_000
    raw = (b"From: news@example.org\r\nTo: bob@school.sch.uk\r\nSubject: News\r\n" + header_line
           + b"\r\nContent-Type: text/html\r\n\r\n" + body_line + b"\r\nend\r\n")
    refused = await send(gw.port, "news@example.org", [f"bob@{SCHOOL_DOMAIN}"], raw)
    assert refused == {}
    [delivered] = mx_sink.messages
    assert delivered.data.endswith(raw)  # byte for byte: no line split, no folding
    assert header_line + b"\r\n" in delivered.data and body_line + b"\r\n" in delivered.data


async def test_a_line_beyond_max_line_length_gets_552(make_gateway, mx_sink):
    gw = await make_gateway(next_hop=mx_sink.address, gateway={"max_line_length": 5_000})
    raw = b"Subject: x\r\n\r\n" + b"y" * 6_000 + b"\r\n"
    with pytest.raises(smtplib.SMTPDataError) as info:
        await send(gw.port, "a@example.org", [f"bob@{SCHOOL_DOMAIN}"], raw)
    assert info.value.smtp_code == 552 and b"5.3.4" in info.value.smtp_error
    assert mx_sink.messages == []
    # 4,000 octets is within the limit (and beyond RFC 5322's 998)
    await send(gw.port, "a@example.org", [f"bob@{SCHOOL_DOMAIN}"], b"Subject: x\r\n\r\n" + b"y" * 4_000 + b"\r\n")
    assert len(mx_sink.messages) == 1


# --- malformed and non-ASCII addresses at MAIL/RCPT (item 2) ---------------------------------
@pytest.mark.parametrize("command,code,enhanced", [
    (b"MAIL FROM:<a\x00b@example.org>", b"501", b"5.1.7"),
    (b"MAIL FROM:<jos\xe9@example.org> SMTPUTF8", b"501", b"5.1.7"),  # Latin-1, not UTF-8
    (b"MAIL FROM:<jos\xc3\xa9@example.org>", b"553", b"5.6.7"),  # UTF-8 without SMTPUTF8
    (b"MAIL FROM:<a@example..org>", b"501", b"5.1.7"),  # aiosmtpd's own parser refuses it first
    (b"MAIL FROM:<a@b@example.org>", b"501", b"5.1.7"),
    (b"MAIL FROM:<a@-bad.example.org>", b"501", b"5.1.7"),
])
async def test_bad_sender_address_refused_at_mail(make_gateway, mx_sink, command, code, enhanced):
    gw = await make_gateway(next_hop=mx_sink.address)
    [reply] = await wire(gw.port, command)
    assert reply[:3] == code and enhanced in reply, reply


@pytest.mark.parametrize("command,code,enhanced", [
    (b"RCPT TO:<bob\x00@school.sch.uk>", b"501", b"5.1.3"),
    (b"RCPT TO:<b\xffob@school.sch.uk>", b"501", b"5.1.3"),
    (b"RCPT TO:<b\xc3\xb6b@school.sch.uk>", b"553", b"5.6.7"),  # the MAIL had no SMTPUTF8
    (b"RCPT TO:<bob>", b"501", b"5.1.3"),
    (b"RCPT TO:<bob@example..org>", b"501", b"5.1.3"),  # aiosmtpd's parser: its 553 reworded
])
async def test_bad_recipient_address_refused_at_rcpt(make_gateway, mx_sink, command, code, enhanced):
    gw = await make_gateway(next_hop=mx_sink.address)
    mail, reply = await wire(gw.port, b"MAIL FROM:<a@example.org>", command)
    assert mail.startswith(b"250")
    assert reply[:3] == code and enhanced in reply, reply


async def test_non_ascii_addresses_refused_at_mail_and_rcpt_when_next_hop_lacks_smtputf8(make_gateway, mx_sink):
    gw = await make_gateway(next_hop=mx_sink.address)  # the sink does not offer SMTPUTF8
    [mail] = await wire(gw.port, "MAIL FROM:<josé@example.org> SMTPUTF8".encode())
    assert mail.startswith(b"553") and b"5.6.7" in mail, mail
    mail, rcpt = await wire(gw.port, b"MAIL FROM:<jose@example.org> SMTPUTF8",
                            f"RCPT TO:<zoë@{SCHOOL_DOMAIN}>".encode())
    assert mail.startswith(b"250") and rcpt.startswith(b"553") and b"5.6.7" in rcpt, rcpt


async def test_non_ascii_addresses_accepted_at_mail_and_rcpt_when_next_hop_offers_smtputf8(
        make_gateway, utf8_mx_sink):
    gw = await make_gateway(next_hop=utf8_mx_sink.address)
    mail, rcpt = await wire(gw.port, "MAIL FROM:<josé@example.org> SMTPUTF8".encode(),
                            f"RCPT TO:<zoë@{SCHOOL_DOMAIN}>".encode())
    assert mail.startswith(b"250") and rcpt.startswith(b"250"), (mail, rcpt)


async def test_null_sender_still_accepted_at_mail(make_gateway, mx_sink):
    gw = await make_gateway(next_hop=mx_sink.address)
    mail, rcpt = await wire(gw.port, b"MAIL FROM:<>", f"RCPT TO:<bob@{SCHOOL_DOMAIN}>".encode())
    assert mail.startswith(b"250") and rcpt.startswith(b"250")


# --- percent hack, bang paths, quoted local parts (item 9) ------------------------------------
@pytest.mark.parametrize("rcpt", [f"user%elsewhere.example@{SCHOOL_DOMAIN}", f"elsewhere.example!user@{SCHOOL_DOMAIN}"])
async def test_source_routed_recipients_refused_from_outside(make_gateway, mx_sink, rcpt):
    gw = await make_gateway(next_hop=mx_sink.address, gateway=UNTRUSTED)
    _, reply = await wire(gw.port, b"MAIL FROM:<a@example.org>", f"RCPT TO:<{rcpt}>".encode())
    assert reply.startswith(b"553 5.1.3"), reply
    assert mx_sink.handler.rcpts_seen == []  # refused before any probe


async def test_source_routed_recipient_passed_on_exactly_from_trusted_client(make_gateway, mx_sink):
    gw = await make_gateway(next_hop=mx_sink.address)
    rcpt = f"user%dept@{SCHOOL_DOMAIN}"
    assert await send(gw.port, f"head@{SCHOOL_DOMAIN}", [rcpt], b"Subject: x\r\n\r\nhi\r\n") == {}
    assert mx_sink.messages[0].rcpt_tos == [rcpt]


async def test_quoted_local_part_accepted_and_passed_on_exactly(make_gateway, mx_sink):
    gw = await make_gateway(next_hop=mx_sink.address, gateway=UNTRUSTED)
    rcpt = f'"john smith%x"@{SCHOOL_DOMAIN}'
    assert await send(gw.port, "parent@example.org", [rcpt], b"Subject: x\r\n\r\nhi\r\n") == {}
    [delivered] = mx_sink.messages
    assert delivered.rcpt_tos == [rcpt]


# --- the DATA deadlines (item 5) ------------------------------------------------------------
async def test_slow_next_hop_is_never_turned_into_421(make_gateway, mx_sink, caplog):
    # Before: command_timeout also bounded scan + delivery; the client got 421 at 1 s,
    # the next hop accepted at 2.5 s, and the client's retry made a duplicate.
    mx_sink.handler.data_delay = 2.5
    gw = await make_gateway(next_hop=mx_sink.address, gateway={"command_timeout": 1})
    started = time.monotonic()
    assert await send(gw.port, "a@example.org", [f"bob@{SCHOOL_DOMAIN}"], crlf(make_message("slow"))) == {}
    assert time.monotonic() - started >= 2.5
    assert len(mx_sink.messages) == 1
    assert any("delivery took" in r.getMessage() for r in caplog.records)


def _stalled_upload(port: int) -> tuple[bytes, float]:
    wire = Wire(port)
    try:
        wire.cmd(b"EHLO client.test")
        wire.cmd(b"MAIL FROM:<a@example.org>")
        wire.cmd(f"RCPT TO:<bob@{SCHOOL_DOMAIN}>".encode())
        assert wire.cmd(b"DATA").startswith(b"354")
        started = time.monotonic()
        for _ in range(4):  # trickles within the idle timer but never ends the message
            wire.file.write(b"X-Slow: still coming\r\n")
            wire.file.flush()
            time.sleep(0.4)
        return wire.reply(), time.monotonic() - started
    finally:
        wire.close()


async def test_upload_has_its_own_data_timeout(make_gateway, mx_sink):
    gw = await make_gateway(next_hop=mx_sink.address, gateway={"data_timeout": 1, "command_timeout": 30})
    reply, seconds = await asyncio.to_thread(_stalled_upload, gw.port)
    assert reply.startswith(b"421 4.4.2") and b"DATA" in reply, reply
    assert seconds < 10
    assert mx_sink.messages == []


async def test_data_timeout_counts_the_upload_only(make_gateway, mx_sink):
    # a next hop slower than data_timeout: the upload finished in time, so 250
    mx_sink.handler.data_delay = 1.5
    gw = await make_gateway(next_hop=mx_sink.address, gateway={"data_timeout": 1})
    assert await send(gw.port, "a@example.org", [f"bob@{SCHOOL_DOMAIN}"], crlf(make_message("ok"))) == {}
    assert len(mx_sink.messages) == 1


@pytest.fixture
def silent_dns():
    """A real UDP DNS port (loopback, port 0) that receives queries and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


async def test_a_scan_past_scan_timeout_is_451_before_anything_is_delivered(make_gateway, mx_sink, silent_dns):
    chain = ["attachments", "authentication"]
    gw = await make_gateway(
        next_hop=mx_sink.address, gateway={**UNTRUSTED, "scan_timeout": 1},
        filters={"chain": chain},
        authentication={"nameservers": [silent_dns], "dns_timeout": 3, "dns_budget": 4, "timeout": 30})
    started = time.monotonic()
    with pytest.raises(smtplib.SMTPDataError) as info:
        await send(gw.port, "a@example.org", [f"bob@{SCHOOL_DOMAIN}"], crlf(make_message("dns is slow")))
    assert info.value.smtp_code == 451 and b"4.7.1" in info.value.smtp_error
    assert time.monotonic() - started < 3
    assert mx_sink.messages == []


# --- recipients checked at RCPT time (item 6) -----------------------------------------------
async def test_unknown_recipient_gets_its_own_550_and_the_rest_are_delivered(make_gateway, mx_sink):
    mx_sink.handler.rcpt_reply[f"left@{SCHOOL_DOMAIN}"] = "550 5.1.1 no such user"
    gw = await make_gateway(next_hop=mx_sink.address, gateway=UNTRUSTED)
    rcpts = [f"bob@{SCHOOL_DOMAIN}", f"left@{SCHOOL_DOMAIN}", f"amy@{SCHOOL_DOMAIN}"]
    refused = await send(gw.port, "parent@example.org", rcpts, crlf(make_message("hello")))
    assert list(refused) == [f"left@{SCHOOL_DOMAIN}"]
    code, text = refused[f"left@{SCHOOL_DOMAIN}"]
    assert code == 550 and b"5.1.1" in text
    [delivered] = mx_sink.messages
    assert delivered.rcpt_tos == [f"bob@{SCHOOL_DOMAIN}", f"amy@{SCHOOL_DOMAIN}"]
    assert "<>" in mx_sink.handler.mails_seen  # the probe's null sender


async def test_probe_results_are_cached(make_gateway, mx_sink):
    mx_sink.handler.rcpt_reply[f"left@{SCHOOL_DOMAIN}"] = "550 5.1.1 no such user"
    gw = await make_gateway(next_hop=mx_sink.address, gateway=UNTRUSTED)
    for _ in range(3):
        await send(gw.port, "parent@example.org", [f"bob@{SCHOOL_DOMAIN}", f"left@{SCHOOL_DOMAIN}"],
                   crlf(make_message("again")))
    # each address probed once; then only bob's three deliveries reach the next hop
    assert mx_sink.handler.rcpts_seen.count(f"left@{SCHOOL_DOMAIN}") == 1
    assert mx_sink.handler.rcpts_seen.count(f"bob@{SCHOOL_DOMAIN}") == 1 + 3
    assert gw.gateway.handler.recipient_check.probes == 2


async def test_negative_cache_expires(make_gateway, mx_sink):
    mx_sink.handler.rcpt_reply[f"new.pupil@{SCHOOL_DOMAIN}"] = "550 5.1.1 no such user"
    gw = await make_gateway(next_hop=mx_sink.address, gateway={**UNTRUSTED, "verify_negative_ttl": 0.5})
    _, first = await wire(gw.port, b"MAIL FROM:<a@example.org>", f"RCPT TO:<new.pupil@{SCHOOL_DOMAIN}>".encode())
    assert first.startswith(b"550 5.1.1")
    del mx_sink.handler.rcpt_reply[f"new.pupil@{SCHOOL_DOMAIN}"]  # the account is created
    await asyncio.sleep(0.6)
    _, second = await wire(gw.port, b"MAIL FROM:<a@example.org>", f"RCPT TO:<new.pupil@{SCHOOL_DOMAIN}>".encode())
    assert second.startswith(b"250"), second


async def test_temporary_probe_answer_defers_the_recipient(make_gateway, mx_sink):
    mx_sink.handler.rcpt_reply[f"busy@{SCHOOL_DOMAIN}"] = "451 4.3.0 directory busy"
    gw = await make_gateway(next_hop=mx_sink.address, gateway=UNTRUSTED)
    _, reply = await wire(gw.port, b"MAIL FROM:<a@example.org>", f"RCPT TO:<busy@{SCHOOL_DOMAIN}>".encode())
    assert reply.startswith(b"450 4.1.1"), reply


async def test_unreachable_next_hop_defers_or_accepts_per_tempfail_action(make_gateway):
    from tests.conftest import free_port
    dead = f"127.0.0.1:{free_port()}"
    gw = await make_gateway(next_hop=dead, gateway=UNTRUSTED)
    _, reply = await wire(gw.port, b"MAIL FROM:<a@example.org>", f"RCPT TO:<bob@{SCHOOL_DOMAIN}>".encode())
    assert reply.startswith(b"450 4.1.1"), reply
    gw = await make_gateway(next_hop=dead, gateway={**UNTRUSTED, "verify_tempfail_action": "accept"})
    _, reply = await wire(gw.port, b"MAIL FROM:<a@example.org>", f"RCPT TO:<bob@{SCHOOL_DOMAIN}>".encode())
    assert reply.startswith(b"250"), reply


async def test_trusted_clients_and_verify_off_are_not_probed(make_gateway, mx_sink):
    gw = await make_gateway(next_hop=mx_sink.address)  # loopback trusted
    await send(gw.port, f"head@{SCHOOL_DOMAIN}", [f"bob@{SCHOOL_DOMAIN}"], crlf(make_message("x")))
    gw2 = await make_gateway(next_hop=mx_sink.address, gateway={**UNTRUSTED, "verify_recipients": False})
    await send(gw2.port, "a@example.org", [f"bob@{SCHOOL_DOMAIN}"], crlf(make_message("y")))
    assert mx_sink.handler.mails_seen.count("<>") == 0 and len(mx_sink.messages) == 2


# --- direction from trust (item 7) -----------------------------------------------------------
async def test_forged_school_sender_from_outside_is_inbound_held_for_pupils_tagged_for_staff(
        make_gateway, mx_sink, tmp_path):
    csv = write_directory(tmp_path / "dir.csv", [(TEACHER, "staff", "Tess Teacher", ""),
                                                 (PUPIL, "student", "Pip Pupil", ""),
                                                 (f"head@{SCHOOL_DOMAIN}", "staff", "Hal Head", "")])
    gw = await make_gateway(next_hop=mx_sink.address, gateway=UNTRUSTED, directory={"csv": str(csv)})
    raw = crlf(make_message("Please send me your home address", sender=f"head@{SCHOOL_DOMAIN}",
                            to=f"{PUPIL}, {TEACHER}"))
    assert await send(gw.port, f"head@{SCHOOL_DOMAIN}", [PUPIL, TEACHER], raw) == {}
    [delivered] = mx_sink.messages
    assert delivered.rcpt_tos == [TEACHER]
    assert b"X-Schoolgate-Findings: SPOOFED_SCHOOL_SENDER" in delivered.data
    [held] = await gw.store.run(gw.store.list_sync)
    assert list(held.recipients) == [PUPIL] and "SPOOFED_SCHOOL_SENDER" in held.codes
    assert held.direction == "inbound"


async def test_school_sender_from_trusted_network_is_internal_without_finding(make_gateway, mx_sink, tmp_path):
    csv = write_directory(tmp_path / "dir.csv", [(TEACHER, "staff", "Tess Teacher", ""),
                                                 (PUPIL, "student", "Pip Pupil", "")])
    gw = await make_gateway(next_hop=mx_sink.address, directory={"csv": str(csv)})
    raw = crlf(make_message("Homework is on the portal", sender=TEACHER, to=PUPIL))
    assert await send(gw.port, TEACHER, [PUPIL], raw) == {}
    [delivered] = mx_sink.messages
    assert b"X-Schoolgate-Findings" not in delivered.data
    assert await gw.store.run(gw.store.list_sync) == []


# --- sender authentication in the shipped chain (DKIM/SPF/DMARC over a loopback DNS) ---------
@pytest.fixture
def dns_server():
    from tests.dns_server import DnsServer

    server = DnsServer().start()
    yield server
    server.stop()


async def test_shipped_chain_checks_spf_against_dns_and_tags_a_fail(make_gateway, mx_sink, dns_server):
    dns_server.set({("example.org", "TXT"): ["v=spf1 ip4:192.0.2.1 -all"],
                    ("_dmarc.example.org", "TXT"): ["v=DMARC1; p=none"]})
    gw = await make_gateway(next_hop=mx_sink.address, gateway=UNTRUSTED,
                            authentication={"nameservers": [dns_server.address]})
    assert "authentication" in gw.gateway.settings.filters.chain
    raw = crlf(make_message("Newsletter", sender="news@example.org"))
    assert await send(gw.port, "news@example.org", [TEACHER], raw) == {}
    [delivered] = mx_sink.messages
    head = delivered.data.split(b"\r\n\r\n", 1)[0]
    assert b"SPF_FAIL" in head and b"DMARC_FAIL" in head
    assert b"Authentication-Results: schoolgate.local;" in head and b"spf=fail" in head
    assert ("example.org", "TXT") in dns_server.queries


async def test_dns_down_tags_inbound_mail_instead_of_tempfailing_it(make_gateway, mx_sink, silent_dns):
    # CI and a school with a broken resolver: no DNS answers at all
    gw = await make_gateway(next_hop=mx_sink.address, gateway=UNTRUSTED,
                            authentication={"nameservers": [silent_dns], "dns_timeout": 0.5, "dns_budget": 1})
    started = time.monotonic()
    for n in range(4):
        raw = crlf(make_message(f"Parents' evening {n}", sender="parent@example.org"))
        assert await send(gw.port, "parent@example.org", [TEACHER], raw) == {}
    # two messages wait for DNS (bounded); then the resolver is marked down and the rest do not
    assert time.monotonic() - started < 8
    assert len(mx_sink.messages) == 4
    for message in mx_sink.messages:
        head = message.data.split(b"\r\n\r\n", 1)[0]
        assert b"X-Schoolgate-Findings: AUTH_TEMPERROR" in head
        assert b"dkim=temperror" in head and b"spf=temperror" in head
    metrics = gw.gateway.metrics.render().decode()
    assert 'schoolgate_filter_failures_total{filter="authentication",kind="dns"} 4.0' in metrics


async def test_dns_down_with_on_error_tempfail_is_451(make_gateway, mx_sink, silent_dns):
    gw = await make_gateway(next_hop=mx_sink.address, gateway=UNTRUSTED,
                            authentication={"nameservers": [silent_dns], "dns_timeout": 0.3, "dns_budget": 0.5,
                                            "on_error": "tempfail"})
    with pytest.raises(smtplib.SMTPDataError) as info:
        await send(gw.port, "parent@example.org", [TEACHER], crlf(make_message("hello")))
    assert info.value.smtp_code == 451
    assert mx_sink.messages == []

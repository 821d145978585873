"""End-to-end SMTP behaviour of the gateway: real clients, a real next hop."""
from __future__ import annotations

import asyncio
import smtplib
import socket

import httpx
import pytest

from tests.conftest import free_port
from tests.factories import SCHOOL_DOMAIN, make_message

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64


async def test_clean_message_reaches_next_hop_byte_identical(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address)
    raw = make_message("Dear Mr Brown,\nThe trip letter is attached to the portal.\n",
                       subject="Year 7 trip").replace(b"\n", b"\r\n")
    code, text = await gw.send(raw)
    assert code == 250, text
    [delivered] = sink.messages
    assert delivered.rcpt_tos == [f"bob@{SCHOOL_DOMAIN}"]
    assert delivered.mail_from == "alice@example.com"
    # only headers are added in front; the original bytes follow unchanged
    assert delivered.data.endswith(raw)
    added = delivered.data[: -len(raw)]
    assert added.startswith(b"Received: from client.test")
    assert b"X-Schoolgate-Findings" not in delivered.data


async def test_relay_denied_from_untrusted_network(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address, gateway={"trusted_networks": []})
    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        await asyncio.to_thread(_sendmail, gw.port, "spammer@example.com", ["victim@elsewhere.example"])
    code, text = info.value.recipients["victim@elsewhere.example"]
    assert code == 550 and b"5.7.1" in text and b"elay denied" in text
    # the school's own domain is still accepted from anyone
    code, _ = await gw.send(make_message("hi"), "parent@example.com", [f"teacher@{SCHOOL_DOMAIN}"])
    assert code == 250


async def test_relay_allowed_from_trusted_network(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address)  # default trusted: 127.0.0.0/8
    code, _ = await gw.send(make_message("Minutes attached", sender=f"head@{SCHOOL_DOMAIN}",
                                         to="governor@example.org"),
                            f"head@{SCHOOL_DOMAIN}", ["governor@example.org"])
    assert code == 250
    assert sink.messages[0].rcpt_tos == ["governor@example.org"]


def _sendmail(port: int, mail_from: str, rcpts: list[str], raw: bytes = b"Subject: x\r\n\r\nbody\r\n"):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail(mail_from, rcpts, raw)


async def test_oversize_message_gets_552(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address, gateway={"max_message_size": 10_000})
    raw = make_message(("x" * 70 + "\n") * 300)
    code, text = await gw.send(raw)
    assert code == 552 and b"5.3.4" in text
    assert sink.messages == []


async def test_size_declared_too_big_refused_at_mail_from(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address, gateway={"max_message_size": 10_000})

    def declare() -> tuple[int, bytes]:
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as client:
            client.ehlo("c")
            assert client.has_extn("size")
            assert int(client.esmtp_features["size"]) == 10_000
            return client.mail("a@example.com", ["SIZE=50000"])
    code, text = await asyncio.to_thread(declare)
    assert code == 552 and b"5.3.4" in text


async def test_bare_lf_end_of_data_smuggling_refused(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address)

    def smuggle() -> bytes:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=30) as s:
            f = s.makefile("rwb")
            f.readline()
            for line in (b"EHLO x\r\n",):
                f.write(line); f.flush()
            while not f.readline().startswith(b"250 "):
                pass
            for cmd in (b"MAIL FROM:<a@example.com>\r\n", f"RCPT TO:<b@{SCHOOL_DOMAIN}>\r\n".encode(),
                        b"DATA\r\n"):
                f.write(cmd); f.flush(); f.readline()
            f.write(b"Subject: hi\r\n\r\nhello\n.\nMAIL FROM:<evil@example.com>\r\n"
                    b"RCPT TO:<victim@x>\r\nDATA\r\nsmuggled\r\n.\r\n")
            f.flush()
            return f.readline()
    reply = await asyncio.to_thread(smuggle)
    assert reply.startswith(b"550 5.5.2"), reply
    assert sink.messages == []


def test_smuggling_finder_agrees_with_the_regex_on_every_short_sequence():
    """smuggled() replaced the regex pass over the body: the same answer for every string of
    up to 7 bytes over CR, LF, dot and a letter (16,383 strings), and for longer random ones."""
    import itertools
    import random

    from gateway.server import _SMUGGLING, smuggled
    alphabet = (b"\r", b"\n", b".", b"a")
    cases = [b"".join(p) for n in range(8) for p in itertools.product(alphabet, repeat=n)]
    rng = random.Random(19)
    cases += [b"".join(rng.choice(alphabet + (b"text ",)) for _ in range(rng.randrange(8, 200))) for _ in range(3000)]
    assert sum(smuggled(c) for c in cases) > 1000  # both answers are well represented
    assert [c for c in cases if smuggled(c) != (_SMUGGLING.search(c) is not None)] == []


async def test_ehlo_reply_sent_in_one_piece_reads_as_before(make_gateway, sink):
    """The lines of the EHLO reply are now written together (GatewaySMTP.push; how many writes
    is bench/gateway_memory.py's business): a client still gets every line in order, and
    the session goes on as usual."""
    gw = await make_gateway(next_hop=sink.address)

    def ehlo() -> tuple[bytes, list[bytes]]:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=30) as s:
            f = s.makefile("rwb")
            f.readline()
            f.write(b"EHLO x\r\n")
            f.flush()
            first = s.recv(65536)  # everything the first write carried
            while not first.endswith(b"\r\n") or first.splitlines()[-1][3:4] != b" ":
                first += s.recv(65536)  # (loopback may still split it; the lines are what count)
            s.sendall(b"NOOP\r\nQUIT\r\n")
            rest = b""
            while not rest.endswith(b"221 Bye\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                rest += chunk
            return first, rest.splitlines()
    first, rest = await asyncio.to_thread(ehlo)
    lines = first.split(b"\r\n")[:-1]
    assert len(lines) >= 4 and all(line.startswith(b"250-") for line in lines[:-1])
    assert lines[-1].startswith(b"250 ") and b"250-SIZE" in first and b"250-8BITMIME" in first
    assert rest[0].startswith(b"250") and rest[-1].startswith(b"221")

    def standard() -> bool:  # a standard client parses it
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as client:
            client.ehlo("c")
            return client.has_extn("size") and client.has_extn("8bitmime") and client.has_extn("smtputf8")
    assert await asyncio.to_thread(standard)


async def test_next_hop_refusing_connections_gives_451(make_gateway):
    gw = await make_gateway(next_hop=f"127.0.0.1:{free_port()}")
    code, text = await gw.send(make_message("hello"))
    assert code == 451
    assert await gw.store.run(gw.store.list_sync) == []  # nothing stored as delivered or held


@pytest.mark.parametrize("where,reply,expected", [
    ("data", "451 4.3.0 mailbox busy", 451),
    ("data", "554 5.7.1 no thanks", 554),
    ("rcpt", "450 4.2.1 mailbox full", 450),
    ("rcpt", "550 5.1.1 no such user", 550),
])
async def test_next_hop_answer_class_passed_back(make_gateway, sink, where, reply, expected):
    gw = await make_gateway(next_hop=sink.address)
    if where == "data":
        sink.handler.data_reply = reply
    else:
        sink.handler.rcpt_reply[f"bob@{SCHOOL_DOMAIN}"] = reply
    code, text = await gw.send(make_message("hello"))
    assert code == expected, text
    assert str(code)[0] == reply[0]
    assert sink.messages == []


async def test_held_attachment_then_release_exactly_once(make_gateway, sink):
    from quarantine.review import ReleaseError, release_from_store
    from gateway.relay import NextHop

    gw = await make_gateway(next_hop=sink.address)
    raw = make_message("Please pay the invoice", attachments=[("invoice.pdf.exe", "application/pdf", EXE)])
    code, text = await gw.send(raw)
    assert code == 250, text
    assert sink.messages == []
    [held] = await gw.store.run(gw.store.list_sync)
    assert "ATTACHMENT_DOUBLE_EXTENSION" in held.codes
    assert held.status == "held"
    hop = NextHop("127.0.0.1", sink.port)
    result = await release_from_store(gw.store, hop, held.id, recipients=None, actor="test", reason="checked")
    assert result["recipients"] == [f"bob@{SCHOOL_DOMAIN}"]
    [delivered] = sink.messages
    assert b"X-Schoolgate-Findings: ATTACHMENT_DOUBLE_EXTENSION" in delivered.data
    with pytest.raises(ReleaseError):
        await release_from_store(gw.store, hop, held.id, recipients=None, actor="test", reason="again")
    assert len(sink.messages) == 1
    await hop.close()
    actions = [row["action"] for row in await gw.store.run(gw.store.audit_sync, held.id)]
    assert actions == ["hold", "release"]


async def test_mixed_outcomes_deliver_pass_hold_the_rest(make_gateway, sink, tmp_path):
    from tests.factories import write_directory
    csv = write_directory(tmp_path / "dir.csv", [
        (f"teacher@{SCHOOL_DOMAIN}", "staff", "Tess Teacher", ""),
        (f"pupil@{SCHOOL_DOMAIN}", "student", "Pip Pupil", "")])
    # staff may receive executables (IT staff), students may not
    rules = [{"category": "attachment", "recipient_roles": ["staff"], "action": "pass"},
             {"category": "attachment", "action": "hold"}]
    gw = await make_gateway(next_hop=sink.address, directory={"csv": str(csv)}, policy={"rules": rules})
    raw = make_message("tool", attachments=[("setup.exe", "application/octet-stream", EXE)])
    code, _ = await gw.send(raw, "vendor@example.com", [f"teacher@{SCHOOL_DOMAIN}", f"pupil@{SCHOOL_DOMAIN}"])
    assert code == 250
    [delivered] = sink.messages
    assert delivered.rcpt_tos == [f"teacher@{SCHOOL_DOMAIN}"]
    [held] = await gw.store.run(gw.store.list_sync)
    assert list(held.recipients) == [f"pupil@{SCHOOL_DOMAIN}"]


async def test_all_rejected_gets_554_and_metadata_record(make_gateway, sink):
    rules = [{"category": "attachment", "action": "reject"}]
    gw = await make_gateway(next_hop=sink.address, policy={"rules": rules})
    raw = make_message("tool", attachments=[("setup.exe", "application/octet-stream", EXE)])
    code, text = await gw.send(raw)
    assert code == 554 and b"5.7.1" in text
    assert sink.messages == []
    [record] = await gw.store.run(gw.store.list_sync)
    assert record.status == "rejected" and record.path is None  # metadata only, no bytes kept


async def test_mixed_reject_and_pass_holds_rejected_copy(make_gateway, sink, tmp_path):
    from tests.factories import write_directory
    csv = write_directory(tmp_path / "dir.csv", [
        (f"teacher@{SCHOOL_DOMAIN}", "staff", "Tess Teacher", ""),
        (f"pupil@{SCHOOL_DOMAIN}", "student", "Pip Pupil", "")])
    rules = [{"category": "attachment", "recipient_roles": ["staff"], "action": "pass"},
             {"category": "attachment", "action": "reject"}]
    gw = await make_gateway(next_hop=sink.address, directory={"csv": str(csv)}, policy={"rules": rules})
    raw = make_message("tool", attachments=[("setup.exe", "application/octet-stream", EXE)])
    code, _ = await gw.send(raw, "vendor@example.com", [f"teacher@{SCHOOL_DOMAIN}", f"pupil@{SCHOOL_DOMAIN}"])
    assert code == 250  # we said 250 to both RCPTs: the rejected copy is held, never dropped
    assert sink.messages[0].rcpt_tos == [f"teacher@{SCHOOL_DOMAIN}"]
    [held] = await gw.store.run(gw.store.list_sync)
    assert held.recipients[f"pupil@{SCHOOL_DOMAIN}"]["action"] == "reject"


async def test_metrics_count_messages(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address, web=True)
    await gw.send(make_message("hello"))
    async with httpx.AsyncClient() as client:
        body = (await client.get(f"http://127.0.0.1:{gw.gateway.web_port}/metrics")).text
    assert 'schoolgate_messages_total{action="pass",direction="inbound"} 1.0' in body
    assert 'schoolgate_filter_seconds_count{filter="attachments"} 1.0' in body


async def test_too_many_recipients(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address, gateway={"max_recipients": 2})
    refused = await asyncio.to_thread(_sendmail, gw.port, "a@example.com",
                                      [f"x{i}@{SCHOOL_DOMAIN}" for i in range(3)])
    assert list(refused) == [f"x2@{SCHOOL_DOMAIN}"] and refused[f"x2@{SCHOOL_DOMAIN}"][0] == 452
    assert sink.messages[0].rcpt_tos == [f"x0@{SCHOOL_DOMAIN}", f"x1@{SCHOOL_DOMAIN}"]


async def test_graceful_stop_finishes_in_flight(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address)
    send = asyncio.create_task(gw.send(make_message("in flight")))
    await asyncio.sleep(0)
    while gw.gateway.handler.in_flight == 0 and not send.done():
        await asyncio.sleep(0.001)
    await gw.gateway.stop(grace=10)
    code, _ = await send
    assert code == 250 and len(sink.messages) == 1


@pytest.mark.parametrize("slots", [1, 3])
async def test_messages_wait_their_turn_for_a_scan_slot(make_gateway, sink, shared_clamd, slots):
    """Scans measured where they happen: the real clamd behind a proxy that records when each
    scan started and ended, and holds each answer for 1 s, or until three scans are open at
    once. One slot: no two scans overlap; three slots (the control): all three do, so the
    measurement can see overlap."""
    import time

    from tests.clamd_server import ClamdProxy, clamd_missing, max_overlap

    if shared_clamd is None:
        clamd_missing()
    proxy = ClamdProxy(shared_clamd, delay=1.0 if slots == 1 else 20.0, together=3)
    try:
        # a connection per scan (no IDSESSION pool): the proxy times scans by their connections
        gw = await make_gateway(next_hop=sink.address, gateway={"scan_concurrency": slots},
                                virus={"clamd": proxy.address, "connection_pool": 0})
        since = time.monotonic()
        # 3: the test's smtplib clients run in the loop's default executor, which the scanner uses too
        results = await asyncio.gather(*(gw.send(make_message(f"queued {n}\n" + "words " * 100))
                                         for n in range(3)))
        scans = await proxy.wait_for_scans(since, 3)
    finally:
        proxy.close()
    assert [code for code, _ in results] == [250] * 3 and len(sink.messages) == 3
    assert len(scans) == 3, scans
    assert max_overlap(scans) == slots, scans


async def test_a_message_that_waits_too_long_for_a_scan_slot_is_told_to_retry(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address,
                            gateway={"scan_concurrency": 1, "scan_queue_timeout": 0.3})
    slots = gw.gateway.handler._scan_slots
    await slots.acquire()  # the only slot is busy (as with a long scan)
    try:
        code, reply = await gw.send(make_message("no room"))
    finally:
        slots.release()
    assert code == 451 and b"4.3.2" in reply and not sink.messages
    code, _ = await gw.send(make_message("room now"))
    assert code == 250 and len(sink.messages) == 1
    assert gw.gateway.metrics.busy._value.get() == 1


async def test_session_setup_finds_the_same_auth_mechanisms_as_aiosmtpd_does(make_gateway, sink, monkeypatch):
    """GatewaySMTP sessions are set up with a getmembers that looks up only the auth_* names
    and a dir() that lists a class's names once (gateway/server.py _AuthMembers, _dir): the
    AUTH mechanisms, commands and hooks found are the ones aiosmtpd's own pass finds, a
    handler's own auth_ method included, bound to the session."""
    import inspect

    import gateway.server as server

    gw = await make_gateway(next_hop=sink.address)
    handler = gw.gateway.handler
    monkeypatch.setattr(handler, "auth_SCHOOL", lambda *args: None, raising=False)

    def mechanisms(session):
        return {name: (impl.is_builtin, getattr(impl.method, "__func__", impl.method))
                for name, impl in session._auth_methods.items()}
    fast = server.GatewaySMTP(handler, hostname="x", enable_SMTPUTF8=True, decode_data=False)
    assert isinstance(server.aiosmtpd_smtp.inspect, server._AuthMembers)
    monkeypatch.setattr(server.aiosmtpd_smtp, "inspect", inspect)
    slow = server.GatewaySMTP(handler, hostname="x", enable_SMTPUTF8=True, decode_data=False)
    assert mechanisms(fast) == mechanisms(slow)
    # and the commands and hooks it finds with dir(): aiosmtpd.smtp's dir is gateway.server._dir
    assert server.aiosmtpd_smtp.dir is server._dir
    assert fast._smtp_methods.keys() == slow._smtp_methods.keys() and "DATA" in fast._smtp_methods
    assert fast._smtp_methods["DATA"].__self__ is fast
    assert fast._handle_hooks == slow._handle_hooks and "DATA" in fast._handle_hooks
    assert server._dir(fast) == dir(fast) and server._dir(handler) == dir(handler)
    assert server._dir(server.GatewaySMTP) == dir(server.GatewaySMTP)
    assert {"LOGIN", "PLAIN", "SCHOOL"} <= set(mechanisms(fast))
    assert fast._auth_methods["LOGIN"].method.__self__ is fast


async def test_plain_addresses_read_as_aiosmtpds_parser_reads_them(make_gateway, sink):
    """MAIL FROM / RCPT TO arguments of the common form are read without the email package's
    header parser (GatewaySMTP._getaddr): the same (address, rest) as aiosmtpd's own reading,
    for generated plain addresses and for the odd forms that must still go to it."""
    import random

    from aiosmtpd.smtp import SMTP

    import gateway.server as server

    gw = await make_gateway(next_hop=sink.address)
    session = server.GatewaySMTP(gw.gateway.handler, hostname="x", enable_SMTPUTF8=True, decode_data=False)
    rng = random.Random(19)
    atext = "abcXYZ019!#$%&'*+/=?^_`{|}~-"

    def word(chars: str) -> str:
        return "".join(rng.choice(chars) for _ in range(rng.randrange(1, 8)))
    args = []
    for _ in range(3000):
        local = ".".join(word(atext) for _ in range(rng.randrange(1, 3)))
        domain = ".".join(word("abz09") + rng.choice(["", "-" + word("aZ0"), "-"]) for _ in range(rng.randrange(1, 4)))
        tail = rng.choice(["", " SIZE=5582", "  BODY=8BITMIME SMTPUTF8", "\tSIZE=1", " (c) SIZE=1", "x", " "])
        args.append(f"<{local}@{domain}>{tail}")
    args += ["<>", "", "<a@b.c>", "<a@b.c> SIZE=1", '<"a b"@c.d>', "<@r.example:a@b.c>", "<a@[192.0.2.1]>",
             "<ä@b.c>", " <a@b.c>", "a@b.c", "<a@b.>", "<a@b.c>(x)", "<a.@b.c>", "<" + "l" * 70 + "@b.c>"]
    fast = [server.GatewaySMTP._getaddr(session, a) for a in args]
    assert sum(server._SIMPLE_ADDRESS.match(a) is not None for a in args) > 500  # the fast path is taken (~800)
    assert [a for a, got in zip(args, fast) if got != SMTP._getaddr(session, a)] == []


class _Writer:
    """What the DATA code writes its replies to, for the comparison below."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        self.written.append(b"<closed>")


class _KeepData:
    async def handle_DATA(self, server, session, envelope):
        self.content = envelope.original_content
        return "250 OK"


async def _run_data(data_code, stream: bytes, cuts: list[int], line_limit: int, size_limit: int | None):
    """Run one DATA command's code (aiosmtpd's own smtp_DATA, or GatewaySMTP._read_DATA) on an
    aiosmtpd session whose reader is fed `stream` in pieces cut at `cuts`, one piece per turn of
    the loop. (the replies, the content the DATA hook saw, what is left for the command loop)."""
    from aiosmtpd.smtp import SMTP, Session

    loop = asyncio.get_running_loop()
    handler = _KeepData()
    session = SMTP(handler, data_size_limit=size_limit, hostname="x", loop=loop)
    session.line_length_limit = line_limit
    session._reader = reader = asyncio.StreamReader(limit=line_limit, loop=loop)
    session._writer = writer = _Writer()
    session.transport = object()
    session.session = Session(loop)
    session.session.host_name = "client"
    session.envelope = session._create_envelope()
    session.envelope.rcpt_tos.append("a@b.example")

    async def feed() -> None:
        for start, stop in zip([0, *cuts], [*cuts, len(stream)]):
            reader.feed_data(stream[start:stop])
            await asyncio.sleep(0)
        reader.feed_eof()
    feeder = asyncio.create_task(feed())
    await asyncio.wait_for(data_code(session, None), 10)
    await feeder
    return writer.written, getattr(handler, "content", None), await reader.read()


async def test_data_read_in_blocks_gives_what_aiosmtpds_line_loop_gives():
    """GatewaySMTP reads DATA in blocks (gateway/server.py read_data) instead of aiosmtpd's
    line-by-line loop: for random streams over CR, LF, dots and text - lines at and around the
    line limit, totals around the size limit, dot-stuffed lines, bare CR and LF, an empty
    message, commands pipelined after the end of data - cut at random points, the replies, the
    content and the bytes left for the command loop are aiosmtpd's own."""
    import random

    from aiosmtpd.smtp import SMTP

    import gateway.server as server

    assert server._BLOCK_DATA  # the aiosmtpd this was written against
    rng = random.Random(19)
    pieces = [b"a", b"text ", b".", b"..", b"\r", b"\n", b"\r\n", b"\r\n", b".\r\n", b"\r\n.\r", b"x" * 9]
    outcomes: set[bytes] = set()
    for case in range(1500):
        line_limit = rng.randrange(4, 40)
        size_limit = rng.choice([None, 0, rng.randrange(1, 300)])
        body = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 60)))
        stream = body + rng.choice([b"\r\n.\r\n", b".\r\n" if not body else b"\r\n.\r\n"]) \
            + rng.choice([b"", b"QUIT\r\n", b"MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n"])
        if case % 50 == 0:
            stream = b".\r\n" + stream  # an empty message, whatever follows
        cuts = sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, rng.randrange(0, 8))))
        ours = await _run_data(server.GatewaySMTP._read_DATA, stream, cuts, line_limit, size_limit)
        theirs = await _run_data(SMTP.smtp_DATA, stream, cuts, line_limit, size_limit)
        assert ours == theirs, (stream, cuts, line_limit, size_limit)
        outcomes.add(ours[0][-1][:3])
    assert outcomes == {b"250", b"500", b"552"}  # every verdict was compared


@pytest.mark.parametrize("text", [8, 9, 10, 11, 12])
@pytest.mark.parametrize("size_limit", [None, 14, 15, 16, 17, 20, 21, 22, 23])
@pytest.mark.parametrize("arrival", ["whole", "bytewise", "split"])
async def test_data_limits_decided_in_aiosmtpds_order(text, size_limit, arrival):
    """The boundaries the random streams rarely hit: with a line limit of 10, a line of 8-12
    characters after a 4-byte line, against size limits that this line crosses or not, arriving
    in one piece, byte by byte, or cut in its middle: too long or too much as aiosmtpd says."""
    from aiosmtpd.smtp import SMTP

    import gateway.server as server

    stream = b"abc\r\n" + b"y" * text + b"\r\nz\r\n.\r\nQUIT\r\n"
    cuts = {"whole": [], "bytewise": list(range(1, len(stream))), "split": [5 + text // 2]}[arrival]
    ours = await _run_data(server.GatewaySMTP._read_DATA, stream, cuts, 10, size_limit)
    theirs = await _run_data(SMTP.smtp_DATA, stream, cuts, 10, size_limit)
    assert ours == theirs

"""RFC 2920 PIPELINING towards the next hop, checked on the wire.

The next hops here record what they read from the socket, one entry per read, and what
they answered: with PIPELINING, MAIL and every RCPT arrive in one read before any reply
to them; without it, one command per read, each after the reply to the one before.
"""
from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from gateway.relay import NextHop
from tests.conftest import Sink, SinkHandler, free_port
from tests.factories import SCHOOL_DOMAIN, make_message

BOB, CAROL, DAVE = (f"{n}@{SCHOOL_DOMAIN}" for n in ("bob", "carol", "dave"))
RAW = make_message("Parents evening is on Thursday").replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@dataclass
class WireHandler(SinkHandler):
    """The shared sink's handler, plus: PIPELINING offered or not, a MAIL answer to give,
    and the wire: ("read", bytes) for each read from the client, ("reply", line) for each answer."""

    pipelining: bool = True
    mail_reply: str | None = None
    wire: list[tuple[str, bytes]] = field(default_factory=list)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    def commands(self) -> list[bytes]:
        """Every command line the client sent (not the message), in order."""
        with self.lock:
            reads = b"".join(data for kind, data in self.wire if kind == "read")
        return [line for line in reads.split(b"\r\n")
                if line[:4].upper() in (b"EHLO", b"MAIL", b"RCPT", b"DATA", b"RSET", b"QUIT", b"NOOP")]

    def reads_with(self, verb: bytes) -> list[list[bytes]]:
        """For each read holding a `verb` command: the commands in that read."""
        with self.lock:
            reads = [data for kind, data in self.wire if kind == "read"]
        return [[line.split(b" ")[0].split(b":")[0] for line in data.split(b"\r\n") if line]
                for data in reads if verb in data]

    def replies_between(self, first: bytes, last: bytes) -> int:
        """How many answers went out after the read holding `first` and before the one holding `last`."""
        with self.lock:
            wire = list(self.wire)
        start = next(i for i, (k, d) in enumerate(wire) if k == "read" and first in d)
        end = next(i for i, (k, d) in enumerate(wire) if k == "read" and last in d and i >= start)
        return sum(1 for k, _ in wire[start:end] if k == "reply")


class _WireSMTP(SMTP):
    def data_received(self, data: bytes) -> None:
        with self.event_handler.lock:
            self.event_handler.wire.append(("read", bytes(data)))
        super().data_received(data)

    async def push(self, status: str) -> None:
        with self.event_handler.lock:
            self.event_handler.wire.append(("reply", status.encode()))
        await super().push(status)


class _WireController(Controller):
    def factory(self):
        return _WireSMTP(self.handler, **self.SMTP_kwargs)


class WireSink(Sink):
    """The shared sink (start, stop, port, messages) with the recording handler and protocol."""

    def __init__(self, *, pipelining: bool, tls_context: ssl.SSLContext | None = None) -> None:
        self.handler = WireHandler(pipelining=pipelining)
        kwargs: dict[str, Any] = {"tls_context": tls_context} if tls_context is not None else {}
        self.controller = _WireController(self.handler, hostname="127.0.0.1", port=free_port(), **kwargs)


@pytest.fixture
def wire_sink():
    """wire_sink(pipelining=..., tls_context=...) -> a started recording next hop."""
    started: list[WireSink] = []

    def factory(**kwargs: Any) -> WireSink:
        server = WireSink(**kwargs).start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


async def _deliver(sink: WireSink, rcpts: list[str], times: int = 1):
    """`times` deliveries of RAW from head@example.com through one NextHop (a pooled connection)."""
    hop = NextHop("127.0.0.1", sink.port, tls="none")
    try:
        return [await hop.deliver("head@example.com", rcpts, RAW) for _ in range(times)]
    finally:
        await hop.close()


# --- on the wire ------------------------------------------------------------------------------

async def test_mail_and_every_rcpt_go_in_one_write_when_pipelining_is_offered(wire_sink):
    sink = wire_sink(pipelining=True)
    [result] = await _deliver(sink, [BOB, CAROL, DAVE])
    assert result.ok and result.accepted == (BOB, CAROL, DAVE), result
    [delivered] = sink.messages
    assert delivered.mail_from == "head@example.com" and delivered.rcpt_tos == [BOB, CAROL, DAVE]
    assert delivered.data == RAW
    # one read carried MAIL and the three RCPTs, nothing else; DATA came on its own after the replies
    assert sink.handler.reads_with(b"MAIL FROM") == [[b"MAIL", b"RCPT", b"RCPT", b"RCPT"]]
    assert sink.handler.reads_with(b"DATA\r\n") == [[b"DATA"]]
    assert sink.handler.replies_between(b"MAIL FROM", b"DATA\r\n") == 4


async def test_without_pipelining_one_command_per_round_trip(wire_sink):
    sink = wire_sink(pipelining=False)
    [result] = await _deliver(sink, [BOB, CAROL, DAVE])
    assert result.ok and result.accepted == (BOB, CAROL, DAVE), result
    assert sink.messages[0].rcpt_tos == [BOB, CAROL, DAVE]
    assert sink.handler.reads_with(b"MAIL FROM") == [[b"MAIL"]]
    assert sink.handler.reads_with(b"RCPT TO") == [[b"RCPT"]] * 3
    assert sink.handler.replies_between(b"MAIL FROM", b"RCPT TO:<" + CAROL.encode()) == 2


@pytest.mark.parametrize("pipelining", [True, False])
async def test_per_recipient_answers_are_honoured(wire_sink, pipelining):
    """550 for one, 450 for another, 250 for the third: the same outcome with and without."""
    sink = wire_sink(pipelining=pipelining)
    sink.handler.rcpt_reply[CAROL] = "550 5.1.1 no such user here"
    sink.handler.rcpt_reply[DAVE] = "450 4.2.1 mailbox busy"
    result, again = await _deliver(sink, [BOB, CAROL, DAVE], times=2)  # the second: is the connection sound
    assert result.ok and result.accepted == (BOB,)
    assert result.refused == {CAROL: (550, "5.1.1 no such user here"), DAVE: (450, "4.2.1 mailbox busy")}
    assert again.ok and [m.rcpt_tos for m in sink.messages] == [[BOB], [BOB]]
    assert sum(c.startswith(b"EHLO") for c in sink.handler.commands()) == 1  # one pooled connection


@pytest.mark.parametrize("pipelining", [True, False])
async def test_no_data_when_every_recipient_is_refused(wire_sink, pipelining):
    sink = wire_sink(pipelining=pipelining)
    sink.handler.rcpt_reply[BOB] = "550 5.1.1 no such user"
    sink.handler.rcpt_reply[CAROL] = "451 4.3.0 try later"
    [result] = await _deliver(sink, [BOB, CAROL])
    assert not result.ok and result.code == 451 and result.temporary  # a retry may succeed for both
    assert sink.messages == []
    verbs = [c.split(b" ")[0] for c in sink.handler.commands()]
    assert b"DATA" not in verbs and verbs[-2:] == [b"RSET", b"QUIT"]


@pytest.mark.parametrize("pipelining", [True, False])
async def test_tempfailed_mail_is_a_4xx_and_the_connection_stays_usable(wire_sink, pipelining):
    sink = wire_sink(pipelining=pipelining)
    sink.handler.mail_reply = "451 4.3.2 system busy"
    hop = NextHop("127.0.0.1", sink.port, tls="none")
    try:
        result = await hop.deliver("head@example.com", [BOB, CAROL], RAW)
        assert not result.ok and result.code == 451 and result.temporary and not result.refused
        assert "451 4.4.0 next hop said: 4.3.2 system busy" == result.smtp_reply
        sink.handler.mail_reply = None
        assert (await hop.deliver("head@example.com", [BOB], RAW)).ok
    finally:
        await hop.close()
    verbs = [c.split(b" ")[0] for c in sink.handler.commands()]
    # the refused transaction is reset, never DATA'd; the next one uses the same connection
    assert verbs == [b"EHLO", b"MAIL"] + [b"RCPT"] * (2 if pipelining else 0) + [b"RSET", b"MAIL", b"RCPT",
                                                                                 b"DATA", b"QUIT"]
    assert [m.rcpt_tos for m in sink.messages] == [[BOB]]


async def test_pipelining_over_verified_tls(wire_sink, tls_material):
    sink = wire_sink(pipelining=True, tls_context=tls_material.server_context)
    hop = NextHop("127.0.0.1", sink.port, tls="required", ca_file=tls_material.ca_file)
    try:
        for _ in range(2):
            result = await hop.deliver("head@example.com", [BOB, CAROL], RAW)
            assert result.ok and result.accepted == (BOB, CAROL), result
    finally:
        await hop.close()
    assert len(sink.messages) == 2
    # recorded after decryption: MAIL and both RCPTs in one TLS record's worth of reads
    assert sink.handler.reads_with(b"MAIL FROM") == [[b"MAIL", b"RCPT", b"RCPT"]] * 2


# --- through the gateway ------------------------------------------------------------------------

@pytest.mark.parametrize("pipelining", [True, False])
async def test_gateway_keeps_the_refused_recipient_either_way(make_gateway, wire_sink, pipelining):
    sink = wire_sink(pipelining=pipelining)
    sink.handler.rcpt_reply[CAROL] = "550 5.1.1 no such user here"
    gw = await make_gateway(next_hop=sink.address)
    code, text = await gw.send(make_message("Parents evening is on Thursday"), "head@example.com",
                               [BOB, CAROL, DAVE])
    assert code == 250, text
    [delivered] = sink.messages
    assert delivered.rcpt_tos == [BOB, DAVE]
    [kept] = await gw.store.run(gw.store.list_sync)
    assert list(kept.recipients) == [CAROL] and "NEXT_HOP_REFUSED_RECIPIENT" in kept.codes
    assert len(sink.handler.reads_with(b"MAIL FROM")[0]) == (4 if pipelining else 1)


@pytest.mark.parametrize("pipelining", [True, False])
async def test_gateway_answers_4xx_when_the_next_hop_tempfails_mail(make_gateway, wire_sink, pipelining):
    sink = wire_sink(pipelining=pipelining)
    sink.handler.mail_reply = "451 4.3.2 system busy"
    gw = await make_gateway(next_hop=sink.address)
    code, text = await gw.send(make_message("hello"), "head@example.com", [BOB, CAROL])
    assert code == 451, text  # never a 250 the next hop did not give
    assert sink.messages == [] and await gw.store.run(gw.store.list_sync) == []


# --- next hops that break the group -------------------------------------------------------------

class _RawHop:
    """A next hop written by hand: greets, offers PIPELINING, then answers the group with
    `answers` (each a reply line) and closes the connection."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            conn.sendall(b"220 raw ESMTP\r\n")
            conn.recv(1024)  # EHLO
            conn.sendall(b"250-raw\r\n250-PIPELINING\r\n250 HELP\r\n")
            conn.recv(1024)  # the group
            conn.sendall(b"".join(self.answers))
            time.sleep(0.05)

    def close(self) -> None:
        self.server.close()
        self.thread.join(5)


@pytest.mark.parametrize("answers", [
    [b"250 OK\r\n"],  # closed after answering MAIL only
    [b"250 OK\r\n", b"421 4.3.2 shutting down\r\n"],  # a 421 to the first RCPT, then closed
    [],  # closed without a word
])
async def test_a_group_cut_short_is_a_4xx_and_nothing_is_sent(answers):
    raw = _RawHop(answers)
    hop = NextHop("127.0.0.1", raw.port, tls="none")
    try:
        result = await asyncio.wait_for(hop.deliver("head@example.com", [BOB, CAROL], RAW), 10)
    finally:
        await hop.close()
        raw.close()
    assert not result.ok and result.code == 451 and result.status == "4.4.2", result
    assert hop.last_error is not None


async def test_postfix_smtp_sink_takes_pipelined_transactions():
    """Postfix's smtp-sink offers PIPELINING and answers a group in one write: many pooled
    transactions on one connection, every recipient of every one accepted."""
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    proc = subprocess.Popen(["smtp-sink", *user, f"127.0.0.1:{port}", "16"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    hop = NextHop("127.0.0.1", port, tls="none")
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            pytest.fail(f"smtp-sink did not start: {proc.stderr.read1().decode() if proc.poll() else ''}")
        results = [await hop.deliver("head@example.com", [BOB, CAROL, DAVE], RAW) for _ in range(20)]
        [client] = hop._idle  # one connection served them all
        assert client.supports_extension("pipelining")
    finally:
        await hop.close()
        proc.terminate()
        proc.wait(10)
    assert all(r.ok and r.code == 250 and r.accepted == (BOB, CAROL, DAVE) for r in results), results


# --- on uvloop (what `schoolgate serve` runs on when it is installed: gateway/event_loop.py) -----

def test_pipelining_on_uvloop(wire_sink, tls_material):
    """The collector is lent the transport with set_protocol: uvloop's plain and TLS
    transports as well as asyncio's. Partial refusals, TLS and a group cut short, on uvloop."""
    import uvloop  # a dependency on Linux (pyproject.toml): "auto" runs the gateway on it
    plain = wire_sink(pipelining=True)
    plain.handler.rcpt_reply[CAROL] = "550 5.1.1 no such user here"
    secure = wire_sink(pipelining=True, tls_context=tls_material.server_context)

    async def scenario() -> None:
        assert "uvloop" in type(asyncio.get_running_loop()).__module__
        hop = NextHop("127.0.0.1", plain.port, tls="none")
        tls_hop = NextHop("127.0.0.1", secure.port, tls="required", ca_file=tls_material.ca_file)
        raw = _RawHop([b"250 OK\r\n"])
        cut = NextHop("127.0.0.1", raw.port, tls="none")
        try:
            for _ in range(2):
                result = await hop.deliver("head@example.com", [BOB, CAROL, DAVE], RAW)
                assert result.ok and result.accepted == (BOB, DAVE) and list(result.refused) == [CAROL]
                done = await tls_hop.deliver("head@example.com", [BOB, CAROL], RAW)
                assert done.ok and done.accepted == (BOB, CAROL), done
            lost = await asyncio.wait_for(cut.deliver("head@example.com", [BOB, CAROL], RAW), 10)
            assert not lost.ok and lost.code == 451 and lost.status == "4.4.2", lost
        finally:
            for h in (hop, tls_hop, cut):
                await h.close()
            raw.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())
    assert [m.rcpt_tos for m in plain.messages] == [[BOB, DAVE]] * 2 and len(secure.messages) == 2
    assert plain.handler.reads_with(b"MAIL FROM") == [[b"MAIL", b"RCPT", b"RCPT", b"RCPT"]] * 2
    assert secure.handler.reads_with(b"MAIL FROM") == [[b"MAIL", b"RCPT", b"RCPT"]] * 2

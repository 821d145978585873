"""A real DNS server for tests: UDP and TCP on a loopback port 0, answers from a table.

The public internet is out of reach in tests (and in CI), so the authentication
filter's resolver is pointed here (`[authentication] nameservers = ["127.0.0.1:PORT"]`).
It speaks the wire protocol with dnspython's message API: queries are parsed,
answers built as an authoritative server would give them, a UDP answer too big
for the client's buffer is truncated (TC) so the client retries over TCP.

Table values: a list of record texts (TXT as str or bytes; A/AAAA/MX/PTR in zone
syntax such as "10 mx.example."), or one of the markers SERVFAIL / SILENT (never
answer, like a dead server). A name not in the table does not exist (NXDOMAIN); a
name with other types only has no such record (NOERROR, empty answer).
"""
from __future__ import annotations

import socket
import socketserver
import struct
import threading
from typing import Mapping, Sequence

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset

SERVFAIL = "SERVFAIL"
SILENT = "SILENT"


def _key(name: str) -> str:
    return name.strip().rstrip(".").lower()


class DnsServer:
    """`DnsServer(records).start()`; `address` is "127.0.0.1:PORT"; `queries` lists
    (name, type) in the order asked; `set(records)` replaces the table."""

    def __init__(self, records: Mapping[tuple[str, str], Sequence | str] = ()) -> None:
        self._lock = threading.Lock()
        self._records: dict[tuple[str, str], Sequence | str] = {}
        self.queries: list[tuple[str, str]] = []
        self.set(records)
        server = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                wire = server.answer(data, udp=True)
                if wire is not None:
                    sock.sendto(wire, self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                # RFC 1035 4.2.2 / RFC 7766: a two-octet length before each message
                while True:
                    head = _recv_exact(self.request, 2)
                    if head is None:
                        return
                    data = _recv_exact(self.request, struct.unpack("!H", head)[0])
                    if data is None:
                        return
                    wire = server.answer(data, udp=False)
                    if wire is None:
                        return
                    self.request.sendall(struct.pack("!H", len(wire)) + wire)

        # UDP on port 0, then TCP on the same number (a client falls back there after TC);
        # that number may be taken for TCP by someone else: then take another
        for attempt in range(20):
            self._udp = socketserver.ThreadingUDPServer(("127.0.0.1", 0), Udp)
            port = self._udp.server_address[1]
            self._tcp = socketserver.ThreadingTCPServer(("127.0.0.1", port), Tcp, bind_and_activate=False)
            self._tcp.allow_reuse_address = True
            try:
                self._tcp.server_bind()
                self._tcp.server_activate()
                break
            except OSError:
                self._tcp.server_close()
                self._udp.server_close()
                if attempt == 19:
                    raise
        self._tcp.daemon_threads = self._udp.daemon_threads = True
        self.port = port
        self._threads: list[threading.Thread] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set(self, records: Mapping[tuple[str, str], Sequence | str]) -> None:
        table = {(_key(n), t.upper()): v for (n, t), v in dict(records).items()}
        with self._lock:
            self._records = table

    def start(self) -> "DnsServer":
        for srv in (self._udp, self._tcp):
            thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for srv in (self._udp, self._tcp):
            srv.shutdown()
            srv.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def answer(self, data: bytes, *, udp: bool) -> bytes | None:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return None  # not DNS: a real server drops it too
        if not query.question:
            return None
        question = query.question[0]
        name, rdtype = _key(question.name.to_text()), dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            self.queries.append((name, rdtype))
            value = self._records.get((name, rdtype))
            exists = value is not None or any(n == name for n, _ in self._records)
        if value == SILENT:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if value == SERVFAIL:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif not exists:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif value:
            response.answer.append(_rrset(question.name, question.rdtype, value))
        limit = 65535
        if udp:
            limit = max(512, query.payload) if query.edns >= 0 else 512
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            response.answer.clear()
            response.flags |= dns.flags.TC
            return response.to_wire()


def _rrset(name: dns.name.Name, rdtype: int, values: Sequence) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(name, dns.rdataclass.IN, rdtype)
    for value in values:
        if rdtype == dns.rdatatype.TXT:
            raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
            # a character-string holds at most 255 octets (RFC 1035 3.3.14): split long keys
            chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
            rrset.add(dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, rdtype, chunks), ttl=300)
        else:
            rrset.add(dns.rdata.from_text(dns.rdataclass.IN, rdtype, str(value)), ttl=300)
    return rrset


def _recv_exact(sock: socket.socket, count: int) -> bytes | None:
    buf = b""
    while len(buf) < count:
        try:
            chunk = sock.recv(count - len(buf))
        except OSError:
            return None
        if not chunk:
            return None
        buf += chunk
    return buf

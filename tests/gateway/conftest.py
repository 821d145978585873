"""Gateway fixtures: a real gateway on port 0 in the test's event loop, forwarding to the sink."""
from __future__ import annotations

import asyncio
import datetime
import ipaddress
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from gateway.service import Gateway
from tests.conftest import Sink, SinkHandler, free_port
from tests.factories import SCHOOL_DOMAIN, make_settings


def write_site_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def to_crlf(raw: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", raw)


class RunningGateway:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    @property
    def port(self) -> int:
        return self.gateway.smtp_port

    @property
    def settings(self):
        return self.gateway.settings

    @property
    def store(self):
        return self.gateway.store

    def _send_sync(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> tuple[int, bytes]:
        """smtplib, the stdlib client: returns the DATA reply (code, text).

        smtplib sends bytes as given, so LF-only test messages get CRLF here,
        as any real MTA would put on the wire."""
        raw = to_crlf(raw)
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as client:
            client.ehlo("client.test")
            code, text = client.mail(mail_from)
            if code != 250:
                return code, text
            for rcpt in rcpt_tos:
                code, text = client.rcpt(rcpt)
                if code not in (250, 251):
                    return code, text
            code, text = client.data(raw)
            return code, text

    async def send(self, raw: bytes, mail_from: str = "alice@example.com",
                   rcpt_tos: list[str] | tuple[str, ...] = (f"bob@{SCHOOL_DOMAIN}",)) -> tuple[int, bytes]:
        # smtplib blocks: run it in a thread so the gateway on this loop keeps serving
        return await asyncio.to_thread(self._send_sync, raw, mail_from, list(rcpt_tos))


@pytest.fixture
async def make_gateway(tmp_path):
    started: list[Gateway] = []

    async def factory(*, next_hop: str | None, web: bool = False, **overrides: Any) -> RunningGateway:
        gateway_overrides = {"listen": "127.0.0.1:0", **overrides.pop("gateway", {})}
        if next_hop:
            gateway_overrides["next_hop"] = next_hop
        web_overrides = {"listen": "127.0.0.1:0", **overrides.pop("web", {})}
        settings = make_settings(tmp_path, gateway=gateway_overrides, web=web_overrides, **overrides)
        gateway = Gateway(settings)
        await gateway.start(web=web)
        started.append(gateway)
        return RunningGateway(gateway)

    yield factory
    for gateway in started:
        await gateway.stop(grace=5)


# --- next hops with a choice of extensions, and TLS material made by the test ---------------

class ExtSink(Sink):
    """The aiosmtpd sink (tests/conftest.py) with SMTPUTF8 and/or STARTTLS offered as asked."""

    def __init__(self, *, smtputf8: bool = False, tls_context: ssl.SSLContext | None = None) -> None:
        self.handler = SinkHandler()
        kwargs: dict[str, Any] = {"enable_SMTPUTF8": smtputf8}
        if tls_context is not None:
            kwargs["tls_context"] = tls_context
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=free_port(), **kwargs)


@pytest.fixture
def make_sink():
    """make_sink(smtputf8=..., tls_context=...) -> a started sink, stopped after the test."""
    started: list[Sink] = []

    def factory(**kwargs: Any) -> Sink:
        server = ExtSink(**kwargs).start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@dataclass(frozen=True)
class TlsMaterial:
    ca_file: Path  # the CA that signed the server certificate
    other_ca_file: Path  # a CA that did not
    server_context: ssl.SSLContext  # for the sink: the certificate for 127.0.0.1 / localhost


def _write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _ca(name: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory) -> TlsMaterial:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    root = tmp_path_factory.mktemp("tls")
    ca_key, ca_cert = _ca("schoolgate test CA")
    _, other_cert = _ca("some other CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    cert_file = _write_pem(root / "server.pem", cert.public_bytes(pem))
    key_file = _write_pem(root / "server.key", key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return TlsMaterial(_write_pem(root / "ca.pem", ca_cert.public_bytes(pem)),
                       _write_pem(root / "other-ca.pem", other_cert.public_bytes(pem)), context)


# --- Next hops for tests/gateway/test_mx.py (issue 16: RCPT probes, slow answers, SMTPUTF8) ---
# A separate block: other fixtures in this file belong to other work.


@dataclass
class MxSinkHandler(SinkHandler):
    """The shared sink's handler, plus: every RCPT and MAIL seen (probes included),
    and a delay before answering DATA (a slow next hop)."""

    rcpts_seen: list[str] = field(default_factory=list)
    mails_seen: list[str] = field(default_factory=list)
    data_delay: float = 0.0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.mails_seen.append(address)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpts_seen.append(address)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        return await super().handle_DATA(server, session, envelope)


class _LongLineSMTP(SMTP):
    line_length_limit = 1_100_000  # a next hop that takes long lines, as Postfix and Exchange do


class _MxController(Controller):
    def factory(self):
        return _LongLineSMTP(self.handler, **self.SMTP_kwargs)


class MxSink(Sink):
    def __init__(self, *, smtputf8: bool = False) -> None:
        self.handler = MxSinkHandler()
        self.controller = _MxController(self.handler, hostname="127.0.0.1", port=free_port(),
                                        enable_SMTPUTF8=smtputf8)


@pytest.fixture
def mx_sink():
    server = MxSink().start()
    yield server
    server.stop()


@pytest.fixture
def utf8_mx_sink():
    server = MxSink(smtputf8=True).start()
    yield server
    server.stop()

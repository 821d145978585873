"""Connection limits, idle timeout and STARTTLS on the SMTP side."""
from __future__ import annotations

import asyncio
import datetime
import smtplib
import socket
import ssl

from tests.factories import SCHOOL_DOMAIN, make_message


async def test_connection_limit_answers_421(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address, gateway={"max_connections": 1})

    def two_sessions() -> bytes:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as first:
            assert first.recv(200).startswith(b"220")
            with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as second:
                return second.recv(200)
    reply = await asyncio.to_thread(two_sessions)
    assert reply.startswith(b"421 4.3.2")
    # the slot is free again once the first session has gone
    code, _ = await gw.send(make_message("after"))
    assert code == 250


async def test_idle_session_is_dropped(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address, gateway={"command_timeout": 0.5})

    def idle() -> bytes:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
            s.recv(200)
            data = b""
            while chunk := s.recv(200):  # the server closes: recv returns b""
                data += chunk
            return data
    assert (await asyncio.to_thread(idle)).startswith(b"421")


def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx.school.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_starttls_when_certificate_configured(make_gateway, sink, tmp_path):
    cert, key = _self_signed(tmp_path)
    gw = await make_gateway(next_hop=sink.address, gateway={"tls_cert": str(cert), "tls_key": str(key)})

    def send_tls() -> str:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as client:
            client.ehlo("client.test")
            assert client.has_extn("starttls")
            client.starttls(context=context)
            client.ehlo("client.test")
            client.sendmail("parent@example.com", [f"office@{SCHOOL_DOMAIN}"],
                            make_message("over TLS").replace(b"\n", b"\r\n"))
            return client.sock.version()
    assert (await asyncio.to_thread(send_tls)).startswith("TLS")
    assert len(sink.messages) == 1


async def test_no_starttls_without_certificate(make_gateway, sink):
    gw = await make_gateway(next_hop=sink.address)

    def features() -> bool:
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as client:
            client.ehlo("c")
            return client.has_extn("starttls")
    assert not await asyncio.to_thread(features)

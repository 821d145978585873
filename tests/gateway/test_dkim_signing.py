"""Outbound DKIM signing: real keys, real signatures, verified by dkimpy and by our own
inbound filter with the published record served from a table (no public DNS here)."""
from __future__ import annotations

import asyncio
import os
import re
import stat
from concurrent.futures import ProcessPoolExecutor

import dkim
import pytest

from filters.authentication import AuthenticationFilter
from filters.base import FilterContext
from filters.directory import Directory
from filters.dns_lookup import StaticResolver
from filters.message import Envelope, build_view
from gateway.dkim_signing import DkimSigner, DkimSigningError, keygen, public_txt_value, write_private_key
from tests.factories import SCHOOL_DOMAIN, make_message, make_settings


@pytest.fixture(scope="module")
def key() -> tuple[str, str]:
    return keygen("gw2024", SCHOOL_DOMAIN)


def txt_from_record(record: str) -> bytes:
    """What a DNS server hands out for the zone line: the quoted strings joined."""
    return "".join(re.findall(r'"([^"]*)"', record)).encode()


def dnsfunc_for(record: str):
    name = record.split()[0]

    def lookup(qname, timeout=5):
        qname = qname.decode() if isinstance(qname, bytes) else qname
        return txt_from_record(record) if qname == name else None
    return lookup


def signer(pem: str, **kw) -> DkimSigner:
    return DkimSigner(selector="gw2024", domain=SCHOOL_DOMAIN, private_key=pem,
                      school_domains=[SCHOOL_DOMAIN], **kw)


@pytest.mark.parametrize("bits", [1024, 2048])
def test_keygen_gives_a_key_and_its_dns_record(bits):
    pem, record = keygen("s1", "Example.SCH.uk", bits=bits)
    assert pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert record.startswith('s1._domainkey.example.sch.uk. IN TXT "v=DKIM1; k=rsa; p=')
    strings = re.findall(r'"([^"]*)"', record)
    assert all(len(s) <= 255 for s in strings)  # RFC 1035 character-string limit
    assert len(strings) == (1 if bits == 1024 else 2)
    assert txt_from_record(record).decode() == public_txt_value(pem)
    _, keysize, ktag, _ = dkim.evaluate_pk(b"s1._domainkey.example.sch.uk.", txt_from_record(record))
    assert (keysize, ktag) == (bits, b"rsa")


@pytest.mark.parametrize("selector, domain, bits", [
    ("bad selector", SCHOOL_DOMAIN, 2048), ("s1", "not a domain", 2048), ("s1", "-x.example", 2048),
    ("s1", SCHOOL_DOMAIN, 512)])
def test_keygen_refuses_bad_input(selector, domain, bits):
    with pytest.raises(DkimSigningError):
        keygen(selector, domain, bits)


@pytest.mark.parametrize("sender, signed", [
    (f"Head <head@{SCHOOL_DOMAIN}>", True),
    (f"office@pupils.{SCHOOL_DOMAIN}", True),  # subdomain: aligned (relaxed) with d=
    ("parent@gmail.com", False),  # relayed external sender: not ours to vouch for
    (f"x@not{SCHOOL_DOMAIN}", False),
])
def test_signs_only_the_schools_mail(key, sender, signed):
    pem, record = key
    raw = make_message("Trip letter attached.", sender=sender, to="parent@example.com")
    out = signer(pem).sign_sync(raw)
    assert (out != raw) == signed
    if signed:
        assert out.endswith(raw) and out.startswith(b"DKIM-Signature: ")
        assert b"c=relaxed/relaxed" in out and f"d={SCHOOL_DOMAIN}".encode() in out
        assert dkim.verify(out, dnsfunc=dnsfunc_for(record))


@pytest.mark.parametrize("change, still_valid", [
    (lambda m: b"X-Schoolgate-Findings: SPF_SOFTFAIL\r\n" + m, True),  # a tag added after signing
    (lambda m: m.replace(b"Subject: Test", b"Subject:   Test  "), True),  # relaxed header canonicalization
    (lambda m: m.replace(b"Trip letter", b"Trip  letter"), True),  # relaxed body: whitespace runs
    (lambda m: m.replace(b"Trip letter", b"Bank change"), False),
    (lambda m: m.replace(b"Subject: Test", b"Subject: Urgent"), False),
])
def test_signature_survives_what_relaxed_allows(key, change, still_valid):
    pem, record = key
    raw = make_message("Trip letter attached.", sender=f"head@{SCHOOL_DOMAIN}").replace(b"\n", b"\r\n")
    out = signer(pem).sign_sync(raw)
    assert b"\r\n" in out and b"\n" not in out.replace(b"\r\n", b"")  # CRLF kept CRLF
    assert dkim.verify(change(out), dnsfunc=dnsfunc_for(record)) == still_valid


def test_two_from_fields_are_not_signed(key):
    raw = b"From: evil@example.com\n" + make_message("x", sender=f"head@{SCHOOL_DOMAIN}")
    assert signer(key[0]).sign_sync(raw) == raw


@pytest.mark.parametrize("pool", [None, "process"])
async def test_async_sign_runs_off_the_loop_and_verifies(key, pool):
    pem, record = key
    raws = [make_message(f"hello {i}", sender=f"head@{SCHOOL_DOMAIN}") for i in range(4)]
    the_signer = signer(pem)
    if pool is None:
        outs = await asyncio.gather(*(the_signer.sign(raw) for raw in raws))
    else:
        with ProcessPoolExecutor(max_workers=1) as executor:
            outs = await asyncio.gather(*(the_signer.sign(raw, executor) for raw in raws))
    assert all(dkim.verify(out, dnsfunc=dnsfunc_for(record)) and out.endswith(raw) for out, raw in zip(outs, raws))


async def test_signed_school_mail_passes_our_own_inbound_checks(tmp_path, key):
    """The school's mail sent through an outside (cloud) server: signed, so not a spoof."""
    pem, record = key
    raw = signer(pem).sign_sync(make_message("Reminder", sender=f"head@{SCHOOL_DOMAIN}"))
    settings = make_settings(tmp_path)
    directory = Directory(None, {}, (SCHOOL_DOMAIN,))
    resolver = StaticResolver({(record.split()[0], "TXT"): [txt_from_record(record)]})
    flt = AuthenticationFilter(settings.filter_options["authentication"],
                               FilterContext(settings=settings, directory=directory), resolver=resolver)
    view = build_view(raw, Envelope(f"head@{SCHOOL_DOMAIN}", (f"bob@{SCHOOL_DOMAIN}",), "198.51.100.7", "cloud"),
                      directory)
    codes = {f.code for f in await flt.check(view)}
    assert "SPOOFED_SCHOOL_SENDER" not in codes and "DKIM_FAIL" not in codes
    assert f"dkim=pass header.d={SCHOOL_DOMAIN}" in flt.authentication_results(view)


def test_from_settings(tmp_path, key):
    pem, record = key
    assert DkimSigner.from_settings(make_settings(tmp_path)) is None  # shipped default: off
    key_file = tmp_path / "gw2024.pem"
    write_private_key(key_file, pem)
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    settings = make_settings(tmp_path, authentication={"signing_selector": "gw2024",
                                                       "signing_key": str(key_file)})
    made = DkimSigner.from_settings(settings)
    assert made is not None and (made.selector, made.domain) == ("gw2024", SCHOOL_DOMAIN)
    out = made.sign_sync(make_message("x", sender=f"head@{SCHOOL_DOMAIN}"))
    assert dkim.verify(out, dnsfunc=dnsfunc_for(record))


def test_write_private_key_never_overwrites(tmp_path, key):
    path = tmp_path / "k.pem"
    write_private_key(path, key[0])
    with pytest.raises(FileExistsError):
        write_private_key(path, "other")
    assert path.read_text() == key[0]


@pytest.mark.parametrize("content, error", [
    (None, "cannot read"),
    ("-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n", "cannot be read"),
])
def test_bad_key_configuration_refuses_to_start(tmp_path, content, error):
    key_file = tmp_path / "missing.pem"
    if content is not None:
        key_file.write_text(content)
    settings = make_settings(tmp_path, authentication={"signing_selector": "gw", "signing_key": str(key_file)})
    with pytest.raises(DkimSigningError, match=error):
        DkimSigner.from_settings(settings)

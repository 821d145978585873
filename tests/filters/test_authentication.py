"""Sender authentication: real DKIM signatures (keys made here), real pyspf and DMARC
evaluation, with DNS answers from a table (the public internet is out of reach)."""
from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import authres
import dkim
import pytest

from filters.authentication import AuthenticationFilter, name_tokens, with_authentication_results
from filters.base import Action, Category, FilterContext, Severity
from filters.chain import FilterChain
from filters.directory import Directory
from filters.dns_lookup import DNSLookupError, DnspythonResolver, StaticResolver
from filters.message import Envelope, build_view
from filters.policy import Policy
from gateway.dkim_signing import keygen, public_txt_value
from tests.factories import CORPORA, SCHOOL_DOMAIN, make_message, make_settings, write_directory

OUTSIDE_IP = "192.0.2.10"  # sender.example's published server
OTHER_IP = "198.51.100.7"  # nobody's server
RCPT = f"bob@{SCHOOL_DOMAIN}"


@pytest.fixture(scope="module")
def keys() -> dict[str, str]:
    """Real 2048-bit keys: one for an outside sender, one for the school."""
    return {"sender": keygen("sel", "sender.example")[0], "school": keygen("gw", SCHOOL_DOMAIN)[0],
            "mailer": keygen("m1", "mailer.example")[0]}


def sign(raw: bytes, pem: str, domain: str, selector: str) -> bytes:
    return dkim.sign(raw, selector.encode(), domain.encode(), pem.encode(),
                     canonicalize=(b"relaxed", b"relaxed")) + raw


def records(keys: dict[str, str], dmarc: str = "v=DMARC1; p=reject",
            spf: str = "v=spf1 ip4:192.0.2.0/24 -all") -> dict:
    table = {
        ("sel._domainkey.sender.example", "TXT"): [public_txt_value(keys["sender"])],
        (f"gw._domainkey.{SCHOOL_DOMAIN}", "TXT"): [public_txt_value(keys["school"])],
        ("m1._domainkey.mailer.example", "TXT"): [public_txt_value(keys["mailer"])],
        ("sender.example", "TXT"): [spf, "google-site-verification=abc"],
        ("_dmarc.sender.example", "TXT"): [dmarc],
        (SCHOOL_DOMAIN, "TXT"): ["v=spf1 ip4:203.0.113.0/24 -all"],
        (f"_dmarc.{SCHOOL_DOMAIN}", "TXT"): ["v=DMARC1; p=quarantine"],
    }
    return table


def make_filter(tmp_path: Path, table: dict | None = None, *, resolver=None, staff=(), **options):
    directory_csv = write_directory(tmp_path / "directory.csv", [
        (f"jane.headley@{SCHOOL_DOMAIN}", "staff", "Jane Headley", "jane.headley77@gmail.com"),
        (f"tom.bursar@{SCHOOL_DOMAIN}", "staff", "Thomas O'Neill-Price", ""),
        (f"amy.pupil@{SCHOOL_DOMAIN}", "student", "Amy Pupil", ""),
        *staff,
    ])
    settings = make_settings(tmp_path, directory={"csv": str(directory_csv)},
                             authentication=options or {})
    directory = Directory(settings.directory.csv, {}, tuple(settings.school.domains))
    opts = settings.filter_options["authentication"]
    context = FilterContext(settings=settings, directory=directory,
                            extras={"dns_resolver": resolver or StaticResolver(table or {})})
    return AuthenticationFilter(opts, context), settings, directory


def view_of(raw: bytes, directory: Directory, *, mail_from="bob@sender.example", ip=OUTSIDE_IP,
            helo="mx.sender.example"):
    return build_view(raw, Envelope(mail_from, (RCPT,), ip, helo), directory)


def codes(findings) -> set[str]:
    return {f.code for f in findings}


# --- DKIM, SPF, DMARC -------------------------------------------------------------------
def _signed_sender(keys, **kw):
    return sign(make_message("Term dates attached.", sender="Bob <bob@sender.example>", **kw),
                keys["sender"], "sender.example", "sel")


def _tampered(keys):
    return _signed_sender(keys).replace(b"Term dates", b"Bank details")


def _unsigned(keys):
    return make_message("Term dates attached.", sender="Bob <bob@sender.example>")


def _third_party(keys):
    return sign(_unsigned(keys), keys["mailer"], "mailer.example", "m1")


def _unpublished_key(keys):
    return sign(_unsigned(keys), keys["sender"], "sender.example", "gone")


@pytest.mark.parametrize("build, ip, dmarc, spf_record, expected, absent", [
    # signed and from the published server: clean
    (_signed_sender, OUTSIDE_IP, "v=DMARC1; p=reject", "v=spf1 ip4:192.0.2.0/24 -all", set(),
     {"DKIM_FAIL", "SPF_FAIL", "DMARC_REJECT"}),
    # signed, wrong server: SPF fails but DKIM aligns, so DMARC passes
    (_signed_sender, OTHER_IP, "v=DMARC1; p=reject", "v=spf1 ip4:192.0.2.0/24 -all", {"SPF_FAIL"},
     {"DMARC_REJECT", "DKIM_FAIL"}),
    # body changed after signing
    (_tampered, OUTSIDE_IP, "v=DMARC1; p=none", "v=spf1 ip4:192.0.2.0/24 -all", {"DKIM_FAIL"},
     {"DMARC_FAIL"}),
    # key no longer published
    (_unpublished_key, OUTSIDE_IP, "v=DMARC1; p=none", "v=spf1 ip4:192.0.2.0/24 -all", {"DKIM_FAIL"}, set()),
    # unsigned, from the right server: SPF aligns
    (_unsigned, OUTSIDE_IP, "v=DMARC1; p=reject", "v=spf1 ip4:192.0.2.0/24 -all", set(), {"DMARC_REJECT"}),
    (_unsigned, OTHER_IP, "v=DMARC1; p=reject", "v=spf1 ip4:192.0.2.0/24 -all", {"SPF_FAIL", "DMARC_REJECT"}, set()),
    (_unsigned, OTHER_IP, "v=DMARC1; p=quarantine", "v=spf1 ip4:192.0.2.0/24 ~all",
     {"SPF_SOFTFAIL", "DMARC_QUARANTINE"}, {"SPF_FAIL"}),
    (_unsigned, OTHER_IP, "v=DMARC1; p=none; rua=mailto:d@sender.example", "v=spf1 ip4:192.0.2.0/24 ?all",
     {"DMARC_FAIL"}, {"SPF_FAIL", "SPF_SOFTFAIL"}),
    # pct below 100: never stricter than the owner asked for everyone
    (_unsigned, OTHER_IP, "v=DMARC1; p=reject; pct=20", "v=spf1 -all", {"DMARC_QUARANTINE"}, {"DMARC_REJECT"}),
    # signed by a third party whose d= does not align with From: DMARC fails
    (_third_party, OTHER_IP, "v=DMARC1; p=reject", "v=spf1 ip4:192.0.2.0/24 -all", {"DMARC_REJECT"},
     {"DKIM_FAIL"}),
    # strict DKIM alignment
    (_third_party, OUTSIDE_IP, "v=DMARC1; p=reject; aspf=s", "v=spf1 ip4:192.0.2.0/24 -all", set(),
     {"DMARC_REJECT"}),
])
async def test_dkim_spf_dmarc(tmp_path, keys, build, ip, dmarc, spf_record, expected, absent):
    flt, _, directory = make_filter(tmp_path, records(keys, dmarc=dmarc, spf=spf_record))
    found = await flt.check(view_of(build(keys), directory, ip=ip))
    assert expected <= codes(found), found
    assert not (absent & codes(found)), found
    for finding in found:
        assert finding.filter == "authentication" and finding.reason and all(finding.evidence)


async def test_dmarc_falls_back_to_the_organizational_domain_and_uses_sp(tmp_path, keys):
    table = records(keys, dmarc="v=DMARC1; p=none; sp=reject")
    flt, _, directory = make_filter(tmp_path, table)
    raw = make_message("hello", sender="news@news.sender.example")
    found = await flt.check(view_of(raw, directory, mail_from="news@news.sender.example", ip=OTHER_IP))
    assert "DMARC_REJECT" in codes(found)
    finding = next(f for f in found if f.code == "DMARC_REJECT")
    assert finding.severity == Severity.HIGH and finding.evidence[0] == "news.sender.example"
    asked = flt._resolver.queries  # the subdomain first, then the organizational domain
    assert asked.index(("_dmarc.news.sender.example", "TXT")) < asked.index(("_dmarc.sender.example", "TXT"))


async def test_dkim_fail_is_not_reported_when_another_signature_verifies(tmp_path, keys):
    raw = sign(_tampered(keys), keys["mailer"], "mailer.example", "m1")  # outer signature still good
    flt, _, directory = make_filter(tmp_path, records(keys))
    view = view_of(raw, directory)
    found = await flt.check(view)
    assert "DKIM_FAIL" not in codes(found)
    results = flt.results_for(view)
    assert sorted(r.result for r in results.dkim) == ["fail", "pass"]


async def test_spf_uses_helo_for_a_null_sender(tmp_path, keys):
    table = records(keys)
    table[("mx.sender.example", "TXT")] = ["v=spf1 ip4:192.0.2.10 -all"]
    flt, _, directory = make_filter(tmp_path, table)
    raw = make_message("Delivery failed", sender="MAILER-DAEMON@mx.sender.example")
    good = view_of(raw, directory, mail_from="")
    bad = view_of(raw, directory, mail_from="", ip=OTHER_IP)
    assert "SPF_FAIL" not in codes(await flt.check(good))
    assert "SPF_FAIL" in codes(await flt.check(bad))
    assert "smtp.helo=mx.sender.example" in flt.authentication_results(bad)


@pytest.mark.parametrize("option, code", [("dkim", "DKIM_FAIL"), ("spf", "SPF_FAIL"), ("dmarc", "DMARC_REJECT")])
async def test_parts_can_be_switched_off(tmp_path, keys, option, code):
    raw = _tampered(keys)
    on, _, directory = make_filter(tmp_path, records(keys))
    assert code in codes(await on.check(view_of(raw, directory, ip=OTHER_IP)))
    off, _, directory = make_filter(tmp_path, records(keys), **{option: False})
    assert code not in codes(await off.check(view_of(raw, directory, ip=OTHER_IP)))


# --- anti-spoofing ----------------------------------------------------------------------
@pytest.mark.parametrize("sender, mail_from, ip, signed, spoofed", [
    # the head teacher asking the bursar for gift cards, from outside
    (f"Head Teacher <head@{SCHOOL_DOMAIN}>", "x@sender.example", OTHER_IP, False, True),
    (f"head@pupils.{SCHOOL_DOMAIN}", "x@sender.example", OTHER_IP, False, True),
    ("bob@sender.example", f"head@{SCHOOL_DOMAIN}", OTHER_IP, False, True),
    # the school's cloud-hosted mail: outside IP, but signed with the school's key
    (f"head@{SCHOOL_DOMAIN}", f"head@{SCHOOL_DOMAIN}", OTHER_IP, True, False),
    # the school's own server (a trusted network): not this filter's business
    (f"head@{SCHOOL_DOMAIN}", f"head@{SCHOOL_DOMAIN}", "127.0.0.1", False, False),
    ("bob@sender.example", "bob@sender.example", OUTSIDE_IP, False, False),
])
async def test_spoofed_school_sender(tmp_path, keys, sender, mail_from, ip, signed, spoofed):
    raw = make_message("Please buy 10 gift cards today.", sender=sender)
    if signed:
        raw = sign(raw, keys["school"], SCHOOL_DOMAIN, "gw")
    flt, settings, directory = make_filter(tmp_path, records(keys))
    view = view_of(raw, directory, mail_from=mail_from, ip=ip)
    found = await flt.check(view)
    spoof = [f for f in found if f.code == "SPOOFED_SCHOOL_SENDER"]
    assert bool(spoof) == spoofed, found
    if spoofed:
        assert spoof[0].category == Category.SPOOFING and spoof[0].severity == Severity.HIGH
        assert all(SCHOOL_DOMAIN in e for e in spoof[0].evidence)
        verdict = Policy(settings).decide(view, found)
        assert verdict.actions[RCPT] == Action.HOLD


async def test_second_from_field_in_the_school_domain_is_caught(tmp_path, keys):
    raw = f"From: head@{SCHOOL_DOMAIN}\n".encode() + make_message("hi", sender="bob@sender.example")
    flt, _, directory = make_filter(tmp_path, records(keys))
    found = await flt.check(view_of(raw, directory))
    assert "SPOOFED_SCHOOL_SENDER" in codes(found)


async def test_trusted_network_mail_is_skipped_without_dns(tmp_path, keys):
    resolver = StaticResolver({})
    flt, _, directory = make_filter(tmp_path, resolver=resolver)
    view = view_of(make_message("hi", sender=f"head@{SCHOOL_DOMAIN}"), directory,
                   mail_from=f"head@{SCHOOL_DOMAIN}", ip="::ffff:127.0.0.1")
    assert await flt.check(view) == []
    assert resolver.queries == [] and flt.authentication_results(view) == ""


@pytest.mark.parametrize("display, address, impersonated", [
    ("Jane Headley", "jane.h.office@gmail.com", True),
    ("Mrs Jane HEADLEY (Headteacher)", "ceo@sender.example", True),
    ("Headley, Jane", "ceo@sender.example", True),
    ("Thomas O'Neill Price", "finance@sender.example", True),
    (f"head@{SCHOOL_DOMAIN}", "x@sender.example", True),
    ("Jane", "jane@sender.example", False),  # one word: too common to mean anything
    ("Jane Smith", "jane@sender.example", False),
    ("Amy Pupil", "amy@sender.example", False),  # pupils are not the target of this check
    ("Jane Headley", "jane.headley77@gmail.com", False),  # her own listed private address
])
async def test_display_name_impersonation(tmp_path, keys, display, address, impersonated):
    raw = make_message("Are you free? I need a favour.", sender=f'"{display}" <{address}>')
    flt, settings, directory = make_filter(tmp_path, records(keys))
    view = view_of(raw, directory, mail_from=address)
    found = [f for f in await flt.check(view) if f.code == "DISPLAY_NAME_IMPERSONATION"]
    assert bool(found) == impersonated, found
    if impersonated:
        assert found[0].category == Category.SPOOFING
        assert all(e in view.from_name for e in found[0].evidence)


def test_name_tokens_drop_titles_accents_and_punctuation():
    assert name_tokens("Mrs. Zoë O'Brien-Smith") == ("zoe", "o", "brien", "smith")


# --- DNS trouble is a tempfail, never a reject -------------------------------------------
async def test_dns_failure_raises_and_the_chain_tempfails(tmp_path, keys):
    table = records(keys)
    table[("_dmarc.sender.example", "TXT")] = DNSLookupError("SERVFAIL")
    flt, settings, directory = make_filter(tmp_path, table)
    view = view_of(_unsigned(keys), directory, ip=OTHER_IP)
    with pytest.raises(DNSLookupError):
        await flt.check(view)
    chain = FilterChain([(flt, settings.filter_options["authentication"])])
    result = await chain.run(view)
    assert result.findings == () and result.failures[0].filter == "authentication"
    verdict = Policy(settings).decide(view, result.findings, result.failures)
    assert verdict.action == Action.TEMPFAIL


@pytest.fixture
def silent_dns_server():
    """A real UDP socket that receives queries and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()
    sock.close()


async def test_unanswered_dns_is_bounded_by_the_timeout(tmp_path, keys, silent_dns_server):
    host, port = silent_dns_server
    resolver = DnspythonResolver([host])
    resolver._resolver.port = port
    flt, settings, directory = make_filter(tmp_path, resolver=resolver, dns_timeout=0.2, dns_budget=0.5)
    view = view_of(_signed_sender(keys), directory, ip=OTHER_IP)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(DNSLookupError):
        await flt.check(view)
    assert loop.time() - started < 5  # bounded: nowhere near a resolver's default 30 s


# --- Authentication-Results -----------------------------------------------------------------
async def test_authentication_results_header_is_valid_rfc8601(tmp_path, keys):
    flt, _, directory = make_filter(tmp_path, records(keys))
    view = view_of(_signed_sender(keys), directory)
    await flt.check(view)
    value = flt.authentication_results(view)
    parsed = authres.AuthenticationResultsHeader.parse("Authentication-Results: " + value)
    assert parsed.authserv_id == "schoolgate.local"
    assert {r.method: r.result for r in parsed.results} == {"dkim": "pass", "spf": "pass", "dmarc": "pass"}


async def test_hostile_envelope_cannot_write_into_the_header(tmp_path, keys):
    flt, _, directory = make_filter(tmp_path, records(keys))
    view = view_of(_unsigned(keys), directory, mail_from='"x;dkim=pass"@sender.example', helo="a b;dkim=pass")
    await flt.check(view)
    value = flt.authentication_results(view)
    assert "dkim=pass" not in value and value.count(";") == 3


def test_forged_results_with_our_authserv_id_are_removed():
    raw = (b"Authentication-Results: schoolgate.local; dkim=pass\r\n header.d=school.sch.uk\r\n"
           b"Authentication-Results: mx.other.example; spf=pass\r\n"
           b"Subject: hi\r\n\r\nbody\r\n")
    out = with_authentication_results(raw, "schoolgate.local; dkim=none", "schoolgate.local")
    assert out.startswith(b"Authentication-Results: schoolgate.local; dkim=none\r\n")
    assert b"header.d=school.sch.uk" not in out and b"mx.other.example; spf=pass" in out
    assert out.endswith(b"Subject: hi\r\n\r\nbody\r\n")


# --- config and corpus ----------------------------------------------------------------------
def test_not_in_the_default_chain_but_options_always_validated():
    settings = make_settings()
    assert "authentication" not in settings.filters.chain
    assert settings.filter_options["authentication"].dns_timeout > 0
    chained = make_settings(filters={"chain": ["attachments", "authentication"]})
    assert chained.filters.chain[-1] == "authentication"


CRYMAP = CORPORA / "mime-samples-crymap"


@pytest.mark.skipif(not CRYMAP.is_dir(), reason=f"corpus {CRYMAP} not present")
async def test_real_signed_mail_parses_without_published_keys(tmp_path):
    flt, _, directory = make_filter(tmp_path, {})
    signed = 0
    for path in sorted(CRYMAP.glob("*.eml")):
        raw = path.read_bytes()
        view = view_of(raw, directory, mail_from="someone@sender.example", ip=OTHER_IP)
        found = await flt.check(view)  # must not raise
        results = flt.results_for(view)
        assert results is not None
        if b"DKIM-Signature" in raw[:20000] or b"dkim-signature" in raw[:20000].lower():
            signed += 1
            # the keys are gone from DNS: never a pass, and said so
            assert results.dkim and all(r.result != "pass" for r in results.dkim), path.name
            assert "DKIM_FAIL" in codes(found), path.name
    if not signed:
        pytest.skip("no DKIM-signed sample in the corpus")


async def test_annotate_adds_the_header_once_and_forgets_the_result(tmp_path, keys):
    flt, _, directory = make_filter(tmp_path, records(keys))
    view = view_of(_signed_sender(keys), directory)
    await flt.check(view)
    annotated = flt.annotate(view, view.raw)
    assert annotated.startswith(b"Authentication-Results: schoolgate.local; dkim=pass")
    assert annotated.endswith(view.raw)
    assert flt.annotate(view, view.raw) == view.raw  # kept results do not pile up

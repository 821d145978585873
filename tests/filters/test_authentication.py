"""Sender authentication: real DKIM signatures (keys made here), real pyspf and DMARC
evaluation, with DNS answers from a real DNS server on loopback that each test fills
from a table (tests/dns_server.py; the public internet is out of reach)."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import authres
import dkim
import pytest

from filters.authentication import AuthenticationFilter, name_tokens, with_authentication_results
from filters.base import Action, Category, FilterContext, Severity
from filters.chain import FilterChain
from filters.directory import Directory
from config.loader import ConfigError
from filters.authentication import TEMPERROR_CODE
from filters.dns_lookup import DNSLookupError, DnspythonResolver, parse_nameserver
from tests.dns_server import SERVFAIL, SILENT, DnsServer
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


class FilterMaker:
    """make_filter(tmp_path, table, **options): the filter, asking a real DNS server on
    loopback (port 0) that serves `table`; `.server` is the last one started."""

    def __init__(self) -> None:
        self.servers: list[DnsServer] = []

    @property
    def server(self) -> DnsServer:
        return self.servers[-1]

    def __call__(self, tmp_path: Path, table: dict | None = None, *, staff=(), **options):
        server = DnsServer(table or {}).start()
        self.servers.append(server)
        options.setdefault("nameservers", [server.address])
        directory_csv = write_directory(tmp_path / "directory.csv", [
            (f"jane.headley@{SCHOOL_DOMAIN}", "staff", "Jane Headley", "jane.headley77@gmail.com"),
            (f"tom.bursar@{SCHOOL_DOMAIN}", "staff", "Thomas O'Neill-Price", ""),
            (f"amy.pupil@{SCHOOL_DOMAIN}", "student", "Amy Pupil", ""),
            *staff,
        ])
        settings = make_settings(tmp_path, directory={"csv": str(directory_csv)}, authentication=options)
        directory = Directory(settings.directory.csv, {}, tuple(settings.school.domains))
        opts = settings.filter_options["authentication"]
        context = FilterContext(settings=settings, directory=directory)
        return AuthenticationFilter(opts, context), settings, directory

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def make_filter():
    maker = FilterMaker()
    yield maker
    maker.stop()


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
async def test_dkim_spf_dmarc(make_filter, tmp_path, keys, build, ip, dmarc, spf_record, expected, absent):
    flt, _, directory = make_filter(tmp_path, records(keys, dmarc=dmarc, spf=spf_record))
    found = await flt.check(view_of(build(keys), directory, ip=ip))
    assert expected <= codes(found), found
    assert not (absent & codes(found)), found
    for finding in found:
        assert finding.filter == "authentication" and finding.reason and all(finding.evidence)


async def test_dmarc_falls_back_to_the_organizational_domain_and_uses_sp(make_filter, tmp_path, keys):
    table = records(keys, dmarc="v=DMARC1; p=none; sp=reject")
    flt, _, directory = make_filter(tmp_path, table)
    raw = make_message("hello", sender="news@news.sender.example")
    found = await flt.check(view_of(raw, directory, mail_from="news@news.sender.example", ip=OTHER_IP))
    assert "DMARC_REJECT" in codes(found)
    finding = next(f for f in found if f.code == "DMARC_REJECT")
    assert finding.severity == Severity.HIGH and finding.evidence[0] == "news.sender.example"
    asked = make_filter.server.queries  # the subdomain first, then the organizational domain
    assert asked.index(("_dmarc.news.sender.example", "TXT")) < asked.index(("_dmarc.sender.example", "TXT"))


async def test_dkim_fail_is_not_reported_when_another_signature_verifies(make_filter, tmp_path, keys):
    raw = sign(_tampered(keys), keys["mailer"], "mailer.example", "m1")  # outer signature still good
    flt, _, directory = make_filter(tmp_path, records(keys))
    view = view_of(raw, directory)
    found = await flt.check(view)
    assert "DKIM_FAIL" not in codes(found)
    results = flt.results_for(view)
    assert sorted(r.result for r in results.dkim) == ["fail", "pass"]


async def test_spf_uses_helo_for_a_null_sender(make_filter, tmp_path, keys):
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
async def test_parts_can_be_switched_off(make_filter, tmp_path, keys, option, code):
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
async def test_spoofed_school_sender(make_filter, tmp_path, keys, sender, mail_from, ip, signed, spoofed):
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


async def test_second_from_field_in_the_school_domain_is_caught(make_filter, tmp_path, keys):
    raw = f"From: head@{SCHOOL_DOMAIN}\n".encode() + make_message("hi", sender="bob@sender.example")
    flt, _, directory = make_filter(tmp_path, records(keys))
    found = await flt.check(view_of(raw, directory))
    assert "SPOOFED_SCHOOL_SENDER" in codes(found)


async def test_trusted_network_mail_is_skipped_without_dns(make_filter, tmp_path, keys):
    flt, _, directory = make_filter(tmp_path)
    view = view_of(make_message("hi", sender=f"head@{SCHOOL_DOMAIN}"), directory,
                   mail_from=f"head@{SCHOOL_DOMAIN}", ip="::ffff:127.0.0.1")
    assert await flt.check(view) == []
    assert make_filter.server.queries == [] and flt.authentication_results(view) == ""


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
async def test_display_name_impersonation(make_filter, tmp_path, keys, display, address, impersonated):
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


# --- DNS trouble: never a verdict about the sender; on_error decides ---------------------
async def test_dns_failure_is_tagged_by_default_and_recorded(make_filter, tmp_path, keys):
    table = records(keys)
    table[("_dmarc.sender.example", "TXT")] = SERVFAIL
    flt, settings, directory = make_filter(tmp_path, table)
    assert settings.filter_options["authentication"].on_error == "tag"
    view = view_of(_unsigned(keys), directory, ip=OTHER_IP)
    found = await flt.check(view)
    assert codes(found) == {TEMPERROR_CODE}  # no DKIM/SPF/DMARC verdict from half an answer
    [finding] = found
    assert finding.severity == Severity.LOW and "_dmarc.sender.example" in finding.evidence[0]
    header = authres.AuthenticationResultsHeader.parse("Authentication-Results: " + flt.authentication_results(view))
    assert {r.method: r.result for r in header.results} == {"dkim": "temperror", "spf": "temperror",
                                                            "dmarc": "temperror"}
    verdict = Policy(settings).decide(view, found)
    assert verdict.actions[RCPT] == Action.TAG and TEMPERROR_CODE in verdict.codes


async def test_checks_without_dns_still_run_when_dns_fails(make_filter, tmp_path, keys):
    # a forged head teacher during a DNS outage: still caught, still held for a pupil
    flt, settings, directory = make_filter(tmp_path, {(SCHOOL_DOMAIN, "TXT"): SERVFAIL,
                                                      ("sender.example", "TXT"): SERVFAIL})
    raw = make_message("Please buy 10 gift cards today.", sender=f"Jane Headley <head@{SCHOOL_DOMAIN}>")
    view = build_view(raw, Envelope("x@sender.example", (f"amy.pupil@{SCHOOL_DOMAIN}",), OTHER_IP, "h"),
                      directory)
    found = await flt.check(view)
    assert {TEMPERROR_CODE, "SPOOFED_SCHOOL_SENDER"} <= codes(found), found
    assert Policy(settings).decide(view, found).actions[f"amy.pupil@{SCHOOL_DOMAIN}"] == Action.HOLD


@pytest.mark.parametrize("on_error, action", [("tempfail", Action.TEMPFAIL), ("hold", Action.HOLD)])
async def test_dns_failure_raises_and_the_chain_applies_on_error(make_filter, tmp_path, keys, on_error, action):
    table = records(keys)
    table[("_dmarc.sender.example", "TXT")] = SERVFAIL
    flt, settings, directory = make_filter(tmp_path, table, on_error=on_error)
    view = view_of(_unsigned(keys), directory, ip=OTHER_IP)
    with pytest.raises(DNSLookupError):
        await flt.check(view)
    chain = FilterChain([(flt, settings.filter_options["authentication"])])
    result = await chain.run(view)
    assert result.findings == () and result.failures[0].filter == "authentication"
    verdict = Policy(settings).decide(view, result.findings, result.failures)
    assert verdict.action == action


async def test_a_chain_timeout_with_tag_is_recorded_and_tags(make_filter, tmp_path, keys):
    # the chain's own deadline (below the DNS budget here): a recorded failure, floor TAG
    flt, settings, directory = make_filter(tmp_path, {("sender.example", "TXT"): SILENT},
                                           timeout=0.3, dns_timeout=2, dns_budget=2)
    view = view_of(_unsigned(keys), directory, ip=OTHER_IP)
    result = await FilterChain([(flt, settings.filter_options["authentication"])]).run(view)
    assert [(f.filter, f.kind, f.on_error) for f in result.failures] == [("authentication", "timeout", Action.TAG)]
    assert Policy(settings).decide(view, result.findings, result.failures).actions[RCPT] == Action.TAG


async def test_unanswered_dns_is_bounded_then_marked_down(make_filter, tmp_path, keys):
    flt, settings, directory = make_filter(tmp_path, {("sender.example", "TXT"): SILENT,
                                                      ("sel._domainkey.sender.example", "TXT"): SILENT,
                                                      ("_dmarc.sender.example", "TXT"): SILENT},
                                           dns_timeout=0.3, dns_budget=1, dns_down_seconds=60)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(2):  # two timeouts in a row (one per message: the first ends its checks)
        assert TEMPERROR_CODE in codes(await flt.check(view_of(_signed_sender(keys), directory, ip=OTHER_IP)))
    assert loop.time() - started < 3  # bounded: nowhere near a resolver's default 30 s
    asked = len(make_filter.server.queries)
    assert asked == 2
    # the resolver is now marked down: the next messages fail at once, asking nobody
    started = loop.time()
    for _ in range(3):
        assert TEMPERROR_CODE in codes(await flt.check(view_of(_unsigned(keys), directory, ip=OTHER_IP)))
    assert loop.time() - started < 0.5
    assert len(make_filter.server.queries) == asked


def test_a_down_resolver_is_tried_again_after_down_seconds():
    server = DnsServer({("a.example", "TXT"): SILENT}).start()
    try:
        resolver = DnspythonResolver([server.address], down_seconds=0.5)
        for _ in range(2):
            with pytest.raises(DNSLookupError, match="no answer"):
                resolver.resolve("a.example", "TXT", 0.2)
        assert resolver.down
        server.set({("a.example", "TXT"): ["v=spf1 -all"]})  # DNS is back
        with pytest.raises(DNSLookupError, match="did not answer recently"):
            resolver.resolve("a.example", "TXT", 0.2)
        import time
        time.sleep(0.6)
        assert resolver.resolve("a.example", "TXT", 1) == [b"v=spf1 -all"] and not resolver.down
    finally:
        server.stop()


def test_servfail_does_not_mark_the_resolver_down():
    # one sender's broken DNS must not stop everyone's checks
    server = DnsServer({("broken.example", "TXT"): SERVFAIL, ("ok.example", "TXT"): ["hello"]}).start()
    try:
        resolver = DnspythonResolver([server.address])
        for _ in range(3):
            with pytest.raises(DNSLookupError, match="server failure"):
                resolver.resolve("broken.example", "TXT", 1)
        assert not resolver.down and resolver.resolve("ok.example", "TXT", 1) == [b"hello"]
    finally:
        server.stop()


def test_a_long_txt_record_comes_over_tcp():
    # bigger than the EDNS buffer: the server truncates, the client asks again over TCP
    big = "v=DKIM1; k=rsa; p=" + "A" * 3000
    server = DnsServer({("s._domainkey.big.example", "TXT"): [big]}).start()
    try:
        resolver = DnspythonResolver([server.address])
        assert resolver.resolve("s._domainkey.big.example", "TXT", 2) == [big.encode()]
    finally:
        server.stop()


@pytest.mark.parametrize("text, parsed", [
    ("10.0.0.53", ("10.0.0.53", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("::1", ("::1", 53)), ("[::1]:5353", ("::1", 5353)), ("2001:db8::53", ("2001:db8::53", 53)),
])
def test_nameserver_entries(text, parsed):
    assert parse_nameserver(text) == parsed


@pytest.mark.parametrize("bad", ["dns.google", "10.0.0.53:99999", "[::1]5353", "10.0.0.53:x"])
def test_a_bad_nameserver_is_a_config_error_naming_the_key(bad):
    with pytest.raises(ConfigError) as info:
        make_settings(authentication={"nameservers": [bad]})
    line = str(info.value)
    assert "authentication" in line and "nameservers" in line and "Traceback" not in line


async def test_self_test_warns_when_dns_does_not_answer(make_filter, tmp_path):
    flt, _, _ = make_filter(tmp_path, {(SCHOOL_DOMAIN, "TXT"): SILENT}, dns_timeout=0.2)
    [warning] = await flt.self_test()
    assert "DNS does not answer" in warning and TEMPERROR_CODE in warning
    ok, _, _ = make_filter(tmp_path, {(SCHOOL_DOMAIN, "TXT"): ["v=spf1 -all"]})
    assert await ok.self_test() == []


# --- Authentication-Results -----------------------------------------------------------------
async def test_authentication_results_header_is_valid_rfc8601(make_filter, tmp_path, keys):
    flt, _, directory = make_filter(tmp_path, records(keys))
    view = view_of(_signed_sender(keys), directory)
    await flt.check(view)
    value = flt.authentication_results(view)
    parsed = authres.AuthenticationResultsHeader.parse("Authentication-Results: " + value)
    assert parsed.authserv_id == "schoolgate.local"
    assert {r.method: r.result for r in parsed.results} == {"dkim": "pass", "spf": "pass", "dmarc": "pass"}


async def test_hostile_envelope_cannot_write_into_the_header(make_filter, tmp_path, keys):
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
def test_in_the_default_chain_tagging_on_dns_failure():
    settings = make_settings()
    assert "authentication" in settings.filters.chain
    assert settings.filters.chain.index("authentication") > settings.filters.chain.index("sender_trust")
    opts = settings.filter_options["authentication"]
    assert opts.on_error == "tag" and opts.dns_budget < opts.timeout
    assert opts.nameservers == [os.environ["SCHOOLGATE_TEST_DNS"]]  # the test server, not the internet


CRYMAP = CORPORA / "mime-samples-crymap"


@pytest.mark.skipif(not CRYMAP.is_dir(), reason=f"corpus {CRYMAP} not present")
async def test_real_signed_mail_parses_without_published_keys(make_filter, tmp_path):
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


async def test_annotate_adds_the_header_once_and_forgets_the_result(make_filter, tmp_path, keys):
    flt, _, directory = make_filter(tmp_path, records(keys))
    view = view_of(_signed_sender(keys), directory)
    await flt.check(view)
    annotated = flt.annotate(view, view.raw)
    assert annotated.startswith(b"Authentication-Results: schoolgate.local; dkim=pass")
    assert annotated.endswith(view.raw)
    assert flt.annotate(view, view.raw) == view.raw  # kept results do not pile up

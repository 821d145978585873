"""Virus filter against a real clamd (tests/clamd_server.py builds its database)."""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import gzip
import io
import shutil
import socket
import subprocess
import time
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest
from pydantic import ValidationError

from filters.base import Action, Category, FilterContext, Severity
from filters.chain import FilterChain
from filters.policy import Policy
from filters.virus import (EICAR, ClamdError, ClamdTimeout, ClamdUnavailable, ClamdVersion, Options,
                           VirusFilter, VirusSelfTestError, parse_version, signature_age_warnings)
from tests.clamd_server import EICAR_SIGNATURE, STREAM_MAX_LENGTH, TESTFILE_SIGNATURE
from tests.clamd_server import clamd_server  # noqa: F401
from tests.factories import CORPORA, SCHOOL_DOMAIN, make_message, make_settings, make_view

EICAR_FOUND = f"{EICAR_SIGNATURE}.UNOFFICIAL"
TESTFILE_FOUND = f"{TESTFILE_SIGNATURE}.UNOFFICIAL"
CLAMAV_MAIL = CORPORA / "clamav-testfiles-mail"
HAM = CORPORA / "spamassassin-public-corpus-sample" / "easy-ham-1"


def make_filter(clamd: str, **options) -> VirusFilter:
    return VirusFilter(Options(clamd=clamd, **options), FilterContext(settings=None, directory=None))


# --- message builders: EICAR wrapped every way a school's mail might carry it -------------

def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def _with_attachment(data: bytes, filename: str | None, mime: str = "application/octet-stream") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "alice@example.com", f"bob@{SCHOOL_DOMAIN}", "Files"
    msg.set_content("Please see the attached file.")
    maintype, _, subtype = mime.partition("/")
    if filename is None:
        msg.add_attachment(data, maintype=maintype, subtype=subtype)
    else:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def _forwarded() -> bytes:
    inner = EmailMessage()
    inner["From"], inner["To"], inner["Subject"] = "mallory@example.net", "alice@example.com", "Invoice"
    inner.set_content("Invoice attached.")
    inner.add_attachment(EICAR, maintype="application", subtype="octet-stream", filename="invoice.com")
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = "alice@example.com", f"bob@{SCHOOL_DOMAIN}", "Fwd: Invoice"
    outer.set_content("Is this genuine?")
    outer.add_attachment(inner)  # message/rfc822
    return outer.as_bytes()


def _base64_part(line_length: int | None) -> bytes:
    encoded = base64.b64encode(EICAR).decode()
    if line_length is not None:
        encoded = "\n".join(encoded[i:i + line_length] for i in range(0, len(encoded), line_length))
    return (
        "From: alice@example.com\nTo: bob@school.sch.uk\nSubject: b64\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="XX"\n\n'
        "--XX\nContent-Type: text/plain\n\nSee attached.\n"
        '--XX\nContent-Type: application/octet-stream; name="a.bin"\n'
        "Content-Transfer-Encoding: base64\n"
        'Content-Disposition: attachment; filename="a.bin"\n\n'
        f"{encoded}\n--XX--\n").encode()


def _rfc2231() -> bytes:
    raw = _with_attachment(EICAR, "Élève – rapport trimestriel.pdf", "application/pdf")
    assert b"filename*=" in raw  # really RFC 2231 encoded, not a plain quoted name
    return raw


EICAR_MESSAGES = {
    "plain attachment": lambda: _with_attachment(EICAR, "eicar.com"),
    "zipped": lambda: _with_attachment(_zip("eicar.com", EICAR), "eicar.zip", "application/zip"),
    "zip inside zip": lambda: _with_attachment(
        _zip("inner.zip", _zip("eicar.com", EICAR)), "outer.zip", "application/zip"),
    "gzip": lambda: _with_attachment(gzip.compress(EICAR), "eicar.com.gz", "application/gzip"),
    "forwarded message/rfc822": _forwarded,
    "no filename": lambda: _with_attachment(EICAR, None),
    "misleading name": lambda: _with_attachment(EICAR, "holiday-photo.jpg", "image/jpeg"),
    "rfc2231 filename": _rfc2231,
    "base64 wrapped at 76": lambda: _base64_part(76),
    "base64 wrapped at 20": lambda: _base64_part(20),
    "base64 unwrapped": lambda: _base64_part(None),
    "pasted inline": lambda: make_message("Hi,\nplease test this:\n" + EICAR.decode() + "\nThanks"),
}


@pytest.mark.parametrize("transport", ["unix", "tcp"])
@pytest.mark.parametrize("case", list(EICAR_MESSAGES))
async def test_eicar_is_found(clamd_server, case, transport):
    address = clamd_server.address if transport == "unix" else clamd_server.tcp_address
    findings = await make_filter(address).check(make_view(EICAR_MESSAGES[case]()))
    assert [f.code for f in findings] == ["VIRUS_FOUND"]
    (finding,) = findings
    assert finding.category == Category.VIRUS
    assert finding.severity == Severity.CRITICAL
    assert finding.evidence == (EICAR_FOUND,)  # the name exactly as clamd reports it
    assert EICAR_FOUND in finding.reason


@pytest.mark.parametrize("name", ["clam.mail.eml", "clam.exe.mbox.base64.mbox", "clam.exe.mbox.uu.mbox"])
async def test_clamav_test_mails(clamd_server, name):
    path = CLAMAV_MAIL / name
    if not path.exists():
        pytest.skip(f"corpus absent: {path} (see ../shared/corpora)")
    findings = await make_filter(clamd_server.address).check(make_view(path.read_bytes()))
    assert [(f.code, f.evidence) for f in findings] == [("VIRUS_FOUND", (TESTFILE_FOUND,))]


def _ham_samples() -> list[Path]:
    return sorted(HAM.glob("*.eml"))[:5] if HAM.is_dir() else []


@pytest.mark.parametrize("raw", [
    pytest.param(lambda: make_message("Dear parents, the trip is on Friday."), id="text"),
    pytest.param(lambda: _with_attachment(_zip("notes.txt", b"Spelling list week 3"), "notes.zip",
                                          "application/zip"), id="clean zip"),
    pytest.param(lambda: _with_attachment(EICAR[:-1], "almost.com"), id="EICAR minus one byte"),
])
async def test_clean_message_gives_no_finding(clamd_server, raw):
    assert await make_filter(clamd_server.address).check(make_view(raw())) == []


async def test_clean_corpus_samples_give_no_finding(clamd_server):
    samples = _ham_samples()
    if not samples:
        pytest.skip(f"corpus absent: {HAM} (see ../shared/corpora)")
    flt = make_filter(clamd_server.address)
    for path in samples:
        assert await flt.check(make_view(path.read_bytes())) == [], path.name


# --- what clamd could not scan is held, never passed ----------------------------------------

async def test_message_over_scan_limit_is_incomplete_without_asking_clamd(tmp_path):
    # nothing listens at this path: the size check must come first and not need clamd
    flt = make_filter(f"unix:{tmp_path}/none.sock", max_scan_bytes=100_000)
    raw = _with_attachment(b"x" * 200_000, "big.bin")
    (finding,) = await flt.check(make_view(raw))
    assert finding.code == "VIRUS_SCAN_INCOMPLETE"
    assert finding.category == Category.SCAN_INCOMPLETE
    assert finding.evidence == (f"{len(raw)} bytes",)


async def test_part_over_clamd_max_file_size_is_incomplete(clamd_server):
    # AlertExceedsMax yes: clamd says so instead of silently skipping the part
    raw = _with_attachment(b"\x00" * (clamd_server.max_file_size + 100_000), "data.bin")
    (finding,) = await make_filter(clamd_server.address).check(make_view(raw))
    assert finding.code == "VIRUS_SCAN_INCOMPLETE"
    assert finding.category == Category.SCAN_INCOMPLETE
    assert finding.evidence[0].startswith("Heuristics.Limits.Exceeded")


@pytest.mark.skipif(shutil.which("zip") is None, reason="the zip program is needed to build an encrypted zip")
async def test_encrypted_zip_is_incomplete(clamd_server, tmp_path):
    (tmp_path / "eicar.com").write_bytes(EICAR)
    subprocess.run(["zip", "-q", "-P", "secret", "locked.zip", "eicar.com"], cwd=tmp_path, check=True)
    raw = _with_attachment((tmp_path / "locked.zip").read_bytes(), "locked.zip", "application/zip")
    (finding,) = await make_filter(clamd_server.address).check(make_view(raw))
    assert finding.code == "VIRUS_SCAN_INCOMPLETE"
    assert finding.evidence[0].startswith("Heuristics.Encrypted")


@pytest.mark.parametrize("transport", ["unix", "tcp"])
async def test_clamd_stream_limit_error_raises(clamd_server, transport):
    # our limit set above clamd's StreamMaxLength (a misconfiguration): clamd's
    # "INSTREAM size limit exceeded" must fail the filter, not pass the message
    address = clamd_server.address if transport == "unix" else clamd_server.tcp_address
    flt = make_filter(address, max_scan_bytes=STREAM_MAX_LENGTH * 2)
    raw = _with_attachment(b"y" * (STREAM_MAX_LENGTH + 500_000), "big.bin")
    with pytest.raises(ClamdError):
        await flt.check(make_view(raw))


# --- clamd down: real sockets that refuse or never answer ------------------------------------

def _dead_unix_socket(path: Path) -> str:
    # bound then closed: the file exists but nobody listens (ECONNREFUSED)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()
    return f"unix:{path}"


@pytest.fixture
def silent_unix(tmp_path):
    # listens but never accepts or answers: connect succeeds, the reply never comes
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "silent.sock"))
    sock.listen(8)
    yield f"unix:{tmp_path / 'silent.sock'}"
    sock.close()


@pytest.fixture
def silent_tcp():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield f"tcp:127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture
def refused_tcp():
    # bound, not listening: the kernel refuses connections
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield f"tcp:127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.mark.parametrize("where", ["missing path", "dead socket", "refused tcp"])
async def test_unreachable_clamd_raises(tmp_path, refused_tcp, where):
    address = {"missing path": f"unix:{tmp_path}/missing.sock",
               "dead socket": _dead_unix_socket(tmp_path / "dead.sock"),
               "refused tcp": refused_tcp}[where]
    with pytest.raises(ClamdUnavailable, match="cannot connect"):
        await make_filter(address, timeout=2).check(make_view("Hello"))


@pytest.mark.parametrize("which", ["silent_unix", "silent_tcp"])
async def test_silent_clamd_times_out(request, which):
    address = request.getfixturevalue(which)
    started = time.monotonic()
    with pytest.raises(ClamdTimeout, match="did not answer within 0.5s"):
        await make_filter(address, timeout=0.5).check(make_view("Hello"))
    assert time.monotonic() - started < 5  # gave up at its deadline, did not hang


async def test_error_reply_raises(tmp_path):
    async def answer(reader, writer):
        await reader.read(1)
        writer.write(b"stream: Can't allocate memory ERROR\0")
        await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(answer, path=str(tmp_path / "err.sock"))
    async with server:
        with pytest.raises(ClamdError, match="Can't allocate memory ERROR"):
            await make_filter(f"unix:{tmp_path}/err.sock").check(make_view("Hello"))


@pytest.mark.parametrize("on_error, action", [("tempfail", Action.TEMPFAIL), ("hold", Action.HOLD)])
async def test_clamd_down_fails_closed_through_chain_and_policy(tmp_path, on_error, action):
    settings = make_settings()
    options = Options(clamd=f"unix:{tmp_path}/missing.sock", on_error=on_error)
    flt = VirusFilter(options, FilterContext(settings=settings, directory=None))
    view = make_view("Hello", settings=settings)
    result = await FilterChain([(flt, options)]).run(view)
    assert [(f.filter, f.kind) for f in result.failures] == [("virus", "error")]
    verdict = Policy(settings).decide(view, result.findings, result.failures)
    assert verdict.action == action  # 451 for tempfail; never a pass


async def test_concurrent_scans_are_bounded(tmp_path):
    in_flight = peak = 0

    async def slow_ok(reader, writer):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        while (await reader.read(65536)).count(b"\0\0\0\0") == 0:  # until the end-of-stream chunk
            pass
        await asyncio.sleep(0.05)
        in_flight -= 1
        writer.write(b"stream: OK\0")
        await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(slow_ok, path=str(tmp_path / "slow.sock"))
    async with server:
        flt = make_filter(f"unix:{tmp_path}/slow.sock", max_concurrent_scans=2)
        view = make_view("Hello")
        results = await asyncio.gather(*(flt.check(view) for _ in range(6)))
    assert results == [[]] * 6
    assert peak == 2


# --- self-test -------------------------------------------------------------------------------

async def test_self_test_refuses_test_only_signatures_by_default(clamd_server):
    # the fixture's database is local and undated: test signatures only
    with pytest.raises(VirusSelfTestError, match="TEST SIGNATURES ONLY") as info:
        await make_filter(clamd_server.address).self_test()
    assert "allow_test_signatures = true" in str(info.value) and "freshclam" in str(info.value)
    assert "\n" not in str(info.value)  # one line


async def test_self_test_allows_test_signatures_loudly_when_set(clamd_server):
    flt = make_filter(clamd_server.address, allow_test_signatures=True)
    warnings = await flt.self_test()
    assert len(warnings) == 1
    assert "EVALUATION ONLY, NOT PROTECTED AGAINST VIRUSES" in warnings[0]
    assert getattr(warnings[0], "fails_check", False)  # config check prints it as FAIL
    assert flt.signatures is not None and flt.signatures.test_only and not flt.signatures.stale


class FakeVersionClamd:
    """A real socket speaking clamd's protocol with a chosen VERSION reply (a stale
    database cannot be had from a real clamd without waiting days), finding EICAR."""

    def __init__(self, path: Path, version: str) -> None:
        self.path, self.version = path, version

    async def handle(self, reader, writer):
        command = await reader.readuntil(b"\0")
        if command == b"zPING\0":
            writer.write(b"PONG\0")
        elif command == b"zVERSION\0":
            writer.write(self.version.encode() + b"\0")
        else:
            while (await reader.read(65536)).count(b"\0\0\0\0") == 0:
                pass
            writer.write(b"stream: Eicar-Signature FOUND\0")
        await writer.drain()
        writer.close()


def _ctime(when: dt.datetime) -> str:
    return when.strftime("%a %b %d %H:%M:%S %Y")


@pytest.mark.parametrize("days_old, allow, outcome", [
    (1, False, "ok"),
    (10, False, "OUT OF DATE"),
    (10, True, "warn"),
])
async def test_self_test_on_dated_signatures(tmp_path, days_old, allow, outcome):
    date = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days_old)
    fake = FakeVersionClamd(tmp_path / "clamd.sock", f"ClamAV 1.4.6/27500/{_ctime(date)}")
    server = await asyncio.start_unix_server(fake.handle, path=str(fake.path))
    async with server:
        flt = make_filter(f"unix:{fake.path}", allow_test_signatures=allow)
        if outcome == "ok":
            assert await flt.self_test() == []
            assert flt.signatures.problem is None and 0.9 < flt.signatures.age_days < 1.1
        elif outcome == "warn":
            (warning,) = await flt.self_test()
            assert "OUT OF DATE" in warning and "EVALUATION ONLY" in warning
            assert flt.signatures.stale
        else:
            with pytest.raises(VirusSelfTestError, match="OUT OF DATE.*Refusing to start"):
                await flt.self_test()


async def test_self_test_refuses_without_clamd(tmp_path):
    address = f"unix:{tmp_path}/clamd.ctl"
    with pytest.raises(VirusSelfTestError, match="virus scanner unavailable") as info:
        await make_filter(address, timeout=2).self_test()
    assert address in str(info.value) and "clamav-daemon" in str(info.value)


@pytest.mark.parametrize("reply, engine, signatures, date", [
    ("ClamAV 1.4.6/27500/Sun Nov 22 09:24:01 2026", "1.4.6", 27500, dt.datetime(2026, 11, 22, 9, 24, 1)),
    ("ClamAV 0.103.8/26800/Mon Feb  6 08:20:37 2023", "0.103.8", 26800, dt.datetime(2023, 2, 6, 8, 20, 37)),
    ("ClamAV 1.4.6", "1.4.6", None, None),
    ("ClamAV 1.4.6/27500/not a date", "1.4.6", 27500, None),
    ("", "", None, None),
])
def test_parse_version(reply, engine, signatures, date):
    version = parse_version(reply)
    assert (version.engine, version.signatures) == (engine, signatures)
    assert version.signature_date == (date.replace(tzinfo=dt.timezone.utc) if date else None)


NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("days_old, max_age, expect", [
    (1, 3, None),
    (5, 3, "OUT OF DATE"),
    (5, 7, None),
    (None, 3, "TEST SIGNATURES ONLY"),
])
def test_signature_age_warnings(days_old, max_age, expect):
    date = None if days_old is None else NOW - dt.timedelta(days=days_old)
    version = ClamdVersion("ClamAV 1.4.6/1/x", "1.4.6", 1, date)
    warnings = signature_age_warnings(version, max_age, "unix:/x", now=NOW)
    if expect is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and expect in warnings[0]


@pytest.mark.parametrize("address", ["/var/run/clamd.ctl", "unix:relative.sock", "tcp:localhost",
                                     "tcp:host:99999", "http://clamd:3310"])
def test_bad_clamd_address_is_rejected(address):
    with pytest.raises(ValidationError, match="clamd must be"):
        Options(clamd=address)


# --- the shipped policy: inbound virus rejected, from inside held and IT told ----------------

async def test_policy_rejects_inbound_and_holds_outbound_virus(clamd_server):
    settings = make_settings()
    policy = Policy(settings)
    flt = make_filter(clamd_server.address)
    raw = _with_attachment(EICAR, "eicar.com")

    inbound = make_view(raw, mail_from="x@example.net", rcpt_to=(f"bob@{SCHOOL_DOMAIN}",), settings=settings)
    verdict = policy.decide(inbound, await flt.check(inbound))
    assert verdict.action == Action.REJECT
    assert EICAR_FOUND in verdict.reject_reason  # the 554 names the virus

    outbound = make_view(raw, mail_from=f"bob@{SCHOOL_DOMAIN}", rcpt_to=("x@example.net",), settings=settings)
    verdict = policy.decide(outbound, await flt.check(outbound))
    assert verdict.action == Action.HOLD
    assert "it" in verdict.alerts


async def test_policy_holds_incomplete_scan_in_every_direction(tmp_path):
    settings = make_settings()
    flt = make_filter(f"unix:{tmp_path}/none.sock", max_scan_bytes=1000)
    for sender, rcpt in [("x@example.net", f"bob@{SCHOOL_DOMAIN}"), (f"bob@{SCHOOL_DOMAIN}", "x@example.net")]:
        view = make_view(_with_attachment(b"z" * 5000, "big.bin"), mail_from=sender, rcpt_to=(rcpt,),
                         settings=settings)
        assert Policy(settings).decide(view, await flt.check(view)).action == Action.HOLD


# --- connection reuse (IDSESSION): fewer connections, the same fail-safe rules ------------------

async def test_scans_reuse_a_pooled_clamd_connection(clamd_server):
    flt = make_filter(clamd_server.address)
    clean, infected = make_view("Hello, see you at parents' evening"), make_view(EICAR_MESSAGES["pasted inline"]())
    results = [await flt.check(view) for view in (clean, infected, clean, clean, infected)]
    assert [[f.code for f in found] for found in results] == [[], ["VIRUS_FOUND"], [], [], ["VIRUS_FOUND"]]
    assert results[1][0].evidence == (EICAR_FOUND,)  # the "<n>: " of the session reply is not in it
    assert flt.client.connections_opened == 1
    await flt.close()
    assert flt.client._idle == []


async def test_without_a_pool_every_scan_has_its_own_connection(clamd_server):
    flt = make_filter(clamd_server.address, connection_pool=0)
    assert [await flt.check(make_view("Hello")) for _ in range(3)] == [[]] * 3
    assert flt.client.connections_opened == 0  # the one-shot path: no session was opened


async def test_a_pooled_connection_clamd_closed_is_replaced(tmp_path):
    """clamd ends an idle session (IdleTimeout) or restarts: the next scan finds the pooled
    connection dead and scans once more on a new one - the message is still scanned."""
    connections = 0

    async def one_reply(reader, writer):
        nonlocal connections
        connections += 1
        while (await reader.read(65536)).count(b"\0\0\0\0") == 0:
            pass
        writer.write(b"1: stream: OK\0")
        await writer.drain()
        writer.close()  # then the session ends, as clamd's IdleTimeout would end it

    server = await asyncio.start_unix_server(one_reply, path=str(tmp_path / "c.sock"))
    async with server:
        flt = make_filter(f"unix:{tmp_path}/c.sock")
        assert [await flt.check(make_view("Hello")) for _ in range(3)] == [[]] * 3
    assert connections == 3 and flt.client.connections_opened == 3


async def test_clamd_gone_after_a_pooled_scan_still_fails_closed(tmp_path):
    """The pooled connection is dead and nothing listens any more: ClamdUnavailable, which
    the chain and policy turn into a tempfail (451) - never a pass."""
    async def one_reply(reader, writer):
        while (await reader.read(65536)).count(b"\0\0\0\0") == 0:
            pass
        writer.write(b"1: stream: OK\0")
        await writer.drain()
        writer.close()

    path = tmp_path / "gone.sock"
    server = await asyncio.start_unix_server(one_reply, path=str(path))
    settings = make_settings()
    options = Options(clamd=f"unix:{path}")
    flt = VirusFilter(options, FilterContext(settings=settings, directory=None))
    view = make_view("Hello", settings=settings)
    async with server:
        assert await flt.check(view) == []
    path.unlink()
    assert flt.client._idle  # a connection is pooled, its clamd gone
    result = await FilterChain([(flt, options)]).run(view)
    assert [(f.filter, f.kind) for f in result.failures] == [("virus", "error")]
    assert "ClamdUnavailable" in result.failures[0].detail
    assert Policy(settings).decide(view, result.findings, result.failures).action == Action.TEMPFAIL


async def test_an_error_reply_in_a_session_closes_that_connection(clamd_server):
    flt = make_filter(clamd_server.address, max_scan_bytes=STREAM_MAX_LENGTH * 2)
    with pytest.raises(ClamdError):  # clamd's "size limit exceeded", or its closing the session on it
        await flt.check(make_view(_with_attachment(b"y" * (STREAM_MAX_LENGTH + 500_000), "big.bin")))
    assert flt.client._idle == []  # clamd ended that session: not reused
    assert await flt.check(make_view("Hello")) == []
    assert flt.client.connections_opened == 2

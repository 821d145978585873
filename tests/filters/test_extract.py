"""Attachment sniffing and text extraction, with fixtures built by real libraries at test time."""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import struct
import tarfile
import time
import zipfile
import zlib

import docx
import openpyxl
import py7zr
import pypdf
import pytest

from filters import extract
from filters.extract import AttachmentExtractor, BombLimits, Limits, find_archive_bomb
from filters.message import Attachment
from tests import rar5
from filters.extract import encode_vint as _vint  # RAR 5 vint, as the checker reads it

# ---------------------------------------------------------------------------
# fixture builders (also used by test_attachments.py)
# ---------------------------------------------------------------------------


def make_xlsx(rows: list[list[object]], title: str = "Pupils") -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def make_docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_pdf(lines: list[str]) -> bytes:
    """A minimal one-page PDF with real text operators, xref offsets computed."""
    ops = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({escaped}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def make_encrypted_pdf(lines: list[str], user_password: str = "secret", owner_password: str = "owner") -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf(lines))))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


class _ZipCrypto:
    """Traditional PKWARE encryption (APPNOTE 6.1): what `zip -P` writes."""

    def __init__(self, password: bytes) -> None:
        self.keys = [0x12345678, 0x23456789, 0x34567890]
        for byte in password:
            self._update(byte)

    @staticmethod
    def _crc(value: int, byte: int) -> int:
        return zlib.crc32(bytes([byte]), value ^ 0xFFFFFFFF) ^ 0xFFFFFFFF

    def _update(self, byte: int) -> None:
        k = self.keys
        k[0] = self._crc(k[0], byte)
        k[1] = ((k[1] + (k[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k[2] = self._crc(k[2], (k[1] >> 24) & 0xFF)

    def encrypt(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            temp = (self.keys[2] | 2) & 0xFFFF
            out.append(byte ^ (((temp * (temp ^ 1)) >> 8) & 0xFF))
            self._update(byte)
        return bytes(out)


def make_encrypted_zip(members: dict[str, bytes], password: bytes = b"secret") -> bytes:
    """A genuinely password-protected (ZipCrypto, stored) zip; zipfile can read it back with the password."""
    out = bytearray()
    central = bytearray()
    for name, data in members.items():
        crc = zlib.crc32(data)
        header12 = os.urandom(11) + bytes([(crc >> 24) & 0xFF])
        body = _ZipCrypto(password).encrypt(header12 + data)
        encoded = name.encode("utf-8")
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0x0001, 0, 0, 0, crc, len(body), len(data),
                           len(encoded), 0) + encoded + body
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0x0001, 0, 0, 0, crc, len(body),
                               len(data), len(encoded), 0, 0, 0, 0, 0, offset) + encoded
    start = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), start, 0)
    return bytes(out)


def make_macro_docx() -> bytes:
    """A .docm as Word writes it: the docx parts plus word/vbaProject.bin and the macro content type."""
    source = zipfile.ZipFile(io.BytesIO(make_docx(["Please enable content to see this invoice."])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "[Content_Types].xml":
                data = data.replace(
                    b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
                    b"application/vnd.ms-word.document.macroEnabled.main+xml")
                data = data.replace(b"</Types>", b'<Default Extension="bin" '
                                    b'ContentType="application/vnd.ms-office.vbaProject"/></Types>')
            zf.writestr(info, data)
        zf.writestr("word/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)
    return out.getvalue()


_FREE, _END, _FATSECT, _NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def make_ole(streams: dict[str, bytes], root_clsid: bytes = b"\0" * 16) -> bytes:
    """A minimal Compound File (CFB v3, [MS-CFB]) holding `streams` ("Macros/VBA/dir" makes the storages).

    Streams are padded to the 4096-byte mini-stream cutoff so everything lives in
    regular sectors; siblings are chained to the right (a valid, if lopsided, tree).
    """
    entries: list[dict] = [{"name": "Root Entry", "type": 5, "children": [], "data": b""}]
    index: dict[str, int] = {"": 0}
    for path, data in streams.items():
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            key = "/".join(parts[:depth])
            if key in index:
                continue
            is_stream = depth == len(parts)
            entries.append({"name": parts[depth - 1], "type": 2 if is_stream else 1, "children": [],
                            "data": data.ljust(4096, b"\0") if is_stream else b""})
            index[key] = len(entries) - 1
            entries[index["/".join(parts[:depth - 1])]]["children"].append(index[key])
    dir_sectors = (len(entries) + 3) // 4
    data_sectors = sum(len(e["data"]) // 512 for e in entries)
    fat_entries_needed = 1 + dir_sectors + data_sectors
    fat = [_FATSECT]
    fat += [len(fat) + i + 1 if i < dir_sectors - 1 else _END for i in range(dir_sectors)]
    first_dir = 1
    next_sector = 1 + dir_sectors
    for entry in entries:
        count = len(entry["data"]) // 512
        if count:
            entry["start"] = next_sector
            fat += [next_sector + i + 1 if i < count - 1 else _END for i in range(count)]
            next_sector += count
        else:
            entry["start"] = _END
    assert fat_entries_needed <= 128, "fixture too large for one FAT sector"
    fat += [_FREE] * (128 - len(fat))
    for entry in entries:
        entry.update(left=_NOSTREAM, right=_NOSTREAM, child=_NOSTREAM)
    for entry in entries:
        kids = entry["children"]
        if kids:
            entry["child"] = kids[0]
            for a, b in zip(kids, kids[1:]):
                entries[a]["right"] = b
    directory = bytearray()
    for number, entry in enumerate(entries):
        name = entry["name"].encode("utf-16-le") + b"\0\0"
        clsid = root_clsid if number == 0 else b"\0" * 16
        directory += struct.pack("<64sHBBIII16sIQQIQ", name, len(name), entry["type"], 1, entry["left"],
                                 entry["right"], entry["child"], clsid, 0, 0, 0, entry["start"],
                                 len(entry["data"]))
    directory = directory.ljust(dir_sectors * 512, b"\0")
    header = struct.pack("<8s16sHHHHH6sIIIIIIIII", extract._OLE_MAGIC, b"\0" * 16, 0x3E, 3, 0xFFFE, 9, 6,
                         b"\0" * 6, 0, 1, first_dir, 0, 4096, _END, 0, _END, 0)
    header += struct.pack("<I", 0) + struct.pack("<108I", *([_FREE] * 108))
    body = struct.pack("<128I", *fat) + bytes(directory)
    for entry in entries:
        body += entry["data"]
    return header + body


def uuid_bytes_le(text: str) -> bytes:
    import uuid

    return uuid.UUID(text).bytes_le


def make_seven_zip_encrypted_header() -> bytes:
    """The start of a 7z archive made with header encryption (-mhe=on): the
    next-header block is a kEncodedHeader whose coder is AES (06 F1 07 01)."""
    next_header = bytes([0x17, 0x06, 0x00, 0x01, 0x09, 0x20, 0x00, 0x07, 0x0B, 0x01, 0x00, 0x01, 0x24,
                         0x06, 0xF1, 0x07, 0x01]) + b"\0" * 15
    packed = os.urandom(32)
    start = b"7z\xbc\xaf\x27\x1c\x00\x04" + struct.pack("<I", 0) + struct.pack(
        "<QQI", len(packed), len(next_header), zlib.crc32(next_header))
    return start + packed + next_header


def _7z_number(value: int) -> bytes:
    if value < 0x80:
        return bytes([value])
    assert value < 0x4000
    return bytes([0x80 | (value >> 8), value & 0xFF])


def make_seven_zip_packed_header(encrypted: bool) -> bytes:
    """A 7z whose header is LZMA-packed (what 7-Zip writes without -mhe): the
    AES coder id is only visible after unpacking the header with lzma."""
    import lzma

    coder = b"\x24\x06\xf1\x07\x01" if encrypted else b"\x03\x03\x01\x01"
    plain_header = (b"\x01\x04\x06\x00\x01\x09\x10\x00\x07\x0b\x01\x00\x01" + coder + b"\x00" * 8
                    + b"pupils.csv".ljust(64, b"\0"))
    props = {"id": lzma.FILTER_LZMA1, "dict_size": 1 << 16, "lc": 3, "lp": 0, "pb": 2}
    packed = lzma.compress(plain_header, format=lzma.FORMAT_RAW, filters=[props])
    content = os.urandom(16)
    encoded = (b"\x17\x06" + _7z_number(len(content)) + b"\x01\x09" + _7z_number(len(packed)) + b"\x00"
               + b"\x07\x0b\x01\x00\x01\x23\x03\x01\x01\x05" + bytes([(2 * 5 + 0) * 9 + 3])
               + struct.pack("<I", 1 << 16) + b"\x0c" + _7z_number(len(plain_header)) + b"\x00\x00")
    body = content + packed
    return (b"7z\xbc\xaf\x27\x1c\x00\x04" + struct.pack("<I", 0)
            + struct.pack("<QQI", len(body), len(encoded), zlib.crc32(encoded)) + body + encoded)


def make_rar4(encrypted: bool) -> bytes:
    """RAR 4 marker, archive header and one file header (flag 0x04 = password)."""
    marker = b"Rar!\x1a\x07\x00"
    main = struct.pack("<HBHH", 0, 0x73, 0, 13) + b"\0" * 6
    name = b"pupils.csv"
    fixed = struct.pack("<IIBIIBBHI", 10, 10, 2, 0, 0, 20, 0x30, len(name), 0x20)
    file_header = struct.pack("<HBHH", 0, 0x74, 0x8000 | (0x04 if encrypted else 0), 7 + len(fixed) + len(name))
    return marker + main + file_header + fixed + name + b"0123456789"



def make_rar5(encrypted: bool) -> bytes:
    """RAR 5 marker, main header and one file header whose extra area holds a
    file encryption record (type 1) or, unencrypted, a file time record (type 3)."""
    def block(fields: bytes) -> bytes:
        return struct.pack("<I", zlib.crc32(fields)) + _vint(len(fields)) + fields

    record_type, record = (1, b"\x00\x00\x0f" + b"\0" * 32) if encrypted else (3, b"\x02" + b"\0" * 4)
    extra = _vint(len(_vint(record_type)) + len(record)) + _vint(record_type) + record
    name = b"pupils.csv"
    payload = b"0123456789"
    fields = (_vint(2) + _vint(0x03) + _vint(len(extra)) + _vint(len(payload)) + _vint(0) + _vint(10)
              + _vint(0x20) + _vint(0) + _vint(0) + _vint(len(name)) + name + extra)
    return b"Rar!\x1a\x07\x01\x00" + block(b"\x01\x00\x00") + block(fields) + payload


MZ = b"MZ" + b"\x90\x00" * 30
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\0" * 64 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\0" * 32

# ---------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------


def enrich(filename: str, data: bytes, declared: str = "application/octet-stream",
           extractor: AttachmentExtractor | None = None) -> Attachment:
    attachment = Attachment(filename=filename, declared_type=declared, sniffed_type="", size=len(data), data=data)
    return (extractor or AttachmentExtractor()).enrich(attachment)


@pytest.mark.parametrize("data, expected", [
    (MZ, extract.PE),
    (b"MZ", extract.PE),
    (b"\x7fELF\x02\x01\x01" + b"\0" * 40, extract.ELF),
    (b"\xcf\xfa\xed\xfe" + b"\0" * 40, extract.MACHO),
    (b"\xca\xfe\xba\xbe\x00\x00\x00\x02" + b"\0" * 40, extract.MACHO),
    (b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + b"\0" * 40, extract.JAVA_CLASS),
    (b"#!/bin/sh\nrm -rf ~\n", extract.SCRIPT),
    (b"#!/usr/bin/env python3\nprint('hi')\n", extract.SCRIPT),
    (extract._LNK_MAGIC + b"\0" * 70, extract.SHORTCUT),
    (make_docx(["Dear parents"]), extract.DOCX),
    (make_xlsx([["Name", "DOB"], ["Amy", "2014-01-02"]]), extract.XLSX),
    (make_macro_docx(), extract.DOCM),
    (make_pdf(["Trip letter"]), extract.PDF),
    (make_zip({"a.pdf": make_pdf(["x"])}), extract.ZIP),
    (make_zip({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n", "Main.class": b"\xca\xfe\xba\xbe"}), extract.JAR),
    (make_ole({"WordDocument": b"\xec\xa5" + b"\0" * 30}), extract.MS_WORD),
    (make_ole({"Workbook": b"\x09\x08\x10\x00" + b"\0" * 16}), extract.MS_EXCEL),
    (make_ole({"EncryptionInfo": b"\x04\x00\x04\x00", "EncryptedPackage": b"\0" * 16}), extract.OOXML_ENCRYPTED),
    (make_ole({"Property": b"\0" * 8}, root_clsid=uuid_bytes_le("000C1084-0000-0000-C000-000000000046")),
     extract.MS_INSTALLER),
    (JPEG, "image/jpeg"),
    (PNG, "image/png"),
    (b"Just some words\n", ""),
    (b"", ""),
])
def test_sniff_finds_the_real_type(data: bytes, expected: str) -> None:
    assert extract.sniff(data) == expected


@pytest.mark.parametrize("filename, data, declared, expected", [
    ("pupils.csv", "Name,Class,DOB\nAmy Pond,5B,2014-01-02\nRory Williams,5B,2014-03-04\n".encode(),
     "text/csv", ["Amy Pond\t5B\t2014-01-02", "Rory Williams"]),
    ("notes.txt", "Caf\xe9 rota \u2013 week 3".encode("cp1252"), "text/plain", ["Café rota – week 3"]),
    ("utf16.txt", "\ufeffSEN register".encode("utf-16-le"), "text/plain", ["SEN register"]),
    ("register.xlsx", make_xlsx([["UPN", "Name", "FSM"], ["A123456789012", "Amy Pond", "Y"]]),
     "application/octet-stream", ["[sheet: Pupils]", "A123456789012\tAmy Pond\tY"]),
    ("report.docx", make_docx(["Safeguarding report for Year 9"], [["Pupil", "Concern"], ["Amy", "Attendance"]]),
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
     ["Safeguarding report for Year 9", "Amy\tAttendance"]),
    ("letter.pdf", make_pdf(["Dear parents,", "The trip to Bath is on Friday."]), "application/pdf",
     ["The trip to Bath is on Friday."]),
    ("owner-only.pdf", make_encrypted_pdf(["Readable with no password"], user_password=""), "application/pdf",
     ["Readable with no password"]),
    ("page.html", b"<html><body><h1>Menu</h1><p>Fish &amp; chips</p><script>x()</script></body></html>",
     "text/html", ["Menu", "Fish & chips"]),
    ("letter.rtf", rb"{\rtf1\ansi{\fonttbl\f0 Arial;}\f0 Caf\'e9 rota\par Week two}", "application/rtf",
     ["Café rota", "Week two"]),
    ("bundle.zip", make_zip({"class/list.csv": b"Name,Form\nAmy Pond,5B\n", "photo.jpg": JPEG}),
     "application/zip", ["[class/list.csv]", "Amy Pond\t5B"]),
    ("nested.zip", make_zip({"inner.zip": make_zip({"deep/notes.txt": b"Meet at the gate"})}),
     "application/zip", ["[inner.zip]", "Meet at the gate"]),
])
def test_text_is_extracted_once(filename: str, data: bytes, declared: str, expected: list[str]) -> None:
    attachment = enrich(filename, data, declared)
    for snippet in expected:
        assert snippet in attachment.text
    assert not attachment.encrypted


def test_zip_members_are_listed_with_nested_paths() -> None:
    data = make_zip({"docs/a.pdf": make_pdf(["a"]), "inner.zip": make_zip({"run.exe": MZ})})
    attachment = enrich("bundle.zip", data, "application/zip")
    members = {m.path: m for m in attachment.members}
    assert set(members) == {"docs/a.pdf", "inner.zip", "inner.zip > run.exe"}
    assert members["docs/a.pdf"].sniffed_type == extract.PDF
    assert members["inner.zip"].sniffed_type == extract.ZIP
    assert members["inner.zip > run.exe"].sniffed_type == extract.PE
    assert members["inner.zip > run.exe"].depth == 2


@pytest.mark.parametrize("filename, data, encrypted", [
    ("locked.zip", make_encrypted_zip({"pupils.csv": b"Name\nAmy\n"}), True),
    ("open.zip", make_zip({"pupils.csv": b"Name\nAmy\n"}), False),
    ("locked.pdf", make_encrypted_pdf(["secret"]), True),
    ("owner-only.pdf", make_encrypted_pdf(["open"], user_password=""), False),
    ("locked.docx", make_ole({"EncryptionInfo": b"\x04\x00\x04\x00", "EncryptedPackage": b"\0" * 16}), True),
    ("locked.doc", make_ole({"WordDocument": b"\xec\xa5" + b"\0" * 8 + struct.pack("<H", 0x0100) + b"\0" * 20}), True),
    ("open.doc", make_ole({"WordDocument": b"\xec\xa5" + b"\0" * 30}), False),
    ("locked.xls", make_ole({"Workbook": struct.pack("<HH", 0x0809, 4) + b"\0" * 4
                                         + struct.pack("<HH", 0x002F, 2) + b"\0\0"}), True),
    ("locked.7z", make_seven_zip_encrypted_header(), True),
    ("contents-locked.7z", make_seven_zip_packed_header(encrypted=True), True),
    ("open.7z", make_seven_zip_packed_header(encrypted=False), False),
    ("locked.rar", make_rar4(encrypted=True), True),
    ("open.rar", make_rar4(encrypted=False), False),
    ("locked5.rar", make_rar5(encrypted=True), True),
    ("open5.rar", make_rar5(encrypted=False), False),
])
def test_password_protection_is_flagged(filename: str, data: bytes, encrypted: bool) -> None:
    attachment = enrich(filename, data)
    assert attachment.encrypted is encrypted


def test_encrypted_zip_fixture_is_really_encrypted() -> None:
    data = make_encrypted_zip({"pupils.csv": b"Name\nAmy\n"})
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.read("pupils.csv", pwd=b"secret") == b"Name\nAmy\n"
    attachment = enrich("locked.zip", data)
    assert [m.path for m in attachment.members] == ["pupils.csv"]
    assert attachment.members[0].encrypted
    assert "Amy" not in attachment.text


@pytest.mark.parametrize("filename, data, macros", [
    ("invoice.docm", make_macro_docx(), True),
    ("letter.docx", make_docx(["Hello"]), False),
    ("macro.doc", make_ole({"WordDocument": b"\xec\xa5" + b"\0" * 30, "Macros/VBA/dir": b"\x01",
                            "Macros/VBA/_VBA_PROJECT": b"\xcc\x61"}), True),
    ("macro.xls", make_ole({"Workbook": b"\0" * 8, "_VBA_PROJECT_CUR/VBA/dir": b"\x01"}), True),
    ("plain.xls", make_ole({"Workbook": b"\0" * 8}), False),
])
def test_macros_are_flagged(filename: str, data: bytes, macros: bool) -> None:
    assert enrich(filename, data).has_macros is macros


@pytest.mark.parametrize("filename, data", [
    ("broken.docx", make_docx(["x"])[:400]),
    ("broken.xlsx", make_zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<not xml"})),
    ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage"),
    ("broken.zip", make_zip({"a.txt": b"hello"})[:-30]),
    ("junk.bin", os.urandom(2048)),
    ("broken.doc", extract._OLE_MAGIC + b"\0" * 100),
    ("empty.txt", b""),
])
def test_broken_files_give_a_note_never_an_exception(filename: str, data: bytes) -> None:
    attachment = enrich(filename, data)  # an exception here fails the test
    assert attachment.size == len(data)
    assert attachment.text == ""  # nothing readable in any of them: no invented text
    if filename.rsplit(".", 1)[1] in ("docx", "xlsx", "pdf", "zip"):
        # a kind the extractor reads, broken: it says so, for the reviewer (.doc and
        # unknown bytes are not read at all, so they have nothing to explain)
        assert attachment.extraction_note.strip(), attachment


def test_broken_document_says_why_text_is_missing() -> None:
    attachment = enrich("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage")
    assert attachment.text == ""
    assert attachment.extraction_note


@pytest.mark.parametrize("limits, data, note", [
    (Limits(max_member_bytes=1_000), make_zip({"big.txt": b"a" * 5_000}), "large members not unpacked"),
    (Limits(max_rows=5), make_xlsx([[f"row {i}"] for i in range(50)]), "spreadsheet truncated"),
    (Limits(max_archive_depth=2), make_zip({"a.zip": make_zip({"b.zip": make_zip({"c.txt": b"deep"})})}),
     "archives nested too deep to open"),
    (Limits(max_input_bytes=100), make_pdf(["big"]), "too large to read"),
    (Limits(max_text_chars=10), b"0123456789abcdefghij", "text cut at 10 characters"),
    (Limits(max_members=3), make_zip({f"f{i}.txt": b"x" for i in range(10)}), "archive listing truncated"),
])
def test_bounds_are_kept_and_noted(limits: Limits, data: bytes, note: str) -> None:
    attachment = enrich("file", data, "text/plain", extractor=AttachmentExtractor(limits=limits))
    assert note in attachment.extraction_note
    assert len(attachment.text) <= limits.max_text_chars
    assert len(attachment.members) <= limits.max_members


def test_time_budget_stops_work() -> None:
    rows = [[f"Pupil {i}", i] for i in range(3_000)]
    attachment = enrich("big.xlsx", make_xlsx(rows), extractor=AttachmentExtractor(limits=Limits(max_seconds=0)))
    assert "time budget spent" in attachment.extraction_note
    assert "Pupil 2999" not in attachment.text


def test_message_deadline_keeps_flags_but_skips_text() -> None:
    import time

    past = time.monotonic() - 1
    extractor = AttachmentExtractor()
    docx_file = extractor.enrich(Attachment("a.docx", "", "", 0, make_docx(["words"])), deadline=past)
    assert docx_file.text == "" and "time budget spent" in docx_file.extraction_note
    locked = extractor.enrich(Attachment("a.zip", "", "", 0, make_encrypted_zip({"x.exe": MZ})), deadline=past)
    assert locked.encrypted and [m.path for m in locked.members] == ["x.exe"]
    macro = extractor.enrich(Attachment("a.docm", "", "", 0, make_macro_docx()), deadline=past)
    assert macro.has_macros


@pytest.mark.parametrize("data, is_text", [
    (b"Plain words\r\nand more\tafter a tab", True),
    ("caf\xe9".encode("cp1252") * 100, True),
    (bytes(range(1, 32)) * 20, False),
    (b"\x00abc", False),
])
def test_binary_blobs_are_not_read_as_text(data: bytes, is_text: bool) -> None:
    attachment = enrich("blob", data)
    assert bool(attachment.text) is is_text


def test_out_of_time_zip_members_are_still_sniffed() -> None:
    import time

    data = make_zip({"readme.txt": MZ, "notes.txt": b"hello"})
    attachment = AttachmentExtractor().enrich(Attachment("a.zip", "", "", 0, data), deadline=time.monotonic() - 1)
    assert {m.path: m.sniffed_type for m in attachment.members} == {"readme.txt": extract.PE, "notes.txt": ""}


def test_pptx_slide_text_is_read_from_its_xml() -> None:
    slide = (b'<p:sld xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><a:p><a:r>'
             b'<a:t>Year 7 trip &amp; kit list</a:t></a:r></a:p></p:sld>')
    data = make_zip({"[Content_Types].xml": b"<Types></Types>", "ppt/presentation.xml": b"<p/>",
                     "ppt/slides/slide1.xml": slide})
    attachment = enrich("trip.pptx", data)
    assert attachment.sniffed_type == extract.PPTX
    assert attachment.text == "Year 7 trip & kit list"


# ---------------------------------------------------------------------------
# archive bombs, built at run time (small on disk, huge when unpacked)
# ---------------------------------------------------------------------------

def _gf2_times(matrix: list[int], vector: int) -> int:
    total, row = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """zlib's crc32_combine: the CRC of A+B from crc(A), crc(B) and len(B) (Python's zlib lacks it)."""
    if len2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]
    even = [_gf2_times(odd, odd[n]) for n in range(32)]
    odd = [_gf2_times(even, even[n]) for n in range(32)]
    while True:
        even = [_gf2_times(odd, odd[n]) for n in range(32)]
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = [_gf2_times(even, even[n]) for n in range(32)]
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


def crc32_of_zeros(mib: int) -> int:
    """CRC-32 of `mib` MiB of zero bytes, by doubling (no gigabytes in memory)."""
    one = zlib.crc32(b"\0" * (1 << 20))
    result, length, power, power_len = 0, 0, one, 1 << 20
    while mib:
        if mib & 1:
            result = crc32_combine(result, power, power_len) if length else power
            length += power_len
        power = crc32_combine(power, power, power_len)
        power_len *= 2
        mib >>= 1
    return result


def deflate_zeros(mib: int) -> bytes:
    """A raw deflate stream of `mib` MiB of zeros, ~1 KB per MiB: each MiB is compressed
    after a full flush (which resets the compressor), so the same bytes repeat."""
    zeros = b"\0" * (1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    repeat = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH) == repeat
    return first + repeat * (mib - 1) + c.flush()


def make_zip64_zeros(name: str, mib: int) -> bytes:
    """A zip of one deflated member of `mib` MiB of zeros, written by hand with ZIP64
    sizes (zipfile cannot write precompressed data), CRC and all correct."""
    stream = deflate_zeros(mib)
    size, crc, fname = mib << 20, crc32_of_zeros(mib), name.encode()
    extra = struct.pack("<HHQQ", 1, 16, size, len(stream))  # ZIP64: original size, then compressed
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                        len(fname), len(extra)) + fname + extra
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 45, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF,
                          0xFFFFFFFF, len(fname), len(extra), 0, 0, 0, 0, 0) + fname + extra
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(stream), 0)
    return local + stream + central + end


def make_nested_zip_bomb(count: int = 10, gib: int = 10) -> bytes:
    """The issue's bomb: `count` zips inside one zip, each holding `gib` GiB of zeros."""
    inner = make_zip64_zeros("zeros.bin", gib << 10)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for n in range(count):
            zf.writestr(f"part{n}.zip", inner)
    return buf.getvalue()


def make_lying_zip(real: bytes, declared: int) -> bytes:
    """A zip whose headers say the member unpacks to `declared` bytes; it holds `real`."""
    data = bytearray(make_zip({"small.txt": real}))
    size = struct.pack("<I", len(real))
    for at in (22, data.index(b"PK\x01\x02") + 24):  # local and central "uncompressed size"
        assert data[at:at + 4] == size
        data[at:at + 4] = struct.pack("<I", declared)
    return bytes(data)


def make_tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def make_tar_declaring(name: str, size: int) -> bytes:
    """A tar header declaring `size` bytes (octal size field, GNU base-256 past 8 GiB) with no data."""
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(format=tarfile.GNU_FORMAT)


def make_rar4_declaring(unpacked: int, packed: int = 10) -> bytes:
    """A RAR 4 file header declaring `unpacked` bytes (LHD_LARGE high words when past 4 GiB)."""
    marker = b"Rar!\x1a\x07\x00"
    main = struct.pack("<HBHH", 0, 0x73, 0, 13) + b"\0" * 6
    name = b"zeros.bin"
    large = unpacked >= 1 << 32
    fixed = struct.pack("<IIBIIBBHI", packed, unpacked & 0xFFFFFFFF, 2, 0, 0, 20, 0x35, len(name), 0x20)
    if large:
        fixed += struct.pack("<II", 0, unpacked >> 32)
    flags = 0x8000 | (0x0100 if large else 0)
    header = struct.pack("<HBHH", 0, 0x74, flags, 7 + len(fixed) + len(name))
    return marker + main + header + fixed + name + b"\0" * packed


def _7z_uint(value: int) -> bytes:
    """7z's variable-length number (7zFormat.txt "UINT64"), any size."""
    for extra in range(9):
        if extra == 8 or value < (1 << (7 * (extra + 1))):
            break
    if extra == 8:
        return b"\xff" + struct.pack("<Q", value)
    high = value >> (8 * extra)
    first = (0xFF00 >> extra) & 0xFF | high
    return bytes([first]) + (value & ((1 << (8 * extra)) - 1)).to_bytes(extra, "little")


def make_7z_declaring(name: str, unpacked: int, packed: bytes = b"\0" * 16) -> bytes:
    """A 7z with a plain (not encoded) header declaring one file of `unpacked` bytes
    stored with the Copy coder in `packed`: what a hand-made 7z bomb says of itself.
    CRCs correct: py7zr opens it (test_7z_fixtures_are_what_they_claim)."""
    names = name.encode("utf-16-le") + b"\0\0"
    header = (b"\x01\x04"                                               # kHeader, kMainStreamsInfo
              + b"\x06\x00\x01\x09" + _7z_uint(len(packed)) + b"\x00"   # kPackInfo: one stream
              + b"\x07\x0b\x01\x00\x01\x01\x00"                        # one folder: one coder, Copy
              + b"\x0c" + _7z_uint(unpacked) + b"\x00"                    # its unpacked size
              + b"\x08\x00"                                              # kSubStreamsInfo: one file
              + b"\x00"                                                  # end of streams info
              + b"\x05\x01\x11" + _7z_uint(len(names) + 1) + b"\x00" + names + b"\x00"  # kFilesInfo
              + b"\x00")
    tail = struct.pack("<QQI", len(packed), len(header), zlib.crc32(header))
    return b"7z\xbc\xaf\x27\x1c\x00\x04" + struct.pack("<I", zlib.crc32(tail)) + tail + packed + header


COPY, BZIP2, PPMD = ([{"id": py7zr.FILTER_COPY}], [{"id": py7zr.FILTER_BZIP2}], [{"id": py7zr.FILTER_PPMD}])


def make_7z(files: dict[str, bytes], **options) -> bytes:
    """A real 7z archive written by py7zr (LZMA2, encoded header: as 7-Zip writes)."""
    import py7zr

    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w", **options) as archive:
        for name, payload in files.items():
            archive.writestr(payload, name)
    return buf.getvalue()


def test_7z_fixtures_are_what_they_claim(tmp_path) -> None:
    import py7zr

    with py7zr.SevenZipFile(io.BytesIO(make_7z_declaring("disk.img", 10 << 30))) as archive:
        [info] = archive.list()
        assert (info.filename, info.uncompressed) == ("disk.img", 10 << 30)
    data = make_7z({"a.txt": b"hello\n" * 100, "b/c.txt": b"x"})
    with py7zr.SevenZipFile(io.BytesIO(data)) as archive:
        archive.extractall(path=tmp_path)
    assert (tmp_path / "a.txt").read_bytes() == b"hello\n" * 100
    assert data[32:].find(b"a.txt") < 0  # names only in the LZMA-packed header


def test_7z_listing_reads_the_header_not_the_contents() -> None:
    data = make_7z({"notes.txt": b"The trip leaves at nine.\n" * 4000, "photo.raw": os.urandom(50_000),
                    "empty.txt": b""})
    entries, folders = extract.seven_zip_listing(io.BytesIO(data))
    assert {e.name: e.unpacked for e in entries} == {"notes.txt": 100_000, "photo.raw": 50_000, "empty.txt": 0}
    assert sum(u for u, _ in folders) == 150_000 and all(p > 0 for _, p in folders)


def test_bomb_fixtures_are_what_they_claim() -> None:
    assert crc32_of_zeros(3) == zlib.crc32(b"\0" * (3 << 20))
    assert crc32_of_zeros(6) == zlib.crc32(b"\0" * (6 << 20))
    small = make_zip64_zeros("zeros.bin", 5)  # the same builder, small enough to unpack and check
    with zipfile.ZipFile(io.BytesIO(small)) as zf:
        assert zf.read("zeros.bin") == b"\0" * (5 << 20)  # CRC checked by zipfile too
    bomb = make_nested_zip_bomb()
    assert len(bomb) < 250_000
    with zipfile.ZipFile(io.BytesIO(bomb)) as outer:
        assert len(outer.infolist()) == 10
        with zipfile.ZipFile(io.BytesIO(outer.read("part0.zip"))) as inner:
            assert inner.infolist()[0].file_size == 10 << 30


@pytest.mark.parametrize("name, data, where, why", [
    ("10 x 10 GiB nested", lambda: make_nested_zip_bomb(), "part0.zip", "compression ratio"),
    ("10 GiB member", lambda: make_zip64_zeros("zeros.bin", 10 << 10), "zeros.bin", "declares 10.0 GiB"),
    ("deflated zeros", lambda: make_zip({"zeros.bin": b"\0" * (20 << 20)}), "zeros.bin", "compression ratio"),
    ("lying size", lambda: make_lying_zip(bytes(range(256)) * 8192, 1000), "small.txt", "more than the 1000"),
    ("nested 7 deep", lambda: _nest(7), "l6.zip > l5.zip > l4.zip > l3.zip > l2.zip > l1.zip",
     "nested more than 5"),
    ("gzip of zeros", lambda: gzip.compress(b"\0" * (20 << 20)), "(unpacked gzip)", "ratio above 100"),
    ("bzip2 of zeros", lambda: bz2.compress(b"\0" * (20 << 20)), "(unpacked bzip2)", "ratio above 100"),
    ("xz of zeros", lambda: lzma.compress(b"\0" * (20 << 20)), "(unpacked xz)", "ratio above 100"),
    ("tar.gz of zeros", lambda: make_tar({"a.txt": b"hi", "big.img": b"\0" * (20 << 20)}, "w:gz"),
     "big.img", "ratio above 100"),
    ("tar declaring 20 GiB", lambda: make_tar_declaring("disk.img", 20 << 30), "disk.img", "declares 20.0 GiB"),
    ("zip inside tar.gz", lambda: make_tar({"in.zip": make_zip({"z": b"\0" * (4 << 20)})}, "w:gz"),
     "in.zip", "ratio"),
    ("RAR declaring 10 GiB", lambda: make_rar4_declaring(10 << 30), "zeros.bin", "declares 10.0 GiB"),
    ("RAR at 100000:1", lambda: make_rar4_declaring(100 << 20, packed=1000), "", "ratio of 104858:1"),
    ("7z declaring 10 GiB", lambda: make_7z_declaring("disk.img", 10 << 30), "disk.img", "declares 10.0 GiB"),
    ("7z declaring 100 MiB in 16 bytes", lambda: make_7z_declaring("a.bin", 100 << 20), "a.bin", "ratio of"),
    ("7z of zeros (py7zr)", lambda: make_7z({"read.me": b"hi", "zeros.bin": b"\0" * (4 << 20)}), "read.me",
     "ratio of"),
    ("7z inside a zip", lambda: make_zip({"in.7z": make_7z_declaring("disk.img", 10 << 30)}), "in.7z > disk.img",
     "declares 10.0 GiB"),
    ("zip bomb inside a 7z", lambda: make_7z({"b.zip": make_zip64_zeros("z.bin", 10 << 10)}), "b.zip",
     "ratio of"),
    # 7z and RAR members unpacked (libarchive, one block at a time), not only their headers read
    ("zip bomb stored in a 7z", lambda: make_7z({"b.zip": make_zip64_zeros("z.bin", 10 << 10)}, filters=COPY),
     "b.zip > z.bin", "declares 10.0 GiB"),
    ("tar.gz bomb stored in a 7z", lambda: make_7z({"logs.tgz": make_tar({"big.log": b"\0" * (20 << 20)}, "w:gz")},
                                                    filters=COPY), "logs.tgz > big.log", "ratio above 100"),
    ("7z (bzip2) of zeros", lambda: make_7z({"a.bin": b"\0" * (4 << 20)}, filters=BZIP2), "a.bin", "ratio of"),
    ("RAR 5 of zeros, compressed", lambda: rar5.archive([rar5.stored("read.me", b"hi"),
                                                         rar5.bomb_member("zeros.bin", 300 << 20)]),
     "zeros.bin", "declares 300.0 MiB"),
    ("RAR 5 understating its size", lambda: rar5.archive([rar5.bomb_member("small.txt", 300 << 20, declare=1000)]),
     "small.txt", "more than the 1000 bytes it declares"),
    ("RAR 5 of unknown size", lambda: rar5.archive([rar5.bomb_member("pipe.bin", 300 << 20, declare=None)]),
     "pipe.bin", "does not declare its unpacked size"),
    ("zip bomb stored in a RAR 5", lambda: rar5.archive([rar5.stored("in.zip", make_zip64_zeros("z.bin", 10 << 10))]),
     "in.zip > z.bin", "declares 10.0 GiB"),
    ("tar.gz bomb stored in a RAR 5", lambda: rar5.archive([rar5.stored(
        "logs.tgz", make_tar({"big.log": b"\0" * (20 << 20)}, "w:gz"))]), "logs.tgz > big.log", "ratio above 100"),
])
def test_archive_bombs_are_found_quickly(name: str, data, where: str, why: str) -> None:
    payload = data()
    started = time.monotonic()
    bomb = find_archive_bomb(payload)
    assert bomb is not None, name
    assert bomb.path.startswith(where) and why in bomb.reason, bomb
    assert time.monotonic() - started < 3.0  # a byte budget, not a decompression


def _nest(levels: int) -> bytes:
    data = b"the middle"
    for n in range(levels):
        data = make_zip({f"l{n}.zip" if n else "note.txt": data})
    return data


@pytest.mark.parametrize("name, data", [
    ("text zip", lambda: make_zip({"notes.txt": b"The trip leaves at nine.\n" * 2000})),
    ("docx", lambda: make_docx(["Dear parents"] * 200)),
    ("xlsx", lambda: make_xlsx([[n, "pupil", "class 4"] for n in range(3000)])),
    ("nested 3 deep", lambda: _nest(3)),
    ("tar.gz of text", lambda: make_tar({"log.txt": b"2026-01-01 login ok user=x\n" * 20000}, "w:gz")),
    ("random gzip", lambda: gzip.compress(os.urandom(1 << 20))),
    ("stored zip", lambda: _stored_zip(os.urandom(2 << 20))),
    ("small rar", lambda: make_rar4(encrypted=False)),
    ("encrypted zip", lambda: make_encrypted_zip({"a.txt": b"secret " * 100})),
    ("truncated gzip", lambda: gzip.compress(b"hello " * 1000)[:50]),
    ("broken zip", lambda: b"PK\x03\x04" + os.urandom(300)),
    ("7z of text", lambda: make_7z({"notes.txt": b"The trip leaves at nine.\n" * 2000})),
    ("7z of a photo", lambda: make_7z({"photo.raw": os.urandom(2 << 20)})),
    ("7z stored", lambda: make_7z_declaring("photo.raw", 2 << 20, os.urandom(2 << 20))),
    ("7z header-encrypted", lambda: make_7z({"secret.txt": b"s" * 100}, password="pw", header_encryption=True)),
    ("7z hand-made headers", lambda: make_seven_zip_packed_header(encrypted=False)),
    ("truncated 7z", lambda: make_7z({"notes.txt": b"hello " * 1000})[:40]),
    ("7z (PPMd) of text", lambda: make_7z({"notes.txt": b"The trip leaves at nine.\n" * 2000}, filters=PPMD)),
    ("7z of a zip of photos", lambda: make_7z({"p.zip": _stored_zip(os.urandom(1 << 20))}, filters=COPY)),
    ("RAR 5 of text", lambda: rar5.archive([rar5.stored("notes.txt", b"The trip leaves at nine.\n" * 2000)])),
    ("RAR 5, 500 KiB of one byte", lambda: rar5.archive([rar5.bomb_member("pad.bin", 500 << 10)])),  # < 1 MiB
    ("RAR 5 of a photo zip", lambda: rar5.archive([rar5.stored("p.zip", _stored_zip(os.urandom(1 << 20)))])),
    ("truncated RAR 5", lambda: rar5.archive([rar5.bomb_member("zeros.bin", 300 << 20, declare=1000)])[:60]),
])
def test_ordinary_archives_are_not_bombs(name: str, data) -> None:
    assert find_archive_bomb(data()) is None, name


def _stored_zip(payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("photo.raw", payload)
    return buf.getvalue()


def test_bomb_limits_are_settable_and_time_bounded() -> None:
    text = make_zip({"notes.txt": b"The trip leaves at nine.\n" * 100_000})  # 2.4 MiB unpacked
    assert find_archive_bomb(text, BombLimits(max_member_bytes=1 << 20)).reason.startswith("declares 2.4 MiB")
    assert find_archive_bomb(_nest(3), BombLimits(max_depth=2)) is None  # l2.zip > l1.zip: level 2
    assert "nested more than 1" in find_archive_bomb(_nest(3), BombLimits(max_depth=1)).reason
    solid = make_7z({"a.txt": b"The trip leaves at nine.\n" * 100_000})
    assert "declares 2.4 MiB" in find_archive_bomb(solid, BombLimits(max_member_bytes=1 << 20)).reason
    slow = find_archive_bomb(gzip.compress(os.urandom(1 << 20)), BombLimits(max_seconds=0.0))
    assert slow is not None and "within 0 s" in slow.reason


def test_extractor_does_not_parse_a_document_declaring_gigabytes() -> None:
    """A docx whose XML part declares 3.75 GiB: no text parsing (the XML parser would inflate it)."""
    data = bytearray(make_docx(["hello"]))
    entry = data.index(b"word/document.xml", data.index(b"PK\x01\x02")) - 46  # its central directory entry
    assert data[entry:entry + 4] == b"PK\x01\x02"
    data[entry + 24:entry + 28] = struct.pack("<I", 0xF0000000)
    started = time.monotonic()
    att = enrich("letter.docx", bytes(data))
    assert att.sniffed_type == extract.DOCX
    assert "declares too much" in att.extraction_note and att.text == ""
    assert time.monotonic() - started < 3.0


def test_rar5_fixtures_are_what_they_claim() -> None:
    """tests/rar5.py writes archives a real RAR decoder (libarchive) reads back."""
    import libarchive

    pad = rar5.bomb_member("pad.bin", 3 << 20, 0x41)
    data = rar5.archive([rar5.stored("notes.txt", b"see you at nine\n"), pad])
    assert len(data) < 500
    with libarchive.memory_reader(data) as archive:
        got = {entry.pathname: (entry.size, b"".join(entry.get_blocks())) for entry in archive}
    assert got["notes.txt"] == (16, b"see you at nine\n")
    size, body = got["pad.bin"]
    assert size == len(body) >= 3 << 20 and body == b"A" * size
    assert extract.rar_sizes(data) == [("notes.txt", 16, 16), ("pad.bin", size, len(pad[1]))]


@pytest.mark.parametrize("name, data", [
    ("RAR 5 understating 300 MiB", lambda: rar5.archive([rar5.bomb_member("a.bin", 300 << 20, declare=100_000)])),
    ("7z > gzip of 200 MiB", lambda: make_7z({"l.gz": gzip_of_zeros(200)}, filters=COPY)),
    ("RAR 5 > gzip of 200 MiB", lambda: rar5.archive([rar5.stored("l.gz", gzip_of_zeros(200))])),
])
def test_7z_and_rar_members_are_unpacked_with_bounded_memory_and_time(name: str, data) -> None:
    """Only the byte limits (no ratio limit) stop these, so the members are really streamed:
    Python's allocations stay within a few chunks, whatever the members unpack to."""
    import tracemalloc

    payload = data()
    limits = BombLimits(max_ratio=1e9, max_member_bytes=64 << 20)
    tracemalloc.start()
    try:
        started = time.monotonic()
        bomb = find_archive_bomb(payload, limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert bomb is not None and ("more than" in bomb.reason), bomb
    assert peak - len(payload) < 8 << 20, peak  # 64 KiB blocks; a nested archive spooled up to 8 MiB
    assert time.monotonic() - started < 5.0


def gzip_of_zeros(mib: int) -> bytes:
    """A gzip stream of `mib` MiB of zeros, compressed a MiB at a time."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    return b"".join(comp.compress(chunk) for _ in range(mib)) + comp.flush()


def _random_docx(rng) -> bytes:
    """A document with what a paragraph's text is made of: runs of text, tabs, line, page and
    column breaks, carriage returns, no-break hyphens, absolute tabs, hyperlinks holding runs,
    empty paragraphs and runs, and a header and footer."""
    from docx.enum.text import WD_BREAK
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    document = docx.Document()
    words = ["Dear", "parents", "Amy", "Smith", "", " ", "café", "Year 9", "\u00a0", "x" * 30]

    def fill(paragraph) -> None:
        for _ in range(rng.randrange(0, 6)):
            kind = rng.randrange(8)
            if kind == 0:
                link = OxmlElement("w:hyperlink")
                for _ in range(rng.randrange(0, 3)):
                    r = OxmlElement("w:r")
                    t = OxmlElement("w:t")
                    t.text = rng.choice(words)
                    r.append(t)
                    link.append(r)
                paragraph._p.append(link)
                continue
            run = paragraph.add_run(rng.choice(words))
            if kind == 1:
                run.add_tab()
            elif kind == 2:
                run.add_break(rng.choice([WD_BREAK.LINE, WD_BREAK.PAGE, WD_BREAK.COLUMN]))
            elif kind in (3, 4, 5):
                run._r.append(OxmlElement(rng.choice(["w:cr", "w:noBreakHyphen", "w:ptab"])))
            if rng.random() < 0.3:
                run.add_text(rng.choice(words))
    for _ in range(rng.randrange(1, 12)):
        fill(document.add_paragraph())
    section = document.sections[0]
    fill(section.header.add_paragraph())
    fill(section.footer.add_paragraph())
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_paragraph_texts_are_python_docx_s() -> None:
    """The compiled-XPath paragraph text is in use and gives python-docx's `Paragraph.text`
    for every body, header and footer paragraph of random documents; the extracted text too."""
    import random
    assert extract._paragraph_text_paths() is not None
    rng = random.Random(7)
    for _ in range(150):
        document = docx.Document(io.BytesIO(_random_docx(rng)))
        section = document.sections[0]
        for paragraphs in (document.paragraphs, section.header.paragraphs, section.footer.paragraphs):
            assert extract._paragraph_texts(paragraphs) == [p.text for p in paragraphs]


def test_docx_text_equals_the_plain_python_docx_walk(monkeypatch) -> None:
    """_docx_text with the fast paragraph text and without it (python-docx's property) agree."""
    import random
    rng = random.Random(11)
    documents = [_random_docx(rng) for _ in range(40)] + [
        make_docx(["Safeguarding report for Year 9", "Dear parents"], [["Pupil", "Concern"], ["Amy", "Attendance"]])]
    fast = [extract._docx_text(data, extract._Budget(extract.Limits())) for data in documents]
    monkeypatch.setattr(extract, "_paragraph_text_paths", lambda: None)
    assert fast == [extract._docx_text(data, extract._Budget(extract.Limits())) for data in documents]

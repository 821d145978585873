"""Sniff attachment types from their bytes and extract their text, once, bounded.

`AttachmentExtractor.enrich` runs once per attachment while the gateway builds
the message view (in an executor, off the event loop). Every filter then reads
`Attachment.sniffed_type`, `.text`, `.encrypted`, `.has_macros` and `.members`
instead of opening documents itself. Nothing here raises: a document we cannot
read gets an `extraction_note` saying why.

Bounds (all per attachment): input size, characters of text, rows and pages,
wall time (checked between rows, pages and archive members; a single pypdf
page cannot be interrupted from a thread, so the page count bound matters too),
archive members listed, nested archive depth and total bytes unpacked.
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import io
import logging
import re
import struct
import time
import zipfile
import zlib
from dataclasses import dataclass

import filetype

from filters.message import ArchiveMember, Attachment, code_digest, decode_bytes, html_to_text

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 200_000

# --- sniffed types we name ourselves (filetype has no matcher for these) ---
OLE_STORAGE = "application/x-ole-storage"  # CFB container we could not classify further
MS_WORD = "application/msword"
MS_EXCEL = "application/vnd.ms-excel"
MS_POWERPOINT = "application/vnd.ms-powerpoint"
MS_INSTALLER = "application/x-msi"
OOXML_ENCRYPTED = "application/x-ooxml-encrypted"  # password-protected docx/xlsx/pptx (CFB wrapper)
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
DOCM = "application/vnd.ms-word.document.macroenabled.12"
XLSM = "application/vnd.ms-excel.sheet.macroenabled.12"
PPTM = "application/vnd.ms-powerpoint.presentation.macroenabled.12"
ZIP = "application/zip"
JAR = "application/java-archive"
APK = "application/vnd.android.package-archive"
PE = "application/x-msdownload"  # MZ: DOS/Windows program or DLL
ELF = "application/x-executable"
MACHO = "application/x-mach-binary"
JAVA_CLASS = "application/java-vm"
SHORTCUT = "application/x-ms-shortcut"
SCRIPT = "text/x-script"  # anything starting with a #! line
PDF = "application/pdf"
SEVEN_ZIP = "application/x-7z-compressed"
RAR = "application/vnd.rar"

# What the attachment policy calls a program: run by the OS, not opened by a viewer.
EXECUTABLE_TYPES = frozenset({PE, ELF, MACHO, JAVA_CLASS, JAR, APK, SHORTCUT, SCRIPT, MS_INSTALLER,
                              "application/x-shellscript", "application/x-elf", "application/x-sharedlib",
                              "application/vnd.microsoft.portable-executable", "application/x-dosexec"})
ARCHIVE_TYPES = frozenset({ZIP, SEVEN_ZIP, RAR, "application/x-rar-compressed", "application/gzip",
                           "application/x-bzip2", "application/x-tar", "application/x-xz",
                           "application/vnd.ms-cab-compressed", "application/x-iso9660-image"})
MACRO_TYPES = frozenset({DOCM, XLSM, PPTM, "application/vnd.ms-excel.addin.macroenabled.12",
                         "application/vnd.ms-excel.sheet.binary.macroenabled.12",
                         "application/vnd.ms-word.template.macroenabled.12",
                         "application/vnd.ms-excel.template.macroenabled.12",
                         "application/vnd.ms-powerpoint.slideshow.macroenabled.12"})

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_LNK_MAGIC = b"\x4c\x00\x00\x00\x01\x14\x02\x00"
_MACHO_MAGICS = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
# The root storage CLSID of a Windows Installer database (MSI/MSP).
_MSI_CLSIDS = ("000C1084-0000-0000-C000-000000000046", "000C1086-0000-0000-C000-000000000046")
# 7-Zip's AES-256 coder id, as it appears in an archive's header.
_7Z_AES = b"\x06\xf1\x07\x01"
_TEXT_EXTENSIONS = (".txt", ".csv", ".tsv", ".text", ".md", ".log", ".ics", ".vcf", ".json", ".xml")
_HTML_EXTENSIONS = (".htm", ".html", ".xhtml", ".mht")


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-attachment bounds on extraction work."""

    max_input_bytes: int = 25_000_000  # larger attachments are sniffed but not read
    max_text_chars: int = MAX_TEXT_CHARS
    max_seconds: float = 5.0
    max_rows: int = 20_000  # spreadsheet rows across all sheets
    max_pages: int = 100  # PDF pages
    max_members: int = 2_000  # archive entries listed (over all nesting levels)
    max_archive_depth: int = 3  # zip inside zip inside zip
    max_member_bytes: int = 5_000_000  # a member is unpacked (for sniffing/text) only below this
    max_unpacked_bytes: int = 50_000_000  # total unpacked per attachment: zip-bomb guard


class _Budget:
    """Time and unpacked-bytes budget shared by one attachment's extraction."""

    def __init__(self, limits: Limits, deadline: float | None = None) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.max_seconds
        if deadline is not None:  # the whole message's budget, set by build_view
            self.deadline = min(self.deadline, deadline)
        self.unpacked = 0
        self.members = 0
        self.notes: list[str] = []

    def expired(self) -> bool:
        return time.monotonic() > self.deadline

    def text_allowed(self) -> bool:
        """Flags and member lists are always worked out (cheap, and the attachment
        policy needs them); reading text stops once the time is spent."""
        if self.expired():
            self.note("time budget spent: text not extracted")
            return False
        return True

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


# ---------------------------------------------------------------------------
# sniffing
# ---------------------------------------------------------------------------

def _ole_streams(data: bytes):
    """An olefile.OleFileIO over the bytes, or None."""
    import olefile  # local import: only OLE attachments pay for it

    try:
        return olefile.OleFileIO(io.BytesIO(data))
    except Exception:
        return None


@dataclass(frozen=True, slots=True)
class _OleInfo:
    kind: str
    macros: bool
    encrypted: bool


def ole_info(data: bytes) -> _OleInfo:
    """Classify a CFB (OLE2) file: which Office program, VBA present, password set."""
    ole = _ole_streams(data)
    if ole is None:
        return _OleInfo(OLE_STORAGE, False, False)
    try:
        names = {"/".join(entry).lower() for entry in ole.listdir(streams=True, storages=True)}
        leaves = {n.rsplit("/", 1)[-1] for n in names}
        root_clsid = (ole.root.clsid or "").upper() if ole.root is not None else ""
        # VBA lives in a "VBA" storage with a "dir" stream and "_VBA_PROJECT"
        # (Word: Macros/VBA, Excel: _VBA_PROJECT_CUR/VBA, PowerPoint: a VBA storage too).
        macros = "_vba_project" in leaves or "_vba_project_cur" in leaves or any(
            n.endswith("vba/dir") for n in names)
        if "encryptedpackage" in leaves and "encryptioninfo" in leaves:
            return _OleInfo(OOXML_ENCRYPTED, macros, True)
        if root_clsid in _MSI_CLSIDS:
            return _OleInfo(MS_INSTALLER, False, False)
        if "worddocument" in leaves:
            return _OleInfo(MS_WORD, macros, _word_encrypted(ole))
        if "workbook" in leaves or "book" in leaves:
            return _OleInfo(MS_EXCEL, macros, _excel_encrypted(ole, "workbook" if "workbook" in leaves else "book"))
        if "powerpoint document" in leaves:
            return _OleInfo(MS_POWERPOINT, macros, "encrypteddatastream" in leaves)
        return _OleInfo(OLE_STORAGE, macros, False)
    except Exception:
        log.debug("OLE classification failed", exc_info=True)
        return _OleInfo(OLE_STORAGE, False, False)
    finally:
        ole.close()


def _word_encrypted(ole) -> bool:
    # [MS-DOC] FibBase: bit fEncrypted (0x0100) of the 16-bit flags at offset 0x0A.
    head = ole.openstream("WordDocument").read(12)
    return len(head) >= 12 and bool(struct.unpack_from("<H", head, 10)[0] & 0x0100)


def _excel_encrypted(ole, stream: str) -> bool:
    # [MS-XLS] a FILEPASS record (type 0x002F) follows the first BOF when the
    # workbook is password-protected; scan the first records only.
    data = ole.openstream(stream).read(8192)
    pos = 0
    for _ in range(64):
        if pos + 4 > len(data):
            break
        rtype, size = struct.unpack_from("<HH", data, pos)
        if rtype == 0x002F:
            return True
        pos += 4 + size
    return False


def _zip_kind(zf: zipfile.ZipFile) -> tuple[str, bool]:
    """A zip's real type (OOXML, jar, apk, plain zip) and whether it carries VBA."""
    names = zf.namelist()
    lower = [n.lower() for n in names]
    macros = any(n.endswith("vbaproject.bin") for n in lower)
    if "[content_types].xml" in lower:
        try:
            types = zf.read(names[lower.index("[content_types].xml")])[:200_000].decode("utf-8", "replace").lower()
        except Exception:
            types = ""
        macro_ct = "macroenabled" in types or "vbaproject" in types
        macros = macros or macro_ct
        if any(n.startswith("word/") for n in lower):
            return (DOCM if macros else DOCX), macros
        if any(n.startswith("xl/") for n in lower):
            return (XLSM if macros else XLSX), macros
        if any(n.startswith("ppt/") for n in lower):
            return (PPTM if macros else PPTX), macros
    if "androidmanifest.xml" in lower and "classes.dex" in lower:
        return APK, False
    if "meta-inf/manifest.mf" in lower or any(n.endswith(".class") for n in lower[:200]):
        return JAR, False
    if lower and lower[0] == "mimetype":
        try:
            return zf.read(names[0])[:100].decode("ascii", "replace").strip() or ZIP, False
        except Exception:
            return ZIP, False
    return ZIP, macros


def _zip_declared_bytes(data: bytes) -> int:
    """The sum of a zip's declared member sizes (its central directory, nothing inflated)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return sum(info.file_size for info in zf.infolist())
    except Exception:
        return 0


def sniff(data: bytes) -> str:
    """The real type of some bytes, whatever the attachment claims. "" when unknown."""
    if not data:
        return ""
    head = data[:8]
    if data[:2] == b"MZ":
        return PE
    if head[:4] == b"\x7fELF":
        return ELF
    if head[:4] in _MACHO_MAGICS:
        return MACHO
    if head[:4] == b"\xca\xfe\xba\xbe":
        # Mach-O universal binary (a few architectures) or Java class (version >= 45): both programs
        return MACHO if len(data) > 8 and struct.unpack(">I", data[4:8])[0] < 30 else JAVA_CLASS
    if head == _LNK_MAGIC:
        return SHORTCUT
    if data[:2] == b"#!":
        return SCRIPT
    if head == _OLE_MAGIC:
        return ole_info(data).kind
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                return _zip_kind(zf)[0]
        except Exception:
            return ZIP
    if b"%PDF-" in data[:1024]:
        return PDF
    kind = filetype.guess(data[:8192])
    if kind is not None:
        return kind.mime
    return ""


# ---------------------------------------------------------------------------
# encryption checks that need no password
# ---------------------------------------------------------------------------

def seven_zip_encrypted(data: bytes) -> bool:
    """True when a 7z archive's header names the AES coder.

    With header encryption (7z -mhe=on) the AES coder id is in the plain
    "encoded header" block at the end; with only the contents encrypted the
    header is usually LZMA-packed, so we unpack it with the stdlib's lzma.
    """
    if data[:6] != b"7z\xbc\xaf\x27\x1c" or len(data) < 32:
        return False
    try:
        next_offset, next_size = struct.unpack_from("<QQ", data, 12)
        start = 32 + next_offset
        header = data[start:start + min(next_size, 1_000_000)]
    except struct.error:
        return False
    if _7Z_AES in header:
        return True
    if header[:1] == b"\x17":  # kEncodedHeader: the real header is packed
        unpacked = _unpack_7z_header(data, header)
        return unpacked is not None and _7Z_AES in unpacked
    return False


def _read_7z_number(buf: bytes, pos: int) -> tuple[int, int]:
    first = buf[pos]
    pos += 1
    mask = 0x80
    value = 0
    for i in range(8):
        if first & mask == 0:
            high = first & (mask - 1)
            value |= high << (8 * i)
            return value, pos
        value |= buf[pos] << (8 * i)
        pos += 1
        mask >>= 1
    return value, pos


def _unpack_7z_header(data: bytes, header: bytes) -> bytes | None:
    """Unpack an LZMA-encoded 7z header (the common case). None on anything unusual."""
    import lzma

    try:
        pos = 1
        if header[pos] != 0x06:  # kPackInfo
            return None
        pack_pos, pos = _read_7z_number(header, pos + 1)
        _num_streams, pos = _read_7z_number(header, pos)
        if header[pos] != 0x09:  # kSize
            return None
        pack_size, pos = _read_7z_number(header, pos + 1)
        # find the LZMA coder (id 03 01 01) and its 5 property bytes
        coder = header.find(b"\x03\x01\x01", pos)
        if coder < 0:
            return None
        props_len = header[coder + 3]
        props = header[coder + 4:coder + 4 + props_len]
        unpack_at = header.find(b"\x0c", coder + 4 + props_len)  # kCodersUnpackSize
        unpack_size, _ = _read_7z_number(header, unpack_at + 1)
        packed = data[32 + pack_pos:32 + pack_pos + pack_size]
        lc_lp_pb = props[0]
        dict_size = struct.unpack("<I", props[1:5])[0]
        filters = [{"id": lzma.FILTER_LZMA1, "dict_size": dict_size, "lc": lc_lp_pb % 9,
                    "lp": (lc_lp_pb // 9) % 5, "pb": lc_lp_pb // 45}]
        decomp = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=filters)
        return decomp.decompress(packed, max_length=min(unpack_size, 2_000_000))
    except Exception:
        return None


def rar_encrypted(data: bytes) -> bool:
    """RAR 4 (file header flag 0x04, or archive flag 0x80 for encrypted headers)
    and RAR 5 (an archive encryption header, or a file encryption extra record)."""
    if data[:7] == b"Rar!\x1a\x07\x00":  # RAR 4
        pos = 7
        for _ in range(200):
            if pos + 7 > len(data):
                return False
            _crc, htype, flags, hsize = struct.unpack_from("<HBHH", data, pos)
            if htype == 0x73 and flags & 0x0080:
                return True
            if htype == 0x74 and flags & 0x0004:
                return True
            add = struct.unpack_from("<I", data, pos + 7)[0] if flags & 0x8000 and pos + 11 <= len(data) else 0
            if hsize < 7:
                return False
            pos += hsize + add
        return False
    if data[:8] == b"Rar!\x1a\x07\x01\x00":  # RAR 5
        pos = 8
        for _ in range(200):
            if pos + 6 > len(data):
                return False
            try:
                pos += 4  # CRC32
                size, p = _vint(data, pos)
                htype, p2 = _vint(data, p)
            except IndexError:
                return False
            if htype == 4:  # archive encryption header
                return True
            if htype in (2, 3) and _rar5_file_encrypted(data, p2, p + size):  # file / service header
                return True
            flags, p3 = _vint(data, p2)
            extra = data_size = 0
            if flags & 0x01:
                extra, p3 = _vint(data, p3)
            if flags & 0x02:
                data_size, p3 = _vint(data, p3)
            pos = p + size + data_size
        return False
    return False


def _vint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7


def _rar5_file_encrypted(data: bytes, pos: int, end: int) -> bool:
    """A RAR 5 file header's extra area holding a file encryption record (type 1)."""
    try:
        flags, pos = _vint(data, pos)
        extra_size = 0
        if flags & 0x01:
            extra_size, pos = _vint(data, pos)
        if not extra_size:
            return False
        area = data[end - extra_size:end]
        p = 0
        while p < len(area):
            rec_size, q = _vint(area, p)
            rec_type, _ = _vint(area, q)
            if rec_type == 1:
                return True
            p = q + rec_size
    except IndexError:
        return False
    return False


# ---------------------------------------------------------------------------
# text extraction
# ---------------------------------------------------------------------------

def _decode_text(data: bytes) -> str:
    if data[:3] == b"\xef\xbb\xbf":
        return data[3:].decode("utf-8", errors="replace")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", errors="replace")
    return decode_bytes(data)


_CONTROL = bytes(c for c in range(32) if c not in (9, 10, 12, 13, 27))


def _looks_binary(data: bytes) -> bool:
    """NUL bytes, or more than 10% control characters, in the first 4 KB (UTF-16 BOMs excepted)."""
    head = data[:4096]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return False
    return b"\x00" in head or len(head) - len(head.translate(None, _CONTROL)) > len(head) // 10


def _csv_text(data: bytes, budget: _Budget) -> str:
    text = _decode_text(data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        return text
    rows = []
    for count, row in enumerate(csv.reader(io.StringIO(text), dialect)):
        if count >= budget.limits.max_rows or budget.expired():
            budget.note("spreadsheet truncated")
            break
        rows.append("\t".join(cell.strip() for cell in row))
    return "\n".join(rows)


def _xlsx_text(data: bytes, budget: _Budget) -> str:
    import openpyxl

    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    lines: list[str] = []
    chars = 0
    rows = 0
    try:
        for sheet in workbook.worksheets:
            lines.append(f"[sheet: {sheet.title}]")
            for row in sheet.iter_rows(values_only=True):
                rows += 1
                if rows > budget.limits.max_rows or chars > budget.limits.max_text_chars or budget.expired():
                    budget.note("spreadsheet truncated")
                    return "\n".join(lines)
                cells = ["" if v is None else str(v) for v in row]
                while cells and not cells[-1]:
                    cells.pop()
                if cells:
                    line = "\t".join(cells)
                    chars += len(line)
                    lines.append(line)
    finally:
        workbook.close()
    return "\n".join(lines)


# python-docx's paragraph text (CT_P.text, CT_Hyperlink.text, CT_R.text) as this module was
# checked against (python-docx 1.2.0): _paragraph_texts gives the same strings only while
# those three properties are exactly these; any other version keeps `Paragraph.text`.
_DOCX_TEXT_CODE = "80cafa9b3fb230c6e472446f342a3f6dec1b10db"  # see _docx_text_digest


def _docx_text_digest() -> str:
    from docx.oxml.text.hyperlink import CT_Hyperlink
    from docx.oxml.text.paragraph import CT_P
    from docx.oxml.text.run import CT_R
    return code_digest(CT_P.text.fget, CT_Hyperlink.text.fget, CT_R.text.fget)


@functools.cache
def _paragraph_text_paths():
    """The three XPath expressions python-docx evaluates per paragraph, run and hyperlink,
    compiled once (python-docx compiles each string again on every call: that, twice per
    paragraph, was most of a DOCX's extraction), or None where they are not the ones checked."""
    if _docx_text_digest() != _DOCX_TEXT_CODE:
        return None
    from docx.oxml.ns import nsmap, qn
    from lxml import etree
    return (etree.XPath("w:r | w:hyperlink", namespaces=nsmap), etree.XPath("w:r", namespaces=nsmap),
            etree.XPath("w:br | w:cr | w:noBreakHyphen | w:ptab | w:t | w:tab", namespaces=nsmap),
            qn("w:hyperlink"))


def _paragraph_texts(paragraphs) -> list[str]:
    """[p.text for p in paragraphs], each the same string: a paragraph's text is its runs' and
    hyperlinks' in document order, a hyperlink's its runs', a run's the str() of its inner
    elements (the same element classes do that)."""
    paths = _paragraph_text_paths()
    if paths is None:
        return [p.text for p in paragraphs]
    inner, link_runs, run_items, hyperlink = paths
    texts = []
    for paragraph in paragraphs:
        pieces = []
        for child in inner(paragraph._p):
            for run in (link_runs(child) if child.tag == hyperlink else (child,)):
                pieces.extend(map(str, run_items(run)))
        texts.append("".join(pieces))
    return texts


def _docx_text(data: bytes, budget: _Budget) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    lines = [text for text in _paragraph_texts(document.paragraphs) if text]
    for table in document.tables:
        if budget.expired():
            budget.note("document truncated")
            break
        for row in table.rows:
            try:
                lines.append("\t".join(cell.text.strip() for cell in row.cells))
            except Exception:  # ragged/merged cells in hand-made tables
                continue
    for section in document.sections:
        for part in (section.header, section.footer):
            try:
                lines.extend(text for text in _paragraph_texts(part.paragraphs) if text)
            except Exception:
                continue
    return "\n".join(lines)


_XML_RUN = re.compile(rb"<(?:w|a|x)?:?t(?:\s[^>]*)?>([^<]*)</(?:w|a|x)?:?t>")
_XML_PARA = re.compile(rb"</(?:w|a):p>|</si>|</row>")


def _ooxml_runs(data: bytes, prefix: str, budget: _Budget) -> str:
    """Text runs (<w:t>, <a:t>, <t>) of the OOXML parts whose names start with prefix."""
    import html

    chunks: list[str] = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            if not info.filename.lower().startswith(prefix) or not info.filename.endswith(".xml"):
                continue
            if info.file_size > budget.limits.max_member_bytes * 4 or budget.expired():
                budget.note("document truncated")
                break
            xml = _XML_PARA.sub(b"<t>\n</t>", zf.read(info))
            chunks.append(html.unescape("".join(m.decode("utf-8", "replace") for m in _XML_RUN.findall(xml))))
    return "\n".join(c.strip() for c in chunks if c.strip())


def _pdf_text(data: bytes, budget: _Budget) -> tuple[str, bool]:
    """(text, encrypted). A PDF with only an owner password opens with "" and is read."""
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        try:
            if not reader.decrypt(""):
                budget.note("PDF is password-protected")
                return "", True
        except Exception:
            budget.note("PDF is password-protected")
            return "", True
    chunks: list[str] = []
    chars = 0
    for number, page in enumerate(reader.pages):
        if number >= budget.limits.max_pages or chars > budget.limits.max_text_chars or budget.expired():
            budget.note("PDF truncated")
            break
        try:
            text = page.extract_text() or ""
        except Exception:
            budget.note("some PDF pages unreadable")
            continue
        chars += len(text)
        chunks.append(text)
    # only an owner password (opens with ""): anyone, any scanner, can read it
    return "\n".join(chunks), False


def _rtf_text(data: bytes) -> str:
    text = data.decode("latin-1", errors="replace")
    text = re.sub(r"\\'([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]).decode("cp1252", "replace"), text)
    text = re.sub(r"\\par[d]?\b ?", "\n", text)
    text = re.sub(r"\{\\\*[^{}]*\}|\\[a-zA-Z]+-?\d* ?|[{}]", "", text)
    return text


@dataclass(slots=True)
class _Result:
    sniffed: str = ""
    text: str = ""
    encrypted: bool = False
    macros: bool = False
    members: list[ArchiveMember] = dataclasses.field(default_factory=list)


class AttachmentExtractor:
    """Fills `sniffed_type`, `text`, `encrypted`, `has_macros`, `members` and
    `extraction_note` of an Attachment. Never raises."""

    def __init__(self, max_text_chars: int = MAX_TEXT_CHARS, limits: Limits | None = None) -> None:
        self.limits = limits or Limits(max_text_chars=max_text_chars)

    def sniff(self, data: bytes) -> str:
        try:
            return sniff(data)
        except Exception:
            log.debug("sniff failed", exc_info=True)
            return ""

    def enrich(self, attachment: Attachment, deadline: float | None = None) -> Attachment:
        """`deadline` (time.monotonic()) bounds the whole message's extraction work."""
        budget = _Budget(self.limits, deadline)
        result = _Result()
        try:
            result = self._examine(attachment.data, attachment.filename, attachment.declared_type, budget, 0)
        except Exception as exc:  # a hostile document must not break the message view
            budget.note(f"text not extracted: {type(exc).__name__}")
            log.debug("extraction failed for %r", attachment.filename, exc_info=True)
            if not result.sniffed:
                result.sniffed = self.sniff(attachment.data)
        text = result.text
        if len(text) > self.limits.max_text_chars:
            text = text[: self.limits.max_text_chars]
            budget.note(f"text cut at {self.limits.max_text_chars} characters")
        return dataclasses.replace(
            attachment, sniffed_type=result.sniffed, text=text, encrypted=result.encrypted,
            has_macros=result.macros, members=tuple(result.members),
            extraction_note="; ".join(budget.notes))

    # one file (an attachment or an archive member): sniff, flags, text, members
    def _examine(self, data: bytes, name: str, declared: str, budget: _Budget, depth: int) -> _Result:
        result = _Result(sniffed=self.sniff(data))
        lname = name.lower().strip()
        kind = result.sniffed
        if len(data) > self.limits.max_input_bytes:
            budget.note("too large to read")
            return result
        if kind == OOXML_ENCRYPTED or kind in (MS_WORD, MS_EXCEL, MS_POWERPOINT, OLE_STORAGE):
            info = ole_info(data)
            result.encrypted, result.macros = info.encrypted, info.macros
            if info.encrypted:
                budget.note("document is password-protected")
            return result
        if kind in (DOCX, DOCM, XLSX, XLSM, PPTX, PPTM):
            result.macros = kind in (DOCM, XLSM, PPTM)
            if _zip_declared_bytes(data) > self.limits.max_unpacked_bytes:
                # the XML parsers would inflate every declared byte: a bomb dressed as a document
                budget.note("document declares too much unpacked data: text not extracted")
                return result
            # python-docx refuses macro-enabled documents and openpyxl chokes on
            # some generators' output: then the XML text runs are read directly
            fallback = {DOCX: "word/", DOCM: "word/", XLSX: "xl/sharedstrings", XLSM: "xl/sharedstrings"}
            if not budget.text_allowed():
                return result
            try:
                if kind == DOCX:
                    result.text = _docx_text(data, budget)
                elif kind in (XLSX, XLSM):
                    result.text = _xlsx_text(data, budget)
                else:
                    result.text = _ooxml_runs(data, fallback.get(kind, "ppt/slides/"), budget)
            except Exception as exc:
                budget.note(f"read as raw XML ({type(exc).__name__})")
                result.text = _ooxml_runs(data, fallback.get(kind, "ppt/slides/"), budget)
            return result
        if kind in (ZIP, JAR, APK):
            self._zip(data, result, budget, depth)
            return result
        if kind == SEVEN_ZIP:
            result.encrypted = seven_zip_encrypted(data)
            budget.note("7z contents not listed")
            return result
        if kind in (RAR, "application/x-rar-compressed"):
            result.encrypted = rar_encrypted(data)
            budget.note("RAR contents not listed")
            return result
        if kind == PDF:
            if budget.text_allowed():
                result.text, result.encrypted = _pdf_text(data, budget)
            else:  # the password check alone is cheap
                result.encrypted = b"/Encrypt" in data[-4096:] or b"/Encrypt" in data[:4096]
            return result
        if not budget.text_allowed():
            return result
        if kind == "application/rtf" or lname.endswith(".rtf") or data[:5] == b"{\\rtf":
            result.text = _rtf_text(data[: self.limits.max_input_bytes])
            return result
        if kind or _looks_binary(data):
            return result  # images, audio, programs ...: nothing to read
        # text-ish from here on
        if declared == "text/html" or lname.endswith(_HTML_EXTENSIONS) or (
                not declared.startswith("text/plain") and data[:200].lstrip()[:14].lower().startswith(
                    (b"<!doctype html", b"<html"))):
            result.text = html_to_text(_decode_text(data))
            return result
        if lname.endswith((".csv", ".tsv")) or declared in ("text/csv", "text/tab-separated-values"):
            result.text = _csv_text(data, budget)
            return result
        if declared.startswith("text/") or declared in ("", "application/octet-stream") or lname.endswith(
                _TEXT_EXTENSIONS) or declared.startswith("message/"):
            result.text = _decode_text(data)
        return result

    def _zip(self, data: bytes, result: _Result, budget: _Budget, depth: int, prefix: str = "") -> None:
        """List members (flattened into result.members), flag encryption, read
        small text-ish members, open nested zips up to max_archive_depth."""
        limits = self.limits
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            kind, macros = _zip_kind(zf)
            result.macros = result.macros or macros
            texts: list[str] = []
            for info in zf.infolist():
                if info.is_dir():
                    continue
                if budget.members >= limits.max_members:
                    budget.note("archive listing truncated")
                    break
                budget.members += 1
                path = f"{prefix}{info.filename}"
                encrypted = bool(info.flag_bits & 0x1)
                member = ArchiveMember(path=path, size=info.file_size, encrypted=encrypted, depth=depth + 1)
                if encrypted:
                    result.encrypted = True
                    result.members.append(member)
                    continue
                if budget.expired():
                    # out of time: names, password flags and a sniff of the first
                    # 8 KB only (enough to see a program hiding under a harmless name)
                    budget.note("time budget spent: members not unpacked")
                    try:
                        with zf.open(info) as handle:
                            member = dataclasses.replace(member, sniffed_type=self.sniff(handle.read(8192)))
                    except Exception:
                        pass
                    result.members.append(member)
                    continue
                if info.file_size > limits.max_member_bytes or \
                        budget.unpacked + info.file_size > limits.max_unpacked_bytes:
                    budget.note("large members not unpacked")
                    result.members.append(member)
                    continue
                try:
                    with zf.open(info) as handle:
                        inner = handle.read(limits.max_member_bytes + 1)
                except Exception as exc:  # bad CRC, unsupported compression (AES = 99) ...
                    budget.note(f"member unreadable: {type(exc).__name__}")
                    if info.compress_type == 99:  # WinZip AES: encrypted
                        result.encrypted = True
                        member = dataclasses.replace(member, encrypted=True)
                    result.members.append(member)
                    continue
                budget.unpacked += len(inner)
                if len(inner) > limits.max_member_bytes:
                    budget.note("zip bomb suspected: member larger than declared")
                    result.members.append(member)
                    continue
                if depth + 1 >= limits.max_archive_depth:
                    member = dataclasses.replace(member, sniffed_type=self.sniff(inner))
                    result.members.append(member)
                    if member.sniffed_type in (ZIP,):
                        budget.note("archives nested too deep to open")
                    continue
                sub = self._examine(inner, info.filename, "", budget, depth + 1) if kind == ZIP else _Result(
                    sniffed=self.sniff(inner))
                result.members.append(dataclasses.replace(
                    member, sniffed_type=sub.sniffed, encrypted=sub.encrypted, has_macros=sub.macros))
                for nested in sub.members:  # flatten: "outer member > inner member"
                    result.members.append(dataclasses.replace(nested, path=f"{path} > {nested.path}"))
                if sub.text:
                    texts.append(f"[{path}]\n{sub.text}")
            if texts:
                result.text = "\n\n".join(texts)


# ---------------------------------------------------------------------------
# archive bombs
# ---------------------------------------------------------------------------
#
# A zip bomb is small mail that unpacks to more than anything downstream can
# hold: one member declaring gigabytes, a compression ratio no real file has,
# archives nested to multiply both (42.zip), or headers that lie about sizes.
# ClamAV has limits of its own (MaxFileSize, MaxScanSize, MaxRecursion), but a
# deployment can raise them, run without clamd, or turn AlertExceedsMax off, so
# this walk is the gateway's own guard. Nothing is inflated unboundedly: every
# member is streamed in chunks and counted against a byte budget and a deadline,
# nested archives are spooled (to disk past a few MB), and the first limit
# crossed ends the walk with the member's path and the reason.

_CHUNK = 1 << 16
_SPOOL_IN_MEMORY = 8 << 20  # a nested archive past this is spooled to a temporary file
_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_RAR_MAGICS = (b"Rar!\x1a\x07\x00", b"Rar!\x1a\x07\x01\x00")


@dataclass(frozen=True, slots=True)
class BombLimits:
    """What counts as an archive bomb (filters/attachments.py Options set these)."""

    max_member_bytes: int = 256 << 20  # one member, declared or as unpacked
    max_total_bytes: int = 512 << 20  # all members of all nesting levels, declared or unpacked
    max_ratio: float = 100.0  # unpacked / packed of one member (deflate's own ceiling is ~1032)
    ratio_min_bytes: int = 1 << 20  # the ratio only counts for members unpacking past this
    max_depth: int = 5  # archives inside archives, the attachment itself being depth 0
    max_seconds: float = 5.0  # the whole walk; past it the attachment counts as a bomb
    max_members: int = 10_000  # entries looked at; the rest are not (their declared sizes still add up)


@dataclass(frozen=True, slots=True)
class ArchiveBomb:
    """Where the walk stopped and why (shown to the reviewer)."""

    path: str  # "" for the attachment itself, else "inner.zip > zeros.bin"
    reason: str


class _Bomb(Exception):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.found = ArchiveBomb(path, reason)


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return ""  # not reached


def archive_kind(head: bytes) -> str:
    """The archive format the first bytes announce ("" for anything else)."""
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:2] == _GZIP_MAGIC:
        return "gzip"
    if head[:3] == _BZIP2_MAGIC and head[3:4].isdigit():
        return "bzip2"
    if head[:6] == _XZ_MAGIC:
        return "xz"
    if head.startswith(_RAR_MAGICS):
        return "rar"
    if head[:6] == b"7z\xbc\xaf\x27\x1c":
        return "7z"
    if head[257:262] == b"ustar":
        return "tar"
    return ""


class _DecompressingReader(io.RawIOBase):
    """A compressed stream (gzip, bzip2, xz, or a zip member's raw deflate) as a readable
    file giving at most one buffer of output per read (the decompressor's max_length),
    so a bomb never inflates in one call. Concatenated gzip/bzip2/xz members are read on."""

    _MAGIC = {"gzip": _GZIP_MAGIC, "bzip2": _BZIP2_MAGIC, "xz": _XZ_MAGIC, "deflate": None}

    def __init__(self, source, kind: str) -> None:
        self._source = source
        self._kind = kind
        self._decomp = self._new()
        self._pending = b""

    def _new(self):
        import bz2
        import lzma

        if self._kind in ("gzip", "deflate"):
            return zlib.decompressobj(wbits=31 if self._kind == "gzip" else -15)
        return bz2.BZ2Decompressor() if self._kind == "bzip2" else lzma.LZMADecompressor()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        want = len(buffer)
        zlib_kind = self._kind in ("gzip", "deflate")
        while True:
            decomp = self._decomp
            if decomp.eof:
                magic = self._MAGIC[self._kind]
                rest = decomp.unused_data or self._pending or (self._source.read(_CHUNK) if magic else b"")
                if not magic or not rest.startswith(magic):
                    return 0  # the end (trailing padding or garbage is not ours to read)
                self._decomp, self._pending = self._new(), rest
                continue
            if zlib_kind:
                data = decomp.unconsumed_tail or self._pending or self._source.read(_CHUNK)
            elif decomp.needs_input:
                data = self._pending or self._source.read(_CHUNK)
            else:
                data = b""  # output still buffered inside the decompressor
            self._pending = b""
            if not data and (zlib_kind or decomp.needs_input):
                return 0  # truncated: what came out is all there is
            out = decomp.decompress(data, want)
            if out:
                buffer[:len(out)] = out
                return len(out)


class _Prefixed:
    """A file object whose first bytes were already read (to see what it is)."""

    def __init__(self, head: bytes, rest) -> None:
        self._head = head
        self._rest = rest

    def read(self, n: int = _CHUNK) -> bytes:
        n = _CHUNK if n is None or n < 0 else n  # never "read it all": that is the bomb
        if not self._head:
            return self._rest.read(n)
        out, self._head = self._head[:n], self._head[n:]
        return out


def _read_head(handle, size: int = 512) -> bytes:
    head = b""
    while len(head) < size:
        chunk = handle.read(size - len(head))
        if not chunk:
            break
        head += chunk
    return head


class _BombWalk:
    """One attachment's walk: shared counters, deadline and limits."""

    def __init__(self, limits: BombLimits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.max_seconds
        self.declared = 0
        self.unpacked = 0
        self.members = 0

    def tick(self, path: str) -> None:
        if time.monotonic() > self.deadline:
            raise _Bomb(path, f"could not be unpacked within {self.limits.max_seconds:g} s")

    def declare(self, path: str, size: int, packed: int | None) -> None:
        lim = self.limits
        if size > lim.max_member_bytes:
            raise _Bomb(path, f"declares {_size(size)} unpacked (limit {_size(lim.max_member_bytes)})")
        if packed is not None and size >= lim.ratio_min_bytes and size > lim.max_ratio * max(packed, 1):
            raise _Bomb(path, f"declares a compression ratio of {size / max(packed, 1):.0f}:1 "
                              f"(limit {lim.max_ratio:g}:1)")
        self.declared += size
        if self.declared > lim.max_total_bytes:
            raise _Bomb(path, f"declares more than {_size(lim.max_total_bytes)} unpacked in all")

    def count(self, path: str, done: int, packed: int | None, declared: int | None) -> None:
        """`done` bytes of this member unpacked so far (one more chunk was just added)."""
        lim = self.limits
        if declared is not None and done > declared:
            raise _Bomb(path, f"unpacks to more than the {_size(declared)} it declares")
        if done > lim.max_member_bytes:
            raise _Bomb(path, f"unpacks to more than {_size(lim.max_member_bytes)}")
        if packed is not None and done >= lim.ratio_min_bytes and done > lim.max_ratio * max(packed, 1):
            raise _Bomb(path, f"unpacks at a compression ratio above {lim.max_ratio:g}:1")
        if self.unpacked > lim.max_total_bytes:
            raise _Bomb(path, f"unpacks to more than {_size(lim.max_total_bytes)} in all")
        self.tick(path)

    def stream(self, handle, path: str, depth: int, packed: int | None, declared: int | None) -> None:
        """Read one member to its end, counting; an archive inside is spooled and walked."""
        import tempfile

        first = _read_head(handle, _CHUNK)
        done = len(first)
        self.unpacked += done
        self.count(path, done, packed, declared)
        kind = archive_kind(first[:512])
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) if kind else None
        try:
            if spool is not None:
                spool.write(first)
            while chunk := handle.read(_CHUNK):
                done += len(chunk)
                self.unpacked += len(chunk)
                self.count(path, done, packed, declared)
                if spool is not None:
                    spool.write(chunk)
            if spool is not None:
                spool.seek(0)
                self.walk(spool, kind, path, depth + 1, done)
        finally:
            if spool is not None:
                spool.close()

    def walk(self, source, kind: str, path: str, depth: int, size: int) -> None:
        if depth > self.limits.max_depth:
            raise _Bomb(path, f"archives nested more than {self.limits.max_depth} deep")
        self.tick(path)
        prefix = f"{path} > " if path else ""
        if kind == "zip":
            self._zip(source, prefix, depth)
        elif kind in ("gzip", "bzip2", "xz"):
            raw = _DecompressingReader(source, kind)
            head = _read_head(raw)
            reader = _Prefixed(head, raw)
            if archive_kind(head) == "tar":
                self._tar(reader, prefix, depth, packed=size)
            else:
                inner = f"{path} (unpacked)" if path else f"(unpacked {kind})"
                self.stream(reader, inner, depth, packed=size, declared=None)
        elif kind == "tar":
            self._tar(source, prefix, depth, packed=None)
        elif kind == "rar":
            self._rar(source, path, depth, size)
        elif kind == "7z":
            self._7z(source, path, depth, size)

    def _zip(self, source, prefix: str, depth: int) -> None:
        try:
            zf = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            return  # not readable as a zip: the extractor notes it, clamd sees it
        with zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            # every declared size first (cheap): a bomb that says what it is stops here
            for info in infos:
                self.declare(prefix + info.filename, info.file_size, info.compress_size)
            for info in infos[:self.limits.max_members - self.members]:
                self.members += 1
                if info.flag_bits & 0x1:
                    continue  # encrypted: reported as such, its declared size already counted
                path = prefix + info.filename
                try:
                    if info.compress_type == zipfile.ZIP_DEFLATED:
                        # inflated from the raw stream, not through zipfile, which stops at the
                        # declared size: a header that lies about the size is then caught
                        self.stream(_DecompressingReader(_raw_member(source, info), "deflate"),
                                    path, depth, info.compress_size, info.file_size)
                    else:
                        with zf.open(info) as handle:
                            self.stream(handle, path, depth, info.compress_size, info.file_size)
                except _Bomb:
                    raise
                except (zipfile.BadZipFile, NotImplementedError, OSError, ValueError, EOFError,
                        RuntimeError, struct.error, zlib.error):
                    continue  # bad CRC, unsupported method: unreadable, not a bomb

    def _tar(self, source, prefix: str, depth: int, packed: int | None) -> None:
        import tarfile

        try:
            archive = tarfile.open(fileobj=source, mode="r|")
        except (tarfile.TarError, OSError, EOFError):
            return
        try:
            for info in archive:
                if self.members >= self.limits.max_members:
                    break
                self.members += 1
                path = prefix + info.name
                if not info.isfile():
                    continue
                # a tar stores sizes uncompressed; any compression ratio is the outer stream's
                self.declare(path, info.size, None)
                handle = archive.extractfile(info)
                if handle is not None:
                    self.stream(handle, path, depth, packed, info.size)
        except (tarfile.TarError, OSError, EOFError, zlib.error):
            return  # truncated or corrupt: what was read was counted
        finally:
            archive.close()

    def _7z(self, source, path: str, depth: int, size: int) -> None:
        """What the header declares first (cheap: a bomb that says what it is stops
        there), then every member unpacked and counted, as a zip member is."""
        _walk_7z(self, source, path)
        source.seek(0)
        self._unpack(source, "7zip", path, depth, size)

    def _rar(self, source, path: str, depth: int, size: int) -> None:
        """The headers' declared sizes, per file and for the archive's overall ratio;
        then every member unpacked and counted (libarchive decodes RAR 4 and RAR 5)."""
        data = source.read()
        entries = rar_sizes(data)
        prefix = f"{path} > " if path else ""
        for name, unpacked, _packed in entries:
            if unpacked is None:
                # nothing bounds it: libarchive will not decode such a member, unrar would to the end
                raise _Bomb(prefix + name, "does not declare its unpacked size (so it cannot be bounded)")
            self.declare(prefix + name, unpacked, None)
        total = sum(u or 0 for _, u, _ in entries)
        packed = sum(p for _, _, p in entries)
        lim = self.limits
        if total >= lim.ratio_min_bytes and total > lim.max_ratio * max(packed, 1):
            raise _Bomb(path, f"declares a compression ratio of {total / max(packed, 1):.0f}:1 "
                              f"(limit {lim.max_ratio:g}:1)")
        fmt = "rar5" if data.startswith(_RAR_MAGICS[1]) else "rar"
        self._unpack(io.BytesIO(data), fmt, path, depth, size)

    def _unpack(self, source, fmt: str, path: str, depth: int, size: int) -> None:
        """Each member of a 7z or RAR decompressed by libarchive one block at a time
        (bounded memory), counted against the member, total and time limits like a zip
        member, nested archives walked; the compression ratio is the archive's as a
        whole, since members of a solid block share their packed bytes. Headers can
        understate sizes: only what comes out counts here."""
        libarchive = _libarchive()
        if libarchive is None:
            return  # declared sizes were checked; the missing library was logged
        from libarchive.exception import ArchiveError

        prefix = f"{path} > " if path else ""
        whole = _ArchiveOutput(self, path, size)
        try:
            with libarchive.stream_reader(source, format_name=fmt, block_size=_CHUNK) as archive:
                for number, entry in enumerate(archive):
                    if number >= self.limits.max_members:
                        break
                    if not entry.isfile:
                        continue
                    where, declared = prefix + entry.pathname, entry.size
                    try:
                        self.stream(_EntryReader(entry.get_blocks(_CHUNK), whole, where), where, depth, None,
                                    declared or None)
                    except ArchiveError as exc:
                        # libarchive stops a member at its declared size and says so: a header
                        # that lies about the size, as a zip member's is caught above
                        if "too many bytes" in str(exc) and declared is not None:
                            raise _Bomb(where, f"unpacks to more than the {_size(declared)} it declares") from None
                        raise
        except (ArchiveError, OSError, ValueError, EOFError, UnicodeError):
            return  # unreadable from here on (corrupt, encrypted): what came out was counted


@functools.lru_cache(maxsize=1)
def _libarchive():
    """libarchive-c, which needs the C library (Debian: libarchive13); without it 7z and
    RAR members are checked from their headers only, and a warning says so once."""
    try:
        import libarchive
    except (ImportError, OSError, AttributeError) as exc:
        log.warning("archive bombs: 7z and RAR members are not unpacked (libarchive unavailable: %s)", exc)
        return None
    return libarchive


class _ArchiveOutput:
    """Bytes one 7z or RAR has unpacked so far, against its own packed size."""

    def __init__(self, walk: "_BombWalk", path: str, packed: int) -> None:
        self.walk = walk
        self.path = path
        self.packed = max(packed, 1)
        self.done = 0

    def add(self, count: int, where: str) -> None:
        self.done += count
        lim = self.walk.limits
        if self.done >= lim.ratio_min_bytes and self.done > lim.max_ratio * self.packed:
            raise _Bomb(where, f"unpacks at a compression ratio above {lim.max_ratio:g}:1 "
                               f"({_size(self.done)} so far from {_size(self.packed)})")


class _EntryReader:
    """A libarchive entry's data as a file object, one decoded block at a time."""

    def __init__(self, blocks, whole: _ArchiveOutput, path: str) -> None:
        self._blocks = blocks
        self._whole = whole
        self._path = path
        self._left = b""

    def read(self, n: int = _CHUNK) -> bytes:
        n = _CHUNK if n is None or n < 0 else n
        while not self._left:
            block = next(self._blocks, None)
            if block is None:
                return b""
            self._whole.add(len(block), self._path)
            self._left = block
        out, self._left = self._left[:n], self._left[n:]
        return out


def _walk_7z(walk: "_BombWalk", source, path: str) -> None:
    """A 7z's declared sizes: each file against the member limit, each folder (solid
    block) against the ratio limit, the lot against the total (the members are then
    unpacked by _BombWalk._unpack, since a header can understate)."""
    try:
        entries, folders = seven_zip_listing(source)
    except _SevenZipError:
        return  # unreadable (or header-encrypted, reported as encrypted): clamd sees it
    prefix = f"{path} > " if path else ""
    firsts: dict[int, str] = {}
    for entry in entries[:walk.limits.max_members]:
        walk.members += 1
        walk.declare(prefix + entry.name, entry.unpacked, None)
        firsts.setdefault(entry.folder, prefix + entry.name)
    lim = walk.limits
    for index, (unpacked, packed) in enumerate(folders):
        if unpacked >= lim.ratio_min_bytes and unpacked > lim.max_ratio * max(packed, 1):
            where = firsts.get(index, path)
            raise _Bomb(where, f"declares a compression ratio of {unpacked / max(packed, 1):.0f}:1 "
                               f"(limit {lim.max_ratio:g}:1)")


def _raw_member(source, info: zipfile.ZipInfo):
    """The file positioned at a zip member's compressed bytes (after its local header)."""
    source.seek(info.header_offset)
    local = source.read(30)
    if local[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile("no local header")
    name_len, extra_len = struct.unpack_from("<HH", local, 26)
    source.seek(info.header_offset + 30 + name_len + extra_len)
    return source


def rar_sizes(data: bytes) -> list[tuple[str, int | None, int]]:
    """(name, declared unpacked size, packed size) of each file header of a RAR 4/5 archive;
    None for a RAR 5 file flagged "unpacked size unknown" (made from a stream)."""
    out: list[tuple[str, int, int]] = []
    try:
        if data[:7] == b"Rar!\x1a\x07\x00":  # RAR 4: [HEAD_CRC HEAD_TYPE HEAD_FLAGS HEAD_SIZE] ...
            pos = 7
            for _ in range(100_000):
                if pos + 7 > len(data):
                    break
                _crc, htype, flags, hsize = struct.unpack_from("<HBHH", data, pos)
                if hsize < 7:
                    break
                add = struct.unpack_from("<I", data, pos + 7)[0] if flags & 0x8000 and pos + 11 <= len(data) else 0
                if htype == 0x74 and pos + 32 <= len(data):
                    packed, unpacked = struct.unpack_from("<II", data, pos + 7)
                    name_size = struct.unpack_from("<H", data, pos + 26)[0]
                    name_at = pos + 32
                    if flags & 0x0100:  # LHD_LARGE: the high 32 bits follow
                        high_packed, high_unpacked = struct.unpack_from("<II", data, pos + 32)
                        packed |= high_packed << 32
                        unpacked |= high_unpacked << 32
                        name_at += 8
                    name = data[name_at:name_at + name_size].split(b"\0")[0].decode("utf-8", "replace")
                    out.append((name, unpacked, packed))
                    add = packed
                pos += hsize + add
        elif data[:8] == b"Rar!\x1a\x07\x01\x00":  # RAR 5: CRC32, vint header size, fields
            pos = 8
            for _ in range(100_000):
                if pos + 6 > len(data):
                    break
                size, p = _vint(data, pos + 4)
                htype, p = _vint(data, p)
                flags, p = _vint(data, p)
                data_size = 0
                if flags & 0x01:
                    _extra, p = _vint(data, p)
                if flags & 0x02:
                    data_size, p = _vint(data, p)
                if htype == 2:  # file header
                    _file_flags, q = _vint(data, p)
                    unpacked, q = _vint(data, q)
                    _attrs, q = _vint(data, q)
                    if _file_flags & 0x02:
                        q += 4  # mtime
                    if _file_flags & 0x04:
                        q += 4  # data CRC32
                    _comp, q = _vint(data, q)
                    _host, q = _vint(data, q)
                    name_len, q = _vint(data, q)
                    out.append((data[q:q + name_len].decode("utf-8", "replace"),
                                None if _file_flags & 0x08 else unpacked, data_size))
                header_end = pos + 4 + len(encode_vint(size)) + size
                if header_end <= pos:
                    break
                pos = header_end + data_size
    except (IndexError, struct.error):
        pass
    return out


def encode_vint(value: int) -> bytes:
    """A RAR 5 variable-length integer (7 bits a byte, high bit = more follows): _vint's inverse."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


# ---------------------------------------------------------------------------
# 7z: the declared sizes, from the header alone
# ---------------------------------------------------------------------------
#
# The first half of a 7z's bomb check is what its header declares: each file's
# unpacked size and each folder's (solid block's) unpacked / packed ratio, read here
# without a decoder (so it holds even where libarchive is missing). The header is
# read with seeks, never the whole file, and an LZMA/LZMA2-packed header is unpacked
# only up to a cap. The second half, _BombWalk._unpack, decodes every member with
# libarchive (all of 7-Zip's usual coders: LZMA, LZMA2, PPMd, BCJ, BCJ2, bzip2,
# deflate) in bounded blocks.
# Format: 7-Zip's DOC/7zFormat.txt (property ids below are its kXxx constants).

_7Z_MAGIC = b"7z\xbc\xaf\x27\x1c"
_7Z_HEADER_CAP = 16 << 20  # a header (names, sizes) larger than this is not a real archive's


class _SevenZipError(Exception):
    """Not a 7z header we can read: unreadable, not a bomb."""


class _SevenZipReader:
    """Cursor over header bytes with 7z's variable-length numbers."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.buf):
            raise _SevenZipError("header ends early")
        value = self.buf[self.pos]
        self.pos += 1
        return value

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > len(self.buf):
            raise _SevenZipError("header ends early")
        out = self.buf[self.pos:self.pos + count]
        self.pos += count
        return out

    def number(self) -> int:
        try:
            value, self.pos = _read_7z_number(self.buf, self.pos)
        except IndexError:
            raise _SevenZipError("header ends early") from None
        return value

    def bits(self, count: int) -> list[bool]:
        out: list[bool] = []
        byte = mask = 0
        for _ in range(count):
            if mask == 0:
                byte, mask = self.byte(), 0x80
            out.append(bool(byte & mask))
            mask >>= 1
        return out

    def defined(self, count: int) -> list[bool]:
        all_defined = self.byte()
        return [True] * count if all_defined else self.bits(count)


@dataclass(slots=True)
class _SevenZipFolder:
    coders: list[tuple[bytes, bytes]]  # (coder id, properties)
    unpack_sizes: list[int]
    main_out: int  # the out stream no bind pair consumes: the folder's result
    packed_streams: int

    @property
    def unpacked(self) -> int:
        return self.unpack_sizes[self.main_out] if self.unpack_sizes else 0


@dataclass(slots=True)
class _SevenZipStreams:
    pack_pos: int = 0
    pack_sizes: list[int] = dataclasses.field(default_factory=list)
    folders: list[_SevenZipFolder] = dataclasses.field(default_factory=list)
    substream_sizes: list[list[int]] = dataclasses.field(default_factory=list)  # per folder


_7Z_LIMIT = 1_000_000  # counts (files, folders, coders) beyond any real archive's


def _7z_count(reader: _SevenZipReader) -> int:
    value = reader.number()
    if value > _7Z_LIMIT:
        raise _SevenZipError("implausible count")
    return value


def _7z_skip_digests(reader: _SevenZipReader, count: int) -> None:
    for present in reader.defined(count):
        if present:
            reader.take(4)


def _7z_folder(reader: _SevenZipReader) -> _SevenZipFolder:
    coders: list[tuple[bytes, bytes]] = []
    total_in = total_out = 0
    for _ in range(_7z_count(reader)):
        flags = reader.byte()
        coder_id = reader.take(flags & 0x0F)
        n_in, n_out = (_7z_count(reader), _7z_count(reader)) if flags & 0x10 else (1, 1)
        props = reader.take(_7z_count(reader)) if flags & 0x20 else b""
        coders.append((coder_id, props))
        total_in += n_in
        total_out += n_out
    if not coders or total_out == 0:
        raise _SevenZipError("folder without coders")
    bound_out = set()
    for _ in range(total_out - 1):  # bind pairs: (in index, out index)
        reader.number()
        bound_out.add(reader.number())
    packed_streams = total_in - (total_out - 1)
    if packed_streams > 1:
        for _ in range(packed_streams):
            reader.number()
    main_out = next((i for i in range(total_out) if i not in bound_out), 0)
    return _SevenZipFolder(coders, [0] * total_out, main_out, packed_streams)


def _7z_streams_info(reader: _SevenZipReader) -> _SevenZipStreams:
    info = _SevenZipStreams()
    prop = reader.byte()
    if prop == 0x06:  # kPackInfo
        info.pack_pos = reader.number()
        count = _7z_count(reader)
        prop = reader.byte()
        while prop != 0x00:
            if prop == 0x09:  # kSize
                info.pack_sizes = [reader.number() for _ in range(count)]
            elif prop == 0x0A:  # kCRC
                _7z_skip_digests(reader, count)
            else:
                raise _SevenZipError("unknown pack info property")
            prop = reader.byte()
        prop = reader.byte()
    if prop == 0x07:  # kUnPackInfo
        if reader.byte() != 0x0B:  # kFolder
            raise _SevenZipError("no folder list")
        count = _7z_count(reader)
        if reader.byte() != 0:  # "external": folders stored elsewhere (never written by 7-Zip)
            raise _SevenZipError("external folders")
        info.folders = [_7z_folder(reader) for _ in range(count)]
        if reader.byte() != 0x0C:  # kCodersUnPackSize
            raise _SevenZipError("no unpack sizes")
        for folder in info.folders:
            folder.unpack_sizes = [reader.number() for _ in folder.unpack_sizes]
        prop = reader.byte()
        while prop != 0x00:
            if prop == 0x0A:
                _7z_skip_digests(reader, len(info.folders))
            else:
                raise _SevenZipError("unknown unpack info property")
            prop = reader.byte()
        prop = reader.byte()
    info.substream_sizes = [[f.unpacked] for f in info.folders]
    if prop == 0x08:  # kSubStreamsInfo
        counts = [1] * len(info.folders)
        prop = reader.byte()
        if prop == 0x0D:  # kNumUnPackStream
            counts = [_7z_count(reader) for _ in info.folders]
            prop = reader.byte()
        if prop == 0x09:  # kSize: all but the last of each folder; the last is the rest
            sizes = []
            for folder, count in zip(info.folders, counts):
                if count == 0:
                    sizes.append([])
                    continue
                these = [reader.number() for _ in range(count - 1)]
                these.append(max(folder.unpacked - sum(these), 0))
                sizes.append(these)
            info.substream_sizes = sizes
            prop = reader.byte()
        else:
            info.substream_sizes = [[f.unpacked] if c else [] for f, c in zip(info.folders, counts)]
        while prop != 0x00:
            if prop == 0x0A:  # digests of the streams whose CRC the folder does not give
                _7z_skip_digests(reader, sum(len(s) for s in info.substream_sizes))
            else:
                raise _SevenZipError("unknown substreams property")
            prop = reader.byte()
        prop = reader.byte()
    if prop != 0x00:
        raise _SevenZipError("unknown streams property")
    return info


def _7z_names(reader: _SevenZipReader) -> tuple[list[str], list[bool]]:
    """File names and which files have a data stream (kFilesInfo)."""
    count = _7z_count(reader)
    names = [""] * count
    empty = [False] * count
    while True:
        prop = reader.byte()
        if prop == 0x00:
            return names, [not e for e in empty]
        size = reader.number()
        data = _SevenZipReader(reader.take(size))
        if prop == 0x0E:  # kEmptyStream: directories and empty files
            empty = data.bits(count)
        elif prop == 0x11:  # kNames: UTF-16LE, each NUL-terminated
            if data.byte() == 0:
                text = data.buf[data.pos:].decode("utf-16-le", "replace")
                parts = text.split("\0")
                names = (parts + [""] * count)[:count]


def _7z_unpack_header(source, streams: _SevenZipStreams) -> bytes:
    """The real header an encoded header (kEncodedHeader) describes: one folder, one
    LZMA or LZMA2 coder (what 7-Zip and py7zr write), unpacked up to the cap."""
    import lzma

    if len(streams.folders) != 1 or not streams.pack_sizes:
        raise _SevenZipError("encoded header of an unusual shape")
    folder = streams.folders[0]
    if len(folder.coders) != 1:
        raise _SevenZipError("encoded header with a coder chain")
    coder_id, props = folder.coders[0]
    if folder.unpacked > _7Z_HEADER_CAP or streams.pack_sizes[0] > _7Z_HEADER_CAP:
        raise _Bomb("", f"declares a {_size(folder.unpacked)} archive header")
    if coder_id == b"\x03\x01\x01" and len(props) == 5:  # LZMA
        lc_lp_pb, dict_size = props[0], struct.unpack("<I", props[1:5])[0]
        filters = [{"id": lzma.FILTER_LZMA1, "dict_size": dict_size, "lc": lc_lp_pb % 9,
                    "lp": (lc_lp_pb // 9) % 5, "pb": lc_lp_pb // 45}]
    elif coder_id == b"\x21" and len(props) == 1:  # LZMA2: one byte gives the dictionary size
        bits = props[0]
        dict_size = 0xFFFFFFFF if bits >= 40 else (2 | (bits & 1)) << (bits // 2 + 11)
        filters = [{"id": lzma.FILTER_LZMA2, "dict_size": dict_size}]
    elif coder_id == b"\x00":  # copy
        filters = None
    else:
        raise _SevenZipError("encoded header with an unknown coder")
    if filters is not None:
        # no match reaches further back than the header is long: a dictionary past that
        # (7-Zip writes 16 MiB; a hostile header may say 4 GiB) would only cost memory
        filters[0]["dict_size"] = max(4096, min(filters[0]["dict_size"], folder.unpacked))
    source.seek(32 + streams.pack_pos)
    packed = source.read(streams.pack_sizes[0])
    if filters is None:
        return packed[:folder.unpacked]
    try:
        return lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=filters).decompress(
            packed, max_length=folder.unpacked)
    except lzma.LZMAError as exc:
        raise _SevenZipError(f"header does not unpack: {exc}") from None


@dataclass(frozen=True, slots=True)
class SevenZipEntry:
    name: str
    unpacked: int  # declared
    folder: int  # index of its folder (solid block), -1 for an empty file or directory


def seven_zip_listing(source) -> tuple[list[SevenZipEntry], list[tuple[int, int]]]:
    """(files, folders as (unpacked, packed)) a 7z archive's header declares.

    `source` is a seekable binary file. Raises _SevenZipError when the header cannot
    be read (encrypted with -mhe, damaged, an unusual writer): unreadable, not a bomb."""
    source.seek(0)
    start = source.read(32)
    if start[:6] != _7Z_MAGIC or len(start) < 32:
        raise _SevenZipError("not a 7z archive")
    next_offset, next_size = struct.unpack_from("<QQ", start, 12)
    if next_size > _7Z_HEADER_CAP:
        raise _Bomb("", f"declares a {_size(next_size)} archive header")
    source.seek(32 + next_offset)
    header = source.read(next_size)
    for _ in range(4):  # an encoded header may (in theory) describe another encoded header
        reader = _SevenZipReader(header)
        kind = reader.byte()
        if kind != 0x17:  # kEncodedHeader
            break
        header = _7z_unpack_header(source, _7z_streams_info(reader))
    else:
        raise _SevenZipError("encoded headers nested too deep")
    if kind != 0x01:  # kHeader
        raise _SevenZipError("no header")
    streams = _SevenZipStreams()
    names: list[str] = []
    has_stream: list[bool] = []
    prop = reader.byte()
    if prop == 0x02:  # kArchiveProperties: type, size, data ... 0
        while (ptype := reader.byte()) != 0:
            reader.take(reader.number())
            del ptype
        prop = reader.byte()
    if prop == 0x03:  # kAdditionalStreamsInfo (never written by 7-Zip): skipped over
        _7z_streams_info(reader)
        prop = reader.byte()
    if prop == 0x04:  # kMainStreamsInfo
        streams = _7z_streams_info(reader)
        prop = reader.byte()
    if prop == 0x05:  # kFilesInfo
        names, has_stream = _7z_names(reader)
    sizes = [(index, size) for index, per in enumerate(streams.substream_sizes) for size in per]
    entries: list[SevenZipEntry] = []
    streams_iter = iter(sizes)
    for name, stream in zip(names, has_stream):
        if stream:
            folder, size = next(streams_iter, (-1, 0))
            entries.append(SevenZipEntry(name, size, folder))
        else:
            entries.append(SevenZipEntry(name, 0, -1))
    # pack streams are assigned to folders in order, each taking packed_streams of them
    folders: list[tuple[int, int]] = []
    at = 0
    for folder in streams.folders:
        packed = sum(streams.pack_sizes[at:at + folder.packed_streams])
        at += folder.packed_streams
        folders.append((folder.unpacked, packed))
    return entries, folders


def find_archive_bomb(data: bytes, limits: BombLimits | None = None,
                      deadline: float | None = None) -> ArchiveBomb | None:
    """The first bomb sign in an attachment's archive (zip, gzip/bzip2/xz, tar; 7z and RAR by
    their headers' declared sizes),
    or None. Bounded: at most max_total_bytes are inflated, within max_seconds (or by
    `deadline`, a time.monotonic() shared by one message's attachments, if sooner)."""
    kind = archive_kind(data[:512])
    if not kind:
        return None
    walk = _BombWalk(limits or BombLimits())
    if deadline is not None:
        walk.deadline = min(walk.deadline, deadline)
    try:
        walk.walk(io.BytesIO(data), kind, "", 0, len(data))
    except _Bomb as bomb:
        return bomb.found
    except (MemoryError, RecursionError):
        return ArchiveBomb("", "too costly to unpack")
    except Exception:  # a hostile file must not break the filter; unreadable is not a bomb
        log.debug("archive bomb walk failed", exc_info=True)
    return None

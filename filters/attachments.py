"""Attachment policy: executables, scripts, double extensions, macro documents, locked archives, bombs.

The school's rule is "unapproved software will not be attached to email". A
program is recognised by what its bytes are (filters.extract sniffs them) as
well as by its name, because renaming `setup.exe` to `setup.pdf` is the first
trick anyone tries; a document-like name in front of a program extension
(`homework.pdf.exe`, `homework\u202efdp.exe`, which shows as "homeworkexe.pdf")
is the second. Archives are looked into (the extractor lists members, nested
archives included); one that is password-protected cannot be looked into by
us or by the virus scanner, so it is reported as such. An archive bomb (a member
declaring or unpacking past a size limit, a compression ratio no real file has,
nesting past a depth) is reported as ATTACHMENT_ARCHIVE_BOMB: found by streaming
with a byte budget and a deadline (filters.extract.find_archive_bomb), never by
unpacking, and independent of clamd's own limits, which a site may raise.
"""
from __future__ import annotations

import asyncio
import time
import unicodedata
from typing import Iterable, Sequence

from pydantic import Field

from filters.base import Category, FilterContext, FilterOptions, Finding, Severity
from filters.extract import (ARCHIVE_TYPES, EXECUTABLE_TYPES, MACRO_TYPES, ArchiveBomb, BombLimits, archive_kind,
                             find_archive_bomb)
from filters.message import ArchiveMember, Attachment, MessageView

# Run by Windows, macOS or Linux when double-clicked (or by a shell/script host).
EXECUTABLE_EXTENSIONS = frozenset({
    "exe", "com", "scr", "pif", "bat", "cmd", "vbs", "vbe", "js", "jse", "wsf", "wsh", "wsc", "ps1",
    "psm1", "psd1", "msi", "msp", "mst", "msix", "msixbundle", "appx", "appxbundle", "dll", "cpl", "ocx",
    "sys", "drv", "hta", "jar", "lnk", "reg", "inf", "scf", "sct", "chm", "gadget", "application",
    "sh", "bash", "command", "app", "pkg", "dmg", "apk", "deb", "rpm", "run", "elf",
    "iso", "img", "vhd", "vhdx", "xll"})
MACRO_EXTENSIONS = frozenset({"docm", "dotm", "xlsm", "xltm", "xlam", "xlsb", "pptm", "potm", "ppsm",
                              "ppam", "sldm"})
# Extensions a program pretends to be in a double extension.
DECOY_EXTENSIONS = frozenset({
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp", "rtf", "txt", "csv",
    "jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "heic", "webp", "mp3", "mp4", "wav", "avi",
    "mov", "mkv", "zip", "rar", "7z", "htm", "html", "eml", "msg", "xml", "json", "ics", "vcf"})
_ARCHIVE_EXTENSIONS = frozenset({"zip", "7z", "rar", "gz", "tgz", "bz2", "xz", "tar", "cab", "arj", "lzh",
                                 "ace", "zipx"})
# Unicode format characters that reorder or hide what a name shows: bidi
# overrides/isolates/marks (U+202E RLO is the classic) and zero-width marks.
_DISGUISE_CHARS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
                            "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e")
# Spaces, underscores and dots used to push the real extension out of view.
_PADDING = " \t_.\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u3000-"
MAX_EVIDENCE = 20


class Options(FilterOptions):
    blocked_extensions: list[str] = Field(
        default_factory=lambda: sorted(EXECUTABLE_EXTENSIONS),
        description="file extensions treated as programs or scripts whatever the bytes say")
    extra_blocked_extensions: list[str] = Field(
        default_factory=list, description="added to blocked_extensions (a site's own additions)")
    macro_extensions: list[str] = Field(
        default_factory=lambda: sorted(MACRO_EXTENSIONS),
        description="Office extensions that carry macros")
    allowed_types: list[str] = Field(
        default_factory=list,
        description="sniffed MIME types never reported as programs (e.g. text/x-script for a "
                    "computing department that mails shell/Python scripts)")
    archive_depth: int = Field(
        3, ge=1, le=10,
        description="an archive nested deeper than this inside another is reported as unscannable")
    flag_encrypted_documents: bool = Field(
        True, description="report password-protected PDF/Office documents (low severity: tagged)")
    # Archive bombs (ATTACHMENT_ARCHIVE_BOMB, high). Legitimate mail is far inside
    # these: a message is ~25 MB at most, text packs ~10:1 and even sparse Office XML
    # stays under ~60:1; Apache POI refuses 100:1 in Office files for the same reason.
    bomb_member_bytes: int = Field(
        256 << 20, gt=0, description="a member declaring or unpacking to more than this is a bomb")
    bomb_total_bytes: int = Field(
        512 << 20, gt=0, description="all members, at every nesting level, declaring or unpacking to more")
    bomb_ratio: float = Field(
        100.0, gt=1, description="unpacked:packed ratio of one member above which it is a bomb ...")
    bomb_ratio_min_bytes: int = Field(
        1 << 20, ge=0, description="... once it unpacks past this many bytes (small files may pack well)")
    bomb_depth: int = Field(
        5, ge=1, le=50, description="archives inside archives nested deeper than this are a bomb "
                                     "(an archive in the attachment is level 1)")
    bomb_seconds: float = Field(
        4.0, gt=0, description="time for one message's bomb check (keep under the filter's timeout); "
                               "an archive not walked in time counts as a bomb")


def _extension_chain(filename: str) -> tuple[str, list[str], bool]:
    """(cleaned name, extensions last-first, disguised?) for a possibly hostile name.

    Windows drops trailing dots and spaces, so "run.exe . ." is run.exe; NFKC
    folds full-width letters ("ｅｘｅ"); format characters are removed but noted.
    """
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    disguised = any(ch in _DISGUISE_CHARS for ch in base)
    cleaned = "".join(ch for ch in base if ch not in _DISGUISE_CHARS and unicodedata.category(ch) != "Cc")
    cleaned = unicodedata.normalize("NFKC", cleaned).rstrip(" .\t").lower()
    parts = cleaned.split(".")
    exts = [p.strip(_PADDING) for p in reversed(parts[1:])]
    return cleaned, exts, disguised


def _padded(filename: str) -> bool:
    """A run of spaces/underscores before the last extension ("cv.pdf        .exe")."""
    stem = filename.rstrip(" .").rsplit(".", 1)[0]
    return len(stem) - len(stem.rstrip(_PADDING)) >= 3


class AttachmentFilter:
    name = "attachments"
    Options = Options

    def __init__(self, options: Options, context: FilterContext) -> None:
        self._blocked = frozenset(e.lower().lstrip(".") for e in
                                  (*options.blocked_extensions, *options.extra_blocked_extensions))
        self._macro_exts = frozenset(e.lower().lstrip(".") for e in options.macro_extensions)
        self._allowed = frozenset(t.lower() for t in options.allowed_types)
        self._depth = options.archive_depth
        self._flag_docs = options.flag_encrypted_documents
        self._bomb_limits = BombLimits(
            max_member_bytes=options.bomb_member_bytes, max_total_bytes=options.bomb_total_bytes,
            max_ratio=options.bomb_ratio, ratio_min_bytes=options.bomb_ratio_min_bytes,
            max_depth=options.bomb_depth, max_seconds=options.bomb_seconds)

    # --- one file, by name and sniffed type -------------------------------
    def _program_reason(self, filename: str, sniffed: str) -> tuple[str, str] | None:
        """(code, reason) when the file is a program or disguised as something else."""
        if sniffed and sniffed.lower() in self._allowed:
            return None
        _, exts, disguised = _extension_chain(filename)
        real = exts[0] if exts else ""
        is_program_type = sniffed in EXECUTABLE_TYPES
        shown = filename or "an unnamed attachment"
        if disguised and (real in self._blocked or is_program_type or real in self._macro_exts):
            return ("ATTACHMENT_DOUBLE_EXTENSION",
                    f"{shown!r} uses invisible Unicode characters to disguise a .{real or 'program'} file "
                    "as something harmless.")
        if real in self._blocked and len(exts) > 1 and (exts[1] in DECOY_EXTENSIONS or _padded(filename)):
            return ("ATTACHMENT_DOUBLE_EXTENSION",
                    f"{shown!r} is a .{real} program hiding behind a .{exts[1]} document-like name.")
        if real in self._blocked:
            return ("ATTACHMENT_EXECUTABLE", f"{shown!r} is a program or script (.{real}).")
        if is_program_type:
            what = "a program or script" if real in ("", "bin", "dat", "tmp") else \
                f"a program or script although its name says .{real}"
            return "ATTACHMENT_EXECUTABLE", f"{shown!r} is {what} ({sniffed})."
        return None

    def _is_macro(self, filename: str, sniffed: str, has_macros: bool) -> bool:
        _, exts, _ = _extension_chain(filename)
        return has_macros or sniffed in MACRO_TYPES or bool(exts and exts[0] in self._macro_exts)

    def _is_archive(self, filename: str, sniffed: str) -> bool:
        _, exts, _ = _extension_chain(filename)
        return sniffed in ARCHIVE_TYPES or bool(exts and exts[0] in _ARCHIVE_EXTENSIONS)

    # --- the check ---------------------------------------------------------
    async def check(self, view: MessageView) -> Sequence[Finding]:
        findings: list[Finding] = []
        for attachment in view.attachments:
            findings.extend(self._check_attachment(attachment))
        archives = [a for a in view.attachments if archive_kind(a.data[:512])]
        if archives:
            # inflating is CPU work: off the event loop, bounded by bomb_seconds in all
            bombs = await asyncio.get_running_loop().run_in_executor(None, self.find_bombs, archives)
            for attachment, bomb in bombs:
                findings.append(self._bomb_finding(attachment, bomb))
        return findings

    def find_bombs(self, attachments: Sequence[Attachment]) -> list[tuple[Attachment, ArchiveBomb]]:
        """Each attachment that is an archive bomb, with where and why (synchronous)."""
        deadline = time.monotonic() + self._bomb_limits.max_seconds
        found = []
        for attachment in attachments:
            bomb = find_archive_bomb(attachment.data, self._bomb_limits, deadline)
            if bomb is not None:
                found.append((attachment, bomb))
        return found

    def _bomb_finding(self, attachment: Attachment, bomb: ArchiveBomb) -> Finding:
        label = attachment.filename or f"(unnamed attachment, part {attachment.path or '1'})"
        where = f"{label} > {bomb.path}" if bomb.path else label
        return self._finding(
            "ATTACHMENT_ARCHIVE_BOMB", Severity.HIGH, (where,),
            f"{label!r} is an archive bomb: {bomb.path or 'it'} {bomb.reason}. It was not unpacked "
            "further; opening it could fill the disk or hang the computer.")

    def _finding(self, code: str, severity: Severity, evidence: Iterable[str], reason: str) -> Finding:
        ev = tuple(dict.fromkeys(evidence))
        if len(ev) > MAX_EVIDENCE:
            ev = (*ev[:MAX_EVIDENCE], f"... and {len(ev) - MAX_EVIDENCE} more")
        return Finding(code, self.name, Category.ATTACHMENT, severity, ev, reason)

    def _check_attachment(self, attachment: Attachment) -> list[Finding]:
        findings: list[Finding] = []
        label = attachment.filename or f"(unnamed attachment, part {attachment.path or '1'})"
        program = self._program_reason(attachment.filename, attachment.sniffed_type)
        if program is not None:
            code, reason = program
            findings.append(self._finding(code, Severity.HIGH, (label,), reason))
        elif self._is_macro(attachment.filename, attachment.sniffed_type, attachment.has_macros):
            findings.append(self._finding(
                "ATTACHMENT_MACRO", Severity.MEDIUM, (label,),
                f"{label!r} is an Office document with macros, which can run code when opened."))
        is_archive = self._is_archive(attachment.filename, attachment.sniffed_type)
        if attachment.encrypted:
            if is_archive:
                findings.append(self._finding(
                    "ATTACHMENT_ENCRYPTED_ARCHIVE", Severity.MEDIUM, (label,),
                    f"{label!r} is a password-protected archive: neither this gateway nor the virus "
                    "scanner can see what is inside."))
            elif self._flag_docs:
                findings.append(self._finding(
                    "ATTACHMENT_ENCRYPTED_DOCUMENT", Severity.LOW, (label,),
                    f"{label!r} is a password-protected document, so its contents could not be checked."))
        findings.extend(self._check_members(label, attachment.members))
        return findings

    def _check_members(self, label: str, members: tuple[ArchiveMember, ...]) -> list[Finding]:
        programs: list[str] = []
        program_reasons: list[str] = []
        macros: list[str] = []
        locked: list[str] = []
        too_deep: list[str] = []
        for member in members:
            where = f"{label} > {member.path}"
            program = self._program_reason(member.path, member.sniffed_type)
            if program is not None:
                programs.append(where)
                program_reasons.append(program[1])
            elif self._is_macro(member.path, member.sniffed_type, member.has_macros):
                macros.append(where)
            is_archive = self._is_archive(member.path, member.sniffed_type)
            if member.encrypted and is_archive:
                locked.append(where)
            if is_archive and member.depth >= self._depth and not member.encrypted:
                too_deep.append(where)
        findings: list[Finding] = []
        if programs:
            first = program_reasons[0].rstrip(".")
            more = f" (and {len(programs) - 1} more)" if len(programs) > 1 else ""
            findings.append(self._finding(
                "ATTACHMENT_ARCHIVE_CONTAINS_EXECUTABLE", Severity.HIGH, programs,
                f"The archive {label!r} contains a program: {first}{more}."))
        if macros:
            findings.append(self._finding(
                "ATTACHMENT_ARCHIVE_CONTAINS_MACRO", Severity.MEDIUM, macros,
                f"The archive {label!r} contains Office documents with macros."))
        if locked:
            findings.append(self._finding(
                "ATTACHMENT_ENCRYPTED_ARCHIVE", Severity.MEDIUM, locked,
                f"The archive {label!r} contains a password-protected archive that cannot be scanned."))
        if too_deep:
            findings.append(self._finding(
                "ATTACHMENT_ARCHIVE_TOO_DEEP", Severity.MEDIUM, too_deep,
                f"The archive {label!r} nests archives more than {self._depth} deep, "
                "too deep to be checked."))
        return findings

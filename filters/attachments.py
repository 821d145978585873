"""Attachment policy: executables, scripts, double extensions, macro documents, locked archives."""
from __future__ import annotations

from typing import Sequence

from pydantic import Field

from filters.base import Category, FilterContext, FilterOptions, Finding, Severity
from filters.message import MessageView

EXECUTABLE_EXTENSIONS = frozenset({
    "exe", "com", "scr", "pif", "bat", "cmd", "vbs", "vbe", "js", "jse", "wsf", "wsh", "ps1",
    "msi", "msp", "dll", "cpl", "hta", "jar", "lnk", "reg", "sh", "app", "iso", "img"})


class Options(FilterOptions):
    blocked_extensions: list[str] = Field(default_factory=lambda: sorted(EXECUTABLE_EXTENSIONS))


class AttachmentFilter:
    name = "attachments"
    Options = Options

    def __init__(self, options: Options, context: FilterContext) -> None:
        self._blocked = frozenset(e.lower().lstrip(".") for e in options.blocked_extensions)

    async def check(self, view: MessageView) -> Sequence[Finding]:
        findings: list[Finding] = []
        for attachment in view.attachments:
            name = attachment.filename.lower()
            parts = name.rsplit(".", 2)
            ext = parts[-1] if len(parts) > 1 else ""
            if len(parts) == 3 and ext in self._blocked:
                findings.append(Finding(
                    "ATTACHMENT_DOUBLE_EXTENSION", self.name, Category.ATTACHMENT, Severity.HIGH,
                    (attachment.filename,),
                    f"{attachment.filename!r} hides a program behind a document-like name."))
            elif ext in self._blocked or attachment.data[:2] == b"MZ":
                findings.append(Finding(
                    "ATTACHMENT_EXECUTABLE", self.name, Category.ATTACHMENT, Severity.HIGH,
                    (attachment.filename or "(unnamed)",),
                    f"{attachment.filename or 'an unnamed attachment'} is a program or script."))
        return findings

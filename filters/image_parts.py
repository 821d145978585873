"""The images a message carries: image attachments and the images inside archives and documents.

An indecent image is as often zipped, pasted into a Word file or a PDF as attached
on its own, so the image checks (filters/images.py) read all of these: zip members
(nested zips too), the media of OOXML/ODF documents (which are zips), and the
image objects of PDFs (via pypdf). The walk is bounded three ways - a count, a byte
budget and a deadline - and says what it could not read, because the caller must
treat an unread image as unchecked, never as clean. Synchronous: run it in an executor.
"""
from __future__ import annotations

import io
import time
import zipfile
from dataclasses import dataclass, field

from filters.message import MessageView

# Magic numbers of the formats Pillow decodes (what the bytes are, not what the name says).
_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)
_ZIP_MAGIC = b"PK\x03\x04"
_PDF_MAGIC = b"%PDF-"


def image_type(data: bytes) -> str:
    """The image format the bytes are, or "" (WebP by its RIFF container)."""
    head = data[:16]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    # ISO media (HEIC from iPhones, AVIF): an image even when Pillow cannot decode it, so it is
    # reported unchecked rather than skipped as "not an image"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"avif"):
        return "image/avif" if head[8:12] == b"avif" else "image/heic"
    for magic, kind in _MAGICS:
        if head.startswith(magic):
            return kind
    return ""


@dataclass(frozen=True, slots=True)
class ImageLimits:
    max_images: int = 20  # per message: past this the rest are reported unchecked
    max_image_bytes: int = 20 << 20  # one encoded image
    max_member_bytes: int = 50 << 20  # a zip member read to look inside it
    max_total_bytes: int = 100 << 20  # everything unpacked for one message
    max_depth: int = 3  # zips inside zips
    max_pdf_pages: int = 50


@dataclass(frozen=True, slots=True)
class ImagePart:
    where: str  # "photo.jpg", "pics.zip > a/b.png", "report.docx > word/media/image1.png", "scan.pdf > page 2"
    data: bytes = field(repr=False)
    kind: str  # image/png ...
    attachment: int  # index in view.attachments


@dataclass
class ImageWalk:
    images: list[ImagePart] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # what could not be read, and why


class _Budget:
    def __init__(self, limits: ImageLimits, deadline: float) -> None:
        self.limits = limits
        self.deadline = deadline
        self.unpacked = 0

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline


def _label(view: MessageView, index: int) -> str:
    att = view.attachments[index]
    return att.filename or f"(unnamed attachment, part {att.path or index + 1})"


def find_images(view: MessageView, limits: ImageLimits, deadline: float) -> ImageWalk:
    """Every image in the message's attachments, up to the limits (time.monotonic() deadline)."""
    walk = ImageWalk()
    budget = _Budget(limits, deadline)
    for index, att in enumerate(view.attachments):
        _examine(att.data, _label(view, index), index, walk, budget, depth=0)
    return walk


def _add(walk: ImageWalk, budget: _Budget, where: str, data: bytes, kind: str, index: int) -> None:
    if len(walk.images) >= budget.limits.max_images:
        walk.unchecked.append(f"{where}: more than {budget.limits.max_images} images in the message")
    elif len(data) > budget.limits.max_image_bytes:
        walk.unchecked.append(f"{where}: image larger than {budget.limits.max_image_bytes} bytes")
    else:
        walk.images.append(ImagePart(where, data, kind, index))


def _examine(data: bytes, where: str, index: int, walk: ImageWalk, budget: _Budget, depth: int) -> None:
    if budget.expired():
        walk.unchecked.append(f"{where}: time budget spent before it was looked at")
        return
    kind = image_type(data)
    if kind:
        _add(walk, budget, where, data, kind, index)
    elif data.startswith(_ZIP_MAGIC):
        _zip(data, where, index, walk, budget, depth)
    elif data.startswith(_PDF_MAGIC) or data[:1024].find(_PDF_MAGIC) != -1:
        _pdf(data, where, index, walk, budget)


def _zip(data: bytes, where: str, index: int, walk: ImageWalk, budget: _Budget, depth: int) -> None:
    limits = budget.limits
    if depth >= limits.max_depth:
        walk.unchecked.append(f"{where}: archives nested too deep to look for images")
        return
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a readable zip: the attachments filter reports what it is
    with zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            inner_where = f"{where} > {info.filename}"
            if budget.expired():
                walk.unchecked.append(f"{where}: time budget spent before all members were looked at")
                return
            if info.flag_bits & 0x1:
                continue  # encrypted: the attachments filter holds it as unscannable
            if info.file_size > limits.max_member_bytes or \
                    budget.unpacked + info.file_size > limits.max_total_bytes:
                walk.unchecked.append(f"{inner_where}: too large to unpack")
                continue
            try:
                with zf.open(info) as handle:
                    # a sniff first: most members of a document are XML, not worth reading whole
                    head = handle.read(16)
                    if not (image_type(head) or head.startswith(_ZIP_MAGIC) or head.startswith(_PDF_MAGIC)):
                        continue
                    inner = head + handle.read(limits.max_member_bytes + 1 - len(head))
            except Exception as exc:  # bad CRC, unsupported compression ...
                walk.unchecked.append(f"{inner_where}: unreadable ({type(exc).__name__})")
                continue
            budget.unpacked += len(inner)
            if len(inner) > limits.max_member_bytes:
                walk.unchecked.append(f"{inner_where}: larger than it declared")
                continue
            _examine(inner, inner_where, index, walk, budget, depth + 1)


def _pdf(data: bytes, where: str, index: int, walk: ImageWalk, budget: _Budget) -> None:
    try:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(data))
        # owner-password-only PDFs (printing/copying locked) open with the empty password;
        # a real password leaves the images unread: unchecked, like anything else we cannot see
        if reader.is_encrypted and not reader.decrypt(""):
            walk.unchecked.append(f"{where}: password-protected PDF, images not read")
            return
        pages = reader.pages
        for number, page in enumerate(pages, start=1):
            if number > budget.limits.max_pdf_pages:
                walk.unchecked.append(f"{where}: more than {budget.limits.max_pdf_pages} pages")
                return
            if budget.expired():
                walk.unchecked.append(f"{where}: time budget spent at page {number}")
                return
            for image in page.images:
                # pypdf re-encodes raw image objects (FlateDecode pixels) as PNG and passes
                # JPEG (DCTDecode) streams through as they are
                payload = image.data
                _add(walk, budget, f"{where} > page {number} {image.name}", payload,
                     image_type(payload) or "image/unknown", index)
    except Exception as exc:  # a broken or hostile PDF: say so, the caller holds it
        walk.unchecked.append(f"{where}: PDF images not read ({type(exc).__name__})")

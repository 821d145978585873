"""Images the tests draw themselves with Pillow: shapes and colours only, never a photograph.

Nothing here is, or resembles, real indecent or nude material of anyone (issue 22): the
hash list is exercised with these generated pictures, and the nudity classifier's
integration with them plus a threshold that makes every image count.
"""
from __future__ import annotations

import io
import random
import zipfile

from PIL import Image, ImageDraw

from filters.image_hash import hash_image


def drawn(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A picture of coloured ellipses and bars, different for each seed."""
    rnd = random.Random(seed)
    image = Image.new("RGB", size, tuple(rnd.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x, y = rnd.randrange(size[0]), rnd.randrange(size[1])
        box = [x, y, x + rnd.randrange(20, 200), y + rnd.randrange(20, 200)]
        colour = tuple(rnd.randrange(256) for _ in range(3))
        (draw.ellipse if rnd.random() < 0.6 else draw.rectangle)(box, fill=colour)
    return image


def encoded(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def resized_jpeg(image: Image.Image, scale: float = 0.5, quality: int = 70) -> bytes:
    """The copy a phone or a chat app makes: smaller, re-encoded, other bytes."""
    small = image.resize((int(image.width * scale), int(image.height * scale)))
    return encoded(small, "JPEG", quality=quality)


def zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def docx_with(image: bytes) -> bytes:
    """A minimal Word document whose media folder holds the image (as Word stores pasted pictures)."""
    return zipped({
        "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                               b'package/2006/content-types"/>',
        "word/document.xml": b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/'
                             b'2006/main"><w:body><w:p><w:r><w:t>See the picture</w:t></w:r></w:p></w:body>'
                             b'</w:document>',
        "word/media/image1.png": image,
    })


def pdf_with(image: Image.Image) -> bytes:
    """A one-page PDF with the image drawn on it (Pillow's PDF writer embeds it as JPEG)."""
    return encoded(image, "PDF", resolution=72.0)


def hash_list_for(*images: bytes, kinds: tuple[str, ...] = ("sha256", "pdq", "phash")) -> str:
    lines = ["# test list: hashes of pictures the tests drew"]
    for data in images:
        for line in hash_image(data).lines():
            if line.split(":", 1)[0] in kinds:
                lines.append(line)
    return "\n".join(lines) + "\n"

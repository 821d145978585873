"""Image hashes and the school's hash list: SHA-256 (exact copies) and PDQ / pHash (perceptual).

A hash list of known indecent images is supplied by the school, its local
authority or the police (IWF and Project Arachnid lists are of this kind); the
school never holds the images, only their hashes. An exact copy matches by
SHA-256 of its bytes. A resized, re-encoded or lightly edited copy has other
bytes, so perceptual hashes are compared by Hamming distance: PDQ (Meta's
256-bit hash, `pdqhash`; Meta calls a distance of 31 or less a confident match)
and pHash (64-bit DCT hash, `imagehash`). Decoding is Pillow's, bounded by a
pixel limit checked on the header before any pixel is decoded.

List format, one hash a line, `#` comments and blank lines ignored:
    sha256:<64 hex>     pdq:<64 hex>     phash:<16 hex>
    <64 hex>            (a bare 64-hex line is a SHA-256; PDQ must be prefixed)
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from filters.errors import SchoolgateError

PDQ_BITS = 256
# Images are hashed at most this size a side, as Meta's PDQ reference does ("downsample to
# 512x512 for speed" - the hash itself works on 64x64): measured here, a 3 Mpixel photo took
# ~730 ms to PDQ-hash at full size (bench/image_cost.py), and the list's hashes are made the same way.
HASH_SIDE = 512
PHASH_BITS = 64
_KINDS = {"sha256": 64, "pdq": 64, "phash": 16}


class HashListError(SchoolgateError, ValueError):
    """The hash list cannot be used: names the file and the line."""


class ImageDecodeError(SchoolgateError):
    """These bytes could not be decoded as an image within the limits; the image is reported unchecked."""


@dataclass(frozen=True, slots=True)
class ImageHashes:
    sha256: str
    pdq: str = ""  # "" when the image could not be decoded
    pdq_quality: int = 0  # PDQ's own 0-100 quality: below ~50 the hash says little (flat images)
    phash: str = ""

    def lines(self) -> list[str]:
        """As hash-list lines (what a school adds to its list, what the police export carries)."""
        out = [f"sha256:{self.sha256}"]
        if self.pdq:
            out.append(f"pdq:{self.pdq}")
        if self.phash:
            out.append(f"phash:{self.phash}")
        return out


def decode_image(data: bytes, max_pixels: int):
    """A Pillow RGB image, or ImageDecodeError. The size is read from the header first:
    a 100,000 x 100,000 PNG is a few KB of mail and 30 GB of pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > max_pixels:
            raise ImageDecodeError(f"{width}x{height} pixels is more than the limit of {max_pixels}")
        image.draft("RGB", (HASH_SIDE, HASH_SIDE))  # JPEG: decode at a reduced scale (>= HASH_SIDE)
        image.seek(0)  # an animation: its first frame
        return image.convert("RGB")
    except ImageDecodeError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, EOFError) as exc:
        raise ImageDecodeError(f"not a readable image ({type(exc).__name__})") from None


def _bits_to_hex(bits) -> str:
    return f"{int(''.join('1' if b else '0' for b in bits), 2):0{len(bits) // 4}x}"


def hash_image(data: bytes, max_pixels: int = 40_000_000, *, perceptual: bool = True) -> ImageHashes:
    """SHA-256 always; PDQ and pHash when the bytes decode (else they stay empty)."""
    sha = hashlib.sha256(data).hexdigest()
    if not perceptual:
        return ImageHashes(sha)
    try:
        image = decode_image(data, max_pixels)
    except ImageDecodeError:
        return ImageHashes(sha)
    return hash_decoded(sha, image)


def hash_decoded(sha256: str, image) -> ImageHashes:
    import imagehash
    import numpy as np
    import pdqhash

    if max(image.size) > HASH_SIDE:
        image = image.copy()
        image.thumbnail((HASH_SIDE, HASH_SIDE))
    bits, quality = pdqhash.compute(np.asarray(image))
    return ImageHashes(sha256, _bits_to_hex(bits), int(quality), str(imagehash.phash(image)))


def hamming(hex_a: str, hex_b: str) -> int:
    return (int(hex_a, 16) ^ int(hex_b, 16)).bit_count()


@dataclass(frozen=True, slots=True)
class HashMatch:
    kind: str  # sha256 | pdq | phash
    listed: str  # the hash on the list that matched
    distance: int  # 0 for sha256

    def describe(self) -> str:
        if self.kind == "sha256":
            return f"sha256:{self.listed} (exact copy)"
        return f"{self.kind}:{self.listed} (distance {self.distance})"


class HashList:
    """The loaded list. Perceptual look-ups are a linear scan over int XORs: a school or LA
    list is thousands of lines (bench/image_cost.py measures 10,000), not the millions a
    platform needs an index for."""

    def __init__(self, sha256: frozenset[str], pdq: tuple[int, ...], phash: tuple[int, ...],
                 source: Path | None = None) -> None:
        self.sha256 = sha256
        self.pdq = pdq
        self.phash = phash
        self.source = source

    def __len__(self) -> int:
        return len(self.sha256) + len(self.pdq) + len(self.phash)

    @classmethod
    def parse(cls, text: str, source: Path | None = None) -> "HashList":
        sha, pdq, phash = set(), [], []
        problems = []
        name = str(source) if source else "hash list"
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            kind, sep, value = line.partition(":")
            if not sep:
                kind, value = "sha256", line
            kind, value = kind.strip().lower(), value.strip().lower()
            if kind not in _KINDS:
                problems.append(f"{name}:{number}: unknown hash kind {kind!r} (sha256, pdq or phash)")
                continue
            if len(value) != _KINDS[kind] or any(c not in "0123456789abcdef" for c in value):
                problems.append(f"{name}:{number}: a {kind} hash is {_KINDS[kind]} hex digits, got {value[:80]!r}")
                continue
            if kind == "sha256":
                sha.add(value)
            elif kind == "pdq":
                pdq.append(int(value, 16))
            else:
                phash.append(int(value, 16))
        if problems:
            raise HashListError("\n".join(problems))
        return cls(frozenset(sha), tuple(dict.fromkeys(pdq)), tuple(dict.fromkeys(phash)), source)

    @classmethod
    def load(cls, path: Path) -> "HashList":
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise HashListError(f"{path}: hash list not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise HashListError(f"{path}: cannot read the hash list: {exc}") from None
        return cls.parse(text, Path(path))

    @property
    def perceptual(self) -> bool:
        return bool(self.pdq or self.phash)

    def match(self, hashes: ImageHashes, pdq_distance: int, phash_distance: int,
              min_pdq_quality: int = 0) -> HashMatch | None:
        """The closest listed hash within its threshold (SHA-256 first: no doubt there)."""
        if hashes.sha256 in self.sha256:
            return HashMatch("sha256", hashes.sha256, 0)
        best: HashMatch | None = None
        if hashes.pdq and self.pdq and hashes.pdq_quality >= min_pdq_quality:
            mine = int(hashes.pdq, 16)
            distance, listed = min(((mine ^ h).bit_count(), h) for h in self.pdq)
            if distance <= pdq_distance:
                best = HashMatch("pdq", f"{listed:064x}", distance)
        if best is None and hashes.phash and self.phash:
            mine = int(hashes.phash, 16)
            distance, listed = min(((mine ^ h).bit_count(), h) for h in self.phash)
            if distance <= phash_distance:
                best = HashMatch("phash", f"{listed:016x}", distance)
        return best


class ReloadingHashList:
    """The list file, re-read when its modification time changes: a school updates the
    file its LA sends without restarting the gateway (a failed re-read keeps the old list
    and says so; it never empties the list)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._mtime = os.stat(self.path).st_mtime_ns if self.path.exists() else None
        self.current = HashList.load(self.path)
        self.error = ""

    def get(self) -> HashList:
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError as exc:
            self.error = f"{self.path}: {exc.strerror}; still using the list loaded before"
            return self.current
        if mtime != self._mtime:
            try:
                self.current = HashList.load(self.path)
                self.error = ""
            except HashListError as exc:
                self.error = f"{exc}; still using the list loaded before"
            self._mtime = mtime
        return self.current

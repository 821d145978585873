"""Image checks: the school's hash list of known indecent images, and a nudity classifier on pupil mail.

IMAGE_HASH_MATCH: an image (attached, or inside an archive, document or PDF) is on
`[images] hash_list` - by SHA-256, or by a perceptual hash (PDQ / pHash) within its
distance, so a resized or re-encoded copy matches too. IMAGE_NUDITY: in mail sent by
or to a pupil, the nudity classifier (filters/nudity.py) scored an image at or above
`nudity_threshold` (sexting and sextortion, child-on-child abuse in KCSIE terms).
Both are category indecent_image: a safeguarding hold (policy floor, DSL alerted)
that is locked - its images are never shown or downloaded by anyone, only their hashes
go out, in the police export (docs/images.md).

Cheap first: no attachments, or no list and no pupil, and nothing is decoded. The work
is CPU-bound, so it runs in an executor under its own deadline (`seconds`, kept below
the chain's `timeout`); what it could not look at in time is IMAGE_NOT_CHECKED
(scan_incomplete, held), never a pass.
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Sequence

from pydantic import Field, field_validator

from filters.base import Category, FilterContext, FilterOptions, Finding, Role, Severity
from filters.image_hash import HashList, ImageDecodeError, ReloadingHashList, decode_image, hash_decoded, hash_image
from filters.image_parts import ImageLimits, find_images
from filters.message import MessageView
from filters.nudity import DEFAULT_CLASSES, NUDENET_LABELS, LazyModel

log = logging.getLogger(__name__)

HASH_CODE = "IMAGE_HASH_MATCH"
NUDITY_CODE = "IMAGE_NUDITY"
NOT_CHECKED_CODE = "IMAGE_NOT_CHECKED"
MAX_EVIDENCE = 20


class Options(FilterOptions):
    hash_list: Path | None = Field(
        None, description="file of known-image hashes, one a line (sha256:, pdq:, phash:); none = no hash check")
    pdq_distance: int = Field(
        31, ge=0, le=128, description="PDQ Hamming distance (of 256 bits) that still matches; Meta's "
                                      "confident-match threshold is 31")
    pdq_min_quality: int = Field(
        50, ge=0, le=100, description="PDQ quality below which the PDQ hash is not compared (flat images)")
    phash_distance: int = Field(
        6, ge=0, le=32, description="pHash Hamming distance (of 64 bits) that still matches")
    nudity: bool = Field(True, description="score image attachments of pupil mail with the nudity classifier")
    nudity_model: Path | None = Field(
        None, description="ONNX model in NudeNet's layout; none = the 320n model shipped inside nudenet")
    nudity_threshold: float = Field(
        0.6, ge=0.0, le=1.0, description="score at or above which an image counts as nude (0 = every image)")
    nudity_classes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CLASSES), description="detector classes that count")
    nudity_roles: list[Role] = Field(
        default_factory=lambda: [Role.STUDENT],
        description="the classifier runs when the sender or a recipient has one of these roles")
    hash_match_level: int = Field(5, ge=1, le=5, description="risk level of IMAGE_HASH_MATCH (5: round the clock)")
    nudity_level: int = Field(4, ge=1, le=5, description="risk level of IMAGE_NUDITY")
    max_images: int = Field(20, ge=1, le=500, description="images checked per message; more are IMAGE_NOT_CHECKED")
    max_image_pixels: int = Field(40_000_000, gt=0, description="an image declaring more pixels is not decoded")
    seconds: float = Field(8.0, gt=0, description="time for one message's images (keep under timeout)")

    @field_validator("nudity_classes")
    @classmethod
    def _classes(cls, values: list[str]) -> list[str]:
        unknown = [v for v in values if v not in NUDENET_LABELS]
        if unknown:
            raise ValueError(f"unknown classes {unknown} (known: {', '.join(NUDENET_LABELS)})")
        return values


class ImageFilter:
    name = "images"
    Options = Options

    def __init__(self, options: Options, context: FilterContext) -> None:
        self.options = options
        self._hashes = ReloadingHashList(options.hash_list) if options.hash_list else None
        self._model = LazyModel(options.nudity_model, options.nudity_classes) if options.nudity else None
        self._roles = frozenset(options.nudity_roles)
        self._limits = ImageLimits(max_images=options.max_images)

    @staticmethod
    def preload() -> None:
        """Pillow, imported before `serve` forks (filters/registry.py). onnxruntime is not:
        it is imported with the model, on the first image that needs the nudity check
        (filters/nudity.py LazyModel). Imported before the fork it put ~22 MB of its
        library in the supervisor's PSS and ~7 MB of heap in every process, for mail that
        mostly has no pupil image (bench/gateway_memory.py, docs/performance.md)."""
        import PIL.Image  # noqa: F401

    async def self_test(self) -> list[str]:
        """At start and in `config check`: the model file is there and onnxruntime importable (the
        session itself loads on first use; a load error then fails the filter: the mail is held)."""
        import importlib.util

        from filters.nudity import NudityModelError, shipped_model_path

        warnings = []
        if self._model is not None:
            try:
                path = self.options.nudity_model or shipped_model_path()
            except NudityModelError as exc:
                raise NudityModelError(f"[images] nudity: {exc}") from None
            if not Path(path).is_file():
                raise NudityModelError(f"[images] nudity_model: {path}: no such file")
            if importlib.util.find_spec("onnxruntime") is None:
                raise NudityModelError("[images] nudity: onnxruntime is not installed")
        if self._hashes is not None and not len(self._hashes.current):
            warnings.append(f"[images] hash_list {self._hashes.path} has no hashes: nothing will match")
        return warnings

    def pupil_mail(self, view: MessageView) -> bool:
        return view.sender.role in self._roles or any(r.role in self._roles for r in view.recipients)

    async def check(self, view: MessageView) -> Sequence[Finding]:
        if not view.attachments:
            return []
        hash_list = self._hashes.get() if self._hashes is not None else None
        if self._hashes is not None and self._hashes.error:
            log.error("message %s: [images] hash_list: %s", view.id, self._hashes.error)
        nudity = self._model is not None and self.pupil_mail(view)
        if (hash_list is None or not len(hash_list)) and not nudity:
            return []
        deadline = time.monotonic() + self.options.seconds
        return await asyncio.get_running_loop().run_in_executor(
            None, self.scan, view, hash_list, nudity, deadline)

    def scan(self, view: MessageView, hash_list: HashList | None, nudity: bool, deadline: float) -> list[Finding]:
        """Synchronous: every image of the message against the list and (if asked) the classifier."""
        opts = self.options
        walk = find_images(view, self._limits, deadline)
        matched: list[str] = []
        nude: list[str] = []
        unchecked = list(walk.unchecked)
        model = self._model.get() if nudity and self._model is not None else None  # a load error fails the filter
        best = 0.0
        for index, part in enumerate(walk.images):
            if time.monotonic() >= deadline:
                unchecked.extend(f"{p.where}: time budget spent" for p in walk.images[index:])
                break
            needs_pixels = model is not None or (hash_list is not None and hash_list.perceptual)
            image = None
            if needs_pixels:
                try:
                    image = decode_image(part.data, opts.max_image_pixels)
                except ImageDecodeError as exc:
                    unchecked.append(f"{part.where}: {exc}")
            if hash_list is not None:
                hashes = hash_decoded(_sha(part.data), image) if image is not None else hash_image(
                    part.data, perceptual=False)
                match = hash_list.match(hashes, opts.pdq_distance, opts.phash_distance, opts.pdq_min_quality)
                if match is not None:
                    matched.append(f"{part.where}: {match.describe()}")
            if model is not None and image is not None:
                score = model.score(image)
                best = max(best, score)
                if score >= opts.nudity_threshold:
                    nude.append(f"{part.where}: score {score:.2f}")
        findings: list[Finding] = []
        if matched:
            findings.append(Finding(
                HASH_CODE, self.name, Category.INDECENT_IMAGE, Severity.CRITICAL, _cap(matched),
                f"{len(matched)} image{'s' if len(matched) != 1 else ''} match the school's list of known "
                "indecent images. The hold is locked: nobody can view or download the images. Do not "
                "forward or delete it; the DSL passes the hashes to the police.",
                level=opts.hash_match_level))
        if nude:
            findings.append(Finding(
                NUDITY_CODE, self.name, Category.INDECENT_IMAGE, Severity.HIGH, _cap(nude),
                f"The nudity classifier scored {len(nude)} image{'s' if len(nude) != 1 else ''} in pupil mail "
                f"at or above {opts.nudity_threshold:g}. The hold is locked: the images are not shown to "
                "anyone; the DSL decides what happens next.",
                score=best, level=opts.nudity_level))
        if unchecked:
            findings.append(Finding(
                NOT_CHECKED_CODE, self.name, Category.SCAN_INCOMPLETE, Severity.MEDIUM, _cap(unchecked),
                "Some images in this message could not be checked against the image list or classifier, "
                "so it is held for a person to look at."))
        return findings


def _sha(data: bytes) -> str:
    import hashlib
    return hashlib.sha256(data).hexdigest()


def _cap(items: list[str]) -> tuple[str, ...]:
    items = list(dict.fromkeys(items))
    if len(items) > MAX_EVIDENCE:
        items = [*items[:MAX_EVIDENCE], f"... and {len(items) - MAX_EVIDENCE} more"]
    return tuple(items)

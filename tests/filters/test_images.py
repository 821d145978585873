"""Image checks (filters/images.py): the hash list and the nudity classifier, with generated images only.

Every picture here is drawn by the test (tests/filters/image_fixtures.py): coloured
shapes. The hash list is made of the hashes of such pictures; the classifier's
integration is shown with benign pictures (no finding) and with the threshold at 0,
at which every image counts.
"""
from __future__ import annotations

import re

import pytest

from filters.base import Action, Category, FilterContext, LOCKED_CATEGORIES
from filters.image_hash import HashList, HashListError, hash_image
from filters.images import HASH_CODE, NOT_CHECKED_CODE, NUDITY_CODE, ImageFilter
from filters.policy import Policy
from tests.factories import SCHOOL_DOMAIN, make_message, make_settings, make_view
from tests.filters.image_fixtures import (docx_with, drawn, encoded, hash_list_for, pdf_with, resized_jpeg,
                                          zipped)
from tests.gateway.conftest import make_gateway  # noqa: F401  (the SMTP tests' fixture)

PUPIL = f"pupil@pupils.{SCHOOL_DOMAIN}"
STAFF = f"teacher@{SCHOOL_DOMAIN}"
ROLES = {"directory": {"domain_roles": {f"pupils.{SCHOOL_DOMAIN}": "student", SCHOOL_DOMAIN: "staff"}}}

LISTED = drawn(1)
LISTED_PNG = encoded(LISTED)
UNRELATED_PNG = encoded(drawn(2))


def make_filter(tmp_path, **images):
    settings = make_settings(tmp_path, filters={"chain": ["images"]}, images=images, **ROLES)
    return settings, ImageFilter(settings.filter_options["images"], FilterContext(settings=settings, directory=None))


def list_file(tmp_path, *images: bytes, kinds=("sha256", "pdq", "phash")):
    path = tmp_path / "hashes.txt"
    path.write_text(hash_list_for(*images, kinds=kinds))
    return path


async def findings(flt, settings, attachments, sender="alice@example.com", to=STAFF):
    raw = make_message("See attached.", sender=sender, to=to, attachments=attachments)
    view = make_view(raw, mail_from=sender, rcpt_to=(to,), settings=settings)
    return view, list(await flt.check(view))


@pytest.mark.parametrize("label, attachment", [
    ("exact copy", ("photo.png", "image/png", LISTED_PNG)),
    ("resized and re-encoded as JPEG", ("IMG_2041.jpg", "image/jpeg", resized_jpeg(LISTED))),
    ("re-encoded under a harmless name", ("notes.txt", "text/plain", resized_jpeg(LISTED, 0.8, 50))),
    ("inside a zip", ("pics.zip", "application/zip", zipped({"a/b/photo.png": LISTED_PNG}))),
    ("inside a zip inside a zip", ("pics.zip", "application/zip",
                                   zipped({"inner.zip": zipped({"x.jpg": resized_jpeg(LISTED)})}))),
    ("pasted into a Word document", ("homework.docx", "application/vnd.openxmlformats-officedocument."
                                     "wordprocessingml.document", docx_with(LISTED_PNG))),
    ("drawn into a PDF", ("scan.pdf", "application/pdf", pdf_with(LISTED))),
])
async def test_listed_image_matches_wherever_it_is(tmp_path, label, attachment) -> None:
    settings, flt = make_filter(tmp_path, hash_list=str(list_file(tmp_path, LISTED_PNG)))
    view, found = await findings(flt, settings, [attachment])
    codes = [f.code for f in found]
    assert codes == [HASH_CODE], (label, found)
    finding = found[0]
    assert finding.category == Category.INDECENT_IMAGE and finding.category in LOCKED_CATEGORIES
    assert finding.level == 5 and finding.safeguarding
    # the evidence names where the image is and which listed hash it matched: no pixels, no content
    assert re.search(r"(sha256|pdq|phash):[0-9a-f]{16,64}", finding.evidence[0])
    verdict = Policy(settings).decide(view, found)
    assert verdict.action == Action.HOLD and "dsl" in verdict.alerts


async def test_exact_copy_matches_by_sha256_alone(tmp_path) -> None:
    settings, flt = make_filter(tmp_path, hash_list=str(list_file(tmp_path, LISTED_PNG, kinds=("sha256",))))
    _, found = await findings(flt, settings, [("photo.png", "image/png", LISTED_PNG)])
    assert [f.code for f in found] == [HASH_CODE] and "exact copy" in found[0].evidence[0]
    # a re-encoded copy has other bytes: without perceptual hashes on the list it is not found
    _, found = await findings(flt, settings, [("photo.jpg", "image/jpeg", resized_jpeg(LISTED))])
    assert found == []


@pytest.mark.parametrize("kind", ["pdq", "phash"])
async def test_each_perceptual_hash_alone_finds_the_resized_copy(tmp_path, kind) -> None:
    settings, flt = make_filter(tmp_path, hash_list=str(list_file(tmp_path, LISTED_PNG, kinds=(kind,))))
    _, found = await findings(flt, settings, [("photo.jpg", "image/jpeg", resized_jpeg(LISTED))])
    assert [f.code for f in found] == [HASH_CODE] and f"{kind}:" in found[0].evidence[0]


@pytest.mark.parametrize("seed", [2, 3, 4, 5, 6, 7, 8, 9])
async def test_unrelated_images_do_not_match(tmp_path, seed) -> None:
    settings, flt = make_filter(tmp_path, hash_list=str(list_file(tmp_path, LISTED_PNG)))
    other = drawn(seed)
    _, found = await findings(flt, settings, [("a.png", "image/png", encoded(other)),
                                              ("b.jpg", "image/jpeg", resized_jpeg(other))])
    assert found == []


def test_hash_list_errors_name_file_and_line(tmp_path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("# ok\nsha256:" + "a" * 64 + "\npdq:1234\nmd5:" + "b" * 32 + "\n" + "c" * 64 + "\n")
    with pytest.raises(HashListError) as err:
        HashList.load(path)
    lines = str(err.value).splitlines()
    assert lines == [f"{path}:3: a pdq hash is 64 hex digits, got '1234'",
                     f"{path}:4: unknown hash kind 'md5' (sha256, pdq or phash)"]
    ok = HashList.parse("sha256:" + "a" * 64 + "\n" + "C" * 64 + "  # bare 64 hex = sha256\n")
    assert ok.sha256 == {"a" * 64, "c" * 64}


def test_hash_list_missing_is_a_config_error(tmp_path) -> None:
    from config.loader import ConfigError

    with pytest.raises((ConfigError, HashListError)) as err:
        make_filter(tmp_path, hash_list=str(tmp_path / "nope.txt"))
    assert "nope.txt" in str(err.value)


async def test_the_list_file_is_reread_when_it_changes(tmp_path) -> None:
    path = list_file(tmp_path, UNRELATED_PNG)
    settings, flt = make_filter(tmp_path, hash_list=str(path))
    _, found = await findings(flt, settings, [("photo.png", "image/png", LISTED_PNG)])
    assert found == []
    import os
    path.write_text(hash_list_for(UNRELATED_PNG, LISTED_PNG))
    os.utime(path, ns=(1, 10**18))  # a new mtime even on a coarse-clock filesystem
    _, found = await findings(flt, settings, [("photo.png", "image/png", LISTED_PNG)])
    assert [f.code for f in found] == [HASH_CODE]


def test_a_broken_new_list_keeps_the_old_one(tmp_path) -> None:
    import os
    from filters.image_hash import ReloadingHashList

    path = list_file(tmp_path, LISTED_PNG)
    hashes = ReloadingHashList(path)
    before = len(hashes.get())
    path.write_text("pdq:nothex\n")
    os.utime(path, ns=(1, 10**18))
    assert len(hashes.get()) == before > 0 and "still using the list loaded before" in hashes.error


async def test_decompression_bomb_is_not_decoded_and_is_held_unchecked(tmp_path) -> None:
    from PIL import Image
    huge = encoded(Image.new("L", (12000, 12000)), "PNG", optimize=True)  # ~144 Mpixel, a small file
    settings, flt = make_filter(tmp_path, hash_list=str(list_file(tmp_path, LISTED_PNG)))
    view, found = await findings(flt, settings, [("big.png", "image/png", huge)])
    assert [f.code for f in found] == [NOT_CHECKED_CODE]
    assert "pixels" in found[0].evidence[0]
    assert Policy(settings).decide(view, found).action == Action.HOLD


async def test_an_image_pillow_cannot_decode_is_unchecked_not_skipped(tmp_path) -> None:
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200  # an iPhone photo's header
    settings, flt = make_filter(tmp_path, hash_list=str(list_file(tmp_path, LISTED_PNG)))
    _, found = await findings(flt, settings, [("IMG_1234.HEIC", "image/heic", heic)])
    assert [f.code for f in found] == [NOT_CHECKED_CODE] and "IMG_1234.HEIC" in found[0].evidence[0]
    # its SHA-256 is still compared: a listed HEIC file is found without decoding it
    settings, flt = make_filter(tmp_path, hash_list=str(list_file(tmp_path, heic, kinds=("sha256",))))
    _, found = await findings(flt, settings, [("IMG_1234.HEIC", "image/heic", heic)])
    assert HASH_CODE in [f.code for f in found]


async def test_too_many_images_are_not_a_pass(tmp_path) -> None:
    settings, flt = make_filter(tmp_path, hash_list=str(list_file(tmp_path, LISTED_PNG)), max_images=2)
    pics = [(f"{i}.png", "image/png", encoded(drawn(100 + i))) for i in range(3)]
    _, found = await findings(flt, settings, [*pics, ("last.png", "image/png", LISTED_PNG)])
    assert {f.code for f in found} == {NOT_CHECKED_CODE}


# --- the nudity classifier (NudeNet's shipped model, offline) ------------------------------------------

async def test_benign_generated_images_in_pupil_mail_give_no_finding(tmp_path) -> None:
    settings, flt = make_filter(tmp_path)
    pics = [(f"drawing{i}.png", "image/png", encoded(drawn(i))) for i in range(4)]
    _, found = await findings(flt, settings, pics, sender=PUPIL, to=f"friend@pupils.{SCHOOL_DOMAIN}")
    assert found == []


async def test_threshold_zero_makes_every_pupil_image_count(tmp_path) -> None:
    settings, flt = make_filter(tmp_path, nudity_threshold=0.0)
    view, found = await findings(flt, settings, [("drawing.png", "image/png", encoded(drawn(3)))],
                                 sender=PUPIL, to=f"friend@pupils.{SCHOOL_DOMAIN}")
    assert [f.code for f in found] == [NUDITY_CODE]
    finding = found[0]
    assert finding.category == Category.INDECENT_IMAGE and finding.level == 4
    assert 0.0 <= finding.score < 0.2  # the model's real score for a drawing: low, counted only by threshold 0
    verdict = Policy(settings).decide(view, found)
    assert verdict.action == Action.HOLD and "dsl" in verdict.alerts


async def test_classifier_runs_only_on_pupil_mail(tmp_path) -> None:
    settings, flt = make_filter(tmp_path, nudity_threshold=0.0)
    _, found = await findings(flt, settings, [("drawing.png", "image/png", encoded(drawn(3)))],
                              sender="alice@example.com", to=STAFF)
    assert found == []  # staff mail: not scored at all
    _, found = await findings(flt, settings, [("drawing.png", "image/png", encoded(drawn(3)))],
                              sender="stranger@example.com", to=PUPIL)
    assert [f.code for f in found] == [NUDITY_CODE]  # to a pupil: scored


async def test_a_model_that_cannot_load_fails_the_filter_never_passes(tmp_path) -> None:
    from filters.chain import FilterChain

    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    settings, flt = make_filter(tmp_path, nudity_model=str(bad))
    raw = make_message("hi", sender=PUPIL, to=STAFF, attachments=[("a.png", "image/png", encoded(drawn(1)))])
    view = make_view(raw, mail_from=PUPIL, rcpt_to=(STAFF,), settings=settings)
    result = await FilterChain([(flt, settings.filter_options["images"])]).run(view)
    assert result.findings == () and len(result.failures) == 1
    failure = result.failures[0]
    assert failure.kind == "error" and "broken.onnx" in failure.detail
    assert Policy(settings).decide(view, result.findings, result.failures).action == Action.HOLD  # shipped on_error


def test_images_is_in_the_shipped_chain() -> None:
    settings = make_settings()
    assert "images" in settings.filters.chain
    assert settings.filter_options["images"].on_error == "hold"


# --- over SMTP, through the gateway --------------------------------------------------------------------------

async def test_over_smtp_listed_image_is_held_locked_and_unrelated_passes(make_gateway, sink, tmp_path) -> None:
    hashes = list_file(tmp_path, LISTED_PNG)
    gw = await make_gateway(next_hop=sink.address, filters={"chain": ["images"]},
                            images={"hash_list": str(hashes)}, notify={"enabled": False}, **ROLES)
    for name, data in (("photo.png", LISTED_PNG), ("IMG_0001.jpg", resized_jpeg(LISTED))):  # exact, resized
        raw = make_message("look", sender="stranger@example.net", to=PUPIL, attachments=[(name, "image/jpeg", data)])
        code, text = await gw.send(raw, mail_from="stranger@example.net", rcpt_tos=[PUPIL])
        assert code == 250, text
        mid = re.search(rb"Ok: (\S+)", text).group(1).decode()
        held = await gw.store.get(mid)
        assert held.codes == (HASH_CODE,) and held.locked and "dsl" in held.alerts
    assert sink.messages == []
    raw = make_message("look", sender="stranger@example.net", to=PUPIL,
                       attachments=[("holiday.jpg", "image/jpeg", resized_jpeg(drawn(5)))])
    code, _ = await gw.send(raw, mail_from="stranger@example.net", rcpt_tos=[PUPIL])
    assert code == 250 and len(sink.messages) == 1


def test_start_up_imports_neither_opencv_nor_onnxruntime(tmp_path):
    """preload + self_test (what `serve` runs in the supervisor and in each worker) find the
    shipped model without importing nudenet (whose module imports OpenCV, ~40 MB a process)
    and leave onnxruntime to the first image that needs the classifier."""
    import subprocess
    import sys
    code = (
        "import asyncio, sys\n"
        "from filters.base import FilterContext\n"
        "from filters.images import ImageFilter\n"
        "from pathlib import Path\nfrom tests.factories import make_settings\n"
        f"settings = make_settings(Path({str(tmp_path)!r}), filters={{'chain': ['images']}})\n"
        "flt = ImageFilter(settings.filter_options['images'], FilterContext(settings=settings, directory=None))\n"
        "ImageFilter.preload()\n"
        "assert asyncio.run(flt.self_test()) == []\n"
        "print(sorted(m for m in ('cv2', 'nudenet', 'onnxruntime') if m in sys.modules))\n")
    from tests.gateway.test_workers import ROOT
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

"""What the image path costs: ms per image and per message for the hash list and the nudity classifier.

Images are generated here (Pillow-drawn shapes, never photographs). Measured stage by
stage on the same images: decode, SHA-256 + PDQ + pHash, one look-up in a 10,000-line
hash list, the NudeNet 320n score; then whole messages through ImageFilter.check (the
gateway's code, executor and all): text-only pupil mail, one photo-sized JPEG, five
images, a zip of five, a Word file with one; the model's load time is reported apart.

    .venv/bin/python bench/image_cost.py [--repeat N] [--list-size N]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters.base import FilterContext  # noqa: E402
from filters.image_hash import HashList, decode_image, hash_decoded, hash_image  # noqa: E402
from filters.images import ImageFilter  # noqa: E402
from filters.nudity import OnnxNudityModel  # noqa: E402
from tests.factories import SCHOOL_DOMAIN, make_message, make_settings, make_view  # noqa: E402
from tests.filters.image_fixtures import docx_with, drawn, encoded, hash_list_for, zipped  # noqa: E402

PUPIL = f"pupil@pupils.{SCHOOL_DOMAIN}"
ROLES = {"directory": {"domain_roles": {f"pupils.{SCHOOL_DOMAIN}": "student"}}}


def timed(fn, repeat: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def line(label: str, times: list[float]) -> None:
    ms = [1000 * t for t in times]
    print(f"  {label:46s} mean {statistics.mean(ms):7.2f} ms  median {statistics.median(ms):7.2f}  "
          f"max {max(ms):7.2f}  (n={len(ms)})")


def random_list(size: int, rnd: random.Random) -> str:
    lines = []
    for i in range(size):
        kind = ("sha256", "pdq", "phash")[i % 3]
        digits = 16 if kind == "phash" else 64
        lines.append(f"{kind}:{rnd.getrandbits(digits * 4):0{digits}x}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--list-size", type=int, default=10_000)
    args = parser.parse_args()
    rnd = random.Random(22)

    photo = drawn(1, (2016, 1512))  # a 3 Mpixel phone photo's size
    photo_jpeg = encoded(photo, "JPEG", quality=85)
    small_png = encoded(drawn(2, (640, 480)))
    print(f"images: photo-sized JPEG 2016x1512 {len(photo_jpeg) // 1024} KB, PNG 640x480 {len(small_png) // 1024} KB")

    print("\nper image, by stage:")
    line("decode JPEG 2016x1512 (draft scale)", timed(lambda: decode_image(photo_jpeg, 40_000_000), args.repeat))
    line("decode PNG 640x480", timed(lambda: decode_image(small_png, 40_000_000), args.repeat))
    decoded = decode_image(photo_jpeg, 40_000_000)
    line("SHA-256 + PDQ + pHash (decoded photo)", timed(lambda: hash_decoded("x", decoded), args.repeat))
    line("SHA-256 only (photo bytes)", timed(lambda: hash_image(photo_jpeg, perceptual=False), args.repeat))
    big_list = HashList.parse(random_list(args.list_size, rnd))
    hashes = hash_image(photo_jpeg)
    line(f"look-up in a {args.list_size}-line list", timed(lambda: big_list.match(hashes, 31, 6), args.repeat))
    t0 = time.perf_counter()
    model = OnnxNudityModel()
    print(f"  nudity model load (once per process)          {1000 * (time.perf_counter() - t0):7.0f} ms")
    line("nudity score (NudeNet 320n, 1 thread)", timed(lambda: model.score(decoded), args.repeat))

    print("\nper message, ImageFilter.check (hash list + classifier, pupil sender):")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hashes.txt"
        path.write_text(random_list(args.list_size, rnd) + hash_list_for(encoded(drawn(99))))
        settings = make_settings(Path(tmp), filters={"chain": ["images"]},
                                 images={"hash_list": str(path)}, **ROLES)
        flt = ImageFilter(settings.filter_options["images"], FilterContext(settings=settings, directory=None))
        five = [encoded(drawn(10 + i, (1024, 768)), "JPEG", quality=85) for i in range(5)]
        cases = {
            "text only (no attachment)": [],
            "1 photo-sized JPEG": [("IMG_0001.jpg", "image/jpeg", photo_jpeg)],
            "5 JPEGs 1024x768": [(f"IMG_{i}.jpg", "image/jpeg", d) for i, d in enumerate(five)],
            "zip of 5 JPEGs": [("pics.zip", "application/zip", zipped({f"{i}.jpg": d for i, d in enumerate(five)}))],
            "Word file with 1 PNG": [("homework.docx", "application/vnd.openxmlformats-officedocument."
                                      "wordprocessingml.document", docx_with(small_png))],
        }

        async def run() -> None:
            for label, attachments in cases.items():
                raw = make_message("hi", sender=PUPIL, to=f"friend@pupils.{SCHOOL_DOMAIN}", attachments=attachments)
                view = make_view(raw, mail_from=PUPIL, rcpt_to=(f"friend@pupils.{SCHOOL_DOMAIN}",), settings=settings)
                await flt.check(view)  # warm-up (loads the model on the first image)
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    found = await flt.check(view)
                    times.append(time.perf_counter() - t0)
                assert not found, found  # generated, unlisted images: nothing to find
                line(label, times)
            staff = make_view(make_message("hi", to=f"teacher@{SCHOOL_DOMAIN}",
                                           attachments=cases["1 photo-sized JPEG"]),
                              rcpt_to=(f"teacher@{SCHOOL_DOMAIN}",), settings=settings)
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                await flt.check(staff)
                times.append(time.perf_counter() - t0)
            line("1 photo, staff mail (hash list only)", times)
        asyncio.run(run())


if __name__ == "__main__":
    main()

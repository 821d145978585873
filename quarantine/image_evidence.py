"""Locked holds' evidence for the police: hashes, findings and the audit trail - never an image.

A hold of an indecent image (HeldMessage.locked) keeps its bytes in the store, as the
police may need them seized from the server, but nothing in schoolgate writes them
out: the export carries the SHA-256 of the whole message as received and, for each
image in it, SHA-256, PDQ and pHash (the same lines a hash list takes), so the police
or the IWF can match it against their own copy. Making and downloading it is audited.
"""
from __future__ import annotations

import io
import json
import time
import zipfile
from typing import Callable

from filters.directory import Directory
from filters.image_hash import hash_image
from filters.image_parts import ImageLimits, find_images
from filters.message import Envelope, build_view
from quarantine.store import HeldMessage

# audit action names of this module's paths (plain strings: the review store takes any)
LOCKED_REFUSED = "locked_refused"  # someone asked for a locked hold's content and was refused
POLICE_EXPORT = "police_export"
VIEW_IMAGE = "view_image"  # a reasoned click showed one image of a (non-locked) hold

LOCKED_TEXT = ("This hold is locked: it contains an image that matched the list of known indecent images or "
               "that the nudity classifier flagged in pupil mail. Nobody can view, download or release its "
               "images, the DSL included. Do not show any child the image and do not forward or delete it; "
               "the evidence export carries the hashes only, for the police.")


def image_hash_lines(raw: bytes, held: HeldMessage, seconds: float = 30.0) -> list[dict]:
    """Where each image of the stored message is, with its hashes (decoded here, in memory only)."""
    view = build_view(raw, Envelope(held.mail_from, tuple(held.recipients)), Directory(None))
    walk = find_images(view, ImageLimits(max_images=500), time.monotonic() + seconds)
    rows = [{"where": part.where, "size": len(part.data), "hashes": hash_image(part.data).lines()}
            for part in walk.images]
    rows.extend({"where": note, "hashes": [], "not_read": True} for note in walk.unchecked)
    return rows


def police_export(raw: bytes | None, held: HeldMessage, history: list[dict],
                  audit_csv: Callable[[list[dict]], str]) -> bytes:
    """The zip for the police: no .eml, no image, no text of the message."""
    images = image_hash_lines(raw, held) if raw else []
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("README.txt", (
            f"Schoolgate evidence export for held message {held.id} (locked indecent-image hold).\n"
            "It contains hashes only: no image and no message content. The original message is\n"
            "kept unchanged in the school's quarantine store; its SHA-256 is in sha256.txt.\n"))
        z.writestr("sha256.txt", f"{held.sha256}  original message as received (before gateway headers)\n")
        z.writestr("image_hashes.txt", "".join(
            f"# {row['where']}\n" + "".join(f"{line}\n" for line in row["hashes"]) for row in images))
        z.writestr("images.json", json.dumps(images, indent=2))
        meta = held.as_dict()
        meta.pop("subject", None)  # the subject is content too
        z.writestr("message.json", json.dumps(meta, indent=2))
        z.writestr("findings.json", json.dumps([f.as_dict() for f in held.findings], indent=2))
        z.writestr("audit.json", json.dumps(history, indent=2))
        z.writestr("audit.csv", audit_csv(history))
    return buf.getvalue()

"""Signed, expiring, single-use links for mail (digest actions, release requests, DSL alerts).

A link carries only a message id, an action and a random token id: never any
message content. Single use is enforced by the review store's used_tokens table:
`spend_once` claims the token before the action and gives it back if the action
fails, so a release the next hop refused can be tried again from the same link.
"""
from __future__ import annotations

import os
import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete

from quarantine.review_store import ReviewStore, used_tokens

from filters.errors import SchoolgateError

# ack: quarantine/escalation.py; approve/decline: a tutor's digest (issue 21 clause 2, quarantine/web/approval.py)
ACTIONS = ("release", "delete", "request", "alert", "ack", "approve", "decline")


class LinkError(SchoolgateError):
    """The link is forged, expired or malformed; the text is safe to show."""


@dataclass(frozen=True, slots=True)
class Link:
    message_id: str
    action: str
    jti: str
    who: str = ""  # the sender a release-request link was made for


def load_secret(directory: Path, store: Any = None) -> bytes:
    """The site's signing key, made once and kept: in the shared database when several nodes use
    it (a link mailed by node A must verify on node B), else in a 0600 file next to the store."""
    if store is not None and store.shared_database:
        return store.shared_secret_sync("link-signing")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "web-secret"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key


class LinkSigner:
    def __init__(self, secret: bytes, max_age_seconds: float) -> None:
        self._s = URLSafeTimedSerializer(secret, salt="schoolgate-links")
        self.max_age = max_age_seconds

    def make(self, message_id: str, action: str, who: str = "") -> str:
        if action not in ACTIONS:
            raise ValueError(action)
        return self._s.dumps({"m": message_id, "a": action, "j": secrets.token_hex(12), "w": who})

    def read(self, token: str) -> Link:
        try:
            data = self._s.loads(token, max_age=self.max_age)
        except SignatureExpired:
            raise LinkError("This link has expired. Open the review queue instead.") from None
        except BadSignature:
            raise LinkError("This link is not valid.") from None
        if not isinstance(data, dict) or data.get("a") not in ACTIONS or not isinstance(data.get("m"), str):
            raise LinkError("This link is not valid.")
        return Link(data["m"], data["a"], str(data.get("j", "")), str(data.get("w", "")))


class LinkUsed(Exception):
    """The link's token was spent already (or is being spent by a concurrent request)."""


def give_back_token_sync(review: ReviewStore, jti: str) -> None:
    """Un-spend a token whose action failed (the next hop refused, the store errored)."""
    with review.engine.begin() as conn:
        conn.execute(delete(used_tokens).where(used_tokens.c.jti == jti))


@asynccontextmanager
async def spend_once(review: ReviewStore, jti: str) -> AsyncIterator[None]:
    """Run the body at most once per token: the claim is the unique insert (atomic, so two
    concurrent requests cannot both act); an exception in the body gives the token back.

    Claiming before acting (not after) keeps the link single-use under concurrency;
    giving it back keeps a failed release from using the link up (issue 16).
    """
    store = review.store
    if not await store.run(review.use_token_sync, jti):
        raise LinkUsed(jti)
    try:
        yield
    except BaseException:
        await store.run(give_back_token_sync, review, jti)
        raise

"""Digest links over real HTTP: a failed release leaves the link usable, a successful one spends it, once."""
from __future__ import annotations

import asyncio

from quarantine.links import LinkSigner, load_secret
from tests.quarantine.conftest import csrf_of


async def test_failed_release_through_a_link_does_not_use_it_up(review):
    mid = await review.hold(subject="digest release, next hop down at first")
    token = LinkSigner(load_secret(review.gw.settings.quarantine.path), 3600).make(mid, "release")
    c = await review.login("reviewer")
    review.sink.handler.data_reply = "451 4.3.0 sink busy, try later"
    page = await c.get(f"/l/{token}")
    refused = await c.post(f"/l/{token}", data={"csrf": csrf_of(page.text), "confirm": "yes"})
    assert refused.status_code == 409 and "still held" in refused.text
    assert review.sink.messages == []
    # the same link works once the next hop is back, and only once
    review.sink.handler.data_reply = None
    page = await c.get(f"/l/{token}")
    assert page.status_code == 200 and "Release this message?" in page.text
    done = await c.post(f"/l/{token}", data={"csrf": csrf_of(page.text), "confirm": "yes"})
    assert done.status_code == 303 and "done=released" in done.headers["location"]
    assert len(review.sink.messages) == 1
    again = await c.post(f"/l/{token}", data={"csrf": csrf_of(page.text), "confirm": "yes"})
    assert again.status_code == 410
    assert (await c.get(f"/l/{token}")).status_code == 410
    assert len(review.sink.messages) == 1


async def test_concurrent_posts_of_one_link_release_once(review):
    mid = await review.hold(subject="digest release clicked twice")
    token = LinkSigner(load_secret(review.gw.settings.quarantine.path), 3600).make(mid, "release")
    c = await review.login("reviewer")
    page = await c.get(f"/l/{token}")
    form = {"csrf": csrf_of(page.text), "confirm": "yes"}
    replies = await asyncio.gather(*(c.post(f"/l/{token}", data=form) for _ in range(4)))
    codes = sorted(r.status_code for r in replies)
    # one release; the others see the link spent (or, if they came second to the
    # claim of copies, "nothing held", which also gives the link back)
    assert codes.count(303) == 1, codes
    assert all(code in (303, 409, 410) for code in codes), codes
    assert len(review.sink.messages) == 1
    assert (await c.get(f"/l/{token}")).status_code == 410


async def test_failed_delete_link_after_release_is_not_spent(review):
    """A delete link for a message already released fails (nothing held) and stays unspent."""
    mid = await review.hold(subject="released first, then the delete link")
    signer = LinkSigner(load_secret(review.gw.settings.quarantine.path), 3600)
    release, delete = signer.make(mid, "release"), signer.make(mid, "delete")
    c = await review.login("reviewer")
    page = await c.get(f"/l/{release}")
    assert (await c.post(f"/l/{release}", data={"csrf": csrf_of(page.text), "confirm": "yes"})).status_code == 303
    page = await c.get(f"/l/{delete}")
    reply = await c.post(f"/l/{delete}", data={"csrf": csrf_of(page.text), "confirm": "yes"})
    assert reply.status_code == 409 and "nothing to delete" in reply.text  # the store refuses
    assert (await c.get(f"/l/{delete}")).status_code == 200  # not spent

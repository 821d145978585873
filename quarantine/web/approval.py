"""Approve / Decline for pupils' mail waiting for approval (issue 21 clause 2), by a reviewer or the tutor.

Kept out of quarantine/web/app.py: the app only mounts these routes.

Who decides: a reviewer who may decide the hold (quarantine/access.py), from
the message page's Approve / Decline buttons; or the pupil's tutor (the
directory's tutor_email, named by the approval filter), signed in with any
school account whose e-mail is the tutor's, from the signed links of their
digest (quarantine/notify.py send_tutor_digests). A tutor decides only a hold
whose every finding is APPROVAL_REQUIRED: mail held for anything else (words,
pupil data) is a reviewer's. A forwarded link alone does nothing: it needs the
tutor's (or a reviewer's) sign-in, and each link is used once.

Approve = release (sent now, checked for TLS as any release), decline = delete.
Both write the store's own row (release/delete, actor and reason) and an
`approve`/`decline` row saying in which capacity (tutor or reviewer).
"""
from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from filters.approval import CODE, approvers
from filters.base import Category
from quarantine.access import AccessDenied, Actor, Need
from quarantine.links import Link, LinkError, LinkUsed, spend_once
from quarantine.review import ReleaseError, release_from_store, school_address_test
from quarantine.store import HeldMessage, StoreError
from quarantine.web.render import render_message

DECISIONS = ("approve", "decline")


def approval_only(held: HeldMessage) -> bool:
    """Held for approval and nothing else: a tutor may decide it."""
    return bool(held.findings) and all(f.category == Category.APPROVAL for f in held.findings)


class ApprovalPages:
    def __init__(self, app: Any) -> None:
        self.app = app  # quarantine.web.app.ReviewApp

    # -- who may decide -------------------------------------------------------------------------
    async def capacity(self, auth, held: HeldMessage, link: Link | None = None) -> str | None:
        """"tutor", "reviewer", or None when this account may not decide this hold."""
        email = (auth.user.email or "").strip().lower()
        if (email and approval_only(held) and email in approvers(held.findings)
                and (link is None or link.who.lower() == email)):
            return "tutor"
        try:
            await self.app.db(self.app.rule.check, Actor(auth.user, "web"), held, Need.DECIDE, auth.session_hash)
        except AccessDenied:
            return None
        return "reviewer"

    async def _held(self, request: Request, auth, message_id: str) -> HeldMessage | Response:
        try:
            held = await self.app.store.get(message_id)
        except StoreError:
            return self.app.error(request, auth, 404, "Not found", "There is no held message with that id.")
        if CODE not in held.codes:
            return self.app.error(request, auth, 400, "Not waiting for approval",
                                  "This message is not waiting for approval.")
        return held

    # -- deciding -----------------------------------------------------------------------------------
    async def decide(self, auth, held: HeldMessage, decision: str, reason: str, capacity: str) -> str:
        actor = self.app.actor(auth)
        detail = {"as": capacity, "role": str(auth.user.role), "via": "web"}
        if decision == "approve":
            hop = self.app.next_hop()
            if hop is None:
                raise ReleaseError("no next hop is configured: nowhere to send it")
            await release_from_store(self.app.store, hop, held.id, recipients=None, actor=actor, reason=reason,
                                     findings_header=self.app.settings.quarantine.release_findings_header,
                                     detail={**detail, "decision": "approve"},
                                     is_internal=school_address_test(self.app.settings.school.domains))
        else:
            await self.app.db(self.app.store.delete_sync, held.id, actor, reason)
        await self.app.db(self.app.review.audit, actor, decision, held.id, reason, detail)
        return "released" if decision == "approve" else "deleted"

    def _form(self, request: Request, auth, default: str = "") -> tuple[str, str] | Response:
        form = request.state.form
        decision = str(form.get("decision", default))
        reason = str(form.get("reason", "")).strip()[:2000]
        if decision not in DECISIONS:
            return self.app.error(request, auth, 400, "Unknown decision", "Choose Approve or Decline.")
        if form.get("confirm") != "yes":
            return self.app.error(request, auth, 400, "Confirmation needed", "Tick the confirmation box.")
        return decision, reason or ("approved" if decision == "approve" else "declined")

    async def from_message_page(self, request: Request, auth) -> Response:
        """POST /m/{id}/approval: the message page's Approve / Decline buttons."""
        held = await self._held(request, auth, request.path_params["id"])
        if isinstance(held, Response):
            return held
        capacity = await self.capacity(auth, held)
        if capacity is None:
            return self.app.error(request, auth, 403, "Not yours to decide",
                                  "Only a reviewer or the pupil's tutor can approve or decline this e-mail.")
        got = self._form(request, auth)
        if isinstance(got, Response):
            return got
        try:
            done = await self.decide(auth, held, *got, capacity)
        except (ReleaseError, StoreError) as exc:
            return self.app.error(request, auth, 409, "Not done", str(exc))
        if capacity == "tutor":
            return self.app.render("approval.html", request, auth, m=held, done=done, token="", link=None, r=None)
        return RedirectResponse(f"/m/{held.id}?done={done}", status_code=303)

    async def _link(self, request: Request, auth) -> tuple[Link, HeldMessage, str] | Response:
        try:
            link = self.app.signer.read(request.path_params["token"])
        except LinkError as exc:
            return self.app.error(request, auth, 400, "Link not valid", str(exc))
        if link.action not in DECISIONS:
            return self.app.error(request, auth, 400, "Link not valid", "This link is not valid.")
        if await self.app.db(self.app.review.token_used_sync, link.jti):
            return self.app.error(request, auth, 410, "Link already used", "This link has been used already.")
        held = await self._held(request, auth, link.message_id)
        if isinstance(held, Response):
            return held
        capacity = await self.capacity(auth, held, link)
        if capacity is None:
            return self.app.error(request, auth, 403, "Not yours to decide",
                                  "This link is for the pupil's tutor: sign in with the tutor's school account.")
        return link, held, capacity

    async def link_get(self, request: Request, auth) -> Response:
        """GET /approval/{token}: the letter, then Approve / Decline (the link's choice first)."""
        got = await self._link(request, auth)
        if isinstance(got, Response):
            return got
        link, held, _ = got
        rendered = None
        if held.path and held.status in ("held", "partially_released"):
            raw = await self.app.db(self.app.store.raw_sync, held)
            rendered = await asyncio.get_running_loop().run_in_executor(
                None, lambda: render_message(raw, held.mail_from, list(held.recipients), held.findings,
                                             show_body=True))
        return self.app.render("approval.html", request, auth, m=held, link=link, r=rendered,
                               token=request.path_params["token"], done="")

    async def link_post(self, request: Request, auth) -> Response:
        got = await self._link(request, auth)
        if isinstance(got, Response):
            return got
        link, held, capacity = got
        decided = self._form(request, auth, link.action)
        if isinstance(decided, Response):
            return decided
        try:
            # spent only if the decision is carried out: a next hop that refused keeps the link
            async with spend_once(self.app.review, link.jti):
                done = await self.decide(auth, held, *decided, capacity)
        except LinkUsed:
            return self.app.error(request, auth, 410, "Link already used", "This link has been used already.")
        except (ReleaseError, StoreError) as exc:
            return self.app.error(request, auth, 409, "Not done", f"{exc} The link can be used again.")
        return self.app.render("approval.html", request, auth, m=held, done=done, token="", link=None, r=None)


def approval_routes(app: Any) -> list[BaseRoute]:
    pages = ApprovalPages(app)
    # any signed-in account: who may decide is checked per hold (a tutor need not be a reviewer)
    return [
        Route("/m/{id}/approval", app.page(None, pages.from_message_page), methods=["POST"]),
        Route("/approval/{token}", app.page(None, pages.link_get), methods=["GET"]),
        Route("/approval/{token}", app.page(None, pages.link_post), methods=["POST"]),
    ]

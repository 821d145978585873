"""Review UI pages for reviewers' feedback: per-term false-positive counts and the site allowlist (admins).

Kept out of quarantine/web/app.py: the app only mounts these routes. A term of a
safeguarding finding is a pupil's words, so those rows are shown only to
accounts with the SAFEGUARDING permission (the DSL, admins); adding such a term
also needs the "agreed with the DSL" box ticked, and every addition is audited.
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from quarantine.feedback import MAX_TERM_CHARS, Feedback, normal_term
from quarantine.users import Permission

DONE = {"added": "Added to the site allowlist. It takes effect when the gateway next starts.",
        "removed": "Removed from the site allowlist. It takes effect when the gateway next starts.",
        "exists": "That term is already on the site allowlist."}


class FeedbackPages:
    def __init__(self, app: Any) -> None:
        self.app = app  # quarantine.web.app.ReviewApp
        self.feedback = Feedback(app.store)

    async def page(self, request: Request, auth) -> Response:
        sg = auth.user.can(Permission.SAFEGUARDING)
        terms = await self.app.db(lambda: self.feedback.term_counts_sync(include_safeguarding=sg))
        allowed = await self.app.db(self.feedback.allowlist_sync)
        return self.app.render("feedback.html", request, auth, terms=terms, allowed=allowed,
                               done=DONE.get(request.query_params.get("done", ""), ""),
                               file=str(self.feedback.path))

    async def allow(self, request: Request, auth) -> Response:
        form = request.state.form
        term = normal_term(str(form.get("term", "")))
        reason = str(form.get("reason", "")).strip()[:500]
        if not term or len(term) < 2:
            return self.app.error(request, auth, 400, "No term", "Give the word or phrase to allow.")
        if len(str(form.get("term", ""))) > MAX_TERM_CHARS:
            return self.app.error(request, auth, 400, "Too long", f"A term is at most {MAX_TERM_CHARS} characters.")
        if not reason:
            return self.app.error(request, auth, 400, "A reason is needed",
                                  "Say why this term is not a problem here; the reason is kept in the audit log.")
        info = await self.app.db(self.feedback.term_info_sync, term)
        if info["safeguarding"]:
            if not auth.user.can(Permission.SAFEGUARDING):
                return self.app.error(request, auth, 403, "DSL only", "This term came from a safeguarding finding.")
            if form.get("dsl_agreed") != "yes":
                return self.app.error(request, auth, 400, "Agree it with the DSL first",
                                      "This term was marked on a safeguarding finding: allowing it means the "
                                      "filter stops reporting it. Tick the box to confirm the DSL agreed.")
        added = await self.app.db(self.feedback.add_sync, term, auth.user.name, reason, info["codes"])
        return RedirectResponse(f"/feedback?done={'added' if added else 'exists'}", status_code=303)

    async def remove(self, request: Request, auth) -> Response:
        form = request.state.form
        reason = str(form.get("reason", "")).strip()[:500] or "removed from the site allowlist"
        await self.app.db(self.feedback.remove_sync, str(form.get("term", "")), auth.user.name, reason)
        return RedirectResponse("/feedback?done=removed", status_code=303)


def feedback_routes(app: Any) -> list[BaseRoute]:
    pages = FeedbackPages(app)
    return [
        Route("/feedback", app.page(Permission.QUEUE, pages.page)),
        Route("/feedback/allow", app.page(Permission.USERS, pages.allow), methods=["POST"]),
        Route("/feedback/remove", app.page(Permission.USERS, pages.remove), methods=["POST"]),
    ]

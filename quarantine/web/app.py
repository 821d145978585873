"""The review web UI: a Starlette app factory. Server-rendered, works without JavaScript.

Every route names the permission it needs (quarantine.users.PERMISSIONS);
every POST carries the session's CSRF token; safeguarding holds need the
SAFEGUARDING permission and a stated reason before their content is shown.
No message content goes into URLs or logs.
"""
from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import json
import logging
import re
import secrets
import time
import zipfile
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from config.schema import Settings
from filters.base import SAFEGUARDING_CATEGORIES
from filters.tenancy import Tenancy
from quarantine.image_evidence import LOCKED_REFUSED, LOCKED_TEXT, POLICE_EXPORT, VIEW_IMAGE, police_export
from quarantine.links import LinkError, LinkSigner, LinkUsed, load_secret, spend_once
from quarantine.review import ReleaseError, release_from_store, school_address_test
from quarantine.review_store import SAFEGUARDING, TRUST_ENTRY, QueueQuery, ReviewStore, WebAction, is_safeguarding
from quarantine.store import HeldMessage, QuarantineStore, StoreError
from quarantine.users import TRUST_WIDE, Permission, Role, User, UserStore
from quarantine.redis_counters import CountersUnavailable
from quarantine.web.auth import LOGIN_COOKIE, SESSION_COOKIE, Auth, Sessions, login_limiter
from quarantine.web.approval import approval_routes
from quarantine.web.feedback import feedback_routes
from quarantine.web.render import attachment_bytes, render_message
from quarantine.web.wording import merge_evidence, plain
from quarantine.access import AccessDenied, AccessRule, Actor, Need, with_school_rules

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
ID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,39}$")

# No inline script or style anywhere, no remote anything: held mail cannot run or fetch.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]

DESTRUCTIVE = {"release", "release_allow", "delete", "block", "approve_request"}
DONE_TEXT = {
    "released": "Released to the recipients.", "deleted": "Deleted.", "noted": "Note added.",
    "escalated": "Escalated to the DSL.", "fp": "Marked as a false positive.", "blocked": "Sender blocked.",
    "acked": "Alert acknowledged.", "declined": "Release request declined.", "seen": "Marked as seen.",
    "allowed": "Released, and the sender is now allowed.",
    "library": "Added to the chain-letter library (a fingerprint, not the text).",
    "case": "Case saved.",
}
BULK_ERRORS = {
    "reason": "Release and delete need a reason and the confirmation box ticked. Your ticks are kept.",
    "none": "Tick one or more messages first.",
    "action": "Choose mark seen, release or delete.",
}
ADMIN_DONE = {
    "user_add": "Account added.", "user_disable": "Account disabled; its sessions ended.",
    "user_enable": "Account enabled.", "user_passwd": "Password reset; the account's sessions ended.",
    "user_role": "Role changed.", "sender_add": "List entry saved.", "sender_remove": "List entry removed.",
}
ROLE_HOME = {Role.ADMIN: "/queue", Role.REVIEWER: "/queue", Role.DSL: "/queue", Role.HEAD: "/counts",
             Role.AUDITOR: "/audit", Role.TRUST_DSL: "/queue", Role.TRUST_IT: "/queue", Role.TRUST_CEO: "/counts"}


class SecurityHeaders:
    """Pure ASGI middleware: the security headers on every response, no-store on pages."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # a route that sets its own (stricter or content-specific) CSP keeps it
                own_csp = any(k.lower() == b"content-security-policy" for k, _ in headers)
                headers.extend(h for h in SECURITY_HEADERS if not (own_csp and h[0] == b"content-security-policy"))
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _fmt_time(ts: float | None) -> str:
    if not ts:
        return ""
    return datetime.fromtimestamp(ts, timezone.utc).astimezone().strftime("%d %b %Y %H:%M")


def _age(ts: float) -> str:
    seconds = max(0, time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"


def _parse_date(text: str | None, end: bool = False) -> float | None:
    if not text:
        return None
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d").astimezone()
    except ValueError:
        return None
    return day.timestamp() + (86400 if end else 0)


def _safe_next(path: str | None) -> str:
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@dataclass
class ReviewApp:
    settings: Settings
    store: QuarantineStore
    next_hop: Callable[[], Any]  # -> NextHop | None (the running gateway's)
    signer: LinkSigner
    notifier: Any = None  # quarantine.notify.Notifier
    escalator: Any = None  # quarantine.escalation.Escalator

    def __post_init__(self) -> None:
        web = self.settings.web
        self.review = ReviewStore(self.store)
        self.tenancy = Tenancy.from_settings(self.settings)  # [[schools]] (docs/trust.md)
        self.rule = AccessRule(web, self.review, self.tenancy)  # every content path asks it (quarantine/access.py)
        self.users = UserStore.for_settings(self.store.engine, web)
        self.sessions = Sessions(self.store.engine, web.session_idle_minutes * 60, web.session_max_hours * 3600)
        self.limiter = login_limiter(self.settings)
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"),
                               autoescape=select_autoescape(default=True, default_for_string=True))
        self.env.filters["time"] = _fmt_time
        self.env.filters["age"] = _age
        self.env.filters["plain"] = plain
        self.env.filters["merge_evidence"] = merge_evidence
        self.env.globals["procedure_url"] = self.settings.web.safeguarding_procedure_url
        self.env.globals["SAFEGUARDING"] = SAFEGUARDING
        self.env.globals["school"] = self.settings.school.name
        # a trust's message page names the school(s) a hold belongs to (docs/trust.md)
        self.env.globals["school_names"] = ({s.id: s.name for s in self.tenancy.schools}
                                            if self.tenancy.is_trust else {})
        self.env.globals["sso_providers"] = [(p.name, p.label or p.name) for p in web.sso]
        self.sso = None
        if web.sso:
            from quarantine.web.oidc import SsoLogin

            self.sso = SsoLogin({p.name: p for p in web.sso}, self.users,
                                load_secret(Path(self.settings.quarantine.path), self.store), web.base_url,
                                self.secure, self.start_session, self.login_error, self.db)

    # -- plumbing ------------------------------------------------------------------
    async def db(self, fn, *args):
        return await self.store.run(fn, *args)

    def render(self, name: str, request: Request, auth: Auth | None, status: int = 200, **ctx: Any) -> HTMLResponse:
        user = auth.user if auth else None
        html = self.env.get_template(name).render(
            request=request, user=user, csrf=auth.csrf if auth else "", P=Permission,
            can=(lambda p: user is not None and user.can(p)), path=request.url.path, **ctx)
        return HTMLResponse(html, status_code=status)

    def secure(self, request: Request) -> bool:
        mode = self.settings.web.secure_cookies
        return mode == "always" or (mode == "auto" and (
            request.url.scheme == "https" or self.settings.web.base_url.startswith("https://")))

    def page(self, permission: Permission | None, fn: Callable[[Request, Auth], Awaitable[Response]]):
        async def endpoint(request: Request) -> Response:
            auth = await self.db(self.sessions.lookup, request.cookies.get(SESSION_COOKIE))
            if auth is not None:
                auth = replace(auth, user=with_school_rules(auth.user, self.settings.web))
            if auth is None:
                if request.method == "GET":
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
                return RedirectResponse("/login", status_code=303)
            if permission is not None and not auth.user.can(permission):
                return self.render("error.html", request, auth, 403, title="Not for your role",
                                   text="Your account's role does not include this page.")
            if request.method == "POST":
                form = await request.form()
                if not hmac.compare_digest(str(form.get("csrf", "")), auth.csrf):
                    return self.render("error.html", request, auth, 403, title="Form expired",
                                       text="This form is out of date. Go back, reload the page and try again.")
                request.state.form = form
            return await fn(request, auth)
        return endpoint

    def scope(self, auth: Auth) -> tuple[str, ...] | None:
        """The schools this account sees (quarantine/access.py); None: every school."""
        return self.rule.scope(Actor(auth.user, "web"))

    def error(self, request: Request, auth: Auth | None, status: int, title: str, text: str) -> HTMLResponse:
        return self.render("error.html", request, auth, status, title=title, text=text)

    async def load(self, request: Request, auth: Auth, message_id: str,
                   need: Need = Need.METADATA) -> HeldMessage | Response:
        """The held message if this user may have `need` of it (quarantine/access.py), else the error page."""
        if not ID_RE.match(message_id):
            return self.error(request, auth, 404, "Not found", "There is no held message with that id.")
        try:
            held = await self.store.get(message_id)
        except StoreError:
            return self.error(request, auth, 404, "Not found", "There is no held message with that id.")
        try:
            await self.db(self.rule.check, Actor(auth.user, "web"), held, need, auth.session_hash)
        except AccessDenied as exc:
            return self.error(request, auth, exc.status, exc.title, str(exc))
        return held

    # -- login -------------------------------------------------------------------------
    async def login_get(self, request: Request) -> Response:
        token = secrets.token_urlsafe(24)
        response = self.render("login.html", request, None, csrf_login=token,
                               next=_safe_next(request.query_params.get("next")), message="")
        response.set_cookie(LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                            secure=self.secure(request), path="/login")
        return response

    async def login_post(self, request: Request) -> Response:
        form = await request.form()
        name = str(form.get("username", "")).strip()[:64]
        password = str(form.get("password", ""))[:1024]
        nxt = _safe_next(str(form.get("next", "")))
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        address = request.client.host if request.client else "?"

        def again(message: str, status: int) -> Response:
            token = secrets.token_urlsafe(24)
            response = self.render("login.html", request, None, status, csrf_login=token, next=nxt,
                                   message=message, username=name)
            response.set_cookie(LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                                secure=self.secure(request), path="/login")
            return response

        if not cookie or not hmac.compare_digest(str(form.get("csrf", "")), cookie):
            return again("The login form expired. Please try again.", 403)
        try:
            blocked = await self.limiter.blocked(name, address)
        except CountersUnavailable as exc:  # fail closed: a password we cannot rate-limit is not checked
            log.error("login refused: %s", exc)
            return again("Logins cannot be checked just now. Try again in a few minutes.", 503)
        if blocked:
            return again("Too many failed attempts. Wait a few minutes and try again.", 429)
        user = await asyncio.get_running_loop().run_in_executor(None, self.users.authenticate, name, password)
        if user is None:
            await self.limiter.failed(name, address)
            await self.db(self.review.audit, name or "?", WebAction.LOGIN_FAILED, None, "", {"address": address})
            return again("That name and password do not match an active account.", 401)
        await self.limiter.succeeded(name)
        response = await self.start_session(user, request, "password", nxt)
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    async def start_session(self, user: Any, request: Request, via: str, nxt: str) -> Response:
        """A signed-in user (password or single sign-on): session, audit row, redirect home."""
        address = request.client.host if request.client else "?"
        token = await self.db(self.sessions.create, user)
        await self.db(self.review.audit, user.name, WebAction.LOGIN, None, "", {"address": address, "via": via})
        nxt = _safe_next(nxt)
        target = nxt if nxt != "/" else ROLE_HOME[user.role]
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=self.secure(request),
                            path="/")
        return response

    def login_error(self, request: Request, message: str, status: int) -> Response:
        token = secrets.token_urlsafe(24)
        response = self.render("login.html", request, None, status, csrf_login=token, next="/", message=message)
        response.set_cookie(LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                            secure=self.secure(request), path="/login")
        return response

    async def logout(self, request: Request, auth: Auth) -> Response:
        await self.db(self.sessions.destroy, auth.session_hash)
        await self.db(self.review.audit, auth.user.name, WebAction.LOGOUT, None)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def home(self, request: Request, auth: Auth) -> Response:
        return RedirectResponse(ROLE_HOME[auth.user.role], status_code=303)

    # -- queue -----------------------------------------------------------------------------
    def _query(self, request: Request, auth: Auth) -> tuple[QueueQuery, dict[str, str]]:
        p = request.query_params
        args = {k: p.get(k, "").strip() for k in ("sender", "recipient", "subject", "since", "until", "category",
                                                  "status", "direction", "sort", "view", "school")}
        if "status" not in p:
            args["status"] = "held"
        sg = auth.user.can(Permission.SAFEGUARDING)
        q = QueueQuery(status=args["status"] or None, category=args["category"] or None,
                       sender=args["sender"] or None, recipient=args["recipient"] or None,
                       subject=args["subject"] or None, since=_parse_date(args["since"]),
                       until=_parse_date(args["until"], end=True), direction=args["direction"] or None,
                       # the DSL's queue is ordered by risk level (docs/safeguarding.md)
                       sort=args["sort"] or ("level" if sg else "newest"), page=max(1, _int(p.get("page"), 1)),
                       per_page=self.settings.web.page_size, include_safeguarding=sg,
                       only_safeguarding=sg and args["view"] == "safeguarding", schools=self._schools(auth, args))
        return q, args

    def _schools(self, auth: Auth, args: dict[str, str]) -> tuple[str, ...] | None:
        """The account's schools, narrowed to ?school=ID when that is one of them (never widened)."""
        scope = self.scope(auth)
        chosen = args.get("school", "")
        if chosen and (scope is None or chosen in scope):
            return (chosen,)
        return scope

    async def queue(self, request: Request, auth: Auth) -> Response:
        q, args = self._query(request, auth)
        sg = auth.user.can(Permission.SAFEGUARDING)
        rows, total = await self.db(self.review.queue_sync, q, auth.user.name)
        schools = self.scope(auth)
        counts = await self.db(lambda: self.review.category_counts_sync(status="held", include_safeguarding=sg,
                                                                        schools=schools))
        open_alerts = len(await self.db(lambda: self.review.alerts_sync(open_only=True, schools=schools))) if sg else 0
        pages = max(1, (total + q.per_page - 1) // q.per_page)
        base = {k: v for k, v in args.items() if v}

        def link(**change: Any) -> str:
            merged = {**base, **{k: str(v) for k, v in change.items()}}
            if "status" not in merged:
                merged["status"] = ""
            return "/queue?" + urlencode({k: v for k, v in merged.items() if v or k == "status"})

        done = DONE_TEXT.get(request.query_params.get("done", ""), "")
        selected = set(request.query_params.getlist("sel"))
        bulk_error = BULK_ERRORS.get(request.query_params.get("bulk", ""), "")
        back = urlencode([(k, v) for k, v in request.query_params.multi_items() if k not in ("sel", "bulk", "done")])
        return self.render("queue.html", request, auth, rows=rows, total=total, q=q, args=args, counts=counts,
                           selected=selected, bulk_error=bulk_error, back=back,
                           pages=pages, link=link, done=done, open_alerts=open_alerts, sg=sg,
                           categories=sorted({*counts, *SAFEGUARDING} if sg else set(counts)))

    async def bulk(self, request: Request, auth: Auth) -> Response:
        form = request.state.form
        ids = [i for i in form.getlist("id") if ID_RE.match(str(i))][:500]
        action = str(form.get("action", ""))
        reason = str(form.get("reason", "")).strip()
        if not ids:
            return self._back_to_queue(form, ids, "none")
        if action == "mark_seen":
            await self.db(self.review.mark_seen_sync, ids, auth.user.name)
            for mid in ids:
                await self.db(self.review.audit, auth.user.name, WebAction.MARK_SEEN, mid)
            return RedirectResponse("/queue?done=seen", status_code=303)
        if action not in ("release", "delete"):
            return self._back_to_queue(form, ids, "action")
        if not reason or form.get("confirm") != "yes":
            # back to the same queue page with the same boxes ticked and the problem beside the buttons
            return self._back_to_queue(form, ids, "reason")
        results = []
        for mid in ids:
            held = await self.load(request, auth, mid)
            if isinstance(held, Response):
                results.append((mid, False, "not available to your role"))
                continue
            if is_safeguarding(held.categories):  # each one is opened and decided on its own
                results.append((mid, False, "safeguarding holds are decided one by one"))
                continue
            try:
                if action == "release":
                    await self._release(held.id, None, auth, reason)
                else:
                    await self.db(self.store.delete_sync, held.id, self.actor(auth), reason)
                results.append((mid, True, "done"))
            except (ReleaseError, StoreError) as exc:
                results.append((mid, False, str(exc)))
        return self.render("bulk.html", request, auth, action=action, results=results,
                           ok=sum(1 for r in results if r[1]))

    @staticmethod
    def _back_to_queue(form, ids: list[str], problem: str) -> Response:
        from urllib.parse import parse_qsl

        back = [(k, v) for k, v in parse_qsl(str(form.get("back", ""))[:2000])
                if k not in ("sel", "bulk", "done")]
        query = urlencode(back + [("sel", i) for i in ids] + [("bulk", problem)])
        return RedirectResponse(f"/queue?{query}#bulk", status_code=303)

    @staticmethod
    def actor(auth: Auth) -> str:
        # the person's account name: reports map it to the role they hold (quarantine/report_data.py)
        return auth.user.name

    async def _release(self, message_id: str, recipients: list[str] | None, auth: Auth, reason: str) -> dict:
        hop = self.next_hop()
        if hop is None:
            raise ReleaseError("no next hop is configured: nowhere to release to")
        return await release_from_store(self.store, hop, message_id, recipients=recipients,
                                        actor=self.actor(auth), reason=reason,
                                        findings_header=self.settings.quarantine.release_findings_header,
                                        detail={"role": str(auth.user.role), "via": "web"},
                                        is_internal=school_address_test(self.settings.school.domains))

    # -- message ----------------------------------------------------------------------------
    async def message(self, request: Request, auth: Auth) -> Response:
        held = await self.load(request, auth, request.path_params["id"])
        if isinstance(held, Response):
            return held
        sg = is_safeguarding(held.categories)
        granted = await self.db(self.rule.opened, Actor(auth.user, "web"), held, auth.session_hash)
        rendered = None
        if held.path:
            raw = await self.db(self.store.raw_sync, held)
            rendered = await asyncio.get_running_loop().run_in_executor(
                None, lambda: render_message(raw, held.mail_from, list(held.recipients), held.findings,
                                             show_body=granted))
        history = await self.db(self.store.audit_sync, held.id)
        notes = await self.db(self.review.notes_sync, held.id)
        fps = {r["code"] for r in await self.db(self.review.false_positives_sync, held.id)}
        requests = await self.db(self.review.release_requests_sync, held.id)
        alerts = await self.db(lambda: self.review.alerts_sync(held.id))
        sender_list = await self.db(self.review.sender_status_sync, held.mail_from, held.school_id)
        case = None
        if auth.user.can(Permission.SAFEGUARDING):
            from quarantine.cases import Cases, is_case
            if is_case(held.categories, held.level):  # a DSL alert: safeguarding, or level 4-5
                case = await self.db(Cases(self.review).get_sync, held.id)
        await self.db(self.review.mark_seen_sync, [held.id], auth.user.name)
        done = DONE_TEXT.get(request.query_params.get("done", ""), "")
        return self.render("message.html", request, auth, m=held, r=rendered, sg=sg, granted=granted,
                           history=history, notes=notes, fps=fps, requests=requests, alerts=alerts,
                           sender_list=sender_list, done=done, case=case, locked=held.locked,
                           locked_text=LOCKED_TEXT,
                           held_rcpts=[a for a, i in held.recipients.items() if i["status"] == "held"],
                           open_alerts=[a for a in alerts if not a["acked_at"]])

    async def open_safeguarding(self, request: Request, auth: Auth) -> Response:
        held = await self.load(request, auth, request.path_params["id"])
        if isinstance(held, Response):
            return held
        reason = str(request.state.form.get("reason", "")).strip()
        try:
            await self.db(self.rule.open, Actor(auth.user, "web"), held, reason, auth.session_hash)
        except AccessDenied as exc:
            return self.error(request, auth, exc.status, exc.title, str(exc))
        return RedirectResponse(f"/m/{held.id}#content", status_code=303)

    async def act(self, request: Request, auth: Auth) -> Response:
        held = await self.load(request, auth, request.path_params["id"])
        if isinstance(held, Response):
            return held
        form = request.state.form
        action = str(form.get("action", ""))
        reason = str(form.get("reason", "")).strip()[:2000]
        if action in DESTRUCTIVE and (not reason or form.get("confirm") != "yes"):
            return self.error(request, auth, 400, "Reason and confirmation needed",
                              "This action needs a reason and the confirmation box ticked. Go back and add them.")
        sg = is_safeguarding(held.categories)
        if action in DESTRUCTIVE or action == "false_positive":
            try:
                await self.db(self.rule.check, Actor(auth.user, "web"), held, Need.DECIDE, auth.session_hash)
            except AccessDenied as exc:
                return self.error(request, auth, exc.status, exc.title, str(exc))
        if sg and action == "release_allow":
            return self.error(request, auth, 400, "Not for safeguarding holds",
                              "The sender of a safeguarding hold cannot be put on the allow list.")
        done = ""
        try:
            if action in ("release", "release_allow", "approve_request"):
                chosen = [str(a).lower() for a in form.getlist("recipient")] or None
                await self._release(held.id, chosen, auth, reason)
                if action == "release_allow":
                    await self.db(self.review.set_sender_list_sync, held.mail_from, "allow", auth.user.name,
                                  reason, held.id, None, self._entry_school_for(auth, held))
                if action == "approve_request":
                    await self.db(self.review.decide_requests_sync, held.id, "approved", auth.user.name)
                done = "allowed" if action == "release_allow" else "released"
            elif action == "delete":
                await self.db(self.store.delete_sync, held.id, self.actor(auth), reason)
                done = "deleted"
            elif action == "block":
                await self.db(self.review.set_sender_list_sync, held.mail_from, "block", auth.user.name, reason,
                              held.id, None, self._entry_school_for(auth, held))
                done = "blocked"
            elif action == "escalate":
                await self.db(self.review.audit, auth.user.name, WebAction.ESCALATE, held.id, reason)
                if self.notifier is not None:
                    await self.notifier.alert_dsl(held.id, why="escalated")
                else:
                    await self.db(self.review.add_alert_sync, held.id, "escalated")
                done = "escalated"
            elif action == "note":
                text = str(form.get("text", "")).strip()[:4000]
                if not text:
                    return self.error(request, auth, 400, "Empty note", "Write the note first.")
                await self.db(self.review.add_note_sync, held.id, auth.user.name, text)
                done = "noted"
            elif action == "false_positive":
                code = str(form.get("code", ""))
                if code not in held.codes:
                    return self.error(request, auth, 400, "Unknown finding", "That finding is not on this message.")
                await self.db(self.review.mark_false_positive_sync, held.id, code, auth.user.name, reason)
                done = "fp"
            elif action == "ack":
                if not auth.user.can(Permission.SAFEGUARDING):
                    return self.error(request, auth, 403, "DSL only", "Only a DSL can acknowledge an alert.")
                await self.db(self.review.ack_alerts_sync, held.id, auth.user.name)
                done = "acked"
            elif action == "decline_request":
                await self.db(self.review.decide_requests_sync, held.id, "declined", auth.user.name)
                await self.db(self.review.audit, auth.user.name, WebAction.DECLINE_REQUEST, held.id, reason)
                done = "declined"
            else:
                return self.error(request, auth, 400, "Unknown action", "That action is not known.")
        except (ReleaseError, StoreError, ValueError) as exc:
            return self.error(request, auth, 409, "Not done", str(exc))
        return RedirectResponse(f"/m/{held.id}?done={done}", status_code=303)

    async def add_chain_letter(self, request: Request, auth: Auth) -> Response:
        """"This is a chain letter: add to the library": a fingerprint of the held message
        (hashes, never the text) joins the reviewers' library the chain-letter filter reads; audited."""
        from filters.chain_letter_library import add_reviewed_message

        held = await self.load(request, auth, request.path_params["id"])
        if isinstance(held, Response):
            return held
        reason = str(request.state.form.get("reason", "")).strip()[:500]
        if is_safeguarding(held.categories) or not held.path:
            return self.error(request, auth, 400, "Not for this message",
                              "Only a stored, non-safeguarding hold can be added to the chain-letter library.")
        if not reason:
            return self.error(request, auth, 400, "A reason is needed",
                              "Say why this is a chain letter; the reason is kept in the audit log.")
        raw = await self.db(self.store.raw_sync, held)
        path = await asyncio.get_running_loop().run_in_executor(
            None, add_reviewed_message, Path(self.settings.quarantine.path), held.id, raw)
        if path is None:
            return self.error(request, auth, 400, "Too short", "This message is too short to fingerprint.")
        await self.db(self.review.audit, auth.user.name, "chain_letter_library_add", held.id, reason,
                      {"library": path.name})
        return RedirectResponse(f"/m/{held.id}?done=library", status_code=303)

    async def _attachment(self, request: Request, auth: Auth, what: str,
                          needs: str) -> tuple[HeldMessage, int, str, str, bytes] | Response:
        """The attachment a download or an image view asks for, after every check both make in
        the same order: a locked hold refuses first (audited, reason or not), then a reason is
        needed (`needs` says for what), then a safeguarding hold's reasoned open, then the
        content must still be kept. The hold, index, reason, file name and bytes, or the refusal."""
        held = await self.load(request, auth, request.path_params["id"])
        if isinstance(held, Response):
            return held
        form = request.state.form
        reason = str(form.get("reason", "")).strip()
        index = _int(form.get("index"), -1)
        if denied := await self._locked(request, auth, held, what, reason):
            return denied
        if not reason:
            return self.error(request, auth, 400, "A reason is needed", f"{needs} needs a reason.")
        if denied := await self._needs_open(request, auth, held):
            return denied
        if not held.path:
            return self.error(request, auth, 410, "Gone", "The content of this message is no longer kept.")
        raw = await self.db(self.store.raw_sync, held)
        try:
            name, data = attachment_bytes(raw, held.mail_from, list(held.recipients), index)
        except IndexError:
            return self.error(request, auth, 404, "Not found", "No such attachment.")
        return held, index, reason, name, data

    async def download(self, request: Request, auth: Auth) -> Response:
        found = await self._attachment(request, auth, "download", "Downloading an attachment")
        if isinstance(found, Response):
            return found
        held, index, reason, name, data = found
        await self.db(self.review.audit, auth.user.name, WebAction.DOWNLOAD, held.id, reason[:500],
                      {"index": index, "sha256": hashlib.sha256(data).hexdigest()})
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "attachment"
        # octet-stream + attachment + nosniff: the browser saves it, never renders it
        return Response(data, media_type="application/octet-stream",
                        headers={"content-disposition": f'attachment; filename="{safe}"'})

    async def bundle(self, request: Request, auth: Auth) -> Response:
        held = await self.load(request, auth, request.path_params["id"])
        if isinstance(held, Response):
            return held
        reason = str(request.state.form.get("reason", "")).strip()
        if not reason:
            return self.error(request, auth, 400, "A reason is needed", "Exporting evidence needs a reason.")
        if denied := await self._needs_open(request, auth, held):
            return denied
        if held.locked:  # hashes only: no .eml, no image (quarantine/image_evidence.py)
            await self.db(self.review.audit, auth.user.name, POLICE_EXPORT, held.id, reason[:500])
            data = await self.db(self._police_export_sync, held)
            return Response(data, media_type="application/zip",
                            headers={"content-disposition": f'attachment; filename="police-hashes-{held.id}.zip"'})
        await self.db(self.review.audit, auth.user.name, WebAction.EXPORT, held.id, reason[:500])
        data = await self.db(self._bundle_sync, held)
        return Response(data, media_type="application/zip",
                        headers={"content-disposition": f'attachment; filename="evidence-{held.id}.zip"'})

    def _police_export_sync(self, held: HeldMessage) -> bytes:
        raw = self.store.raw_sync(held) if held.path else None
        return police_export(raw, held, self.store.audit_sync(held.id), _audit_csv)

    async def _locked(self, request: Request, auth: Auth, held: HeldMessage, what: str,
                      reason: str = "") -> Response | None:
        """A locked hold's images leave for nobody, the DSL included; each refusal is audited."""
        if not held.locked:
            return None
        await self.db(self.review.audit, auth.user.name, LOCKED_REFUSED, held.id, reason[:500], {"asked": what})
        return self.error(request, auth, 403, "Locked hold", LOCKED_TEXT)

    async def show_image(self, request: Request, auth: Auth) -> Response:
        """One image attachment, shown only on an explicit click with a reason, audited; never
        for a locked hold, and for a safeguarding hold only after its reasoned open."""
        found = await self._attachment(request, auth, "show_image", "Showing an image")
        if isinstance(found, Response):
            return found
        held, index, reason, _, data = found
        from filters.image_parts import image_type

        kind = image_type(data)
        if kind not in ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"):
            return self.error(request, auth, 415, "Not an image", "That attachment is not an image a browser shows.")
        await self.db(self.review.audit, auth.user.name, VIEW_IMAGE, held.id, reason[:500],
                      {"index": index, "sha256": hashlib.sha256(data).hexdigest()})
        # the bytes' own type (never the declared one), inline, with a CSP that lets nothing else load
        return Response(data, media_type=kind, headers={
            "content-disposition": "inline", "content-security-policy": "default-src 'none'; img-src 'self'"})

    async def _needs_open(self, request: Request, auth: Auth, held: HeldMessage) -> Response | None:
        """A safeguarding hold's content (attachments, evidence bundle) leaves only after the
        reasoned open, as on the message page: the open is what puts the why in the audit log."""
        try:
            await self.db(self.rule.check, Actor(auth.user, "web"), held, Need.CONTENT, auth.session_hash)
        except AccessDenied as exc:
            return self.error(request, auth, 403, exc.title, str(exc))
        return None

    def _bundle_sync(self, held: HeldMessage) -> bytes:
        raw = self.store.raw_sync(held) if held.path else b""
        history = self.store.audit_sync(held.id)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            if raw:
                z.writestr(f"{held.id}.eml", raw)
            z.writestr("sha256.txt",
                       (f"{hashlib.sha256(raw).hexdigest()}  {held.id}.eml\n" if raw else "") +
                       f"{held.sha256}  original message as received (before gateway headers)\n")
            z.writestr("message.json", json.dumps(held.as_dict(), indent=2))
            z.writestr("findings.json", json.dumps([f.as_dict() for f in held.findings], indent=2))
            z.writestr("audit.json", json.dumps(history, indent=2))
            z.writestr("audit.csv", _audit_csv(history))
            z.writestr("notes.json", json.dumps(self.review.notes_sync(held.id), indent=2))
        return buf.getvalue()

    # -- digest links and release requests ---------------------------------------------------
    async def link_get(self, request: Request, auth: Auth) -> Response:
        try:
            link = self.signer.read(request.path_params["token"])
        except LinkError as exc:
            return self.error(request, auth, 400, "Link not valid", str(exc))
        if link.action == "alert":
            return RedirectResponse(f"/m/{link.message_id}", status_code=303)
        if link.action not in ("release", "delete"):
            return self.error(request, auth, 400, "Link not valid", "This link is not valid.")
        if await self.db(self.review.token_used_sync, link.jti):
            return self.error(request, auth, 410, "Link already used", "This link has been used already.")
        held = await self.load(request, auth, link.message_id)
        if isinstance(held, Response):
            return held
        return self.render("link.html", request, auth, m=held, link=link, token=request.path_params["token"])

    async def link_post(self, request: Request, auth: Auth) -> Response:
        try:
            link = self.signer.read(request.path_params["token"])
        except LinkError as exc:
            return self.error(request, auth, 400, "Link not valid", str(exc))
        held = await self.load(request, auth, link.message_id, Need.DECIDE)
        if isinstance(held, Response):
            return held
        form = request.state.form
        reason = str(form.get("reason", "")).strip() or "from the digest"
        if form.get("confirm") != "yes" or link.action not in ("release", "delete"):
            return self.error(request, auth, 400, "Confirmation needed", "Tick the confirmation box.")
        try:
            # the token is spent only if the release or delete succeeds: a next hop
            # that refused must not leave the reviewer with a dead link
            async with spend_once(self.review, link.jti):
                if link.action == "release":
                    await self._release(held.id, None, auth, reason)
                else:
                    await self.db(self.store.delete_sync, held.id, self.actor(auth), reason)
        except LinkUsed:
            return self.error(request, auth, 410, "Link already used", "This link has been used already.")
        except (ReleaseError, StoreError) as exc:
            return self.error(request, auth, 409, "Not done", f"{exc} The link can be used again.")
        return RedirectResponse(f"/m/{held.id}?done={'released' if link.action == 'release' else 'deleted'}",
                                status_code=303)

    async def request_page(self, request: Request) -> Response:
        """A sender asks for their held mail to be released (no login: the signed link is the key)."""
        try:
            link = self.signer.read(request.path_params["token"])
            if link.action != "request":
                raise LinkError("This link is not valid.")
        except LinkError as exc:
            return self.render("error.html", request, None, 400, title="Link not valid", text=str(exc))
        try:
            held = await self.store.get(link.message_id)
        except StoreError:
            return self.render("error.html", request, None, 404, title="Not found", text="This message is gone.")
        if is_safeguarding(held.categories) or held.status != "held":
            return self.render("error.html", request, None, 410, title="Nothing to request",
                               text="This message is no longer waiting for review.")
        if request.method == "GET":
            used = await self.db(self.review.token_used_sync, link.jti)
            return self.render("request.html", request, None, m=held, used=used, sent=False)
        form = await request.form()
        reason = str(form.get("reason", "")).strip()[:2000]
        if not reason:
            return self.render("request.html", request, None, 400, m=held, used=False, sent=False,
                               message="Please say why the message should be sent.")
        if not await self.db(self.review.use_token_sync, link.jti):
            return self.render("request.html", request, None, 410, m=held, used=True, sent=False)
        await self.db(self.review.add_release_request_sync, held.id, link.who or held.mail_from, reason)
        return self.render("request.html", request, None, m=held, used=False, sent=True)

    async def ack_page(self, request: Request) -> Response:
        """The acknowledge link of an escalation mail/SMS (quarantine/escalation.py). No login: the
        signed link is the key, and it shows no content. GET only asks (link previewers and SMS
        apps fetch links); the POST acknowledges, audited under the contact's name."""
        token = request.path_params["token"]
        try:
            link = self.signer.read(token)
            if link.action != "ack":
                raise LinkError("This link is not valid.")
        except LinkError as exc:
            return self.render("error.html", request, None, 400, title="Link not valid", text=str(exc))
        try:
            held = await self.store.get(link.message_id)
        except StoreError:
            return self.render("error.html", request, None, 404, title="Not found", text="This alert is gone.")
        who = link.who or "escalation contact"
        ctx = dict(token=token, who=who, level=held.level, message_id=held.id)
        if request.method == "GET":
            return self.render("ack.html", request, None, acked=False, **ctx)
        if self.escalator is not None:
            await self.escalator.acknowledge(held.id, who, "acknowledge link")
        else:  # a web UI without the gateway's escalator: the alert row is what the tree reads
            await self.db(self.review.ack_alerts_sync, held.id, who[:64])
            await self.db(self.review.audit, who[:64], "escalation_ack", held.id, "acknowledge link")
        return self.render("ack.html", request, None, acked=True, **ctx)

    # -- audit, counts, admin ----------------------------------------------------------------
    def _audit_filters(self, request: Request) -> tuple[dict, dict[str, str]]:
        p = request.query_params
        args = {k: p.get(k, "").strip() for k in ("actor", "action", "message", "since", "until")}
        return dict(actor=args["actor"] or None, action=args["action"] or None, message_id=args["message"] or None,
                    since=_parse_date(args["since"]), until=_parse_date(args["until"], end=True)), args

    async def audit_page(self, request: Request, auth: Auth) -> Response:
        filters, args = self._audit_filters(request)
        page = max(1, _int(request.query_params.get("page"), 1))
        per = 100
        rows, total = await self.db(lambda: self.review.audit_query_sync(**filters, limit=per,
                                                                         offset=(page - 1) * per,
                                                                         schools=self.scope(auth)))
        actions = await self.db(self.review.audit_actions_sync)
        query = urlencode({k: v for k, v in args.items() if v})
        return self.render("audit.html", request, auth, rows=rows, total=total, args=args, actions=actions,
                           page=page, pages=max(1, (total + per - 1) // per), query=query)

    async def audit_csv(self, request: Request, auth: Auth) -> Response:
        filters, _ = self._audit_filters(request)
        rows, _ = await self.db(lambda: self.review.audit_query_sync(**filters, limit=1_000_000,
                                                                     schools=self.scope(auth)))
        await self.db(self.review.audit, auth.user.name, "audit_export", None, "", {"rows": len(rows)})
        return Response(_audit_csv(list(reversed(rows))), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": 'attachment; filename="schoolgate-audit.csv"'})

    async def counts(self, request: Request, auth: Auth) -> Response:
        sc = self.scope(auth)  # a school's Head sees their school's counts (docs/trust.md)
        held = await self.db(lambda: self.review.category_counts_sync(status="held", include_safeguarding=True,
                                                                      schools=sc))
        every = await self.db(lambda: self.review.category_counts_sync(status=None, include_safeguarding=True,
                                                                       schools=sc))
        statuses = await self.db(self.review.status_counts_sync, sc)
        fps = await self.db(self.review.false_positive_counts_sync, sc)
        pending = len(await self.db(lambda: self.review.release_requests_sync(status="pending", schools=sc)))
        alerts = await self.db(lambda: self.review.alerts_sync(open_only=True, schools=sc))
        return self.render("counts.html", request, auth, held=held, every=every, statuses=statuses, fps=fps,
                           pending=pending, open_alerts=len(alerts))

    def _report_period(self, request: Request, now: datetime):
        """(period, kind, nav query parts) from ?period=week|month|term|day|custom, &ending=DATE
        (the last complete period ending on or before it), &current=1 (the one in progress),
        &from=&to= (custom). No parameters: this week so far, not last week's (often empty) one."""
        from datetime import timedelta

        from quarantine.report_data import PERIODS, PeriodError, custom_period, period_for

        p = request.query_params
        kind = p.get("period", "week")
        terms = self.settings.reports.terms
        tz = now.tzinfo
        if kind == "custom":
            try:
                first = datetime.strptime(p.get("from", ""), "%Y-%m-%d").date()
                last = datetime.strptime(p.get("to", ""), "%Y-%m-%d").date()
            except ValueError:
                raise PeriodError("custom period: give From and To as dates") from None
            return custom_period(first, last, tz), kind
        if kind not in PERIODS:
            kind = "week"
        if p.get("ending"):
            try:
                ending = datetime.strptime(p["ending"], "%Y-%m-%d").date()
            except ValueError:
                raise PeriodError("ending: give a date (2026-11-08)") from None
            at = datetime.combine(ending + timedelta(days=1), datetime.min.time(), tzinfo=tz)
            return period_for(kind, min(at, now), terms=terms), kind
        current = p.get("current") == "1" or "period" not in p
        return period_for(kind, now, terms=terms, current=current), kind

    def _report_nav(self, period, kind: str, now: datetime) -> str:
        from datetime import timedelta

        from quarantine.report_data import period_for

        day = timedelta(days=1)
        length = period.end - period.start
        last_day = (period.end - day).date()
        if kind == "custom":
            prev_q = urlencode({"period": "custom", "from": (period.start - length).date().isoformat(),
                                "to": (period.start - day).date().isoformat()})
            next_q = urlencode({"period": "custom", "from": period.end.date().isoformat(),
                                "to": (period.end + length - day).date().isoformat()}) if period.end <= now else ""
            this_q = urlencode({"period": "custom", "from": period.start.date().isoformat(),
                                "to": last_day.isoformat()})
        else:
            prev_q = urlencode({"period": kind, "ending": (period.start - day).date().isoformat()})
            if period.end >= now:  # the period in progress (it ends now): nothing after it yet
                next_q = ""
                this_q = urlencode({"period": kind, "current": "1"})
            else:
                # the last complete period before "one length on": the next one, if it is complete
                after = period_for(kind, min(period.end + length + day, now), terms=self.settings.reports.terms)
                next_q = urlencode({"period": kind, "current": "1"} if after.start <= period.start else
                                   {"period": kind, "ending": (after.end - day).date().isoformat()})
                this_q = urlencode({"period": kind, "ending": last_day.isoformat()})
        return self.env.get_template("report_nav.html").render(
            kind=kind, unit={"custom": "period"}.get(kind, kind), prev_q=prev_q, next_q=next_q, this_q=this_q,
            first=period.start.date().isoformat(), last=last_day.isoformat())

    async def _report_data(self, request: Request, auth: Auth, what: str):
        from quarantine.report_data import PeriodError
        from quarantine.reports import build_report, local_now

        now = local_now(self.settings)
        try:
            period, kind = self._report_period(request, now)
        except PeriodError as exc:
            return PlainTextResponse(f"{exc}", status_code=400), None, None, now
        data = await build_report(self.settings, self.store, period, now=now)
        await self.db(self.review.audit, auth.user.name, what, None, "", {"period": period.label})
        return None, data, kind, now

    async def trust_report(self, request: Request, auth: Auth) -> Response:
        """/trust-report(.csv|.pdf): the schools compared (quarantine/trust_report.py); an account
        scoped to schools gets its own schools' report, trust-wide roles every school and the total."""
        from quarantine.report_data import PeriodError
        from quarantine.reports import local_now
        from quarantine.trust_report import gather_trust_sync, render_trust

        now = local_now(self.settings)
        try:
            period, _ = self._report_period(request, now)
        except PeriodError as exc:
            return PlainTextResponse(f"{exc}", status_code=400)
        schools = self.scope(auth)
        report = await self.db(lambda: gather_trust_sync(self.store.engine, period, self.tenancy, schools=schools,
                                                         now=now))
        fmt = request.url.path.rpartition(".")[2] if "." in request.url.path else "html"
        await self.db(self.review.audit, auth.user.name, "trust_report_view", None, "",
                      {"period": period.label, "format": fmt, "schools": list(schools or ["*"])})
        if fmt == "html":
            return HTMLResponse(render_trust(report, "html").decode(), headers={
                "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                           "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"})
        body = await asyncio.get_running_loop().run_in_executor(None, render_trust, report, fmt)
        return Response(body, media_type="application/pdf" if fmt == "pdf" else "text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="schoolgate-trust-'
                                                        f'{period.start:%Y-%m-%d}.{fmt}"'})

    async def report(self, request: Request, auth: Auth) -> Response:
        """The Head of Centre's report for a period: counts only, never mail content.
        The report's HTML carries its own inline styles and SVG charts, so it gets a
        CSP of its own: still no scripts and nothing remote."""
        from quarantine.report_render import render_html

        if self.scope(auth) is not None:  # a school's account in a trust: its own school's report
            return await self.trust_report(request, auth)

        error, data, kind, now = await self._report_data(request, auth, "report_view")
        if error is not None:
            return error
        nav = self._report_nav(data.period, kind, now)
        return HTMLResponse(render_html(data, nav=nav).html, headers={
            "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"})

    async def report_download(self, request: Request, auth: Auth) -> Response:
        """/report.pdf and /report.csv: the same period as the page, as a file."""
        from quarantine.report_render import render_csv, render_pdf

        pdf = request.url.path.endswith(".pdf")
        if self.scope(auth) is not None:  # the full report is trust-wide (docs/trust.md)
            return await self.trust_report(request, auth)
        error, data, _, _ = await self._report_data(request, auth, "report_download")
        if error is not None:
            return error
        name = f"schoolgate-report-{data.period.start:%Y-%m-%d}"
        if pdf:
            body = await asyncio.get_running_loop().run_in_executor(None, render_pdf, data)
            return Response(body, media_type="application/pdf",
                            headers={"content-disposition": f'attachment; filename="{name}.pdf"'})
        return Response(render_csv(data), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{name}.csv"'})

    async def admin(self, request: Request, auth: Auth, status: int = 200, message: str = "",
                    done: str = "") -> Response:
        accounts = [u for u in await self.db(self.users.list) if self._manages(auth, u)]
        scope = self.scope(auth)
        # a school's account: its schools' entries, and the trust's (which cover its mail too) to read
        lists = await self.db(self.review.sender_list_sync, None, None if scope is None else [*scope, TRUST_ENTRY])
        list_schools = self._list_schools(auth)
        for entry in lists:
            entry["editable"] = entry["school"] in list_schools
        fps = await self.db(self.review.false_positive_counts_sync)
        # the feedback's per-term counts (quarantine/feedback.py), the top ones; a safeguarding
        # term is a pupil's words, so only for an account that may see safeguarding content
        from quarantine.feedback import Feedback
        sg_terms = auth.user.can(Permission.SAFEGUARDING)
        fp_terms = await self.db(lambda: Feedback(self.store).term_counts_sync(include_safeguarding=sg_terms,
                                                                               limit=10))
        shown = {"web": self.settings.web.model_dump(mode="json"),
                 "notify": self.settings.notify.model_dump(mode="json"),
                 "filters": self.settings.filters.chain}
        from quarantine.users import Role as _Role
        return self.render("admin.html", request, auth, status, accounts=accounts, lists=lists, fps=fps,
                           settings_json=json.dumps(shown, indent=2), roles=[r.value for r in _Role],
                           message=message, done=done or ADMIN_DONE.get(request.query_params.get("done", ""), ""),
                           now=time.time(), admins_are_dsl=self.settings.web.admins_are_dsl, fp_terms=fp_terms,
                           list_schools=list_schools, is_trust=self.tenancy.is_trust)

    def _list_schools(self, auth: Auth) -> list[str]:
        """Whose mail this account's sender-list entries may cover (docs/trust.md): a school's
        account its own schools; a trust-wide role (or a single school) the trust's entries,
        which cover every school, or one school's."""
        scope = self.scope(auth)
        if scope is None:
            return [TRUST_ENTRY, *(self.tenancy.ids if self.tenancy.is_trust else ())]
        return list(scope)

    def _entry_school_for(self, auth: Auth, held: Any) -> str:
        """The school a block/allow made from a hold's page covers: the trust's for a trust-wide
        role; else the account's school among the hold's (the access rule let it see the hold)."""
        scope = self.scope(auth)
        if scope is None:
            return TRUST_ENTRY
        return next((s for s in held.schools if s in scope), held.school_id)

    def _manages(self, auth: Auth, user: Any) -> bool:
        """A trust-wide admin (or one school's only admin) manages every account; a school's admin in
        a trust manages the accounts of its own schools, never a trust-wide one."""
        scope = self.scope(auth)
        if scope is None:
            return True
        return user.role not in TRUST_WIDE and bool(user.schools) and set(user.schools) <= set(scope)

    async def admin_users(self, request: Request, auth: Auth) -> Response:
        """Accounts in the browser: add, disable/enable, reset password, change role; each audited.
        The last active admin cannot be disabled or demoted (quarantine/users.py)."""
        from quarantine.users import UserError

        form = request.state.form
        action = str(form.get("action", ""))
        name = str(form.get("name", "")).strip()[:64]
        detail = {"user": name, "by_role": str(auth.user.role)}
        scope = self.scope(auth)
        try:
            if scope is not None:  # a school's admin in a trust: that school's accounts only (docs/trust.md)
                target = await self.db(self.users.get, name) if action != "add" else None
                if action != "add" and (target is None or not self._manages(auth, target)):
                    return await self.admin(request, auth, 404, f"There is no account {name} at your school.")
                if str(form.get("role", "")).startswith("trust_") and action in ("add", "role"):
                    return await self.admin(request, auth, 403, "Trust-wide roles are given by the trust's IT.")
            if action == "add":
                role = str(form.get("role", ""))
                user = await asyncio.get_running_loop().run_in_executor(
                    None, self.users.add, name, role, str(form.get("password", "")), str(form.get("email", "")),
                    scope or ())
                await self.db(self.review.audit, auth.user.name, WebAction.USER_ADD, None,
                              f"added {user.name} ({user.role})", {**detail, "role": str(user.role)})
            elif action == "disable":
                await self.db(self.users.set_disabled, name, True)
                await self.db(self.sessions.destroy_user, name)
                await self.db(self.review.audit, auth.user.name, WebAction.USER_DISABLE, None, f"disabled {name}",
                              detail)
            elif action == "enable":
                await self.db(self.users.set_disabled, name, False)
                await self.db(self.review.audit, auth.user.name, WebAction.USER_ENABLE, None, f"enabled {name}",
                              detail)
            elif action == "passwd":
                await asyncio.get_running_loop().run_in_executor(
                    None, self.users.set_password, name, str(form.get("password", "")))
                await self.db(self.sessions.destroy_user, name)  # a reset ends the old sessions
                await self.db(self.review.audit, auth.user.name, WebAction.USER_PASSWD, None,
                              f"reset the password of {name}", detail)
            elif action == "role":
                before = await self.db(self.users.get, name)
                user = await self.db(self.users.set_role, name, str(form.get("role", "")))
                await self.db(self.review.audit, auth.user.name, WebAction.USER_ROLE, None,
                              f"{name}: {before.role if before else '?'} -> {user.role}",
                              {**detail, "from": str(before.role) if before else "", "to": str(user.role)})
            else:
                return await self.admin(request, auth, 400, "Choose what to do with the account.")
        except UserError as exc:
            return await self.admin(request, auth, 400, str(exc))
        return RedirectResponse(f"/admin?done=user_{action}", status_code=303)

    async def admin_senders(self, request: Request, auth: Auth) -> Response:
        """Allow/block list entries (an address or a whole domain), with an expiry, who and why."""
        form = request.state.form
        action = str(form.get("action", ""))
        entry = str(form.get("address", "")).strip()[:320]
        reason = str(form.get("reason", "")).strip()[:500]
        if not reason:
            return await self.admin(request, auth, 400, "Say why: the reason is kept with the entry and in the audit.")
        allowed = self._list_schools(auth)
        school = str(form.get("school", allowed[0] if allowed else TRUST_ENTRY)).strip()
        if school not in allowed:  # the trust's entries, or another school's, for a school's account
            if action == "remove":
                return await self.admin(request, auth, 404, f"{entry} is not on your school's lists.")
            return await self.admin(request, auth, 403, "The trust's lists are changed by the trust's roles."
                                    if school == TRUST_ENTRY else "Choose one of your own schools' lists.")
        try:
            if action == "add":
                kind = str(form.get("kind", ""))
                if kind not in ("allow", "block"):
                    return await self.admin(request, auth, 400, "Choose allow or block.")
                expires = _parse_date(str(form.get("expires", "")), end=True)
                if form.get("expires") and expires is None:
                    return await self.admin(request, auth, 400, "Give the expiry as a date, or leave it empty.")
                await self.db(lambda: self.review.set_sender_list_sync(entry, kind, auth.user.name, reason, None,
                                                                       expires, school))
            elif action == "remove":
                if not await self.db(self.review.remove_sender_sync, entry, auth.user.name, reason, school):
                    return await self.admin(request, auth, 404, f"{entry} is not on the lists.")
            else:
                return await self.admin(request, auth, 400, "Choose add or remove.")
        except ValueError as exc:
            return await self.admin(request, auth, 400, str(exc))
        return RedirectResponse(f"/admin?done=sender_{action}#senders", status_code=303)

    # -- safeguarding cases -------------------------------------------------------------------
    async def cases_page(self, request: Request, auth: Auth) -> Response:
        from quarantine.cases import Cases

        status = request.query_params.get("status") or None
        items = await self.db(Cases(self.review).list_sync, status, self.scope(auth))
        return self.render("cases.html", request, auth, items=items, state=status or "",
                           export_profile=self.settings.cases.export_profile)

    async def cases_export(self, request: Request, auth: Auth) -> Response:
        """CSV or JSON, one row per case, for CPOMS / MyConcern: no message content (quarantine/cases.py)."""
        from quarantine.cases import Cases, export_csv, export_json, export_spec

        items = await self.db(Cases(self.review).list_sync, request.query_params.get("status") or None,
                              self.scope(auth))
        # ?profile=cpoms|myconcern|generic: that profile's columns; none: [cases] as configured
        spec = export_spec(self.settings, request.query_params.get("profile") or None)
        as_json = request.url.path.endswith(".json")
        await self.db(self.review.audit, auth.user.name, "case_export", None, "",
                      {"cases": len(items), "format": "json" if as_json else "csv", "profile": spec.profile})
        name = "safeguarding-cases" + ("" if spec.profile == "generic" else f"-{spec.profile}")
        if as_json:
            return Response(export_json(items, spec), media_type="application/json",
                            headers={"content-disposition": f'attachment; filename="{name}.json"'})
        return Response(export_csv(items, spec), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{name}.csv"'})

    async def annual_review(self, request: Request, auth: Auth) -> Response:
        """The governors' annual review pack (quarantine/annual_review.py) as PDF; ?year=2025 for 2025-26."""
        # a school's account: its schools' pack; trust-wide roles (and a single school): the whole gateway's
        scope = self.scope(auth)
        if scope is not None and not scope:
            return self.error(request, auth, 403, "No school on your account",
                              "The annual review pack covers your school; your account has none yet.")
        from quarantine.annual_review import gather_pack_sync, render_pack_pdf, school_year
        from quarantine.report_data import custom_period, gather_schools_sync
        from quarantine.reports import build_report, local_now

        now = local_now(self.settings)
        year = _int(request.query_params.get("year"), 0)
        first, last = school_year(now.date())
        if year:
            first, last = first.replace(year=year), min(now.date(), last.replace(year=year + 1))
        period = custom_period(first, last, now.tzinfo)
        if scope is None:
            data = await build_report(self.settings, self.store, period, now=now)
        else:
            names = " and ".join(self.tenancy.name_of(s) for s in scope)
            data = await self.db(lambda: gather_schools_sync(self.store.engine, period, scope, school=names, now=now))
        pack = await self.db(gather_pack_sync, self.review, self.users, data, list(self.settings.filters.chain),
                             scope)
        body = await asyncio.get_running_loop().run_in_executor(None, render_pack_pdf, pack)
        await self.db(self.review.audit, auth.user.name, "annual_review_export", None, "",
                      {"period": data.period.label, "schools": list(scope or ["*"])})
        return Response(body, media_type="application/pdf", headers={
            "content-disposition": f'attachment; filename="annual-review-{first:%Y}.pdf"'})

    async def case_update(self, request: Request, auth: Auth) -> Response:
        from quarantine.cases import CaseError, Cases

        held = await self.load(request, auth, request.path_params["id"])
        if isinstance(held, Response):
            return held
        from quarantine.cases import is_case
        if not is_case(held.categories, held.level):
            return self.error(request, auth, 400, "Not a safeguarding hold",
                              "Only holds the DSL was alerted for (safeguarding, or risk level 4-5) are cases.")
        form = request.state.form
        try:
            await self.db(lambda: Cases(self.review).update_sync(
                held.id, auth.user.name, status=str(form.get("status", "")),
                action_taken=str(form.get("action_taken", "")).strip()[:4000],
                outcome=str(form.get("outcome", "")).strip()[:4000], verdict=str(form.get("verdict", ""))))
        except CaseError as exc:
            return self.error(request, auth, 400, "Case not saved", str(exc))
        return RedirectResponse(f"/m/{held.id}?done=case#case", status_code=303)

    # -- the app ---------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        P = Permission
        return [
            Route("/login", self.login_get, methods=["GET"]),
            Route("/login", self.login_post, methods=["POST"]),
            Route("/logout", self.page(None, self.logout), methods=["POST"]),
            *([Route("/login/sso/{name}", self.sso.start, methods=["GET"]),
               Route("/login/sso/{name}/callback", self.sso.callback, methods=["GET"])] if self.sso else []),
            Route("/", self.page(None, self.home)),
            Route("/queue", self.page(P.QUEUE, self.queue)),
            Route("/bulk", self.page(P.QUEUE, self.bulk), methods=["POST"]),
            Route("/m/{id}", self.page(P.QUEUE, self.message)),
            Route("/m/{id}/open", self.page(P.SAFEGUARDING, self.open_safeguarding), methods=["POST"]),
            Route("/m/{id}/act", self.page(P.QUEUE, self.act), methods=["POST"]),
            Route("/m/{id}/attachment", self.page(P.QUEUE, self.download), methods=["POST"]),
            Route("/m/{id}/image", self.page(P.QUEUE, self.show_image), methods=["POST"]),
            Route("/m/{id}/bundle", self.page(P.QUEUE, self.bundle), methods=["POST"]),
            Route("/m/{id}/chain-letter", self.page(P.QUEUE, self.add_chain_letter), methods=["POST"]),
            Route("/l/{token}", self.page(P.QUEUE, self.link_get), methods=["GET"]),
            Route("/l/{token}", self.page(P.QUEUE, self.link_post), methods=["POST"]),
            Route("/request/{token}", self.request_page, methods=["GET", "POST"]),
            Route("/ack/{token}", self.ack_page, methods=["GET", "POST"]),
            Route("/audit", self.page(P.AUDIT, self.audit_page)),
            Route("/audit.csv", self.page(P.AUDIT, self.audit_csv)),
            Route("/counts", self.page(P.COUNTS, self.counts)),
            Route("/report", self.page(P.COUNTS, self.report)),
            Route("/report.pdf", self.page(P.COUNTS, self.report_download)),
            Route("/report.csv", self.page(P.COUNTS, self.report_download)),
            Route("/trust-report", self.page(P.COUNTS, self.trust_report)),
            Route("/trust-report.csv", self.page(P.COUNTS, self.trust_report)),
            Route("/trust-report.pdf", self.page(P.COUNTS, self.trust_report)),
            Route("/admin", self.page(P.USERS, self.admin)),
            Route("/cases", self.page(P.SAFEGUARDING, self.cases_page)),
            Route("/cases.csv", self.page(P.SAFEGUARDING, self.cases_export)),
            Route("/cases.json", self.page(P.SAFEGUARDING, self.cases_export)),
            Route("/annual-review.pdf", self.page(P.COUNTS, self.annual_review)),
            Route("/m/{id}/case", self.page(P.SAFEGUARDING, self.case_update), methods=["POST"]),
            Route("/admin/users", self.page(P.USERS, self.admin_users), methods=["POST"]),
            Route("/admin/senders", self.page(P.USERS, self.admin_senders), methods=["POST"]),
            *feedback_routes(self),  # false-positive terms and the site allowlist (quarantine/web/feedback.py)
            *approval_routes(self),  # issue 21 clause 2: Approve / Decline (quarantine/web/approval.py)
            Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        ]

    def asgi(self):
        return SecurityHeaders(Starlette(routes=self.routes()))


def _audit_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at_utc", "actor", "action", "message_id", "reason", "detail"])
    for r in rows:
        detail = r.get("detail", "")
        writer.writerow([r.get("id"), datetime.fromtimestamp(r["at"], timezone.utc).isoformat(timespec="seconds"),
                         r.get("actor"), r.get("action"), r.get("message_id") or "",
                         _csv_safe(r.get("reason") or ""),
                         _csv_safe(detail if isinstance(detail, str) else json.dumps(detail))])
    return out.getvalue()


def _csv_safe(text: str) -> str:
    # a reason typed into the UI must not become a formula when the CSV is opened in a spreadsheet
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def create_review_app(settings: Settings, store: QuarantineStore, *, next_hop: Callable[[], Any] | Any = None,
                      signer: LinkSigner | None = None, notifier: Any = None, escalator: Any = None):
    """The review UI as an ASGI app (security headers applied). `next_hop`: the running
    gateway's NextHop, or a callable returning it (it may be created after the app)."""
    getter = next_hop if callable(next_hop) else (lambda: next_hop)
    if signer is None and notifier is not None:
        signer = notifier.signer  # one key: links the notifier mails must verify here
    if signer is None:
        signer = LinkSigner(load_secret(Path(settings.quarantine.path), store), settings.notify.link_hours * 3600)
    return ReviewApp(settings, store, getter, signer, notifier, escalator).asgi()


def review_routes(settings: Settings, store: QuarantineStore, **kwargs: Any) -> list[BaseRoute]:
    """For gateway.http.create_app(metrics, extra_routes): the review UI under /."""
    return [Mount("", app=create_review_app(settings, store, **kwargs))]

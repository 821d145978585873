"""Single sign-on for the review UI: OpenID Connect (Microsoft Entra ID, Google Workspace, any
OIDC provider) by the authorization-code flow with PKCE, state and nonce.

Flow: /login/sso/{name} -> the provider's authorization endpoint (found by discovery at
{issuer}/.well-known/openid-configuration) -> /login/sso/{name}/callback with a code -> the
token endpoint (with the PKCE verifier and the client secret) -> the ID token's RS256 signature
checked against the provider's JWKS, then iss, aud, exp, iat and nonce -> the account whose e-mail
the token names -> a session, as a password login makes. State, nonce and verifier travel in a
signed, short-lived cookie, so nothing is stored between the two legs.

Roles: an existing local account keeps its role (accounts are matched by e-mail); with
`role_groups` the provider's group claim can also create the account on first sign-in. An
existing account's role is never changed by a claim (a mis-set group must not demote or promote
an admin silently); change it in the admin page. Local passwords stay, for break-glass admins.
Nothing here trusts the browser: the token comes from the provider over the back channel.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from filters.errors import SchoolgateError

SSO_COOKIE = "schoolgate_sso"
FLOW_SECONDS = 600  # the user has ten minutes at the provider
CLOCK_SKEW = 120
HTTP_TIMEOUT = 15


class SsoError(SchoolgateError):
    """The sign-in could not be completed; the text is safe to show on the login page."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _http_json(url: str, data: dict[str, str] | None = None) -> dict:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(data).encode() if data else None,
                                     headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise SsoError(f"the sign-in service answered {exc.code} at {url.split('?')[0]}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SsoError(f"the sign-in service could not be reached ({getattr(exc, 'reason', exc)})") from None


def verify_id_token(token: str, jwks: dict, *, issuer: str, client_id: str, nonce: str,
                    now: float | None = None) -> dict:
    """The claims of an RS256 ID token whose signature a key of `jwks` verifies (OIDC Core 3.1.3.7)."""
    now = time.time() if now is None else now
    try:
        head_b64, claims_b64, sig_b64 = token.split(".")
        header = json.loads(_unb64url(head_b64))
        claims = json.loads(_unb64url(claims_b64))
    except (ValueError, TypeError):
        raise SsoError("the sign-in service sent a malformed ID token") from None
    if header.get("alg") != "RS256":  # never "none", never a symmetric alg with a public key
        raise SsoError(f"ID token algorithm {header.get('alg')!r} is not accepted (RS256 only)")
    keys = [k for k in jwks.get("keys", []) if k.get("kty") == "RSA"
            and (not header.get("kid") or k.get("kid") == header.get("kid"))]
    signed = f"{head_b64}.{claims_b64}".encode()
    for key in keys:
        public = rsa.RSAPublicNumbers(int.from_bytes(_unb64url(key["e"]), "big"),
                                      int.from_bytes(_unb64url(key["n"]), "big")).public_key()
        try:
            public.verify(_unb64url(sig_b64), signed, padding.PKCS1v15(), hashes.SHA256())
            break
        except InvalidSignature:
            continue
    else:
        raise SsoError("the ID token's signature does not verify against the provider's keys")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if claims.get("iss") != issuer:
        raise SsoError("the ID token was issued by another provider")
    if client_id not in audiences:
        raise SsoError("the ID token is for another application")
    if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] < now - CLOCK_SKEW:
        raise SsoError("the ID token has expired")
    if isinstance(claims.get("iat"), (int, float)) and claims["iat"] > now + CLOCK_SKEW:
        raise SsoError("the ID token is dated in the future")
    if not nonce or claims.get("nonce") != nonce:
        raise SsoError("the ID token does not answer this sign-in (nonce)")
    return claims


@dataclass
class SsoLogin:
    """Routes for every `[[web.sso]]` provider. `start_session(user, request, via)` is the review
    app's: it makes the session, audits the login and answers the redirect."""

    providers: dict[str, Any]  # name -> config.schema.SsoProvider
    users: Any  # quarantine.users.UserStore
    secret: bytes
    base_url: str
    secure: Callable[[Request], bool]
    start_session: Callable[..., Any]
    login_error: Callable[[Request, str, int], Response]
    run: Callable[..., Any]  # the store's executor for account reads and writes
    _discovery: dict[str, dict] = field(default_factory=dict)
    _jwks: dict[str, tuple[float, dict]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._cookie = URLSafeTimedSerializer(self.secret, salt="schoolgate-sso")

    def _redirect_uri(self, request: Request, name: str) -> str:
        base = self.base_url.rstrip("/") or f"{request.url.scheme}://{request.url.netloc}"
        return f"{base}/login/sso/{name}/callback"

    async def _meta(self, provider: Any) -> dict:
        if provider.name not in self._discovery:
            url = provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
            meta = await asyncio.get_running_loop().run_in_executor(None, _http_json, url)
            if meta.get("issuer") != provider.issuer:  # OIDC Discovery 4.3
                raise SsoError("the sign-in service's discovery document names another issuer")
            self._discovery[provider.name] = meta
        return self._discovery[provider.name]

    async def _keys(self, provider: Any, meta: dict, refresh: bool = False) -> dict:
        cached = self._jwks.get(provider.name)
        if cached and not refresh and time.time() - cached[0] < 3600:
            return cached[1]
        jwks = await asyncio.get_running_loop().run_in_executor(None, _http_json, meta["jwks_uri"])
        self._jwks[provider.name] = (time.time(), jwks)
        return jwks

    async def start(self, request: Request) -> Response:
        provider = self.providers.get(request.path_params["name"])
        if provider is None:
            return self.login_error(request, "There is no such sign-in option.", 404)
        try:
            meta = await self._meta(provider)
        except SsoError as exc:
            return self.login_error(request, f"Single sign-on is not available: {exc}.", 502)
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        challenge = _b64url(hashlib.sha256(verifier.encode()).digest())
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": provider.client_id, "scope": " ".join(provider.scopes),
            "redirect_uri": self._redirect_uri(request, provider.name), "state": state, "nonce": nonce,
            "code_challenge": challenge, "code_challenge_method": "S256"})
        response = RedirectResponse(f"{meta['authorization_endpoint']}?{query}", status_code=303)
        flow = self._cookie.dumps({"p": provider.name, "s": state, "n": nonce, "v": verifier,
                                   "next": request.query_params.get("next", "/")})
        # SameSite=Lax: the browser sends it on the provider's top-level redirect back to us
        response.set_cookie(SSO_COOKIE, flow, max_age=FLOW_SECONDS, httponly=True, samesite="lax",
                            secure=self.secure(request), path="/login/sso")
        return response

    async def callback(self, request: Request) -> Response:
        name = request.path_params["name"]
        provider = self.providers.get(name)
        try:
            if provider is None:
                raise SsoError("there is no such sign-in option")
            if request.query_params.get("error"):
                raise SsoError(f"the sign-in service said {request.query_params['error'][:80]}")
            try:
                flow = self._cookie.loads(request.cookies.get(SSO_COOKIE, ""), max_age=FLOW_SECONDS)
            except BadSignature:
                raise SsoError("the sign-in took too long or was started elsewhere; try again") from None
            if flow.get("p") != name or not secrets.compare_digest(str(flow.get("s")),
                                                                    request.query_params.get("state", "")):
                raise SsoError("the sign-in does not match the one started here (state); try again")
            code = request.query_params.get("code", "")
            if not code:
                raise SsoError("the sign-in service sent no code")
            claims = await self._exchange(provider, request, code, flow)
            user = await self.run(self._account, provider, claims)
        except SsoError as exc:
            response = self.login_error(request, f"Single sign-on failed: {exc}.", 403)
            response.delete_cookie(SSO_COOKIE, path="/login/sso")
            return response
        response = await self.start_session(user, request, f"sso:{name}", str(flow.get("next", "/")))
        response.delete_cookie(SSO_COOKIE, path="/login/sso")
        return response

    async def _exchange(self, provider: Any, request: Request, code: str, flow: dict) -> dict:
        meta = await self._meta(provider)
        secret = provider.client_secret_file.read_text().strip() if provider.client_secret_file else ""
        answer = await asyncio.get_running_loop().run_in_executor(None, _http_json, meta["token_endpoint"], {
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": self._redirect_uri(request, provider.name), "client_id": provider.client_id,
            "client_secret": secret, "code_verifier": flow["v"]})
        token = answer.get("id_token")
        if not token:
            raise SsoError("the sign-in service sent no ID token")
        try:
            return verify_id_token(token, await self._keys(provider, meta), issuer=provider.issuer,
                                   client_id=provider.client_id, nonce=flow["n"])
        except SsoError as first:
            if "signature" not in str(first):
                raise
            # the provider may have rotated its keys since we fetched them: fetch once more
            return verify_id_token(token, await self._keys(provider, meta, refresh=True), issuer=provider.issuer,
                                   client_id=provider.client_id, nonce=flow["n"])

    def _account(self, provider: Any, claims: dict) -> Any:
        from quarantine.users import Role

        email = ""
        for claim in provider.email_claims:
            value = str(claims.get(claim) or "").strip().lower()
            if "@" in value:
                email = value
                break
        if not email:
            raise SsoError("the sign-in service did not say which e-mail address signed in")
        if claims.get("email_verified") is False:
            raise SsoError(f"{email} is not verified by the sign-in service")
        groups = claims.get(provider.groups_claim) or []
        groups = [str(g) for g in (groups if isinstance(groups, list) else [groups])]
        mapped = next((str(provider.role_groups[g]) for g in groups if g in provider.role_groups), None)
        account = next((u for u in self.users.list() if (u.email or "").lower() == email), None)
        if account is None and mapped is None:
            raise SsoError(f"{email} has no review account here; ask the network manager")
        if account is not None and account.disabled:
            raise SsoError(f"the account for {email} is disabled")
        if account is None:
            # created on first sign-in from the provider's groups; no usable password
            return self.users.add(email[:64], Role(mapped), secrets.token_urlsafe(32), email=email,
                                  schools=[provider.school_groups[g] for g in groups if g in provider.school_groups])
        return account

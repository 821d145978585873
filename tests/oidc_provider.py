"""A small OpenID Connect provider on loopback for the tests (the real ones — Entra ID, Google —
are on the internet): discovery, an authorization endpoint that signs in the test's chosen user
at once, a token endpoint that checks the code, client secret, redirect URI and PKCE verifier,
and a JWKS with a key generated per run. ID tokens are real RS256 JWTs."""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from http.server import ThreadingHTTPServer

from tests.json_http import JsonHandler
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(key: rsa.RSAPrivateKey, kid: str, claims: dict, alg: str = "RS256") -> str:
    head = b64url(json.dumps({"alg": alg, "typ": "JWT", "kid": kid}).encode())
    body = b64url(json.dumps(claims).encode())
    signature = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{b64url(signature)}"


class OidcProvider:
    def __init__(self, client_id: str = "schoolgate-review", client_secret: str = "client-s3cret") -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(4)
        self.claims: dict = {}  # who "signs in" at the next /authorize, and any extra claims
        self.tamper: dict = {}  # e.g. {"aud": "other"} or {"key": other_key}: a bad token for a test
        self.codes: dict[str, dict] = {}
        self._server: ThreadingHTTPServer | None = None

    @property
    def issuer(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "OidcProvider":
        provider = self

        class Handler(JsonHandler):

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/.well-known/openid-configuration":
                    return self._json(200, {
                        "issuer": provider.issuer, "authorization_endpoint": f"{provider.issuer}/authorize",
                        "token_endpoint": f"{provider.issuer}/token", "jwks_uri": f"{provider.issuer}/jwks",
                        "response_types_supported": ["code"], "id_token_signing_alg_values_supported": ["RS256"],
                        "code_challenge_methods_supported": ["S256"]})
                if url.path == "/jwks":
                    numbers = provider.key.public_key().public_numbers()
                    return self._json(200, {"keys": [{
                        "kty": "RSA", "kid": provider.kid, "use": "sig", "alg": "RS256",
                        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                        "e": b64url(numbers.e.to_bytes(3, "big"))}]})
                if url.path == "/authorize":
                    assert query["response_type"] == "code" and query["client_id"] == provider.client_id
                    assert query["code_challenge_method"] == "S256" and "openid" in query["scope"].split()
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = {"challenge": query["code_challenge"], "nonce": query["nonce"],
                                            "redirect_uri": query["redirect_uri"]}
                    target = f"{query['redirect_uri']}?{urllib.parse.urlencode({'code': code, 'state': query['state']})}"
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                    return None
                self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                if self.path != "/token":
                    return self._json(404, {"error": "not_found"})
                grant = provider.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = b64url(hashlib.sha256(verifier.encode()).digest())
                if (grant is None or form.get("client_secret") != provider.client_secret
                        or form.get("client_id") != provider.client_id
                        or form.get("redirect_uri") != grant["redirect_uri"] or challenge != grant["challenge"]):
                    return self._json(400, {"error": "invalid_grant"})
                now = int(time.time())
                claims = {"iss": provider.issuer, "aud": provider.client_id, "iat": now, "exp": now + 600,
                          "nonce": grant["nonce"], "sub": secrets.token_hex(8), **provider.claims}
                tamper = dict(provider.tamper)
                key = tamper.pop("key", provider.key)
                claims.update(tamper)
                self._json(200, {"access_token": "at", "token_type": "Bearer",
                                 "id_token": sign_jwt(key, provider.kid, claims)})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

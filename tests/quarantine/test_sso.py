"""Single sign-on (OIDC, authorization code + PKCE) against a local provider that signs real
RS256 ID tokens: the login in headless Chromium, and every check that must refuse a bad sign-in
(audience, signature, nonce, state, unknown or disabled account)."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from quarantine.users import UserStore
from tests.factories import SCHOOL_DOMAIN
from tests.oidc_provider import OidcProvider
from tests.quarantine.conftest import FAST_HASH, PASSWORD, Review

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def provider():
    server = OidcProvider().start()
    yield server
    server.stop()


@pytest.fixture
async def sso(review_gateway, sink, provider, tmp_path):
    secret = tmp_path / "client.secret"
    secret.write_text(provider.client_secret)
    gw = await review_gateway(web={"sso": [{"name": "entra", "label": "Microsoft", "issuer": provider.issuer,
                                           "client_id": provider.client_id, "client_secret_file": str(secret),
                                           "role_groups": {"safeguarding-team": "dsl"}}], **FAST_HASH})
    accounts = UserStore.for_settings(gw.store.engine, gw.settings.web)

    def add() -> None:
        accounts.add("mrs.reviewer", "reviewer", PASSWORD, email=f"reviewer@{SCHOOL_DOMAIN}")
        accounts.add("gone", "reviewer", PASSWORD, email=f"gone@{SCHOOL_DOMAIN}")
        accounts.set_disabled("gone")
    await gw.store.run(add)
    return Review(gw, sink)


async def sign_in(review: Review, provider: OidcProvider, *, state: str | None = None) -> httpx.Response:
    """Through the three legs with a plain HTTP client: us -> provider -> our callback."""
    client = review.client()
    start = await client.get("/login/sso/entra")
    assert start.status_code == 303 and start.headers["location"].startswith(f"{provider.issuer}/authorize?")
    async with httpx.AsyncClient(follow_redirects=False) as outside:
        at_provider = await outside.get(start.headers["location"])
    callback = at_provider.headers["location"]
    if state is not None:
        callback = callback.split("&state=")[0] + f"&state={state}"
    reply = await client.get(callback.replace(review.base, ""))
    reply.client = client  # type: ignore[attr-defined]
    return reply


async def test_sign_in_in_a_real_browser(sso, provider):
    playwright_api = pytest.importorskip("playwright.async_api")
    provider.claims = {"email": f"reviewer@{SCHOOL_DOMAIN}", "email_verified": True}
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = await browser.new_page()
            await page.goto(f"{sso.base}/login")
            await page.click("text=Sign in with Microsoft")
            await page.wait_for_url(f"{sso.base}/queue*")
            assert "Log out" in await page.content()
        finally:
            await browser.close()
    audit = await sso.store.run(sso.store.audit_sync)
    logins = [a for a in audit if a["action"] == "login" and a["actor"] == "mrs.reviewer"]
    assert logins and '"via": "sso:entra"' in logins[-1]["detail"]


async def test_a_group_claim_creates_the_account_with_its_role(sso, provider):
    provider.claims = {"preferred_username": f"new.dsl@{SCHOOL_DOMAIN}", "groups": ["safeguarding-team"]}
    reply = await sign_in(sso, provider)
    assert reply.status_code == 303, reply.text[:300]
    accounts = UserStore.for_settings(sso.store.engine, sso.gw.settings.web)
    made = await sso.store.run(lambda: [u for u in accounts.list() if u.email == f"new.dsl@{SCHOOL_DOMAIN}"])
    assert [str(u.role) for u in made] == ["dsl"]
    await reply.client.aclose()


@pytest.mark.parametrize("tamper,expected", [
    ({"aud": "another-app"}, "for another application"),
    ({"key": "other"}, "signature does not verify"),
    ({"nonce": "replayed"}, "nonce"),
    ({"iss": "https://evil.example"}, "another provider"),
    ({"exp": 1000}, "expired"),
])
async def test_bad_id_tokens_are_refused(sso, provider, tamper, expected):
    provider.claims = {"email": f"reviewer@{SCHOOL_DOMAIN}"}
    if tamper.get("key") == "other":
        tamper = {"key": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
    provider.tamper = tamper
    reply = await sign_in(sso, provider)
    assert reply.status_code == 403 and expected in reply.text
    assert "sg_session" not in reply.headers.get("set-cookie", "")
    await reply.client.aclose()


async def test_state_unknown_and_disabled_accounts_are_refused(sso, provider):
    provider.claims = {"email": f"reviewer@{SCHOOL_DOMAIN}"}
    reply = await sign_in(sso, provider, state="forged")
    assert reply.status_code == 403 and "state" in reply.text
    await reply.client.aclose()
    for email, expected in ((f"stranger@{SCHOOL_DOMAIN}", "has no review account"),
                            (f"gone@{SCHOOL_DOMAIN}", "is disabled")):
        provider.claims = {"email": email}
        reply = await sign_in(sso, provider)
        assert reply.status_code == 403 and expected in reply.text
        await reply.client.aclose()
